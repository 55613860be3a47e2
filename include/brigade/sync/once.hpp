// brigade/sync/once.hpp: once, an action run exactly once however many parties ask at once (Go's
// sync.Once, std::call_once), for tasks and threads; every caller returns only after it has run.
//
//   brigade::once setup;
//   co_await setup.call_async([]() -> brigade::task<void> { co_await connect(); });   // in a task
//   setup.call([] { open_log(); });                                           // on a thread
//
// The action may return void, or (for call) a brigade::task<void> that is awaited. If it throws,
// the exception reaches the caller that ran it and the once is not done: the next caller runs
// its action (std::call_once's rule; Go's Once would count the failed run). Concurrent callers
// wait meanwhile; they do not run theirs at the same time.
// For a computed value, once_cell<T> (sync/once_cell.hpp) is the same with a result.
// Cancellation: a caller waiting for another party's action is at a cancellation point: a stop
// request of its scope ends its wait with task_cancelled (the action runs on). An action that
// ends with task_cancelled has failed: the next caller runs its own.
// Thread safety: every member from any thread. Memory order: every caller sees what the action
// wrote. Lifetime: the once must outlive its waiters.
// Complexity: after the action has run, call() is one acquire load.
#pragma once

#include <stop_token>
#include <type_traits>
#include <utility>

#include "brigade/detail/gate_wait.hpp"
#include "brigade/detail/once_core.hpp"
#include "brigade/runtime/task.hpp"

namespace brigade {

class once {
 public:
  once() = default;
  once(const once&) = delete;
  once& operator=(const once&) = delete;

  [[nodiscard]] bool is_done() const noexcept { return core_.is_done(); }

  /// co_await o.call_async(action): runs `action` if it has not run; suspends while another party runs it.
  template <class Action>
  task<void> call_async(Action action) {
    while (!core_.is_done()) {
      if (core_.claim()) {
        try {
          if constexpr (detail::is_task_v<std::invoke_result_t<Action&>>)
            co_await action();
          else
            action();
        } catch (...) {
          core_.finish(false);
          throw;
        }
        core_.finish(true);
        co_return;
      }
      co_await detail::gate_awaiter<detail::once_core>(core_);
    }
  }

  /// On a thread: runs `action` if it has not run; blocks while another party runs it. With a
  /// token, a stop request while it waits throws task_cancelled.
  template <class Action>
  void call(Action&& action, std::stop_token token = {}) {
    while (!core_.is_done()) {
      if (core_.claim()) {
        try {
          std::forward<Action>(action)();
        } catch (...) {
          core_.finish(false);
          throw;
        }
        core_.finish(true);
        return;
      }
      detail::wait_blocking_on(core_, token);
    }
  }

 private:
  detail::once_core core_{"brigade: once::call_async() awaited outside a runtime (use call() on a thread)"};
};

}  // namespace brigade
