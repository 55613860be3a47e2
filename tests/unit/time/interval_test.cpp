#include "brigade/time/interval.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <stop_token>
#include <thread>
#include <utility>
#include <vector>

#include "../until_parked.hpp"
#include "brigade/runtime/runtime.hpp"
#include "brigade/time/timeout.hpp"

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using brigade::missed_tick_policy;

// ---- The schedule as a pure function ----------------------------------------------------------

const clock_type::time_point origin = clock_type::time_point(1000h);

clock_type::time_point at(std::chrono::milliseconds since_origin) { return origin + since_origin; }

TEST(interval, a_tick_on_time_or_late_by_at_most_a_period_keeps_the_schedule_under_every_policy) {
  for (const auto policy : {missed_tick_policy::burst, missed_tick_policy::delay, missed_tick_policy::skip}) {
    EXPECT_EQ(brigade::detail::next_tick_time(at(0ms), at(0ms), 10ms, policy), at(10ms));
    EXPECT_EQ(brigade::detail::next_tick_time(at(0ms), at(3ms), 10ms, policy), at(10ms));
    EXPECT_EQ(brigade::detail::next_tick_time(at(0ms), at(10ms), 10ms, policy), at(10ms));  // due now: not missed
  }
}

TEST(interval, each_policy_schedules_the_tick_after_a_missed_one_as_documented) {
  // Tick scheduled at 0 completes at 35 ms: the ticks at 10, 20 and 30 ms are missed.
  EXPECT_EQ(brigade::detail::next_tick_time(at(0ms), at(35ms), 10ms, missed_tick_policy::burst), at(10ms));
  EXPECT_EQ(brigade::detail::next_tick_time(at(0ms), at(35ms), 10ms, missed_tick_policy::delay), at(45ms));
  EXPECT_EQ(brigade::detail::next_tick_time(at(0ms), at(35ms), 10ms, missed_tick_policy::skip), at(40ms));
  // Completing exactly on a later tick of the schedule: skip goes to the one after it.
  EXPECT_EQ(brigade::detail::next_tick_time(at(0ms), at(40ms), 10ms, missed_tick_policy::skip), at(50ms));
  EXPECT_EQ(brigade::detail::next_tick_time(at(0ms), at(40ms), 10ms, missed_tick_policy::delay), at(50ms));
  // Saturates instead of overflowing.
  EXPECT_EQ(brigade::detail::next_tick_time(clock_type::time_point::max() - 1ms, clock_type::time_point::max() - 1ms,
                                            1h, missed_tick_policy::burst),
            clock_type::time_point::max());
}

/// A task's loop on a simulated clock: it ticks, then works `work[i]` before the next tick.
/// Returns the scheduled times the ticks report.
std::vector<std::chrono::milliseconds> simulate(missed_tick_policy policy, std::chrono::milliseconds period,
                                                const std::vector<std::chrono::milliseconds>& work) {
  std::vector<std::chrono::milliseconds> ticks;
  clock_type::time_point now = at(0ms);
  clock_type::time_point next = now;  // the first tick is due at once
  for (const auto busy : work) {
    now = std::max(now, next);  // tick_async() completes when the tick is due
    ticks.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(next - origin));
    next = brigade::detail::next_tick_time(next, now, period, policy);
    now += busy;
  }
  return ticks;
}

TEST(interval, a_task_late_by_more_than_a_period_gets_each_policys_schedule) {
  using ms = std::vector<std::chrono::milliseconds>;
  // Tick at 0, then a 35 ms stall, then 1 ms of work per tick; period 10 ms.
  const ms work{35ms, 1ms, 1ms, 1ms, 1ms, 1ms};
  // burst: the missed ticks 10, 20, 30 all come (10 late, at 35; 20, 30 at once), then on time.
  EXPECT_EQ(simulate(missed_tick_policy::burst, 10ms, work), (ms{0ms, 10ms, 20ms, 30ms, 40ms, 50ms}));
  // delay: the late tick 10 comes at 35, the next a period after that, and so on from there.
  EXPECT_EQ(simulate(missed_tick_policy::delay, 10ms, work), (ms{0ms, 10ms, 45ms, 55ms, 65ms, 75ms}));
  // skip: the late tick 10 comes at 35; 20 and 30 are dropped; 40 keeps the original phase.
  EXPECT_EQ(simulate(missed_tick_policy::skip, 10ms, work), (ms{0ms, 10ms, 40ms, 50ms, 60ms, 70ms}));
}

// ---- Real time, in a runtime -------------------------------------------------------------------

struct observed_tick {
  clock_type::time_point scheduled;
  clock_type::time_point completed;
};

TEST(interval, the_first_tick_completes_at_once_and_ticks_are_never_early) {
  brigade::runtime rt({.worker_threads = 2});
  auto body = []() -> brigade::task<bool> {
    const auto before = clock_type::now();
    brigade::interval every(5ms);
    const auto after = clock_type::now();
    std::vector<observed_tick> ticks;
    for (int i = 0; i < 10; ++i) {
      const auto scheduled = co_await every.tick_async();
      ticks.push_back({scheduled, clock_type::now()});
    }
    EXPECT_GE(ticks[0].scheduled, before);  // the first tick is the moment of construction
    EXPECT_LE(ticks[0].scheduled, after);
    for (std::size_t i = 0; i < ticks.size(); ++i) {
      EXPECT_GE(ticks[i].completed, ticks[i].scheduled) << i;  // never completes early
      if (i > 0) {
        EXPECT_EQ(ticks[i].scheduled, ticks[i - 1].scheduled + 5ms) << i;  // burst: on the schedule
      }
    }
    co_return true;
  };
  EXPECT_TRUE(rt.block_on(body()));
}

/// Ticks once, stalls `stall` (the task is away: sleep_for_async), then ticks `after_stall`
/// more times. Returns the ticks; `stall_end` is when the stall was over.
brigade::task<std::vector<observed_tick>> stalls(missed_tick_policy policy, clock_type::duration period,
                                                 clock_type::duration stall, int after_stall,
                                                 clock_type::time_point& stall_end) {
  brigade::interval every(period, policy);
  std::vector<observed_tick> ticks;
  const auto first = co_await every.tick_async();
  ticks.push_back({first, clock_type::now()});
  co_await brigade::sleep_for_async(stall);
  stall_end = clock_type::now();
  for (int i = 0; i < after_stall; ++i) {
    const auto scheduled = co_await every.tick_async();
    ticks.push_back({scheduled, clock_type::now()});
  }
  co_return ticks;
}

TEST(interval, burst_delivers_every_missed_tick_on_the_original_schedule) {
  brigade::runtime rt({.worker_threads = 2});
  clock_type::time_point stall_end;
  const auto ticks = rt.block_on(stalls(missed_tick_policy::burst, 20ms, 75ms, 5, stall_end));
  ASSERT_EQ(ticks.size(), 6u);
  for (std::size_t i = 0; i < ticks.size(); ++i) {
    EXPECT_EQ(ticks[i].scheduled, ticks[0].scheduled + static_cast<int>(i) * 20ms) << i;
    EXPECT_GE(ticks[i].completed, ticks[i].scheduled) << i;
  }
  EXPECT_LT(ticks[2].scheduled, stall_end);  // a missed tick, delivered late rather than dropped
}

TEST(interval, delay_restarts_the_schedule_a_period_after_the_late_tick) {
  brigade::runtime rt({.worker_threads = 2});
  clock_type::time_point stall_end;
  const auto ticks = rt.block_on(stalls(missed_tick_policy::delay, 20ms, 75ms, 4, stall_end));
  ASSERT_EQ(ticks.size(), 5u);
  // Tick 1 is the late one; tick 2 comes a period after it completed (after the stall), not on
  // the original schedule.
  EXPECT_GE(ticks[2].scheduled, stall_end + 20ms);
  for (std::size_t i = 1; i < ticks.size(); ++i) {
    EXPECT_GE(ticks[i].scheduled, ticks[i - 1].scheduled + 20ms) << i;
    EXPECT_GE(ticks[i].completed, ticks[i].scheduled) << i;
  }
}

TEST(interval, skip_drops_the_missed_ticks_and_keeps_the_phase) {
  brigade::runtime rt({.worker_threads = 2});
  clock_type::time_point stall_end;
  const auto ticks = rt.block_on(stalls(missed_tick_policy::skip, 20ms, 75ms, 4, stall_end));
  ASSERT_EQ(ticks.size(), 5u);
  for (std::size_t i = 0; i < ticks.size(); ++i) {
    EXPECT_EQ((ticks[i].scheduled - ticks[0].scheduled) % 20ms, 0ms) << i;  // on the original grid
    EXPECT_GE(ticks[i].completed, ticks[i].scheduled) << i;
    if (i > 0) {
      EXPECT_GE(ticks[i].scheduled, ticks[i - 1].scheduled + 20ms) << i;
    }
  }
  EXPECT_GT(ticks[2].scheduled, stall_end);  // the ticks missed during the stall were dropped
}

TEST(interval, reset_moves_the_next_tick) {
  brigade::runtime rt({.worker_threads = 2});
  auto body = []() -> brigade::task<bool> {
    brigade::interval every(1h);
    (void)co_await every.tick_async();
    every.reset_immediately();
    const auto reset_moment = clock_type::now();
    const auto immediate = co_await every.tick_async();
    EXPECT_LE(immediate, reset_moment);  // due at once
    const auto before = clock_type::now();
    every.reset();
    const auto after = clock_type::now();
    EXPECT_GE(every.next_tick(), before + 1h);
    EXPECT_LE(every.next_tick(), after + 1h);
    const auto soon = clock_type::now() + 10ms;
    every.reset_at(soon);
    const auto at_soon = co_await every.tick_async();
    EXPECT_EQ(at_soon, soon);
    EXPECT_GE(clock_type::now(), soon);
    EXPECT_EQ(every.next_tick(), soon + 1h);
    co_return true;
  };
  EXPECT_TRUE(rt.block_on(body()));
}

TEST(interval, an_abort_ends_a_tick_with_task_cancelled) {
  brigade::runtime rt({.worker_threads = 2});
  std::atomic<int> ticks{0};
  auto handle = rt.spawn([](std::atomic<int>& count) -> brigade::task<void> {
    brigade::interval every(1h);
    while (true) {
      (void)co_await every.tick_async();
      ++count;
    }
  }(ticks));
  while (ticks.load() == 0) std::this_thread::yield();
  ASSERT_TRUE(brigade_test::until_workers_parked(rt, 2));
  handle.abort();
  EXPECT_THROW(handle.join(), brigade::task_cancelled);
  EXPECT_EQ(ticks.load(), 1);
}

TEST(interval, a_cancelled_tick_is_not_lost) {
  brigade::runtime rt({.worker_threads = 2});
  auto body = []() -> brigade::task<bool> {
    brigade::interval every(50ms);
    const auto first = co_await every.tick_async();
    bool timed_out = false;
    try {
      auto tick = every.tick_async();  // named (g++ 12 and temporaries in co_await), moved in
      (void)co_await brigade::timeout(std::move(tick), 5ms);
    } catch (const brigade::timeout_error&) {
      timed_out = true;
    }
    EXPECT_TRUE(timed_out);
    EXPECT_EQ(every.next_tick(), first + 50ms);
    const auto second = co_await every.tick_async();
    EXPECT_EQ(second, first + 50ms);  // the same tick, not the one after
    co_return true;
  };
  EXPECT_TRUE(rt.block_on(body()));
}

TEST(interval, a_thread_ticks_with_the_blocking_form) {
  brigade::interval every(5ms);
  const auto first = every.tick();
  EXPECT_EQ(every.tick(), first + 5ms);
  EXPECT_GE(clock_type::now(), first + 5ms);
  EXPECT_EQ(every.tick(), first + 10ms);
  brigade::interval slow(1h);
  (void)slow.tick();
  std::stop_source source;
  std::jthread stopper([&] {
    std::this_thread::sleep_for(10ms);
    source.request_stop();
  });
  EXPECT_THROW((void)slow.tick(source.get_token()), brigade::task_cancelled);
}

TEST(interval, misuse_is_a_usage_error) {
  EXPECT_THROW(brigade::interval(0ms), brigade::usage_error);
  EXPECT_THROW(brigade::interval(-1ms), brigade::usage_error);
  brigade::runtime rt({.worker_threads = 1});
  auto blocks_a_worker = []() -> brigade::task<void> {
    brigade::interval every(1ms);
    (void)every.tick();
    co_return;
  };
  EXPECT_THROW(rt.block_on(blocks_a_worker()), brigade::usage_error);
}

}  // namespace
