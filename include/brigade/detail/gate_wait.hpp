// brigade/detail/gate_wait.hpp: waiting, from a task or a thread, on a primitive that opens once
// and stays open (an event that is set, a wait_group or latch at zero), written once for all.
//
// The primitive (the "gate") provides, with its own lock and wait_list:
//   bool is_open() noexcept;            acquire: once open, what the opener wrote is visible,
//                                       and the opener is done with the gate (it may be freed)
//   park_result enqueue(waiter& w, R& registration);
//                                       under its lock: not_needed if the gate is open; else
//                                       cancelled if registration.stop_requested_locked(); else
//                                       parks w (parked). R is park_registration (a task) or
//                                       thread_stop_registration (a thread)
//   void unlink(waiter& w) noexcept;    under its lock: removes w if it is still parked
//   detail::cancel_target& cancel_target() noexcept;  withdraws a parked waiter on a stop request
//                                       (detail::cancel_from_list over its lock and list)
//   const char* off_runtime_message() const noexcept;  the error for co_await outside a runtime
// and opens by taking every waiter off its list and waking them (wait_list::take_all). Its
// destructor calls retire_cancel_targets() first.
//
//   co_await gate_awaiter<G>{gate}   suspends the task until the gate is open
//   wait_blocking_on(gate, token)    blocks the calling thread until then
//
// Cancellation: a stop request of the waiting task's scope (or of the thread's std::stop_token)
// ends a parked wait with task_cancelled; the waiter is off the gate's list, nothing else
// changed (cancel-safe: the gate may open later for the others, as if this waiter never came).
// A wait on a gate that is already open completes, stopped or not.
// Lifetime: the gate must outlive its waiters. A task destroyed while suspended here (runtime
// shutdown) unlinks its waiter in the awaiter's destructor.
#pragma once

#include <coroutine>
#include <stop_token>

#include "brigade/detail/cancellable_wait.hpp"
#include "brigade/detail/scheduler_hooks.hpp"
#include "brigade/runtime/errors.hpp"
#include "brigade/runtime/task.hpp"
#include "brigade/runtime/waiter.hpp"

namespace brigade::detail {

template <class Gate>
class [[nodiscard("co_await the wait")]] gate_awaiter {
 public:
  explicit gate_awaiter(Gate& gate) noexcept : gate_(gate) {}
  // Holds a waiter that the gate's list points to while suspended: neither copyable nor movable.
  gate_awaiter(const gate_awaiter&) = delete;
  gate_awaiter& operator=(const gate_awaiter&) = delete;
  ~gate_awaiter() {
    // The handle is set while the task may be suspended and cleared when it resumes, so a
    // non-null handle here means the frame is destroyed while suspended (runtime shutdown): the
    // waiter may still be parked (unlink checks, under the gate's lock). The registration
    // disarms after this (member destruction).
    if (waiter_.handle) gate_.unlink(waiter_);
  }

  bool await_ready() noexcept { return gate_.is_open(); }
  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> awaiting) {
    waiter_.arm(awaiting, gate_.off_runtime_message());
    park_result result = park_result::cancelled;
    if (registration_.arm(scope_word_of(awaiting), gate_.cancel_target()))
      result = gate_.enqueue(waiter_, registration_);
    if (result == park_result::parked) return true;
    waiter_.handle = nullptr;
    if (result == park_result::cancelled) waiter_.outcome = cancelled_outcome;
    return false;  // open meanwhile, or stopped: resume at once
  }
  void await_resume() {
    waiter_.handle = nullptr;
    registration_.disarm();
    if (waiter_.outcome == cancelled_outcome) [[unlikely]]
      throw_wait_cancelled("a wait");
  }

 private:
  Gate& gate_;
  coroutine_waiter waiter_;
  park_registration registration_;
};

/// Blocks the calling thread until `gate` is open, or until `deadline` (seam::now_nanoseconds()'s
/// clock; thread_waiter::no_deadline: no limit). Returns whether the gate opened (false: the
/// deadline passed first; the waiter is withdrawn). With a std::stop_token, a stop request ends
/// the wait with task_cancelled (the waiter withdrawn, as a task's).
template <class Gate>
bool wait_blocking_on(Gate& gate, std::stop_token token = {},
                      std::uint64_t deadline = thread_waiter::no_deadline) {
  refuse_blocking_on_worker("a thread-form wait (wait, get_or_init, call, ...)");
  if (gate.is_open()) return true;
  thread_waiter waiter;
  thread_stop_registration registration(token);
  park_result result = park_result::cancelled;
  if (registration.arm(gate.cancel_target(), waiter, true)) result = gate.enqueue(waiter, registration);
  bool timed_out = false;
  if (result == park_result::parked) timed_out = wait_or_withdraw_at(waiter, waiter, gate.cancel_target(), deadline);
  registration.disarm();
  if (result == park_result::cancelled || (waiter.outcome == cancelled_outcome && (!timed_out || token.stop_requested())))
    throw_wait_cancelled("a blocking wait");
  return !timed_out;
}

}  // namespace brigade::detail
