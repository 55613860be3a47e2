// brigade/detail/counter_gate.hpp: a counter that tasks and threads wait on until it reaches
// zero; the shared core of wait_group (Go's sync.WaitGroup) and latch (std::latch).
//
// The count changes with one compare-exchange, which refuses a change that would make it
// negative (the caller's error, reported by an exception; the count is left as it was). The
// change that brings it to zero takes every parked waiter off the list under the lock and wakes
// them after releasing it, if the count is still zero then. A waiter checks again under the lock
// before it parks, so a wake cannot be missed: either its check comes after the opening (it sees
// the gate open), or its parking does (the opener's take_all finds it). A wait never returns while
// the count is above zero.
// Lifetime: a waiter that returns may destroy the gate at once, even while the done() that
// opened it is still running (Go's `wg.Wait(); return` with a local group): the opener marks the
// gate open under its lock and touches only the woken waiters after releasing it, and a waiter
// that finds the gate open passes through the lock once, so the opener's last touch of the gate
// happens before the waiter goes on.
//
// Thread safety: every member from any thread.
// Memory order: changes are acq_rel read-modify-writes, so they form a release sequence; a
// waiter that sees zero (acquire) sees everything each party wrote before its own change.
// Waiting is gate_wait.hpp's: a coroutine suspends, a thread blocks (spin, then futex).
// Complexity: adjust O(1) (plus O(waiters) to wake at zero); wait O(1).
#pragma once

#include <cstdint>
#include <limits>
#include <mutex>

#include "brigade/detail/gate_wait.hpp"
#include "brigade/detail/seam.hpp"
#include "brigade/detail/wait_list.hpp"
#include "brigade/runtime/errors.hpp"

namespace brigade::detail {

class counter_gate {
 public:
  explicit counter_gate(std::int64_t initial, const char* off_runtime_message) noexcept
      : count_(initial), open_(initial == 0), off_runtime_message_(off_runtime_message) {}
  ~counter_gate() { retire_cancel_targets(); }
  counter_gate(const counter_gate&) = delete;
  counter_gate& operator=(const counter_gate&) = delete;

  /// Adds `delta` (which may be negative). If the result would be negative (or overflow),
  /// throws usage_error(`negative_message`) and changes nothing. At zero, wakes every waiter.
  void adjust(std::int64_t delta, const char* negative_message) {
    std::int64_t current = count_.load(seam::memory_order::relaxed);
    std::int64_t next = 0;
    do {
      if (delta > 0 && current > std::numeric_limits<std::int64_t>::max() - delta)
        throw usage_error(negative_message);
      next = current + delta;
      if (next < 0) throw usage_error(negative_message);
    } while (!count_.compare_exchange_weak(current, next, seam::memory_order::acq_rel,
                                           seam::memory_order::relaxed));
    if (next == 0 && delta != 0) {
      open();
    } else if (current == 0 && next > 0) {
      std::lock_guard lock(mutex_);  // raised from zero: the gate closes again (reuse)
      if (count_.load(seam::memory_order::relaxed) != 0) open_.store(false, seam::memory_order::relaxed);
    }
  }

  [[nodiscard]] std::int64_t count() const noexcept {
    return count_.load(seam::memory_order::acquire);
  }

  // The gate protocol of gate_wait.hpp.
  /// Open: the count is zero and the opener has finished with this object. A waiter that sees
  /// the gate open may destroy it at once (`co_await group.wait_async();` and return, as in Go), so
  /// open_ is set under the lock and a waiter that sees it passes through the lock once: the
  /// opener's last touch of the object happens before the waiter goes on.
  bool is_open() noexcept {
    if (!open_.load(seam::memory_order::acquire) || count() != 0) return false;
    std::lock_guard lock(mutex_);
    return true;
  }
  template <class Registration>
  park_result enqueue(waiter& entry, Registration& registration) {
    std::lock_guard lock(mutex_);
    if (open_.load(seam::memory_order::relaxed) && count() == 0) return park_result::not_needed;
    return park_locked(registration, waiters_, entry);
  }
  detail::cancel_target& cancel_target() noexcept { return cancel_target_; }
  void unlink(waiter& entry) noexcept {
    std::lock_guard lock(mutex_);
    waiters_.unlink(entry);
  }
  const char* off_runtime_message() const noexcept { return off_runtime_message_; }

 private:
  void open() noexcept {
    waiter* waiters;
    {
      std::lock_guard lock(mutex_);
      // Someone may have raised the count again since it reached zero (an add racing with a
      // wait, which Go calls misuse); then the waiters stay until the next zero, so that no wait
      // ever returns while the count is above zero.
      if (count_.load(seam::memory_order::acquire) != 0) return;
      open_.store(true, seam::memory_order::release);
      waiters = waiters_.take_all();
    }
    // Only the waiters are touched from here on: they may free this gate as soon as they wake.
    wait_list::wake_all(waiters);
  }

  seam::atomic<std::int64_t> count_;
  seam::atomic<bool> open_;  // written under mutex_
  const char* const off_runtime_message_;
  seam::mutex mutex_;
  wait_list waiters_;  // guarded by mutex_
  detail::cancel_target cancel_target_{&cancel_from_list<counter_gate, &counter_gate::mutex_, &counter_gate::waiters_>, this};
};

}  // namespace brigade::detail
