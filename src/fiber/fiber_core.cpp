// A fiber's context switches, its blocking waits, its stack-overflow report and its unwinding:
// see include/brigade/detail/fiber_core.hpp.
#include "brigade/detail/fiber_core.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <boost/context/detail/fcontext.hpp>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <new>
#include <vector>

#include "brigade/detail/scheduler_hooks.hpp"
#include "brigade/detail/stop_state.hpp"
#include "brigade/detail/timer_queue.hpp"
#include "brigade/runtime/errors.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define BRIGADE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BRIGADE_ASAN 1
#endif
#endif

#if defined(BRIGADE_ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(BRIGADE_TSAN)
#include <sanitizer/tsan_interface.h>
#endif

namespace brigade::detail {

namespace context = boost::context::detail;

namespace {

std::atomic<std::uint64_t> next_fiber_id{1};

// ---- Fiber-local storage's destructors, by key.
std::mutex& locals_mutex() {
  static std::mutex mutex;
  return mutex;
}
std::vector<fiber_local_destructor>& local_destructors() {
  static auto* destructors = new std::vector<fiber_local_destructor>;  // outlives every fiber
  return *destructors;
}

// ---- The stack-overflow report.
struct sigaction previous_segv_action {};
std::once_flag segv_handler_installed;

void write_all(const char* text, std::size_t length) noexcept {
  while (length > 0) {
    const ssize_t written = ::write(STDERR_FILENO, text, length);
    if (written <= 0) return;
    text += written;
    length -= static_cast<std::size_t>(written);
  }
}

void on_segv(int signal_number, siginfo_t* info, void* ucontext) {
  const fiber_core* fiber = this_thread_fiber_storage;
  if (fiber != nullptr && fiber->stack().in_guard(info->si_addr)) {
    char message[512];
    const int length = std::snprintf(
        message, sizeof message,
        "brigade: fiber %llu%s%s%s overflowed its stack of %zu bytes (fault at %p, in its guard page); "
        "give it a larger fiber_options::stack_size\n",
        static_cast<unsigned long long>(fiber->id()), fiber->name().empty() ? "" : " (\"",
        fiber->name().c_str(), fiber->name().empty() ? "" : "\")", fiber->stack().size, info->si_addr);
    if (length > 0) write_all(message, std::min<std::size_t>(static_cast<std::size_t>(length), sizeof message - 1));
    ::signal(SIGSEGV, SIG_DFL);  // returning re-runs the faulting access, which now ends the process
    return;
  }
  if ((previous_segv_action.sa_flags & SA_SIGINFO) != 0 && previous_segv_action.sa_sigaction != nullptr) {
    previous_segv_action.sa_sigaction(signal_number, info, ucontext);
    return;
  }
  if (previous_segv_action.sa_handler == SIG_DFL || previous_segv_action.sa_handler == SIG_IGN) {
    ::signal(SIGSEGV, SIG_DFL);
    return;
  }
  previous_segv_action.sa_handler(signal_number);
}

void install_segv_handler() {
  std::call_once(segv_handler_installed, [] {
    struct sigaction action {};
    action.sa_sigaction = &on_segv;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGSEGV, &action, &previous_segv_action);
  });
}

// A signal handler cannot run on the stack that overflowed: each thread that runs fibers gets an
// alternate signal stack (unless it has one already: the sanitizers install their own).
struct alternate_signal_stack {
  static constexpr std::size_t size = 64 * 1024;
  void* memory = nullptr;
  alternate_signal_stack() noexcept {
    stack_t current{};
    if (::sigaltstack(nullptr, &current) == 0 && (current.ss_flags & SS_DISABLE) == 0) return;
    memory = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) {
      memory = nullptr;
      return;
    }
    stack_t installed{};
    installed.ss_sp = memory;
    installed.ss_size = size;
    if (::sigaltstack(&installed, nullptr) != 0) {
      ::munmap(memory, size);
      memory = nullptr;
    }
  }
  ~alternate_signal_stack() {
    if (memory == nullptr) return;
    stack_t disabled{};
    disabled.ss_flags = SS_DISABLE;
    ::sigaltstack(&disabled, nullptr);
    ::munmap(memory, size);
  }
};

// Called before every switch into a fiber: a plain flag first, so that the common case costs a
// load rather than the guarded initialisation of a thread_local with a destructor.
constinit thread_local bool has_alternate_signal_stack = false;
void ensure_alternate_signal_stack() {
  if (has_alternate_signal_stack) [[likely]]
    return;
  thread_local alternate_signal_stack stack;
  (void)stack;
  has_alternate_signal_stack = true;
}

// ---- A fiber's timed wait: the timer's waiter.
struct fiber_deadline final : waiter {
  fiber_deadline(seam::atomic<std::uint32_t>& word, fiber_core& fiber) noexcept
      : waiter(&fire), word_(word), fiber_(fiber) {}
  static void fire(waiter* self) noexcept {
    auto* me = static_cast<fiber_deadline*>(self);
    std::uint32_t state = me->word_.load(seam::memory_order::acquire);
    while (true) {
      if (state == blocking_state::waiting) {
        // The fiber is on its way to park: the driver's move to fiber_parked fails, and it
        // switches the fiber straight back in.
        if (me->word_.compare_exchange_weak(state, blocking_state::fiber_timed_out, seam::memory_order::acq_rel)) break;
      } else if (state == blocking_state::fiber_parked) {
        if (me->word_.compare_exchange_weak(state, blocking_state::fiber_timed_out, seam::memory_order::acq_rel)) {
          fiber_unblock(me->fiber_);
          break;
        }
      } else {
        break;  // woken first
      }
    }
    me->done_.store(true, seam::memory_order::release);  // last touch of *me
  }
  void wait_until_done() const noexcept {
    while (!done_.load(seam::memory_order::acquire)) seam::spin_pause();
  }
  seam::atomic<std::uint32_t>& word_;
  fiber_core& fiber_;
  seam::atomic<bool> done_{false};
};

struct never_stopped {
  bool bind_unless_stopped(waiter&) noexcept { return true; }
};

}  // namespace

struct fiber_entry_access {
  [[noreturn]] static void start(context::transfer_t from) noexcept {
    auto& fiber = *static_cast<fiber_core*>(from.data);
    fiber.driver_context_ = from.fctx;
#if defined(BRIGADE_ASAN)
    __sanitizer_finish_switch_fiber(nullptr, &fiber.asan_driver_bottom_, &fiber.asan_driver_size_);
#endif
    fiber.run_(fiber.body_);
    fiber.destroy_locals();
    fiber.switch_out(fiber_core::request::finished);
    __builtin_unreachable();  // a finished fiber is never switched in again
  }
};

namespace {
void fiber_entry(context::transfer_t from) { fiber_entry_access::start(from); }
}  // namespace

fiber_core::fiber_core(const fiber_stack& stack, const char* name, body_function run, void* body)
    : run_(run), body_(body), id_(next_fiber_id.fetch_add(1, std::memory_order_relaxed)),
      name_(name != nullptr ? name : ""), stack_(stack) {
#if defined(BRIGADE_TSAN)
  tsan_fiber_ = __tsan_create_fiber(0);
#endif
}

fiber_core::~fiber_core() {
#if defined(BRIGADE_TSAN)
  if (tsan_fiber_ != nullptr) __tsan_destroy_fiber(tsan_fiber_);
#endif
  delete[] locals_;
}

fiber_core* fiber_core::create(std::size_t stack_size, const char* name, body_function run, void* body) {
  install_segv_handler();
  const fiber_stack stack = allocate_fiber_stack(stack_size);
  // The core sits at the top of the stack; the fiber's frames grow down below it.
  constexpr std::size_t core_space = (sizeof(fiber_core) + 63) / 64 * 64;
  void* place = stack.top() - core_space;
  fiber_core* fiber;
  try {
    fiber = ::new (place) fiber_core(stack, name, run, body);
  } catch (...) {
    release_fiber_stack(stack);
    throw;
  }
  fiber->fiber_context_ = context::make_fcontext(place, stack.size - core_space, &fiber_entry);
  return fiber;
}

void fiber_core::destroy(fiber_core* fiber) noexcept {
  const fiber_stack stack = fiber->stack_;
  const bool intact = stack.canary_intact();
  fiber->~fiber_core();
  if (!intact) {
    std::fputs("brigade: a fiber's stack overflowed (its canary, below the stack, was overwritten; "
               "this kernel has no guard regions); the program stops\n", stderr);
    std::abort();
  }
  release_fiber_stack(stack);
}

fiber_core::request fiber_core::run() noexcept {
  ensure_alternate_signal_stack();
  started_ = true;
  fiber_core* outer = this_thread_fiber_storage;  // a fiber unwound from inside another's driver
  this_thread_fiber_storage = this;
#if defined(BRIGADE_TSAN)
  tsan_driver_ = __tsan_get_current_fiber();
  __tsan_switch_to_fiber(tsan_fiber_, 0);
#endif
#if defined(BRIGADE_ASAN)
  __sanitizer_start_switch_fiber(&asan_driver_fake_stack_, stack_.lowest, stack_.size);
#endif
  const context::transfer_t back = context::jump_fcontext(fiber_context_, this);
#if defined(BRIGADE_ASAN)
  __sanitizer_finish_switch_fiber(asan_driver_fake_stack_, nullptr, nullptr);
#endif
  fiber_context_ = back.fctx;
  this_thread_fiber_storage = outer;
  if (stack_.guard == stack_guard::canary && !stack_.canary_intact()) [[unlikely]] {
    std::fprintf(stderr, "brigade: fiber %llu%s%s%s overflowed its stack of %zu bytes (its canary was "
                 "overwritten; this kernel has no guard regions); the program stops\n",
                 static_cast<unsigned long long>(id_), name_.empty() ? "" : " (\"", name_.c_str(),
                 name_.empty() ? "" : "\")", stack_.size);
    std::abort();
  }
  return request_;
}

void fiber_core::switch_out(request why) noexcept {
  request_ = why;
#if defined(BRIGADE_TSAN)
  __tsan_switch_to_fiber(tsan_driver_, 0);
#endif
#if defined(BRIGADE_ASAN)
  __sanitizer_start_switch_fiber(why == request::finished ? nullptr : &asan_fiber_fake_stack_,
                                 asan_driver_bottom_, asan_driver_size_);
#endif
  const context::transfer_t back = context::jump_fcontext(driver_context_, nullptr);
  // Resumed, maybe by a driver on another thread.
  driver_context_ = back.fctx;
#if defined(BRIGADE_ASAN)
  __sanitizer_finish_switch_fiber(asan_fiber_fake_stack_, &asan_driver_bottom_, &asan_driver_size_);
#endif
}

void fiber_core::park(seam::atomic<std::uint32_t>& word) noexcept {
  park_word_ = &word;
  switch_out(request::park);
}

void fiber_core::await(task<void>& work) {
  pending_ = &work;
  switch_out(request::await);
  pending_ = nullptr;
  if (pending_failure_) std::rethrow_exception(std::exchange(pending_failure_, nullptr));
}

void fiber_core::yield() {
  switch_out(request::yield);
  if (pending_failure_) std::rethrow_exception(std::exchange(pending_failure_, nullptr));
}

bool fiber_core::unwind() noexcept {
  if (!started_ || finished()) return true;
  unwinding_ = true;
  // Stops the fiber's scope: a blocking wait registered with it is withdrawn and woken
  // (fiber_unblock then leaves the driver alone), and every later wait ends at once.
  if (scope_word_ != 0) reinterpret_cast<stop_state*>(scope_word_ & ~root_scope_tag)->request_stop();
  while (!finished()) {
    if (request_ == request::park) {
      const std::uint32_t state = park_word_->load(seam::memory_order::acquire);
      if (state == blocking_state::fiber_parked || state == blocking_state::waiting) {
        std::fprintf(stderr, "brigade: fiber %llu%s%s%s is blocked in a wait that its stop does not reach, "
                     "while its runtime shuts down: its stack is abandoned (its destructors do not run)\n",
                     static_cast<unsigned long long>(id_), name_.empty() ? "" : " (\"", name_.c_str(),
                     name_.empty() ? "" : "\")");
        return false;
      }
    } else if (request_ == request::await || request_ == request::yield) {
      try {
        throw task_cancelled("brigade: fiber cancelled: its runtime shut down while it waited");
      } catch (...) {
        fail_pending(std::current_exception());
      }
    }
    (void)run();
  }
  return true;
}

void*& fiber_core::local_slot(std::size_t key) {
  if (key >= locals_size_) {
    const std::size_t size = std::max<std::size_t>(key + 1, locals_size_ * 2);
    auto* grown = new void*[size]();
    for (std::size_t i = 0; i < locals_size_; ++i) grown[i] = locals_[i];
    delete[] locals_;
    locals_ = grown;
    locals_size_ = size;
  }
  return locals_[key];
}

void fiber_core::destroy_locals() noexcept {
  if (locals_size_ == 0) return;
  std::vector<fiber_local_destructor> destructors;
  {
    std::lock_guard lock(locals_mutex());
    destructors = local_destructors();
  }
  // A destructor may set another fiber-local: repeat until none is left (as pthread keys do,
  // a bounded number of times).
  for (int round = 0; round < 4; ++round) {
    bool any = false;
    for (std::size_t key = 0; key < locals_size_ && key < destructors.size(); ++key) {
      if (void* value = std::exchange(locals_[key], nullptr)) {
        destructors[key](value);
        any = true;
      }
    }
    if (!any) break;
  }
}

std::size_t register_fiber_local(fiber_local_destructor destroy) {
  std::lock_guard lock(locals_mutex());
  local_destructors().push_back(destroy);
  return local_destructors().size() - 1;
}

// ---- The hooks of detail/fiber_hooks.hpp.

bool fiber_block_until(fiber_core& fiber, seam::atomic<std::uint32_t>& word, std::uint64_t deadline) noexcept {
  std::uint32_t state = word.load(seam::memory_order::acquire);
  if (state == blocking_state::woken) return true;
  if (state == blocking_state::fiber_timed_out &&
      !word.compare_exchange_strong(state, blocking_state::waiting, seam::memory_order::acq_rel))
    return true;  // woken since its timeout
  if (deadline == ~std::uint64_t{0}) {
    fiber.park(word);
    return word.load(seam::memory_order::acquire) == blocking_state::woken;
  }
  if (deadline <= seam::now_nanoseconds()) return word.load(seam::memory_order::acquire) == blocking_state::woken;
  timer_queue& queue = timers_of(fiber.owner());
  fiber_deadline trigger(word, fiber);
  timer_entry entry(trigger, queue);
  never_stopped never;
  if (queue.park(entry, deadline, never) == park_result::not_needed)
    return word.load(seam::memory_order::acquire) == blocking_state::woken;
  fiber.park(word);
  if (!queue.withdraw(entry)) trigger.wait_until_done();  // it fired, or is firing now
  return word.load(seam::memory_order::acquire) == blocking_state::woken;
}

void fiber_unblock(fiber_core& fiber) noexcept {
  if (fiber.unwinding()) return;  // its driver's destructor switches it in
  if (fiber.home() != fiber_core::no_home) [[unlikely]] {
    try {
      schedule_pinned(fiber.owner(), fiber.home(), fiber.driver());
    } catch (...) {
      // Out of memory for the pinned queue: run it anywhere rather than lose it.
      schedule(fiber.owner(), fiber.driver());
    }
    return;
  }
  schedule(fiber.owner(), fiber.driver());
}

std::uintptr_t fiber_scope_word(const fiber_core& fiber) noexcept { return fiber.scope_word(); }

}  // namespace brigade::detail
