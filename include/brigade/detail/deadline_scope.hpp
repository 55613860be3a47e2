// brigade/detail/deadline_scope.hpp: running an operation under a deadline (internal): the
// mechanism of brigade::timeout (time/timeout.hpp, where the semantics are documented) and of the
// primitives' timed task forms (mutex::try_lock_for_async, event::wait_for_async, ...).
//
// The operation runs in a child cancellation scope; a timer entry whose waiter (the trigger)
// asks that scope to stop is parked in the runtime's timer queue until the deadline. When the
// operation ends, the timer is withdrawn; if it fired (or is firing on another thread), the
// operation waits for the trigger to be done with the scope before the scope is destroyed.
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

namespace brigade::detail {


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

/// Forwards to an awaiter held elsewhere. co_await on an awaiter named by reference makes GCC 12
/// copy it into the frame (a copy that non-copyable awaiters, which hold parked waiters, refuse);
/// this small copyable front is awaited instead.
template <class Awaiter>
struct awaiter_reference {
  Awaiter& awaiter;
  bool await_ready() { return awaiter.await_ready(); }
  template <class Promise>
  auto await_suspend(std::coroutine_handle<Promise> awaiting) {
    return awaiter.await_suspend(awaiting);
  }
  decltype(auto) await_resume() { return awaiter.await_resume(); }
};

template <class Awaitable>
task<await_result_t<Awaitable>> run_awaitable(Awaitable&& operation) {
  decltype(auto) awaiter = awaiter_of(std::forward<Awaitable>(operation));
  using awaiter_type = std::remove_reference_t<decltype(awaiter)>;
  co_return co_await awaiter_reference<awaiter_type>{awaiter};
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


/// co_await completes_before(operation, deadline): true if the operation completed, false if
/// the deadline stopped it (its cancel-safety applies: it took or changed nothing). For the
/// timed task forms whose result is only "did it happen" (a wait, a lock whose guard the caller
/// then takes from the awaiter...).
template <class Awaitable>
task<bool> completes_before(Awaitable& operation, std::uint64_t deadline, const char* what) {
  try {
    co_await with_deadline(operation, deadline, what);
  } catch (const timeout_error&) {
    co_return false;
  }
  co_return true;
}

}  // namespace brigade::detail
