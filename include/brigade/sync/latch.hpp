// brigade/sync/latch.hpp: latch, a single-use countdown (std::latch) that tasks and threads
// wait on until it reaches zero.
//
//   brigade::latch ready(3);
//   ... each of three workers: ready.count_down();
//   co_await ready.wait_async();     // in a task; ready.wait() on a thread
//   ready.arrive_and_wait();         // on a thread: count down, then wait for the others
//   co_await ready.arrive_and_wait_async();   // the same in a task
//
// Once zero it stays zero: every later wait returns at once.
// Misuse: counting down below zero, or a negative initial count, throws usage_error (std::latch
// makes these undefined behaviour); a count_down that throws changes nothing.
// Thread safety: every member from any thread. Memory order: what a party wrote before its
// count_down() is visible to every waiter after its wait returns.
// Cancellation: a task's wait is a cancellation point: a stop request of its scope while it waits
// ends it with task_cancelled (its own count_down, if it made one, stays made).
// Lifetime: the latch must outlive its waiters. Complexity: count_down O(1), plus O(waiters) at
// zero.
#pragma once

#include <cstdint>
#include <stop_token>
#include <utility>

#include "brigade/detail/deadline_scope.hpp"
#include "brigade/detail/counter_gate.hpp"
#include "brigade/detail/gate_wait.hpp"
#include "brigade/runtime/errors.hpp"

namespace brigade {

class latch {
 public:
  /// A latch that opens after `count` count-downs (at once when count is 0).
  explicit latch(std::int64_t count) : gate_(checked(count), off_runtime_message) {}
  latch(const latch&) = delete;
  latch& operator=(const latch&) = delete;

  /// Decrements the count by `n` (default 1); at zero, wakes every waiter. Throws usage_error
  /// if that would go below zero or n is negative (then nothing changes).
  void count_down(std::int64_t n = 1) {
    if (n < 0) throw usage_error("brigade: latch::count_down with a negative count");
    gate_.adjust(-n, "brigade: latch counted down below zero");
  }

  /// True once the count is zero.
  [[nodiscard]] bool try_wait() const noexcept { return gate_.is_open(); }

  /// co_await l.wait_async(): suspends the task until the count is zero.
  [[nodiscard("co_await the wait")]] auto wait_async() noexcept {
    return detail::gate_awaiter<detail::counter_gate>{gate_};
  }
  /// Blocks the calling thread until the count is zero; with a token, a stop request while it
  /// waits throws task_cancelled.
  void wait(std::stop_token token = {}) { detail::wait_blocking_on(gate_, std::move(token)); }
  /// Blocks the calling thread until the count is zero, or until `timeout` has passed; returns whether
  /// it reached zero (false: timed out; the wait is withdrawn). With a token, a stop request throws
  /// task_cancelled.
  template <class Rep, class Period>
  [[nodiscard]] bool wait_for(std::chrono::duration<Rep, Period> timeout, std::stop_token token = {}) {
    return detail::wait_blocking_on(gate_, std::move(token), detail::deadline_after(timeout));
  }
  template <class Duration>
  [[nodiscard]] bool wait_until(std::chrono::time_point<std::chrono::steady_clock, Duration> deadline,
                                std::stop_token token = {}) {
    return detail::wait_blocking_on(gate_, std::move(token), detail::deadline_at(deadline));
  }
  /// co_await l.wait_for_async(timeout): true once it reached zero, false when `timeout` passed
  /// first (the wait withdrawn, as a stop request withdraws it).
  template <class Rep, class Period>
  [[nodiscard("co_await the wait")]] task<bool> wait_for_async(std::chrono::duration<Rep, Period> timeout) {
    const std::uint64_t deadline = detail::deadline_after(timeout);
    auto wait = wait_async();
    co_return co_await detail::completes_before(wait, deadline, "latch::wait_for_async");
  }

  /// On a thread: count_down(n), then wait().
  void arrive_and_wait(std::int64_t n = 1) {
    count_down(n);
    wait();
  }
  /// In a task: co_await l.arrive_and_wait_async(n) counts down by `n` at the call, then the
  /// co_await waits for zero. A cancelled wait leaves the count down done (a latch never goes up).
  [[nodiscard("co_await the arrival")]] auto arrive_and_wait_async(std::int64_t n = 1) {
    count_down(n);
    return wait_async();
  }

 private:
  static constexpr const char* off_runtime_message =
      "brigade: latch::wait_async() awaited outside a runtime (use wait() on a thread)";
  static std::int64_t checked(std::int64_t count) {
    if (count < 0) throw usage_error("brigade: latch with a negative count");
    return count;
  }
  mutable detail::counter_gate gate_;  // mutable: try_wait() passes through its lock
};

}  // namespace brigade
