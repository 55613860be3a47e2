// brigade/sync/barrier.hpp: barrier, a reusable rendezvous of a fixed number of parties (Java's
// CyclicBarrier, std::barrier without a completion function): each party arrives and waits
// until all have arrived; then all go on together, and the barrier is ready for the next phase.
//
//   brigade::barrier step(4);
//   for (int round = 0; round < rounds; ++round) {
//     compute(round);
//     co_await step.arrive_and_wait_async();   // in a task; step.arrive_and_wait() on a thread
//   }
//
// Tasks and threads may mix in one barrier.
// Cancellation: arrive_and_wait_async() is a cancellation point: a stop request of the task's scope
// while it waits withdraws its arrival (the phase counts one arrival fewer, as if it never came)
// and the co_await throws task_cancelled; an arrival that completed its phase is not withdrawn.
// arrive_and_wait(std::stop_token) does the same for a thread.
// Misuse: a barrier of zero or fewer parties throws usage_error; so does co_await outside a
// runtime. A party that stops arriving leaves the others waiting in the first phase it misses:
// the barrier cannot know that it is gone. (A task destroyed at runtime shutdown while it waits
// here still counts as arrived in that phase, and is not woken.)
// Thread safety: every member from any thread. Memory order: what every party wrote before it
// arrived is visible to all of them once they go on.
// Lifetime: the barrier must outlive its waiters. Complexity: arrive O(1); the last arrival of a
// phase wakes the others, O(parties).
#pragma once

#include <coroutine>
#include <cstdint>
#include <mutex>
#include <stop_token>

#include "brigade/detail/cancellable_wait.hpp"

#include "brigade/detail/scheduler_hooks.hpp"
#include "brigade/detail/seam.hpp"
#include "brigade/detail/wait_list.hpp"
#include "brigade/runtime/errors.hpp"
#include "brigade/runtime/task.hpp"
#include "brigade/runtime/waiter.hpp"

namespace brigade {

class barrier {
 public:
  /// A barrier for `parties` arrivals per phase. Throws usage_error if parties < 1.
  explicit barrier(std::int64_t parties) : parties_(checked(parties)), remaining_(parties) {}
  ~barrier() { detail::retire_cancel_targets(); }
  barrier(const barrier&) = delete;
  barrier& operator=(const barrier&) = delete;

  [[nodiscard]] std::int64_t parties() const noexcept { return parties_; }

  /// co_await b.arrive_and_wait_async(): arrives, then suspends the task until every party of this
  /// phase has arrived (the last one to arrive does not suspend).
  [[nodiscard("co_await the arrival")]] auto arrive_and_wait_async() noexcept { return awaiter{*this}; }

  /// On a thread: arrives, then blocks until every party of this phase has arrived. With a
  /// token, a stop request while it waits withdraws the arrival and throws task_cancelled.
  void arrive_and_wait(std::stop_token token = {}) {
    detail::refuse_blocking_on_worker("barrier::arrive_and_wait()");
    detail::thread_waiter waiter;
    detail::thread_stop_registration registration(std::move(token));
    detail::park_result result = detail::park_result::cancelled;
    if (registration.arm(cancel_target_, waiter)) result = arrive(waiter, registration);
    if (result == detail::park_result::parked) waiter.wait();
    registration.disarm();
    if (result == detail::park_result::cancelled || waiter.outcome == detail::cancelled_outcome)
      detail::throw_wait_cancelled("barrier::arrive_and_wait");
  }

 private:
  static std::int64_t checked(std::int64_t parties) {
    if (parties < 1) throw usage_error("brigade: a barrier needs at least one party");
    return parties;
  }

  /// Counts an arrival. The last one of a phase starts the next phase, wakes the parties that
  /// wait (after releasing the lock) and returns not_needed; any other parks `entry` (parked),
  /// unless a stop was requested (cancelled: the arrival is not counted).
  template <class Registration>
  detail::park_result arrive(detail::waiter& entry, Registration& registration) noexcept {
    detail::waiter* to_wake;
    {
      std::lock_guard lock(mutex_);
      if (remaining_ > 1) {
        const detail::park_result result = detail::park_locked(registration, waiters_, entry);
        if (result == detail::park_result::parked) --remaining_;
        return result;
      }
      remaining_ = parties_;
      to_wake = waiters_.take_all();
    }
    detail::wait_list::wake_all(to_wake);
    return detail::park_result::not_needed;
  }
  /// Under mutex_, after a stop request withdrew a waiting party: its arrival is taken back.
  static detail::waiter* after_withdrawal(barrier& owner) noexcept {
    ++owner.remaining_;
    return nullptr;
  }
  void unlink(detail::waiter& entry) noexcept {
    std::lock_guard lock(mutex_);
    waiters_.unlink(entry);
  }

  class [[nodiscard("co_await the arrival")]] awaiter {
   public:
    explicit awaiter(barrier& owner) noexcept : barrier_(owner) {}
    // Holds a waiter the barrier's list points to while suspended: neither copyable nor movable.
    awaiter(const awaiter&) = delete;
    awaiter& operator=(const awaiter&) = delete;
    ~awaiter() {
      // Set while the task may be suspended, cleared when it resumes: non-null here means the
      // frame is destroyed while suspended (runtime shutdown).
      if (waiter_.handle) barrier_.unlink(waiter_);
    }

    bool await_ready() const noexcept { return false; }
    template <class Promise>
    bool await_suspend(std::coroutine_handle<Promise> awaiting) {
      waiter_.arm(awaiting,
                  "brigade: barrier::arrive_and_wait_async() awaited outside a runtime (use "
                  "arrive_and_wait() on a thread)");
      detail::park_result result = detail::park_result::cancelled;
      if (registration_.arm(detail::scope_word_of(awaiting), barrier_.cancel_target_))
        result = barrier_.arrive(waiter_, registration_);
      if (result == detail::park_result::parked) return true;
      waiter_.handle = nullptr;  // the last arrival goes on at once
      if (result == detail::park_result::cancelled) waiter_.outcome = detail::cancelled_outcome;
      return false;
    }
    void await_resume() {
      waiter_.handle = nullptr;
      registration_.disarm();
      if (waiter_.outcome == detail::cancelled_outcome) [[unlikely]]
        detail::throw_wait_cancelled("barrier::arrive_and_wait");
    }

   private:
    barrier& barrier_;
    detail::coroutine_waiter waiter_;
    detail::park_registration registration_;
  };

  const std::int64_t parties_;
  detail::seam::mutex mutex_;
  std::int64_t remaining_;      // guarded by mutex_: arrivals still missing in this phase
  detail::wait_list waiters_;   // guarded by mutex_
  detail::cancel_target cancel_target_{
      &detail::cancel_from_list<barrier, &barrier::mutex_, &barrier::waiters_, &barrier::after_withdrawal>, this};
};

}  // namespace brigade
