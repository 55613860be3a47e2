// brigade/detail/spin_lock.hpp: a lock for critical sections of a few dozen instructions (a
// channel's buffer and queues), cheaper than a futex mutex when it is free or held briefly.
//
// Test-and-test-and-set: lock() exchanges once, and while the lock is taken spins on a plain load
// (the cache line stays shared until the holder writes it) with `pause`, then yields the processor
// after a bounded number of rounds, so a holder that was preempted (a 2-vCPU machine) gets to run
// and release it. Not fair, not recursive; never held across a blocking call or a wake.
// Thread safety: as std::mutex. Memory order: unlock releases, lock acquires.
// Satisfies Lockable (std::lock_guard, std::unique_lock).
#pragma once

#include <thread>

#include "brigade/detail/seam.hpp"

namespace brigade::detail {

class spin_lock {
 public:
  void lock() noexcept {
    while (locked_.exchange(true, seam::memory_order::acquire)) {
      int rounds = 0;
      while (locked_.load(seam::memory_order::relaxed)) {
        if (++rounds < spin_rounds) {
          seam::spin_pause();
        } else {
          std::this_thread::yield();
          rounds = 0;
        }
      }
    }
  }
  [[nodiscard]] bool try_lock() noexcept {
    return !locked_.load(seam::memory_order::relaxed) &&
           !locked_.exchange(true, seam::memory_order::acquire);
  }
  void unlock() noexcept { locked_.store(false, seam::memory_order::release); }

 private:
  static constexpr int spin_rounds = 128;
  seam::atomic<bool> locked_{false};
};

}  // namespace brigade::detail
