// brigade/detail/once_core.hpp: the state machine shared by once and once_cell: one party runs
// the initialiser, the others (tasks or threads) wait for it to finish; a failed initialiser
// lets the next party try again (as std::call_once does).
//
//   empty --claim()--> running --finish(true)--> finishing --> done
//                      running --finish(false)--> finishing --> empty (every waiter wakes and
//                                                                      retries)
//
// The caller's loop: if is_done(), use the result; else if claim(), run the initialiser and
// finish(); else wait on the core as a gate (gate_wait.hpp: open while nobody is running) and
// loop.
// Lifetime: a party that sees the once done may destroy it at once, even while finish() is still
// running: finish() takes the waiters off the list under its lock, and only then, as its last
// touch of the object, publishes the final state; a waiter that arrives in between (state
// `finishing`) waits for that store instead of parking.
// Thread safety: every member from any thread. Memory order: finish(true) releases, is_done()
// acquires: whoever sees done sees what the initialiser wrote.
#pragma once

#include <cstdint>
#include <mutex>

#include "brigade/detail/gate_wait.hpp"
#include "brigade/detail/seam.hpp"
#include "brigade/detail/wait_list.hpp"

namespace brigade::detail {

class once_core {
 public:
  explicit once_core(const char* off_runtime_message) noexcept
      : off_runtime_message_(off_runtime_message) {}
  ~once_core() { retire_cancel_targets(); }
  once_core(const once_core&) = delete;
  once_core& operator=(const once_core&) = delete;

  [[nodiscard]] bool is_done() const noexcept { return state_.load(seam::memory_order::acquire) == done; }

  /// Makes the caller the initialiser if nobody has succeeded and nobody is running.
  [[nodiscard]] bool claim() noexcept {
    std::uint32_t expected = empty;
    return state_.compare_exchange_strong(expected, running, seam::memory_order::acquire,
                                          seam::memory_order::acquire);
  }

  /// The initialiser is done: `succeeded` makes it final; otherwise the next party may try.
  /// Wakes every waiter either way.
  void finish(bool succeeded) noexcept {
    waiter* waiters;
    {
      std::lock_guard lock(mutex_);
      state_.store(finishing, seam::memory_order::relaxed);
      waiters = waiters_.take_all();
    }
    state_.store(succeeded ? done : empty, seam::memory_order::release);  // last touch of *this
    wait_list::wake_all(waiters);
  }

  // The gate protocol of gate_wait.hpp: open while nobody runs the initialiser.
  bool is_open() const noexcept { return state_.load(seam::memory_order::acquire) != running; }
  template <class Registration>
  park_result enqueue(waiter& entry, Registration& registration) {
    {
      std::lock_guard lock(mutex_);
      if (!is_open()) {
        return park_locked(registration, waiters_, entry);
      }
    }
    // The initialiser is between taking the waiters and publishing its end: wait for that store
    // (a few instructions away) rather than go on while finish() still touches the object.
    while (state_.load(seam::memory_order::acquire) == finishing) seam::spin_pause();
    return park_result::not_needed;
  }
  detail::cancel_target& cancel_target() noexcept { return cancel_target_; }
  void unlink(waiter& entry) noexcept {
    std::lock_guard lock(mutex_);
    waiters_.unlink(entry);
  }
  const char* off_runtime_message() const noexcept { return off_runtime_message_; }

 private:
  static constexpr std::uint32_t empty = 0;
  static constexpr std::uint32_t running = 1;
  static constexpr std::uint32_t done = 2;
  static constexpr std::uint32_t finishing = 3;  // waiters taken; the final state comes next
  seam::atomic<std::uint32_t> state_{empty};
  const char* const off_runtime_message_;
  seam::mutex mutex_;
  wait_list waiters_;  // guarded by mutex_
  detail::cancel_target cancel_target_{&cancel_from_list<once_core, &once_core::mutex_, &once_core::waiters_>, this};
};

}  // namespace brigade::detail
