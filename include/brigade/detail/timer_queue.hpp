// brigade/detail/timer_queue.hpp: the timers of one runtime (internal): a timer wheel under a
// spin lock, the entries that tasks park in it, and how the worker that holds the reactor's
// driver learns when to wake up.
//
// A timer_entry names a waiter (a task's coroutine_waiter, or the stop trigger of a timeout);
// when its deadline passes, the driver's holder takes it out of the wheel (take_due) and wakes
// the waiter with timer_fired_outcome. A stop request withdraws a parked entry through its
// cancel_target (the protocol of detail/cancellable_wait.hpp; the "list" is the wheel, and the
// entry is still parked exactly while it is in the wheel). Exactly one of the two takes the entry
// out, under the lock, so the waiter is woken once.
//
// Ticks: 100 µs, counted from the queue's origin; a deadline is rounded up to the next tick, so
// a timer never fires early and at most one tick late (plus the wake-up). (1 ms ticks, Tokio's,
// made a sleep half a millisecond late on average: the median lateness of 100k sleeps was
// 0.59 ms against Asio's 0.03 ms. The wheel's range at 100 µs is about 14 years; a longer deadline
// is cascaded down from the top level until due.)
//
// Who watches the deadlines: the worker that holds the driver sleeps until the earliest tick it
// knows of (watch_until). A timer inserted earlier than that (or while nobody watches, value 0)
// asks for attention: park() returns earlier_than_watched, and the caller, after the lock,
// calls the queue's `attention` function (the scheduler wakes the driver's holder through its
// eventfd, or a parked worker to take the driver). Busy workers and the liveness monitor read
// earliest_tick() without the lock to notice due timers when nobody sleeps in the driver.
//
// Thread safety: every member may be called from any thread (the lock is inside).
// Complexity: insert and withdraw O(1); take_due amortised O(1) per entry and level.
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <mutex>

#include "brigade/detail/cancellable_wait.hpp"
#include "brigade/detail/seam.hpp"
#include "brigade/detail/spin_lock.hpp"
#include "brigade/detail/timer_wheel.hpp"
#include "brigade/runtime/waiter.hpp"

namespace brigade::detail {

/// Nanoseconds on seam::now_nanoseconds()'s clock (CLOCK_MONOTONIC, steady_clock's on Linux)
/// `duration` from now, saturating instead of overflowing.
template <class Rep, class Period>
std::uint64_t deadline_after(std::chrono::duration<Rep, Period> duration) noexcept {
  const std::uint64_t now = seam::now_nanoseconds();
  if (duration <= duration.zero()) return now;
  const auto limit = std::chrono::nanoseconds::max();
  if (std::chrono::duration<double, std::nano>(duration).count() >= static_cast<double>(limit.count()))
    return ~std::uint64_t{0};
  const auto nanoseconds = static_cast<std::uint64_t>(std::chrono::ceil<std::chrono::nanoseconds>(duration).count());
  return nanoseconds > ~std::uint64_t{0} - now ? ~std::uint64_t{0} : now + nanoseconds;
}
template <class Duration>
std::uint64_t deadline_at(std::chrono::time_point<std::chrono::steady_clock, Duration> when) noexcept {
  const auto since_epoch = std::chrono::ceil<std::chrono::nanoseconds>(when.time_since_epoch()).count();
  return since_epoch <= 0 ? 0 : static_cast<std::uint64_t>(since_epoch);
}

/// The outcome of a waiter whose timer's deadline passed.
inline constexpr std::uint32_t timer_fired_outcome = 0x71AE0001u;
/// The outcome of a waiter whose timer queue was destroyed first (its runtime is gone).
inline constexpr std::uint32_t timer_abandoned_outcome = 0x71AE0002u;

class timer_queue;

/// One timer: the waiter to wake at its deadline. Lives in the waiting task's frame (the
/// awaiter) or the waiting thread's stack; destroyed only after it left the wheel.
struct timer_entry : timer_node {
  /// `queue` is set before the entry's cancel target can be named to a canceller, which may
  /// come before park() (and must then take the queue's lock to meet it).
  timer_entry(waiter& due, timer_queue& queue) noexcept : due_(&due), queue_(&queue) {}
  timer_entry(const timer_entry&) = delete;
  timer_entry& operator=(const timer_entry&) = delete;
  ~timer_entry() { retire_cancel_targets(); }

  waiter* due_;
  timer_queue* queue_;
  cancel_target cancel_target_{&cancel, this};

 private:
  static void cancel(cancel_target& self, const root_stop_state* slot_owner, waiter* const* registered) noexcept;
};

class timer_queue {
 public:
  static constexpr std::uint64_t nanoseconds_per_tick = 100'000;
  static constexpr std::uint64_t no_tick = std::numeric_limits<std::uint64_t>::max();
  using attention_function = void (*)(void* context) noexcept;

  timer_queue(attention_function attention, void* context) noexcept
      : origin_(seam::now_nanoseconds()), attention_(attention), attention_context_(context) {}
  timer_queue(const timer_queue&) = delete;
  timer_queue& operator=(const timer_queue&) = delete;
  /// Only timers that own themselves (time/after.hpp) can still be parked here: a task's sleep
  /// leaves the wheel when its frame is destroyed, which a runtime's shutdown does first. They
  /// are woken with timer_abandoned_outcome, and free themselves.
  ~timer_queue() {
    timer_node* left = wheel_.advance(~std::uint64_t{0});
    while (left != nullptr) {
      auto* entry = static_cast<timer_entry*>(left);
      left = left->next;
      entry->due_->outcome = timer_abandoned_outcome;
      entry->due_->wake();
    }
  }

  /// The first tick at or after `nanoseconds` (seam::now_nanoseconds()'s clock).
  std::uint64_t tick_at_or_after(std::uint64_t nanoseconds) const noexcept {
    if (nanoseconds <= origin_) return 0;
    const std::uint64_t since = nanoseconds - origin_;
    return since / nanoseconds_per_tick + (since % nanoseconds_per_tick != 0 ? 1 : 0);
  }
  /// The last tick that has begun at `nanoseconds`.
  std::uint64_t tick_at(std::uint64_t nanoseconds) const noexcept {
    return nanoseconds <= origin_ ? 0 : (nanoseconds - origin_) / nanoseconds_per_tick;
  }
  /// When `tick` begins, on seam::now_nanoseconds()'s clock.
  std::uint64_t nanoseconds_at(std::uint64_t tick) const noexcept {
    if (tick >= (no_tick - origin_) / nanoseconds_per_tick) return no_tick;
    return origin_ + tick * nanoseconds_per_tick;
  }

  /// Parks `entry` until `deadline_nanoseconds`, unless it is due already (not_needed) or the
  /// registration says a stop was requested (cancelled). Registration: park_registration or
  /// thread_stop_registration (cancellable_wait.hpp). May call the attention function (after
  /// the lock).
  template <class Registration>
  park_result park(timer_entry& entry, std::uint64_t deadline_nanoseconds, Registration& registration) noexcept {
    bool needs_attention = false;
    {
      std::lock_guard lock(lock_);
      entry.deadline = tick_at_or_after(deadline_nanoseconds);
      if (entry.deadline <= wheel_.elapsed() && seam::now_nanoseconds() >= deadline_nanoseconds)
        return park_result::not_needed;
      if (!registration.bind_unless_stopped(*entry.due_)) return park_result::cancelled;
      // A deadline in a tick the wheel has passed already (it advanced to a later tick than the
      // clock rounds to: the clock is read before the lock) fires at the next advance.
      if (entry.deadline <= wheel_.elapsed()) entry.deadline = wheel_.elapsed() + 1;
      wheel_.insert(entry);
      // The tick the wheel wants an advance for: the deadline, or sooner, when the entry's slot
      // is to be moved down ahead of time (timer_wheel.hpp, "Staging"). Never before the next
      // tick: when the driver is told about that one already (many timers), nothing to do.
      const std::uint64_t soonest = wheel_.elapsed() + 1;
      const std::uint64_t earliest = earliest_tick_.load(seam::memory_order::relaxed);
      if (earliest > soonest || watched_until_ == 0 || watched_until_ > soonest) {
        const std::uint64_t wakeup = wheel_.wakeup_of(entry);
        if (wakeup < earliest) earliest_tick_.store(wakeup, seam::memory_order::relaxed);
        if (watched_until_ == 0 || wakeup < watched_until_) {
          watched_until_ = wakeup;
          needs_attention = true;
        }
      }
    }
    if (needs_attention) attention_(attention_context_);
    return park_result::parked;
  }

  /// Takes `entry` out of the wheel if it is still there (a waiter that gives up, or is
  /// destroyed while parked). Returns whether it was there: false means it fired (its waiter is
  /// woken, or being woken).
  bool withdraw(timer_entry& entry) noexcept {
    std::lock_guard lock(lock_);
    return wheel_.remove(entry);
  }

  /// The earliest tick with something to do (a deadline, or a cascade), or no_tick. Without the
  /// lock: a hint for the workers' and the monitor's look.
  std::uint64_t earliest_tick() const noexcept { return earliest_tick_.load(seam::memory_order::relaxed); }
  /// Whether a timer may be due at `now_nanoseconds` (no lock).
  bool maybe_due(std::uint64_t now_nanoseconds) const noexcept {
    const std::uint64_t earliest = earliest_tick();
    return earliest != no_tick && tick_at(now_nanoseconds) >= earliest;
  }

  /// The driver's holder: takes every entry due at `now_nanoseconds` out of the wheel, marks
  /// their waiters fired, and returns the waiters chained through `next` (to wake after any lock
  /// of the caller's: wait_list::wake_all). Then, if `watch` (the holder is going to sleep),
  /// records that it watches until the earliest tick left and returns that tick's time in
  /// `sleep_until_nanoseconds` (no_tick: nothing scheduled); else records that nobody watches.
  waiter* take_due(std::uint64_t now_nanoseconds, bool watch, std::uint64_t& sleep_until_nanoseconds) noexcept {
    waiter* chain = nullptr;
    std::lock_guard lock(lock_);
    timer_node* due = wheel_.advance(tick_at(now_nanoseconds));
    while (due != nullptr) {
      auto* entry = static_cast<timer_entry*>(due);
      due = due->next;
      waiter* w = entry->due_;
      w->outcome = timer_fired_outcome;
      w->next = chain;
      chain = w;
    }
    const auto next = wheel_.next_wakeup();
    const std::uint64_t next_tick = next ? *next : no_tick;
    earliest_tick_.store(next_tick, seam::memory_order::relaxed);
    watched_until_ = watch ? next_tick : 0;
    sleep_until_nanoseconds = nanoseconds_at(next_tick);
    return chain;
  }

  /// The driver's holder leaves the driver: nobody watches the deadlines now, so the next
  /// insert asks for attention.
  void stop_watching() noexcept {
    std::lock_guard lock(lock_);
    watched_until_ = 0;
  }

  /// How many timers are parked (a snapshot).
  std::size_t size() const noexcept {
    std::lock_guard lock(lock_);
    return wheel_.size();
  }

 private:
  friend struct timer_entry;
  const std::uint64_t origin_;
  const attention_function attention_;
  void* const attention_context_;
  mutable spin_lock lock_;
  timer_wheel wheel_;                    // guarded by lock_
  std::uint64_t watched_until_ = 0;      // guarded by lock_: 0 nobody watches; else the tick
                                         // someone will wake at (or was told about)
  // Written under lock_, read without it (a hint): the wheel's next_wakeup, or no_tick.
  seam::atomic<std::uint64_t> earliest_tick_{no_tick};
};

inline void timer_entry::cancel(cancel_target& self, const root_stop_state* slot_owner,
                                waiter* const* registered) noexcept {
  auto& entry = self.owner<timer_entry>();
  waiter* withdrawn = nullptr;
  {
    timer_queue* queue = entry.queue_;
    std::lock_guard lock(queue->lock_);
    // Slot mode: the slot must still name this entry's waiter (else the wait is over). The entry
    // is alive either way (retire_cancel_targets in its destructor).
    waiter* meant = slot_owner != nullptr ? slot_owner->waiter_named_for(self) : *registered;
    if (meant != entry.due_ || !queue->wheel_.remove(entry)) return;
    withdrawn = entry.due_;
    withdrawn->outcome = cancelled_outcome;
  }
  withdrawn->wake();
}

class scheduler;
/// The timers of the runtime `sched` (src/runtime/scheduler.cpp).
timer_queue& timers_of(scheduler& sched) noexcept;
}  // namespace brigade::detail
namespace brigade {
class runtime;
}
namespace brigade::detail {
/// The timers of `rt` (src/runtime/runtime.cpp).
timer_queue& timers_of(runtime& rt) noexcept;

}  // namespace brigade::detail
