#include "brigade/time/timeout.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "../until_parked.hpp"
#include "brigade/chan/channel.hpp"
#include "brigade/runtime/runtime.hpp"
#include "brigade/sync/mutex.hpp"
#include "brigade/task/when_all.hpp"

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

TEST(timeout, an_operation_that_does_not_complete_in_time_throws_timeout_error) {
  brigade::runtime rt({.worker_threads = 2});
  brigade::channel<int> ch(0);
  auto body = [](brigade::channel<int>& c) -> brigade::task<clock_type::duration> {
    const auto start = clock_type::now();
    try {
      (void)co_await brigade::timeout(c.recv_async(), 20ms);
    } catch (const brigade::timeout_error& error) {
      EXPECT_EQ(error.code(), std::errc::timed_out);
      co_return clock_type::now() - start;
    }
    ADD_FAILURE() << "no timeout";
    co_return clock_type::duration{};
  };
  EXPECT_GE(rt.block_on(body(ch)), 20ms);
}

TEST(timeout, an_operation_that_completes_in_time_returns_its_value) {
  brigade::runtime rt({.worker_threads = 2});
  brigade::channel<int> ch(1);
  ch.try_send(5);
  auto body = [](brigade::channel<int>& c) -> brigade::task<int> {
    auto got = co_await brigade::timeout(c.recv_async(), 1h);
    co_return got.value_or(-1);
  };
  EXPECT_EQ(rt.block_on(body(ch)), 5);
  auto computes = []() -> brigade::task<int> { co_return 42; };
  auto body2 = [&]() -> brigade::task<int> { co_return co_await brigade::timeout(computes(), 1s); };
  EXPECT_EQ(rt.block_on(body2()), 42);
}

TEST(timeout, a_timed_out_recv_loses_no_value) {
  // A sender sends 0..N-1 at irregular moments; the receiver receives with short timeouts and
  // retries after each: it must see every value, in order, exactly once.
  brigade::runtime rt({.worker_threads = 2});
  static constexpr int count = 300;
  brigade::channel<int> ch(0);
  auto receiver = rt.spawn([](brigade::channel<int> c) -> brigade::task<int> {
    int expected = 0;
    int timeouts = 0;
    while (expected < count) {
      try {
        auto got = co_await brigade::timeout(c.recv_async(), std::chrono::microseconds(200 + expected % 7 * 150));
        if (!got) break;
        EXPECT_EQ(*got, expected);
        ++expected;
      } catch (const brigade::timeout_error&) {
        ++timeouts;
      }
    }
    EXPECT_EQ(expected, count);
    co_return timeouts;
  }(ch));
  auto sender = rt.spawn([](brigade::channel<int> c) -> brigade::task<void> {
    for (int i = 0; i < count; ++i) {
      if (i % 3 == 0) co_await brigade::sleep_for_async(std::chrono::microseconds(i % 5 * 300));
      co_await c.send_async(i);
    }
  }(ch));
  sender.join();
  EXPECT_GT(receiver.join(), 0);  // the timeouts did happen
}

TEST(timeout, a_timed_out_lock_holds_nothing) {
  brigade::runtime rt({.worker_threads = 2});
  brigade::mutex m;
  m.lock();
  auto body = [](brigade::mutex& mu) -> brigade::task<bool> {
    try {
      auto guard = co_await brigade::timeout(mu.lock_async(), 10ms);
      co_return true;
    } catch (const brigade::timeout_error&) {
      co_return false;
    }
  };
  EXPECT_FALSE(rt.block_on(body(m)));
  m.unlock();
  EXPECT_TRUE(m.try_lock());  // nobody took it on the side
  m.unlock();
  EXPECT_TRUE(rt.block_on(body(m)));
}

TEST(timeout, the_deadline_reaches_the_operations_children) {
  brigade::runtime rt({.worker_threads = 2});
  std::atomic<int> children_cancelled{0};
  auto child = [](std::atomic<int>& cancelled) -> brigade::task<void> {
    try {
      co_await brigade::sleep_for_async(1h);
    } catch (const brigade::task_cancelled&) {
      ++cancelled;
      throw;
    }
  };
  auto body = [&]() -> brigade::task<bool> {
    try {
      co_await brigade::timeout(brigade::when_all(child(children_cancelled), child(children_cancelled)), 20ms);
    } catch (const brigade::timeout_error&) {
      co_return true;
    }
    co_return false;
  };
  EXPECT_TRUE(rt.block_on(body()));
  EXPECT_EQ(children_cancelled.load(), 2);
}

TEST(timeout, an_outer_deadline_cuts_an_inner_one_short) {
  brigade::runtime rt({.worker_threads = 2});
  brigade::channel<int> ch(0);
  auto inner = [](brigade::channel<int>& c) -> brigade::task<int> {
    auto got = co_await brigade::timeout(c.recv_async(), 1h);
    co_return got.value_or(-1);
  };
  auto outer = [&]() -> brigade::task<clock_type::duration> {
    const auto start = clock_type::now();
    try {
      (void)co_await brigade::timeout(inner(ch), 20ms);
    } catch (const brigade::timeout_error&) {
      co_return clock_type::now() - start;
    }
    co_return 1h;
  };
  const auto took = rt.block_on(outer());
  EXPECT_GE(took, 20ms);
  EXPECT_LT(took, 1h);
}

TEST(timeout, an_abort_of_the_task_is_a_cancellation_not_a_timeout) {
  brigade::runtime rt({.worker_threads = 2});
  brigade::channel<int> ch(0);
  auto handle = rt.spawn([](brigade::channel<int>& c) -> brigade::task<int> {
    auto got = co_await brigade::timeout(c.recv_async(), 1h);
    co_return got.value_or(-1);
  }(ch));
  brigade_test::until_workers_parked(rt, 2);
  handle.abort();
  EXPECT_THROW(handle.join(), brigade::task_cancelled);
}

TEST(timeout, an_error_of_the_operation_propagates) {
  brigade::runtime rt({.worker_threads = 1});
  auto fails = []() -> brigade::task<int> {
    co_await brigade::sleep_for_async(1ms);
    throw std::runtime_error("boom");
  };
  auto body = [&]() -> brigade::task<int> { co_return co_await brigade::timeout(fails(), 1s); };
  EXPECT_THROW(rt.block_on(body()), std::runtime_error);
}

TEST(timeout, a_passed_deadline_still_takes_a_ready_value) {
  brigade::runtime rt({.worker_threads = 1});
  brigade::channel<int> ch(1);
  ch.try_send(9);
  auto body = [](brigade::channel<int>& c) -> brigade::task<int> {
    auto got = co_await brigade::timeout_at(c.recv_async(), clock_type::now() - 1s);
    co_return got.value_or(-1);
  };
  EXPECT_EQ(rt.block_on(body(ch)), 9);
  auto empty = [](brigade::channel<int>& c) -> brigade::task<int> {
    auto got = co_await brigade::timeout_at(c.recv_async(), clock_type::now() - 1s);
    co_return got.value_or(-1);
  };
  EXPECT_THROW(rt.block_on(empty(ch)), brigade::timeout_error);
}

}  // namespace
