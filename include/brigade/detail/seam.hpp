// brigade/detail/seam.hpp: the one place where runtime code reaches atomics, locks, fences and
// threads.
//
// Every algorithm in the runtime (the work-stealing deque, the parker, the join protocol, the
// scheduler's idle bookkeeping) names `seam::atomic`, `seam::mutex`, `seam::thread` and the
// helpers below instead of the standard library directly. A model-checking build can then route
// this header to a deterministic scheduler that explores interleavings of the runtime's own code,
// as Tokio does with loom; today it maps straight onto the standard library at zero cost.
//
// Thread safety: as the standard types it names. Nothing here allocates.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include <time.h>

#include <linux/futex.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

/// Marks the functions through which runtime code reads its thread-local variables.
///
/// Why: clang optimises a coroutine's body before it splits it at its suspension points, so it
/// may compute the address of a thread_local once and reuse it after the coroutine suspended on
/// one thread and resumed on another: the resumed code then reads (and writes) the *previous*
/// thread's variable. ThreadSanitizer caught exactly this in brigade's stress test. A read
/// through a function that is not inlined is redone after every resumption. GCC lowers
/// coroutines before optimising them (each resumption is a fresh call of the actor function), so
/// with GCC the accessor stays inline and costs nothing.
#if defined(__clang__)
#define BRIGADE_THREAD_LOCAL_ACCESSOR [[gnu::noinline]] inline
#else
#define BRIGADE_THREAD_LOCAL_ACCESSOR inline
#endif

// BRIGADE_TSAN: defined in a ThreadSanitizer build (GCC defines __SANITIZE_THREAD__; clang says
// so through __has_feature), where fences must be the standard's (TSan models those, not asm).
#if defined(__SANITIZE_THREAD__)
#define BRIGADE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define BRIGADE_TSAN 1
#endif
#endif

/// Marks a few-instruction function on a hot path that GCC stopped inlining once its caller (a
/// coroutine's body) grew: a channel ping-pong lost a third of its speed to such calls.
#define BRIGADE_ALWAYS_INLINE [[gnu::always_inline]] inline

namespace brigade::detail::seam {

template <class T>
using atomic = std::atomic<T>;
using memory_order = std::memory_order;
using mutex = std::mutex;
using condition_variable = std::condition_variable;
using thread = std::thread;

/// A full (sequentially consistent) fence. On x86-64 a locked no-op read-modify-write on the stack
/// is cheaper than `mfence` and orders the same (it drains the store buffer before later loads).
inline void full_fence() noexcept {
#if defined(__x86_64__) && !defined(BRIGADE_TSAN)
  asm volatile("lock orq $0, (%%rsp)" ::: "memory", "cc");
#else
  std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

/// A full fence for a thread that has just executed a locked read-modify-write (taken a lock):
/// orders its stores before that instruction with its loads after this call. On x86-64 every
/// locked instruction is already a full barrier, so this is only a compiler barrier there;
/// elsewhere (and under ThreadSanitizer, which models fences, not instructions) a real fence.
inline void fence_after_locked_instruction() noexcept {
#if defined(__x86_64__) && !defined(BRIGADE_TSAN)
  asm volatile("" ::: "memory");
#else
  std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

/// The light half of an asymmetric fence: orders this thread's memory accesses only against the
/// compiler. Paired with heavy_fence() on another thread, it acts as a full fence (see there).
inline void light_fence() noexcept { asm volatile("" ::: "memory"); }

/// Ends the process: membarrier failed after it was registered (see heavy_fence).
[[noreturn, gnu::cold, gnu::noinline]] inline void heavy_fence_failed() noexcept {
  const int error = errno;
  std::fprintf(stderr,
               "brigade: membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) failed (errno %d) after it was registered; "
               "the scheduler's asymmetric fences cannot be trusted. Run with runtime_options::use_membarrier = false.\n",
               error);
  std::abort();
}

/// Tells the system that this thread waits for another to make progress (a spin that went on
/// too long: the other may be preempted).
inline void yield() noexcept { std::this_thread::yield(); }

/// Makes heavy_fence() available to this process (membarrier's private expedited command must be
/// registered once). False when the kernel does not offer it (Linux < 4.14, or a seccomp policy
/// that forbids the call); then the algorithms that pair light and heavy fences are not used.
inline bool enable_heavy_fence() noexcept {
  static const bool available = [] {
    const long commands = ::syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    if (commands < 0 || (commands & MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) return false;
    return ::syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
  }();
  return available;
}

/// The heavy half of an asymmetric fence (membarrier(2)): every other running thread of the
/// process executes a full fence at some point P during this call, and a thread that is not
/// running passes one before it runs again. So for a thread that issues light_fence() between a
/// store and a later load: either the store is visible to whatever this thread reads after the
/// call, or the load sees whatever this thread wrote before it. Costs an inter-processor
/// interrupt per core running this process (3-50 µs on a virtual machine): for rare paths only.
/// Precondition: enable_heavy_fence() returned true. The kernel fails the call only for a
/// process that did not register (excluded by the precondition) or for an unknown command; if it
/// fails anyway, the light fences it pairs with ordered nothing, and going on could run a task
/// twice: so the process ends with a message that names the call and the error.
inline void heavy_fence() noexcept {
  if (::syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) != 0) [[unlikely]]
    heavy_fence_failed();
}

/// Tells the processor that this thread is spinning (lowers power, frees the sibling hyperthread).
inline void spin_pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

/// Monotonic time in nanoseconds (clock_gettime through the vDSO: ~20 ns, no system call).
inline std::uint64_t now_nanoseconds() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

/// Spins with `pause` until `done()` is true or `budget_nanoseconds` have passed; returns done().
/// Bounded by time rather than by a count of pauses, because a pause costs from ~1 ns to ~40 ns
/// depending on the processor (about 20 ns on the VM we measure on).
template <class Predicate>
bool spin_until(std::uint64_t budget_nanoseconds, Predicate done) noexcept {
  if (done()) return true;
  const std::uint64_t deadline = now_nanoseconds() + budget_nanoseconds;
  while (true) {
    for (int i = 0; i < 8; ++i) {
      spin_pause();
      if (done()) return true;
    }
    if (now_nanoseconds() >= deadline) return done();
  }
}

/// Blocks while `*word == expected` (the kernel re-checks atomically), until woken by
/// futex_wake or spuriously. The caller re-checks its condition in a loop.
inline void futex_wait(atomic<std::uint32_t>* word, std::uint32_t expected) noexcept {
  static_assert(sizeof(atomic<std::uint32_t>) == sizeof(std::uint32_t));
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAIT_PRIVATE, expected,
            nullptr, nullptr, 0);
}

/// As futex_wait, but gives up at `deadline` (now_nanoseconds()'s clock, CLOCK_MONOTONIC).
/// Returns false once the deadline has passed, true otherwise (woken, spuriously or not).
inline bool futex_wait_until(atomic<std::uint32_t>* word, std::uint32_t expected,
                             std::uint64_t deadline) noexcept {
  if (now_nanoseconds() >= deadline) return false;
  timespec at{};
  at.tv_sec = static_cast<time_t>(deadline / 1'000'000'000u);
  at.tv_nsec = static_cast<long>(deadline % 1'000'000'000u);
  // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline, so a loop around spurious
  // wakeups needs no recomputation.
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAIT_BITSET_PRIVATE, expected,
            &at, nullptr, FUTEX_BITSET_MATCH_ANY);
  return now_nanoseconds() < deadline;
}

/// The monotonic deadline `duration` from now, saturating (a huge duration never wraps around
/// into the past). A negative duration is a deadline already passed.
template <class Rep, class Period>
std::uint64_t deadline_after(std::chrono::duration<Rep, Period> duration) noexcept {
  const auto nanoseconds = std::chrono::duration_cast<std::chrono::duration<double, std::nano>>(duration).count();
  const std::uint64_t now = now_nanoseconds();
  if (!(nanoseconds > 0)) return now;
  if (nanoseconds >= static_cast<double>(~std::uint64_t{0} - now)) return ~std::uint64_t{0} - 1;
  return now + static_cast<std::uint64_t>(nanoseconds);
}

/// The monotonic deadline of a time point on any clock (measured from that clock's now).
template <class Clock, class Duration>
std::uint64_t deadline_at(std::chrono::time_point<Clock, Duration> when) noexcept {
  return deadline_after(when - Clock::now());
}

/// An address unique to the calling thread while it lives: who owns a lock.
BRIGADE_THREAD_LOCAL_ACCESSOR const void* this_thread_identity() noexcept {
  static thread_local const char anchor = 0;
  return &anchor;
}

/// The kernel's id of the calling thread (gettid), for /proc/self/task/<id>.
inline long this_thread_kernel_id() noexcept { return ::syscall(SYS_gettid); }

/// Wakes up to `count` threads blocked in futex_wait on `word`.
inline void futex_wake(atomic<std::uint32_t>* word, int count) noexcept {
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAKE_PRIVATE, count, nullptr,
            nullptr, 0);
}

}  // namespace brigade::detail::seam
