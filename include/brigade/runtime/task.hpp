// brigade/runtime/task.hpp: task<T>, the runtime's unit of asynchronous work: a lazy, move-only
// coroutine that produces a T (or void, or a reference) or an exception.
//
//   brigade::task<int> answer() { co_return 42; }
//   brigade::task<int> twice() { co_return 2 * co_await answer(); }
//
// Lazy: calling a task function allocates its frame (from the frame pool) and runs nothing. The
// body starts when the task is awaited (then it runs inline, as a call would), forked by
// when_all / when_any / gather / a task_group, or spawned on a runtime.
//
// Symmetric transfer: awaiting a task transfers control to it, and a finished task transfers
// control back to its awaiter, as tail calls, so a chain of a million sequential awaits of tasks
// that complete synchronously runs in constant stack (guaranteed by clang at every optimisation
// level and by GCC when it optimises sibling calls, that is -O2: see shared/TOOLCHAIN.md).
//
// Exceptions: an exception that escapes the body is stored and rethrown to the awaiter.
// Cancellation: a task inherits its awaiter's cancellation scope (stop_token.hpp); if that scope
// was stopped before the task starts, the task does not run its body and completes with
// task_cancelled.
// Misuse: awaiting an empty task (default-constructed or moved-from) throws usage_error.
// Thread safety: a task object is not thread-safe; it is owned by one place at a time. Its body
// may resume on any worker thread of the runtime (after a wait it resumes where it was woken).
// Destroying a task that was never started frees its frame; destroying a suspended one (which
// only its owner can do, e.g. at runtime shutdown) runs the destructors of its live locals.
#pragma once

#include <coroutine>
#include <cstddef>
#include <exception>
#include <type_traits>
#include <utility>

#include "brigade/detail/frame_pool.hpp"
#include "brigade/detail/result_slot.hpp"
#include "brigade/runtime/errors.hpp"
#include "brigade/runtime/stop_token.hpp"

namespace brigade {

template <class T = void>
class task;

namespace detail {

struct promise_base;

/// What runs when a task finishes, instead of resuming a single awaiter: used by the fork-join
/// operations and by spawned roots. Returns the coroutine to transfer to (noop for none).
struct task_completion {
  using function = std::coroutine_handle<> (*)(task_completion* self,
                                               promise_base& finished) noexcept;
  function on_complete;
};

/// The part of every task promise that does not depend on T.
[[noreturn, gnu::noinline, gnu::cold]] inline void throw_cancelled_before_start() {
  throw task_cancelled("brigade: task cancelled before it started");
}

struct promise_base : pool_allocated {
  /// What the task does when it finishes: resume the coroutine that awaited it (plain await), or
  /// run a completion hook (fork-join children, spawned roots, task-group children). One field
  /// for both keeps every frame a word smaller.
  void set_continuation(std::coroutine_handle<> awaiting) noexcept {
    next_ = reinterpret_cast<std::uintptr_t>(awaiting.address());
  }
  void set_completion(task_completion* completion) noexcept {
    next_ = reinterpret_cast<std::uintptr_t>(completion) | next_is_completion;
  }
  /// Before a task that has not started yet runs as a fork-join child: its completion, its scope
  /// and whether it runs inline (two stores; nothing else in these words is set yet).
  void start_as_child(task_completion* completion, stop_state* scope, bool run_inline) noexcept {
    next_ = reinterpret_cast<std::uintptr_t>(completion) | next_is_completion;
    scope_and_flags_ = reinterpret_cast<std::uintptr_t>(scope) | (run_inline ? inline_flag : 0);
  }

  /// The cancellation scope the task runs in (null: none).
  stop_state* scope() const noexcept {
    return reinterpret_cast<stop_state*>(scope_and_flags_ & ~flag_mask);
  }
  /// The scope with root_scope_tag when it is a root (a spawned task's own): what a wait needs to
  /// arm its cancellation without reading the scope (detail/cancellable_wait.hpp).
  std::uintptr_t scope_word() const noexcept { return scope_and_flags_ & ~(failed_flag | inline_flag); }
  void set_scope(stop_state* scope) noexcept {
    scope_and_flags_ = reinterpret_cast<std::uintptr_t>(scope) | (scope_and_flags_ & (failed_flag | inline_flag));
  }
  void set_root_scope(root_stop_state* scope) noexcept {
    scope_and_flags_ = reinterpret_cast<std::uintptr_t>(static_cast<stop_state*>(scope)) | root_scope_tag |
                       (scope_and_flags_ & (failed_flag | inline_flag));
  }
  /// Runs in the scope of the task whose scope_word() this is (a plain await).
  void set_scope_word(std::uintptr_t word) noexcept {
    scope_and_flags_ = word | (scope_and_flags_ & (failed_flag | inline_flag));
  }
  /// The body ended with an exception.
  bool failed() const noexcept { return (scope_and_flags_ & failed_flag) != 0; }
  void set_failed() noexcept { scope_and_flags_ |= failed_flag; }
  /// Fork-join: run by the forking worker, not stolen.
  bool is_inline() const noexcept { return (scope_and_flags_ & inline_flag) != 0; }
  void mark_inline() noexcept { scope_and_flags_ |= inline_flag; }
  /// A stand-in passed to a task_completion hook in place of a finished promise, to ask the
  /// hook's owner for something else (detail/spawn_record.hpp, record_request). No promise of a
  /// task has this next_: an awaiter's frame is aligned, a completion is tagged with bit 0.
  bool is_record_request() const noexcept { return next_ == record_request_marker; }
  constexpr void mark_as_record_request() noexcept { next_ = record_request_marker; }

  // Two words, with the flags in the low bits of aligned addresses: every frame carries them.
  // Written by whoever starts the task, before it starts, and by the task itself; never by two
  // threads at once (starting a task happens-before it runs, and it finishes before anyone reads
  // what it wrote).
  static constexpr std::uintptr_t next_is_completion = 1;  // in next_
  static constexpr std::uintptr_t record_request_marker = 2;  // next_ of a record_request
  static constexpr std::uintptr_t failed_flag = 1;         // in scope_and_flags_
  static constexpr std::uintptr_t inline_flag = 2;         // in scope_and_flags_
  static_assert(root_scope_tag == 4, "scope_and_flags_ keeps root_scope_tag in its third bit");
  static constexpr std::uintptr_t flag_mask = 7;
  static_assert(alignof(stop_state) > flag_mask && alignof(task_completion) > next_is_completion);
  std::uintptr_t next_ = 0;             // the awaiter's frame, or a task_completion | 1
  std::uintptr_t scope_and_flags_ = 0;  // a stop_state*, plus failed_flag, inline_flag, root_scope_tag

  struct initial_awaiter {
    promise_base* promise;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<>) const noexcept {}
    // Runs when the task starts: a task whose scope was stopped before it started does not run
    // its body. The exception goes to unhandled_exception() like one from the body.
    // Small enough to inline into every task's body (the throw is out of line): a call here
    // cost 16 instructions per task in fork-join (callgrind), a quarter of them saving registers.
    void await_resume() const {
      stop_state* scope = promise->scope();
      if (scope != nullptr && scope->requested_here()) [[unlikely]]
        throw_cancelled_before_start();
    }
  };

  struct final_awaiter {
    bool await_ready() const noexcept { return false; }
    template <class Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> self) const noexcept {
      promise_base& promise = self.promise();
      if (promise.next_ & next_is_completion) {
        auto* completion = reinterpret_cast<task_completion*>(promise.next_ & ~next_is_completion);
        return completion->on_complete(completion, promise);
      }
      return std::coroutine_handle<>::from_address(reinterpret_cast<void*>(promise.next_));
    }
    void await_resume() const noexcept {}
  };

  initial_awaiter initial_suspend() noexcept { return {this}; }
  final_awaiter final_suspend() const noexcept { return {}; }
};

template <class T>
struct task_promise final : promise_base {
  result_slot<T> result_;

  task<T> get_return_object() noexcept;
  void unhandled_exception() noexcept {
    set_failed();
    result_.set_error(std::current_exception());
  }
  template <class U>
    requires std::is_convertible_v<U&&, T>
  void return_value(U&& value) {
    result_.set_value(std::forward<U>(value));
  }
};

template <>
struct task_promise<void> final : promise_base {
  result_slot<void> result_;

  task<void> get_return_object() noexcept;
  void unhandled_exception() noexcept {
    set_failed();
    result_.set_error(std::current_exception());
  }
  void return_void() noexcept { result_.set_value(); }
};

/// Promise types that take part in brigade's scope propagation.
template <class Promise>
concept brigade_promise = std::is_base_of_v<promise_base, Promise>;

/// Gives a task the scope of the coroutine that starts it (if that is a brigade task).
template <class Promise>
stop_state* scope_of(std::coroutine_handle<Promise> handle) noexcept {
  if constexpr (brigade_promise<Promise>)
    return handle.promise().scope();
  else
    return nullptr;
}
/// The scope of the coroutine `handle` as promise_base::scope_word() gives it (0: none).
template <class Promise>
std::uintptr_t scope_word_of(std::coroutine_handle<Promise> handle) noexcept {
  if constexpr (brigade_promise<Promise>)
    return handle.promise().scope_word();
  else
    return 0;
}

[[noreturn]] inline void throw_empty_task() {
  throw usage_error(
      "brigade: co_await on an empty task (default-constructed, moved-from, or already awaited)");
}

}  // namespace detail

/// A lazy coroutine producing a T. See the top of this header.
template <class T>
class [[nodiscard("a task does nothing until it is awaited or spawned")]] task {
 public:
  using promise_type = detail::task_promise<T>;
  using value_type = T;
  using handle_type = std::coroutine_handle<promise_type>;

  task() noexcept = default;
  explicit task(handle_type handle) noexcept : handle_(handle) {}
  task(task&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  task& operator=(task&& other) noexcept {
    if (this != &other) {
      destroy();
      handle_ = std::exchange(other.handle_, {});
    }
    return *this;
  }
  task(const task&) = delete;
  task& operator=(const task&) = delete;
  ~task() { destroy(); }

  /// False for a default-constructed or moved-from task.
  [[nodiscard]] bool valid() const noexcept { return static_cast<bool>(handle_); }

  /// Awaiting runs the task inline (symmetric transfer) and yields its result or rethrows.
  struct [[nodiscard("co_await the task to run it")]] awaiter {
    handle_type handle;
    bool await_ready() const {
      if (!handle || handle.done()) detail::throw_empty_task();
      return false;
    }
    template <class Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> awaiting) noexcept {
      auto& promise = handle.promise();
      promise.set_continuation(awaiting);
      promise.set_scope_word(detail::scope_word_of(awaiting));
      return handle;
    }
    T await_resume() { return handle.promise().result_.take(); }
  };
  awaiter operator co_await() & noexcept { return awaiter{handle_}; }
  awaiter operator co_await() && noexcept { return awaiter{handle_}; }

  /// Internal: the coroutine handle, for the runtime and the fork-join operations.
  [[nodiscard]] handle_type handle() const noexcept { return handle_; }
  /// Internal: gives up ownership of the frame.
  [[nodiscard]] handle_type release() noexcept { return std::exchange(handle_, {}); }

 private:
  // The frame is destroyed through a function that clang does not inline, so that clang never
  // elides a task's frame into its caller's.
  // clang-16 at -O2 miscompiles some coroutines into which it has elided a child task's frame
  // (heap allocation elision, done when it sees the child destroyed on every path): in
  //   if (c) { auto child = f(); x = co_await std::move(child); }  co_await tx.send_async(x);
  // the normal path after the last co_await frees the frame without running the final awaiter,
  // so a spawned task never completes (its join never returns) and its frame is later freed a
  // second time. docs/ARCHITECTURE.md, "Compiler notes"; tests/unit/runtime/task_elision_test.cpp.
  // A frame costs a frame-pool allocation instead (tens of nanoseconds); GCC never elides.
  // Hiding the frame's address from clang inside an inline function (an empty asm, or a call
  // through the frame's destroy pointer) does not stop the elision: clang sees through both.
  void destroy() noexcept {
    if (handle_) destroy_frame(handle_);
  }
#if defined(__clang__)
  // noexcept matters: without it (so that the destroy became a tail call) clang-16 miscompiled
  // the shape above again, with the child's frame not even elided (task_elision_test and
  // offload_test failed).
  [[gnu::noinline]] static void destroy_frame(handle_type frame) noexcept { frame.destroy(); }
#else
  static void destroy_frame(handle_type frame) noexcept { frame.destroy(); }
#endif
  handle_type handle_;
};

namespace detail {
template <class T>
task<T> task_promise<T>::get_return_object() noexcept {
  return task<T>{std::coroutine_handle<task_promise<T>>::from_promise(*this)};
}
inline task<void> task_promise<void>::get_return_object() noexcept {
  return task<void>{std::coroutine_handle<task_promise<void>>::from_promise(*this)};
}
}  // namespace detail

namespace detail {
/// co_await in_scope(t, scope): runs `t` inline as co_await t does, but in `scope` (which must be
/// the awaiting task's scope or below it) instead of the awaiting task's own: a task group's
/// body runs in the group's scope, so that a failing child stops it.
template <class T>
struct [[nodiscard("co_await it")]] in_scope_awaiter : task<T>::awaiter {
  stop_state* scope;
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiting) noexcept {
    auto& promise = this->handle.promise();
    promise.set_continuation(awaiting);
    promise.set_scope(scope);
    return this->handle;
  }
};
template <class T>
in_scope_awaiter<T> in_scope(task<T>& work, stop_state* scope) noexcept {
  return in_scope_awaiter<T>{{work.handle()}, scope};
}

/// Whether R is a brigade::task (for APIs that accept a function returning T or task<T>).
template <class R>
inline constexpr bool is_task_v = false;
template <class U>
inline constexpr bool is_task_v<task<U>> = true;
}  // namespace detail

}  // namespace brigade
