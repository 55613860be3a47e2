// brigade/sync/event.hpp: event, a one-way latch that tasks and threads wait on until it is set
// (a manual-reset event; asyncio.Event without clear()).
//
//   brigade::event ready;
//   co_await ready.wait();     // in a task: suspends until set()
//   ready.wait_blocking();     // on a plain thread: blocks until set()
//   ready.set();               // from anywhere: releases every waiter, present and future
//
// Waiting goes through the runtime's waiter (runtime/waiter.hpp), so a coroutine and a thread
// wait the same way. This is the first, minimal primitive; issue 4 brings the full sync layer.
// Thread safety: every member may be called from any thread. set() is idempotent.
// Memory order: what a thread wrote before set() is visible to every waiter after it wakes.
// Lifetime: the event must outlive its waiters; a waiter that returns may destroy it at once, even
// while the set() that released it is still running. A suspended waiter destroyed with its task
// (runtime shutdown) unlinks itself.
// Complexity: wait O(1); set O(waiters).
#pragma once

#include <mutex>

#include "brigade/detail/gate_wait.hpp"
#include "brigade/detail/seam.hpp"
#include "brigade/detail/wait_list.hpp"
#include "brigade/runtime/waiter.hpp"

namespace brigade {

class event {
 public:
  event() = default;
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

  [[nodiscard]] bool is_set() const noexcept { return set_.load(detail::seam::memory_order::acquire); }

  /// co_await ev.wait(): suspends the task until set().
  [[nodiscard("co_await the wait")]] auto wait() noexcept { return detail::gate_awaiter<event>{*this}; }

  /// Blocks the calling thread until set().
  void wait_blocking() { detail::wait_blocking_on(*this); }

 private:
  // The gate protocol of detail/gate_wait.hpp.
  template <class>
  friend class detail::gate_awaiter;
  template <class Gate>
  friend void detail::wait_blocking_on(Gate&);
  const char* off_runtime_message() const noexcept {
    return "brigade: event::wait() awaited outside a runtime (use wait_blocking)";
  }
  /// Set, and the setter done with the event: set_ is written under the lock, so passing through
  /// the lock once makes a waiter go on only after set() released it; the waiter may then
  /// destroy the event at once.
  bool is_open() noexcept {
    if (!is_set()) return false;
    std::lock_guard lock(mutex_);
    return true;
  }
  /// Links `entry` unless the event is already set; returns whether it was linked.
  bool enqueue(detail::waiter& entry) {
    std::lock_guard lock(mutex_);
    if (set_.load(detail::seam::memory_order::relaxed)) return false;
    waiters_.push_back(entry);
    return true;
  }
  void unlink(detail::waiter& entry) noexcept {
    std::lock_guard lock(mutex_);
    waiters_.unlink(entry);
  }

  detail::seam::mutex mutex_;
  detail::wait_list waiters_;  // guarded by mutex_
  detail::seam::atomic<bool> set_{false};
};

}  // namespace brigade
