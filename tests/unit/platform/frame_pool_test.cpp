#include "brigade/detail/frame_pool.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <thread>
#include <vector>

namespace {

using brigade::detail::pool_allocate;
using brigade::detail::pool_deallocate;

TEST(frame_pool, blocks_are_usable_and_distinct) {
  std::vector<void*> blocks;
  std::set<void*> seen;
  for (int i = 0; i < 1000; ++i) {
    void* p = pool_allocate(96);
    std::memset(p, 0xAB, 96);
    EXPECT_TRUE(seen.insert(p).second);
    blocks.push_back(p);
  }
  for (void* p : blocks) pool_deallocate(p, 96);
}

TEST(frame_pool, sizes_outside_the_pool_go_to_the_heap) {
  void* big = pool_allocate(4096);
  std::memset(big, 1, 4096);
  pool_deallocate(big, 4096);
  void* tiny = pool_allocate(1);
  pool_deallocate(tiny, 1);
}

#ifndef BRIGADE_FRAME_POOL_BYPASS
TEST(frame_pool, a_freed_block_is_reused_by_the_same_thread) {
  void* first = pool_allocate(200);
  pool_deallocate(first, 200);
  void* second = pool_allocate(200);
  EXPECT_EQ(first, second);
  pool_deallocate(second, 200);
}
#endif

TEST(frame_pool, blocks_freed_on_another_thread_and_by_exiting_threads_are_fine) {
  std::vector<void*> blocks(20000);
  std::thread producer([&] {
    for (auto& p : blocks) p = pool_allocate(64);
  });
  producer.join();  // the producer's cache is flushed to the shared stacks at its exit
  std::thread consumer([&] {
    for (void* p : blocks) pool_deallocate(p, 64);
  });
  consumer.join();
  for (auto& p : blocks) p = pool_allocate(64);
  for (void* p : blocks) pool_deallocate(p, 64);
}

}  // namespace
