// The blocking pool: an elastic set of threads for calls that block (spawn_blocking). Threads
// are started on demand up to a bound; one that stays idle for the keep-alive period exits. When
// the bound is reached, further calls wait in a FIFO queue.
//
// Shutdown: queued calls are cancelled (their joiners get task_cancelled); calls already running
// are waited for, since a thread cannot be stopped from outside (as in Tokio).
//
// Invariants (all guarded by mutex_):
//   - idle_ <= threads_.size(); a thread counted in idle_ is waiting on work_ready_.
//   - After shutting_down_ is set, no job enters queue_.
//   - A thread is in threads_ from its start until it exits; then its std::thread moves to
//     exited_, to be joined by the next submit() or by shutdown().
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <list>
#include <mutex>
#include <thread>
#include <vector>

#include "brigade/detail/blocking_job.hpp"

namespace brigade::detail {

class blocking_pool {
 public:
  blocking_pool(std::size_t max_threads, std::chrono::milliseconds keep_alive);
  ~blocking_pool();
  blocking_pool(const blocking_pool&) = delete;
  blocking_pool& operator=(const blocking_pool&) = delete;

  /// Queues the job and makes sure a thread will run it. Throws runtime_shut_down after
  /// shutdown() began.
  void submit(blocking_job& job);

  /// Cancels queued jobs, waits for running ones, joins every thread. Idempotent.
  void shutdown() noexcept;

  std::size_t thread_count() const;

 private:
  void run_thread(std::list<std::thread>::iterator self);

  mutable std::mutex mutex_;
  std::condition_variable work_ready_;
  std::condition_variable thread_exited_;
  std::deque<blocking_job*> queue_;
  std::list<std::thread> threads_;
  std::vector<std::thread> exited_;
  std::size_t idle_ = 0;
  bool shutting_down_ = false;
  const std::size_t max_threads_;
  const std::chrono::milliseconds keep_alive_;
};

}  // namespace brigade::detail
