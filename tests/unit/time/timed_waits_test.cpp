// The timed forms of the waits: a thread's wait_for / try_recv_for / try_send_for, and a task's
// wait_for_async / try_lock_for_async / try_acquire_for_async. A timed-out wait is withdrawn as a
// cancelled one is: it took nothing, and what comes later goes to the next waiter.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include "brigade/chan/channel.hpp"
#include "brigade/runtime/runtime.hpp"
#include "brigade/sync/event.hpp"
#include "brigade/sync/latch.hpp"
#include "brigade/sync/mutex.hpp"
#include "brigade/sync/semaphore.hpp"
#include "brigade/sync/wait_group.hpp"

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

TEST(timed_waits, a_thread_waits_for_an_event_with_a_limit) {
  brigade::event ev;
  const auto start = clock_type::now();
  EXPECT_FALSE(ev.wait_for(20ms));
  EXPECT_GE(clock_type::now() - start, 20ms);
  std::jthread setter([&] {
    std::this_thread::sleep_for(5ms);
    ev.set();
  });
  EXPECT_TRUE(ev.wait_for(1h));
  EXPECT_TRUE(ev.wait_until(clock_type::now() - 1s));  // set: no wait at all
}

TEST(timed_waits, a_thread_waits_for_a_wait_group_and_a_latch_with_a_limit) {
  brigade::wait_group group;
  group.add(1);
  EXPECT_FALSE(group.wait_for(10ms));
  group.done();
  EXPECT_TRUE(group.wait_for(10ms));
  brigade::latch gate(1);
  EXPECT_FALSE(gate.wait_for(10ms));
  gate.count_down();
  EXPECT_TRUE(gate.wait_for(1h));
}

TEST(timed_waits, a_task_waits_for_an_event_with_a_limit) {
  brigade::runtime rt({.worker_threads = 2});
  brigade::event ev;
  auto waits = [](brigade::event& e, clock_type::duration limit) -> brigade::task<bool> {
    co_return co_await e.wait_for_async(limit);
  };
  EXPECT_FALSE(rt.block_on(waits(ev, 20ms)));
  auto pending = rt.spawn(waits(ev, 1h));
  std::this_thread::sleep_for(5ms);
  ev.set();
  EXPECT_TRUE(pending.join());
}

TEST(timed_waits, a_task_gives_up_on_a_lock_and_holds_nothing) {
  brigade::runtime rt({.worker_threads = 2});
  brigade::mutex m;
  m.lock();
  auto tries = [](brigade::mutex& mu, clock_type::duration limit) -> brigade::task<bool> {
    auto guard = co_await mu.try_lock_for_async(limit);
    co_return guard.has_value();
  };
  EXPECT_FALSE(rt.block_on(tries(m, 10ms)));
  m.unlock();
  EXPECT_TRUE(m.try_lock());  // the timed-out wait left nothing behind
  m.unlock();
  auto holds = [](brigade::mutex& mu, std::atomic<bool>& locked_elsewhere) -> brigade::task<bool> {
    auto guard = co_await mu.try_lock_for_async(1h);
    locked_elsewhere = !mu.try_lock();
    co_return guard.has_value();
  };
  std::atomic<bool> held{false};
  EXPECT_TRUE(rt.block_on(holds(m, held)));
  EXPECT_TRUE(held.load());  // the guard held the lock
  EXPECT_TRUE(m.try_lock());  // and released it
  m.unlock();
}

TEST(timed_waits, a_task_gives_up_on_a_permit_and_takes_nothing) {
  brigade::runtime rt({.worker_threads = 2});
  brigade::semaphore permits(0);
  auto tries = [](brigade::semaphore& s, clock_type::duration limit) -> brigade::task<bool> {
    co_return co_await s.try_acquire_for_async(limit);
  };
  EXPECT_FALSE(rt.block_on(tries(permits, 10ms)));
  permits.release();
  EXPECT_TRUE(rt.block_on(tries(permits, 1h)));
  EXPECT_FALSE(permits.try_acquire());  // exactly the one permit was taken
}

TEST(timed_waits, a_thread_receive_with_a_limit_loses_no_value) {
  brigade::channel<int> ch(0);
  int out = -1;
  EXPECT_EQ(ch.try_recv_for(out, 5ms), brigade::channel_status::timed_out);
  constexpr int count = 500;
  std::jthread sender([&] {
    for (int i = 0; i < count; ++i) {
      if (i % 7 == 0) std::this_thread::sleep_for(std::chrono::microseconds(i % 3 * 200));
      ch.send(i);
    }
    ch.close();
  });
  int expected = 0;
  int timeouts = 0;
  while (true) {
    const auto status = ch.try_recv_for(out, std::chrono::microseconds(100 + expected % 5 * 100));
    if (status == brigade::channel_status::closed) break;
    if (status == brigade::channel_status::timed_out) {
      ++timeouts;
      continue;
    }
    ASSERT_EQ(out, expected);
    ++expected;
  }
  EXPECT_EQ(expected, count);
  EXPECT_GT(timeouts, 0);
}

TEST(timed_waits, a_thread_send_with_a_limit_keeps_its_value) {
  brigade::channel<std::unique_ptr<int>> ch(1);
  ASSERT_EQ(ch.try_send(std::make_unique<int>(1)), brigade::channel_status::ok);
  auto second = std::make_unique<int>(2);
  EXPECT_EQ(ch.try_send_for(std::move(second), 10ms), brigade::channel_status::timed_out);
  ASSERT_NE(second, nullptr);  // not moved from
  EXPECT_EQ(*second, 2);
  std::unique_ptr<int> first;
  ASSERT_EQ(ch.try_recv(first), brigade::channel_status::ok);
  EXPECT_EQ(ch.try_send_for(std::move(second), 1h), brigade::channel_status::ok);
  std::unique_ptr<int> got;
  ASSERT_EQ(ch.try_recv(got), brigade::channel_status::ok);
  EXPECT_EQ(*got, 2);
  std::unique_ptr<int> nothing;
  EXPECT_EQ(ch.try_recv(nothing), brigade::channel_status::would_block);  // nothing sent twice
}

TEST(timed_waits, a_stop_request_still_cancels_a_timed_thread_wait) {
  brigade::event ev;
  std::stop_source source;
  std::jthread stopper([&] {
    std::this_thread::sleep_for(10ms);
    source.request_stop();
  });
  EXPECT_THROW((void)ev.wait_for(1h, source.get_token()), brigade::task_cancelled);
}

}  // namespace
