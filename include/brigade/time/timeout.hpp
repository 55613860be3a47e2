// brigade/time/timeout.hpp: ending any operation that takes too long.
//
//   auto value = co_await brigade::timeout(channel.recv_async(), 100ms);   // or throws timeout_error
//   co_await brigade::timeout(fetch_user(id), 2s);                         // any awaitable, a task too
//   co_await brigade::timeout_at(handle_request(), deadline);              // a steady_clock deadline
//
// How: the operation runs in a cancellation scope of its own, below the task's; at the deadline
// a timer asks that scope to stop. A stop request is what ends a wait in brigade (every wait is
// a cancellation point, docs/ARCHITECTURE.md "Cancellation"), so a timeout ends the operation
// exactly as an abort would, with that operation's cancel-safety: a timed-out recv took no value,
// a timed-out lock holds nothing, a timed-out send delivered nothing. Then:
//   - the operation ended with task_cancelled because of the deadline: throws timeout_error (a
//     std::system_error whose code compares equal to std::errc::timed_out);
//   - it completed anyway (its value was handed over before the stop reached it): returns the
//     value; nothing is lost;
//   - it failed otherwise: its exception propagates;
//   - the task itself was stopped (an abort, an enclosing timeout): task_cancelled, as for any
//     wait.
// A deadline that has already passed gives the operation one step: what completes without
// waiting completes (a ready value is returned), what waits is stopped at the next tick (1 ms).
// Deadlines nest and propagate: everything the operation starts in its scope (awaited tasks,
// when_all children, task groups) is stopped at the deadline too, and an inner timeout longer
// than an outer one is cut short by the outer.
//
// Cooperative: the timeout ends the operation at its next cancellation point. An operation that
// never reaches one (a computation that does not check its token, an awaitable that is not
// brigade's and ignores stops) runs to its end, and the timeout then reports what it returned.
// Lifetime: the awaitable must live until the co_await completes (a temporary in the same
// expression does). Cost: one timer and a scope (no allocation besides the operation's frame).
// Thread safety: as the operation's.
#pragma once

#include <chrono>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "brigade/detail/awaitable_traits.hpp"
#include "brigade/detail/fork_join.hpp"
#include "brigade/detail/seam.hpp"
#include "brigade/detail/stop_state.hpp"
#include "brigade/detail/timer_queue.hpp"
#include "brigade/runtime/errors.hpp"
#include "brigade/runtime/task.hpp"
#include "brigade/runtime/this_task.hpp"
#include "brigade/time/sleep.hpp"

namespace brigade {
namespace detail {

/// The waiter a timeout's timer wakes: it asks the operation's scope to stop. `done` tells the
/// timeout, which may be finishing on another thread, that the trigger no longer touches the
/// scope.
struct deadline_trigger final : waiter {
  explicit deadline_trigger(stop_state& scope) noexcept : waiter(&fire), scope_(scope) {}
  static void fire(waiter* self) noexcept {
    auto* me = static_cast<deadline_trigger*>(self);
    me->fired_.store(true, seam::memory_order::relaxed);
    me->scope_.request_stop();
    me->done_.store(true, seam::memory_order::release);  // last touch of *me
  }
  bool fired() const noexcept { return fired_.load(seam::memory_order::relaxed); }
  void wait_until_done() const noexcept {
    while (!done_.load(seam::memory_order::acquire)) seam::spin_pause();
  }
  stop_state& scope_;
  seam::atomic<bool> fired_{false};
  seam::atomic<bool> done_{false};
};

/// A registration that never reports a stop: the deadline's timer is not itself a cancellable
/// wait (the timeout withdraws it when the operation ends).
struct no_stop_registration {
  bool bind_unless_stopped(waiter&) noexcept { return true; }
};

template <class Awaitable>
task<await_result_t<Awaitable>> run_awaitable(Awaitable&& operation) {
  co_return co_await std::forward<Awaitable>(operation);
}

template <class Awaitable>
task<await_result_t<Awaitable>> with_deadline(Awaitable&& operation, std::uint64_t deadline, const char* what) {
  using result_type = await_result_t<Awaitable>;
  worker_hot* worker = current_worker();
  if (worker == nullptr) throw usage_error("brigade: timeout() must be awaited inside a task on a runtime");
  stop_state* parent = co_await this_task::detail::current_scope();
  child_stop_state scope;
  scope.set_parent(parent);
  deadline_trigger trigger(scope);
  timer_queue& queue = timers_of(*worker->owner);
  timer_entry entry(trigger, queue);
  no_stop_registration never;
  // A deadline that has passed still gives the operation its first step: it completes if it
  // can without waiting (a ready value is not discarded, as in Tokio), and is stopped at the
  // next tick otherwise.
  if (queue.park(entry, deadline, never) == park_result::not_needed)
    (void)queue.park(entry, seam::now_nanoseconds() + timer_queue::nanoseconds_per_tick, never);
  std::exception_ptr failure;
  std::optional<non_void_t<result_type>> value;
  try {
    // Named before the co_await (GCC 12 destroys temporaries inside a co_await expression twice).
    auto operation_task = run_awaitable(std::forward<Awaitable>(operation));
    if constexpr (std::is_void_v<result_type>) {
      co_await in_scope(operation_task, &scope);
      value.emplace();
    } else {
      value.emplace(co_await in_scope(operation_task, &scope));
    }
  } catch (...) {
    failure = std::current_exception();
  }
  if (!queue.withdraw(entry)) trigger.wait_until_done();  // it fired, or is firing now
  if (failure) {
    const bool stopped_by_task = parent != nullptr && parent->stop_requested();
    if (trigger.fired() && !stopped_by_task) {
      try {
        std::rethrow_exception(failure);
      } catch (const task_cancelled&) {
        throw timeout_error(std::string("brigade: ") + what + " did not complete before its deadline");
      } catch (...) {
      }
    }
    std::rethrow_exception(failure);
  }
  if constexpr (!std::is_void_v<result_type>) co_return std::move(*value);
}

}  // namespace detail

/// co_await timeout(operation, duration): the operation's result, or timeout_error once
/// `duration` has passed (see the top of this header).
template <class Awaitable, class Rep, class Period>
[[nodiscard("co_await the timeout")]] auto timeout(Awaitable&& operation, std::chrono::duration<Rep, Period> duration) {
  return detail::with_deadline(std::forward<Awaitable>(operation), detail::deadline_after(duration), "an operation");
}

/// co_await timeout_at(operation, deadline): as timeout, with a steady_clock deadline.
template <class Awaitable, class Duration>
[[nodiscard("co_await the timeout")]] auto timeout_at(Awaitable&& operation,
                                                     std::chrono::time_point<std::chrono::steady_clock, Duration> deadline) {
  return detail::with_deadline(std::forward<Awaitable>(operation), detail::deadline_at(deadline), "an operation");
}

}  // namespace brigade
