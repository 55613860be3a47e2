// brigade/detail/future_state.hpp: the state that a promise (or a thread pool's job) shares with
// its future(s): the outcome once it is settled, the waiters (tasks, fibers, threads) parked
// until then, and the continuations that then() attached (internal; the public side is
// future/future.hpp, future/promise.hpp, future/shared_future.hpp).
//
// States: pending --settle--> settled (a value, an exception, task_cancelled after cancel(), or
// broken_promise). Settling happens once; whoever settles first wins (a promise's set_value and
// a consumer's cancel() may race), and the others learn it from settle's result.
//
// Waiting is the gate protocol of gate_wait.hpp (open once settled), so a task co_awaits, a
// thread or a fiber blocks, and a stop request (a timeout, an abort) withdraws a waiter without
// changing the state. Continuations are nodes in a list, run in the order attached, after the
// settler has released the lock and woken the waiters.
//
// Continuations run iteratively, not recursively: a continuation that settles the next state of a
// then() chain hands that state's continuations back to the loop that ran it (fire's result), so
// a chain of any length runs in constant stack.
//
// Lifetime: reference counted (the promise or job, each future, each pending continuation); the
// last release deletes it. The settler holds a reference while it wakes and runs, so a waiter
// that returns and drops the last future cannot free the state under it.
// Thread safety: every member from any thread. Memory order: settle releases, is_ready acquires:
// whoever sees the state settled sees the outcome and what the producer wrote before.
#pragma once

#include <exception>
#include <mutex>
#include <stop_token>
#include <utility>

#include "brigade/detail/cancellable_wait.hpp"
#include "brigade/detail/result_slot.hpp"
#include "brigade/detail/seam.hpp"
#include "brigade/detail/wait_list.hpp"
#include "brigade/runtime/errors.hpp"

namespace brigade::detail {

/// Something to run once a state has settled (then(), catch_error(), finally(), a combinator's
/// slot). `fire` runs it and frees it; it returns the continuations of a state that it settled
/// in the same call (taken, not yet run), or nullptr, so that the caller's loop runs them.
struct future_continuation {
  using fire_function = future_continuation* (*)(future_continuation* self) noexcept;
  explicit future_continuation(fire_function fire_with) noexcept : fire(fire_with) {}
  future_continuation* next = nullptr;
  fire_function fire;
};

/// Runs `list` and everything it hands back, in constant stack.
inline void run_continuations(future_continuation* list) noexcept {
  while (list != nullptr) {
    future_continuation* current = list;
    list = current->next;
    future_continuation* more = current->fire(current);
    if (more == nullptr) continue;
    future_continuation* last = more;
    while (last->next != nullptr) last = last->next;
    last->next = list;
    list = more;
  }
}

class future_state_base {
 public:
  future_state_base() noexcept = default;
  future_state_base(const future_state_base&) = delete;
  future_state_base& operator=(const future_state_base&) = delete;

  void add_reference() noexcept { references_.fetch_add(1, seam::memory_order::relaxed); }
  void release() noexcept {
    if (references_.fetch_sub(1, seam::memory_order::acq_rel) == 1) delete this;
  }

  [[nodiscard]] bool is_ready() const noexcept { return settled_.load(seam::memory_order::acquire); }

  [[nodiscard]] bool is_retrieved_hint() const noexcept { return retrieved_.load(seam::memory_order::relaxed); }
  /// For a unique future: true the first time (the caller may take the outcome), false after.
  [[nodiscard]] bool mark_retrieved() noexcept {
    return !retrieved_.exchange(true, seam::memory_order::acq_rel);
  }

  /// Settles the state with task_cancelled and asks the producer to stop (its stop token).
  /// Returns false when it had settled already (then nothing changes; a running job is not
  /// asked to stop either, since it has finished).
  bool cancel() {
    std::exception_ptr cancelled =
        std::make_exception_ptr(task_cancelled("brigade: future cancelled before it was fulfilled"));
    future_continuation* continuations = nullptr;
    if (!settle_error_taking(std::move(cancelled), continuations)) return false;
    std::stop_source stop;
    {
      std::lock_guard lock(mutex_);
      cancelled_ = true;
      stop = stop_;
    }
    if (stop.stop_possible()) stop.request_stop();  // the producer's stop callbacks run here
    run_continuations(continuations);
    return true;
  }
  [[nodiscard]] bool was_cancelled() const {
    std::lock_guard lock(mutex_);
    return cancelled_;
  }
  /// The producer's token: stop is requested when a consumer cancels.
  std::stop_token stop_token() {
    std::lock_guard lock(mutex_);
    if (!stop_.stop_possible()) stop_ = std::stop_source();
    if (cancelled_) stop_.request_stop();
    return stop_.get_token();
  }

  /// Asks the producer to stop (its stop token) without settling: a pool shutting down now.
  void request_producer_stop() {
    std::stop_source stop;
    {
      std::lock_guard lock(mutex_);
      stop = stop_;
    }
    if (stop.stop_possible()) stop.request_stop();
  }

  /// Before a thread or fiber blocks on this state: a thread pool's job that is still queued
  /// runs here when the caller is a thread of the same pool (future/thread_pool.hpp), so that a
  /// job waiting for a job it queued cannot deadlock the pool. Nothing for other states.
  virtual void help_before_waiting() noexcept {}

  /// Adds `continuation` to run once settled. Returns false, without adding it, when the state is
  /// settled already: the caller runs it.
  bool attach(future_continuation& continuation) {
    std::lock_guard lock(mutex_);
    if (settled_.load(seam::memory_order::relaxed)) return false;
    continuation.next = nullptr;
    if (last_continuation_ == nullptr)
      continuations_ = &continuation;
    else
      last_continuation_->next = &continuation;
    last_continuation_ = &continuation;
    return true;
  }

  /// Settles with `error`; returns whether this call settled it. Runs the continuations.
  bool settle_error(std::exception_ptr error) noexcept {
    future_continuation* continuations = nullptr;
    if (!settle_error_taking(std::move(error), continuations)) return false;
    run_continuations(continuations);
    return true;
  }
  /// As settle_error, but hands the continuations to the caller instead of running them.
  bool settle_error_taking(std::exception_ptr error, future_continuation*& continuations) noexcept {
    return settle_taking([&] { store_error(std::move(error)); }, continuations);
  }

  // ---- The gate protocol (gate_wait.hpp): open once settled.
  const char* off_runtime_message() const noexcept {
    return "brigade: a future was co_awaited outside a runtime (use get() on a thread)";
  }
  // The settler holds a reference while it wakes the waiters, so a waiter that sees the state
  // settled may drop its own at once: no pass through the lock is needed (unlike event).
  bool is_open() noexcept { return is_ready(); }
  template <class Registration>
  park_result enqueue(waiter& entry, Registration& registration) {
    std::lock_guard lock(mutex_);
    if (settled_.load(seam::memory_order::relaxed)) return park_result::not_needed;
    return park_locked(registration, waiters_, entry);
  }
  detail::cancel_target& cancel_target() noexcept { return cancel_target_; }
  void unlink(waiter& entry) noexcept {
    std::lock_guard lock(mutex_);
    waiters_.unlink(entry);
  }

 protected:
  virtual ~future_state_base() { retire_cancel_targets(); }
  virtual void store_error(std::exception_ptr error) noexcept = 0;

  /// Runs `write` (which stores the outcome) and settles, unless settled already; wakes the
  /// waiters and hands the continuations to the caller. Returns whether this call settled it.
  template <class Write>
  bool settle_taking(Write&& write, future_continuation*& continuations) noexcept {
    waiter* waiters;
    {
      std::lock_guard lock(mutex_);
      if (settled_.load(seam::memory_order::relaxed)) return false;
      write();
      settled_.store(true, seam::memory_order::release);
      waiters = waiters_.take_all();
      continuations = std::exchange(continuations_, nullptr);
      last_continuation_ = nullptr;
    }
    wait_list::wake_all(waiters);
    return true;
  }

 private:
  seam::atomic<unsigned> references_{1};
  seam::atomic<bool> settled_{false};
  seam::atomic<bool> retrieved_{false};
  mutable seam::mutex mutex_;
  wait_list waiters_;                                 // guarded by mutex_
  future_continuation* continuations_ = nullptr;      // guarded by mutex_
  future_continuation* last_continuation_ = nullptr;  // guarded by mutex_
  bool cancelled_ = false;                            // guarded by mutex_
  std::stop_source stop_{std::nostopstate};           // guarded by mutex_; made by stop_token()
  detail::cancel_target cancel_target_{
      &cancel_from_list<future_state_base, &future_state_base::mutex_, &future_state_base::waiters_>, this};
};

/// The state with its outcome: a T, or an exception (T may be void).
template <class T>
class future_state : public future_state_base {
 public:
  /// Settles with a value; returns whether this call settled it. Runs the continuations.
  template <class... Arguments>
  bool settle_value(Arguments&&... arguments) {
    future_continuation* continuations = nullptr;
    if (!settle_value_taking(continuations, std::forward<Arguments>(arguments)...)) return false;
    run_continuations(continuations);
    return true;
  }
  /// As settle_value, but hands the continuations to the caller.
  template <class... Arguments>
  bool settle_value_taking(future_continuation*& continuations, Arguments&&... arguments) {
    if constexpr (std::is_void_v<T>) {
      static_assert(sizeof...(Arguments) == 0);
      return settle_taking([&] { result_.set_value(); }, continuations);
    } else {
      // The value is built before the lock, so that a throwing constructor settles nothing.
      T value(std::forward<Arguments>(arguments)...);
      return settle_taking([&] { result_.set_value(std::move(value)); }, continuations);
    }
  }
  /// Moves `other`'s outcome (settled) into this state, unless settled already.
  bool settle_from_taking(future_state& other, future_continuation*& continuations) {
    if (other.result_.has_error()) return settle_error_taking(other.result_.error(), continuations);
    if constexpr (std::is_void_v<T>)
      return settle_value_taking(continuations);
    else
      return settle_value_taking(continuations, other.result_.take());
  }

  /// The outcome, once settled (is_ready() returned true, or a wait ended).
  result_slot<T>& result() noexcept { return result_; }

 protected:
  ~future_state() override = default;

 private:
  void store_error(std::exception_ptr error) noexcept override { result_.set_error(std::move(error)); }
  result_slot<T> result_;
};

/// A counted reference to a state.
template <class State>
class state_reference {
 public:
  state_reference() noexcept = default;
  /// Adopts one reference.
  explicit state_reference(State* state) noexcept : state_(state) {}
  state_reference(const state_reference& other) noexcept : state_(other.state_) {
    if (state_ != nullptr) state_->add_reference();
  }
  state_reference(state_reference&& other) noexcept : state_(std::exchange(other.state_, nullptr)) {}
  state_reference& operator=(state_reference other) noexcept {
    std::swap(state_, other.state_);
    return *this;
  }
  ~state_reference() {
    if (state_ != nullptr) state_->release();
  }
  State* get() const noexcept { return state_; }
  State* operator->() const noexcept { return state_; }
  State& operator*() const noexcept { return *state_; }
  explicit operator bool() const noexcept { return state_ != nullptr; }
  State* release() noexcept { return std::exchange(state_, nullptr); }

 private:
  State* state_ = nullptr;
};

template <class T>
state_reference<future_state<T>> make_future_state() {
  return state_reference<future_state<T>>(new future_state<T>());
}

}  // namespace brigade::detail
