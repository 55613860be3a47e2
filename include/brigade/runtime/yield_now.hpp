// brigade/runtime/yield_now.hpp: yield_now(), which lets other ready tasks run before the
// calling task continues.
//
//   while (busy) { step(); co_await brigade::yield_now(); }
//
// The task goes to the back of its worker's yield queue: the worker runs it after the work already
// queued there and in the runtime's injection queue (and takes the oldest yielded task at least
// every 61st task, so a busy worker cannot starve it), and an idle worker may steal it. So a task
// that yields in a loop cannot starve the others, even on a one-worker runtime. It is a cancellation point: if the task's scope (or an enclosing one) was
// asked to stop, it throws task_cancelled when it resumes.
// Resumes on: any worker of the same runtime. Must be awaited inside a task on a runtime.
#pragma once

#include <coroutine>

#include "brigade/detail/scheduler_hooks.hpp"
#include "brigade/runtime/errors.hpp"
#include "brigade/runtime/stop_token.hpp"
#include "brigade/runtime/task.hpp"

namespace brigade {

struct [[nodiscard("co_await yield_now() to yield")]] yield_awaiter {
  const detail::stop_state* scope = nullptr;
  bool await_ready() const noexcept { return false; }
  template <class Promise>
  void await_suspend(std::coroutine_handle<Promise> self) {
    scope = detail::scope_of(self);
    detail::worker_hot* worker = detail::current_worker();
    if (worker == nullptr)
      throw usage_error("brigade: yield_now() awaited outside a runtime's worker thread");
    detail::yield_task(*worker, self);
  }
  void await_resume() const {
    if (scope != nullptr && scope->stop_requested())
      throw task_cancelled("brigade: task cancelled (seen at yield_now)");
  }
};

inline yield_awaiter yield_now() noexcept { return {}; }

}  // namespace brigade
