// brigade/runtime/stop_token.hpp: cooperative cancellation, shaped like std::stop_token and
// std::stop_callback.
//
//   auto token = co_await brigade::this_task::stop_token();
//   brigade::stop_callback wake_me(token, [&] { my_reactor.interrupt(fd); });  // runs on a stop
//   while (!token.stop_requested()) { ...work... }
//
// Every task runs in a cancellation scope. A spawned task has its own scope, which
// join_handle::abort() stops. Structured children (a task awaited by its parent, the children of
// when_all / when_any / gather / a task_group, and a task group's body) run in a scope that is a
// child of their parent's, so stopping a scope stops everything below it. A detached spawn is not
// a child: as in Tokio, spawn() starts an independent task (use a task_group for children that
// die with their parent).
//
// A stop request takes effect:
//   - at once, for a task parked in any of brigade's waits (a channel's send, recv and select, a
//     mutex, semaphore, event, wait_group, latch, barrier, once, condition variable, oneshot,
//     broadcast, a join): the wait ends with task_cancelled. Each wait's header says what a
//     cancelled wait leaves behind (its cancel-safety);
//   - when a task that has not started yet is about to start: it completes with task_cancelled
//     instead of running (only the task's own scope is looked at here, one load);
//   - at the explicit cancellation points yield_now() and this_task::throw_if_cancelled();
//   - wherever the task polls its token (co_await this_task::stop_token()).
// A wait that can complete without suspending completes (as a ready future is not cancelled in
// Tokio): a loop that never has to wait sees a stop only at an explicit cancellation point.
//
// stop_callback runs a function once when the token's scope (or an enclosing one) is stopped, on
// the thread that requests the stop, or at once in its constructor if the scope was stopped
// already; destroying it unregisters the function, waiting for it if it is running on another
// thread. Use it to interrupt a wait that brigade does not own.
//
// Thread safety: tokens may be copied and read from any thread; a stop_callback is owned by one
// place. A token is valid while the task (or scope) it came from lives.
// Memory order: a stop request releases and stop_requested() acquires, so what the canceller
// wrote before requesting is visible to the task that observes the request.
#pragma once

#include <type_traits>
#include <utility>

#include "brigade/detail/stop_state.hpp"
#include "brigade/runtime/errors.hpp"

namespace brigade {

/// A view of a task's cancellation scope. Cheap to copy; valid while the task runs.
class stop_token {
 public:
  stop_token() noexcept = default;
  explicit stop_token(detail::stop_state* state) noexcept : state_(state) {}

  /// True once the task's scope, or an enclosing one, was asked to stop.
  [[nodiscard]] bool stop_requested() const noexcept {
    return state_ != nullptr && state_->stop_requested();
  }
  /// False for a token that belongs to no scope (a default-constructed one).
  [[nodiscard]] bool stop_possible() const noexcept { return state_ != nullptr; }

  /// Internal: the scope.
  [[nodiscard]] detail::stop_state* scope() const noexcept { return state_; }

 private:
  detail::stop_state* state_ = nullptr;
};

/// Runs `Callback` once when a token's scope (or an enclosing scope) is stopped. See the top of
/// this header. Neither copyable nor movable (the scope points to it while it is registered).
template <class Callback>
class [[nodiscard("a stop_callback unregisters when destroyed")]] stop_callback {
  static_assert(std::is_nothrow_invocable_v<Callback&>,
                "brigade::stop_callback's function runs on the canceller's thread, which cannot "
                "receive its exception: it must be noexcept");

 public:
  /// Registers `callback` on `token`'s scope; if the scope (or an enclosing one) is stopped
  /// already, runs it now instead. A token of no scope registers nothing.
  template <class C>
    requires std::is_constructible_v<Callback, C>
  stop_callback(const stop_token& token, C&& callback) : node_(*this), callback_(std::forward<C>(callback)) {
    detail::stop_state* scope = token.scope();
    if (scope == nullptr) return;
    if (scope->stop_requested() || !scope->add_callback(node_)) {
      callback_();
      return;
    }
    scope_ = scope;
  }
  ~stop_callback() {
    if (scope_ != nullptr) scope_->remove_callback(node_);
  }
  stop_callback(const stop_callback&) = delete;
  stop_callback& operator=(const stop_callback&) = delete;

 private:
  struct node final : detail::stop_callback_base {
    explicit node(stop_callback& owner) noexcept : stop_callback_base(&run), owner_(&owner) {}
    static void run(detail::stop_callback_base& self) noexcept { static_cast<node&>(self).owner_->callback_(); }
    stop_callback* owner_;
  };

  node node_;
  Callback callback_;
  detail::stop_state* scope_ = nullptr;
};

template <class Callback>
stop_callback(const stop_token&, Callback) -> stop_callback<Callback>;

}  // namespace brigade
