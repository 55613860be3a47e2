// brigade/task/task_group.hpp: a structured scope for a dynamic number of child tasks (a Trio
// nursery, Kotlin's coroutineScope, a Go errgroup with its context).
//
//   co_await brigade::with_task_group([&](brigade::task_group& group) -> brigade::task<void> {
//     for (auto& url : urls) group.spawn(fetch(url));   // each child runs in parallel
//     co_return;
//   });                                                 // here, every child has finished
//
// Guarantees:
//   - Children cannot outlive the scope: with_task_group returns (or throws) only after the body
//     and every child it spawned (including children spawned by children) have finished.
//   - The body runs in the group's scope, as the children do. The first error, from the body or
//     any child, stops the scope: children not started yet do not run; the body and the children
//     parked in a wait are woken (the wait throws task_cancelled); running ones see it at their
//     next cancellation point. with_task_group rethrows that first error once everything has
//     finished. Later errors are dropped (the first one is the cause; the others are usually
//     consequences). task_cancelled caused by that stop is not an error of its own.
//   - The scope is a child of the awaiting task's scope: cancelling that task cancels the group,
//     body and children. A body that ends with task_cancelled (the group was stopped, by the
//     enclosing scope or by request_stop) makes with_task_group throw task_cancelled, unless an
//     error came first.
// Children's values are discarded; collect them through captured state, or use when_all/gather
// for a fixed set of tasks.
// Thread safety: spawn() and request_stop() may be called from the body, from children, and
// from other threads while the scope is open. Calling spawn() after the scope finished throws
// usage_error.
// Resumes on: the worker where the last child finished.
#pragma once

#include <coroutine>
#include <cstddef>
#include <exception>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>

#include "brigade/detail/fork_join.hpp"
#include "brigade/detail/frame_pool.hpp"
#include "brigade/detail/scheduler_hooks.hpp"
#include "brigade/detail/seam.hpp"
#include "brigade/runtime/errors.hpp"
#include "brigade/runtime/stop_token.hpp"
#include "brigade/runtime/task.hpp"
#include "brigade/runtime/this_task.hpp"

namespace brigade {

class task_group;

namespace detail {

/// One child of a group: its completion hook and its place in the group's list of live children
/// (which the group uses to destroy them if the scope itself is destroyed, at runtime shutdown).
struct group_child final : task_completion, pool_allocated {
  group_child(task_completion::function on_finished, task_group& owner,
              std::coroutine_handle<> child_frame) noexcept;
  task_group* group;
  std::coroutine_handle<> frame;
  group_child* prev = nullptr;  // guarded by the group's mutex
  group_child* next = nullptr;  // guarded by the group's mutex
};

}  // namespace detail

class task_group {
 public:
  task_group(const task_group&) = delete;
  task_group& operator=(const task_group&) = delete;

  /// Starts `child` in the group; it may run on any worker.
  template <class T>
  void spawn(task<T> child) {
    if (!child.valid()) throw usage_error("brigade: task_group::spawn of an empty task");
    auto frame = child.handle();
    auto* node = new detail::group_child(&child_finished<T>, *this, frame);
    {
      std::lock_guard lock(mutex_);
      if (closed_) {
        delete node;
        throw usage_error("brigade: task_group::spawn after the group's scope finished");
      }
      // Relaxed: the count is only read by the decrement that reaches zero, which is ordered
      // after this increment through the mutex or the child's own completion.
      remaining_.fetch_add(1, detail::seam::memory_order::relaxed);
      node->next = children_;
      if (children_ != nullptr) children_->prev = node;
      children_ = node;
    }
    auto& promise = frame.promise();
    promise.set_completion(node);
    promise.set_scope(&scope_);
    (void)child.release();
    detail::worker_hot* worker = detail::current_worker();
    if (worker != nullptr && worker->owner == sched_)
      detail::fork(*worker, frame);
    else
      detail::inject(*sched_, frame);
  }

  /// Stops the group's scope (as a failure would, without an error).
  void request_stop() noexcept { scope_.request_stop(); }

  /// The group's cancellation token.
  [[nodiscard]] brigade::stop_token get_stop_token() noexcept {
    return brigade::stop_token(&scope_);
  }

  /// Internal (used by with_task_group).
  task_group(detail::scheduler& sched, detail::stop_state* parent_scope) noexcept : sched_(&sched) {
    scope_.set_parent(parent_scope);
  }
  ~task_group() {
    // Only reached with live children when the awaiting frame is destroyed at runtime shutdown
    // (workers stopped): destroy them, which runs their destructors.
    while (children_ != nullptr) {
      detail::group_child* node = children_;
      children_ = node->next;
      node->frame.destroy();
      delete node;
    }
  }

  /// Internal: the awaitable that with_task_group uses to wait for the children.
  auto wait_for_children() noexcept {
    struct awaiter {
      task_group& group;
      bool await_ready() const noexcept { return false; }
      bool await_suspend(std::coroutine_handle<> waiting) noexcept {
        group.waiting_ = waiting;
        // Drops the body's own count. acq_rel: pairs with the children's decrements.
        return group.remaining_.fetch_sub(1, detail::seam::memory_order::acq_rel) != 1;
      }
      void await_resume() const noexcept {
        std::lock_guard lock(group.mutex_);
        group.closed_ = true;
      }
    };
    return awaiter{*this};
  }

  /// Internal: records a failure; the first one stops the scope.
  void record_failure(std::exception_ptr error) noexcept {
    std::lock_guard lock(mutex_);
    if (!first_error_) {
      first_error_ = std::move(error);
      scope_.request_stop();
    }
  }
  [[nodiscard]] std::exception_ptr first_error() const noexcept { return first_error_; }

 private:
  friend struct detail::group_child;
  template <class T>
  static std::coroutine_handle<> child_finished(detail::task_completion* self,
                                                detail::promise_base& child) noexcept;
  template <class Body>
  friend auto with_task_group(Body body)
      -> task<typename std::invoke_result_t<Body&, task_group&>::value_type>;

  detail::scheduler* sched_;
  detail::child_stop_state scope_;
  // Counts the body plus live children; the decrement that reaches zero resumes `waiting_`.
  detail::seam::atomic<std::size_t> remaining_{1};
  std::coroutine_handle<> waiting_;  // written before the body's decrement
  detail::seam::mutex mutex_;
  detail::group_child* children_ = nullptr;  // guarded by mutex_
  std::exception_ptr first_error_;           // guarded by mutex_
  bool closed_ = false;                      // guarded by mutex_
  // A child ended with task_cancelled (relaxed: read after the last decrement, which orders it).
  detail::seam::atomic<bool> saw_cancellation_{false};
};

namespace detail {
inline group_child::group_child(task_completion::function on_finished, task_group& owner,
                                std::coroutine_handle<> child_frame) noexcept
    : task_completion{on_finished}, group(&owner), frame(child_frame) {}
}  // namespace detail

template <class T>
std::coroutine_handle<> task_group::child_finished(detail::task_completion* self,
                                                   detail::promise_base& child) noexcept {
  auto* node = static_cast<detail::group_child*>(self);
  task_group& group = *node->group;
  if (child.failed()) {
    const std::exception_ptr& error = static_cast<detail::task_promise<T>&>(child).result_.error();
    if (detail::is_cancellation(error))
      group.saw_cancellation_.store(true, detail::seam::memory_order::relaxed);
    else
      group.record_failure(error);
  }
  {
    std::lock_guard lock(group.mutex_);
    if (node->prev != nullptr)
      node->prev->next = node->next;
    else
      group.children_ = node->next;
    if (node->next != nullptr) node->next->prev = node->prev;
  }
  node->frame.destroy();
  delete node;
  if (group.remaining_.fetch_sub(1, detail::seam::memory_order::acq_rel) == 1) return group.waiting_;
  return std::noop_coroutine();
}

/// Runs `body(group)` in a new task group and waits for it and all the group's children; yields
/// the body's value or rethrows the first error (see the top of this header).
template <class Body>
auto with_task_group(Body body)
    -> task<typename std::invoke_result_t<Body&, task_group&>::value_type> {
  using result_type = typename std::invoke_result_t<Body&, task_group&>::value_type;
  detail::worker_hot* worker = detail::current_worker();
  if (worker == nullptr)
    throw usage_error("brigade: with_task_group must run inside a task on a runtime");
  detail::stop_state* parent_scope = co_await this_task::detail::current_scope();
  task_group group(*worker->owner, parent_scope);
  std::optional<detail::non_void_t<result_type>> value;
  bool body_cancelled = false;
  try {
    // Named before the co_await (GCC 12 destroys temporaries inside a co_await expression twice).
    auto body_task = body(group);
    if constexpr (std::is_void_v<result_type>) {
      co_await detail::in_scope(body_task, &group.scope_);
      value.emplace();
    } else {
      value.emplace(co_await detail::in_scope(body_task, &group.scope_));
    }
  } catch (const task_cancelled&) {
    body_cancelled = true;
  } catch (...) {
    group.record_failure(std::current_exception());
  }
  co_await group.wait_for_children();
  if (std::exception_ptr error = group.first_error()) std::rethrow_exception(error);
  if (body_cancelled) throw task_cancelled("brigade: task group cancelled (its body was stopped)");
  if (group.saw_cancellation_.load(detail::seam::memory_order::relaxed) &&
      parent_scope != nullptr && parent_scope->stop_requested())
    throw task_cancelled("brigade: task group cancelled by its enclosing scope");
  if constexpr (!std::is_void_v<result_type>) co_return std::move(*value);
}

}  // namespace brigade
