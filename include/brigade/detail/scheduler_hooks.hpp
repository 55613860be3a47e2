// brigade/detail/scheduler_hooks.hpp: the scheduler's fast paths that templates in headers call:
// forking a task onto this worker's deque and waking a coroutine.
//
// The scheduler itself (workers, idle bookkeeping, the injection queue, shutdown) is compiled in
// src/runtime/; this header exposes only the part of a worker that the fast paths touch, so that
// forking a child costs a few stores with no call into the library.
//
// Thread safety: current_worker() is the calling thread's own worker (null on a thread that
// is not a worker). fork() and wake_local() must be called on that worker's thread;
// schedule() may be called from any thread.
#pragma once

#include <coroutine>
#include <cstdint>

#include "brigade/detail/cache_line.hpp"
#include "brigade/detail/seam.hpp"
#include "brigade/detail/thread_local_slot.hpp"
#include "brigade/detail/work_stealing_deque.hpp"

namespace brigade::detail {

class scheduler;

/// Counters of one worker. Written by that worker only (relaxed load + store, no locked
/// instruction), read by anyone with relaxed loads (the values are statistics, not
/// synchronisation).
struct worker_counters {
  seam::atomic<std::uint64_t> tasks_run{0};
  seam::atomic<std::uint64_t> steals{0};
  seam::atomic<std::uint64_t> private_steals{0};  // steals that had to take private tasks (P8)
  seam::atomic<std::uint64_t> parks{0};
  seam::atomic<std::uint64_t> roots_spawned{0};   // spawned on this worker
  seam::atomic<std::uint64_t> roots_finished{0};  // finished on this worker
  void bump(seam::atomic<std::uint64_t>& counter, std::uint64_t by = 1) noexcept {
    counter.store(counter.load(seam::memory_order::relaxed) + by, seam::memory_order::relaxed);
  }
};

/// Packs the scheduler's idle bookkeeping into one word: bits 0-15 count the workers searching
/// for work, bits 16-31 the workers not parked. See src/runtime/idle.hpp.
struct idle_word {
  static constexpr std::uint32_t searching_mask = 0xFFFF;
  static constexpr std::uint32_t unparked_shift = 16;
  static constexpr std::uint32_t searching(std::uint32_t word) noexcept {
    return word & searching_mask;
  }
  static constexpr std::uint32_t unparked(std::uint32_t word) noexcept {
    return word >> unparked_shift;
  }
  /// New work should wake a parked worker: nobody is searching (a searcher would find it) and
  /// somebody is parked.
  static constexpr bool wants_wake(std::uint32_t word, std::uint32_t workers) noexcept {
    return searching(word) == 0 && unparked(word) < workers;
  }
  /// Every worker is running and none is searching: no worker could steal a task now.
  static constexpr bool all_busy(std::uint32_t word, std::uint32_t workers) noexcept {
    return searching(word) == 0 && unparked(word) == workers;
  }
};

/// The LIFO slot of a worker: the task it just woke, which it runs next. The owner puts and takes
/// with plain loads and stores; the liveness monitor (src/runtime/monitor.cpp) may take the task
/// from a worker that has not come back to its loop for a while (blocked in a system call, a
/// thread-form lock, a long computation), so that it is not stranded there. The monitor's side is
/// an asymmetric protocol, like the deque's private steal (work_stealing_deque.hpp):
///   monitor: claim = t (the task it saw in the slot); heavy fence; read the slot again; if it
///            still holds t, claim = t | committed (the monitor runs t elsewhere), else claim = 0.
///   owner:   after taking (slot = null) or replacing (slot = new) a task t: light fence; read
///            claim; if it names t, wait for the monitor's decision: committed means t is the
///            monitor's (the owner drops it and clears the claim); 0 means t is the owner's.
/// Why exactly one of them runs t: the heavy fence puts a full fence P into the owner. If the
/// owner's store to the slot comes before P, the monitor's second read sees it and gives t up;
/// otherwise the owner's following read of the claim (after P) sees it and defers to the
/// monitor's decision, which is then made on a slot the owner no longer changes. A committed
/// claim stays until the owner next takes or replaces the slot's task, so it always names the
/// task in the slot (the monitor claims nothing else on that worker meanwhile).
/// Used only where the heavy fence works (private_forks); elsewhere schedule() forks instead.
struct lifo_slot {
  static constexpr std::uintptr_t committed = 1;
  seam::atomic<void*> task{nullptr};                // owner writes; the monitor reads
  seam::atomic<std::uintptr_t> claim{0};            // the monitor writes; the owner reads, clears
};

/// The part of a worker that inline fast paths use.
struct worker_hot {
  work_stealing_deque deque;                        // owner pushes/pops, others steal
  bool private_forks = false;                       // immutable after start: heavy fence works
  lifo_slot lifo;                                   // the task just woken (see lifo_slot)
  scheduler* owner = nullptr;                       // immutable after start
  const seam::atomic<std::uint32_t>* idle = nullptr;  // the scheduler's idle word
  std::uint32_t worker_count = 0;                   // immutable after start
  std::uint32_t index = 0;                          // immutable after start
  worker_counters counters;
};

// Never read directly: use current_worker() (see thread_local_slot.hpp).
inline constinit thread_local worker_hot* this_thread_worker_storage
    BRIGADE_HOT_THREAD_LOCAL("brigade_detail_this_thread_worker") = nullptr;

BRIGADE_THREAD_LOCAL_ACCESSOR worker_hot*& this_thread_worker_reference() noexcept {
  return this_thread_worker_storage;
}

/// The calling thread's worker, or nullptr on a thread that is not a worker.
BRIGADE_ALWAYS_INLINE worker_hot* current_worker() noexcept {
  return *BRIGADE_HOT_THREAD_LOCAL_ADDRESS(worker_hot*, "brigade_detail_this_thread_worker",
                                           this_thread_worker_reference);
}
inline void set_current_worker(worker_hot* worker) noexcept { this_thread_worker_storage = worker; }

/// Slow paths, in src/runtime/.
void notify_parked_worker(scheduler& sched) noexcept;
void inject(scheduler& sched, std::coroutine_handle<> task);
/// Queues `task`, which yielded on `worker` (the calling thread's), behind the worker's other
/// ready work: the worker takes it after its deque, pinned and injected tasks (and at every
/// 61-task check of the injection queue); an idle worker may steal it.
void yield_task(worker_hot& worker, std::coroutine_handle<> task);
/// Makes `task` runnable on worker `worker_index` of `sched` only (a pinned fiber's driver): it
/// is never stolen, and the worker is woken if it sleeps. The worker takes it after its local
/// work, or within inject_check_interval tasks when it is busy.
void schedule_pinned(scheduler& sched, std::uint32_t worker_index, std::coroutine_handle<> task);
/// The owner of `worker`, having just taken or replaced `task` in its LIFO slot, found a claim of
/// the liveness monitor: waits for its decision; returns whether the owner keeps `task` (false:
/// the monitor runs it elsewhere). Clears a committed claim.
bool keep_after_lifo_claim(worker_hot& worker, void* task) noexcept;
/// Called on `worker`'s own thread before it blocks outside the scheduler's control (a thread
/// wait on a worker, block_in_place): hands its LIFO task and private tasks to the other workers,
/// wakes one if they sleep, and marks the worker blocked, so that the monitor compensates at once
/// if every worker is. end_blocking when it is back.
void begin_blocking(worker_hot& worker) noexcept;
void end_blocking(worker_hot& worker) noexcept;

/// After the worker added work to its deque. While every worker is busy (none searching, none
/// parked), nothing: nobody could steal it, so it may stay private (docs/ARCHITECTURE.md,
/// protocol 8). Otherwise the whole deque becomes public, and a parked worker is woken if none
/// is searching (a searching worker will find the work; waking more would be a thundering herd).
///
/// No fence before the read of the idle word, deliberately: a locked instruction costs ~9 ns
/// here, paid on every fork. Without it, the read may see an idle word older than a worker that
/// has just announced it parks, while that worker's last look at the queues misses the push, so
/// the worker sleeps. That costs parallelism, never progress: the task is on the deque of a
/// worker that is running, and a worker always drains its own deque before it parks; and the
/// next fork or pop on this worker offers again. Work submitted from outside the workers
/// (inject) has no running owner, so that path keeps the fence.
inline void offer_work(worker_hot& worker) noexcept {
  const std::uint32_t word = worker.idle->load(seam::memory_order::relaxed);
  if (idle_word::all_busy(word, worker.worker_count)) return;
  worker.deque.publish();
  if (idle_word::wants_wake(word, worker.worker_count)) [[unlikely]]
    notify_parked_worker(*worker.owner);
}

/// offer_work, then `next`: out of line, for the tail of offer_then_run.
[[gnu::noinline]] inline std::coroutine_handle<> offer_work_then_run(
    worker_hot& worker, std::coroutine_handle<> next) noexcept {
  offer_work(worker);
  return next;
}

/// After the worker popped `next` to run it: if private tasks remain and some worker is not
/// busy, offers them (as pop_local does). Returns `next`. The offer is a tail call, so a caller
/// whose common path makes no other call saves no registers.
inline std::coroutine_handle<> offer_then_run(worker_hot& worker,
                                              std::coroutine_handle<> next) noexcept {
  if (worker.deque.has_private() &&
      !idle_word::all_busy(worker.idle->load(seam::memory_order::relaxed), worker.worker_count))
      [[unlikely]]
    return offer_work_then_run(worker, next);
  return next;
}

/// Makes a ready task runnable on the calling worker, where other workers can take it if they
/// run out of work: pushed private (work_stealing_deque.hpp: no fence to take it back), then
/// offered (published at once unless every worker is busy). Without the heavy fence that lets an
/// idle worker take private tasks from a blocked one, it is pushed public.
inline void fork(worker_hot& worker, std::coroutine_handle<> task) {
  if (worker.private_forks) [[likely]]
    worker.deque.push_private(task.address());
  else
    worker.deque.push(task.address());
  offer_work(worker);
}

/// fork(task), then `next`: out of line, for the tail of fork_then_run.
[[gnu::noinline]] inline std::coroutine_handle<> fork_slowly_then_run(
    worker_hot& worker, std::coroutine_handle<> task, std::coroutine_handle<> next) {
  fork(worker, task);
  return next;
}

/// fork(task) and return `next`, the task to transfer to. Its common path (private push into a
/// ring with room, every worker busy) makes no call, so a caller that makes no other call saves
/// no registers; the rest is a tail call.
inline std::coroutine_handle<> fork_then_run(worker_hot& worker, std::coroutine_handle<> task,
                                             std::coroutine_handle<> next) {
  if (worker.private_forks && worker.deque.try_push_private(task.address())) [[likely]] {
    if (idle_word::all_busy(worker.idle->load(seam::memory_order::relaxed), worker.worker_count))
        [[likely]]
      return next;
    return offer_work_then_run(worker, next);
  }
  return fork_slowly_then_run(worker, task, next);
}

/// The worker's newest local task, or nullptr. If private tasks remain and some worker went idle
/// since they were forked, they are published now (and a sleeper woken).
inline void* pop_local(worker_hot& worker) noexcept {
  void* task = worker.deque.pop();
  if (worker.deque.has_private()) offer_work(worker);
  return task;
}

/// Makes a woken task runnable. On a worker of `sched`, it goes to the LIFO slot (it runs next,
/// while what it needs is still in cache) and the slot's previous task moves to the deque;
/// elsewhere it goes to the injection queue.
inline void schedule(scheduler& sched, std::coroutine_handle<> task) {
  worker_hot* worker = current_worker();
  if (worker != nullptr && worker->owner == &sched) {
    if (!worker->private_forks) [[unlikely]] {  // no heavy fence: no LIFO slot (see lifo_slot)
      fork(*worker, task);
      return;
    }
    void* previous = worker->lifo.task.load(seam::memory_order::relaxed);
    // Release (a plain store on x86-64): the monitor, which may take the task to run it
    // elsewhere (lifo_slot's protocol), sees what was written before it was woken.
    worker->lifo.task.store(task.address(), seam::memory_order::release);
    if (previous != nullptr) {
      seam::light_fence();
      if (worker->lifo.claim.load(seam::memory_order::relaxed) != 0 &&
          !keep_after_lifo_claim(*worker, previous)) [[unlikely]]
        return;  // the monitor took it
      fork(*worker, std::coroutine_handle<>::from_address(previous));
    }
    return;
  }
  inject(sched, task);
}

}  // namespace brigade::detail
