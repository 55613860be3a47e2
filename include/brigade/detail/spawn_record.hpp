// brigade/detail/spawn_record.hpp: the state shared by a spawned unit of work (a root task or a
// blocking job) and its join_handle: the result, the cancellation scope, and the join protocol.
//
// The protocol, on one atomic word (`state_`): three flags in the low bits, and the joiner's
// address in the others (a waiter is 8-byte aligned; the address is 0 until a joiner registers).
//   complete         set once by the task side after it stored the result (release: publishes
//                    the result; acquire: sees the joiner registered before).
//   joiner address   written once by the handle side with a fetch_or (release: publishes the
//                    waiter).
//   handle_released  set once when the join_handle is destroyed or detached.
//   unregistered     set once the record is off the runtime's registry of live roots (at once
//                    for a blocking job, which is never registered).
// Three parties share the record: the task side, the handle side and the registry. Each sets its
// bit (complete, handle_released, unregistered) with one fetch_or, touches the record no more
// after it, and whoever's fetch_or completes the three destroys the record.
//   1. Task side finishes: prev = fetch_or(complete, plus unregistered when it also took the
//      record off the registry). If that completes the three, destroy; else if prev holds a
//      joiner's address, wake that joiner.
//   2. Handle side joins: if complete is set, take the result. Else
//      prev = fetch_or(joiner address); if prev has complete, the task finished
//      meanwhile and saw no joiner, so take the result now; otherwise wait to be woken.
//   3. Handle side releases: if complete and unregistered are both set already (the usual case
//      after a join), the other two parties are done: destroy without a locked instruction.
//      Else fetch_or(handle_released), and destroy if that completes the three.
//   4. Registry side, when it unregisters later than the task finished (the task finished on
//      another worker than the one whose list holds it): fetch_or(unregistered), destroy if that
//      completes the three.
// Correctness: fetch_or's on one word are totally ordered, so exactly one of them sees the other
// two bits and destroys; and the joiner is woken exactly once, or not needed, since exactly one
// of the fetch_or's of steps 1 and 2 sees the other's bit.
//
// A failure nobody observes (the task threw, and its handle was dropped without joining) is
// reported to the runtime's unobserved-failure handler rather than lost (asyncio's "Task
// exception was never retrieved").
//
// Invariants:
//   - registry_index_ is the record's entry in the registry table named by registry_owner_
//     (src/runtime/root_registry.hpp): a worker's table is touched only by that worker, the
//     outsiders' table under its lock.
//   - frame_or_remote_next_ is the root coroutine while it lives (frame()); only the task side
//     touches it. Once the task has finished, the same word links the record into a worker's
//     remote-removal stack (remote_next()).
//   - A record does not know its runtime. Whoever sets the bit that completes the three passes
//     the runtime's serial number (the task side and the registry are the runtime's; the handle
//     keeps it), so that a failure nobody observed reaches that runtime's handler, or standard
//     error once the runtime is gone: a serial, not an address, since a handle may outlive its
//     runtime.
//   - A root_record<void> is 64 bytes, one block of the frame pool (a static_assert below): the
//     spawn+join benchmark writes a million of them per iteration, and a 80-byte record, which
//     shares cache lines with its neighbours, made it 2-3 times slower (docs/benchmarks.md).
#pragma once

#include <coroutine>
#include <cstdint>
#include <exception>
#include <type_traits>

#include "brigade/detail/cancellable_wait.hpp"
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
/// Passes a failure nobody observed to the handler of the runtime with serial number
/// `runtime_serial`, or prints it if that runtime is gone.
void report_unobserved_failure(std::uint32_t runtime_serial, const std::exception_ptr& error) noexcept;
/// The live runtime with serial number `runtime_serial`, or nullptr once it is destroyed.
scheduler* scheduler_by_serial(std::uint32_t runtime_serial) noexcept;
/// Schedules a root's first step (it joins the registry when it starts); throws
/// runtime_shut_down once the runtime is shutting down.
void submit_root(scheduler& sched, join_state& record);
/// submit_root on the runtime whose worker runs the calling thread, found with one look at the
/// thread's worker; returns that runtime's serial number. Throws usage_error off a worker
/// (naming `operation`, as in "spawn called outside a runtime's worker thread"), and
/// runtime_shut_down as submit_root. brigade::spawn's path: no runtime lookup of its own.
std::uint32_t submit_root_on_this_worker(join_state& record, const char* operation);
/// Throws usage_error: "brigade: <operation> called outside a runtime's worker thread; use
/// runtime::<operation>" (the free spawn and spawn_blocking).
[[noreturn]] void throw_outside_runtime(const char* operation);
/// A root task finished and its result is stored: takes it off the registry and publishes it
/// (protocol step 1). Runs on the worker where the task finished.
void finish_root(join_state& record) noexcept;

/// A join_state reaches its two type-dependent operations through the one hook every record has
/// anyway, task_completion::on_complete (which a spawned task's promise calls when it finishes),
/// called with one of these in place of a finished promise. One function pointer per record
/// instead of two keeps a record in a 64-byte block.
struct record_request : promise_base {
  enum class kind : unsigned char {
    destroy,  // report a failure nobody observed (to the runtime with this serial), then free
    cancel,   // complete with task_cancelled without running the work (shutdown)
  };
  constexpr record_request(kind requested, std::uint32_t serial) noexcept
      : what(requested), runtime_serial(serial) {
    mark_as_record_request();
  }
  kind what;
  std::uint32_t runtime_serial;
};
/// The common destroy request: free a record whose failure, if any, was observed (no report, so
/// no serial needed). Recognised by its address, before any load.
inline constinit record_request free_record_request{record_request::kind::destroy, 0};

struct join_state : task_completion {
  static constexpr std::uintptr_t complete = 1;
  static constexpr std::uintptr_t handle_released = 2;
  static constexpr std::uintptr_t unregistered = 4;
  static constexpr std::uintptr_t flag_bits = 7;
  static constexpr std::uintptr_t all_done = complete | handle_released | unregistered;
  /// registry_owner_ of a record in the list of roots started outside the workers.
  static constexpr std::uint16_t outsider_list = 0xFFFF;

  /// `hook` finishes the task (for a root) and performs the record_requests.
  explicit join_state(task_completion::function hook) noexcept : task_completion{hook} {}
  join_state(const join_state&) = delete;
  join_state& operator=(const join_state&) = delete;

  /// Step 1 of the protocol. Call after the result is stored; `bits` is complete, or
  /// complete | unregistered when the record is not (or no longer) in the registry.
  void finish(std::uint32_t runtime_serial, std::uintptr_t bits = complete | unregistered) noexcept {
    const std::uintptr_t prev = state_.fetch_or(bits, seam::memory_order::acq_rel);
    if (((prev | bits) & all_done) == all_done)
      destroy_unobserved(runtime_serial);
    else if (auto* joiner = reinterpret_cast<waiter*>(prev & ~flag_bits))
      joiner->wake();
  }

  /// Step 2. Returns true when the result is ready now; false when `joiner` will be woken.
  bool register_joiner(waiter& joiner) noexcept {
    if (is_complete()) return true;
    static_assert(alignof(waiter) > flag_bits, "the joiner's address shares a word with the flags");
    const std::uintptr_t prev =
        state_.fetch_or(reinterpret_cast<std::uintptr_t>(&joiner), seam::memory_order::acq_rel);
    return (prev & complete) != 0;
  }

  /// What withdraw_joiner found.
  enum class withdrawal : unsigned char { withdrawn, complete, not_registered };
  /// A stop request of the joiner's scope takes `joiner` back out of the join word, so that the
  /// task side will not wake it (withdrawn), unless the task finished first (complete: the task
  /// side wakes it, or woke it).
  withdrawal withdraw_joiner(const waiter& joiner) noexcept {
    const auto address = reinterpret_cast<std::uintptr_t>(&joiner);
    std::uintptr_t state = state_.load(seam::memory_order::acquire);
    while (true) {
      if ((state & complete) != 0) return withdrawal::complete;
      if ((state & ~flag_bits) != address) return withdrawal::not_registered;
      // Acq_rel: pairs with register_joiner and with finish's fetch_or (whichever comes first
      // in the word's order decides who wakes the joiner).
      if (state_.compare_exchange_weak(state, state & flag_bits, seam::memory_order::acq_rel,
                                       seam::memory_order::acquire))
        return withdrawal::withdrawn;
    }
  }

  /// Step 3.
  void release_handle(std::uint32_t runtime_serial) noexcept {
    // Acquire: pairs with the other parties' last fetch_or, so their accesses come before ours.
    if ((state_.load(seam::memory_order::acquire) & (complete | unregistered)) ==
        (complete | unregistered))
      return destroy_unobserved(runtime_serial);
    set_and_maybe_destroy(handle_released, runtime_serial);
  }

  /// Step 4.
  void mark_unregistered(std::uint32_t runtime_serial) noexcept {
    set_and_maybe_destroy(unregistered, runtime_serial);
  }

  bool is_complete() const noexcept {
    // Acquire: pairs with finish(), so the result is visible.
    return (state_.load(seam::memory_order::acquire) & complete) != 0;
  }

  /// Completes the record with task_cancelled without running the work (shutdown). The record
  /// must be off the registry.
  void cancel(std::uint32_t runtime_serial) noexcept {
    record_request request(record_request::kind::cancel, runtime_serial);
    on_complete(this, request);
  }

  /// The root coroutine, while the task has not finished.
  std::coroutine_handle<> frame() const noexcept {
    return std::coroutine_handle<>::from_address(frame_or_remote_next_);
  }
  void set_frame(std::coroutine_handle<> frame) noexcept { frame_or_remote_next_ = frame.address(); }
  /// The next record in a remote-removal stack, once the task has finished.
  join_state* remote_next() const noexcept { return static_cast<join_state*>(frame_or_remote_next_); }
  void set_remote_next(join_state* next) noexcept { frame_or_remote_next_ = next; }

  // Shared: the join word (flags and the joiner's address).
  seam::atomic<std::uintptr_t> state_{0};
  // The cancellation scope of the spawned work: abort() requests it.
  root_stop_state stop_;

 private:
  // Task side: the root frame. After the task finished: the remote-removal link.
  void* frame_or_remote_next_ = nullptr;

 public:
  // Handle side only: the result was taken, so a failure was seen.
  bool observed_ = false;
  bool failed_ = false;
  // The registry's: which table holds the record (a worker's index, or outsider_list), and where.
  std::uint16_t registry_owner_ = 0;
  std::uint32_t registry_index_ = 0;

 private:
  void set_and_maybe_destroy(std::uintptr_t bit, std::uint32_t runtime_serial) noexcept {
    const std::uintptr_t prev = state_.fetch_or(bit, seam::memory_order::acq_rel);
    if (((prev | bit) & all_done) == all_done) destroy_unobserved(runtime_serial);
  }
  // The derived record reports a failure that was never observed, then frees itself. The
  // flags were written before their writers' fetch_or, which this party's fetch_or (or acquire
  // load) follows.
  void destroy_unobserved(std::uint32_t runtime_serial) noexcept {
    if (failed_ && !observed_) [[unlikely]] {
      record_request request(record_request::kind::destroy, runtime_serial);
      on_complete(this, request);
      return;
    }
    on_complete(this, free_record_request);
  }
};

/// How a stop request reaches a task or thread waiting in a join (join_handle's co_await and
/// join(std::stop_token)): through a callback registration, whose cancel function withdraws the
/// joiner from the join word and wakes it. The join word has no lock to park under, so the
/// joiner checks for a stop before it registers (and then says it gave up), and a canceller that
/// finds no joiner registered yet waits for it to register, give up, or see the task complete:
/// the joiner is between its callback registration and its fetch_or, a few instructions away.
struct join_cancellation {
  explicit join_cancellation(join_state& record) noexcept : record_(&record) {}
  join_cancellation(const join_cancellation&) = delete;
  join_cancellation& operator=(const join_cancellation&) = delete;

  cancel_target& target() noexcept { return target_; }
  /// The joiner saw the stop request before registering: it will not register.
  void give_up() noexcept { gave_up_.store(true, seam::memory_order::release); }

 private:
  static void withdraw(cancel_target& self, const root_stop_state*, waiter* const* registered) noexcept {
    join_cancellation& me = self.owner<join_cancellation>();
    waiter* joiner = *registered;
    while (true) {
      switch (me.record_->withdraw_joiner(*joiner)) {
        case join_state::withdrawal::withdrawn:
          joiner->outcome = cancelled_outcome;
          joiner->wake();
          return;
        case join_state::withdrawal::complete:
          return;
        case join_state::withdrawal::not_registered:
          if (me.gave_up_.load(seam::memory_order::acquire)) return;
          seam::spin_pause();
          break;
      }
    }
  }

  join_state* record_;
  seam::atomic<bool> gave_up_{false};
  cancel_target target_{&withdraw, this};
};
// join_handle's awaiter constructs one in a union and never destroys it.
static_assert(std::is_trivially_destructible_v<join_cancellation>);

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
  static void destroy(Record* record, std::uint32_t runtime_serial) noexcept {
    if (record->failed_ && !record->observed_)
      report_unobserved_failure(runtime_serial, record->result_.error());
    delete record;
  }
  void store_cancelled(const char* why) noexcept {
    result_.set_error(std::make_exception_ptr(task_cancelled(why)));
  }
};

/// The record of a spawned task (a root). The task's frame is freed as soon as it finishes; the
/// record lives on until the handle is released too.
template <class T>
struct root_record final : spawn_record<T>, pool_allocated {
  root_record() noexcept : spawn_record<T>(&complete_root) {}

  /// A record for `work` (valid, not started): the task completes into it and runs in its
  /// cancellation scope. The task's frame belongs to the record from here on. Throws
  /// std::bad_alloc (the task is then left as it was).
  static root_record* adopt(task<T>& work) {
    auto* record = new root_record();
    auto frame = work.release();
    auto& promise = frame.promise();
    promise.set_completion(record);
    promise.set_root_scope(&record->stop_);
    record->set_frame(frame);
    return record;
  }

  /// Undoes adopt() for a record whose task never ran (submission failed): frees both.
  static void discard_unstarted(root_record* record) noexcept {
    record->frame().destroy();
    delete record;
  }

  /// The root task finished: move its result here, free its frame, publish. Also the two
  /// requests of join_state. Each case is a tail call, so that this dispatch saves no registers
  /// (it runs twice per spawned task: when the task finishes and when the record is freed).
  static std::coroutine_handle<> complete_root(task_completion* self,
                                               promise_base& finished) noexcept {
    auto* record = static_cast<root_record*>(static_cast<join_state*>(self));
    if (&finished == &free_record_request) return free_record(record);
    if (finished.is_record_request()) [[unlikely]]
      return perform(record, static_cast<const record_request&>(finished));
    return finish_task(record, static_cast<task_promise<T>&>(finished));
  }

 private:
  [[gnu::noinline]] static std::coroutine_handle<> free_record(root_record* record) noexcept {
    delete record;
    return std::noop_coroutine();
  }
  [[gnu::noinline]] static std::coroutine_handle<> perform(root_record* record,
                                                           const record_request& request) noexcept {
    if (request.what == record_request::kind::destroy) {
      spawn_record<T>::destroy(record, request.runtime_serial);
      return std::noop_coroutine();
    }
    if (record->frame()) {
      record->frame().destroy();
      record->set_frame(nullptr);
    }
    record->store_cancelled("brigade: task cancelled by runtime shutdown");
    record->finish(request.runtime_serial);
    return std::noop_coroutine();
  }

  [[gnu::noinline]] static std::coroutine_handle<> finish_task(root_record* record,
                                                               task_promise<T>& promise) noexcept {
    try {
      promise.result_.move_into(record->result_);
    } catch (...) {
      record->result_.set_error(std::current_exception());
    }
    record->failed_ = record->result_.has_error() && !is_cancellation(record->result_.error());
    std::coroutine_handle<task_promise<T>>::from_promise(promise).destroy();
    record->set_frame(nullptr);
    finish_root(*record);
    return std::noop_coroutine();
  }
};

static_assert(sizeof(root_record<void>) <= 64, "a spawned task's record is one 64-byte pool block (see Invariants)");

}  // namespace brigade::detail
