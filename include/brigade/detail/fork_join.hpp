// brigade/detail/fork_join.hpp: the machinery shared by when_all, when_any and gather: start N
// child tasks in parallel, wait for all of them, and decide the result.
//
// Protocol (the awaiting task is the parent; the worker that runs await_suspend is the owner):
//   1. await_ready: on a worker, with every child valid (else usage_error).
//   2. await_suspend: each child gets this operation as its completion and the operation's scope
//      (a child of the parent's) as its scope. Children N-1 .. 1 are pushed on the owner's deque
//      in that order (child 1 ends at the bottom), where idle workers can steal them (kept
//      private while no worker is idle: docs/ARCHITECTURE.md, protocol 8); control transfers to
//      child 0, marked inline.
//   3. When an inline child finishes on the owner, the owner pops its deque: thieves take from
//      the top and the children were pushed contiguously, so the pop yields the next sibling
//      unless that sibling and all later ones were stolen. A popped sibling is marked inline and
//      run at once (symmetric transfer). When the last child finishes inline, the parent resumes
//      directly: no atomic read-modify-write at all, the common case when nobody is idle.
//   4. Otherwise the inline chain publishes how many children it finished with one
//      fetch_sub on `remaining_`, and every stolen child does fetch_sub(1) when it finishes; the
//      one that brings it to zero resumes the parent. (If the pop yields something that is not
//      the sibling, e.g. a task a child spawned, it is pushed back and the chain publishes: the
//      sibling then runs later as a non-inline child.) An inline child that suspended and
//      finished on another worker publishes the same way.
//   5. Under the operation's mode a finishing child may claim `first_` (fail_fast: the first
//      failure; first_wins: the first to finish at all) and then stop the scope, so siblings
//      that have not started never run and running ones see it at their cancellation points.
//   6. The parent collects the children's results; the children's frames die with the operation.
// Children never outlive the operation (structured concurrency): the parent waits for all of
// them, even after a failure, so the scope and the children's frames stay valid.
//
// Invariants:
//   - remaining_ == N minus the children counted so far (inline ones count when published).
//   - next_index_ and inline_done_ are touched only by the inline chain, which is sequential
//     (one child at a time), even if it migrates to another worker.
//   - promise.is_inline() is written by the owner before it runs a child it popped (or child 0), and
//     at adopt time (false) before the child is pushed; a thief reads it after its steal, which
//     acquires the push.
// Memory order: claiming `first_` is acq_rel; the decrements of `remaining_` are acq_rel and
// form a release sequence, so the parent (resumed after the last one) sees every child's
// result. When every child ran inline, all of it happened on one thread in sequence.
#pragma once

#include <array>
#include <coroutine>
#include <cstddef>
#include <limits>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "brigade/detail/scheduler_hooks.hpp"
#include "brigade/detail/seam.hpp"
#include "brigade/runtime/errors.hpp"
#include "brigade/runtime/stop_token.hpp"
#include "brigade/runtime/task.hpp"

namespace brigade::detail {

enum class fork_join_mode : unsigned char {
  fail_fast,   // when_all: the first failure stops the others and is rethrown
  first_wins,  // when_any: the first to finish stops the others and is the result
  settle,      // gather: every outcome is kept, nothing is stopped
};

/// The name of the operation of each mode, for error messages.
constexpr const char* fork_join_name(fork_join_mode mode) noexcept {
  switch (mode) {
    case fork_join_mode::fail_fast: return "when_all";
    case fork_join_mode::first_wins: return "when_any";
    case fork_join_mode::settle: return "gather";
  }
  return "fork-join";
}

[[noreturn, gnu::cold, gnu::noinline]] inline void throw_empty_child(const char* operation) {
  throw usage_error(std::string("brigade: ") + operation +
                    " given an empty task (default-constructed, moved-from or already awaited)");
}
[[noreturn, gnu::cold, gnu::noinline]] inline void throw_off_worker(const char* operation) {
  throw usage_error(std::string("brigade: ") + operation +
                    " must be awaited inside a task running on a runtime");
}

/// Step 1 for one child: throws usage_error for an empty or finished task.
template <class T>
void check_child(const task<T>& child, const char* operation) {
  if (!child.valid() || child.handle().done()) [[unlikely]]
    throw_empty_child(operation);
}

/// The state of one fork-join operation. `Fork` (range_fork or tuple_fork) derives from it and
/// provides `mode`, child_count(), child_handle(i) and child_promise(i).
class fork_join_base : public task_completion {
 public:
  explicit fork_join_base(function on_finished) noexcept : task_completion{on_finished} {}
  fork_join_base(const fork_join_base&) = delete;
  fork_join_base& operator=(const fork_join_base&) = delete;

  /// The child that decided the result (fail_fast: the first failure; first_wins: the first
  /// finished), or nullptr.
  [[nodiscard]] promise_base* first() const noexcept {
    return first_.load(seam::memory_order::acquire);
  }

 protected:
  /// Step 1: remembers this worker (the owner); throws usage_error off a worker.
  void require_worker(const char* operation) {
    owner_ = current_worker();
    if (owner_ == nullptr) [[unlikely]]
      throw_off_worker(operation);
  }

  /// Step 2, on the owner, before any child runs.
  template <class Promise>
  void begin(std::coroutine_handle<Promise> parent, std::size_t children) noexcept {
    parent_ = parent;
    scope_.set_parent(scope_of(parent));
    remaining_.store(children, seam::memory_order::relaxed);
    next_index_ = 1;
    inline_done_ = 0;
  }
  /// Makes `child` a child of this operation; the first one runs inline, the others are forked.
  void adopt(promise_base& child, bool run_inline) noexcept {
    child.start_as_child(this, &scope_, run_inline);
  }
  worker_hot& owner() const noexcept { return *owner_; }

  /// Steps 3-5, run by every child as it finishes.
  ///
  /// Its common paths make no call except tail calls, so that the compiler need not save
  /// registers on entry (this runs once per child: ~15% of a fine-grained fork-join's
  /// instructions were that save and restore). Rare cases go through out-of-line functions that
  /// return the next coroutine themselves.
  template <class Fork>
  static std::coroutine_handle<> child_finished(task_completion* self,
                                                promise_base& child) noexcept {
    auto& op = static_cast<Fork&>(static_cast<fork_join_base&>(*self));
    if constexpr (Fork::mode == fork_join_mode::first_wins) {
      op.claim_first(child);
    } else if constexpr (Fork::mode == fork_join_mode::fail_fast) {
      if (child.failed()) [[unlikely]]
        return child_failed<Fork>(op, child);
    }
    return continue_after<Fork>(op, child);
  }

 private:
  /// Step 5 for a failed child under fail_fast, then the rest of child_finished.
  template <class Fork>
  [[gnu::noinline]] static std::coroutine_handle<> child_failed(Fork& op,
                                                                promise_base& child) noexcept {
    op.claim_first(child);
    return continue_after<Fork>(op, child);
  }

  /// Steps 3-4 for a finished child.
  template <class Fork>
  static std::coroutine_handle<> continue_after(Fork& op, promise_base& child) noexcept {
    if (!child.is_inline()) return op.count_down(1);
    const std::size_t done = ++op.inline_done_;
    worker_hot* worker = current_worker();
    if (worker == op.owner_) [[likely]] {
      if (op.next_index_ < op.child_count()) {
        const std::coroutine_handle<> sibling = op.child_handle(op.next_index_);
        void* popped = worker->deque.pop();
        if (popped != sibling.address()) [[unlikely]]
          return op.sibling_not_popped(*worker, popped);
        op.child_promise(op.next_index_).mark_inline();
        ++op.next_index_;
        return offer_then_run(*worker, sibling);
      }
      if (done == op.child_count()) return op.all_children_finished();  // all inline: no atomics
    }
    // Some children ran (or run) elsewhere, or the chain migrated: publish the inline count.
    return op.publish_inline_count();
  }

  /// The remaining siblings were stolen, or the pop found something else (a task a child
  /// spawned): leave that for the worker loop, and publish the inline count.
  [[gnu::noinline]] std::coroutine_handle<> sibling_not_popped(worker_hot& worker,
                                                               void* popped) noexcept {
    if (worker.deque.has_private()) offer_work(worker);
    if (popped != nullptr) fork(worker, std::coroutine_handle<>::from_address(popped));
    return publish_inline_count();
  }

  std::coroutine_handle<> publish_inline_count() noexcept {
    const std::size_t done = inline_done_;
    next_index_ = std::numeric_limits<std::size_t>::max();  // the chain ends here
    return count_down(done);
  }

  void claim_first(promise_base& child) noexcept {
    promise_base* expected = nullptr;
    if (first_.compare_exchange_strong(expected, &child, seam::memory_order::acq_rel))
      scope_.request_stop();
  }
  /// The last child has finished: nothing runs in the scope any more, so its link to the parent
  /// scope goes now, before the parent resumes. The operation (a temporary awaitable such as
  /// when_all(...)) may outlive the scope it was awaited in: in
  /// `co_await timeout(when_all(a(), b()), d)` the timeout's frame, which holds the parent scope,
  /// is destroyed before the when_all awaitable. Returns the parent to resume.
  std::coroutine_handle<> all_children_finished() noexcept {
    if (scope_.linked()) [[unlikely]]
      return unlink_then_resume_parent();
    return parent_;
  }
  /// all_children_finished's rare case, out of line: a child linked the scope to its parent (a
  /// stop callback or a wait registered in it). Keeps the common path free of calls, so that
  /// continue_after saves no registers.
  [[gnu::noinline]] std::coroutine_handle<> unlink_then_resume_parent() noexcept {
    scope_.unlink_now();
    return parent_;
  }
  std::coroutine_handle<> count_down(std::size_t finished) noexcept {
    if (remaining_.fetch_sub(finished, seam::memory_order::acq_rel) == finished) return all_children_finished();
    return std::noop_coroutine();
  }

  seam::atomic<std::size_t> remaining_{0};
  seam::atomic<promise_base*> first_{nullptr};
  std::coroutine_handle<> parent_;
  child_stop_state scope_;
  worker_hot* owner_ = nullptr;
  // The inline chain only (see the invariants).
  std::size_t next_index_ = 1;
  std::size_t inline_done_ = 0;
};

/// void as a value: std::monostate, so that results of void tasks fit in tuples and variants.
template <class T>
using non_void_t = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

/// Takes a finished child's result as non_void_t<T>; rethrows its error.
template <class T>
non_void_t<T> take_non_void(task<T>& child) {
  if constexpr (std::is_void_v<T>) {
    child.handle().promise().result_.take();
    return std::monostate{};
  } else {
    return child.handle().promise().result_.take();
  }
}

/// The containers of tasks that the range forms of when_all / when_any / gather accept: a vector
/// (any length, known at run time) or an array (length fixed at compile time; the operation then
/// allocates nothing, and its results come back in an array too).
template <class Container>
struct task_container;
template <class T>
struct task_container<std::vector<task<T>>> {
  using value_type = T;
  /// Builds a vector holding make(child) for each child, in order.
  template <class Make>
  static auto map(std::vector<task<T>>& children, Make make) {
    std::vector<decltype(make(children[0]))> results;
    results.reserve(children.size());
    for (auto& child : children) results.push_back(make(child));
    return results;
  }
};
template <class T, std::size_t N>
struct task_container<std::array<task<T>, N>> {
  using value_type = T;
  /// Builds an array holding make(child) for each child, in order (no default construction).
  template <class Make>
  static auto map(std::array<task<T>, N>& children, Make make) {
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      return std::array<decltype(make(children[0])), N>{make(children[I])...};
    }(std::make_index_sequence<N>{});
  }
};

/// A vector or array of tasks: what the range forms of when_all, when_any and gather take.
template <class Container>
concept task_range = requires { typename task_container<Container>::value_type; };

/// True for std::array<T, 0> (when_any over it has no winner: a compile-time error).
template <class Container>
inline constexpr bool is_empty_array = false;
template <class T>
inline constexpr bool is_empty_array<std::array<T, 0>> = true;

/// A fork-join operation over a container of tasks (task_container): the awaiter's steps 1-2.
/// Derived classes add await_resume. Movable until awaited, not while awaited.
template <fork_join_mode Mode, class Container>
class range_fork : public fork_join_base {
 public:
  static constexpr fork_join_mode mode = Mode;
  static constexpr const char* name = fork_join_name(Mode);
  using value_type = typename task_container<Container>::value_type;
  static_assert(!std::is_reference_v<value_type>,
                "brigade: when_all, when_any and gather over a vector or an array need tasks of "
                "non-reference type");

  explicit range_fork(Container&& children)
      : fork_join_base(&child_finished<range_fork>), children_(std::move(children)) {}
  range_fork(range_fork&& other) noexcept
      : fork_join_base(&child_finished<range_fork>), children_(std::move(other.children_)) {}
  range_fork& operator=(range_fork&&) = delete;

  BRIGADE_ALWAYS_INLINE bool await_ready() {
    for (auto& child : children_) check_child(child, name);
    if (children_.empty()) return true;
    require_worker(name);
    return false;
  }

  template <class Promise>
  BRIGADE_ALWAYS_INLINE std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> parent) noexcept {
    begin(parent, children_.size());
    for (std::size_t i = 0; i < children_.size(); ++i) adopt(children_[i].handle().promise(), i == 0);
    for (std::size_t i = children_.size(); i-- > 2;) fork(owner(), children_[i].handle());
    if (children_.size() == 1) return children_.front().handle();
    return fork_then_run(owner(), children_[1].handle(), children_.front().handle());
  }

  std::size_t child_count() const noexcept { return children_.size(); }
  std::coroutine_handle<> child_handle(std::size_t i) const noexcept { return children_[i].handle(); }
  promise_base& child_promise(std::size_t i) const noexcept { return children_[i].handle().promise(); }

 protected:
  /// Index of the child whose promise is `promise`.
  std::size_t index_of(const promise_base* promise) const noexcept {
    for (std::size_t i = 0; i < children_.size(); ++i)
      if (&children_[i].handle().promise() == promise) return i;
    return children_.size();
  }

  Container children_;
};

/// The same over a fixed list of tasks of possibly different types.
template <fork_join_mode Mode, class... Ts>
class tuple_fork : public fork_join_base {
 public:
  static constexpr fork_join_mode mode = Mode;
  static constexpr const char* name = fork_join_name(Mode);

  explicit tuple_fork(task<Ts>&&... children)
      : fork_join_base(&child_finished<tuple_fork>), children_(std::move(children)...) {}
  tuple_fork(tuple_fork&& other) noexcept
      : fork_join_base(&child_finished<tuple_fork>), children_(std::move(other.children_)) {}
  tuple_fork& operator=(tuple_fork&&) = delete;

  bool await_ready() {
    std::apply([](const auto&... child) { (check_child(child, name), ...); }, children_);
    if constexpr (sizeof...(Ts) == 0) {
      return true;
    } else {
      require_worker(name);
      return false;
    }
  }

  template <class Promise>
  BRIGADE_ALWAYS_INLINE std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> parent) noexcept {
    begin(parent, sizeof...(Ts));
    std::size_t at = 0;
    std::apply([&](auto&... child) { (adopt(child.handle().promise(), at++ == 0), ...); }, children_);
    if constexpr (sizeof...(Ts) == 1) {
      return child_handle(0);
    } else {
      for (std::size_t i = sizeof...(Ts); i-- > 2;) fork(owner(), child_handle(i));
      return fork_then_run(owner(), child_handle(1), child_handle(0));
    }
  }

  static constexpr std::size_t child_count() noexcept { return sizeof...(Ts); }
  std::coroutine_handle<> child_handle(std::size_t i) const noexcept {
    std::coroutine_handle<> found;
    std::size_t at = 0;
    std::apply([&](const auto&... child) { ((at++ == i ? (void)(found = child.handle()) : void()), ...); },
               children_);
    return found;
  }
  promise_base& child_promise(std::size_t i) const noexcept {
    promise_base* found = nullptr;
    std::size_t at = 0;
    std::apply([&](const auto&... child) {
      ((at++ == i ? (void)(found = &child.handle().promise()) : void()), ...);
    }, children_);
    return *found;
  }

 protected:
  /// Index of the child whose promise is `promise`.
  std::size_t index_of(const promise_base* promise) const noexcept {
    std::size_t found = sizeof...(Ts);
    std::size_t i = 0;
    std::apply([&](const auto&... child) {
      ((&child.handle().promise() == promise ? (found = i, ++i) : ++i), ...);
    }, children_);
    return found;
  }

  std::tuple<task<Ts>...> children_;
};

}  // namespace brigade::detail
