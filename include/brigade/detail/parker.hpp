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
// Sleeping elsewhere: park_elsewhere(sleep) sleeps in `sleep` instead of on the futex (a worker
// that holds the reactor's driver sleeps in epoll_wait or io_uring); an unpark() meanwhile calls
// the interrupt set with set_interrupt (which makes that sleep return: an eventfd write).
//
// The state word:  empty (0) -> parked (1) or sleeping_elsewhere (3) by the parking thread;
//                  any -> notified (2) by unpark; notified -> empty when a park consumes the token.
// An unpark that finds `parked` wakes the futex; one that finds `sleeping_elsewhere` calls the
// interrupt. Either way the exchange decides, so a wake is never lost: the sleeper either saw the
// token before it slept (its compare-exchange failed) or the waker saw it asleep.
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
    const std::uint32_t previous = state_.exchange(notified, seam::memory_order::release);
    if (previous == parked)
      seam::futex_wake(&state_, 1);
    else if (previous == sleeping_elsewhere)
      interrupt_(interrupt_context_);
  }

  using interrupt_function = void (*)(void* context) noexcept;
  /// Before the first park_elsewhere: what an unpark() calls to end a sleep elsewhere. Set once,
  /// before other threads may unpark (the scheduler sets it before it starts the workers).
  void set_interrupt(interrupt_function interrupt, void* context) noexcept {
    interrupt_ = interrupt;
    interrupt_context_ = context;
  }

  /// Sleeps by calling `sleep()` (which must return once the interrupt was called, or sooner)
  /// unless a token is present, which it consumes instead. Returns whether it called sleep().
  /// Either way the token (an unpark during the sleep) is consumed: the caller re-checks its
  /// condition, as after park().
  template <class Sleep>
  bool park_elsewhere(Sleep&& sleep) {
    std::uint32_t expected = empty;
    // Acq_rel: acquire pairs with an unpark that came first; seq_cst is not needed, the exchange
    // in unpark() and this compare-exchange are on the same word.
    if (!state_.compare_exchange_strong(expected, sleeping_elsewhere, seam::memory_order::acq_rel)) {
      state_.store(empty, seam::memory_order::relaxed);  // consume the token
      return false;
    }
    struct back_to_empty {
      seam::atomic<std::uint32_t>& state;
      // Acquire: pairs with the release exchange of an unpark during the sleep.
      ~back_to_empty() { state.exchange(empty, seam::memory_order::acquire); }
    } on_return{state_};
    sleep();
    return true;
  }

 private:
  static constexpr std::uint32_t empty = 0;
  static constexpr std::uint32_t parked = 1;
  static constexpr std::uint32_t notified = 2;
  static constexpr std::uint32_t sleeping_elsewhere = 3;
  seam::atomic<std::uint32_t> state_{empty};
  interrupt_function interrupt_ = [](void*) noexcept {};
  void* interrupt_context_ = nullptr;
};

}  // namespace brigade::detail
