// brigade/sync/condition_variable.hpp: condition_variable over brigade::mutex, for tasks and
// threads (std::condition_variable, Java's Condition, Go's sync.Cond).
//
//   brigade::mutex m;  brigade::condition_variable not_empty;  std::deque<job> jobs;
//   // a thread:
//   std::unique_lock lock(m);
//   not_empty.wait(lock, [&] { return !jobs.empty(); });
//   // a task:
//   auto held = co_await m.lock_async();
//   co_await not_empty.wait_async(held, [&] { return !jobs.empty(); });
//   // anyone, with or without the mutex held:
//   not_empty.notify_one();
//
// wait releases the mutex and parks in one step (no notify between them is lost), and holds the
// mutex again when it returns. Wakeups are FIFO; spurious wakeups do not happen, but a woken
// party re-checks its condition (the predicate forms do) because another may have changed it
// before it got the mutex back. Timed thread forms: wait_for, wait_until; the task forms come with
// timers.
// Cancellation: a task's wait is a cancellation point. A stop request of its scope while it waits
// takes it off the queue (it consumes no notification) and the wait throws task_cancelled with
// the mutex held again by the guard (as Java's Condition.await reacquires the lock before it
// throws InterruptedException; that reacquisition itself cannot be cancelled). A thread's
// wait(lock, std::stop_token, predicate) is std::condition_variable_any's: it returns the
// predicate's value, false when it stopped waiting because of the token, the mutex held either way.
// Misuse: waiting with a lock or guard that holds no mutex throws usage_error; so does co_await
// outside a runtime. Thread safety: every member from any thread.
// Memory order: as the mutex: what a party wrote under the mutex is visible to the next holder.
// Lifetime: the condition variable must outlive its waiters. Complexity: O(1) per waiter.
#pragma once

#include <chrono>
#include <condition_variable>
#include <coroutine>
#include <mutex>
#include <stop_token>
#include <utility>

#include "brigade/detail/cancellable_wait.hpp"
#include "brigade/detail/scheduler_hooks.hpp"
#include "brigade/detail/seam.hpp"
#include "brigade/detail/wait_list.hpp"
#include "brigade/runtime/errors.hpp"
#include "brigade/runtime/task.hpp"
#include "brigade/runtime/waiter.hpp"
#include "brigade/sync/mutex.hpp"

namespace brigade {

class condition_variable {
 public:
  condition_variable() = default;
  ~condition_variable() { detail::retire_cancel_targets(); }
  condition_variable(const condition_variable&) = delete;
  condition_variable& operator=(const condition_variable&) = delete;

  /// Wakes the longest-waiting party, if any.
  void notify_one() noexcept {
    detail::waiter* first;
    {
      std::lock_guard lock(list_mutex_);
      first = waiters_.pop_front();
    }
    if (first != nullptr) first->wake();
  }
  /// Wakes every waiting party.
  void notify_all() noexcept {
    detail::waiter* all;
    {
      std::lock_guard lock(list_mutex_);
      all = waiters_.take_all();
    }
    detail::wait_list::wake_all(all);
  }

  // ---- Threads --------------------------------------------------------------------------------

  /// Releases `lock`'s mutex, blocks until notified, and takes the mutex again.
  void wait(std::unique_lock<mutex>& lock) {
    detail::refuse_blocking_on_worker("condition_variable::wait(std::unique_lock&)");
    check_held(lock);
    detail::thread_waiter waiter;
    park(waiter);
    lock.unlock();
    waiter.wait();
    lock.lock();
  }
  template <class Predicate>
  void wait(std::unique_lock<mutex>& lock, Predicate ready) {
    while (!ready()) wait(lock);
  }
  /// std::condition_variable_any's interruptible wait: waits until `ready()` or a stop request of
  /// `token`; returns ready() (false: it stopped for the token), with the mutex held either way.
  template <class Predicate>
  bool wait(std::unique_lock<mutex>& lock, std::stop_token token, Predicate ready) {
    detail::refuse_blocking_on_worker("condition_variable::wait(std::unique_lock&, std::stop_token, ...)");
    check_held(lock);
    while (!ready()) {
      if (token.stop_requested()) return false;
      detail::thread_waiter waiter;
      detail::thread_stop_registration registration(token);
      if (!registration.arm(cancel_target_, waiter)) return ready();
      bool parked;
      {
        std::lock_guard list_lock(list_mutex_);
        parked = detail::park_locked(registration, waiters_, waiter) == detail::park_result::parked;
      }
      if (parked) {
        lock.unlock();
        waiter.wait();
        lock.lock();
      }
      registration.disarm();
    }
    return true;
  }

  template <class Clock, class Duration>
  std::cv_status wait_until(std::unique_lock<mutex>& lock, std::chrono::time_point<Clock, Duration> deadline) {
    return wait_until_nanoseconds(lock, detail::seam::deadline_at(deadline));
  }
  template <class Rep, class Period>
  std::cv_status wait_for(std::unique_lock<mutex>& lock, std::chrono::duration<Rep, Period> timeout) {
    return wait_until_nanoseconds(lock, detail::seam::deadline_after(timeout));
  }
  /// Waits until `ready()` or the deadline; returns ready() (with the mutex held either way).
  template <class Clock, class Duration, class Predicate>
  bool wait_until(std::unique_lock<mutex>& lock, std::chrono::time_point<Clock, Duration> deadline,
                  Predicate ready) {
    const std::uint64_t at = detail::seam::deadline_at(deadline);
    while (!ready())
      if (wait_until_nanoseconds(lock, at) == std::cv_status::timeout) return ready();
    return true;
  }
  template <class Rep, class Period, class Predicate>
  bool wait_for(std::unique_lock<mutex>& lock, std::chrono::duration<Rep, Period> timeout,
                Predicate ready) {
    return wait_until(lock, std::chrono::steady_clock::now() + timeout, std::move(ready));
  }

  // ---- Tasks ----------------------------------------------------------------------------------

  /// co_await cv.wait_async(held): releases the guard's mutex, suspends until notified, and takes the
  /// mutex again into `held`.
  task<void> wait_async(mutex::guard& held) {
    mutex* lock = held.mutex();
    if (lock == nullptr) throw usage_error("brigade: condition_variable::wait_async() with a guard that holds no mutex");
    const park_outcome outcome = co_await park_and_release{*this, held};
    if (outcome != park_outcome::stopped_before_parking) held = co_await lock->lock_async_uncancellable();
    if (outcome != park_outcome::notified) detail::throw_wait_cancelled("condition_variable::wait");
  }
  /// co_await cv.wait_async(held, ready): waits until `ready()` (checked with the mutex held).
  template <class Predicate>
  task<void> wait_async(mutex::guard& held, Predicate ready) {
    while (!ready()) co_await wait_async(held);
  }

 private:
  static void check_held(const std::unique_lock<mutex>& lock) {
    if (!lock.owns_lock())
      throw usage_error("brigade: condition_variable::wait() with a lock that holds no mutex");
  }
  void park(detail::waiter& entry) {
    std::lock_guard lock(list_mutex_);
    waiters_.push_back(entry);
  }

  std::cv_status wait_until_nanoseconds(std::unique_lock<mutex>& lock, std::uint64_t deadline) {
    detail::refuse_blocking_on_worker("condition_variable::wait_for/wait_until(std::unique_lock&)");
    check_held(lock);
    detail::thread_waiter waiter;
    park(waiter);
    lock.unlock();
    const bool woken = waiter.wait_until_or_withdraw(deadline, [&]() noexcept {
      std::lock_guard list_lock(list_mutex_);
      return waiters_.unlink(waiter);
    });
    lock.lock();
    return woken ? std::cv_status::no_timeout : std::cv_status::timeout;
  }

  /// How a task's park_and_release ended.
  enum class park_outcome : unsigned char {
    notified,                // released the mutex, parked, woken by a notify
    stopped_while_parked,    // released the mutex, parked, withdrawn by a stop request
    stopped_before_parking,  // a stop was requested first: the guard still holds the mutex
  };

  /// Parks the task and releases its mutex, both under the list lock: a notify can reach the
  /// waiter only after the mutex is released and the guard emptied, so the task cannot resume
  /// (on another worker) while this still touches its guard.
  class [[nodiscard("co_await it")]] park_and_release {
   public:
    park_and_release(condition_variable& cv, mutex::guard& held) noexcept : cv_(cv), held_(held) {}
    park_and_release(const park_and_release&) = delete;
    park_and_release& operator=(const park_and_release&) = delete;
    ~park_and_release() {
      // Non-null: the frame is destroyed while suspended (runtime shutdown).
      if (waiter_.handle) {
        std::lock_guard lock(cv_.list_mutex_);
        cv_.waiters_.unlink(waiter_);
      }
    }
    bool await_ready() const noexcept { return false; }
    template <class Promise>
    bool await_suspend(std::coroutine_handle<Promise> awaiting) {
      waiter_.arm(awaiting,
                  "brigade: condition_variable::wait_async() awaited outside a runtime (use a thread's "
                  "std::unique_lock form)");
      if (registration_.arm(detail::scope_word_of(awaiting), cv_.cancel_target_)) {
        std::lock_guard lock(cv_.list_mutex_);
        if (detail::park_locked(registration_, cv_.waiters_, waiter_) == detail::park_result::parked) {
          held_.unlock();
          return true;
        }
      }
      waiter_.handle = nullptr;
      stopped_before_parking_ = true;
      return false;
    }
    park_outcome await_resume() noexcept {
      waiter_.handle = nullptr;
      registration_.disarm();
      if (stopped_before_parking_) return park_outcome::stopped_before_parking;
      return waiter_.outcome == detail::cancelled_outcome ? park_outcome::stopped_while_parked
                                                          : park_outcome::notified;
    }

   private:
    condition_variable& cv_;
    mutex::guard& held_;
    detail::coroutine_waiter waiter_;
    detail::park_registration registration_;
    bool stopped_before_parking_ = false;
  };

  detail::seam::mutex list_mutex_;
  detail::wait_list waiters_;  // guarded by list_mutex_
  detail::cancel_target cancel_target_{
      &detail::cancel_from_list<condition_variable, &condition_variable::list_mutex_, &condition_variable::waiters_>,
      this};
};

}  // namespace brigade
