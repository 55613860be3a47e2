// brigade/runtime/waiter.hpp: the one way of waiting. Everything that waits (a join, and in later
// layers a channel operation, a mutex, a future, a timer) parks a waiter and is later woken
// through it, so a primitive is written once and works for every kind of waiting party:
//
//   who waits            park                                wake
//   a plain OS thread    futex, after a short bounded spin   store + futex wake
//   a coroutine task     co_await suspends, handle stored    schedule the handle on its runtime
//   a fiber              switch to the task driving it       schedule that task
//
// A fiber waits through the same thread_waiter as a plain thread (the thread forms of every
// primitive): on a fiber, wait() switches the fiber out instead of sleeping on the futex
// (detail/fiber_hooks.hpp), so the primitives need no fiber form of their own.
//
// A waiter is one-shot: woken once, after which the waiting party owns it again. The party that
// wakes must not touch the waiter after wake(): the waiting thread may return and free it at once.
//
// Thread safety: wake() may be called from any thread, once. wait() (thread_waiter) only by the
// thread that owns the waiter.
// Memory order: wake() releases and the waiting party acquires, so what the waker wrote before
// wake() is visible to the woken party.
#pragma once

#include <coroutine>
#include <cstdint>
#include <string>

#include "brigade/detail/fiber_hooks.hpp"
#include "brigade/detail/parker.hpp"
#include "brigade/detail/scheduler_hooks.hpp"
#include "brigade/detail/seam.hpp"
#include "brigade/runtime/errors.hpp"

namespace brigade::detail {

/// Something parked, to be woken once. The function pointer is the only dispatch. The waiter
/// carries the links of the wait list it is parked on (as Go's sudog does), so that a primitive
/// needs no node of its own and a waiter destroyed while parked can unlink itself in O(1).
struct waiter {
  using wake_function = void (*)(waiter* self) noexcept;
  explicit waiter(wake_function on_wake) noexcept : wake_(on_wake) {}
  waiter(const waiter&) = delete;
  waiter& operator=(const waiter&) = delete;
  void wake() noexcept { wake_(this); }

  // Links in the wait list of the one primitive this waiter is parked on; guarded by that
  // primitive's lock. A waiter on no list has prev == this (a list's first waiter has prev ==
  // nullptr), so "is it still linked?" needs no field of its own.
  waiter* next = nullptr;
  waiter* prev = this;

  // What the waiting party and the waking party tell each other, with a meaning each primitive
  // defines (as Go's sudog carries elem and success). `request` is written by the waiting party
  // before it parks and read by the waker under the primitive's lock (a mutex: "hand the lock to
  // me"). `outcome` is written by the waker before wake() and read by the woken party after it
  // wakes (a mutex: "you own it now" or "try again"); wake() publishes it.
  std::uint32_t request = 0;
  std::uint32_t outcome = 0;

  /// Under the lock of the list the waiter was put on.
  bool is_linked() const noexcept { return prev != this; }
  void mark_unlinked() noexcept { prev = this; }

 private:
  wake_function wake_;
};

/// A plain thread (or a fiber) blocked until woken.
class thread_waiter final : public waiter {
 public:
  thread_waiter() noexcept : waiter(&wake_thread) {}

  /// How long wait() spins before it sleeps on the futex.
  static constexpr std::uint64_t default_spin_nanoseconds = 5'000;

  /// Blocks the calling thread until wake(). Spins briefly first: a wake that comes within a few
  /// microseconds is caught without the ~20 µs of a futex round trip; a longer wait sleeps, so a
  /// blocked thread does not hold a core that the tasks it waits for may need.
  void wait(std::uint64_t spin_nanoseconds = default_spin_nanoseconds) noexcept {
    wait_until(no_deadline, spin_nanoseconds);
  }

  /// As wait(), but gives up at `deadline` (seam::now_nanoseconds()'s clock). Returns whether it
  /// was woken. After a timeout the waiter may still be woken later (the waker may already have
  /// taken it off the primitive's list): see wait_until_or_withdraw.
  /// On a fiber: parks the fiber (no spin: the worker has other work), with a timer for a deadline.
  bool wait_until(std::uint64_t deadline, std::uint64_t spin_nanoseconds = default_spin_nanoseconds) noexcept {
    if (fiber_core* fiber = current_fiber()) [[unlikely]] {
      fiber_ = fiber;  // published by the release that parks it (fiber_block_until)
      return fiber_block_until(*fiber, state_, deadline);
    }
    // Acquire: pairs with the release exchange in wake_thread().
    if (spin_nanoseconds > 0 &&
        seam::spin_until(spin_nanoseconds,
                         [this] { return state_.load(seam::memory_order::acquire) == woken; }))
      return true;
    std::uint32_t expected = waiting;
    // Fails when woken meanwhile, or when an earlier timed wait left the state at `sleeping`.
    if (!state_.compare_exchange_strong(expected, thread_sleeping, seam::memory_order::acquire) &&
        expected == woken)
      return true;
    // A worker thread about to sleep here (a thread-form lock inside a task) first hands its
    // queued work to the others (begin_blocking), so nothing runnable waits behind it.
    struct blocking_scope {
      worker_hot* worker = current_worker();
      blocking_scope() noexcept {
        if (worker != nullptr) begin_blocking(*worker);
      }
      ~blocking_scope() {
        if (worker != nullptr) end_blocking(*worker);
      }
    } on_worker;
    while (state_.load(seam::memory_order::acquire) != woken) {
      if (deadline == no_deadline) {
        seam::futex_wait(&state_, thread_sleeping);
      } else if (!seam::futex_wait_until(&state_, thread_sleeping, deadline)) {
        return state_.load(seam::memory_order::acquire) == woken;
      }
    }
    return true;
  }

  /// The timed wait of a primitive that hands what it grants to a waiter it takes off its list
  /// (a lock, a permit): waits until `deadline`; on a timeout calls `withdraw()`, which takes the
  /// waiter off the primitive's list under its lock and returns whether it was still there. If it
  /// was not, a waker has already taken it (and granted it something): this waits for that wake,
  /// which is imminent, and reports success. Returns whether the waiter was woken (granted).
  template <class Withdraw>
  bool wait_until_or_withdraw(std::uint64_t deadline, Withdraw withdraw,
                              std::uint64_t spin_nanoseconds = default_spin_nanoseconds) noexcept {
    if (wait_until(deadline, spin_nanoseconds)) return true;
    if (withdraw()) return false;
    wait();
    return true;
  }

  static constexpr std::uint64_t no_deadline = ~std::uint64_t{0};

 private:
  static void wake_thread(waiter* self) noexcept {
    auto* me = static_cast<thread_waiter*>(self);
    // After this exchange a waiting thread may return and free *me; futex_wake only uses the
    // address as a key, which is harmless even then (a stale key wakes nobody, or causes one
    // spurious wakeup that every futex user tolerates). A parked fiber cannot return before it
    // is scheduled, which only this waker does when it finds fiber_parked: *me is still there.
    // Acquire as well: pairs with the fiber's release of fiber_ (fiber_block_until).
    seam::atomic<std::uint32_t>* word = &me->state_;
    const std::uint32_t previous = word->exchange(woken, seam::memory_order::acq_rel);
    if (previous == thread_sleeping)
      seam::futex_wake(word, 1);
    else if (previous == blocking_state::fiber_parked) [[unlikely]]
      fiber_unblock(*me->fiber_);
  }

  static constexpr std::uint32_t waiting = blocking_state::waiting;
  static constexpr std::uint32_t thread_sleeping = blocking_state::thread_sleeping;
  static constexpr std::uint32_t woken = blocking_state::woken;
  seam::atomic<std::uint32_t> state_{waiting};
  fiber_core* fiber_ = nullptr;  // the fiber that waits, if a fiber does
};

/// Whether a blocking wait here would block a worker thread: on a worker, outside a fiber (a
/// fiber's blocking wait parks only the fiber).
inline bool blocking_would_stall_a_worker() noexcept {
  return current_worker() != nullptr && current_fiber() == nullptr;
}

/// Throws usage_error when called on a worker thread of a runtime outside a fiber: a blocking
/// wait there would stall the worker and every task queued on it (and deadlock a one-worker
/// runtime whose tasks it waits for), as join() and block_on() refuse to. `operation` names the
/// call ("recv").
inline void refuse_blocking_on_worker(const char* operation) {
  if (blocking_would_stall_a_worker()) [[unlikely]]
    throw usage_error(std::string("brigade: ") + operation +
                      " would block a worker thread of a runtime (and every task queued on it); in a "
                      "task, co_await its _async form instead (or run the blocking code on a fiber)");
}

/// The worker thread the caller runs on; throws usage_error(`off_runtime_message`) off a
/// runtime (a co_await of a brigade primitive from a coroutine that no runtime runs).
BRIGADE_ALWAYS_INLINE worker_hot& worker_or_throw(const char* off_runtime_message) {
  worker_hot* worker = current_worker();
  if (worker == nullptr) [[unlikely]]
    throw usage_error(off_runtime_message);
  return *worker;
}

/// A suspended coroutine; waking schedules it on the runtime it runs on.
struct coroutine_waiter final : waiter {
  coroutine_waiter() noexcept : waiter(&wake_coroutine) {}
  std::coroutine_handle<> handle;
  scheduler* sched = nullptr;

  /// Before parking: `awaiting` will be resumed on the runtime of the calling worker. Throws
  /// usage_error(`off_runtime_message`) off a runtime, before anything is set.
  void arm(std::coroutine_handle<> awaiting, const char* off_runtime_message) {
    sched = worker_or_throw(off_runtime_message).owner;
    handle = awaiting;
  }

 private:
  static void wake_coroutine(waiter* self) noexcept {
    auto* me = static_cast<coroutine_waiter*>(self);
    schedule(*me->sched, me->handle);
  }
};

}  // namespace brigade::detail
