// brigade/time/interval.hpp: ticks at a fixed period, for a task that does something
// periodically (Tokio's tokio::time::interval, Go's time.Ticker without the channel).
//
//   brigade::interval every(100ms);                        // the first tick completes at once
//   while (running) {
//     const auto tick_time = co_await every.tick_async();  // then one tick per 100 ms
//     publish_metrics(tick_time);
//   }
//   brigade::interval heartbeat(start, 1s, brigade::missed_tick_policy::skip);   // first tick at `start`
//   const auto when = heartbeat.tick(token);               // a plain thread blocks instead
//
// Types: interval, missed_tick_policy.
//
// Schedule: ticks are scheduled at first, first + period, first + 2 * period, ..., where `first`
// is the moment of construction (or the time point given). tick_async() completes when the next
// scheduled tick is due (at once if it is already due) and yields that tick's SCHEDULED time (a
// steady_clock::time_point), not the moment it completed; it never completes before it. Each
// tick's time is at least the previous one's plus the period: ticks are never early, and never
// closer together than the period in the schedule they report.
//
// Missed ticks: a tick is missed when the task is late by more than a period, that is when, as a
// tick completes, the one after it is already due (the task ran long between two tick_async()
// calls, or its worker was busy). If it is not, the next tick is the previous one plus the period,
// whatever the policy. If it is (tick scheduled at T completing at `now`, now > T + period):
//   burst  (the default, as in Tokio) the schedule is kept: every missed tick still completes,
//          one per tick_async(), at once, until the ticks have caught up with the clock. For work
//          that must run once per period on average (counting, sampling).
//   delay  the next tick is `now + period`, and the schedule continues from there: the missed
//          ticks are dropped and the interval drifts by the lateness. For "at least a period
//          between two runs".
//   skip   the next tick is the first one of the original schedule (T + k * period) after `now`:
//          the missed ticks are dropped and the schedule keeps its phase. For work aligned to
//          the clock ("on every whole second").
// A tick_async() that completes at once does not suspend, so a burst runs the loop back to back.
//
// reset() moves the next tick to one period from now, reset_immediately() to now, reset_at(t) to
// t; the schedule continues from there.
//
// Cancellation: tick_async() is a sleep_until_async, a cancellation point: a stop request of the
// task's scope ends it with task_cancelled (an enclosing timeout with timeout_error). Cancel-safe:
// a tick that was cancelled did not happen, and the next tick_async() waits for the same tick.
// tick(token) on a thread ends with task_cancelled at the token's stop, as sleep_for does.
//
// Misuse: a period of zero or less is a usage_error; tick() on a worker thread and tick_async()
// off a runtime are usage_errors (sleep.hpp).
// Thread safety: an interval is a plain value owned by one task (or thread) at a time; await one
// tick_async() at a time, and do not touch the interval while it is awaited.
// Precision and cost: as sleep_until_async's (1 ms timer wheel, no allocation); the awaiter is
// the sleep's plus a reference.
#pragma once

#include <chrono>
#include <coroutine>
#include <optional>
#include <stop_token>

#include "brigade/runtime/errors.hpp"
#include "brigade/time/sleep.hpp"

namespace brigade {

/// What an interval does with the ticks it missed (see the top of this header).
enum class missed_tick_policy { burst, delay, skip };

namespace detail {

/// `when + period`, saturating at the clock's last time point instead of overflowing.
constexpr std::chrono::steady_clock::time_point saturating_add(std::chrono::steady_clock::time_point when,
                                                               std::chrono::steady_clock::duration period) noexcept {
  const auto last = std::chrono::steady_clock::time_point::max();
  return period > last - when ? last : when + period;
}

/// The schedule, as a pure function: the time of the tick after the one scheduled at
/// `scheduled` that completed at `now` (now >= scheduled), for a positive `period`.
constexpr std::chrono::steady_clock::time_point next_tick_time(std::chrono::steady_clock::time_point scheduled,
                                                               std::chrono::steady_clock::time_point now,
                                                               std::chrono::steady_clock::duration period,
                                                               missed_tick_policy policy) noexcept {
  const auto on_schedule = saturating_add(scheduled, period);
  if (now <= on_schedule) return on_schedule;  // not late by more than a period: no tick missed
  switch (policy) {
    case missed_tick_policy::burst:
      return on_schedule;
    case missed_tick_policy::delay:
      return saturating_add(now, period);
    case missed_tick_policy::skip:
      // The first scheduled + k * period after now (k >= 2 here).
      return saturating_add(scheduled, period * ((now - scheduled) / period + 1));
  }
  return on_schedule;
}

}  // namespace detail

/// Ticks every `period`, the first at once; see the top of this header.
/// Thread safety: none (a value owned by one task or thread). Resumes on: the worker that
/// handled the timer, as any sleep. Cancellation: tick_async() is a cancellation point,
/// cancel-safe. Complexity: O(1) per tick.
class interval {
 public:
  using clock = std::chrono::steady_clock;

  class tick_awaiter;

  /// Ticks now, then every `period`. Throws usage_error for a period <= 0.
  explicit interval(clock::duration period, missed_tick_policy policy = missed_tick_policy::burst)
      : interval(clock::now(), period, policy) {}
  /// Ticks at `first_tick`, then every `period` after it.
  interval(clock::time_point first_tick, clock::duration period, missed_tick_policy policy = missed_tick_policy::burst)
      : next_(first_tick), period_(period), policy_(policy) {
    if (period <= clock::duration::zero()) throw usage_error("brigade: an interval needs a period > 0");
  }

  /// co_await tick_async(): waits for the next tick and yields its scheduled time.
  [[nodiscard("co_await the tick")]] tick_awaiter tick_async() noexcept;

  /// Blocks the calling thread until the next tick and returns its scheduled time; with a token,
  /// throws task_cancelled at its stop (the tick is then not consumed). usage_error on a worker.
  clock::time_point tick(std::stop_token token = {}) {
    sleep_until(next_, std::move(token));
    return complete_tick();
  }

  /// The next tick is one period from now.
  void reset() noexcept { next_ = detail::saturating_add(clock::now(), period_); }
  /// The next tick is now: the next tick_async() completes at once.
  void reset_immediately() noexcept { next_ = clock::now(); }
  /// The next tick is at `when`.
  void reset_at(clock::time_point when) noexcept { next_ = when; }

  /// When the next tick is scheduled.
  [[nodiscard]] clock::time_point next_tick() const noexcept { return next_; }
  [[nodiscard]] clock::duration period() const noexcept { return period_; }
  [[nodiscard]] missed_tick_policy policy() const noexcept { return policy_; }
  void set_policy(missed_tick_policy policy) noexcept { policy_ = policy; }

 private:
  /// The due tick happened: schedule the next one, return the due one's time.
  clock::time_point complete_tick() noexcept {
    const clock::time_point scheduled = next_;
    next_ = detail::next_tick_time(scheduled, clock::now(), period_, policy_);
    return scheduled;
  }

  clock::time_point next_;  // the scheduled time of the next tick
  clock::duration period_;
  missed_tick_policy policy_;
};

/// The awaitable of interval::tick_async(): a sleep until the next tick, which then completes
/// the tick. The sleep (its timer entry) is made when the co_await begins: until then the awaiter
/// is movable, as g++ 12 needs for an awaiter handed to co_await as a glvalue (timeout's
/// forwarding reference does that); once the co_await has begun it must not be moved.
class [[nodiscard("co_await the tick")]] interval::tick_awaiter {
 public:
  explicit tick_awaiter(interval& owner) noexcept : owner_(&owner) {}
  /// Moves an awaiter whose co_await has not begun (the sleep is not carried over).
  tick_awaiter(tick_awaiter&& other) noexcept : owner_(other.owner_) {}
  tick_awaiter& operator=(tick_awaiter&&) = delete;

  bool await_ready() {
    sleep_.emplace(detail::deadline_at(owner_->next_));
    return sleep_->await_ready();
  }
  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> awaiting) {
    return sleep_->await_suspend(awaiting);
  }
  clock::time_point await_resume() {
    sleep_->await_resume();  // throws task_cancelled on a stop: the tick stays due
    return owner_->complete_tick();
  }

 private:
  interval* owner_;
  std::optional<detail::sleep_awaiter> sleep_;  // made by await_ready
};

inline interval::tick_awaiter interval::tick_async() noexcept { return tick_awaiter(*this); }

}  // namespace brigade
