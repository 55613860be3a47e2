// brigade/sync/mutex.hpp: mutex, mutual exclusion for tasks and threads alike.
//
//   brigade::mutex m;
//   {                                          // on a thread: std::lock_guard, std::unique_lock,
//     std::lock_guard lock(m);                 // std::scoped_lock all work (Lockable and
//     ...                                      // TimedLockable: try_lock_for, try_lock_until)
//   }
//   {                                          // in a task: the co_await form suspends the task,
//     auto held = co_await m.lock_async();     // not the worker thread, and yields a guard
//     ...                                      // that releases the lock when it goes out of scope
//   }
//
// Tasks and threads may contend for one mutex. A thread may also call lock() from inside a task
// for a short critical section (as Tokio advises for std::sync::Mutex): it blocks the worker
// thread while it waits, so never hold such a lock across a co_await, and never call lock() in a
// task that already holds the mutex through a guard (it would wait for itself; the recursion
// check sees only that some guard holds it). On a fiber (fiber/go.hpp), lock() parks only the
// fiber, and the fiber owns the lock wherever it resumes: another fiber on the same thread may
// not unlock it.
//
// Fairness. A waiting task is handed the lock directly by the unlocking party, in FIFO order:
// waking a task costs little, and it never competes again. A waiting thread is woken to compete:
// a futex wake takes ~20 µs on a virtual machine, and handing the lock to a thread still waking
// would idle it that long (a lock convoy), while letting the running thread take it again keeps
// throughput near std::mutex's. A woken thread that loses keeps its place at the head of the
// queue, and once it has waited 1 ms (Go's threshold for sync.Mutex's starvation mode) it asks
// for the lock to be handed to it directly by the next unlock, which it then is, whether it spins
// (the first 50 µs) or sleeps: a thread waits at most 1 ms plus the critical sections of the
// waiters queued before it, however long holders keep the lock and however fast they re-lock.
// The price, paid only by a waiter that has starved 1 ms, is a lock that stays unused while the
// kernel wakes that thread (Go pays it too). Before it
// parks, a thread looks at the lock four times, 30 pauses apart (Go's active spinning), which
// catches a lock released within a few microseconds without pulling the lock's cache line away
// from its holder on every pause.
//
// Cancellation: lock_async() is a cancellation point: a stop request of the task's scope while
// it waits withdraws it from the queue and the co_await throws task_cancelled, holding nothing (a
// lock handed over just before the stop is held: the wait completed). lock(std::stop_token) does
// the same for a thread.
//
// Misuse is reported, never silent: unlock() of a mutex that is not locked, unlock() by a thread
// that does not own it (the owning thread is recorded on every lock, at the cost of one store),
// unlock() by a thread of a lock that a task holds through its guard, and lock() by the thread
// that already holds it (brigade::mutex is not recursive) all throw usage_error. co_await outside
// a runtime throws usage_error.
// Thread safety: every member from any thread. Memory order: acquiring the lock synchronises
// with the release that made it free (or handed it over): what the previous owner wrote is visible.
// Lifetime: the mutex must outlive its waiters and be unlocked when destroyed. A task destroyed
// while it waits (runtime shutdown) leaves the queue, or releases the lock if it had been handed it.
// Complexity: lock and unlock O(1); an uncontended lock/unlock pair is two atomic operations.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <stop_token>
#include <utility>

#include "brigade/detail/deadline_scope.hpp"
#include "brigade/detail/grant_wait.hpp"
#include "brigade/detail/seam.hpp"
#include "brigade/detail/wait_list.hpp"
#include "brigade/runtime/errors.hpp"
#include "brigade/runtime/waiter.hpp"

namespace brigade {

class mutex {
 public:
  class guard;

  mutex() = default;
  ~mutex() { detail::retire_cancel_targets(); }
  mutex(const mutex&) = delete;
  mutex& operator=(const mutex&) = delete;

  // ---- Threads (and short critical sections in tasks) ----------------------------------------

  /// Blocks the calling thread until it holds the lock. Throws usage_error if it already does.
  void lock() {
    if (!try_lock()) lock_slowly(detail::thread_waiter::no_deadline, {});
  }
  /// As lock(); a stop request of `token` while it waits throws task_cancelled (not holding it).
  void lock(std::stop_token token) {
    if (!try_lock()) lock_slowly(detail::thread_waiter::no_deadline, std::move(token));
  }

  /// Takes the lock if it is free; never blocks.
  [[nodiscard]] bool try_lock() noexcept {
    if (!try_acquire()) return false;
    owner_.store(thread_owner(), detail::seam::memory_order::relaxed);
    return true;
  }

  /// Blocks until it holds the lock or `timeout` has passed; returns whether it holds it.
  template <class Rep, class Period>
  [[nodiscard]] bool try_lock_for(std::chrono::duration<Rep, Period> timeout) {
    return try_lock() || lock_slowly(detail::seam::deadline_after(timeout), {});
  }
  template <class Clock, class Duration>
  [[nodiscard]] bool try_lock_until(std::chrono::time_point<Clock, Duration> deadline) {
    return try_lock() || lock_slowly(detail::seam::deadline_at(deadline), {});
  }

  /// Releases the lock held by the calling thread. Throws usage_error if it does not hold it.
  void unlock() {
    const std::uintptr_t owner = owner_.load(detail::seam::memory_order::relaxed);
    if (owner != thread_owner()) [[unlikely]]
      report_unlock_by_non_owner(owner);
    owner_.store(no_owner, detail::seam::memory_order::relaxed);
    release();
  }

  // ---- Tasks ---------------------------------------------------------------------------------

  /// co_await m.lock_async(): suspends the task until it holds the lock; yields a guard.
  [[nodiscard("co_await it, and keep the guard")]] auto lock_async() noexcept {
    return detail::grant_awaiter<task_side>(task_side{*this});
  }

  /// co_await m.try_lock_for_async(timeout): a guard once the task holds the lock, or an empty
  /// optional when `timeout` passed first (the wait withdrawn: nothing held, as a cancelled
  /// lock_async()).
  template <class Rep, class Period>
  [[nodiscard("co_await it, and keep the guard")]] task<std::optional<guard>> try_lock_for_async(
      std::chrono::duration<Rep, Period> timeout);

  /// Internal (condition_variable): lock_async() that a stop request does not interrupt, for
  /// taking the mutex back after a wait that was cancelled.
  [[nodiscard("co_await it, and keep the guard")]] auto lock_async_uncancellable() noexcept {
    return detail::grant_awaiter<task_side, false>(task_side{*this});
  }

  /// A guard holding the lock if it was free; empty otherwise. Never blocks.
  [[nodiscard]] std::optional<guard> try_lock_guard() noexcept;

  /// Whether someone holds the lock (a snapshot, for diagnostics and tests).
  [[nodiscard]] bool is_locked() const noexcept {
    return (state_.load(detail::seam::memory_order::relaxed) & locked_bit) != 0;
  }

 private:
  // state_: locked_bit while someone holds the lock; waiters_bit while the wait list is not empty
  // (changed only under list_mutex_, so that an unlock that sees it clear may release with one
  // compare-exchange, and one that sees it set takes the list lock and finds a waiter there).
  static constexpr std::uint32_t locked_bit = 1;
  static constexpr std::uint32_t waiters_bit = 2;
  // waiter::request: the waiter wants the lock handed to it (a task; a thread that waited 1 ms).
  static constexpr std::uint32_t request_hand_off = 1;
  // waiter::outcome: the lock was handed over (the woken party owns it), or released for the
  // woken party to compete for.
  static constexpr std::uint32_t outcome_handed_off = 1;
  static constexpr std::uint32_t outcome_compete = 2;
  // owner_: nobody, a guard (a task's lock), or a thread or fiber (the address of its identity:
  // detail::this_party_identity(); a fiber owns its lock wherever it resumes).
  static constexpr std::uintptr_t no_owner = 0;
  static constexpr std::uintptr_t guard_owner = 1;
  static constexpr std::uint64_t starvation_nanoseconds = 1'000'000;
  // Before it parks, a thread looks at the lock spin_looks times, pauses_between_looks apart.
  static constexpr int spin_looks = 4;
  static constexpr int pauses_between_looks = 30;
  // How long a starving thread spins for the lock to be handed to it before it sleeps.
  static constexpr std::uint64_t hand_off_spin_nanoseconds = 50'000;

  static std::uintptr_t thread_owner() noexcept {
    return reinterpret_cast<std::uintptr_t>(detail::this_party_identity());  // a fiber owns its locks
  }

  static bool is_free(std::uint32_t state) noexcept { return (state & locked_bit) == 0; }
  static std::uint32_t with_lock(std::uint32_t state) noexcept { return state | locked_bit; }

  bool try_acquire() noexcept { return detail::try_take(state_, is_free, with_lock); }

  /// Under list_mutex_: takes the lock if it is free (true), or marks that a waiter parks (false).
  bool acquire_or_mark_waiting() noexcept {
    return detail::take_or_mark_waiting(state_, waiters_bit, is_free, with_lock);
  }

  /// Under list_mutex_: takes `entry` off the list if it is still there.
  bool withdraw_locked(detail::waiter& entry) noexcept {
    return detail::unlink_and_clear(waiters_, entry, state_, waiters_bit);
  }

  void release() noexcept {
    std::uint32_t expected = locked_bit;
    // Release: pairs with the acquire of whoever takes the lock next.
    if (state_.compare_exchange_strong(expected, 0, detail::seam::memory_order::release,
                                       detail::seam::memory_order::relaxed))
      return;
    release_slowly();
  }

  void release_slowly() noexcept {
    detail::waiter* next;
    {
      std::lock_guard lock(list_mutex_);
      next = waiters_.pop_front();
      const std::uint32_t waiters_left = waiters_.empty() ? 0 : waiters_bit;
      // Nobody else changes state_ while it is locked and list_mutex_ is held: plain stores.
      if (next == nullptr) {
        state_.store(0, detail::seam::memory_order::release);
        return;
      }
      if (next->request == request_hand_off) {
        next->outcome = outcome_handed_off;  // stays locked; the waiter's wake publishes it
        state_.store(locked_bit | waiters_left, detail::seam::memory_order::relaxed);
      } else {
        next->outcome = outcome_compete;
        state_.store(waiters_left, detail::seam::memory_order::release);
      }
    }
    next->wake();
  }

  /// The thread's slow path: spin, then park; returns false when `deadline` passed first, throws
  /// task_cancelled on a stop request of `token`.
  bool lock_slowly(std::uint64_t deadline, std::stop_token token) {
    if (owner_.load(detail::seam::memory_order::relaxed) == thread_owner())
      throw usage_error("brigade: mutex::lock() by the thread that already holds it (brigade::mutex is not recursive)");
    // Go's active spinning: a few looks at the lock, far apart. Looking seldom matters as much as
    // looking at all: every look pulls the lock's cache line away from the holder, whose next
    // unlock and lock then miss (2 threads incrementing under the lock, same-run A/B: a 2 µs spin
    // that looks after every pause 26-36 ns per increment, 4 looks 30 pauses apart 5.5 ns,
    // std::mutex 16-25 ns).
    for (int look = 0; look < spin_looks; ++look) {
      for (int pause = 0; pause < pauses_between_looks; ++pause) detail::seam::spin_pause();
      if (!is_locked() && try_acquire()) {
        owner_.store(thread_owner(), detail::seam::memory_order::relaxed);
        return true;
      }
    }
    const std::uint64_t started = detail::seam::now_nanoseconds();
    bool lost_a_race = false;
    while (true) {
      detail::thread_waiter waiter;
      detail::thread_stop_registration registration(token);
      if (!registration.arm(cancel_target_, waiter)) detail::throw_wait_cancelled("mutex::lock");
      bool starving = false;
      {
        std::lock_guard lock(list_mutex_);
        if (acquire_or_mark_waiting()) break;
        if (registration.stop_requested_locked()) {
          detail::clear_waiting_if_empty(waiters_, state_, waiters_bit);
          detail::throw_wait_cancelled("mutex::lock");
        }
        if (lost_a_race) {
          starving = detail::seam::now_nanoseconds() - started >= starvation_nanoseconds;
          if (starving) waiter.request = request_hand_off;
          waiters_.push_front(waiter);
        } else {
          waiters_.push_back(waiter);
        }
      }
      const auto withdraw = [&]() noexcept {
        std::lock_guard lock(list_mutex_);
        return withdraw_locked(waiter);
      };
      // A starving thread keeps its request until the next unlock hands it the lock, asleep or
      // not (Go's starvation mode): a thread that asked only while it spun lost the lock, every
      // time, to a holder whose critical sections outlast the spin and who re-locks at once
      // (3340 of 3342 requests withdrawn in a 2 s run with 60-100 µs sections). It spins longer
      // first, so that a hand-off soon after the request finds it awake.
      const bool woken = waiter.wait_until_or_withdraw(
          deadline, withdraw, starving ? hand_off_spin_nanoseconds : detail::thread_waiter::default_spin_nanoseconds);
      registration.disarm();
      if (!woken) return false;
      if (waiter.outcome == detail::cancelled_outcome) detail::throw_wait_cancelled("mutex::lock");
      if (waiter.outcome == outcome_handed_off) break;
      lost_a_race = true;  // released for us to compete: try again, first in the queue
      if (try_acquire()) break;
    }
    owner_.store(thread_owner(), detail::seam::memory_order::relaxed);
    return true;
  }

  [[noreturn]] static void report_unlock_by_non_owner(std::uintptr_t owner) {
    if (owner == no_owner) throw usage_error("brigade: mutex::unlock() of a mutex that is not locked");
    if (owner == guard_owner)
      throw usage_error(
          "brigade: mutex::unlock() by a thread, of a lock that a task holds through its guard "
          "(the guard releases it)");
    throw usage_error("brigade: mutex::unlock() by a thread that does not hold the lock");
  }

  struct guard_release {
    static void release(mutex& held) noexcept {
      held.owner_.store(no_owner, detail::seam::memory_order::relaxed);
      held.release();
    }
  };

  // The task side of the grant protocol (detail/grant_wait.hpp): tasks are always handed the lock.
  struct task_side {
    mutex& owner;
    static const char* off_runtime_message() noexcept {
      return "brigade: mutex::lock_async() awaited outside a runtime (use lock())";
    }
    bool try_grant() noexcept { return owner.try_acquire(); }
    template <class Registration>
    detail::park_result enqueue(detail::waiter& entry, Registration& registration) {
      entry.request = request_hand_off;
      std::lock_guard lock(owner.list_mutex_);
      return detail::take_or_park(owner.state_, waiters_bit, is_free, with_lock, owner.waiters_, entry, registration);
    }
    detail::cancel_target& cancel_target() noexcept { return owner.cancel_target_; }
    bool withdraw(detail::waiter& entry) noexcept {
      std::lock_guard lock(owner.list_mutex_);
      return owner.withdraw_locked(entry);
    }
    void give_back() noexcept { owner.release(); }
    guard granted() noexcept;
  };

  /// Under list_mutex_, after a stop request withdrew a waiter (a task's, or a thread's given a
  /// std::stop_token).
  static detail::waiter* after_withdrawal(mutex& owner) noexcept {
    detail::clear_waiting_if_empty(owner.waiters_, owner.state_, waiters_bit);
    return nullptr;
  }

  detail::seam::atomic<std::uint32_t> state_{0};
  detail::seam::atomic<std::uintptr_t> owner_{no_owner};
  detail::seam::mutex list_mutex_;
  detail::wait_list waiters_;  // guarded by list_mutex_
  detail::cancel_target cancel_target_{
      &detail::cancel_from_list<mutex, &mutex::list_mutex_, &mutex::waiters_, &mutex::after_withdrawal>, this};
};

/// Holds a brigade::mutex taken by a task (lock_async, try_lock_guard) and releases it when
/// destroyed, or earlier through unlock(). Movable, so the lock can pass to another task.
class mutex::guard : public detail::held_grant<brigade::mutex, mutex::guard_release> {
 public:
  /// The mutex this guard holds, or null.
  [[nodiscard]] brigade::mutex* mutex() const noexcept { return held(); }

 private:
  friend class brigade::mutex;
  explicit guard(brigade::mutex& held) noexcept : held_grant(held) {
    held.owner_.store(guard_owner, detail::seam::memory_order::relaxed);
  }
};

inline mutex::guard mutex::task_side::granted() noexcept { return guard(owner); }

inline std::optional<mutex::guard> mutex::try_lock_guard() noexcept {
  if (!try_acquire()) return std::nullopt;
  return guard(*this);
}

template <class Rep, class Period>
task<std::optional<mutex::guard>> mutex::try_lock_for_async(std::chrono::duration<Rep, Period> timeout) {
  const std::uint64_t deadline = detail::deadline_after(timeout);
  auto acquire = lock_async();
  try {
    co_return co_await detail::with_deadline(acquire, deadline, "mutex::try_lock_for_async");
  } catch (const timeout_error&) {
    co_return std::nullopt;
  }
}

}  // namespace brigade
