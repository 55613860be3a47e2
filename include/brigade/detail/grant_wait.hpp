// brigade/detail/grant_wait.hpp: waiting, from a task or a thread, for a primitive to grant
// something to the waiter (a mutex's lock, a semaphore's permit, a read-write lock's share),
// written once for all of them.
//
// A granting primitive hands what it grants directly to the waiter it takes off its list, before
// waking it (FIFO hand-off: the woken party owns the grant and never has to compete for it again,
// so no waiter starves). The primitive's side, usually a small adapter holding a reference to it
// (the "grantor"):
//   bool try_grant() noexcept;       takes the grant at once if it is free (no lock, fast path)
//   bool enqueue(waiter& w);         under its lock: takes the grant now (false), or parks w (true)
//   bool withdraw(waiter& w) noexcept;  under its lock: takes w off its list if it is still parked
//                                    and returns true; false when it was granted meanwhile
//   void give_back() noexcept;       returns a grant that its waiter will never use
//   Result granted() noexcept;       what the co_await yields once the grant is held (a guard)
//   static const char* off_runtime_message() noexcept;  the error for co_await off the runtime
//
//   co_await grant_awaiter<G>{grantor}           suspends the task until granted
//   block_until_granted(grantor, deadline)       blocks the thread until granted or the deadline
//
// A task destroyed while it waits here (runtime shutdown) withdraws its waiter, or gives back a
// grant it was handed but never resumed to use, so that a thread waiting on the same primitive is
// not left waiting forever.
#pragma once

#include <coroutine>
#include <cstdint>

#include "brigade/detail/scheduler_hooks.hpp"
#include "brigade/runtime/errors.hpp"
#include "brigade/runtime/waiter.hpp"

namespace brigade::detail {

template <class Grantor>
class [[nodiscard("co_await it")]] grant_awaiter {
 public:
  explicit grant_awaiter(Grantor grantor) noexcept : grantor_(grantor) {}
  // Holds a waiter that the primitive's list points to while suspended.
  grant_awaiter(const grant_awaiter&) = delete;
  grant_awaiter& operator=(const grant_awaiter&) = delete;
  ~grant_awaiter() {
    // The handle is set while the task may be suspended and cleared when it resumes: non-null
    // here means the frame is destroyed while suspended (runtime shutdown).
    if (waiter_.handle && !grantor_.withdraw(waiter_)) grantor_.give_back();
  }

  bool await_ready() noexcept { return grantor_.try_grant(); }
  bool await_suspend(std::coroutine_handle<> awaiting) {
    worker_hot* worker = current_worker();
    if (worker == nullptr) throw usage_error(Grantor::off_runtime_message());
    waiter_.handle = awaiting;
    waiter_.sched = worker->owner;
    if (grantor_.enqueue(waiter_)) return true;
    waiter_.handle = nullptr;  // granted at once: resume without suspending
    return false;
  }
  auto await_resume() noexcept {
    waiter_.handle = nullptr;
    return grantor_.granted();
  }

 private:
  Grantor grantor_;
  coroutine_waiter waiter_;
};

/// Blocks the calling thread until `grantor` grants, or until `deadline` (seam::now_nanoseconds()'s
/// clock; thread_waiter::no_deadline for none). Returns whether it was granted.
template <class Grantor>
bool block_until_granted(Grantor grantor, std::uint64_t deadline = thread_waiter::no_deadline) {
  if (grantor.try_grant()) return true;
  thread_waiter waiter;
  if (!grantor.enqueue(waiter)) return true;
  return waiter.wait_until_or_withdraw(deadline, [&]() noexcept { return grantor.withdraw(waiter); });
}

}  // namespace brigade::detail
