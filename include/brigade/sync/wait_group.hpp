// brigade/sync/wait_group.hpp: wait_group, Go's sync.WaitGroup: wait until a set of tasks or
// threads has finished.
//
//   brigade::wait_group group;
//   for (auto& url : urls) {
//     group.add(1);
//     brigade::spawn(fetch(url, group));   // fetch calls group.done() when it is finished
//   }
//   co_await group.wait_async();                 // in a task; group.wait() on a thread
//
// As in Go: add(delta) changes the counter (delta may be negative), done() is add(-1), and
// waiting returns once the counter is zero (at once if it already is). A group may be reused
// once its waits have returned.
// Misuse: a counter that would go negative (done() once too often) throws usage_error and
// leaves the counter as it was, where Go panics. An add() racing with a wait while the counter
// passes through zero (which Go calls misuse) never lets a wait return early: a wait returns
// only when it finds the counter at zero.
// Thread safety: every member from any thread. Memory order: what a party wrote before its
// done() is visible to every waiter after its wait returns.
// Cancellation: a task's wait is a cancellation point: a stop request of its scope while it waits
// ends it with task_cancelled and changes nothing in the group.
// Lifetime: the group must outlive its waiters. Complexity: add O(1), plus O(waiters) at zero.
#pragma once

#include <cstdint>
#include <stop_token>
#include <utility>

#include "brigade/detail/deadline_scope.hpp"
#include "brigade/detail/counter_gate.hpp"
#include "brigade/detail/gate_wait.hpp"

namespace brigade {

class wait_group {
 public:
  wait_group() noexcept = default;
  wait_group(const wait_group&) = delete;
  wait_group& operator=(const wait_group&) = delete;

  /// Adds `delta` to the counter; wakes every waiter when it reaches zero. Throws usage_error if
  /// the counter would become negative (then nothing changes).
  void add(std::int64_t delta) { gate_.adjust(delta, "brigade: wait_group counter would be negative"); }
  /// One party finished: add(-1).
  void done() { add(-1); }

  /// The counter now (a snapshot: other parties may change it at once).
  [[nodiscard]] std::int64_t count() const noexcept { return gate_.count(); }

  /// co_await group.wait_async(): suspends the task until the counter is zero.
  [[nodiscard("co_await the wait")]] auto wait_async() noexcept {
    return detail::gate_awaiter<detail::counter_gate>{gate_};
  }
  /// Blocks the calling thread until the counter is zero; with a token, a stop request while it
  /// waits throws task_cancelled.
  void wait(std::stop_token token = {}) { detail::wait_blocking_on(gate_, std::move(token)); }
  /// Blocks the calling thread until the counter is zero, or until `timeout` has passed; returns whether
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
  /// co_await group.wait_for_async(timeout): true once it reached zero, false when `timeout` passed
  /// first (the wait withdrawn, as a stop request withdraws it).
  template <class Rep, class Period>
  [[nodiscard("co_await the wait")]] task<bool> wait_for_async(std::chrono::duration<Rep, Period> timeout) {
    const std::uint64_t deadline = detail::deadline_after(timeout);
    auto wait = wait_async();
    co_return co_await detail::completes_before(wait, deadline, "wait_group::wait_for_async");
  }


 private:
  detail::counter_gate gate_{
      0, "brigade: wait_group::wait_async() awaited outside a runtime (use wait() on a thread)"};
};

}  // namespace brigade
