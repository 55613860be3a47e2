// brigade/sync/barrier.hpp: barrier, a reusable rendezvous of a fixed number of parties (Java's
// CyclicBarrier, std::barrier without a completion function): each party arrives and waits
// until all have arrived; then all go on together, and the barrier is ready for the next phase.
//
//   brigade::barrier step(4);
//   for (int round = 0; round < rounds; ++round) {
//     compute(round);
//     co_await step.arrive_and_wait();   // in a task; step.arrive_and_wait_blocking() on a thread
//   }
//
// Tasks and threads may mix in one barrier.
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

#include "brigade/detail/scheduler_hooks.hpp"
#include "brigade/detail/seam.hpp"
#include "brigade/detail/wait_list.hpp"
#include "brigade/runtime/errors.hpp"
#include "brigade/runtime/waiter.hpp"

namespace brigade {

class barrier {
 public:
  /// A barrier for `parties` arrivals per phase. Throws usage_error if parties < 1.
  explicit barrier(std::int64_t parties) : parties_(checked(parties)), remaining_(parties) {}
  barrier(const barrier&) = delete;
  barrier& operator=(const barrier&) = delete;

  [[nodiscard]] std::int64_t parties() const noexcept { return parties_; }

  /// co_await b.arrive_and_wait(): arrives, then suspends the task until every party of this
  /// phase has arrived (the last one to arrive does not suspend).
  [[nodiscard("co_await the arrival")]] auto arrive_and_wait() noexcept { return awaiter{*this}; }

  /// On a thread: arrives, then blocks until every party of this phase has arrived.
  void arrive_and_wait_blocking() {
    detail::refuse_blocking_on_worker("barrier::arrive_and_wait_blocking()");
    detail::thread_waiter waiter;
    if (arrive(waiter)) return;
    waiter.wait();
  }

 private:
  static std::int64_t checked(std::int64_t parties) {
    if (parties < 1) throw usage_error("brigade: a barrier needs at least one party");
    return parties;
  }

  /// Counts an arrival. The last one of a phase starts the next phase, wakes the parties that
  /// wait (after releasing the lock) and returns true; any other parks `entry` and returns false.
  bool arrive(detail::waiter& entry) noexcept {
    detail::waiter* to_wake;
    {
      std::lock_guard lock(mutex_);
      if (--remaining_ > 0) {
        waiters_.push_back(entry);
        return false;
      }
      remaining_ = parties_;
      to_wake = waiters_.take_all();
    }
    detail::wait_list::wake_all(to_wake);
    return true;
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
    bool await_suspend(std::coroutine_handle<> awaiting) {
      waiter_.arm(awaiting,
                  "brigade: barrier::arrive_and_wait() awaited outside a runtime (use "
                  "arrive_and_wait_blocking)");
      return !barrier_.arrive(waiter_);  // the last arrival goes on at once
    }
    void await_resume() noexcept { waiter_.handle = nullptr; }

   private:
    barrier& barrier_;
    detail::coroutine_waiter waiter_;
  };

  const std::int64_t parties_;
  detail::seam::mutex mutex_;
  std::int64_t remaining_;      // guarded by mutex_: arrivals still missing in this phase
  detail::wait_list waiters_;   // guarded by mutex_
};

}  // namespace brigade
