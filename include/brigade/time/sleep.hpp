// brigade/time/sleep.hpp: pausing a task (or a thread) for a while.
//
//   co_await brigade::sleep_for_async(100ms);               // in a task: suspends; the worker runs others
//   co_await brigade::sleep_until_async(deadline);          // a std::chrono::steady_clock time point
//   brigade::sleep_for(100ms);                              // on a plain thread: blocks it
//   brigade::sleep_for(100ms, token);                       // ... or until the token's stop
//   brigade::sleep_for(100ms);                              // on a fiber: parks only the fiber
//
// Naming, as for every brigade wait: the plain name blocks a thread, the _async form is awaited
// by a task (docs/ARCHITECTURE.md, "One naming rule"). A thread form called on a worker thread
// throws usage_error (it would stall the worker and every task queued on it).
//
// Precision: a task's sleep is a timer in its runtime's timer wheel with 100 µs ticks; it never
// ends early, and ends at most one tick after the deadline plus the time to wake a worker (the
// lateness is measured in docs/benchmarks.md). A deadline that has passed completes at once,
// without suspending. A thread's sleep waits on a futex with the kernel's precision.
//
// Cancellation: a task's sleep is a cancellation point: a stop request of its scope ends it at
// once with task_cancelled (cancel-safe: nothing else happens). A thread's sleep with a
// std::stop_token ends with task_cancelled on the token's stop. A fiber's sleep is its driver
// task's sleep (fiber/go.hpp), so a stop of the fiber ends it; given a token as well, the fiber
// waits as a thread does, and only the token ends it.
//
// Thread safety: each call is independent. Cost: a sleep parks one timer (O(1) under the wheel's
// spin lock) and allocates nothing.
#pragma once

#include <chrono>
#include <coroutine>
#include <cstdint>
#include <optional>
#include <stop_token>

#include "brigade/detail/cancellable_wait.hpp"
#include "brigade/detail/fiber_core.hpp"
#include "brigade/detail/seam.hpp"
#include "brigade/detail/timer_queue.hpp"
#include "brigade/runtime/errors.hpp"
#include "brigade/runtime/task.hpp"
#include "brigade/runtime/waiter.hpp"

namespace brigade {
namespace detail {

/// co_await: suspends the task until `deadline` (nanoseconds on seam's clock).
class [[nodiscard("co_await the sleep")]] sleep_awaiter {
 public:
  explicit sleep_awaiter(std::uint64_t deadline) noexcept : deadline_(deadline) {}
  sleep_awaiter(const sleep_awaiter&) = delete;
  sleep_awaiter& operator=(const sleep_awaiter&) = delete;
  ~sleep_awaiter() {
    // Destroyed while suspended (runtime shutdown): leave the wheel. The registration disarms
    // after this (member destruction), then the entry retires.
    if (waiter_.handle && entry_) entry_->queue_->withdraw(*entry_);
  }

  bool await_ready() const noexcept { return seam::now_nanoseconds() >= deadline_; }
  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> awaiting) {
    waiter_.arm(awaiting, "brigade: sleep_for_async()/sleep_until_async() awaited outside a runtime "
                          "(use sleep_for() on a thread)");
    timer_queue& queue = timers_of(*waiter_.sched);
    entry_.emplace(waiter_, queue);
    park_result result = park_result::cancelled;
    if (registration_.arm(scope_word_of(awaiting), entry_->cancel_target_))
      result = queue.park(*entry_, deadline_, registration_);
    if (result == park_result::parked) return true;
    waiter_.handle = nullptr;
    if (result == park_result::cancelled) waiter_.outcome = cancelled_outcome;
    return false;
  }
  void await_resume() {
    waiter_.handle = nullptr;
    registration_.disarm();
    if (waiter_.outcome == cancelled_outcome) [[unlikely]]
      throw_wait_cancelled("a sleep");
  }

 private:
  std::uint64_t deadline_;
  coroutine_waiter waiter_;
  std::optional<timer_entry> entry_;  // made once the runtime (its queue) is known
  park_registration registration_;
};

inline task<void> sleep_task(std::uint64_t deadline) { co_await sleep_awaiter(deadline); }

/// A thread's sleep until `deadline`, ended early by the token's stop (task_cancelled).
inline void sleep_thread_until(std::uint64_t deadline, std::stop_token token, const char* name) {
  refuse_blocking_on_worker(name);
  if (fiber_core* fiber = current_fiber(); fiber != nullptr && !token.stop_possible()) {
    task<void> sleep = sleep_task(deadline);
    fiber->await(sleep);
    return;
  }
  thread_waiter waiter;
  bool stopped = false;
  {
    std::stop_callback wake_on_stop(token, [&] {
      stopped = true;  // before wake(), which publishes it
      waiter.wake();
    });
    if (!token.stop_requested()) waiter.wait_until(deadline, 0);
    // The callback's destructor waits for a callback that is running.
  }
  if (stopped) throw_wait_cancelled("a sleep");
}

}  // namespace detail

/// co_await sleep_for_async(duration): suspends the task for at least `duration`.
template <class Rep, class Period>
[[nodiscard("co_await the sleep")]] detail::sleep_awaiter sleep_for_async(std::chrono::duration<Rep, Period> duration) noexcept {
  return detail::sleep_awaiter(detail::deadline_after(duration));
}

/// co_await sleep_until_async(when): suspends the task until `when` (steady_clock).
template <class Duration>
[[nodiscard("co_await the sleep")]] detail::sleep_awaiter sleep_until_async(
    std::chrono::time_point<std::chrono::steady_clock, Duration> when) noexcept {
  return detail::sleep_awaiter(detail::deadline_at(when));
}

/// Blocks the calling thread (or fiber) for at least `duration`; with a token, throws
/// task_cancelled at its stop. Throws usage_error on a worker thread outside a fiber.
template <class Rep, class Period>
void sleep_for(std::chrono::duration<Rep, Period> duration, std::stop_token token = {}) {
  detail::sleep_thread_until(detail::deadline_after(duration), std::move(token), "sleep_for()");
}

/// Blocks the calling thread until `when`; as sleep_for otherwise.
template <class Duration>
void sleep_until(std::chrono::time_point<std::chrono::steady_clock, Duration> when, std::stop_token token = {}) {
  detail::sleep_thread_until(detail::deadline_at(when), std::move(token), "sleep_until()");
}

}  // namespace brigade
