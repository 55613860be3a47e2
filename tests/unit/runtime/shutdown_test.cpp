// Shutdown always ends: the runtime destroys its tasks before it waits for blocking calls (so
// what they hold is released), asks running blocking calls to stop, and shutdown_timeout gives up
// on a call that ignores the request.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <optional>
#include <stop_token>
#include <thread>
#include <utility>

#include "brigade/brigade.hpp"

namespace {

using namespace std::chrono_literals;

/// Runs `body` on a thread and fails the test (and leaves the process with _Exit, since the
/// thread cannot be stopped) if it has not returned within `limit`: a hang is the defect.
template <class Body>
void returns_within(std::chrono::milliseconds limit, Body body, const char* what) {
  std::atomic<bool> done{false};
  std::thread watchdog([&done, limit, what] {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
    if (!done) {
      std::fprintf(stderr, "FAILED: %s did not return within %lld ms\n", what, static_cast<long long>(limit.count()));
      std::_Exit(1);
    }
  });
  body();
  done = true;
  watchdog.join();
}

brigade::task<void> hold_the_sender(brigade::event& never, brigade::sender<int> tx) {
  co_await never.wait_async();  // suspended for good; destroying the frame drops tx
  co_await tx.send_async(1);
}

// ../shared/repros/shutdown_waits_for_blocking_job_first.cpp: the runtime waited for the blocking
// job before destroying the suspended task whose destruction would end the job.
TEST(shutdown, shutdown_waits_for_blocking_job_first) {
  brigade::event never;  // outlives the runtime: the destroyed task unlinks from it
  std::atomic<bool> job_waiting{false}, job_returned{false};
  returns_within(5s, [&] {
    brigade::runtime rt({.worker_threads = 2});
    auto [tx, rx] = brigade::make_channel<int>(1);
    rt.spawn(hold_the_sender(never, std::move(tx))).detach();
    rt.spawn_blocking([rx = std::move(rx), &job_waiting, &job_returned] {
        job_waiting = true;
        const bool got = rx.recv().has_value();  // returns once the channel is closed
        job_returned = true;
        return got;
      }).detach();
    while (!job_waiting) std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(20ms);  // the task is suspended, the job is in recv()
  }, "~runtime with a blocking job waiting for a suspended task");
  EXPECT_TRUE(job_returned.load());
}

TEST(shutdown, a_blocking_call_that_takes_a_token_is_asked_to_stop) {
  std::atomic<bool> started{false};
  std::optional<brigade::join_handle<int>> handle;
  returns_within(5s, [&] {
    brigade::runtime rt({.worker_threads = 1});
    auto [tx, rx] = brigade::make_channel<int>(0);  // main keeps tx: nothing ever closes it
    handle.emplace(rt.spawn_blocking([rx = std::move(rx), &started](std::stop_token stop) {
      started = true;
      try {
        (void)rx.recv(stop);
        return 0;
      } catch (const brigade::task_cancelled&) {
        return 1;  // interrupted by the shutdown's stop request
      }
    }));
    while (!started) std::this_thread::sleep_for(1ms);
    rt.shutdown();
  }, "shutdown with a blocking call waiting on its token");
  EXPECT_EQ(handle->join(), 1);
}

TEST(shutdown, abort_stops_a_blocking_call_through_its_token) {
  brigade::runtime rt({.worker_threads = 1});
  brigade::event never;
  std::atomic<bool> started{false};
  auto handle = rt.spawn_blocking([&never, &started](std::stop_token stop) {
    started = true;
    never.wait(stop);  // throws task_cancelled on the stop request
  });
  while (!started) std::this_thread::sleep_for(1ms);
  handle.abort();
  EXPECT_THROW(handle.join(), brigade::task_cancelled);
}

TEST(shutdown, shutdown_timeout_leaves_a_call_that_ignores_its_stop_request) {
  std::atomic<bool> release{false}, started{false}, finished{false};
  brigade::join_handle<int> handle;
  returns_within(5s, [&] {
    brigade::runtime rt({.worker_threads = 1});
    handle = rt.spawn_blocking([&] {
      started = true;
      while (!release) std::this_thread::sleep_for(1ms);  // deaf to any stop request
      finished = true;
      return 7;
    });
    while (!started) std::this_thread::sleep_for(1ms);
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_FALSE(rt.shutdown_timeout(50ms));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
    EXPECT_FALSE(rt.shutdown_timeout(1s));  // idempotent: reports what the first one found
  }, "shutdown_timeout with a call that never looks at its token");
  // The runtime is gone; the call runs on, detached, and its result still reaches the handle.
  EXPECT_FALSE(finished.load());
  release = true;
  EXPECT_EQ(handle.join(), 7);
}

TEST(shutdown, shutdown_timeout_reports_success_when_every_call_ended) {
  brigade::runtime rt({.worker_threads = 1});
  auto handle = rt.spawn_blocking([] { return 1; });
  EXPECT_EQ(handle.join(), 1);
  EXPECT_TRUE(rt.shutdown_timeout(1s));
}

TEST(shutdown, a_task_joining_a_blocking_call_is_destroyed_before_the_call_publishes) {
  // The joiner's frame is destroyed while the call still runs; the call's later result must not
  // wake the destroyed joiner (ASan would see that).
  std::atomic<bool> release{false}, started{false};
  returns_within(5s, [&] {
    brigade::runtime rt({.worker_threads = 1});
    auto joiner = rt.spawn([](brigade::runtime& runtime, std::atomic<bool>& go, std::atomic<bool>& flag) -> brigade::task<int> {
      co_return co_await runtime.spawn_blocking([&go, &flag] {
        flag = true;
        while (!go) std::this_thread::sleep_for(1ms);
        return 5;
      });
    }(rt, release, started));
    while (!started) std::this_thread::sleep_for(1ms);
    while (rt.stats().parked_workers < 1) std::this_thread::yield();  // the joiner is suspended
    std::thread releaser([&] {  // only once shutdown has destroyed the joiner (step 4)
      while (!joiner.is_finished()) std::this_thread::yield();
      release = true;
    });
    rt.shutdown();
    releaser.join();
    EXPECT_THROW(joiner.join(), brigade::task_cancelled);
  }, "shutdown with a task joining a running blocking call");
}

}  // namespace
