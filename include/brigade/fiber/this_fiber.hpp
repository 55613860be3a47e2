// brigade/fiber/this_fiber.hpp: what a fiber can do about itself: yield, sleep, await a task or
// any awaitable, and know its id and name.
//
//   brigade::this_fiber::yield();                        // let the other ready work run
//   brigade::this_fiber::sleep_for(10ms);                // parks only the fiber
//   int v = brigade::this_fiber::await(compute_async()); // a coroutine task, from a fiber
//   auto r = brigade::this_fiber::await(brigade::timeout(rx.recv_async(), 1s));
//
// await() runs the awaitable in the fiber's driver task (fiber/go.hpp), so it has that task's
// cancellation scope: a stop of the fiber ends it with task_cancelled, with the awaitable's own
// cancel-safety. yield() and the sleeps are cancellation points in the same way (they throw
// task_cancelled once the fiber was asked to stop).
//
// Every function here throws usage_error off a fiber (on a plain thread, or in a task).
// Cost: await() makes one task frame (from the frame pool) and two context switches.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "brigade/detail/awaitable_traits.hpp"
#include "brigade/detail/fiber_core.hpp"
#include "brigade/detail/fork_join.hpp"
#include "brigade/runtime/errors.hpp"
#include "brigade/runtime/task.hpp"
#include "brigade/runtime/yield_now.hpp"
#include "brigade/time/sleep.hpp"

namespace brigade::this_fiber {

namespace detail {
inline brigade::detail::fiber_core& current_or_throw(const char* what) {
  brigade::detail::fiber_core* fiber = brigade::detail::current_fiber();
  if (fiber == nullptr)
    throw usage_error(std::string("brigade: this_fiber::") + what + " called outside a fiber");
  return *fiber;
}

template <class Awaitable, class Result>
brigade::task<void> await_into(Awaitable& operation, std::optional<brigade::detail::non_void_t<Result>>& result) {
  if constexpr (std::is_void_v<Result>) {
    co_await std::forward<Awaitable>(operation);
    result.emplace();
  } else {
    result.emplace(co_await std::forward<Awaitable>(operation));
  }
}
}  // namespace detail

/// Whether the caller runs on a fiber.
inline bool is_fiber() noexcept { return brigade::detail::current_fiber() != nullptr; }

/// The fiber's id: unique in the process, never 0.
inline std::uint64_t id() { return detail::current_or_throw("id()").id(); }

/// The name given in fiber_options (empty if none).
inline const std::string& name() { return detail::current_or_throw("name()").name(); }

/// Awaits `operation` (a task, a join_handle, timeout(...), any awaitable) from the fiber, and
/// returns its result or rethrows its exception. Only the fiber waits.
template <class Awaitable>
brigade::detail::await_result_t<Awaitable> await(Awaitable&& operation) {
  using result_type = brigade::detail::await_result_t<Awaitable>;
  brigade::detail::fiber_core& fiber = detail::current_or_throw("await()");
  std::optional<brigade::detail::non_void_t<result_type>> result;
  brigade::task<void> work = detail::await_into<Awaitable, result_type>(operation, result);
  fiber.await(work);
  if constexpr (!std::is_void_v<result_type>) return std::move(*result);
}

/// Lets the other ready fibers and tasks run; the fiber continues after them (on any worker).
inline void yield() { detail::current_or_throw("yield()").yield(); }

/// Parks the fiber for at least `duration`.
template <class Rep, class Period>
void sleep_for(std::chrono::duration<Rep, Period> duration) {
  detail::current_or_throw("sleep_for()");
  await(brigade::sleep_for_async(duration));
}

/// Parks the fiber until `when` (steady_clock).
template <class Duration>
void sleep_until(std::chrono::time_point<std::chrono::steady_clock, Duration> when) {
  detail::current_or_throw("sleep_until()");
  await(brigade::sleep_until_async(when));
}

}  // namespace brigade::this_fiber
