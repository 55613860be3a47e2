// brigade/runtime/join_handle.hpp: join_handle<T>, the owner's side of a spawned task or blocking
// job: wait for its result, detach it, or ask it to stop.
//
//   auto handle = rt.spawn(compute());           // or brigade::spawn(...) inside a task
//   int x = co_await handle;                     // in a coroutine: suspends, does not block
//   int y = other.join();                        // on a plain thread: blocks the thread
//
// Awaiting an rvalue (`co_await std::move(handle)`, or `co_await brigade::spawn(...)`) consumes
// the handle, as awaiting a Tokio JoinHandle does: the task's record is freed as soon as the
// result is taken, and the handle is empty afterwards.
//
// Joining yields the task's value, or rethrows its exception; task_cancelled if it was aborted,
// cancelled or destroyed by runtime shutdown before it finished.
// Detaching: destroying a handle (or detach()) lets the task run on unobserved, as in Tokio. If
// a detached task then fails, the error is passed to the runtime's unobserved-failure handler
// (runtime_options::on_unobserved_failure; by default it is printed to standard error), never
// silently lost.
// Abort: abort() requests cancellation (stop_token.hpp): a task that has not started does not
// run; a task parked in one of brigade's waits is woken at once and its wait throws
// task_cancelled; a running one sees the request at its next cancellation point.
// Cancellation of the joiner: co_await of a handle is a cancellation point of the *awaiting*
// task. A stop request of its scope while it waits ends the co_await with task_cancelled and
// leaves the joined task running (a spawned task is not a structured child; abort() it to stop
// it). The handle stays joinable (an rvalue await, which consumes the handle, detaches the task).
// join(std::stop_token) does the same for a thread.
//
// Misuse: joining twice, or joining / aborting an empty (moved-from, detached) handle, throws
// usage_error. join() on a worker thread of a runtime throws usage_error: it would block the
// worker (co_await the handle instead).
// Thread safety: a handle is owned by one place at a time (move-only). abort() and
// is_finished() may race with the task itself. Resumes on: an awaiting coroutine resumes on a
// worker of its own runtime.
#pragma once

#include <optional>
#include <stop_token>
#include <utility>

#include "brigade/detail/cancellable_wait.hpp"
#include "brigade/detail/scheduler_hooks.hpp"
#include "brigade/detail/spawn_record.hpp"
#include "brigade/runtime/errors.hpp"
#include "brigade/runtime/task.hpp"
#include "brigade/runtime/waiter.hpp"

namespace brigade {

template <class T>
class [[nodiscard("dropping a join_handle detaches the task")]] join_handle {
 public:
  using value_type = T;

  join_handle() noexcept = default;
  /// The handle of `record`, spawned on the runtime with serial number `runtime_serial`.
  join_handle(detail::spawn_record<T>* record, std::uint32_t runtime_serial) noexcept
      : record_(record), runtime_serial_(runtime_serial) {}
  join_handle(join_handle&& other) noexcept
      : record_(std::exchange(other.record_, nullptr)),
        runtime_serial_(other.runtime_serial_),
        joined_(std::exchange(other.joined_, false)) {}
  join_handle& operator=(join_handle&& other) noexcept {
    if (this != &other) {
      release();
      record_ = std::exchange(other.record_, nullptr);
      runtime_serial_ = other.runtime_serial_;
      joined_ = std::exchange(other.joined_, false);
    }
    return *this;
  }
  join_handle(const join_handle&) = delete;
  join_handle& operator=(const join_handle&) = delete;
  ~join_handle() { release(); }

  /// False once moved from or detached.
  [[nodiscard]] bool valid() const noexcept { return record_ != nullptr; }

  /// True once the task has finished (its result, error or cancellation is ready).
  [[nodiscard]] bool is_finished() const noexcept {
    return record_ != nullptr && record_->is_complete();
  }

  /// Asks the task to stop (cooperative). Idempotent.
  void abort() {
    check_usable("abort");
    record_->stop_.request_stop();
  }

  /// Lets the task run on without a handle.
  void detach() noexcept { release(); }

  /// Blocks the calling thread until the task finishes; returns its value or rethrows. With a
  /// token, a stop request while it waits throws task_cancelled (the task runs on; the handle
  /// stays joinable).
  T join(std::stop_token token = {}) {
    check_joinable("join");
    if (detail::blocking_would_stall_a_worker()) {
      joined_ = false;
      throw usage_error(
          "brigade: join_handle::join() would block a worker thread of a runtime; "
          "use co_await on the handle inside a task (a fiber may join)");
    }
    detail::thread_waiter waiter;
    detail::join_cancellation cancellation(*record_);
    detail::thread_stop_registration registration(std::move(token));
    bool stopped = !registration.arm(cancellation.target(), waiter) || registration.stop_requested_locked();
    if (stopped)
      cancellation.give_up();
    else if (!record_->register_joiner(waiter))
      waiter.wait();
    registration.disarm();
    if (stopped || waiter.outcome == detail::cancelled_outcome) {
      joined_ = false;
      detail::throw_wait_cancelled("join_handle::join");
    }
    return take();
  }

  /// Awaiting suspends the coroutine until the task finishes.
  class [[nodiscard("co_await the join to wait for the task")]] awaiter {
   public:
    awaiter(join_handle& handle, bool consume) noexcept : handle_(handle), consume_(consume) {}
    // Holds the waiter that the task's record points to while suspended: not copyable/movable.
    awaiter(const awaiter&) = delete;
    awaiter& operator=(const awaiter&) = delete;
    BRIGADE_ALWAYS_INLINE ~awaiter() {
      // Set while the task is suspended here, cleared when it resumes: non-null means the frame
      // is destroyed while it waits (runtime shutdown).
      if (waiter_.handle) [[unlikely]]
        leave_while_waiting();
    }

    bool await_ready() {
      handle_.check_joinable("co_await");
      return handle_.record_->is_complete();
    }
    template <class Promise>
    bool await_suspend(std::coroutine_handle<Promise> awaiting) {
      detail::worker_hot* worker = detail::current_worker();
      detail::scheduler* sched = worker != nullptr ? worker->owner
                                                   : detail::scheduler_by_serial(handle_.runtime_serial_);
      // No runtime any more: its shutdown completed every record, so the result is there.
      if (sched == nullptr) return false;
      waiter_.sched = sched;
      waiter_.handle = awaiting;
      ::new (static_cast<void*>(&cancellation_)) detail::join_cancellation(*handle_.record_);
      ::new (static_cast<void*>(&registration_)) detail::park_registration();
      if (!registration_.arm(detail::scope_word_of(awaiting), cancellation_.target(), false, &waiter_) ||
          registration_.stop_requested_locked()) {
        cancellation_.give_up();
        waiter_.outcome = detail::cancelled_outcome;
        return false;  // the handle stays set: await_resume throws
      }
      return !handle_.record_->register_joiner(waiter_);
    }
    /// The handle is set only after await_suspend registered: a task that was complete at
    /// await_ready reads one word more than the result.
    T await_resume() {
      if (waiter_.handle) [[unlikely]] {
        waiter_.handle = nullptr;
        registration_.disarm();
        if (waiter_.outcome == detail::cancelled_outcome) [[unlikely]]
          cancelled();
      }
      if (!consume_) return handle_.take();
      // Released even when take() rethrows the task's error.
      struct release_on_exit {
        join_handle& handle;
        ~release_on_exit() { handle.release(); }
      } release{handle_};
      return handle_.take();
    }

   private:
    [[gnu::noinline]] void leave_while_waiting() noexcept {
      // Withdraw, so that the task side never wakes a waiter that is gone (a finished task that
      // already woke it leaves nothing to do).
      (void)handle_.record_->withdraw_joiner(waiter_);
      registration_.~park_registration();
    }
    [[noreturn, gnu::noinline]] void cancelled() {
      handle_.joined_ = false;
      if (consume_) handle_.release();
      detail::throw_wait_cancelled("co_await of a join_handle");
    }

    join_handle& handle_;
    bool consume_;
    detail::coroutine_waiter waiter_;
    // Constructed in await_suspend (a join of a finished task needs neither); both are done
    // with once the handle is cleared (the registration disarmed, the cancellation trivially
    // destructible).
    union {
      detail::join_cancellation cancellation_;
    };
    union {
      detail::park_registration registration_;
    };
  };
  awaiter operator co_await() & noexcept { return awaiter{*this, false}; }
  awaiter operator co_await() && noexcept { return awaiter{*this, true}; }

 private:
  BRIGADE_ALWAYS_INLINE void check_usable(const char* operation) const {
    if (record_ == nullptr) [[unlikely]]
      misuse(operation, " on an empty join_handle (moved-from or detached)");
  }
  BRIGADE_ALWAYS_INLINE void check_joinable(const char* operation) {
    check_usable(operation);
    if (joined_) [[unlikely]]
      misuse(operation, " on a join_handle that was already joined");
    joined_ = true;
  }
  [[noreturn, gnu::cold, gnu::noinline]] static void misuse(const char* operation, const char* what) {
    throw usage_error(std::string("brigade: ") + operation + what);
  }
  T take() {
    record_->observed_ = true;
    return record_->result_.take();
  }
  void release() noexcept {
    if (record_ != nullptr) std::exchange(record_, nullptr)->release_handle(runtime_serial_);
  }

  detail::spawn_record<T>* record_ = nullptr;
  // The runtime's serial number, not its address: the handle may outlive the runtime.
  std::uint32_t runtime_serial_ = 0;
  bool joined_ = false;
};

}  // namespace brigade
