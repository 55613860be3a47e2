// brigade/runtime/this_task.hpp: what a running task can ask about itself: its cancellation
// token, and an explicit cancellation point.
//
//   brigade::task<void> crunch() {
//     auto token = co_await brigade::this_task::stop_token();
//     while (!token.stop_requested()) { ...work... }
//     co_await brigade::this_task::throw_if_cancelled();   // throws task_cancelled if stopped
//   }
//
// Both complete immediately (they never suspend). They only work inside a brigade::task.
// Thread safety: the token may be read from any thread while the task lives.
#pragma once

#include <coroutine>

#include "brigade/runtime/errors.hpp"
#include "brigade/runtime/stop_token.hpp"
#include "brigade/runtime/task.hpp"

namespace brigade::this_task {

namespace detail {
/// Reads the awaiting task's scope and resumes it at once (await_suspend returns false).
struct scope_reader {
  brigade::detail::stop_state* scope = nullptr;
  bool await_ready() const noexcept { return false; }
  template <brigade::detail::brigade_promise Promise>
  bool await_suspend(std::coroutine_handle<Promise> self) noexcept {
    scope = self.promise().scope();
    return false;
  }
};
/// co_await current_scope() yields the running task's scope (internal, for scoped operations).
inline auto current_scope() noexcept {
  struct awaiter : scope_reader {
    brigade::detail::stop_state* await_resume() const noexcept { return scope; }
  };
  return awaiter{};
}
}  // namespace detail

/// co_await this_task::stop_token() yields the running task's stop_token.
[[nodiscard("co_await it to get the token")]] inline auto stop_token() noexcept {
  struct awaiter : detail::scope_reader {
    brigade::stop_token await_resume() const noexcept { return brigade::stop_token(scope); }
  };
  return awaiter{};
}

/// co_await this_task::throw_if_cancelled() throws task_cancelled when the running task's scope,
/// or an enclosing one, was asked to stop.
[[nodiscard("co_await it to check")]] inline auto throw_if_cancelled() noexcept {
  struct awaiter : detail::scope_reader {
    void await_resume() const {
      if (scope != nullptr && scope->stop_requested())
        throw task_cancelled("brigade: task cancelled");
    }
  };
  return awaiter{};
}

}  // namespace brigade::this_task
