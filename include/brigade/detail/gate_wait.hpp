// brigade/detail/gate_wait.hpp: waiting, from a task or a thread, on a primitive that opens once
// and stays open (an event that is set, a wait_group or latch at zero), written once for all.
//
// The primitive (the "gate") provides, with its own lock and wait_list:
//   bool is_open() noexcept;            acquire: once open, what the opener wrote is visible,
//                                       and the opener is done with the gate (it may be freed)
//   bool enqueue(waiter& w);            under its lock: parks w and returns true, or returns
//                                       false if the gate opened meanwhile (w is not parked)
//   void unlink(waiter& w) noexcept;    under its lock: removes w if it is still parked
//   const char* off_runtime_message() const noexcept;  the error for co_await outside a runtime
// and opens by taking every waiter off its list and waking them (wait_list::take_all).
//
//   co_await gate_awaiter<G>{gate}   suspends the task until the gate is open
//   wait_blocking_on(gate)           blocks the calling thread until then
//
// Lifetime: the gate must outlive its waiters. A task destroyed while suspended here (runtime
// shutdown) unlinks its waiter in the awaiter's destructor.
#pragma once

#include <coroutine>

#include "brigade/detail/scheduler_hooks.hpp"
#include "brigade/runtime/errors.hpp"
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
    // waiter may still be parked (unlink checks, under the gate's lock).
    if (waiter_.handle) gate_.unlink(waiter_);
  }

  bool await_ready() noexcept { return gate_.is_open(); }
  bool await_suspend(std::coroutine_handle<> awaiting) {
    waiter_.arm(awaiting, gate_.off_runtime_message());
    return gate_.enqueue(waiter_);  // false: opened meanwhile, resume at once
  }
  void await_resume() noexcept { waiter_.handle = nullptr; }

 private:
  Gate& gate_;
  coroutine_waiter waiter_;
};

/// Blocks the calling thread until `gate` is open.
template <class Gate>
void wait_blocking_on(Gate& gate) {
  refuse_blocking_on_worker("a blocking wait (wait_blocking, recv_blocking, call_blocking, ...)");
  if (gate.is_open()) return;
  thread_waiter waiter;
  if (!gate.enqueue(waiter)) return;
  waiter.wait();
}

}  // namespace brigade::detail
