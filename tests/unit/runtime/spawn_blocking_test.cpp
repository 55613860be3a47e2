#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "brigade/runtime/runtime.hpp"
#include "brigade/runtime/spawn.hpp"

namespace {

using namespace std::chrono_literals;

TEST(spawn_blocking, returns_the_value_or_the_exception) {
  brigade::runtime rt({.worker_threads = 1});
  EXPECT_EQ(rt.spawn_blocking([] { return std::string("blocking"); }).join(), "blocking");
  EXPECT_THROW(rt.spawn_blocking([]() -> int { throw std::out_of_range("range"); }).join(),
               std::out_of_range);
  auto done = rt.spawn_blocking([] {});
  EXPECT_NO_THROW(done.join());
}

brigade::task<int> offload() {
  const auto worker = std::this_thread::get_id();
  const auto ran_on = co_await brigade::spawn_blocking([] { return std::this_thread::get_id(); });
  co_return ran_on != worker ? 1 : 0;
}

TEST(spawn_blocking, runs_off_the_workers_and_is_awaitable) {
  brigade::runtime rt({.worker_threads = 1});
  EXPECT_EQ(rt.block_on(offload()), 1);
}

TEST(spawn_blocking, more_calls_than_threads_wait_their_turn) {
  brigade::runtime rt({.worker_threads = 1, .max_blocking_threads = 2});
  std::atomic<int> concurrent{0}, peak{0};
  std::vector<brigade::join_handle<void>> handles;
  for (int i = 0; i < 8; ++i)
    handles.push_back(rt.spawn_blocking([&] {
      const int now = ++concurrent;
      int seen = peak.load();
      while (now > seen && !peak.compare_exchange_weak(seen, now)) {
      }
      std::this_thread::sleep_for(5ms);
      --concurrent;
    }));
  for (auto& h : handles) h.join();
  EXPECT_LE(peak.load(), 2);
  EXPECT_LE(rt.stats().blocking_threads, 2u);
}

TEST(spawn_blocking, idle_threads_exit_after_the_keep_alive) {
  brigade::runtime rt({.worker_threads = 1, .blocking_keep_alive = 10ms});
  rt.spawn_blocking([] {}).join();
  for (int i = 0; i < 500 && rt.stats().blocking_threads != 0; ++i) std::this_thread::sleep_for(2ms);
  EXPECT_EQ(rt.stats().blocking_threads, 0u);
  EXPECT_EQ(rt.spawn_blocking([] { return 3; }).join(), 3);  // and new ones start again
}

TEST(spawn_blocking, shutdown_cancels_queued_calls_and_waits_for_running_ones) {
  brigade::runtime rt({.worker_threads = 1, .max_blocking_threads = 1});
  std::atomic<bool> first_started{false}, release{false}, first_finished{false};
  auto running = rt.spawn_blocking([&] {
    first_started = true;
    while (!release) std::this_thread::yield();
    first_finished = true;
  });
  auto queued = rt.spawn_blocking([] { return 1; });  // the one thread is taken: it waits in the queue
  while (!first_started) std::this_thread::yield();
  std::thread releaser([&] {  // only once shutdown has cancelled the queued call (its step 3)
    while (!queued.is_finished()) std::this_thread::yield();
    release = true;
  });
  rt.shutdown();  // returns only after the running call ended
  releaser.join();
  EXPECT_TRUE(first_finished.load());
  EXPECT_NO_THROW(running.join());
  EXPECT_THROW(queued.join(), brigade::task_cancelled);
}

TEST(spawn_blocking, free_function_outside_a_runtime_is_a_usage_error) {
  EXPECT_THROW((void)brigade::spawn_blocking([] { return 1; }), brigade::usage_error);
}

}  // namespace
