#include "brigade/detail/frame_pool.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
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
  producer.join();  // the producer's magazines go to the depot at its exit
  std::thread consumer([&] {
    for (void* p : blocks) pool_deallocate(p, 64);
  });
  consumer.join();
  for (auto& p : blocks) p = pool_allocate(64);
  for (void* p : blocks) pool_deallocate(p, 64);
}

// Blocks flow one way, from a thread that only allocates to one that only frees (a spawning task
// and the worker that runs what it spawns): full magazines travel back through the depot, and no
// block is handed out twice while it is in use.
TEST(frame_pool, one_way_traffic_between_two_running_threads_never_hands_out_a_live_block) {
  constexpr int rounds = 20;
  constexpr std::size_t per_round = 5000;
  std::mutex live_mutex;
  std::set<void*> live;
  std::vector<std::vector<void*>> handed(rounds);
  std::atomic<int> ready{0};
  std::atomic<int> freed{0};
  std::thread consumer([&] {
    for (int r = 0; r < rounds; ++r) {
      while (ready.load(std::memory_order_acquire) <= r) std::this_thread::yield();
      for (void* p : handed[static_cast<std::size_t>(r)]) {
        {
          std::lock_guard lock(live_mutex);
          live.erase(p);
        }
        pool_deallocate(p, 144);
      }
      freed.store(r + 1, std::memory_order_release);
    }
  });
  int reused_twice = 0;
  for (int r = 0; r < rounds; ++r) {
    auto& batch = handed[static_cast<std::size_t>(r)];
    for (std::size_t i = 0; i < per_round; ++i) {
      void* p = pool_allocate(144);
      std::memset(p, r, 144);
      std::lock_guard lock(live_mutex);
      if (!live.insert(p).second) ++reused_twice;
      batch.push_back(p);
    }
    ready.store(r + 1, std::memory_order_release);
    if (r >= 2) {
      while (freed.load(std::memory_order_acquire) < r - 1) std::this_thread::yield();
    }
  }
  consumer.join();
  EXPECT_EQ(reused_twice, 0);
  EXPECT_TRUE(live.empty());
}

}  // namespace
