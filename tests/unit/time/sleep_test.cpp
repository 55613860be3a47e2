#include "brigade/time/sleep.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <chrono>
#include <random>
#include <stop_token>
#include <thread>
#include <vector>

#include "../until_parked.hpp"
#include "brigade/runtime/runtime.hpp"
#include "brigade/runtime/yield_now.hpp"

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

brigade::task<clock_type::duration> sleeps(clock_type::duration how_long) {
  const auto start = clock_type::now();
  co_await brigade::sleep_for_async(how_long);
  co_return clock_type::now() - start;
}

TEST(sleep, a_task_sleeps_at_least_its_duration) {
  brigade::runtime rt({.worker_threads = 2});
  std::printf("[ reactor  ] backend: %s\n", rt.io_backend_name());  // which backend this run tests
  EXPECT_GE(rt.block_on(sleeps(20ms)), 20ms);
}

TEST(sleep, a_passed_deadline_completes_at_once) {
  brigade::runtime rt({.worker_threads = 1});
  auto body = []() -> brigade::task<int> {
    co_await brigade::sleep_for_async(0ms);
    co_await brigade::sleep_for_async(-5ms);
    co_await brigade::sleep_until_async(clock_type::now() - 1s);
    co_return 7;
  };
  EXPECT_EQ(rt.block_on(body()), 7);
}

TEST(sleep, many_tasks_each_wake_after_their_own_deadline) {
  brigade::runtime rt({.worker_threads = 2});
  std::mt19937 random(42);
  std::vector<brigade::join_handle<bool>> handles;
  for (int i = 0; i < 2000; ++i) {
    const auto delay = std::chrono::microseconds(random() % 60'000);
    handles.push_back(rt.spawn([](clock_type::duration d) -> brigade::task<bool> {
      const auto deadline = clock_type::now() + d;
      co_await brigade::sleep_until_async(deadline);
      co_return clock_type::now() >= deadline;
    }(delay)));
  }
  for (auto& h : handles) EXPECT_TRUE(h.join());
}

TEST(sleep, an_earlier_timer_wakes_the_worker_sleeping_in_the_driver_for_a_later_one) {
  // One worker: it sleeps in the driver until the 1-hour timer; the 20 ms sleep, added from
  // outside, must interrupt that wait.
  brigade::runtime rt({.worker_threads = 1});
  auto long_sleep = rt.spawn(sleeps(1h));
  brigade_test::until_workers_parked(rt, 1);
  auto short_sleep = rt.spawn(sleeps(20ms));
  EXPECT_GE(short_sleep.join(), 20ms);
  long_sleep.abort();
  EXPECT_THROW(long_sleep.join(), brigade::task_cancelled);
}

TEST(sleep, a_stop_request_ends_a_sleep_at_once) {
  brigade::runtime rt({.worker_threads = 2});
  auto handle = rt.spawn(sleeps(1h));
  brigade_test::until_workers_parked(rt, 2);
  handle.abort();
  EXPECT_THROW(handle.join(), brigade::task_cancelled);
}

TEST(sleep, timers_fire_while_every_worker_runs_short_tasks) {
  // The only worker never parks (a task yields in a loop until the sleeper is done): the timer
  // must be noticed by the busy worker's periodic look at the reactor (or the monitor's).
  brigade::runtime rt({.worker_threads = 1});
  std::atomic<bool> slept{false};
  auto spinner = rt.spawn([](std::atomic<bool>& done) -> brigade::task<int> {
    int rounds = 0;
    while (!done.load()) {
      co_await brigade::yield_now();
      ++rounds;
    }
    co_return rounds;
  }(slept));
  auto sleeper = rt.spawn([](std::atomic<bool>& done) -> brigade::task<void> {
    co_await brigade::sleep_for_async(10ms);
    done = true;
  }(slept));
  sleeper.join();
  EXPECT_GT(spinner.join(), 0);
}

TEST(sleep, a_sleeping_task_destroyed_at_shutdown_leaves_the_wheel) {
  auto rt = std::make_unique<brigade::runtime>(brigade::runtime_options{.worker_threads = 2});
  std::vector<brigade::join_handle<clock_type::duration>> handles;
  for (int i = 0; i < 100; ++i) handles.push_back(rt->spawn(sleeps(1h)));
  brigade_test::until_workers_parked(*rt, 2);
  rt->shutdown();
  for (auto& h : handles) EXPECT_THROW(h.join(), brigade::task_cancelled);
  rt.reset();
}

TEST(sleep, a_thread_sleeps_and_its_token_ends_the_sleep) {
  const auto start = clock_type::now();
  brigade::sleep_for(5ms);
  EXPECT_GE(clock_type::now() - start, 5ms);
  std::stop_source source;
  std::jthread stopper([&] {
    std::this_thread::sleep_for(10ms);
    source.request_stop();
  });
  EXPECT_THROW(brigade::sleep_for(1h, source.get_token()), brigade::task_cancelled);
}

TEST(sleep, the_thread_form_refuses_a_worker_thread) {
  brigade::runtime rt({.worker_threads = 1});
  auto body = []() -> brigade::task<void> {
    brigade::sleep_for(1ms);
    co_return;
  };
  EXPECT_THROW(rt.block_on(body()), brigade::usage_error);
}

std::exception_ptr detached_error;
struct detached {
  struct promise_type {
    detached get_return_object() { return {}; }
    std::suspend_never initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() {}
    void unhandled_exception() { detached_error = std::current_exception(); }
  };
};
detached sleeps_outside_a_runtime() { co_await brigade::sleep_for_async(1ms); }

TEST(sleep, the_task_form_refuses_a_coroutine_outside_a_runtime) {
  sleeps_outside_a_runtime();
  ASSERT_TRUE(detached_error);
  EXPECT_THROW(std::rethrow_exception(detached_error), brigade::usage_error);
}

}  // namespace
