// brigade/detail/fiber_core.hpp: one fiber's execution state and its context switches (internal;
// the public side is fiber/go.hpp).
//
// A fiber is run by a task, its driver (go.hpp's drive_fiber): to the scheduler a fiber is that
// task, so it is queued, stolen, woken, cancelled and shut down as tasks are, and the scheduler
// has no fiber code. The driver runs on a worker's own stack and switches into the fiber's stack
// (run()); the fiber runs until it finishes or asks the driver for something, switching back:
//
//   park   its thread_waiter blocks (fiber_block_until): the driver suspends until the waiter's
//          waker (or the fiber's timer) schedules it, then switches the fiber in again;
//   await  it awaits a task (this_fiber::await): the driver co_awaits that task on its behalf,
//          with the driver's cancellation scope, and hands back its value or exception;
//   yield  this_fiber::yield(): the driver co_awaits yield_now() (no task frame: the common
//          case of await, written out);
//   finished  its function returned or threw (the driver's body caught it).
//
// The core lives at the top of the fiber's stack, so a fiber costs the stack's touched pages plus
// the driver's frame. The context switches are Boost.Context's fcontext (jump_fcontext), with
// the sanitizers told about each switch (AddressSanitizer's start/finish_switch_fiber,
// ThreadSanitizer's fibers).
//
// Migration: a woken fiber resumes wherever its driver is resumed, which may be another worker
// (stealing). thread_local variables read in a fiber belong to the thread it runs on at that
// moment; see fiber/go.hpp. A pinned fiber's driver is only ever queued for its home worker
// (schedule_pinned: a wake, a yield, and the return from an await that ended elsewhere).
//
// Stack overflow: the first fiber installs a SIGSEGV handler on an alternate signal stack (each
// thread that runs a fiber gets one); a fault in the running fiber's guard page prints the
// fiber's id, name and stack size and ends the process (SIGSEGV), as an overflowing thread
// would, but named. Faults elsewhere go to the handler that was there before.
//
// Unwinding: when the driver's frame is destroyed while its fiber is suspended (runtime
// shutdown, or the driver task destroyed), the driver stops the fiber's scope and switches it in
// again: its blocking wait ends with task_cancelled, and the exception unwinds the fiber's stack,
// running its destructors, to its function's exit. A fiber that blocks again, in a wait that no
// stop reaches, while it is being unwound is abandoned (its stack leaks) with a message on stderr.
//
// Thread safety: the driver side runs on the driver's thread of the moment; the fiber side on the
// fiber; the two never run at once.
#pragma once

#include <coroutine>
#include <cstdint>
#include <exception>
#include <string>

#include "brigade/detail/fiber_hooks.hpp"
#include "brigade/detail/fiber_stack.hpp"
#include "brigade/detail/seam.hpp"
#include "brigade/runtime/task.hpp"

namespace brigade::detail {

class scheduler;

class fiber_core {
 public:
  /// Runs the fiber's function; must not throw (it records what the function threw).
  using body_function = void (*)(void* body) noexcept;

  enum class request : unsigned char { none, park, await, yield, finished };

  /// A fiber of `stack_size` usable bytes that will run `run(body)`. The name is copied. Throws
  /// std::bad_alloc when no stack can be had.
  static fiber_core* create(std::size_t stack_size, const char* name, body_function run, void* body);
  /// Returns the stack (after the fiber finished, or if it never started).
  static void destroy(fiber_core* fiber) noexcept;

  fiber_core(const fiber_core&) = delete;
  fiber_core& operator=(const fiber_core&) = delete;

  // ---- The driver's side.
  static constexpr std::uint32_t no_home = ~std::uint32_t{0};
  /// Before the first run(): where to resume the driver, which scope cancels the fiber, and the
  /// worker it is pinned to (no_home: any).
  void bind(scheduler& sched, std::coroutine_handle<> driver, std::uintptr_t scope_word,
            std::uint32_t home) noexcept {
    sched_ = &sched;
    driver_ = driver;
    scope_word_ = scope_word;
    home_ = home;
  }
  /// The worker a pinned fiber runs on, or no_home.
  std::uint32_t home() const noexcept { return home_; }
  /// Switches into the fiber until it switches out; returns why it did.
  request run() noexcept;
  bool started() const noexcept { return started_; }
  bool finished() const noexcept { return request_ == request::finished; }
  /// For request::park: the word the fiber parked on (blocking_state).
  seam::atomic<std::uint32_t>& park_word() const noexcept { return *park_word_; }
  /// For request::await: the task the fiber awaits; for await and yield, where an exception goes.
  task<void>& pending() const noexcept { return *pending_; }
  void fail_pending(std::exception_ptr failure) noexcept { pending_failure_ = std::move(failure); }
  /// The driver's frame is being destroyed while the fiber is suspended in the middle: unwinds
  /// the fiber's stack (see the top of this header). Returns false if it had to abandon it.
  bool unwind() noexcept;

  // ---- The fiber's side.
  /// Switches out with request::park on `word` (fiber_block_until's step).
  void park(seam::atomic<std::uint32_t>& word) noexcept;
  /// Switches out until the driver has awaited `work`; rethrows its exception.
  void await(task<void>& work);
  /// Switches out until the driver has awaited yield_now(); rethrows its exception.
  void yield();

  // ---- Either side.
  std::uint64_t id() const noexcept { return id_; }
  const std::string& name() const noexcept { return name_; }
  const fiber_stack& stack() const noexcept { return stack_; }
  scheduler& owner() const noexcept { return *sched_; }
  std::uintptr_t scope_word() const noexcept { return scope_word_; }
  /// Fiber-local storage: the slot of `key` (fiber/fiber_local.hpp), grown on demand.
  void*& local_slot(std::size_t key);
  /// Set by unwind(): wakes no longer schedule the driver (it is being destroyed).
  bool unwinding() const noexcept { return unwinding_; }
  std::coroutine_handle<> driver() const noexcept { return driver_; }

 private:
  fiber_core(const fiber_stack& stack, const char* name, body_function run, void* body);
  ~fiber_core();
  friend struct fiber_entry_access;
  void switch_out(request why) noexcept;
  void destroy_locals() noexcept;

  void* fiber_context_ = nullptr;   // the fiber's fcontext while it is switched out
  void* driver_context_ = nullptr;  // the driver's fcontext while the fiber runs
  request request_ = request::none;
  bool started_ = false;
  bool unwinding_ = false;
  seam::atomic<std::uint32_t>* park_word_ = nullptr;
  task<void>* pending_ = nullptr;
  std::exception_ptr pending_failure_;
  body_function run_;
  void* body_;
  scheduler* sched_ = nullptr;
  std::coroutine_handle<> driver_;
  std::uintptr_t scope_word_ = 0;
  std::uint32_t home_ = no_home;
  std::uint64_t id_;
  std::string name_;
  fiber_stack stack_;
  void** locals_ = nullptr;  // fiber-local storage: values by key (fiber_local.hpp), or null
  std::size_t locals_size_ = 0;
  // The sanitizers' bookkeeping for the switches (unused in other builds).
  [[maybe_unused]] void* asan_fiber_fake_stack_ = nullptr;
  [[maybe_unused]] void* asan_driver_fake_stack_ = nullptr;
  [[maybe_unused]] const void* asan_driver_bottom_ = nullptr;
  [[maybe_unused]] std::size_t asan_driver_size_ = 0;
  [[maybe_unused]] void* tsan_fiber_ = nullptr;
  [[maybe_unused]] void* tsan_driver_ = nullptr;
};

/// Fiber-local storage's destructors, by key (fiber_local.hpp registers them).
using fiber_local_destructor = void (*)(void* value) noexcept;
std::size_t register_fiber_local(fiber_local_destructor destroy);

}  // namespace brigade::detail
