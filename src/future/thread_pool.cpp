// The thread pool's queue and threads: see include/brigade/future/thread_pool.hpp.
//
// One FIFO of intrusive job nodes under a mutex; idle threads sleep on a condition variable and
// are notified only while some sleep. A job node is claimed before it runs (pool_job::claim), so
// a pool thread waiting for a queued job's future may run it itself: the queue then finds it
// claimed and only drops its reference. The threads share the state with the pool object through
// a shared_ptr, so that a pool destroyed from one of its own threads (a misuse, reported) does not
// free what that thread still reads.
#include "brigade/future/thread_pool.hpp"

#include <pthread.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include "brigade/detail/future_wait.hpp"

namespace brigade::detail {

namespace {
// The pool whose thread this is (nullptr elsewhere).
constinit thread_local const void* this_thread_pool = nullptr;
}  // namespace

struct thread_pool_core::shared final : pool_thread_hooks, std::enable_shared_from_this<thread_pool_core::shared> {
  explicit shared(thread_pool_options pool_options) : options(std::move(pool_options)) {}

  std::string deadlock_message() const override {
    return "brigade: thread_pool \"" + options.name +
           "\": every thread waits on a future while jobs are queued that no thread can run, and the " +
           std::to_string(options.max_extra_threads) +
           " extra threads it may start (max_extra_threads) are spent: a deadlock of jobs waiting for work only this "
           "pool runs; co_await in a task instead of blocking a pool thread, or give the pool more threads";
  }
  void enter_wait(wait_record& record) override {
    std::lock_guard lock(mutex);
    if (blocked_in_untimed_waits + 1 == live_threads && head != nullptr) {
      // Every thread would wait on a future while jobs are queued: what they wait for may be one
      // of those jobs (a promise it fulfils). Run the queue on one more thread meanwhile.
      if (!try_start_extra_thread_locked()) throw deadlock_error(deadlock_message());
    }
    record.next = blocked_waits;
    blocked_waits = &record;
    ++blocked_in_untimed_waits;
  }
  void leave_wait(wait_record& record) noexcept override {
    std::lock_guard lock(mutex);
    for (wait_record** link = &blocked_waits; *link != nullptr; link = &(*link)->next) {
      if (*link == &record) {
        *link = record.next;
        break;
      }
    }
    --blocked_in_untimed_waits;
  }
  /// Under the lock, after a job was queued: if every thread waits on a future, the job could
  /// never run. Starts an extra thread, or, past max_extra_threads, returns the stop source of
  /// the newest wait, which the caller requests after unlocking: that wait ends with
  /// deadlock_error (its job fails) and the thread takes the queue.
  std::stop_source resolve_all_waiting_locked() {
    if (blocked_in_untimed_waits != live_threads || blocked_waits == nullptr) return std::stop_source(std::nostopstate);
    if (try_start_extra_thread_locked()) return std::stop_source(std::nostopstate);
    blocked_waits->deadlocked.store(true, seam::memory_order::release);
    return blocked_waits->stop;
  }

  /// Starts an extra thread unless max_extra_threads are spent; false if it could not.
  bool try_start_extra_thread_locked() noexcept {
    if (extra_threads.size() >= options.max_extra_threads) return false;
    try {
      extra_threads.emplace_back([state = shared_from_this()] { state->run_thread(true); });
    } catch (...) {
      return false;  // no thread to be had: treated as the limit
    }
    ++live_threads;
    ++extra_threads_started;
    return true;
  }

  pool_job* pop_locked() noexcept {
    pool_job* job = head;
    head = job->next;
    if (head == nullptr) tail = nullptr;
    job->next = nullptr;
    return job;
  }

  /// An extra thread (started while every thread waited) ends when it finds the queue empty.
  void run_thread(bool extra) {
    set_current_pool_hooks(this);
    this_thread_pool = this;
    std::unique_lock lock(mutex);
    while (true) {
      if (head != nullptr) {
        pool_job* job = pop_locked();
        lock.unlock();
        if (job->claim()) job->run();
        job->release_job();
        lock.lock();
        continue;
      }
      if (shutting_down || extra) break;
      ++sleeping;
      work_ready.wait(lock);
      --sleeping;
      if (signalled > 0) --signalled;  // this wake-up answers one signal (or was spurious)
    }
    if (--live_threads == 0) all_ended.notify_all();
    lock.unlock();
    set_current_pool_hooks(nullptr);
    this_thread_pool = nullptr;
  }

  thread_pool_options options;
  std::mutex mutex;
  std::condition_variable work_ready;  // a sleeping thread waits for work or shutdown
  std::condition_variable all_ended;   // await_termination waits for live_threads == 0
  pool_job* head = nullptr;            // the queue, oldest first; guarded by mutex
  pool_job* tail = nullptr;
  std::size_t sleeping = 0;            // guarded by mutex
  // Signals sent to sleeping threads that no thread has woken up for yet (guarded by mutex). A
  // submit signals only when more threads sleep than are already signalled: a woken thread runs
  // every queued job before it sleeps again, so a burst of submits wakes one thread per sleeper,
  // not one per job. Never above the signals pending: each wake-up (spurious ones too) takes one.
  std::size_t signalled = 0;
  std::size_t live_threads = 0;        // guarded by mutex
  std::size_t blocked_in_untimed_waits = 0;  // guarded by mutex
  wait_record* blocked_waits = nullptr;      // guarded by mutex: those waits, newest first
  bool shutting_down = false;          // guarded by mutex
  std::stop_source pool_stop;          // requested by shutdown_now
  std::vector<std::thread> threads;    // written by the constructor only
  std::vector<std::thread> extra_threads;  // guarded by mutex; joined by the destructor
  std::size_t extra_threads_started = 0;   // guarded by mutex
};

thread_pool_core::thread_pool_core(thread_pool_options options) : shared_(std::make_shared<shared>(std::move(options))) {
  std::size_t count = shared_->options.threads;
  if (count == 0) count = std::max(1u, std::thread::hardware_concurrency());
  shared_->threads.reserve(count);
  shared_->live_threads = count;
  for (std::size_t i = 0; i < count; ++i) {
    try {
      shared_->threads.emplace_back([state = shared_] { state->run_thread(false); });
    } catch (...) {
      {
        std::lock_guard lock(shared_->mutex);
        shared_->live_threads -= count - i;  // those never started
        shared_->shutting_down = true;
      }
      shared_->work_ready.notify_all();
      for (auto& thread : shared_->threads) thread.join();
      throw;
    }
    const std::string name = (shared_->options.name + "-" + std::to_string(i)).substr(0, 15);
    ::pthread_setname_np(shared_->threads.back().native_handle(), name.c_str());
  }
}

thread_pool_core::~thread_pool_core() {
  shutdown();
  for (auto& thread : shared_->threads) {
    if (thread.get_id() == std::this_thread::get_id()) {
      std::fprintf(stderr, "brigade: thread_pool \"%s\" destroyed by one of its own jobs: that thread is "
                   "detached and ends after the job\n", shared_->options.name.c_str());
      thread.detach();
      continue;
    }
    thread.join();  // it runs the queue dry first
  }
  // The queue is empty and closed: no job can start another extra thread now.
  std::vector<std::thread> extras;
  {
    std::lock_guard lock(shared_->mutex);
    extras.swap(shared_->extra_threads);
  }
  for (auto& thread : extras) {
    if (thread.get_id() == std::this_thread::get_id())
      thread.detach();
    else
      thread.join();
  }
}

void thread_pool_core::enqueue(pool_job& job) {
  bool wake;
  std::stop_source deadlocked(std::nostopstate);
  {
    std::lock_guard lock(shared_->mutex);
    if (shared_->shutting_down)
      throw rejected_execution("brigade: thread_pool \"" + shared_->options.name +
                               "\" is shut down: it accepts no more work");
    job.next = nullptr;
    if (shared_->tail == nullptr)
      shared_->head = &job;
    else
      shared_->tail->next = &job;
    shared_->tail = &job;
    wake = shared_->sleeping > shared_->signalled;
    if (wake)
      ++shared_->signalled;
    else if (shared_->sleeping == 0)
      deadlocked = shared_->resolve_all_waiting_locked();
  }
  if (wake) shared_->work_ready.notify_one();
  if (deadlocked.stop_possible()) deadlocked.request_stop();
}

void thread_pool_core::shutdown() noexcept {
  {
    std::lock_guard lock(shared_->mutex);
    if (shared_->shutting_down) return;
    shared_->shutting_down = true;
  }
  shared_->work_ready.notify_all();
}

std::vector<pool_job*> thread_pool_core::shutdown_now() noexcept {
  std::vector<pool_job*> taken;
  {
    std::lock_guard lock(shared_->mutex);
    shared_->shutting_down = true;
    std::size_t count = 0;
    for (pool_job* job = shared_->head; job != nullptr; job = job->next) ++count;
    try {
      taken.reserve(count);
    } catch (...) {
      // Out of memory for the list: the jobs stay queued and run (the caller gets none back).
      count = 0;
    }
    if (count != 0) {
      while (shared_->head != nullptr) taken.push_back(shared_->pop_locked());
    }
  }
  shared_->work_ready.notify_all();
  shared_->pool_stop.request_stop();
  return taken;
}

bool thread_pool_core::await_termination_until(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(shared_->mutex);
  return shared_->all_ended.wait_until(lock, deadline, [&] { return shared_->live_threads == 0; });
}

bool thread_pool_core::is_shutdown() const noexcept {
  std::lock_guard lock(shared_->mutex);
  return shared_->shutting_down;
}

bool thread_pool_core::is_terminated() const noexcept {
  std::lock_guard lock(shared_->mutex);
  return shared_->live_threads == 0;
}

std::size_t thread_pool_core::thread_count() const noexcept { return shared_->threads.size(); }

std::size_t thread_pool_core::extra_threads_started() const noexcept {
  std::lock_guard lock(shared_->mutex);
  return shared_->extra_threads_started;
}

std::stop_token thread_pool_core::pool_stop_token() const noexcept { return shared_->pool_stop.get_token(); }

bool thread_pool_core::is_own_thread() const noexcept { return this_thread_pool == shared_.get(); }

const std::string& thread_pool_core::name() const noexcept { return shared_->options.name; }

void thread_pool_core::report_failure(std::exception_ptr error) noexcept {
  if (shared_->options.on_unobserved_failure) {
    try {
      shared_->options.on_unobserved_failure(error);
      return;
    } catch (...) {
      // The handler failed: fall back to the message below.
    }
  }
  const char* what = "an exception not derived from std::exception";
  std::string message;
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& failure) {
    message = failure.what();
    what = message.c_str();
  } catch (...) {
  }
  std::fprintf(stderr, "brigade: a job given to thread_pool \"%s\" with execute() threw: %s\n",
               shared_->options.name.c_str(), what);
}

void function_job::run() noexcept {
  try {
    function_();
  } catch (...) {
    pool_.report_failure(std::current_exception());
  }
}

}  // namespace brigade::detail
