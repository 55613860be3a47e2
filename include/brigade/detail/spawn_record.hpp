// brigade/detail/spawn_record.hpp: the state shared by a spawned unit of work (a root task or a
// blocking job) and its join_handle: the result, the cancellation scope, and the join protocol.
//
// The join protocol, on one atomic word (`state_`): three flags in the low bits, and the
// joiner's address in the others (a waiter is at least 8-byte aligned).
//   complete         set once by the task side after it stored the result (release: publishes
//                    the result; acquire: sees the joiner registered before).
//   joiner_set       set once by the handle side, in the same fetch_or that writes the joiner's
//                    address (release: publishes the waiter).
//   handle_released  set once when the join_handle is destroyed or detached.
//   1. Task side finishes: prev = fetch_or(complete). If prev has handle_released, nobody will
//      read the result: destroy the record. Else if prev has joiner_set, wake the joiner whose
//      address prev holds.
//   2. Handle side joins: if complete is set, take the result. Else
//      prev = fetch_or(joiner address | joiner_set); if prev has complete, the task finished
//      meanwhile and saw no joiner, so take the result now; otherwise wait to be woken.
//   3. Handle side releases: prev = fetch_or(handle_released); if prev has complete, destroy.
// Correctness: the two fetch_or's of steps 1 and 2 are ordered in the word's modification order,
// so exactly one of them sees the other's bit: the joiner is woken exactly once, or not needed.
// Likewise exactly one of steps 1 and 3 sees the other's bit and destroys the record.
//
// A failure nobody observes (the task threw, and its handle was dropped without joining) is
// reported to the runtime's unobserved-failure handler rather than lost (asyncio's "Task
// exception was never retrieved").
//
// Invariants:
//   - registry_prev_/registry_next_ are guarded by the lock of the registry shard named by
//     registry_shard_ (src/runtime/root_registry.hpp); a record is in the registry from
//     submission until its task finishes (or shutdown cancels it).
//   - frame_ is the root coroutine while it lives; only the task side touches it.
#pragma once

#include <coroutine>
#include <cstdint>
#include <exception>

#include "brigade/detail/frame_pool.hpp"
#include "brigade/detail/result_slot.hpp"
#include "brigade/detail/seam.hpp"
#include "brigade/runtime/errors.hpp"
#include "brigade/runtime/stop_token.hpp"
#include "brigade/runtime/task.hpp"
#include "brigade/runtime/waiter.hpp"

namespace brigade::detail {

class scheduler;
struct join_state;

/// Slow paths in src/runtime/.
void report_unobserved_failure(scheduler& sched, const std::exception_ptr& error) noexcept;
void unregister_root(scheduler& sched, join_state& record) noexcept;
/// Registers a root for shutdown and schedules its first step; throws runtime_shut_down.
void submit_root(scheduler& sched, join_state& record, std::coroutine_handle<> frame);

struct join_state {
  static constexpr std::uintptr_t complete = 1;
  static constexpr std::uintptr_t joiner_set = 2;
  static constexpr std::uintptr_t handle_released = 4;
  static constexpr std::uintptr_t flag_bits = 7;

  /// What the most derived record does for the two type-dependent operations.
  enum class action : unsigned char {
    destroy,  // report an unobserved failure, then free the record
    cancel,   // complete with task_cancelled without running the work (shutdown)
  };
  using record_function = void (*)(join_state*, action) noexcept;

  join_state(scheduler& owner, record_function operations) noexcept
      : sched_(&owner), operations_(operations) {}
  join_state(const join_state&) = delete;
  join_state& operator=(const join_state&) = delete;

  /// Step 1 of the protocol. Call after the result is stored.
  void finish() noexcept {
    const std::uintptr_t prev = state_.fetch_or(complete, seam::memory_order::acq_rel);
    if (prev & handle_released)
      destroy_unobserved();
    else if (prev & joiner_set)
      reinterpret_cast<waiter*>(prev & ~flag_bits)->wake();
  }

  /// Step 2. Returns true when the result is ready now; false when `joiner` will be woken.
  bool register_joiner(waiter& joiner) noexcept {
    if (is_complete()) return true;
    static_assert(alignof(waiter) > flag_bits, "the joiner's address shares a word with the flags");
    const std::uintptr_t prev = state_.fetch_or(
        reinterpret_cast<std::uintptr_t>(&joiner) | joiner_set, seam::memory_order::acq_rel);
    return (prev & complete) != 0;
  }

  /// Step 3.
  void release_handle() noexcept {
    const std::uintptr_t prev = state_.fetch_or(handle_released, seam::memory_order::acq_rel);
    if (prev & complete) destroy_unobserved();
  }

  bool is_complete() const noexcept {
    // Acquire: pairs with finish(), so the result is visible.
    return (state_.load(seam::memory_order::acquire) & complete) != 0;
  }

  /// Completes the record with task_cancelled without running the work (shutdown).
  void cancel() noexcept { operations_(this, action::cancel); }

  // Shared: the join word (flags and the joiner's address).
  seam::atomic<std::uintptr_t> state_{0};
  // The cancellation scope of the spawned work: abort() requests it.
  stop_state stop_;
  scheduler* const sched_;
  // Guarded by the lock of registry shard registry_shard_ (set once, when registered).
  join_state* registry_prev_ = nullptr;
  join_state* registry_next_ = nullptr;
  // Task side only.
  std::coroutine_handle<> frame_;
  // Handle side only: the result was taken, so a failure was seen.
  bool observed_ = false;
  bool failed_ = false;
  std::uint16_t registry_shard_ = 0;

 private:
  // The derived record reports a failure that was never observed, then frees itself.
  void destroy_unobserved() noexcept { operations_(this, action::destroy); }
  record_function operations_;
};

/// The join state plus the result of work producing T. join_handle<T> points here; the most
/// derived record (root_record, blocking_record) provides how to destroy and cancel it.
template <class T>
struct spawn_record : join_state {
  using join_state::join_state;
  result_slot<T> result_;

 protected:
  /// Reports a failure that nobody observed, then frees the record (`Record` is the most
  /// derived type, which owns the allocation).
  template <class Record>
  static void destroy(Record* record) noexcept {
    if (record->failed_ && !record->observed_)
      report_unobserved_failure(*record->sched_, record->result_.error());
    delete record;
  }
  void store_cancelled(const char* why) noexcept {
    result_.set_error(std::make_exception_ptr(task_cancelled(why)));
  }
};

/// The record of a spawned task (a root). The task's frame is freed as soon as it finishes; the
/// record lives on until the handle is released too.
template <class T>
struct root_record final : spawn_record<T>, task_completion, pool_allocated {
  explicit root_record(scheduler& owner) noexcept
      : spawn_record<T>(owner, &operate), task_completion{&complete_root} {}

  /// The root task finished: move its result here, free its frame, publish.
  static std::coroutine_handle<> complete_root(task_completion* self,
                                               promise_base& finished) noexcept {
    auto* record = static_cast<root_record*>(self);
    auto& promise = static_cast<task_promise<T>&>(finished);
    try {
      promise.result_.move_into(record->result_);
    } catch (...) {
      record->result_.set_error(std::current_exception());
    }
    record->failed_ = record->result_.has_error() && !is_cancellation(record->result_.error());
    unregister_root(*record->sched_, *record);
    std::coroutine_handle<task_promise<T>>::from_promise(promise).destroy();
    record->frame_ = nullptr;
    record->finish();
    return std::noop_coroutine();
  }

 private:
  static void operate(join_state* self, join_state::action what) noexcept {
    auto* record = static_cast<root_record*>(self);
    if (what == join_state::action::destroy) return spawn_record<T>::destroy(record);
    if (record->frame_) {
      record->frame_.destroy();
      record->frame_ = nullptr;
    }
    record->store_cancelled("brigade: task cancelled by runtime shutdown");
    record->finish();
  }
};

}  // namespace brigade::detail
