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
// waiting completes (a ready value is returned), what waits is stopped at the next tick (100 µs).
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

#include "brigade/detail/deadline_scope.hpp"
#include "brigade/time/sleep.hpp"

namespace brigade {

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
