// brigade/sync/event.hpp: event, a flag that tasks and threads wait on until it is set (a
// manual-reset event; asyncio.Event, with reset() for its clear()).
// Naming, as for every brigade wait: the plain name blocks a thread (std's meaning), the _async
// form is awaited by a task.
//
//   brigade::event ready;
//   co_await ready.wait_async();   // in a task: suspends until set()
//   ready.wait();                  // on a plain thread: blocks until set()
//   ready.set();                   // from anywhere: releases every waiter, present and future
//   ready.reset();                 // from anywhere: later waits wait again, until the next set()
//
// Cancellation: a task's wait is a cancellation point. A stop request of its scope while it waits
// ends the wait with task_cancelled; the event is unchanged (cancel-safe). A thread's
// wait(std::stop_token) does the same on the token's request.
// Waiting goes through the runtime's waiter (runtime/waiter.hpp), so a coroutine and a thread
// wait the same way. This is the first, minimal primitive; issue 4 brings the full sync layer.
// Thread safety: every member may be called from any thread. set() is idempotent.
// Memory order: what a thread wrote before set() is visible to every waiter after it wakes.
// Lifetime: the event must outlive its waiters; a waiter that returns may destroy it at once, even
// while the set() that released it is still running. A suspended waiter destroyed with its task
// (runtime shutdown) unlinks itself.
// Complexity: wait O(1); set O(waiters).
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <stop_token>

#include "brigade/detail/deadline_scope.hpp"
#include "brigade/detail/gate_wait.hpp"
#include "brigade/detail/seam.hpp"
#include "brigade/detail/wait_list.hpp"
#include "brigade/runtime/waiter.hpp"

namespace brigade {

class event {
 public:
  event() noexcept = default;
  ~event() { detail::retire_cancel_targets(); }
  event(const event&) = delete;
  event& operator=(const event&) = delete;

  /// Sets the event and wakes every waiter.
  void set() noexcept {
    detail::waiter* waiters;
    {
      std::lock_guard lock(mutex_);
      if (set_.load(detail::seam::memory_order::relaxed)) return;
      // Release: pairs with the acquire in is_set().
      set_.store(true, detail::seam::memory_order::release);
      waiters = waiters_.take_all();
    }
    detail::wait_list::wake_all(waiters);
  }

  /// Clears the event: waits that begin after it wait until the next set(). Waiters that set()
  /// already released are not affected (they were woken, and return). No effect if not set.
  void reset() noexcept {
    std::lock_guard lock(mutex_);
    set_.store(false, detail::seam::memory_order::relaxed);
  }

  [[nodiscard]] bool is_set() const noexcept { return set_.load(detail::seam::memory_order::acquire); }

  /// co_await ev.wait_async(): suspends the task until set().
  [[nodiscard("co_await the wait")]] auto wait_async() noexcept { return detail::gate_awaiter<event>{*this}; }

  /// Blocks the calling thread until set(); with a token, throws task_cancelled on its stop.
  void wait(std::stop_token token = {}) { detail::wait_blocking_on(*this, std::move(token)); }
  /// Blocks the calling thread until set(), or until `timeout` has passed; returns whether
  /// set (false: timed out; the wait is withdrawn). With a token, a stop request throws
  /// task_cancelled.
  template <class Rep, class Period>
  [[nodiscard]] bool wait_for(std::chrono::duration<Rep, Period> timeout, std::stop_token token = {}) {
    return detail::wait_blocking_on(*this, std::move(token), detail::deadline_after(timeout));
  }
  template <class Duration>
  [[nodiscard]] bool wait_until(std::chrono::time_point<std::chrono::steady_clock, Duration> deadline,
                                std::stop_token token = {}) {
    return detail::wait_blocking_on(*this, std::move(token), detail::deadline_at(deadline));
  }
  /// co_await ev.wait_for_async(timeout): true once set, false when `timeout` passed
  /// first (the wait withdrawn, as a stop request withdraws it).
  template <class Rep, class Period>
  [[nodiscard("co_await the wait")]] task<bool> wait_for_async(std::chrono::duration<Rep, Period> timeout) {
    const std::uint64_t deadline = detail::deadline_after(timeout);
    auto wait = wait_async();
    co_return co_await detail::completes_before(wait, deadline, "event::wait_for_async");
  }


 private:
  // The gate protocol of detail/gate_wait.hpp.
  template <class>
  friend class detail::gate_awaiter;
  template <class Gate>
  friend bool detail::wait_blocking_on(Gate&, std::stop_token, std::uint64_t);
  const char* off_runtime_message() const noexcept {
    return "brigade: event::wait_async() awaited outside a runtime (use wait() on a thread)";
  }
  /// Set, and the setter done with the event: set_ is written under the lock, so passing through
  /// the lock once makes a waiter go on only after set() released it; the waiter may then
  /// destroy the event at once.
  bool is_open() noexcept {
    if (!is_set()) return false;
    std::lock_guard lock(mutex_);
    return true;
  }
  /// Links `entry` unless the event is already set or the wait was stopped.
  template <class Registration>
  detail::park_result enqueue(detail::waiter& entry, Registration& registration) {
    std::lock_guard lock(mutex_);
    if (set_.load(detail::seam::memory_order::relaxed)) return detail::park_result::not_needed;
    return detail::park_locked(registration, waiters_, entry);
  }
  detail::cancel_target& cancel_target() noexcept { return cancel_target_; }
  void unlink(detail::waiter& entry) noexcept {
    std::lock_guard lock(mutex_);
    waiters_.unlink(entry);
  }

  detail::seam::mutex mutex_;
  detail::wait_list waiters_;  // guarded by mutex_
  detail::seam::atomic<bool> set_{false};
  detail::cancel_target cancel_target_{&detail::cancel_from_list<event, &event::mutex_, &event::waiters_>, this};
};

}  // namespace brigade
