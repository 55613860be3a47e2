// brigade/detail/spin_lock.hpp: a lock for critical sections of a few dozen instructions (a
// channel's buffer and queues), cheaper than a futex mutex when it is free or held briefly.
//
// Test-and-test-and-set with exponential backoff: lock() exchanges once; while the lock is taken
// it spins on a plain load (the cache line stays shared until the holder writes it), pausing 1, 2,
// 4, ... up to 64 times between looks, and yields the processor every 64 looks so that a holder
// that was preempted (a 2-vCPU machine) gets to run and release it. The backoff matters under
// cross-core contention: a contender that looks less often lets the holder take the lock again
// while its cache line is still local, so a channel hammered from two cores (the 2-producer,
// 2-consumer benchmark) went from ~7-11 to ~13-20 M messages/s. Not fair, not recursive; never
// held across a blocking call or a wake.
// Thread safety: as std::mutex. Memory order: unlock releases, lock acquires.
// Satisfies Lockable (std::lock_guard, std::unique_lock).
#pragma once

#include <cstdint>
#include <thread>

#include "brigade/detail/seam.hpp"

namespace brigade::detail {

class spin_lock {
 public:
  /// The free case inline (one exchange); the contended loop out of line.
  BRIGADE_ALWAYS_INLINE void lock() noexcept {
    if (!locked_.exchange(true, seam::memory_order::acquire)) [[likely]]
      return;
    lock_contended();
  }
  [[nodiscard]] bool try_lock() noexcept {
    return !locked_.load(seam::memory_order::relaxed) &&
           !locked_.exchange(true, seam::memory_order::acquire);
  }
  void unlock() noexcept { locked_.store(false, seam::memory_order::release); }

 private:
  [[gnu::noinline]] void lock_contended() noexcept {
    std::uint32_t backoff = 1;
    int rounds = 0;
    while (true) {
      while (locked_.load(seam::memory_order::relaxed)) {
        for (std::uint32_t i = 0; i < backoff; ++i) seam::spin_pause();
        if (backoff < max_backoff) backoff *= 2;
        if (++rounds >= yield_after_rounds) {
          seam::yield();
          rounds = 0;
        }
      }
      if (!locked_.exchange(true, seam::memory_order::acquire)) return;
    }
  }

  static constexpr std::uint32_t max_backoff = 64;
  static constexpr int yield_after_rounds = 64;
  seam::atomic<bool> locked_{false};
};

}  // namespace brigade::detail
