// The scheduler behind brigade::runtime: the workers, the injection queue, the idle bookkeeping,
// the registry of live root tasks, and the blocking pool. The design and its protocols are in
// scheduler.cpp's opening comment and in docs/ARCHITECTURE.md.
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "blocking_pool.hpp"
#include "brigade/detail/parker.hpp"
#include "brigade/detail/scheduler_hooks.hpp"
#include "brigade/detail/seam.hpp"
#include "brigade/detail/spawn_record.hpp"
#include "brigade/runtime/runtime.hpp"
#include "idle.hpp"
#include "inject_queue.hpp"
#include "root_registry.hpp"

namespace brigade::detail {

/// Run-queue entries are coroutine addresses, except a root's first step, which is its record's
/// address with the low bit set (records are 16-byte aligned): the worker that takes it
/// registers the root (root_registry.hpp) before it resumes the frame.
inline void* root_start_entry(join_state& record) noexcept {
  return reinterpret_cast<void*>(reinterpret_cast<std::uintptr_t>(&record) | 1u);
}
inline join_state* as_root_start(void* entry) noexcept {
  const auto bits = reinterpret_cast<std::uintptr_t>(entry);
  return (bits & 1u) != 0 ? reinterpret_cast<join_state*>(bits & ~std::uintptr_t{1}) : nullptr;
}

/// One worker thread and everything only it touches. Fields of worker_hot are described there.
struct alignas(cache_line_size) worker : worker_hot {
  parker parker_;            // any thread unparks; the worker parks
  seam::thread thread_;      // started and joined by the scheduler
  // Owner only:
  std::uint32_t random_state_ = 0;  // xorshift state for picking steal victims
  std::uint32_t tick_ = 0;          // tasks run, for the periodic fairness checks
  std::uint32_t lifo_streak_ = 0;   // consecutive tasks taken from the LIFO slot
  bool searching_ = false;          // counted as searching in the idle word
  // P8: the worker whose private tasks this one is waiting to rescue, the owner's bottom index
  // when it started waiting (a change means the owner pushed or popped: it is not stuck), and
  // when it started.
  const worker* rescue_victim_ = nullptr;
  std::uint32_t rescue_victim_bottom_ = 0;
  std::uint64_t rescue_watch_since_ = 0;
};

/// Gives each scheduler a serial number, never reused, and finds a live scheduler by it. Records
/// keep the number rather than the address, since a join_handle may outlive its runtime.
class scheduler_serials {
 public:
  explicit scheduler_serials(scheduler& owner);
  ~scheduler_serials();
  scheduler_serials(const scheduler_serials&) = delete;
  scheduler_serials& operator=(const scheduler_serials&) = delete;
  std::uint32_t serial() const noexcept { return serial_; }

 private:
  std::uint32_t serial_;
};

class scheduler {
 public:
  scheduler(runtime& owner, runtime_options options);
  ~scheduler();
  scheduler(const scheduler&) = delete;
  scheduler& operator=(const scheduler&) = delete;

  runtime& owner() noexcept { return owner_; }
  std::uint32_t serial() const noexcept { return serial_.serial(); }
  /// The unobserved-failure handler, copied (it may be called after the runtime is gone).
  std::function<void(std::exception_ptr)> unobserved_failure_handler() const {
    return options_.on_unobserved_failure;
  }
  std::size_t worker_count() const noexcept { return workers_.size(); }

  // Submission.
  void submit_root(join_state& record);
  /// Called on `here`, a worker of this scheduler, where the root finished.
  void finish_root(join_state& record, worker_hot& here) noexcept;
  void submit_blocking(blocking_job& job) { blocking_.submit(job); }
  void inject(void* task);
  void notify_parked_worker() noexcept;

  /// P7. Waits for running blocking calls until `deadline`; returns whether they all ended.
  bool shutdown(std::chrono::steady_clock::time_point deadline);
  runtime_stats stats() const;

 private:
  // worker.cpp: the loop of one worker and what it calls.
  void run_worker(worker& self);
  void* next_local_task(worker& self);
  void* search_for_work(worker& self);
  void* take_from_inject(worker& self);
  void park(worker& self);
  bool work_visible() const noexcept;
  void leave_searching(worker& self) noexcept;
  void* start_root(worker& self, join_state& record) noexcept;
  void empty_queues() noexcept;

  // First constructed, last destroyed: the serial is findable for the scheduler's whole life.
  scheduler_serials serial_;
  runtime& owner_;
  runtime_options options_;
  std::vector<std::unique_ptr<worker>> workers_;
  idle idle_;
  inject_queue inject_;
  blocking_pool blocking_;
  seam::atomic<bool> shutting_down_{false};

  // Roots started and not finished: one list per worker, one for roots spawned from outside.
  root_registry registry_;
  // For stats().live_tasks (the workers count theirs in worker_counters).
  seam::atomic<std::uint64_t> outsider_roots_spawned_{0};
  seam::atomic<std::uint64_t> roots_cancelled_{0};  // by shutdown

  // Serialises shutdown() callers; the first does the work.
  seam::mutex shutdown_mutex_;
  bool shut_down_ = false;
  bool blocking_calls_ended_ = true;  // what the shutdown that ran reported
};

}  // namespace brigade::detail
