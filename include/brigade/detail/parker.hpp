// brigade/detail/parker.hpp: puts one thread to sleep until another thread unparks it.
//
// A parker belongs to one thread, the only one that calls park(); any thread may call unpark().
// An unpark that comes before the park is not lost: it leaves a token that the next park()
// consumes at once (the semantics of Rust's std::thread::park and Go's notes). park() may also
// return spuriously, so callers re-check their condition in a loop.
//
// Waiting: park() first spins for a short, bounded time (a cross-core hand-off through the kernel
// costs ~20 µs on a VM, a spin that catches the unpark costs well under 1 µs), then sleeps on a
// futex. It never spins unboundedly, so a parked thread uses no CPU.
//
// The state word:  empty (0) -> parked (1) by the parking thread;  any -> notified (2) by unpark;
//                  notified -> empty when park() consumes the token.
// Memory order: unpark's exchange is release and park's consuming exchange is acquire, so what
// the unparker wrote before unpark() is visible after park() returns.
#pragma once

#include <cstdint>

#include "brigade/detail/seam.hpp"

namespace brigade::detail {

class parker {
 public:
  /// How long park() spins before it sleeps.
  static constexpr std::uint64_t default_spin_nanoseconds = 2'000;

  /// Blocks until unpark() (possibly one that already happened) or spuriously.
  void park(std::uint64_t spin_nanoseconds = default_spin_nanoseconds) noexcept {
    if (spin_nanoseconds > 0)
      seam::spin_until(spin_nanoseconds,
                       [this] { return state_.load(seam::memory_order::relaxed) == notified; });
    // Pairs with the release exchange in unpark().
    if (state_.exchange(empty, seam::memory_order::acquire) == notified) return;
    std::uint32_t expected = empty;
    // Acquire on failure: the token was set meanwhile and we consume it below.
    if (!state_.compare_exchange_strong(expected, parked, seam::memory_order::acquire)) {
      state_.store(empty, seam::memory_order::relaxed);  // consume the token
      return;
    }
    while (true) {
      seam::futex_wait(&state_, parked);
      expected = notified;
      // Pairs with the release exchange in unpark().
      if (state_.compare_exchange_strong(expected, empty, seam::memory_order::acquire)) return;
    }
  }

  /// Wakes the owning thread, or makes its next park() return at once.
  void unpark() noexcept {
    // Release: publishes what the caller wrote before unparking.
    if (state_.exchange(notified, seam::memory_order::release) == parked)
      seam::futex_wake(&state_, 1);
  }

 private:
  static constexpr std::uint32_t empty = 0;
  static constexpr std::uint32_t parked = 1;
  static constexpr std::uint32_t notified = 2;
  seam::atomic<std::uint32_t> state_{empty};
};

}  // namespace brigade::detail
