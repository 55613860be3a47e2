// brigade/runtime/stop_token.hpp: cooperative cancellation, shaped like std::stop_token.
//
// Every task runs in a cancellation scope. A spawned task has its own scope, which
// join_handle::abort() stops. Structured children (a task awaited by its parent, the children of
// when_all / when_any / gather / a task_group) run in a scope that is a child of their parent's,
// so stopping a scope stops everything below it. A detached spawn is not a child: as in Tokio,
// spawn() starts an independent task (use a task_group for children that die with their parent).
//
// A stop request is only a request. It takes effect:
//   - when a task that has not started yet is about to start: it completes with task_cancelled
//     instead of running (only the task's own scope is looked at here, one load);
//   - at cancellation points: yield_now(), this_task::throw_if_cancelled(), and (later issues)
//     waits on brigade's primitives, which look at the whole chain of scopes;
//   - wherever the task polls its token (co_await this_task::stop_token()).
//
// Thread safety: request_stop() and stop_requested() may be called from any thread. A scope's
// parent always outlives it (structured concurrency), so walking the chain is safe.
// Memory order: request_stop() releases and stop_requested() acquires, so what the canceller
// wrote before requesting is visible to the task that observes the request.
#pragma once

#include <cstdint>

#include "brigade/detail/seam.hpp"

namespace brigade {
namespace detail {

/// One cancellation scope. Lives inside the object that owns the scope (a spawn record, a
/// when_all operation, a task_group). One word: the enclosing scope's address with the
/// "stop requested" flag in its lowest bit (scopes are at least 8-byte aligned), which keeps
/// every spawn record and fork-join operation a word smaller.
class stop_state {
 public:
  stop_state() noexcept = default;
  stop_state(const stop_state&) = delete;
  stop_state& operator=(const stop_state&) = delete;

  /// Sets the enclosing scope. Only before the scope is shared (no task runs in it yet).
  void set_parent(const stop_state* parent) noexcept {
    word_.store(reinterpret_cast<std::uintptr_t>(parent), seam::memory_order::relaxed);
  }
  const stop_state* parent() const noexcept {
    return reinterpret_cast<const stop_state*>(word_.load(seam::memory_order::relaxed) &
                                               ~requested_bit);
  }

  /// Release: pairs with the acquire in stop_requested()/requested_here().
  void request_stop() noexcept { word_.fetch_or(requested_bit, seam::memory_order::release); }

  /// True when this scope itself was stopped (one load: the check a task makes as it starts).
  bool requested_here() const noexcept {
    return (word_.load(seam::memory_order::acquire) & requested_bit) != 0;
  }

  /// True when this scope or any enclosing scope was stopped.
  bool stop_requested() const noexcept {
    for (const stop_state* scope = this; scope != nullptr; scope = scope->parent())
      if (scope->requested_here()) return true;
    return false;
  }

 private:
  static constexpr std::uintptr_t requested_bit = 1;
  seam::atomic<std::uintptr_t> word_{0};
};

}  // namespace detail

/// A view of a task's cancellation scope. Cheap to copy; valid while the task runs.
class stop_token {
 public:
  stop_token() noexcept = default;
  explicit stop_token(const detail::stop_state* state) noexcept : state_(state) {}

  /// True once the task's scope, or an enclosing one, was asked to stop.
  [[nodiscard]] bool stop_requested() const noexcept {
    return state_ != nullptr && state_->stop_requested();
  }
  /// False for a token that belongs to no scope (a default-constructed one).
  [[nodiscard]] bool stop_possible() const noexcept { return state_ != nullptr; }

 private:
  const detail::stop_state* state_ = nullptr;
};

}  // namespace brigade
