// brigade/future/thread_pool.hpp: thread_pool, a fixed set of OS threads for CPU work, in the
// shape of Java's ExecutorService: submit a function, get a future as the ticket.
//
//   brigade::thread_pool chefs(4);
//   brigade::future<report> ticket = chefs.submit(analyse, path);   // runs on one of the 4
//   report r = ticket.get();                       // a thread or fiber; co_await it in a task
//   chefs.shutdown();                              // no new work; queued work still runs
//   chefs.await_termination(5s);                   // true once every job has finished
//
// The threads are the pool's own, apart from any runtime's workers, so CPU work queued here
// never delays a runtime's I/O. A function that takes a std::stop_token first gets one; stop is
// requested when its future is cancelled or the pool shuts down now. A job's exception goes to
// its future (get() rethrows it); for execute(), which has no future, to the pool's
// on_unobserved_failure handler (by default: a line on stderr).
//
// Shutdown:
//   shutdown()           refuses new work (submit and execute throw rejected_execution); queued
//                        and running jobs finish; the threads end when the queue is empty.
//   shutdown_now()       refuses new work, takes every queued job off the queue and hands it back
//                        (thread_pool::job: run it, or drop it, which settles its future with
//                        task_cancelled), and requests stop of the running jobs' tokens.
//   await_termination()  waits until every thread has ended (after a shutdown).
//   ~thread_pool()       shutdown(), then waits for the queued and running jobs to finish.
// Cancellation: future::cancel() of a queued job settles its future at once; the job never runs.
// Deadlocks: a job that waits (get(), wait()) for the future of a job still queued on the same
// pool runs that job itself first. A job that waits for something else that only a queued job
// would provide (a promise that job fulfils) would deadlock a fixed pool, as in Java; here, when
// every thread of the pool would block in an untimed wait on a future while jobs are queued, the
// pool starts one extra thread, which runs queued jobs and ends when the queue is empty (at most
// max_extra_threads in the pool's life; stats: extra_threads_started()). Past that limit, the wait
// throws deadlock_error instead of hanging.
// Thread safety: every member from any thread; the destructor must not run on a pool thread.
// Complexity: submit is one allocation (the job and its future's state together) and a lock.
#pragma once

#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <stop_token>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "brigade/detail/future_state.hpp"
#include "brigade/detail/unique_function.hpp"
#include "brigade/future/future.hpp"
#include "brigade/future/future_errors.hpp"

namespace brigade {

struct thread_pool_options {
  /// Threads; 0 means std::thread::hardware_concurrency().
  std::size_t threads = 0;
  /// Names the threads (pthread names are cut to 15 bytes) and the pool in error messages.
  std::string name = "brigade-pool";
  /// Extra threads the pool may start, over its life, when all its threads wait on futures while
  /// jobs are queued (see the top of this header); past it such a wait throws deadlock_error.
  std::size_t max_extra_threads = 64;
  /// Called with what an execute()'d function threw (on the pool thread). Default: stderr.
  std::function<void(std::exception_ptr)> on_unobserved_failure;
};

namespace detail {

class thread_pool_core;

/// A queued unit of work. Claimed once (by the thread that dequeues it, or by a pool thread that
/// waits for its future and runs it itself); the queue holds one reference until it dequeues it.
class pool_job {
 public:
  pool_job() noexcept = default;
  pool_job(const pool_job&) = delete;
  pool_job& operator=(const pool_job&) = delete;
  pool_job* next = nullptr;  // the queue's link, under its lock
  bool claim() noexcept { return !claimed_.exchange(true, seam::memory_order::acq_rel); }
  /// After claim(): runs the job (never throws).
  virtual void run() noexcept = 0;
  /// After claim(), for a job that will never run: settles its future as cancelled.
  virtual void discard() noexcept = 0;
  /// Drops the queue's reference.
  virtual void release_job() noexcept = 0;

 protected:
  virtual ~pool_job() = default;

 private:
  seam::atomic<bool> claimed_{false};
};

/// A function queued by execute(): no future.
class function_job final : public pool_job {
 public:
  function_job(unique_function<void()> function, thread_pool_core& pool) noexcept
      : function_(std::move(function)), pool_(pool) {}
  void run() noexcept override;
  void discard() noexcept override {}
  void release_job() noexcept override { delete this; }

 private:
  unique_function<void()> function_;
  thread_pool_core& pool_;
};

/// The pool's internals (src/future/thread_pool.cpp).
class thread_pool_core {
 public:
  explicit thread_pool_core(thread_pool_options options);
  ~thread_pool_core();
  thread_pool_core(const thread_pool_core&) = delete;
  thread_pool_core& operator=(const thread_pool_core&) = delete;

  /// Queues `job` (taking the queue's reference); throws rejected_execution after shutdown.
  void enqueue(pool_job& job);
  void shutdown() noexcept;
  std::vector<pool_job*> shutdown_now() noexcept;
  bool await_termination_until(std::chrono::steady_clock::time_point deadline);
  bool is_shutdown() const noexcept;
  bool is_terminated() const noexcept;
  std::size_t thread_count() const noexcept;
  std::size_t extra_threads_started() const noexcept;
  /// Stop is requested here by shutdown_now; jobs that take a token link to it while they run.
  std::stop_token pool_stop_token() const noexcept;
  /// Whether the calling thread is one of this pool's.
  bool is_own_thread() const noexcept;
  void report_failure(std::exception_ptr error) noexcept;
  const std::string& name() const noexcept;

 private:
  struct shared;
  std::shared_ptr<shared> shared_;  // the threads hold it too
};

/// A job made by submit(): the future's state, and the function with its arguments.
template <class Result, class Function, class... Arguments>
class submitted_job final : public future_state<Result>, public pool_job {
 public:
  submitted_job(thread_pool_core& pool, Function function, std::tuple<Arguments...> arguments)
      : pool_(pool), function_(std::move(function)), arguments_(std::move(arguments)) {
    this->add_reference();  // the queue's; the future holds the first
  }

  void run() noexcept override {
    if (this->is_ready()) return;  // cancelled while queued
    future_continuation* continuations = nullptr;
    try {
      if constexpr (std::is_invocable_v<Function&, std::stop_token, Arguments...>) {
        const std::stop_token token = this->stop_token();
        // The pool's shutdown_now asks this job to stop too, while it runs.
        std::stop_callback on_pool_stop(pool_.pool_stop_token(), [this] { this->request_producer_stop(); });
        settle_with_result(continuations, [&] {
          return std::apply([&](Arguments&... values) -> decltype(auto) { return std::invoke(function_, token, std::move(values)...); },
                            arguments_);
        });
      } else {
        settle_with_result(continuations, [&] {
          return std::apply([&](Arguments&... values) -> decltype(auto) { return std::invoke(function_, std::move(values)...); },
                            arguments_);
        });
      }
    } catch (...) {
      this->settle_error_taking(std::current_exception(), continuations);
    }
    run_continuations(continuations);
  }
  void discard() noexcept override {
    this->settle_error(std::make_exception_ptr(
        task_cancelled("brigade: job cancelled: thread_pool::shutdown_now() took it off the queue and it was not run")));
  }
  void release_job() noexcept override { this->release(); }
  void help_before_waiting() noexcept override {
    if (pool_.is_own_thread() && claim()) run();
  }

 private:
  template <class Produce>
  void settle_with_result(future_continuation*& continuations, Produce produce) {
    if constexpr (std::is_void_v<Result>) {
      produce();
      this->settle_value_taking(continuations);
    } else {
      this->settle_value_taking(continuations, produce());
    }
  }

  thread_pool_core& pool_;
  Function function_;
  std::tuple<Arguments...> arguments_;
};

/// What a job returns: function(arguments...), or function(stop_token, arguments...) when it
/// takes a token first. The arguments are passed as rvalues (a job runs once).
template <class Function, class... Arguments>
struct job_result {
  using type = std::invoke_result_t<Function&, Arguments...>;
};
template <class Function, class... Arguments>
  requires std::is_invocable_v<Function&, std::stop_token, Arguments...>
struct job_result<Function, Arguments...> {
  using type = std::invoke_result_t<Function&, std::stop_token, Arguments...>;
};

}  // namespace detail

class thread_pool {
 public:
  /// A queued job handed back by shutdown_now(): call it to run it (its future gets the result),
  /// or drop it (its future gets task_cancelled).
  class job {
   public:
    job(job&& other) noexcept : job_(std::exchange(other.job_, nullptr)) {}
    job& operator=(job&& other) noexcept {
      if (this != &other) {
        reset();
        job_ = std::exchange(other.job_, nullptr);
      }
      return *this;
    }
    job(const job&) = delete;
    job& operator=(const job&) = delete;
    ~job() { reset(); }
    /// Runs the job on the calling thread (once; later calls do nothing).
    void operator()() {
      if (job_ == nullptr) return;
      detail::pool_job* taken = std::exchange(job_, nullptr);
      if (taken->claim()) taken->run();
      taken->release_job();
    }

   private:
    friend class thread_pool;
    explicit job(detail::pool_job* queued) noexcept : job_(queued) {}
    void reset() noexcept {
      if (job_ == nullptr) return;
      detail::pool_job* taken = std::exchange(job_, nullptr);
      if (taken->claim()) taken->discard();
      taken->release_job();
    }
    detail::pool_job* job_;
  };

  /// A pool of `threads` threads (0: one per core).
  explicit thread_pool(std::size_t threads = 0) : thread_pool(thread_pool_options{.threads = threads}) {}
  explicit thread_pool(thread_pool_options options) : core_(std::move(options)) {}
  /// shutdown(), then waits for every queued and running job to finish.
  ~thread_pool() = default;
  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;

  /// Queues function(arguments...) (or function(stop_token, arguments...)); its future holds the
  /// result or the exception. Throws rejected_execution once the pool is shut down.
  template <class Function, class... Arguments>
  auto submit(Function&& function, Arguments&&... arguments)
      -> future<typename detail::job_result<std::decay_t<Function>, std::decay_t<Arguments>...>::type> {
    using result = typename detail::job_result<std::decay_t<Function>, std::decay_t<Arguments>...>::type;
    using job_type = detail::submitted_job<result, std::decay_t<Function>, std::decay_t<Arguments>...>;
    auto* queued = new job_type(core_, std::forward<Function>(function),
                                std::tuple<std::decay_t<Arguments>...>(std::forward<Arguments>(arguments)...));
    detail::state_reference<detail::future_state<result>> state(queued);  // the future's reference
    try {
      core_.enqueue(*queued);
    } catch (...) {
      queued->release_job();  // the queue's reference; `state` drops the other
      throw;
    }
    return detail::future_access::make<result>(std::move(state));
  }

  /// Queues `function` without a future (the executor interface: then(pool, fn)). What it
  /// throws goes to on_unobserved_failure. Throws rejected_execution once shut down.
  void execute(detail::unique_function<void()> function) {
    auto* queued = new detail::function_job(std::move(function), core_);
    try {
      core_.enqueue(*queued);
    } catch (...) {
      queued->release_job();
      throw;
    }
  }

  void shutdown() noexcept { core_.shutdown(); }
  /// Shuts down and hands back the queued jobs (oldest first), which will not run otherwise.
  std::vector<job> shutdown_now() {
    std::vector<detail::pool_job*> taken = core_.shutdown_now();
    std::vector<job> handed_back;
    handed_back.reserve(taken.size());
    for (detail::pool_job* queued : taken) handed_back.push_back(job(queued));
    return handed_back;
  }
  /// After a shutdown: waits until every thread has ended, or `timeout`; returns whether they
  /// had. Before any shutdown it waits for the timeout and returns false.
  template <class Rep, class Period>
  bool await_termination(std::chrono::duration<Rep, Period> timeout) {
    return core_.await_termination_until(std::chrono::steady_clock::now() +
                                         std::chrono::duration_cast<std::chrono::steady_clock::duration>(timeout));
  }
  [[nodiscard]] bool is_shutdown() const noexcept { return core_.is_shutdown(); }
  [[nodiscard]] bool is_terminated() const noexcept { return core_.is_terminated(); }
  /// The fixed threads (not counting extra ones).
  [[nodiscard]] std::size_t thread_count() const noexcept { return core_.thread_count(); }
  /// How many extra threads all-threads-waiting made the pool start so far.
  [[nodiscard]] std::size_t extra_threads_started() const noexcept { return core_.extra_threads_started(); }

 private:
  detail::thread_pool_core core_;
};

}  // namespace brigade
