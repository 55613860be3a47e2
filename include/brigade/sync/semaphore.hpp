// brigade/sync/semaphore.hpp: semaphore, a counting semaphore for tasks and threads (Java's
// Semaphore, asyncio.Semaphore, tokio::sync::Semaphore): at most N holders of a permit at once.
//
//   brigade::semaphore connections(8);         // 8 permits
//   co_await connections.acquire_async();      // in a task: suspends until a permit is free
//   ...                                        // (a thread: acquire, try_acquire_for)
//   connections.release();                     // gives the permit back, from any thread or task
//   {
//     auto held = co_await connections.acquire_permit_async();   // or acquire_permit() on a
//     ...                                                        // thread: a scoped permit,
//   }                                                            // released at the scope's end
//
// A permit is not tied to whoever acquired it: any party may release (as with Java's and Go's
// semaphores), which is what a producer that hands out work permits needs.
// Fairness: FIFO. release() hands permits directly to the longest-waiting parties before the
// count rises, and a party that arrives while others wait queues behind them even if a permit is
// momentarily free; so no waiter starves, whatever the mix of tasks and threads.
// Cancellation: acquire_async() is a cancellation point: a stop request of the task's scope while it
// waits withdraws it from the queue and the acquire throws task_cancelled, holding no permit
// (cancel-safe: no permit is lost or taken). acquire(std::stop_token) does the same for
// a thread.
// Misuse: a negative initial count, a release of fewer than zero permits, or a count that would
// overflow throw usage_error (nothing changes). co_await outside a runtime throws usage_error.
// Thread safety: every member from any thread. Memory order: a release synchronises with the
// acquire that takes the permit it gave.
// Lifetime: the semaphore must outlive its waiters. A task destroyed while it waits (runtime
// shutdown) leaves the queue, or gives back a permit it had been handed.
// Complexity: acquire O(1); release(n) O(1) plus O(waiters woken). Uncontended: one atomic op.
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <mutex>
#include <optional>
#include <stop_token>

#include "brigade/detail/deadline_scope.hpp"
#include "brigade/detail/grant_wait.hpp"
#include "brigade/detail/seam.hpp"
#include "brigade/detail/wait_list.hpp"
#include "brigade/runtime/errors.hpp"
#include "brigade/runtime/waiter.hpp"

namespace brigade {

class semaphore {
 public:
  class permit;

  /// The largest number of permits a semaphore holds.
  static constexpr std::int64_t max_permits = std::numeric_limits<std::int64_t>::max() / 2;

  /// Starts with `permits` free permits. Throws usage_error if negative or above max_permits.
  explicit semaphore(std::int64_t permits) : state_(checked_initial(permits) * one_permit) {}
  ~semaphore() { detail::retire_cancel_targets(); }
  semaphore(const semaphore&) = delete;
  semaphore& operator=(const semaphore&) = delete;

  /// co_await s.acquire_async(): suspends the task until it holds a permit.
  [[nodiscard("co_await the acquisition")]] auto acquire_async() noexcept {
    return detail::grant_awaiter<side>(side{*this});
  }
  /// Blocks the calling thread until it holds a permit. With a token, a stop request while it
  /// waits throws task_cancelled (no permit taken).
  void acquire(std::stop_token token = {}) {
    detail::refuse_blocking_on_worker("semaphore::acquire()");
    detail::block_until_granted(side{*this}, detail::thread_waiter::no_deadline, std::move(token));
  }
  /// Takes a permit if one is free and nobody waits; never blocks.
  [[nodiscard]] bool try_acquire() noexcept { return take_free_permit(); }
  /// Blocks until it holds a permit or `timeout` has passed; returns whether it holds one.
  template <class Rep, class Period>
  [[nodiscard]] bool try_acquire_for(std::chrono::duration<Rep, Period> timeout) {
    detail::refuse_blocking_on_worker("semaphore::try_acquire_for()");
    return detail::block_until_granted(side{*this}, detail::seam::deadline_after(timeout));
  }
  template <class Clock, class Duration>
  [[nodiscard]] bool try_acquire_until(std::chrono::time_point<Clock, Duration> deadline) {
    detail::refuse_blocking_on_worker("semaphore::try_acquire_until()");
    return detail::block_until_granted(side{*this}, detail::seam::deadline_at(deadline));
  }

  // ---- Scoped permits: a permit object gives its permit back when destroyed -----------------

  /// co_await s.try_acquire_for_async(timeout): true once the task holds a permit, false when
  /// `timeout` passed first (the wait withdrawn: nothing taken).
  template <class Rep, class Period>
  [[nodiscard("co_await the acquisition")]] task<bool> try_acquire_for_async(std::chrono::duration<Rep, Period> timeout) {
    const std::uint64_t deadline = detail::deadline_after(timeout);
    auto acquire = acquire_async();
    co_return co_await detail::completes_before(acquire, deadline, "semaphore::try_acquire_for_async");
  }

  /// co_await s.acquire_permit_async(): as acquire_async(), and yields a permit that releases
  /// itself (on every path out of its scope, exceptions and cancellation included).
  [[nodiscard("co_await it, and keep the permit")]] auto acquire_permit_async() noexcept {
    return detail::grant_awaiter<permit_side>(permit_side{side{*this}});
  }
  /// As acquire(token), and returns a permit that releases itself.
  [[nodiscard("keep the permit: destroying it releases it")]] permit acquire_permit(std::stop_token token = {});
  /// A permit if one is free now; empty otherwise. Never blocks.
  [[nodiscard]] std::optional<permit> try_acquire_permit() noexcept;

  /// Gives back `count` permits: wakes up to `count` waiters (each handed one), frees the rest.
  void release(std::int64_t count = 1) {
    if (count < 0) throw usage_error("brigade: semaphore::release() of a negative number of permits");
    if (count == 0) return;
    std::int64_t state = state_.load(detail::seam::memory_order::relaxed);
    while ((state & waiters_bit) == 0) {
      if (count > max_permits - state / one_permit)
        throw usage_error("brigade: semaphore::release() would exceed semaphore::max_permits");
      // Release: pairs with the acquire of whoever takes these permits.
      if (state_.compare_exchange_weak(state, state + count * one_permit,
                                       detail::seam::memory_order::release,
                                       detail::seam::memory_order::relaxed))
        return;
    }
    release_to_waiters(count);
  }

  /// The number of free permits (a snapshot).
  [[nodiscard]] std::int64_t available() const noexcept {
    return state_.load(detail::seam::memory_order::relaxed) / one_permit;
  }

 private:
  // state_ = free permits * one_permit + waiters_bit. waiters_bit changes only under list_mutex_ and
  // is set exactly while the list is not empty; then the free count is zero (a release gives
  // permits to waiters first), so a new arrival can see at a glance whether it may take one.
  static constexpr std::int64_t waiters_bit = 1;
  static constexpr std::int64_t one_permit = 2;

  static std::int64_t checked_initial(std::int64_t permits) {
    if (permits < 0 || permits > max_permits)
      throw usage_error("brigade: a semaphore's initial permits must be in [0, semaphore::max_permits]");
    return permits;
  }

  /// A permit is free and nobody queues for one (FIFO: arrivals do not pass waiters).
  static bool permit_free(std::int64_t state) noexcept { return state >= one_permit && (state & waiters_bit) == 0; }
  static std::int64_t minus_permit(std::int64_t state) noexcept { return state - one_permit; }

  bool take_free_permit() noexcept { return detail::try_take(state_, permit_free, minus_permit); }

  void release_to_waiters(std::int64_t count) {
    detail::waiter* woken = nullptr;  // chained through next, in FIFO order
    detail::waiter** tail = &woken;
    {
      std::lock_guard lock(list_mutex_);
      while (count > 0 && !waiters_.empty()) {
        detail::waiter* next = waiters_.pop_front();
        next->next = nullptr;
        *tail = next;
        tail = &next->next;
        --count;
      }
      std::int64_t state = state_.load(detail::seam::memory_order::relaxed);
      std::int64_t updated;
      do {
        if (count > max_permits - state / one_permit) count = max_permits - state / one_permit;  // saturate
        updated = state + count * one_permit;
        if (waiters_.empty()) updated &= ~waiters_bit;
      } while (!state_.compare_exchange_weak(state, updated, detail::seam::memory_order::release,
                                             detail::seam::memory_order::relaxed));
    }
    detail::wait_list::wake_all(woken);
  }

  // The grant protocol of detail/grant_wait.hpp.
  struct side {
    semaphore& owner;
    static const char* off_runtime_message() noexcept {
      return "brigade: semaphore::acquire_async() awaited outside a runtime (use acquire() on a thread)";
    }
    bool try_grant() noexcept { return owner.take_free_permit(); }
    template <class Registration>
    detail::park_result enqueue(detail::waiter& entry, Registration& registration) {
      std::lock_guard lock(owner.list_mutex_);
      return detail::take_or_park(owner.state_, waiters_bit, permit_free, minus_permit, owner.waiters_, entry,
                                  registration);
    }
    detail::cancel_target& cancel_target() noexcept { return owner.cancel_target_; }
    bool withdraw(detail::waiter& entry) noexcept {
      std::lock_guard lock(owner.list_mutex_);
      return detail::unlink_and_clear(owner.waiters_, entry, owner.state_, waiters_bit);
    }
    void give_back() noexcept {
      try {
        owner.release(1);
      } catch (...) {  // cannot overflow: the permit was counted before it was handed out
      }
    }
    void granted() noexcept {}
  };
  /// The same protocol, granting a scoped permit.
  struct permit_side : side {
    permit granted() noexcept;
  };
  struct permit_release {
    static void release(semaphore& owner) noexcept {
      try {
        owner.release(1);
      } catch (...) {  // cannot overflow: the permit was counted before it was handed out
      }
    }
  };

  /// Under list_mutex_, after a stop request withdrew a waiter.
  static detail::waiter* after_withdrawal(semaphore& owner) noexcept {
    detail::clear_waiting_if_empty(owner.waiters_, owner.state_, waiters_bit);
    return nullptr;
  }

  detail::seam::atomic<std::int64_t> state_;
  detail::seam::mutex list_mutex_;
  detail::wait_list waiters_;  // guarded by list_mutex_
  detail::cancel_target cancel_target_{
      &detail::cancel_from_list<semaphore, &semaphore::list_mutex_, &semaphore::waiters_, &semaphore::after_withdrawal>,
      this};
};

/// One permit of a brigade::semaphore, given back when destroyed or through unlock(). Movable, so
/// a permit can pass to another task or thread; empty once moved from.
class semaphore::permit : public detail::held_grant<semaphore, semaphore::permit_release> {
 public:
  /// The semaphore this permit belongs to, or null.
  [[nodiscard]] semaphore* owner() const noexcept { return held(); }

 private:
  friend class semaphore;
  explicit permit(semaphore& owner) noexcept : held_grant(owner) {}
};

inline semaphore::permit semaphore::permit_side::granted() noexcept { return permit(owner); }

inline semaphore::permit semaphore::acquire_permit(std::stop_token token) {
  acquire(std::move(token));
  return permit(*this);
}

inline std::optional<semaphore::permit> semaphore::try_acquire_permit() noexcept {
  if (!try_acquire()) return std::nullopt;
  return permit(*this);
}

}  // namespace brigade
