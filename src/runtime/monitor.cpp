// The liveness monitor: nothing runnable is stranded behind a worker that does not come back to
// its scheduler loop.
//
// Concepts
//   stuck worker     one that is running a task (not searching, not parked) and has not come
//                    back to its loop since the monitor's previous look (its tasks_run counter
//                    did not move), or one that said it blocks (begin_blocking: a thread-form
//                    wait on a worker, block_in_place). It may be computing, or blocked in a
//                    system call, a thread-form lock, a page fault.
//   stranded work    what a stuck worker holds: the task in its LIFO slot (nobody else runs it),
//                    and the tasks of its deque (public ones any searcher can steal; private
//                    ones a searcher rescues after watching the owner for 1 ms, protocol 8).
//   compensating     an extra worker (scheduler.hpp: extra_) that the monitor starts when every
//   worker           worker is stuck *and blocked in the kernel* while work waits. It runs tasks
//                    like any worker (its own deque, LIFO slot), never parks, and retires as soon
//                    as it finds no work. At most runtime_options::max_compensating_workers.
//
// The loop (one thread per runtime), after each sleep:
//   1. For every worker that may run (core workers and active extras): read its progress counter
//      and activity; it is stuck if it is marked blocking, or running with no progress.
//   2. For each stuck worker: if its LIFO slot holds the task it held at the previous look too,
//      take that task (lifo_slot's protocol in scheduler_hooks.hpp: a claim, a heavy fence, a
//      second look) and put it on the injection queue, which wakes a parked worker; if its deque
//      holds tasks, wake a parked worker too (it searches, steals the public ones, rescues the
//      private ones). A slot whose task changed since the last look belongs to a worker that is
//      scheduling (a long task that spawns or wakes others): its newest task will be pushed to
//      the deque, where searchers find it, by the next one. Taking it would cost that worker a
//      heavy fence (an interrupt, 0.2-0.5 ms on this VM) per look for nothing.
//   3. If no worker is free (every one stuck), work waits (the injection queue, a stuck worker's
//      deque), and every stuck worker is blocked (marked, or sleeping in the kernel according to
//      /proc/self/task/<tid>/stat), start a compensating worker. Workers that are only computing
//      are not compensated: more threads than cores would slow a CPU-bound program down, and
//      their stranded work already went to the idle workers in step 2.
//
// Cost while the workers are healthy: the monitor sleeps 1 ms after it acted (took a task, woke a
// worker, started one), then twice as long after every look that did nothing, up to 10 ms.
//
// Idle: while every worker is parked nothing can be stranded (work is stranded only behind a
// worker that runs), so the monitor sleeps without a timeout, and costs nothing on an idle
// runtime. It says so in monitor_sleeps_until_work_ and looks at the idle word once more; whoever
// then unparks a worker (notify_parked_worker, after its update of the idle word) sees the flag
// and wakes it. Both sides are sequentially consistent (a store then a load on each side, on the
// flag and the idle word): either the monitor sees the worker unparked and does not sleep, or
// the waker sees the flag and pokes it. A look reads two words per worker. Its only effect on the workers is
// one load of the LIFO claim word when a worker takes or replaces its LIFO task (on its own cache
// line, which the monitor writes only when it steals). begin_blocking wakes it at once.
//
// Approaches rejected
//   - Make the LIFO slot an atomic exchanged by the owner: a locked instruction per wake-up, on
//     the path a channel ping-pong takes twice per round trip (~9 ns each).
//   - Hand the stuck worker's whole core (deque, slot) to a new thread, as Go's sysmon retakes a
//     P and Tokio's block_in_place hands its core over: the stuck thread is inside a task that
//     will go on using its worker (forks, wakes) when it comes back, with no point at which to
//     tell it that the core is gone. brigade moves the work instead, and adds a thread.
//   - Compensate a worker that is computing: see step 3.
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <unistd.h>

#include "brigade/detail/wait_list.hpp"
#include "scheduler.hpp"

namespace brigade::detail {

namespace {
using namespace std::chrono_literals;
constexpr std::chrono::milliseconds busy_interval_min = 1ms;
constexpr std::chrono::milliseconds busy_interval_max = 10ms;
}  // namespace

void scheduler::start_monitor() {
  monitor_thread_ = seam::thread([this] { monitor_loop(); });
}

void scheduler::stop_monitor() noexcept {
  {
    std::lock_guard lock(monitor_mutex_);
    monitor_stop_ = true;
  }
  monitor_wake_.notify_all();
  if (monitor_thread_.joinable()) monitor_thread_.join();
}

void scheduler::poke_monitor() noexcept {
  {
    std::lock_guard lock(monitor_mutex_);
    monitor_poked_ = true;
  }
  monitor_wake_.notify_one();
}

void scheduler::monitor_loop() noexcept {
  std::vector<monitor_view> last_look(workers_.size());
  std::chrono::milliseconds interval = busy_interval_min;
  std::unique_lock lock(monitor_mutex_);
  const auto woken = [this] { return monitor_stop_ || monitor_poked_; };
  while (!monitor_stop_) {
    bool idle_runtime = false;
    if (every_worker_parked()) {
      monitor_sleeps_until_work_.store(true, seam::memory_order::seq_cst);
      idle_runtime = every_worker_parked();  // again, after the flag (see "Idle" above)
      if (idle_runtime) monitor_wake_.wait(lock, woken);
      monitor_sleeps_until_work_.store(false, seam::memory_order::relaxed);
    }
    if (!idle_runtime) monitor_wake_.wait_for(lock, interval, woken);
    if (monitor_stop_) break;
    const bool poked = std::exchange(monitor_poked_, false);
    lock.unlock();
    monitor_looks_.fetch_add(1, seam::memory_order::relaxed);
    const bool acted = check_liveness(last_look);
    turn_reactor_from_monitor();
    interval = acted || poked ? busy_interval_min : std::min(interval * 2, busy_interval_max);
    lock.lock();
  }
}

void scheduler::turn_reactor_from_monitor() noexcept {
  // Every worker busy (none sleeps in the driver) and none looked at the reactor lately (they
  // look every 61 tasks, so a worker in a long task does not): the monitor looks, and what it
  // wakes goes to the injection queue, for the first worker that comes back to its loop.
  if (reactor_->held() || !reactor_->has_work() || !reactor_->maybe_ready(seam::now_nanoseconds())) return;
  if (!reactor_->try_hold(-1)) return;
  waiter* ready = reactor_->turn(nullptr);
  reactor_->release();
  hand_off_driver(~std::uint32_t{0});  // a worker may have parked on its futex meanwhile
  wait_list::wake_all(ready);
}

bool scheduler::every_worker_parked() const noexcept {
  if (idle_word::unparked(idle_.word().load(seam::memory_order::seq_cst)) != 0) return false;
  // Compensating workers never park: one that is active runs.
  const std::uint32_t count = span();
  for (std::uint32_t i = core_workers_; i < count; ++i)
    if (workers_[i]->active_.load(seam::memory_order::acquire)) return false;
  return true;
}

bool scheduler::check_liveness(std::vector<monitor_view>& last_look) noexcept {
  bool acted = false;
  bool someone_free = false;
  bool work_waiting = inject_.size_hint() != 0;
  bool stranded_in_deques = false;
  std::array<const worker*, 64> stuck_sample{};  // the stuck ones, for step 3 (the first 64)
  std::size_t stuck_count = 0;
  const std::uint32_t count = span();
  for (std::uint32_t i = 0; i < count; ++i) {
    worker& w = *workers_[i];
    monitor_view& last = last_look[i];
    if (w.extra_ && !w.active_.load(seam::memory_order::acquire)) {
      // No thread runs this compensating worker (its last act was to say so): the roots it
      // started and that finished elsewhere are the monitor's to take off its registry table.
      registry_.drain_remote_removals(static_cast<std::uint16_t>(i));
      last = monitor_view{};
      continue;
    }
    // Step 1.
    const std::uint64_t progress = w.counters.tasks_run.load(seam::memory_order::relaxed);
    const bool blocking = w.blocking_.load(seam::memory_order::acquire);
    const bool running = w.activity_.load(seam::memory_order::relaxed) == worker::activity::running;
    const bool stuck = blocking || (running && progress == last.progress);
    void* const lifo_task = w.lifo.task.load(seam::memory_order::relaxed);
    const bool lifo_task_waited = lifo_task != nullptr && lifo_task == last.lifo_task;
    last.progress = progress;
    last.lifo_task = lifo_task;
    if (!stuck) {
      someone_free = true;
      continue;
    }
    if (stuck_count < stuck_sample.size()) stuck_sample[stuck_count] = &w;
    ++stuck_count;
    // Step 2.
    if (w.private_forks && lifo_task_waited && steal_lifo(w)) {
      last.lifo_task = nullptr;
      acted = true;
      work_waiting = true;
    }
    if (w.deque.total_size_hint() != 0 || w.yielded_.size_hint() != 0) {
      stranded_in_deques = true;
      work_waiting = true;
    }
  }
  if (stranded_in_deques) {
    seam::full_fence();  // as inject: read the idle word after looking at the deques
    if (notify_parked_worker()) acted = true;
  }
  // Step 3.
  if (!someone_free && work_waiting && stuck_count <= stuck_sample.size()) {
    bool all_blocked = true;
    for (std::size_t k = 0; k < stuck_count && all_blocked; ++k)
      all_blocked = stuck_sample[k]->blocking_.load(seam::memory_order::acquire) || blocked_in_kernel(*stuck_sample[k]);
    if (all_blocked) {
      start_compensating_worker();
      acted = true;
    }
  }
  return acted;
}

bool scheduler::steal_lifo(worker& stuck) noexcept {
  // An earlier committed claim the owner has not seen yet: its task is already on its way.
  if (stuck.lifo.claim.load(seam::memory_order::acquire) != 0) return false;
  // Acquire: pairs with the owner's release in schedule(): the task's state is visible to
  // whichever worker runs it once it is injected.
  void* task = stuck.lifo.task.load(seam::memory_order::acquire);
  if (task == nullptr) return false;
  const auto named = reinterpret_cast<std::uintptr_t>(task);
  stuck.lifo.claim.store(named, seam::memory_order::relaxed);
  seam::heavy_fence();  // pairs with the owner's light fence (scheduler_hooks.hpp, lifo_slot)
  if (stuck.lifo.task.load(seam::memory_order::relaxed) != task) {
    stuck.lifo.claim.store(0, seam::memory_order::release);  // the owner took or replaced it
    return false;
  }
  // Release: an owner waiting for the decision sees it.
  stuck.lifo.claim.store(named | lifo_slot::committed, seam::memory_order::release);
  lifo_steals_.fetch_add(1, seam::memory_order::relaxed);
  try {
    inject(task);  // wakes a parked worker if none searches
  } catch (...) {
    // inject_queue's push can only fail to allocate; the task would be lost, so run out of
    // options loudly rather than silently.
    std::fputs("brigade: the liveness monitor could not queue a task it took from a stuck worker\n", stderr);
    std::abort();
  }
  return true;
}

bool scheduler::blocked_in_kernel(const worker& w) const noexcept {
  const long id = w.thread_id_.load(seam::memory_order::relaxed);
  if (id == 0) return false;
  std::array<char, 64> path{};
  std::snprintf(path.data(), path.size(), "/proc/self/task/%ld/stat", id);
  const int fd = ::open(path.data(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  std::array<char, 256> text{};
  const ssize_t got = ::read(fd, text.data(), text.size() - 1);
  ::close(fd);
  if (got <= 0) return false;
  // "<id> (<name>) <state> ...": the state follows the last ')' (a name may hold parentheses).
  const char* close = nullptr;
  for (ssize_t k = 0; k < got; ++k)
    if (text[static_cast<std::size_t>(k)] == ')') close = &text[static_cast<std::size_t>(k)];
  if (close == nullptr || close + 2 >= text.data() + got) return false;
  const char state = close[2];
  return state == 'S' || state == 'D';  // sleeping (interruptible or not): not computing
}

void scheduler::start_compensating_worker() noexcept {
  // Only the monitor's thread starts extras, so no two starts race for a slot.
  for (std::size_t i = core_workers_; i < workers_.size(); ++i) {
    worker& w = *workers_[i];
    if (w.active_.load(seam::memory_order::acquire)) continue;
    if (w.thread_.joinable()) w.thread_.join();  // a retired extra: its thread has finished
    w.searching_ = false;
    w.lifo_streak_ = 0;
    w.rescue_victim_ = nullptr;
    w.activity_.store(worker::activity::running, seam::memory_order::relaxed);
    w.active_.store(true, seam::memory_order::release);
    std::uint32_t covered = worker_span_.load(seam::memory_order::relaxed);
    if (covered < i + 1) worker_span_.store(static_cast<std::uint32_t>(i + 1), seam::memory_order::release);
    // Counted before the thread starts: what it runs may finish, and be seen, before this thread
    // would get to count it afterwards.
    compensations_.fetch_add(1, seam::memory_order::relaxed);
    try {
      w.thread_ = seam::thread([this, &w] {
        run_worker(w);
        w.active_.store(false, seam::memory_order::release);  // its last act
      });
    } catch (...) {
      compensations_.fetch_sub(1, seam::memory_order::relaxed);
      w.active_.store(false, seam::memory_order::release);
      return;
    }
    return;
  }
}

// ---- The hooks that headers call --------------------------------------------------------------

bool keep_after_lifo_claim(worker_hot& hot, void* task) noexcept {
  lifo_slot& slot = hot.lifo;
  const auto named = reinterpret_cast<std::uintptr_t>(task);
  // Acquire: pairs with the monitor's release of its decision.
  std::uintptr_t claim = slot.claim.load(seam::memory_order::acquire);
  while (claim == named) {  // the monitor has claimed this task and not decided yet
    seam::spin_pause();
    claim = slot.claim.load(seam::memory_order::acquire);
  }
  if (claim == (named | lifo_slot::committed)) {
    slot.claim.store(0, seam::memory_order::relaxed);
    return false;
  }
  return true;  // released, or a claim of a task no longer in the slot (the monitor releases it)
}

void begin_blocking(worker_hot& hot) noexcept {
  auto& w = static_cast<worker&>(hot);
  scheduler& sched = *w.owner;
  try {
    if (void* task = sched.take_lifo(w)) w.deque.push(task);
  } catch (...) {
    // The deque could not grow: the task stays with this worker (the monitor hands it on).
  }
  if (w.private_forks) w.deque.publish();
  w.blocking_.store(true, seam::memory_order::release);
  if (w.deque.size_hint() == 0 && w.yielded_.size_hint() == 0 && sched.inject_.size_hint() == 0) return;
  seam::full_fence();  // as inject: the pushes before the read of the idle word
  if (idle_word::wants_wake(sched.idle_.word().load(seam::memory_order::relaxed), sched.core_workers_))
    sched.notify_parked_worker();
  else
    sched.poke_monitor();  // nobody asleep to take it: the monitor decides whether to compensate
}

void end_blocking(worker_hot& hot) noexcept {
  static_cast<worker&>(hot).blocking_.store(false, seam::memory_order::release);
}

}  // namespace brigade::detail
