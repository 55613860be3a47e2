// brigade/fiber/go.hpp: go(), green threads. A fiber runs an ordinary function on its own stack,
// on the runtime's workers; when it blocks (a channel receive, a mutex, a sleep, a socket read,
// a join), only the fiber waits, and the worker runs other fibers and tasks meanwhile.
//
//   auto handle = brigade::go([](brigade::receiver<int> jobs) {  // on a worker of the runtime
//     for (int job : jobs) work(job);                              // blocking calls, no co_await
//   }, std::move(jobs));
//   handle.join();                 // from a thread or a fiber; co_await handle from a task
//
//   brigade::go(rt, fn, args...)                 // from any thread, on runtime `rt`
//   brigade::go(options, fn, args...)            // fiber_options: stack size, name
//
// What a fiber is: a task (its driver) that switches into the fiber's stack, so everything a task
// has, a fiber has: the join_handle (join, co_await, detach, abort), exceptions delivered to the
// joiner, cancellation (abort(), a timeout around the join, runtime shutdown), work stealing and
// the liveness monitor (a fiber stuck in a raw system call holds one worker; the monitor moves
// the others' work). The blocking forms of every primitive (the thread forms: `recv`, `lock`,
// `sleep_for`, `read_some`, `join_handle::join`, ...) park the fiber instead of the thread,
// through the thread_waiter (runtime/waiter.hpp); no primitive has fiber code. A fiber waits for
// a coroutine task with this_fiber::await(task) or join; a task waits for a fiber with co_await
// on its handle. this_fiber.hpp: yield, sleep, await, id; fiber_local.hpp: fiber-local storage.
//
// Cancellation: abort() on the handle (or a stop of the scope the fiber was started in, if any)
// ends the fiber's current or next blocking wait with task_cancelled, with that wait's
// cancel-safety (a cancelled recv took no value). The exception unwinds the fiber like any other;
// catching it and blocking again sees the stop again.
//
// Stacks: default_fiber_stack_size (64 KiB of address space; only touched pages cost memory),
// pooled and reused; a guard page below each turns an overflow into a report that names the
// fiber, and ends the process (detail/fiber_stack.hpp, detail/fiber_core.hpp). Like a thread's,
// a guard page catches frames that step on it, not a single frame larger than the page (a large
// local array): give such fibers a larger stack_size.
//
// Migration and thread_local: a fiber may resume on another worker after any blocking call
// (stealing). A thread_local read before and after such a call may be two different threads'
// variables, and a compiler may even reuse the address it computed before the call. Use
// fiber_local for per-fiber state, or pin the fiber (fiber_options::pinned): it then runs only
// on the worker where it started.
//
// Destroying the runtime while fibers are blocked: their waits end with task_cancelled and their
// stacks unwind (destructors run), on the thread that shuts the runtime down. A fiber that then
// blocks again in a wait no stop reaches is abandoned with a message (detail/fiber_core.hpp).
//
// Thread safety: go() from any thread (the runtime overload) or a worker (the others); the handle
// is a join_handle. Cost: a stack from the pool (a few ns when the thread's cache has one), the
// driver's frame, and one spawn.
#pragma once

#include <cstddef>
#include <exception>
#include <functional>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

#include "brigade/detail/fiber_core.hpp"
#include "brigade/detail/fork_join.hpp"
#include "brigade/detail/scheduler_hooks.hpp"
#include "brigade/detail/stop_state.hpp"
#include "brigade/runtime/errors.hpp"
#include "brigade/runtime/join_handle.hpp"
#include "brigade/runtime/runtime.hpp"
#include "brigade/runtime/spawn.hpp"
#include "brigade/runtime/task.hpp"
#include "brigade/runtime/yield_now.hpp"

namespace brigade {

struct fiber_options {
  /// Usable stack bytes (rounded up to pages, at least 16 KiB).
  std::size_t stack_size = detail::default_fiber_stack_size;
  /// Named in the stack-overflow report and by this_fiber::name(); copied.
  const char* name = nullptr;
  /// Runs the fiber only on the worker where it starts: it is never stolen, and every wake, yield
  /// and await resumes it there (so its thread_locals are that thread's). The price: while that
  /// worker is busy, the fiber waits even if others are idle, and the liveness monitor does not
  /// move it off a worker stuck in a system call.
  bool pinned = false;
};

namespace detail {

/// The fiber's function and arguments, and what it returned or threw. Lives in the driver's frame.
template <class Result, class Function, class Arguments>
struct fiber_body {
  Function function;
  Arguments arguments;
  std::optional<non_void_t<Result>> result;
  std::exception_ptr failure;

  static void run(void* self) noexcept {
    auto& body = *static_cast<fiber_body*>(self);
    try {
      if constexpr (std::is_void_v<Result>) {
        std::apply(std::move(body.function), std::move(body.arguments));
        body.result.emplace();
      } else {
        body.result.emplace(std::apply(std::move(body.function), std::move(body.arguments)));
      }
    } catch (...) {
      body.failure = std::current_exception();
    }
  }
};

/// Owns a fiber_core for the driver: unwinds a fiber left in the middle and returns its stack.
class fiber_owner {
 public:
  explicit fiber_owner(fiber_core* fiber) noexcept : fiber_(fiber) {}
  fiber_owner(const fiber_owner&) = delete;
  fiber_owner& operator=(const fiber_owner&) = delete;
  ~fiber_owner() {
    if (fiber_ == nullptr) return;
    if (fiber_->unwind()) fiber_core::destroy(fiber_);
  }
  fiber_core& operator*() const noexcept { return *fiber_; }
  fiber_core* operator->() const noexcept { return fiber_; }
  /// After the fiber finished: returns its stack now (before the joiner is told).
  void release() noexcept { fiber_core::destroy(std::exchange(fiber_, nullptr)); }

 private:
  fiber_core* fiber_;
};

/// co_await: tells the fiber where its driver is (handle, runtime, scope, home worker); never
/// suspends, except that a pinned fiber that starts on a compensating worker (which retires when
/// idle) moves to a core worker first.
struct bind_fiber {
  fiber_core& fiber;
  bool pinned;
  bool await_ready() const noexcept { return false; }
  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> driver) {
    worker_hot* worker = current_worker();
    if (worker == nullptr) throw usage_error("brigade: a fiber's driver ran outside a runtime");
    std::uint32_t home = fiber_core::no_home;
    if (pinned) home = worker->index < worker->worker_count ? worker->index : worker->index % worker->worker_count;
    fiber.bind(*worker->owner, driver, scope_word_of(driver), home);
    if (pinned && home != worker->index) {
      schedule_pinned(*worker->owner, home, driver);
      return true;
    }
    return false;
  }
  void await_resume() const noexcept {}
};

/// co_await, for a pinned fiber: continues on its home worker (queued there if the driver was
/// resumed elsewhere, as after an await that ended on another worker), else goes on at once.
/// With `yield`, always queues it (behind the worker's other work), and then throws
/// task_cancelled if the fiber was asked to stop, as yield_now() does.
struct resume_at_home {
  fiber_core& fiber;
  bool yield = false;
  bool await_ready() const noexcept {
    if (yield) return false;
    const worker_hot* worker = current_worker();
    return worker != nullptr && worker->index == fiber.home();
  }
  void await_suspend(std::coroutine_handle<> driver) const {
    schedule_pinned(fiber.owner(), fiber.home(), driver);
  }
  void await_resume() const {
    if (!yield || fiber.scope_word() == 0) return;
    const auto* scope = reinterpret_cast<const stop_state*>(fiber.scope_word() & ~root_scope_tag);
    if (scope->stop_requested()) throw task_cancelled("brigade: fiber cancelled (seen at this_fiber::yield)");
  }
};

/// co_await: the driver suspends while its fiber is parked on a waiter's word; the waiter's waker
/// (or the fiber's timer) schedules it. Does not suspend when the word moved on meanwhile.
struct fiber_parked {
  fiber_core& fiber;
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<>) const noexcept {
    std::uint32_t expected = blocking_state::waiting;
    // Release: publishes the waiter's fiber pointer (and the fiber's state) to the waker, whose
    // exchange acquires. After this the driver may be resumed on another worker at once.
    return fiber.park_word().compare_exchange_strong(expected, blocking_state::fiber_parked,
                                                     seam::memory_order::acq_rel);
  }
  void await_resume() const noexcept {}
};

/// The task that runs a fiber (see detail/fiber_core.hpp).
template <class Result, class Body>
task<Result> drive_fiber(Body body, std::size_t stack_size, const char* name, bool pinned) {
  fiber_owner fiber(fiber_core::create(stack_size, name, &Body::run, &body));
  co_await bind_fiber{*fiber, pinned};
  while (true) {
    const fiber_core::request why = fiber->run();
    if (why == fiber_core::request::finished) break;
    if (why == fiber_core::request::park) {
      co_await fiber_parked{*fiber};  // a pinned fiber's waker queues it at home (fiber_unblock)
    } else if (why == fiber_core::request::yield) {
      try {
        if (pinned)
          co_await resume_at_home{*fiber, true};
        else
          co_await yield_now();
      } catch (...) {
        fiber->fail_pending(std::current_exception());
      }
    } else {
      try {
        co_await fiber->pending();
      } catch (...) {
        fiber->fail_pending(std::current_exception());
      }
      if (pinned) co_await resume_at_home{*fiber};
    }
  }
  fiber.release();
  if (body.failure) std::rethrow_exception(body.failure);
  if constexpr (!std::is_void_v<Result>) co_return std::move(*body.result);
}

template <class Function, class... Arguments>
using fiber_result_t = std::invoke_result_t<std::decay_t<Function>, std::decay_t<Arguments>...>;

template <class Function, class... Arguments>
auto make_fiber_task(const fiber_options& options, Function&& function, Arguments&&... arguments) {
  using result = fiber_result_t<Function, Arguments...>;
  using body_type = fiber_body<result, std::decay_t<Function>, std::tuple<std::decay_t<Arguments>...>>;
  return drive_fiber<result>(
      body_type{std::forward<Function>(function), std::tuple<std::decay_t<Arguments>...>(std::forward<Arguments>(arguments)...), {}, {}},
      options.stack_size, options.name, options.pinned);
}

}  // namespace detail

/// Starts a fiber running `function(arguments...)` on runtime `rt` (from any thread). The
/// arguments are copied or moved into the fiber, as std::thread's are.
template <class Function, class... Arguments>
  requires std::invocable<std::decay_t<Function>, std::decay_t<Arguments>...>
auto go(runtime& rt, fiber_options options, Function&& function, Arguments&&... arguments)
    -> join_handle<detail::fiber_result_t<Function, Arguments...>> {
  return rt.spawn(detail::make_fiber_task(options, std::forward<Function>(function), std::forward<Arguments>(arguments)...));
}
template <class Function, class... Arguments>
  requires std::invocable<std::decay_t<Function>, std::decay_t<Arguments>...>
auto go(runtime& rt, Function&& function, Arguments&&... arguments)
    -> join_handle<detail::fiber_result_t<Function, Arguments...>> {
  return go(rt, fiber_options{}, std::forward<Function>(function), std::forward<Arguments>(arguments)...);
}

/// Starts a fiber on the current runtime (from a task or a fiber on one of its workers). Throws
/// usage_error on a thread that is not a worker: name the runtime there, go(rt, fn).
template <class Function, class... Arguments>
  requires std::invocable<std::decay_t<Function>, std::decay_t<Arguments>...>
auto go(fiber_options options, Function&& function, Arguments&&... arguments)
    -> join_handle<detail::fiber_result_t<Function, Arguments...>> {
  runtime* current = runtime::current();
  if (current == nullptr)
    throw usage_error("brigade: go(fn) called outside a runtime's worker thread; use go(runtime, fn) there");
  return current->spawn(
      detail::make_fiber_task(options, std::forward<Function>(function), std::forward<Arguments>(arguments)...));
}
template <class Function, class... Arguments>
  requires std::invocable<std::decay_t<Function>, std::decay_t<Arguments>...>
auto go(Function&& function, Arguments&&... arguments)
    -> join_handle<detail::fiber_result_t<Function, Arguments...>> {
  return go(fiber_options{}, std::forward<Function>(function), std::forward<Arguments>(arguments)...);
}

}  // namespace brigade
