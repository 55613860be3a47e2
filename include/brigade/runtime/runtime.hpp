// brigade/runtime/runtime.hpp: runtime, the scheduler that runs tasks on a fixed set of worker
// threads, plus an elastic pool of threads for blocking calls.
//
//   int main() {
//     brigade::runtime rt;                          // one worker per hardware thread
//     return rt.block_on(main_task());              // runs the task, waits, returns its value
//   }
//
// Scheduling: each worker has a work-stealing deque (LIFO for its owner, FIFO for thieves) and a
// LIFO slot for the task it just woke; work submitted from outside the runtime goes through a
// global injection queue. Idle workers steal from random victims, then park; they are woken one
// at a time, only when no other worker is already searching. An idle runtime uses no CPU.
// docs/ARCHITECTURE.md gives the protocols.
//
// Shutdown (shutdown(), shutdown_timeout() or the destructor), in Tokio's order:
//   1. New work is refused: spawn / block_on / spawn_blocking throw runtime_shut_down.
//   2. Every worker finishes the step of the task it is running and exits.
//   3. Blocking calls still queued complete with task_cancelled.
//   4. Every task still queued or suspended is destroyed: the destructors of its live locals run
//      (so the channels it held close, the locks it held are released), and whoever joins it
//      gets task_cancelled. Then every running blocking call is asked to stop: a call that takes
//      a std::stop_token (spawn_blocking([](std::stop_token st) {...})) sees it stopped, and
//      its blocking forms given that token (recv(st), ...) end with task_cancelled.
//   5. Running blocking calls are waited for. A call cannot be stopped from outside (as in
//      Tokio): one that ignores its stop request keeps shutdown() (and the destructor) waiting
//      until it returns. shutdown_timeout(d) waits at most `d`, then leaves the calls still
//      running on their threads, detached: each runs to its end, its result reaches its handle
//      (or is dropped), and its thread exits. The runtime itself is gone by then.
// Nothing leaks and nothing waits forever, except a blocking call that never returns.
// shutdown() is idempotent and thread-safe; calling it (or destroying the runtime) on one of the
// runtime's own workers is a usage_error (the destructor then terminates with that message).
//
// Thread safety: all members may be called from any thread. block_on() must not be called on a
// worker thread (it would block it): it throws usage_error there.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "brigade/detail/blocking_job.hpp"
#include "brigade/detail/scheduler_hooks.hpp"
#include "brigade/detail/spawn_record.hpp"
#include "brigade/runtime/errors.hpp"
#include "brigade/runtime/join_handle.hpp"
#include "brigade/runtime/task.hpp"

namespace brigade {
class runtime;
namespace detail {
struct io_source;
class timer_queue;
io_source& register_io_source(runtime& rt, int fd);
timer_queue& timers_of(runtime& rt) noexcept;
/// The body that runtime::spawn and brigade::spawn share; defined below the runtime.
template <class T, class Submit>
join_handle<T> spawn_root(task<T>& work, Submit submit);
}  // namespace detail
}  // namespace brigade

namespace brigade {

/// How a runtime is built.
/// Which kernel interface the reactor waits on (docs/ARCHITECTURE.md, "The reactor").
enum class io_backend : unsigned char {
  automatic,        ///< epoll, unless the environment variable BRIGADE_IO_BACKEND says
                    ///< epoll, io_uring or prefer_io_uring. epoll is the default because it is
                    ///< faster for sockets here: the TCP echo benchmark made 105k round trips/s
                    ///< on epoll against 66k on io_uring (docs/benchmarks.md, issue 16), whose
                    ///< readiness requests contend on the socket lock in the kernel
  epoll,            ///< epoll(7), edge-triggered; files go through the blocking pool
  io_uring,         ///< io_uring(7) (liburing): readiness by multishot poll requests; the
                    ///< runtime fails to start (std::system_error) where the kernel refuses it
  prefer_io_uring,  ///< io_uring where this build has it and the kernel allows it, else epoll
};

struct runtime_options {
  /// Worker threads that run tasks; 0 means one per hardware thread.
  std::size_t worker_threads = 0;
  /// Upper bound of the blocking pool; calls beyond it wait in a queue.
  std::size_t max_blocking_threads = 512;
  /// A blocking-pool thread idle this long exits.
  std::chrono::milliseconds blocking_keep_alive{10'000};
  /// Receives the error of a task that failed after its handle was dropped without joining.
  /// Default: print it to standard error. Called on the thread where the task finished.
  std::function<void(std::exception_ptr)> on_unobserved_failure{};
  /// At most this many compensating workers run at once: the liveness monitor starts one when
  /// every worker is blocked (in a system call, a thread-form lock, block_in_place) while tasks
  /// are ready; it retires when it runs out of work. 0 means as many as worker_threads.
  std::size_t max_compensating_workers = 0;
  /// Use membarrier(2) (where the kernel offers it) for the asymmetric fences that let a worker
  /// keep forked tasks private and hand a woken task through its LIFO slot without a locked
  /// instruction. false: every worker uses the symmetric protocol (what a kernel without
  /// membarrier gets): slower forks, the same behaviour.
  bool use_membarrier = true;
  /// The reactor's backend (I/O readiness, file operations, the wait of an idle worker).
  io_backend io = io_backend::automatic;
};

/// Counters of one worker, read without stopping it (so only approximately consistent).
struct worker_stats {
  std::uint64_t tasks_run = 0;   // coroutine resumptions run by this worker
  std::uint64_t steals = 0;      // tasks it took from other workers' deques
  std::uint64_t private_steals = 0;  // of those steals, the ones that had to take tasks another
                                     // worker kept private too long (it was busy or blocked)
  std::uint64_t parks = 0;       // times it went to sleep for lack of work
  std::int64_t queue_depth = 0;  // tasks in its deque and yielded on it, now
};

struct runtime_stats {
  std::vector<worker_stats> workers;      // the runtime's workers (not the compensating ones)
  std::size_t injection_queue_depth = 0;  // tasks submitted from outside, not yet taken
  std::size_t blocking_threads = 0;       // threads in the blocking pool now
  std::size_t live_tasks = 0;             // spawned tasks not finished yet
  std::size_t compensating_workers = 0;   // compensating workers running now
  std::uint64_t compensating_workers_started = 0;  // since the runtime started
  std::uint64_t lifo_steals = 0;          // woken tasks the monitor took from a stuck worker
  std::uint64_t monitor_looks = 0;        // the liveness monitor's looks at the workers (none
                                          // while every worker is parked)
  std::size_t parked_workers = 0;         // workers asleep for lack of work now
  bool monitor_asleep = false;            // the monitor sleeps until a worker is woken
  bool shutting_down = false;             // shutdown has told the workers to stop
};

class runtime {
 public:
  explicit runtime(runtime_options options = {});
  ~runtime();
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  [[nodiscard]] std::size_t worker_count() const noexcept;
  /// The reactor's backend in use: "epoll" or "io_uring".
  [[nodiscard]] const char* io_backend_name() const noexcept;

  /// Starts `work` on the runtime; it runs concurrently with the caller.
  template <class T>
  join_handle<T> spawn(task<T> work) {
    return detail::spawn_root(work, [this](detail::join_state& record) {
      detail::submit_root(*scheduler_, record);
      return serial_;
    });
  }

  /// Runs `work` to completion from a plain thread (typically main) and returns its result or
  /// rethrows its exception.
  template <class T>
  T block_on(task<T> work) {
    if (detail::blocking_would_stall_a_worker())
      throw usage_error(
          "brigade: block_on() called on a worker thread; it would block the worker "
          "(co_await the task instead; on a fiber, block_on parks only the fiber)");
    return spawn(std::move(work)).join();
  }

  /// Runs `function()` on the blocking pool, for calls that block (file I/O, sleep, a C library
  /// that waits): they would otherwise stall a worker and every task queued behind it. A function
  /// that takes a std::stop_token gets one, stopped by abort() and by shutdown
  /// (detail/blocking_job.hpp).
  template <class Function>
  auto spawn_blocking(Function function) -> join_handle<detail::blocking_result_t<Function>> {
    using result = detail::blocking_result_t<Function>;
    auto* record = new detail::blocking_record<result, Function>(serial_, std::move(function));
    try {
      detail::submit_blocking(*scheduler_, *record);
    } catch (...) {
      delete record;
      throw;
    }
    return join_handle<result>(record, serial_);
  }

  /// Stops the runtime (see the top of this header), waiting for running blocking calls however
  /// long they take. Idempotent.
  void shutdown();
  /// Stops the runtime, waiting at most `timeout` for running blocking calls; returns whether they
  /// all ended (false: some run on, detached). The tasks are destroyed either way. Idempotent: a
  /// later call reports what the first one found.
  template <class Rep, class Period>
  bool shutdown_timeout(std::chrono::duration<Rep, Period> timeout) {
    return shutdown_until(std::chrono::steady_clock::now() +
                          std::chrono::duration_cast<std::chrono::steady_clock::duration>(timeout));
  }

  [[nodiscard]] runtime_stats stats() const;

  /// The runtime whose worker is running the calling thread, or nullptr.
  static runtime* current() noexcept;

  /// spawn's usage error for an empty task (also brigade::spawn's).
  [[noreturn, gnu::cold, gnu::noinline]] static void throw_empty_spawn() {
    throw usage_error("brigade: spawn of an empty task (moved-from?)");
  }

 private:
  friend detail::io_source& detail::register_io_source(runtime& rt, int fd);
  friend detail::timer_queue& detail::timers_of(runtime& rt) noexcept;
  bool shutdown_until(std::chrono::steady_clock::time_point deadline);

  std::unique_ptr<detail::scheduler> scheduler_;
  std::uint32_t serial_;  // the scheduler's serial number, which records keep
};

/// Adopts `work` into a new root record and has `submit(record)` schedule its first step and
/// return the serial of the runtime it went to; if `submit` throws, the task and the record are
/// freed and the exception goes on. An empty task is a usage_error.
template <class T, class Submit>
join_handle<T> detail::spawn_root(task<T>& work, Submit submit) {
  if (!work.valid()) runtime::throw_empty_spawn();
  auto* record = root_record<T>::adopt(work);
  std::uint32_t runtime_serial = 0;
  try {
    runtime_serial = submit(static_cast<join_state&>(*record));
  } catch (...) {
    root_record<T>::discard_unstarted(record);
    throw;
  }
  return join_handle<T>(record, runtime_serial);
}

}  // namespace brigade
