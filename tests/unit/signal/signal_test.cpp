#include "brigade/signal/signals.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <stop_token>
#include <thread>
#include <vector>

#include "../until_parked.hpp"
#include "brigade/runtime/runtime.hpp"
#include "brigade/runtime/spawn.hpp"

namespace {

using namespace std::chrono_literals;
namespace signals = brigade::signals;

std::size_t open_descriptors() {
  std::size_t count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) ++count;
  return count;
}

TEST(signal, raise_wakes_a_task_waiting_for_it) {
  brigade::runtime rt({.worker_threads = 2});
  auto waiting = rt.spawn(signals::wait_async({SIGUSR1}));
  ASSERT_TRUE(brigade_test::until_workers_parked(rt, 2));
  EXPECT_FALSE(waiting.is_finished());
  ASSERT_EQ(::raise(SIGUSR1), 0);
  EXPECT_EQ(waiting.join(), SIGUSR1);
}

TEST(signal, kill_wakes_a_task_with_the_number_of_the_signal_that_came) {
  brigade::runtime rt({.worker_threads = 2});
  auto waiting = rt.spawn(signals::wait_async({SIGUSR1, SIGUSR2}));
  ASSERT_TRUE(brigade_test::until_workers_parked(rt, 2));
  ASSERT_EQ(::kill(::getpid(), SIGUSR2), 0);  // to the process: any thread may run the handler
  EXPECT_EQ(waiting.join(), SIGUSR2);
}

TEST(signal, a_signal_not_in_the_set_does_not_wake_the_waiter) {
  signals::listener others({SIGUSR2});  // SIGUSR2 is handled (not fatal) without being waited for
  brigade::runtime rt({.worker_threads = 2});
  auto waiting = rt.spawn(signals::wait_async({SIGUSR1}));
  ASSERT_TRUE(brigade_test::until_workers_parked(rt, 2));
  ASSERT_EQ(::raise(SIGUSR2), 0);
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(waiting.is_finished());
  EXPECT_EQ(others.try_take(), SIGUSR2);
  ASSERT_EQ(::raise(SIGUSR1), 0);
  EXPECT_EQ(waiting.join(), SIGUSR1);
}

TEST(signal, one_signal_wakes_every_waiter_in_every_runtime_and_thread) {
  brigade::runtime first({.worker_threads = 1});
  brigade::runtime second({.worker_threads = 2});
  // More waiters than one chunk of the handler's table holds (64).
  std::vector<brigade::join_handle<int>> waiters;
  for (int i = 0; i < 40; ++i) {
    waiters.push_back(first.spawn(signals::wait_async({SIGUSR1})));
    waiters.push_back(second.spawn(signals::wait_async({SIGUSR2, SIGUSR1})));
  }
  std::atomic<long> thread_id{0};
  std::atomic<int> thread_got{0};
  std::thread plain([&] {
    signals::listener listening({SIGUSR1});
    thread_id = brigade_test::this_thread_id();
    thread_got = listening.wait();
  });
  ASSERT_TRUE(brigade_test::until_workers_parked(first, 1));
  ASSERT_TRUE(brigade_test::until_workers_parked(second, 2));
  brigade_test::until_thread_sleeps(thread_id);
  ASSERT_EQ(::kill(::getpid(), SIGUSR1), 0);
  for (auto& waiter : waiters) EXPECT_EQ(waiter.join(), SIGUSR1);
  plain.join();
  EXPECT_EQ(thread_got.load(), SIGUSR1);
}

TEST(signal, a_signal_before_the_task_parks_is_not_lost) {
  brigade::runtime rt({.worker_threads = 1});
  auto wait = signals::wait_async({SIGUSR1});  // counts from the call, not from the first resume
  ASSERT_EQ(::raise(SIGUSR1), 0);
  EXPECT_EQ(rt.block_on(std::move(wait)), SIGUSR1);
}

TEST(signal, a_listener_keeps_the_signals_that_arrive_between_waits) {
  brigade::runtime rt({.worker_threads = 1});
  signals::listener listening({SIGUSR1, SIGUSR2});
  EXPECT_EQ(listening.try_take(), 0);
  ASSERT_EQ(::raise(SIGUSR2), 0);
  ASSERT_EQ(::raise(SIGUSR1), 0);
  ASSERT_EQ(::raise(SIGUSR1), 0);  // coalesced with the one before
  EXPECT_EQ(rt.block_on(listening.wait_async()), SIGUSR1);  // the set's order
  EXPECT_EQ(listening.wait(), SIGUSR2);
  EXPECT_EQ(listening.try_take(), 0);
  // Waiting again: parks until the next one.
  auto again = rt.spawn([](signals::listener& l) -> brigade::task<int> { co_return co_await l.wait_async(); }(listening));
  ASSERT_TRUE(brigade_test::until_workers_parked(rt, 1));
  ASSERT_EQ(::raise(SIGUSR2), 0);
  EXPECT_EQ(again.join(), SIGUSR2);
}

TEST(signal, an_aborted_wait_ends_with_task_cancelled_and_leaves_nothing_open) {
  brigade::runtime rt({.worker_threads = 2});
  signals::listener listening({SIGUSR1});
  const std::size_t descriptors = open_descriptors();
  auto waiting = rt.spawn([](signals::listener& l) -> brigade::task<int> { co_return co_await l.wait_async(); }(listening));
  ASSERT_TRUE(brigade_test::until_workers_parked(rt, 2));
  EXPECT_EQ(open_descriptors(), descriptors + 1);  // its eventfd
  waiting.abort();
  EXPECT_THROW((void)waiting.join(), brigade::task_cancelled);
  EXPECT_EQ(open_descriptors(), descriptors);
  // Cancel-safe: a signal that comes now is still there for the listener's next wait.
  ASSERT_EQ(::raise(SIGUSR1), 0);
  EXPECT_EQ(listening.try_take(), SIGUSR1);
}

TEST(signal, the_thread_form_ends_on_its_stop_token_or_a_signal) {
  std::stop_source stop;
  std::atomic<long> thread_id{0};
  std::atomic<bool> cancelled{false};
  std::thread waiting([&] {
    thread_id = brigade_test::this_thread_id();
    try {
      (void)signals::wait({SIGUSR1}, stop.get_token());
    } catch (const brigade::task_cancelled&) {
      cancelled = true;
    }
  });
  brigade_test::until_thread_sleeps(thread_id);
  stop.request_stop();
  waiting.join();
  EXPECT_TRUE(cancelled.load());

  std::stop_source unused;
  int got = 0;
  thread_id = 0;
  std::thread woken([&] {
    thread_id = brigade_test::this_thread_id();
    got = signals::wait({SIGUSR2, SIGUSR1}, unused.get_token());
  });
  brigade_test::until_thread_sleeps(thread_id);
  ASSERT_EQ(::kill(::getpid(), SIGUSR1), 0);
  woken.join();
  EXPECT_EQ(got, SIGUSR1);
}

TEST(signal, the_thread_form_refuses_a_worker_thread) {
  brigade::runtime rt({.worker_threads = 1});
  auto refused = rt.spawn([]() -> brigade::task<bool> {
    try {
      (void)signals::wait({SIGUSR1});
    } catch (const brigade::usage_error&) {
      co_return true;
    }
    co_return false;
  }());
  EXPECT_TRUE(refused.join());
}

TEST(signal, bad_signal_numbers_are_invalid_arguments) {
  for (int bad : {0, -1, NSIG, 1000, SIGKILL, SIGSTOP, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGRTMIN - 1}) {
    EXPECT_THROW((void)signals::listener({bad}), std::invalid_argument) << bad;
    EXPECT_THROW((void)signals::wait_async({SIGUSR1, bad}), std::invalid_argument) << bad;
    EXPECT_THROW((void)signals::wait({bad}), std::invalid_argument) << bad;
  }
  EXPECT_THROW((void)signals::listener({}), std::invalid_argument);
  EXPECT_THROW((void)signals::wait_async({}), std::invalid_argument);
  // Real-time signals are fine.
  signals::listener realtime({SIGRTMIN, SIGRTMAX});
  ASSERT_EQ(::raise(SIGRTMIN + 0), 0);
  EXPECT_EQ(realtime.try_take(), SIGRTMIN);
}

TEST(signal, a_waiter_woken_by_runtime_shutdown_ends_its_wait) {
  auto rt = std::make_unique<brigade::runtime>(brigade::runtime_options{.worker_threads = 1});
  const std::size_t descriptors = open_descriptors();
  auto waiting = rt->spawn(signals::wait_async({SIGUSR1}));
  ASSERT_TRUE(brigade_test::until_workers_parked(*rt, 1));
  rt->shutdown();
  EXPECT_THROW((void)waiting.join(), brigade::task_cancelled);
  rt.reset();
  EXPECT_LE(open_descriptors(), descriptors);
}

}  // namespace
