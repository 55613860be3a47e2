// brigade/detail/counter_gate.hpp: a counter that tasks and threads wait on until it reaches
// zero; the shared core of wait_group (Go's sync.WaitGroup) and latch (std::latch).
//
// The count changes with one compare-exchange, which refuses a change that would make it
// negative (the caller's error, reported by an exception; the count is left as it was). The
// change that brings it to zero takes every parked waiter off the list under the lock and wakes
// them after releasing it, if the count is still zero then. A waiter checks the count again
// under the lock before it parks, so a wake cannot be missed: either its check comes after the
// change to zero (it sees zero), or its parking does (the waker's take_all finds it). A wait never
// returns while the count is above zero.
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
      : count_(initial), off_runtime_message_(off_runtime_message) {}
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
    if (next == 0 && delta != 0) open();
  }

  [[nodiscard]] std::int64_t count() const noexcept {
    return count_.load(seam::memory_order::acquire);
  }

  // The gate protocol of gate_wait.hpp.
  bool is_open() const noexcept { return count() == 0; }
  bool enqueue(waiter& entry) {
    std::lock_guard lock(mutex_);
    if (is_open()) return false;
    waiters_.push_back(entry);
    return true;
  }
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
      if (!is_open()) return;
      waiters = waiters_.take_all();
    }
    wait_list::wake_all(waiters);
  }

  seam::atomic<std::int64_t> count_;
  const char* const off_runtime_message_;
  seam::mutex mutex_;
  wait_list waiters_;  // guarded by mutex_
};

}  // namespace brigade::detail
