// brigade/detail/grant_wait.hpp: waiting, from a task or a thread, for a primitive to grant
// something to the waiter (a mutex's lock, a semaphore's permit, a read-write lock's share),
// written once for all of them.
//
// A granting primitive hands what it grants directly to the waiter it takes off its list, before
// waking it (FIFO hand-off: the woken party owns the grant and never has to compete for it again,
// so no waiter starves). The primitive's side, usually a small adapter holding a reference to it
// (the "grantor"):
//   bool try_grant() noexcept;       takes the grant at once if it is free (no lock, fast path)
//   park_result enqueue(waiter& w, R& registration);
//                                    under its lock: takes the grant now (not_needed); or, if
//                                    registration.stop_requested_locked(), parks nothing
//                                    (cancelled); or parks w (parked). R: park_registration (a
//                                    task) or thread_stop_registration (a thread)
//   bool withdraw(waiter& w) noexcept;  under its lock: takes w off its list if it is still parked
//                                    and returns true; false when it was granted meanwhile
//   void give_back() noexcept;       returns a grant that its waiter will never use
//   Result granted() noexcept;       what the co_await yields once the grant is held (a guard)
//   cancel_target& cancel_target() noexcept;  withdraws a parked waiter on a stop request, as
//                                    withdraw does, and marks it cancelled (cancel_from_list)
//   static const char* off_runtime_message() noexcept;  the error for co_await off the runtime
//
//   co_await grant_awaiter<G>{grantor}                  suspends the task until granted
//   block_until_granted(grantor, deadline, token)       blocks the thread until granted, the
//                                                       deadline or the token's stop
//
// Cancellation (cancel-safety): a stop request while the task (or the thread, given a
// std::stop_token) is parked withdraws it and the wait throws task_cancelled; a cancelled wait
// never holds the grant, and one handed the grant just before the stop holds it (the wait
// completes normally; the stop is seen at the next cancellation point).
// A task destroyed while it waits here (runtime shutdown) withdraws its waiter, or gives back a
// grant it was handed but never resumed to use, so that a thread waiting on the same primitive is
// not left waiting forever.
#pragma once

#include <coroutine>
#include <cstdint>
#include <stop_token>
#include <utility>

#include "brigade/detail/cancellable_wait.hpp"
#include "brigade/detail/scheduler_hooks.hpp"
#include "brigade/detail/seam.hpp"
#include "brigade/detail/wait_list.hpp"
#include "brigade/runtime/errors.hpp"
#include "brigade/runtime/task.hpp"
#include "brigade/runtime/waiter.hpp"

namespace brigade::detail {

// The state-word side of a granting primitive (mutex, rw_mutex, semaphore): one atomic word says
// what is free, with a "waiting" bit per wait list that is set exactly while that list holds a
// waiter (it changes only under the primitive's list lock). A release that sees the bit clear may
// complete without the lock; one that sees it set takes the lock and finds a waiter there.

/// The fast path: while `can_take(state)`, one compare-exchange to `taken(state)`. Acquire: pairs
/// with the release that freed what is taken. Returns whether it took it.
template <class Word, class CanTake, class Taken>
bool try_take(seam::atomic<Word>& state, CanTake can_take, Taken taken) noexcept {
  Word current = state.load(seam::memory_order::relaxed);
  while (can_take(current)) {
    if (state.compare_exchange_weak(current, taken(current), seam::memory_order::acquire,
                                    seam::memory_order::relaxed))
      return true;
  }
  return false;
}

/// Under the list lock, before parking: takes it as try_take does if it can (true), or else sets
/// `waiting_bit` in the same compare-exchange loop (false: the caller parks its waiter, and a
/// release that comes after this will see the bit).
template <class Word, class CanTake, class Taken>
bool take_or_mark_waiting(seam::atomic<Word>& state, Word waiting_bit, CanTake can_take,
                          Taken taken) noexcept {
  Word current = state.load(seam::memory_order::relaxed);
  while (true) {
    if (can_take(current)) {
      if (state.compare_exchange_weak(current, taken(current), seam::memory_order::acquire,
                                      seam::memory_order::relaxed))
        return true;
    } else if (state.compare_exchange_weak(current, current | waiting_bit,
                                           seam::memory_order::relaxed,
                                           seam::memory_order::relaxed)) {
      return false;
    }
  }
}

/// Under the list lock, after a waiter left `list` (or did not join it after marking): clears
/// `waiting_bit` if the list is empty.
template <class Word>
void clear_waiting_if_empty(const wait_list& list, seam::atomic<Word>& state, Word waiting_bit) noexcept {
  if (list.empty()) state.fetch_and(static_cast<Word>(~waiting_bit), seam::memory_order::relaxed);
}

/// Under the list lock: takes `entry` off `list` if it is still there (a waiter that gives up),
/// clearing `waiting_bit` when the list empties. Returns whether it was there.
template <class Word>
bool unlink_and_clear(wait_list& list, waiter& entry, seam::atomic<Word>& state, Word waiting_bit) noexcept {
  if (!list.unlink(entry)) return false;
  clear_waiting_if_empty(list, state, waiting_bit);
  return true;
}

/// Under the list lock, the common body of a granting primitive's enqueue: takes the grant now if
/// it can; else marks `waiting_bit` and parks `entry`, unless a stop was requested.
template <class Word, class CanTake, class Taken, class Registration>
park_result take_or_park(seam::atomic<Word>& state, Word waiting_bit, CanTake can_take, Taken taken,
                         wait_list& list, waiter& entry, Registration& registration) noexcept {
  if (take_or_mark_waiting(state, waiting_bit, can_take, taken)) return park_result::not_needed;
  const park_result result = park_locked(registration, list, entry);
  if (result == park_result::cancelled) clear_waiting_if_empty(list, state, waiting_bit);
  return result;
}

/// `Cancellable`: false for a wait that a stop request must not interrupt (a condition variable
/// taking its mutex back after a cancelled wait).
template <class Grantor, bool Cancellable = true>
class [[nodiscard("co_await it")]] grant_awaiter {
 public:
  explicit grant_awaiter(Grantor grantor) noexcept : grantor_(grantor) {}
  // Holds a waiter that the primitive's list points to while suspended.
  grant_awaiter(const grant_awaiter&) = delete;
  grant_awaiter& operator=(const grant_awaiter&) = delete;
  BRIGADE_ALWAYS_INLINE ~grant_awaiter() {
    // The handle is set while the task may be suspended and cleared when it resumes: non-null
    // here means the frame is destroyed while suspended (runtime shutdown).
    if (waiter_.handle) [[unlikely]]
      leave_while_suspended();
  }

  bool await_ready() noexcept { return grantor_.try_grant(); }
  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> awaiting) {
    waiter_.arm(awaiting, Grantor::off_runtime_message());
    ::new (static_cast<void*>(&registration_)) park_registration();
    park_result result = park_result::cancelled;
    try {
      if (registration_.arm(Cancellable ? scope_word_of(awaiting) : 0, grantor_.cancel_target()))
        result = grantor_.enqueue(waiter_, registration_);
    } catch (...) {
      waiter_.handle = nullptr;  // nothing parked, nothing granted: the destructor has nothing to undo
      throw;
    }
    if (result == park_result::parked) return true;
    if (result == park_result::not_needed) {
      waiter_.handle = nullptr;  // granted at once: resume without suspending
      registration_.disarm();
    } else {
      waiter_.outcome = cancelled_outcome;  // stopped: the handle stays set, await_resume throws
    }
    return false;
  }
  /// The handle is still set only after a wait (or a stop seen before parking): the common,
  /// uncontended path (await_ready took the grant) reads one word.
  auto await_resume() {
    if (waiter_.handle) [[unlikely]] {  // after a wait
      waiter_.handle = nullptr;
      registration_.disarm();
      if (waiter_.outcome == cancelled_outcome) [[unlikely]]
        throw_wait_cancelled("a lock or acquire");
    }
    return grantor_.granted();
  }

 private:
  // A waiter a stop request withdrew (marked under the primitive's lock) was granted nothing.
  [[gnu::noinline]] void leave_while_suspended() noexcept {
    if (!grantor_.withdraw(waiter_) && waiter_.outcome != cancelled_outcome) grantor_.give_back();
    registration_.~park_registration();
  }

  Grantor grantor_;
  coroutine_waiter waiter_;
  // Constructed in await_suspend (the uncontended path needs none). Armed only while the handle
  // is set: once the handle is cleared it is disarmed, and ending it needs no destructor call.
  union {
    park_registration registration_;
  };
};

/// What a task holds once granted a lock or a share: move-only, handed back through
/// `Release::release(Lock&)` when destroyed or unlock()ed. The guards of mutex and rw_mutex
/// derive from it (a guard can pass to another task: it is the ownership, not the task).
template <class Lock, class Release>
class held_grant {
 public:
  held_grant(held_grant&& other) noexcept : held_(std::exchange(other.held_, nullptr)) {}
  held_grant& operator=(held_grant&& other) noexcept {
    if (this != &other) {
      reset();
      held_ = std::exchange(other.held_, nullptr);
    }
    return *this;
  }
  ~held_grant() { reset(); }

  /// Gives it back now. Throws usage_error if this guard holds nothing (moved from, unlocked).
  void unlock() {
    if (held_ == nullptr)
      throw usage_error("brigade: unlock() of a guard that holds nothing (moved from, or already unlocked)");
    reset();
  }
  [[nodiscard]] bool owns_lock() const noexcept { return held_ != nullptr; }
  explicit operator bool() const noexcept { return owns_lock(); }

 protected:
  explicit held_grant(Lock& held) noexcept : held_(&held) {}
  Lock* held() const noexcept { return held_; }

 private:
  void reset() noexcept {
    if (Lock* held = std::exchange(held_, nullptr)) Release::release(*held);
  }
  Lock* held_;
};

/// Blocks the calling thread until `grantor` grants, or until `deadline` (seam::now_nanoseconds()'s
/// clock; thread_waiter::no_deadline for none). Returns whether it was granted. A stop request of
/// `token` while it waits withdraws it and throws task_cancelled (nothing granted).
template <class Grantor>
bool block_until_granted(Grantor grantor, std::uint64_t deadline = thread_waiter::no_deadline,
                         std::stop_token token = {}) {
  if (grantor.try_grant()) return true;
  thread_waiter waiter;
  thread_stop_registration registration(std::move(token));
  park_result result = park_result::cancelled;
  if (registration.arm(grantor.cancel_target(), waiter)) result = grantor.enqueue(waiter, registration);
  bool granted = result == park_result::not_needed;
  if (result == park_result::parked)
    granted = waiter.wait_until_or_withdraw(deadline, [&]() noexcept { return grantor.withdraw(waiter); });
  registration.disarm();
  if (result == park_result::cancelled || waiter.outcome == cancelled_outcome) throw_wait_cancelled("a blocking lock or acquire");
  return granted;
}

}  // namespace brigade::detail
