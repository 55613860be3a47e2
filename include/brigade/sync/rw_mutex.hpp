// brigade/sync/rw_mutex.hpp: rw_mutex, a read-write lock for tasks and threads: many readers
// at once, or one writer (Java's ReentrantReadWriteLock without reentrancy, Go's sync.RWMutex,
// tokio::sync::RwLock).
//
//   brigade::rw_mutex lock;
//   { std::shared_lock read(lock); ... }            // threads: SharedTimedLockable, so
//   { std::unique_lock write(lock); ... }           // std::shared_lock / std::unique_lock work
//   { auto read = co_await lock.lock_shared_async(); ... }   // tasks: guards
//   { auto write = co_await lock.lock_async(); ... }
//
// Fairness: writers do not starve, and neither do readers. Once a writer waits, readers that
// arrive queue behind it (as in Go). When a writer unlocks, every reader queued by then is let
// in at once; when the last reader leaves, the longest-waiting writer is handed the lock. So
// reading and writing phases alternate under contention. Every waiter is handed its lock (or
// share) directly, FIFO within its kind, and never competes again.
// Cancellation: lock_async() and lock_shared_async() are cancellation points: a stop request of
// the task's scope while it waits withdraws it and the co_await throws task_cancelled, holding
// nothing (a withdrawn writer lets in the readers that queued only behind it, as a timed-out
// one does). lock(std::stop_token) and lock_shared(std::stop_token) do the same for a thread.
// Misuse: unlock() by a thread that does not hold the write lock, unlock() by a thread of a write
// lock a task holds through its guard, unlock_shared() with no reader inside, and lock() by the
// thread that already holds the write lock throw usage_error, as do lock_shared() by that thread.
// Which thread holds a read share is not recorded (readers are anonymous, as in every read-write
// lock in common use), so a reader that asks for the write lock waits for itself: upgrade by
// unlocking first.
// Thread safety: every member from any thread. Memory order: a reader sees everything the last
// writer wrote; a writer sees everything every earlier holder wrote.
// Lifetime: the lock must outlive its waiters. A task destroyed while it waits (runtime
// shutdown) leaves the queue, or gives back what it had been handed.
// Complexity: O(1) per operation, plus O(readers let in) for the writer that lets them in.
// Uncontended: one atomic operation to lock, one to unlock.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <stop_token>
#include <utility>

#include "brigade/detail/grant_wait.hpp"
#include "brigade/detail/seam.hpp"
#include "brigade/detail/wait_list.hpp"
#include "brigade/runtime/errors.hpp"
#include "brigade/runtime/waiter.hpp"

namespace brigade {

class rw_mutex {
 public:
  class read_guard;
  class write_guard;

  rw_mutex() = default;
  ~rw_mutex() { detail::retire_cancel_targets(); }
  rw_mutex(const rw_mutex&) = delete;
  rw_mutex& operator=(const rw_mutex&) = delete;

  // ---- Threads: exclusive ---------------------------------------------------------------------
  void lock() { lock(std::stop_token{}); }
  /// As lock(); a stop request of `token` while it waits throws task_cancelled (nothing held).
  void lock(std::stop_token token) {
    check_not_writing();
    detail::block_until_granted(writer_side{*this}, detail::thread_waiter::no_deadline, std::move(token));
    owner_.store(thread_owner(), detail::seam::memory_order::relaxed);
  }
  [[nodiscard]] bool try_lock() noexcept {
    if (!try_lock_exclusive()) return false;
    owner_.store(thread_owner(), detail::seam::memory_order::relaxed);
    return true;
  }
  template <class Rep, class Period>
  [[nodiscard]] bool try_lock_for(std::chrono::duration<Rep, Period> timeout) {
    return lock_until(detail::seam::deadline_after(timeout));
  }
  template <class Clock, class Duration>
  [[nodiscard]] bool try_lock_until(std::chrono::time_point<Clock, Duration> deadline) {
    return lock_until(detail::seam::deadline_at(deadline));
  }
  void unlock() {
    const std::uintptr_t owner = owner_.load(detail::seam::memory_order::relaxed);
    if (owner != thread_owner()) [[unlikely]]
      report_unlock_by_non_owner(owner);
    owner_.store(no_owner, detail::seam::memory_order::relaxed);
    release_exclusive();
  }

  // ---- Threads: shared ------------------------------------------------------------------------
  /// Throws usage_error when the calling thread holds the write lock (it would wait for itself).
  void lock_shared() { lock_shared(std::stop_token{}); }
  /// As lock_shared(); a stop request of `token` while it waits throws task_cancelled.
  void lock_shared(std::stop_token token) {
    check_not_writing("brigade: rw_mutex::lock_shared() by the thread that holds the write lock (it would wait for itself)");
    detail::block_until_granted(reader_side{*this}, detail::thread_waiter::no_deadline, std::move(token));
  }
  [[nodiscard]] bool try_lock_shared() noexcept { return try_lock_shared_now(); }
  template <class Rep, class Period>
  [[nodiscard]] bool try_lock_shared_for(std::chrono::duration<Rep, Period> timeout) {
    check_not_writing("brigade: rw_mutex::try_lock_shared_for() by the thread that holds the write lock (it would wait for itself)");
    return detail::block_until_granted(reader_side{*this}, detail::seam::deadline_after(timeout));
  }
  template <class Clock, class Duration>
  [[nodiscard]] bool try_lock_shared_until(std::chrono::time_point<Clock, Duration> deadline) {
    return detail::block_until_granted(reader_side{*this}, detail::seam::deadline_at(deadline));
  }
  void unlock_shared() { release_shared(); }

  // ---- Tasks ----------------------------------------------------------------------------------
  /// co_await l.lock_async(): suspends the task until it holds the write lock; yields a guard.
  [[nodiscard("co_await it, and keep the guard")]] auto lock_async() noexcept {
    return detail::grant_awaiter<writer_side>(writer_side{*this});
  }
  /// co_await l.lock_shared_async(): suspends the task until it holds a read share; yields a guard.
  [[nodiscard("co_await it, and keep the guard")]] auto lock_shared_async() noexcept {
    return detail::grant_awaiter<reader_side>(reader_side{*this});
  }

  /// Snapshots, for diagnostics and tests.
  [[nodiscard]] bool is_write_locked() const noexcept {
    return (state_.load(detail::seam::memory_order::relaxed) & writer_bit) != 0;
  }
  [[nodiscard]] std::uint32_t readers() const noexcept {
    return state_.load(detail::seam::memory_order::relaxed) / reader;
  }

 private:
  // state_: writer_bit while a writer holds the lock; writers_waiting_bit / readers_waiting_bit
  // exactly while the respective wait list is not empty (changed only under list_mutex_); and the
  // number of readers inside, in units of `reader`.
  static constexpr std::uint32_t writer_bit = 1;
  static constexpr std::uint32_t writers_waiting_bit = 2;
  static constexpr std::uint32_t readers_waiting_bit = 4;
  static constexpr std::uint32_t reader = 8;
  static constexpr std::uint32_t readers_mask = ~std::uint32_t{reader - 1};
  static constexpr std::uintptr_t no_owner = 0;
  static constexpr std::uintptr_t guard_owner = 1;

  static std::uintptr_t thread_owner() noexcept {
    return reinterpret_cast<std::uintptr_t>(detail::this_party_identity());  // a fiber owns its locks
  }

  void check_not_writing(const char* message = "brigade: rw_mutex::lock() by the thread that already holds the write lock") const {
    if (owner_.load(detail::seam::memory_order::relaxed) == thread_owner()) throw usage_error(message);
  }
  bool lock_until(std::uint64_t deadline) {
    check_not_writing();
    if (!detail::block_until_granted(writer_side{*this}, deadline)) return false;
    owner_.store(thread_owner(), detail::seam::memory_order::relaxed);
    return true;
  }

  /// A reader may enter while no writer holds the lock or waits for it.
  static bool reader_may_enter(std::uint32_t state) noexcept {
    return (state & (writer_bit | writers_waiting_bit)) == 0;
  }
  /// A writer may enter while nobody is inside.
  static bool writer_may_enter(std::uint32_t state) noexcept {
    return (state & (writer_bit | readers_mask)) == 0;
  }

  static std::uint32_t plus_reader(std::uint32_t state) noexcept { return state + reader; }
  static std::uint32_t with_writer(std::uint32_t state) noexcept { return state | writer_bit; }

  // Acquire (in try_take): a reader pairs with the release of the last writer; a writer with the
  // last writer's and every reader's since.
  bool try_lock_shared_now() noexcept { return detail::try_take(state_, reader_may_enter, plus_reader); }
  bool try_lock_exclusive() noexcept { return detail::try_take(state_, writer_may_enter, with_writer); }

  void release_shared() {
    std::uint32_t state = state_.load(detail::seam::memory_order::relaxed);
    do {
      if ((state & readers_mask) == 0)
        throw usage_error("brigade: rw_mutex::unlock_shared() with no reader holding the lock");
      // Release: a writer that enters next sees what this reader wrote.
    } while (!state_.compare_exchange_weak(state, state - reader, detail::seam::memory_order::release,
                                           detail::seam::memory_order::relaxed));
    state -= reader;
    if ((state & readers_mask) == 0 && (state & writers_waiting_bit) != 0) hand_to_writer();
  }

  /// The last reader left while a writer waits: hand the lock to the longest-waiting writer.
  void hand_to_writer() noexcept {
    detail::waiter* next = nullptr;
    {
      std::lock_guard lock(list_mutex_);
      std::uint32_t state = state_.load(detail::seam::memory_order::relaxed);
      do {
        // Someone else got in first (a barging writer), or the writer withdrew: nothing to do.
        if (!writer_may_enter(state) || writers_.empty()) return;
      } while (!state_.compare_exchange_weak(
          state, writer_state_for_next(state), detail::seam::memory_order::acquire,
          detail::seam::memory_order::relaxed));
      next = writers_.pop_front();
    }
    next->wake();
  }
  /// Under list_mutex_, with a writer about to be popped: the state once it holds the lock.
  std::uint32_t writer_state_for_next(std::uint32_t state) const noexcept {
    std::uint32_t updated = state | writer_bit;
    // The writer leaves the list: is it the last one?
    if (writers_.has_one()) updated &= ~writers_waiting_bit;
    return updated;
  }

  void release_exclusive() noexcept {
    std::uint32_t expected = writer_bit;
    // Release: pairs with the acquire of whoever enters next.
    if (state_.compare_exchange_strong(expected, 0, detail::seam::memory_order::release,
                                       detail::seam::memory_order::relaxed))
      return;
    detail::waiter* to_wake = nullptr;
    {
      std::lock_guard lock(list_mutex_);
      // While the writer holds the lock, nobody else changes state_ outside list_mutex_.
      const std::uint32_t state = state_.load(detail::seam::memory_order::relaxed);
      if (!readers_.empty()) {
        to_wake = let_readers_in();
      } else if (!writers_.empty()) {
        state_.store(writer_state_for_next(state), detail::seam::memory_order::relaxed);
        to_wake = writers_.pop_front();
        to_wake->next = nullptr;
      } else {
        state_.store(state & ~writer_bit, detail::seam::memory_order::release);
      }
    }
    detail::wait_list::wake_all(to_wake);
  }

  /// Under list_mutex_, by the writer that is leaving (writer_bit is its own: no other writer can
  /// enter meanwhile): lets every queued reader in (clearing writer_bit) and returns them,
  /// chained, for waking after the lock is released.
  detail::waiter* let_readers_in() noexcept {
    detail::waiter* first = readers_.take_all();
    std::uint32_t admitted = 0;
    for (detail::waiter* w = first; w != nullptr; w = w->next) ++admitted;
    // Readers already inside may leave meanwhile (outside list_mutex_): a compare-exchange loop.
    // Release: the admitted readers see what the leaving writer wrote.
    std::uint32_t state = state_.load(detail::seam::memory_order::relaxed);
    while (!state_.compare_exchange_weak(
        state, (state & ~(writer_bit | readers_waiting_bit)) + admitted * reader,
        detail::seam::memory_order::release, detail::seam::memory_order::relaxed)) {
    }
    return first;
  }

  [[noreturn]] static void report_unlock_by_non_owner(std::uintptr_t owner) {
    if (owner == no_owner)
      throw usage_error("brigade: rw_mutex::unlock() of a lock that is not write-locked by a thread");
    if (owner == guard_owner)
      throw usage_error(
          "brigade: rw_mutex::unlock() by a thread, of a write lock that a task holds through its "
          "guard (the guard releases it)");
    throw usage_error("brigade: rw_mutex::unlock() by a thread that does not hold the write lock");
  }

  struct read_release {
    static void release(rw_mutex& held) noexcept { reader_side{held}.give_back(); }
  };
  struct write_release {
    static void release(rw_mutex& held) noexcept {
      held.owner_.store(no_owner, detail::seam::memory_order::relaxed);
      held.release_exclusive();
    }
  };

  // The grant protocol of detail/grant_wait.hpp, once for readers and once for writers.
  struct reader_side {
    rw_mutex& owner;
    static const char* off_runtime_message() noexcept {
      return "brigade: rw_mutex::lock_shared_async() awaited outside a runtime (use lock_shared)";
    }
    bool try_grant() noexcept { return owner.try_lock_shared_now(); }
    template <class Registration>
    detail::park_result enqueue(detail::waiter& entry, Registration& registration) {
      std::lock_guard lock(owner.list_mutex_);
      return detail::take_or_park(owner.state_, readers_waiting_bit, reader_may_enter, plus_reader, owner.readers_,
                                  entry, registration);
    }
    detail::cancel_target& cancel_target() noexcept { return owner.reader_cancel_target_; }
    bool withdraw(detail::waiter& entry) noexcept {
      std::lock_guard lock(owner.list_mutex_);
      return detail::unlink_and_clear(owner.readers_, entry, owner.state_, readers_waiting_bit);
    }
    void give_back() noexcept {
      try {
        owner.release_shared();
      } catch (...) {  // cannot fail: the share was counted when it was handed out
      }
    }
    read_guard granted() noexcept;
  };

  struct writer_side {
    rw_mutex& owner;
    static const char* off_runtime_message() noexcept {
      return "brigade: rw_mutex::lock_async() awaited outside a runtime (use lock)";
    }
    bool try_grant() noexcept { return owner.try_lock_exclusive(); }
    template <class Registration>
    detail::park_result enqueue(detail::waiter& entry, Registration& registration) {
      std::lock_guard lock(owner.list_mutex_);
      return detail::take_or_park(owner.state_, writers_waiting_bit, writer_may_enter, with_writer, owner.writers_,
                                  entry, registration);
    }
    bool withdraw(detail::waiter& entry) noexcept {
      detail::waiter* readers_to_wake = nullptr;
      {
        std::lock_guard lock(owner.list_mutex_);
        if (!owner.writers_.unlink(entry)) return false;
        readers_to_wake = after_writer_left(owner);
      }
      detail::wait_list::wake_all(readers_to_wake);
      return true;
    }
    detail::cancel_target& cancel_target() noexcept { return owner.writer_cancel_target_; }
    void give_back() noexcept { owner.release_exclusive(); }
    write_guard granted() noexcept;
  };

  /// Under list_mutex_, after a waiting writer left the queue (timed out, withdrawn by a stop
  /// request): if it was the last, clears the bit and lets in the readers that queued only behind
  /// it; returns them for waking after the lock is released.
  /// Once the bit is clear a writer may take the lock through the fast path at any moment (no
  /// reader inside, none waiting counts for writer_may_enter), so the readers go in only through
  /// a compare-exchange that finds no writer inside; if one got in first, they stay queued, and
  /// that writer's unlock (readers_waiting_bit is still set) lets them in. (The cancel-safety
  /// stress test found a reader and a writer inside together when this cleared writer_bit.)
  static detail::waiter* after_writer_left(rw_mutex& owner) noexcept {
    if (!owner.writers_.empty()) return nullptr;
    owner.state_.fetch_and(~writers_waiting_bit, detail::seam::memory_order::relaxed);
    if (owner.readers_.empty()) return nullptr;
    std::uint32_t admitted = 0;
    for (const detail::waiter* w = owner.readers_.front(); w != nullptr; w = w->next) ++admitted;
    std::uint32_t state = owner.state_.load(detail::seam::memory_order::relaxed);
    do {
      if ((state & writer_bit) != 0) return nullptr;  // a writer got in first: its unlock lets them in
      // Acq_rel: the readers see what the last writer wrote (acquire), and a writer that enters
      // after them sees their entry (release).
    } while (!owner.state_.compare_exchange_weak(state, (state & ~readers_waiting_bit) + admitted * reader,
                                                 detail::seam::memory_order::acq_rel,
                                                 detail::seam::memory_order::relaxed));
    return owner.readers_.take_all();
  }
  /// Under list_mutex_, after a stop request withdrew a waiting reader.
  static detail::waiter* after_reader_left(rw_mutex& owner) noexcept {
    detail::clear_waiting_if_empty(owner.readers_, owner.state_, readers_waiting_bit);
    return nullptr;
  }

  detail::seam::atomic<std::uint32_t> state_{0};
  detail::seam::atomic<std::uintptr_t> owner_{no_owner};  // the writing thread, or guard_owner
  detail::seam::mutex list_mutex_;
  detail::wait_list readers_;  // guarded by list_mutex_
  detail::wait_list writers_;  // guarded by list_mutex_
  detail::cancel_target reader_cancel_target_{
      &detail::cancel_from_list<rw_mutex, &rw_mutex::list_mutex_, &rw_mutex::readers_, &rw_mutex::after_reader_left>,
      this};
  detail::cancel_target writer_cancel_target_{
      &detail::cancel_from_list<rw_mutex, &rw_mutex::list_mutex_, &rw_mutex::writers_, &rw_mutex::after_writer_left>,
      this};
};

/// A read share of a brigade::rw_mutex taken by a task; released when destroyed or by unlock().
class rw_mutex::read_guard : public detail::held_grant<rw_mutex, rw_mutex::read_release> {
 private:
  friend class rw_mutex;
  explicit read_guard(rw_mutex& held) noexcept : held_grant(held) {}
};

/// The write lock of a brigade::rw_mutex taken by a task; released when destroyed or by unlock().
class rw_mutex::write_guard : public detail::held_grant<rw_mutex, rw_mutex::write_release> {
 private:
  friend class rw_mutex;
  explicit write_guard(rw_mutex& held) noexcept : held_grant(held) {
    held.owner_.store(guard_owner, detail::seam::memory_order::relaxed);
  }
};

inline rw_mutex::read_guard rw_mutex::reader_side::granted() noexcept { return read_guard(owner); }
inline rw_mutex::write_guard rw_mutex::writer_side::granted() noexcept { return write_guard(owner); }

}  // namespace brigade
