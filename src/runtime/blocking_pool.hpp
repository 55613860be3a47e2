// The blocking pool: an elastic set of threads for calls that block (spawn_blocking). Threads
// are started on demand up to a bound; one that stays idle for the keep-alive period exits. When
// the bound is reached, further calls wait in a FIFO queue.
//
// Shutdown, in the runtime's order (scheduler.cpp, P7):
//   1. refuse(): no new calls; queued and running ones go on.
//   2. cancel_queued(): the calls not started yet complete with task_cancelled.
//   3. While the runtime destroys its suspended tasks, it holds the publish gate (publish_gate()):
//      a call that finishes meanwhile waits to publish its result, so that it never wakes a task
//      being destroyed (a destroyed task's join withdraws itself from the call's record first).
//      Still holding it, the runtime calls request_stop_running(): every running call is asked to
//      stop (its std::stop_token, for a call that takes one). A running call cannot publish, so
//      cannot be freed, while the gate is held.
//   4. finish(deadline): waits for the running calls until `deadline`. Threads still running a
//      call then are detached: the call runs on, its result is published to its handle (or
//      dropped), and the thread exits when it is done. The pool's state is shared with its
//      threads, so it outlives the runtime for them.
// Lock order: the publish gate, then the pool's mutex.
//
// Invariants (all guarded by state::mutex):
//   - idle <= threads; a thread counted in idle is waiting on work_ready.
//   - After refusing is set, no job enters queue.
//   - running holds exactly the jobs between their start and the end of their publish.
//   - threads counts the threads that have not exited; handles holds the std::thread of each
//     thread started and not yet joined or detached (exited ones go to exited, to be joined).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "brigade/detail/blocking_job.hpp"
#include "brigade/detail/seam.hpp"

namespace brigade::detail {

class blocking_pool {
 public:
  blocking_pool(std::size_t max_threads, std::chrono::milliseconds keep_alive);
  ~blocking_pool();
  blocking_pool(const blocking_pool&) = delete;
  blocking_pool& operator=(const blocking_pool&) = delete;

  /// Queues the job and makes sure a thread will run it. Throws runtime_shut_down after
  /// refuse().
  void submit(blocking_job& job);

  /// Shutdown step 1.
  void refuse() noexcept;
  /// Step 2.
  void cancel_queued() noexcept;
  /// Step 3: held while the runtime destroys its tasks.
  seam::mutex& publish_gate() noexcept { return state_->publish_gate; }
  /// Step 3, with the publish gate held.
  void request_stop_running() noexcept;
  /// Step 4. Returns whether every call ended by `deadline` (steady clock; max() waits forever).
  bool finish(std::chrono::steady_clock::time_point deadline) noexcept;

  std::size_t thread_count() const;

 private:
  struct state {
    seam::mutex mutex;
    seam::condition_variable work_ready;
    seam::condition_variable thread_exited;
    std::deque<blocking_job*> queue;
    blocking_job* running = nullptr;  // first running job (through next_running)
    std::list<seam::thread> handles;   // threads started and not joined or detached
    std::vector<seam::thread> exited;  // handles of exited threads, to be joined
    std::size_t threads = 0;          // threads that have not exited
    std::size_t idle = 0;
    bool refusing = false;
    bool detached = false;  // finish() timed out and detached the threads in handles
    seam::mutex publish_gate;
    std::size_t max_threads = 1;
    std::chrono::milliseconds keep_alive{};
  };

  static void run_thread(std::shared_ptr<state> shared, std::list<seam::thread>::iterator self);

  std::shared_ptr<state> state_;
  bool finished_ = false;  // finish() ran (owner only)
};

}  // namespace brigade::detail
