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
#include "reactor/reactor.hpp"
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
  /// What the worker is doing, for the liveness monitor (written by the worker at each change,
  /// read by the monitor; relaxed: a snapshot is all the monitor needs).
  enum class activity : std::uint8_t { running, searching, parked };

  parker parker_;            // any thread unparks; the worker parks
  seam::thread thread_;      // started and joined by the scheduler (or the monitor, for extras)
  // Immutable: a compensating worker (started by the monitor when every worker is blocked; it
  // retires when it runs out of work instead of parking; monitor.cpp).
  bool extra_ = false;
  // Shared with the monitor:
  seam::atomic<activity> activity_{activity::running};
  seam::atomic<bool> blocking_{false};   // inside begin_blocking/end_blocking (block_in_place)
  seam::atomic<bool> active_{false};     // an extra's thread is running (set by the monitor)
  seam::atomic<long> thread_id_{0};      // the kernel's id of its thread (for /proc), or 0
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
  // Tasks that yielded on this worker (yield_now, this_fiber::yield): this worker pushes them
  // (public, never private) and takes them oldest first with the thieves' protocol, after all its
  // other work and at every injection-queue check (next_local_task); searching workers steal
  // them as they steal deques. No lock and one claim per yield, where the injection queue took
  // a lock twice and a full fence.
  work_stealing_deque yielded_;
  // Tasks pinned to this worker (a pinned fiber's driver, fiber/go.hpp): any thread pushes, only
  // this worker takes them (next_local_task, and park before it sleeps); nobody steals them.
  inject_queue pinned_;
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
  std::size_t worker_count() const noexcept { return core_workers_; }
  reactor& io_reactor() noexcept { return *reactor_; }

  // Submission.
  void submit_root(join_state& record);
  /// submit_root from `self`, one of this scheduler's workers (the calling thread's).
  void submit_root_on(worker_hot& self, join_state& record);
  /// Called on `here`, a worker of this scheduler, where the root finished.
  void finish_root(join_state& record, worker_hot& here) noexcept;
  void submit_blocking(blocking_job& job) { blocking_.submit(job); }
  void inject(void* task);
  /// Queues `task`, which yielded on worker `self` (its own thread), behind self's other work.
  void push_yielded(worker& self, void* task);
  bool notify_parked_worker() noexcept;  // true if it woke one
  /// Queues `task` for worker `index` alone, and wakes it if it sleeps (scheduler_hooks.hpp).
  void schedule_pinned(std::uint32_t index, void* task);

  /// P7. Waits for running blocking calls until `deadline`; returns whether they all ended.
  bool shutdown(std::chrono::steady_clock::time_point deadline);
  runtime_stats stats() const;

 private:
  // The hooks that headers call (monitor.cpp).
  friend bool keep_after_lifo_claim(worker_hot& worker, void* task) noexcept;
  friend void begin_blocking(worker_hot& worker) noexcept;
  friend void end_blocking(worker_hot& worker) noexcept;

  // worker.cpp: the loop of one worker and what it calls.
  void run_worker(worker& self);
  /// The task in the worker's LIFO slot, taken out, or nullptr (the owner's side of lifo_slot's
  /// protocol, scheduler_hooks.hpp). Inline: it is on the path of every wake-up that runs next.
  BRIGADE_ALWAYS_INLINE void* take_lifo(worker& self) noexcept {
    void* task = self.lifo.task.load(seam::memory_order::relaxed);
    if (task == nullptr) return nullptr;
    self.lifo.task.store(nullptr, seam::memory_order::relaxed);
    seam::light_fence();
    if (self.lifo.claim.load(seam::memory_order::relaxed) != 0 && !keep_after_lifo_claim(self, task)) [[unlikely]]
      return nullptr;  // the monitor took it
    return task;
  }
  void* next_local_task(worker& self);
  void* search_for_work(worker& self);
  void* take_from_inject(worker& self);
  /// The oldest task pinned to this worker, or nullptr. The check inline, the taking out of line:
  /// next_local_task is on every task's path, and pinned fibers are rare.
  BRIGADE_ALWAYS_INLINE static void* take_pinned(worker& self) {
    if (self.pinned_.size_hint() == 0) [[likely]]
      return nullptr;
    return take_pinned_slowly(self);
  }
  [[gnu::noinline]] static void* take_pinned_slowly(worker& self);
  /// The oldest task that yielded on this worker, or nullptr (also when a thief is taking some
  /// at this moment: the loop looks again before it parks).
  BRIGADE_ALWAYS_INLINE static void* take_yielded(worker& self) noexcept {
    if (self.yielded_.size_hint() == 0) return nullptr;
    return self.yielded_.steal();
  }
  void park(worker& self);
  bool work_visible() const noexcept;
  void leave_searching(worker& self) noexcept;
  void* start_root(worker& self, join_state& record) noexcept;
  // The reactor (worker.cpp): a turn without waiting by a busy worker, and the hand-off of the
  // driver to a sleeping worker when its holder leaves it.
  void turn_reactor_while_busy(worker& self) noexcept;
  void* turn_reactor_while_searching(worker& self);
  void hand_off_driver(std::uint32_t leaving) noexcept;
  /// The timer queue's attention function: wakes whoever should watch the driver.
  static void reactor_needs_attention(void* self) noexcept;
  static void interrupt_reactor(void* self) noexcept;
  void empty_queues() noexcept;
  std::uint32_t span() const noexcept { return worker_span_.load(seam::memory_order::acquire); }

  // monitor.cpp: the liveness monitor and compensating workers.
  void start_monitor();
  void stop_monitor() noexcept;
  void monitor_loop() noexcept;
  struct monitor_view {  // what the monitor saw of one worker at its previous look
    std::uint64_t progress = ~std::uint64_t{0};  // tasks_run
    void* lifo_task = nullptr;                   // the LIFO slot's task
  };
  bool check_liveness(std::vector<monitor_view>& last_look) noexcept;
  bool every_worker_parked() const noexcept;
  void turn_reactor_from_monitor() noexcept;
  bool steal_lifo(worker& stuck) noexcept;
  bool blocked_in_kernel(const worker& w) const noexcept;
  void start_compensating_worker() noexcept;
  void poke_monitor() noexcept;

  // First constructed, last destroyed: the serial is findable for the scheduler's whole life.
  scheduler_serials serial_;
  runtime& owner_;
  runtime_options options_;
  // The core workers, then the slots of compensating workers (extra_). workers_[0, span()) may
  // run: span grows (never shrinks) when the monitor first starts an extra in a slot.
  std::vector<std::unique_ptr<worker>> workers_;
  std::uint32_t core_workers_ = 0;
  seam::atomic<std::uint32_t> worker_span_{0};
  idle idle_;
  inject_queue inject_;
  blocking_pool blocking_;
  std::unique_ptr<reactor> reactor_;
  seam::atomic<bool> shutting_down_{false};
  // Threads other than this scheduler's workers inside inject or schedule_pinned now: the task
  // they made runnable may finish and its runtime be destroyed before they return, so the
  // destructor waits for this to be zero. The increment is relaxed: it is sequenced before the
  // push, which happens before the task runs, so a joiner that destroys the runtime sees it.
  seam::atomic<std::uint32_t> outside_wakers_{0};
  class outside_waker_guard {
   public:
    explicit outside_waker_guard(scheduler& owner) noexcept
        : owner_(is_outsider(owner) ? &owner : nullptr) {
      if (owner_ != nullptr) owner_->outside_wakers_.fetch_add(1, seam::memory_order::relaxed);
    }
    ~outside_waker_guard() {
      if (owner_ != nullptr) owner_->outside_wakers_.fetch_sub(1, seam::memory_order::release);
    }
    outside_waker_guard(const outside_waker_guard&) = delete;
    outside_waker_guard& operator=(const outside_waker_guard&) = delete;

   private:
    static bool is_outsider(const scheduler& owner) noexcept {
      const worker_hot* self = current_worker();
      return self == nullptr || self->owner != &owner;
    }
    scheduler* owner_;
  };

  // Roots started and not finished: one list per worker, one for roots spawned from outside.
  root_registry registry_;
  // For stats().live_tasks (the workers count theirs in worker_counters).
  seam::atomic<std::uint64_t> outsider_roots_spawned_{0};
  seam::atomic<std::uint64_t> roots_cancelled_{0};  // by shutdown

  // The monitor's thread and its sleep.
  seam::thread monitor_thread_;
  seam::mutex monitor_mutex_;
  seam::condition_variable monitor_wake_;
  bool monitor_stop_ = false;    // guarded by monitor_mutex_
  bool monitor_poked_ = false;   // guarded by monitor_mutex_
  // Set while the monitor sleeps without a timeout because every worker is parked; whoever
  // wakes a worker then wakes the monitor too (monitor.cpp, "Idle").
  seam::atomic<bool> monitor_sleeps_until_work_{false};
  seam::atomic<std::uint64_t> lifo_steals_{0};
  seam::atomic<std::uint64_t> monitor_looks_{0};
  seam::atomic<std::uint64_t> compensations_{0};

  // Serialises shutdown() callers; the first does the work.
  seam::mutex shutdown_mutex_;
  bool shut_down_ = false;
  bool blocking_calls_ended_ = true;  // what the shutdown that ran reported
};

}  // namespace brigade::detail
