// The scheduler: N worker threads running coroutine tasks, with work stealing.
//
// Concepts
//   worker       one OS thread; runs tasks from its LIFO slot, its own deque, the injection queue,
//                and, when all are empty, steals from other workers' deques.
//   deque        per worker (detail/work_stealing_deque.hpp): the owner pushes and pops at the
//                bottom without locks; thieves claim about half of the oldest tasks at the top.
//                The newest tasks may be private (P8): forked while every worker was busy, they
//                are popped without a fence and published as soon as some worker is idle.
//   LIFO slot    per worker, the task it just woke (a join completing, later a channel hand-off);
//                it runs next, while what it touches is in cache. Not stealable.
//   inject       a global FIFO for tasks that come from outside the workers.
//   yield queue  per worker, a deque of public items only: tasks that yielded there, taken
//                oldest first by the owner (after everything else) and by thieves.
//   idle         which workers sleep and how many search (idle.hpp); decides whom to wake.
//   registry     every spawned root task started and not finished, so that shutdown can
//                destroy them (root_registry.hpp): a list per worker, one for outsiders.
//
// Approaches rejected
//   - One global queue (a thread pool's design): every spawn and every take contends on one lock
//     or one cache line; fork-join trees lose their depth-first order and their cache locality.
//   - Waking a worker per new task: a burst of spawns would wake every worker only for most to
//     find nothing (thundering herd). We wake one, and only when nobody is searching; a woken
//     worker that finds work wakes the next one if it was the last searcher, so parallelism
//     ramps up as fast as there is work for it.
//   - Spinning idle workers: costs a core per idle worker. Workers park (futex) after one
//     unsuccessful round of searching; an idle runtime uses no CPU.
//
// Protocols (numbered as in docs/ARCHITECTURE.md, which also has P4 wake one, P5 fork-join and
// P6 join)
//   P1 spawn: on a worker, the root's start entry (its record's address | 1) is pushed on the
//      spawning worker's deque, and the worker that takes it registers the root in its own list;
//      from other threads, the root is registered in the outsiders' list (refused once shutdown
//      began) and its frame injected. Then the idle word is read and one parked worker is woken
//      if none searches (with a fence first on the injection path only; see "Why no fence on a
//      fork" in docs/ARCHITECTURE.md).
//   P2 run loop (worker.cpp): LIFO slot (at most 16 in a row), deque pop, injection queue, yield
//      queue (the last two also checked first every 61 tasks so they cannot starve), then search: become a searcher (at
//      most half the workers search at once), steal from random victims, then the injection
//      queue (a batch of about half a victim's deque). A searcher that finds work stops
//      searching; if it was the last, it wakes another.
//   P3 park: record as sleeper (idle lock), full fence, look at every queue once more; if any
//      has work, wake a worker (maybe itself), then sleep on the parker until taken off the
//      sleeper list. No lost wake-ups for injected work: the producer pushes, fences, reads the
//      idle word; the parker writes the idle word, fences, reads the queues. With both fences in
//      the single total order, at least one side sees the other's write (store-buffering with
//      fences). A worker's own forks skip the fence: a missed wake there costs parallelism, not
//      progress, since the forking worker drains its own deque before it parks.
//   P7 shutdown (Tokio's order): refuse new work, stop the workers, cancel the blocking calls not
//      started, destroy every task (registered roots, and start entries in the queues) while
//      blocking calls may not publish, ask the running blocking calls to stop, wait for them
//      until the deadline (detaching what still runs), then drop what is left in the queues.
//   P8 private forks (docs/ARCHITECTURE.md, protocol 8): while all workers are busy a fork stays
//      private to its worker; any fork or pop that sees an idle worker publishes; a searcher that
//      found nothing in its budget takes private tasks itself, paying a heavy fence (membarrier).
//
// The reactor (reactor/reactor.hpp, docs/ARCHITECTURE.md "The reactor"): a parking worker that
// gets the driver sleeps in it (epoll_wait or io_uring) instead of on its futex, and unparking it
// interrupts the driver through an eventfd; the idle protocol above does not change, only the
// parker's sleep of that worker. Busy workers turn the reactor every 61 tasks when something may
// be due, the monitor when every worker is busy.
#include "scheduler.hpp"

#include <algorithm>
#include <array>
#include <utility>
#include <string>
#include <cstdio>
#include <cstdlib>
#include <thread>

namespace brigade::detail {

namespace {
// The live schedulers by serial number. Looked up only on rare paths (a failure nobody observed,
// a handle awaited outside any runtime), so a locked vector is enough.
struct live_schedulers {
  seam::mutex mutex;
  std::vector<std::pair<std::uint32_t, scheduler*>> entries;  // guarded by mutex
  std::uint32_t next_serial = 1;                               // guarded by mutex
};
live_schedulers& schedulers() {
  static auto* state = new live_schedulers;  // never destroyed: handles may outlive statics
  return *state;
}
}  // namespace

scheduler_serials::scheduler_serials(scheduler& owner) {
  live_schedulers& live = schedulers();
  std::lock_guard lock(live.mutex);
  serial_ = live.next_serial++;
  live.entries.emplace_back(serial_, &owner);
}

scheduler_serials::~scheduler_serials() {
  live_schedulers& live = schedulers();
  std::lock_guard lock(live.mutex);
  std::erase_if(live.entries, [this](const auto& entry) { return entry.first == serial_; });
}

namespace {
scheduler* find_locked(const live_schedulers& live, std::uint32_t runtime_serial) noexcept {
  for (const auto& [serial, sched] : live.entries)
    if (serial == runtime_serial) return sched;
  return nullptr;
}
}  // namespace

scheduler* scheduler_by_serial(std::uint32_t runtime_serial) noexcept {
  live_schedulers& live = schedulers();
  std::lock_guard lock(live.mutex);
  return find_locked(live, runtime_serial);
}

scheduler::scheduler(runtime& owner, runtime_options options)
    : serial_(*this),
      owner_(owner),
      options_(std::move(options)),
      idle_(static_cast<std::uint32_t>(options_.worker_threads)),
      blocking_(options_.max_blocking_threads, options_.blocking_keep_alive),
      reactor_(std::make_unique<reactor>(options_.io, &scheduler::reactor_needs_attention, this)),
      registry_(options_.worker_threads + options_.max_compensating_workers, serial_.serial()) {
  const auto count = static_cast<std::uint32_t>(options_.worker_threads);
  const auto extras = static_cast<std::uint32_t>(options_.max_compensating_workers);
  const bool private_forks = options_.use_membarrier && seam::enable_heavy_fence();  // P8 and the LIFO slot need it
  core_workers_ = count;
  workers_.reserve(count + extras);
  for (std::uint32_t i = 0; i < count + extras; ++i) {
    auto w = std::make_unique<worker>();
    w->owner = this;
    w->idle = &idle_.word();
    w->worker_count = count;
    w->index = i;
    w->private_forks = private_forks;
    w->random_state_ = 0x9E3779B9u * (i + 1);
    w->extra_ = i >= count;
    w->parker_.set_interrupt(&scheduler::interrupt_reactor, this);
    workers_.push_back(std::move(w));
  }
  worker_span_.store(count, seam::memory_order::release);
  // Start the threads last: each may steal from any deque as soon as it runs.
  for (std::uint32_t i = 0; i < count; ++i) {
    try {
      workers_[i]->thread_ = seam::thread([this, w = workers_[i].get()] { run_worker(*w); });
    } catch (...) {
      shutting_down_.store(true);
      for (std::uint32_t index : idle_.take_all_sleepers()) workers_[index]->parker_.unpark();
      for (auto& started : workers_) {
        started->parker_.unpark();
        if (started->thread_.joinable()) started->thread_.join();
      }
      throw;
    }
  }
  try {
    start_monitor();
  } catch (...) {
    shutting_down_.store(true);
    for (std::uint32_t index : idle_.take_all_sleepers()) workers_[index]->parker_.unpark();
    for (auto& started : workers_) {
      started->parker_.unpark();
      if (started->thread_.joinable()) started->thread_.join();
    }
    throw;
  }
}

scheduler::~scheduler() {
  // A thread outside the workers that made a task runnable (inject, schedule_pinned) may still
  // be inside this scheduler while that task ran, finished, and its joiner destroyed the runtime
  // (a thread pool job settling a future that a task awaits): wait for it to leave.
  while (outside_wakers_.load(seam::memory_order::acquire) != 0) seam::spin_pause();
}

void scheduler::submit_root_on(worker_hot& self, join_state& record) {
  if (!registry_.accepting()) throw runtime_shut_down("brigade: spawn on a runtime that is shut down");
  self.counters.bump(self.counters.roots_spawned);
  fork(self, std::coroutine_handle<>::from_address(root_start_entry(record)));
}

void scheduler::submit_root(join_state& record) {
  worker_hot* self = current_worker();
  if (self != nullptr && self->owner == this) return submit_root_on(*self, record);
  registry_.add_outsider(record);
  outsider_roots_spawned_.fetch_add(1, seam::memory_order::relaxed);
  inject(record.frame().address());
}

void* scheduler::start_root(worker& self, join_state& record) noexcept {
  registry_.add_started(record, static_cast<std::uint16_t>(self.index));
  return record.frame().address();
}

void scheduler::finish_root(join_state& record, worker_hot& here) noexcept {
  here.counters.bump(here.counters.roots_finished);
  registry_.finish(record, static_cast<std::uint16_t>(here.index));
}

void scheduler::inject(void* task) {
  const outside_waker_guard guard(*this);
  inject_.push(task);
  // Unlike offer_work: the push must be ordered before reading the idle word.
  seam::full_fence();
  const std::uint32_t word = idle_.word().load(seam::memory_order::relaxed);
  if (idle_word::wants_wake(word, core_workers_))
    notify_parked_worker();
}

void scheduler::push_yielded(worker& self, void* task) {
  self.yielded_.push(task);
  // As offer_work, no fence before reading the idle word: this worker is running and takes its
  // yielded tasks before it parks, so a missed sleeper costs parallelism, never progress.
  if (idle_word::wants_wake(idle_.word().load(seam::memory_order::relaxed), core_workers_)) [[unlikely]]
    notify_parked_worker();
}

void yield_task(worker_hot& worker, std::coroutine_handle<> task) {
  worker.owner->push_yielded(static_cast<detail::worker&>(worker), task.address());
}

void scheduler::schedule_pinned(std::uint32_t index, void* task) {
  const outside_waker_guard guard(*this);
  worker& home = *workers_[index];
  home.pinned_.push(task);
  if (current_worker() == &home) return;  // it looks before it runs out of work or parks
  // The push before the look at the sleeper list; pairs with park's fence after it joins the list.
  seam::full_fence();
  if (idle_.unpark_self(index)) {
    home.parker_.unpark();
    if (monitor_sleeps_until_work_.load(seam::memory_order::seq_cst)) [[unlikely]]
      poke_monitor();
  }
}

void schedule_pinned(scheduler& sched, std::uint32_t worker_index, std::coroutine_handle<> task) {
  sched.schedule_pinned(worker_index, task.address());
}

bool scheduler::notify_parked_worker() noexcept {
  try {
    if (auto index = idle_.worker_to_notify()) {
      workers_[*index]->parker_.unpark();
      // After worker_to_notify's update of the idle word (monitor.cpp, "Idle").
      if (monitor_sleeps_until_work_.load(seam::memory_order::seq_cst)) [[unlikely]]
        poke_monitor();
      return true;
    }
  } catch (...) {
    // Only a failure to lock the idle mutex can get here; the searching workers still run.
  }
  return false;
}

void scheduler::interrupt_reactor(void* self) noexcept { static_cast<scheduler*>(self)->reactor_->interrupt(); }

void scheduler::reactor_needs_attention(void* self) noexcept {
  auto& sched = *static_cast<scheduler*>(self);
  // The holder sleeping in the driver: unparking it interrupts its wait, and it goes round its
  // park loop and sleeps again until the new earliest timer. (A holder that is not asleep keeps
  // a token, which costs its next park one extra round.) Nobody holding the driver: a sleeper
  // takes it. Everyone busy: the busy workers' look every 61 tasks, and the monitor's.
  const std::int64_t holder = sched.reactor_->holder();
  if (holder >= 0) {
    sched.workers_[static_cast<std::size_t>(holder)]->parker_.unpark();
    return;
  }
  try {
    if (auto index = sched.idle_.any_sleeper_except(~std::uint32_t{0})) sched.workers_[*index]->parker_.unpark();
  } catch (...) {
    // Only a failure to lock the idle mutex gets here; the monitor's look covers it.
  }
}

bool scheduler::shutdown(std::chrono::steady_clock::time_point deadline) {
  if (current_worker() != nullptr && current_worker()->owner == this)
    throw usage_error("brigade: runtime shutdown from one of its own worker threads would deadlock");
  std::lock_guard once(shutdown_mutex_);
  if (shut_down_) return blocking_calls_ended_;

  // 1. Refuse new work. A spawn from outside checks under the outsiders' lock, so it either
  //    registered before or fails; a spawn on a worker that misses the flag leaves its entry in
  //    that worker's deque, which step 4 finds once the worker has stopped.
  registry_.close();
  blocking_.refuse();
  // 2. Stop the monitor (it starts no compensating worker from here on), then the workers:
  //    each checks the flag between tasks and before parking; compensating ones too.
  stop_monitor();
  shutting_down_.store(true);
  for (std::uint32_t index : idle_.take_all_sleepers()) workers_[index]->parker_.unpark();
  for (auto& w : workers_) w->parker_.unpark();
  for (auto& w : workers_)
    if (w->thread_.joinable()) w->thread_.join();

  // 3. Blocking calls that never started complete with task_cancelled.
  blocking_.cancel_queued();

  // 4. Destroy every task (Tokio's order: before waiting for blocking calls, so that what the
  //    tasks hold is released and a blocking call waiting for it can end): every root still
  //    registered (started, not finished), then every root whose first step is still queued (it
  //    never ran, so it was never registered). Destructors of their live locals run (a channel
  //    whose last sender goes closes, ...), awaiters leave the primitives they wait on, and
  //    joiners get task_cancelled. Destroying a frame can release other roots' handles or wake
  //    joiners (whose coroutines land in a queue, never to run), but it cannot start, finish or
  //    register a root. Meanwhile blocking calls may not publish their results (the publish
  //    gate), so none wakes a task being destroyed. Then, still before they can publish, every
  //    running blocking call is asked to stop (its std::stop_token).
  {
    std::lock_guard gate(blocking_.publish_gate());
    registry_.drain_all_remote_removals_after_workers_stopped();
    while (join_state* record = registry_.take_any_after_workers_stopped()) {
      record->cancel(serial());
      roots_cancelled_.fetch_add(1, seam::memory_order::relaxed);
    }
    empty_queues();
    blocking_.request_stop_running();
    // Descriptors still open (sockets held outside the tasks, or by blocking calls) are closed:
    // a thread blocked on one wakes with an error, and nothing leaks.
    reactor_->close_all_sources();
  }

  // 5. Wait for the running blocking calls, until the deadline; those still running then are
  //    left to finish on detached threads (blocking_pool.hpp).
  blocking_calls_ended_ = blocking_.finish(deadline);
  // 6. Anything queued since step 4 (nothing should be) points into destroyed frames.
  empty_queues();
  shut_down_ = true;
  return blocking_calls_ended_;
}

void scheduler::empty_queues() noexcept {
  // A root's first step is cancelled; every other entry points into a frame destroyed in step 4
  // of shutdown, and is dropped.
  auto cancel_if_root_start = [this](void* entry) {
    if (join_state* record = as_root_start(entry)) {
      record->cancel(serial());
      roots_cancelled_.fetch_add(1, seam::memory_order::relaxed);
    }
  };
  for (auto& w : workers_) {
    // The workers and the monitor are stopped: a committed claim names a task the monitor already
    // moved to the injection queue.
    void* lifo_task = w->lifo.task.exchange(nullptr, seam::memory_order::relaxed);
    if (lifo_task != nullptr && w->lifo.claim.load(seam::memory_order::relaxed) == 0) cancel_if_root_start(lifo_task);
    w->lifo.claim.store(0, seam::memory_order::relaxed);
    while (void* entry = w->deque.pop()) cancel_if_root_start(entry);
    while (void* entry = w->yielded_.steal()) cancel_if_root_start(entry);
    void* pinned = nullptr;
    while (w->pinned_.pop_batch(&pinned, 1) != 0) cancel_if_root_start(pinned);
  }
  std::array<void*, 64> batch;
  while (std::size_t taken = inject_.pop_batch(batch.data(), batch.size()))
    for (std::size_t i = 0; i < taken; ++i) cancel_if_root_start(batch[i]);
}

runtime_stats scheduler::stats() const {
  runtime_stats result;
  result.workers.reserve(workers_.size());
  std::uint64_t spawned = outsider_roots_spawned_.load(seam::memory_order::relaxed);
  std::uint64_t ended = roots_cancelled_.load(seam::memory_order::relaxed);
  for (const auto& w : workers_) {
    spawned += w->counters.roots_spawned.load(seam::memory_order::relaxed);
    ended += w->counters.roots_finished.load(seam::memory_order::relaxed);
    if (w->extra_) {
      if (w->active_.load(seam::memory_order::relaxed)) ++result.compensating_workers;
      continue;
    }
    worker_stats s;
    s.tasks_run = w->counters.tasks_run.load(seam::memory_order::relaxed);
    s.steals = w->counters.steals.load(seam::memory_order::relaxed);
    s.private_steals = w->counters.private_steals.load(seam::memory_order::relaxed);
    s.parks = w->counters.parks.load(seam::memory_order::relaxed);
    s.queue_depth = w->deque.total_size_hint() + w->yielded_.size_hint();
    result.workers.push_back(s);
  }
  result.lifo_steals = lifo_steals_.load(seam::memory_order::relaxed);
  result.monitor_looks = monitor_looks_.load(seam::memory_order::relaxed);
  result.parked_workers = idle_.sleeper_count();
  result.monitor_asleep = monitor_sleeps_until_work_.load(seam::memory_order::relaxed);
  result.shutting_down = shutting_down_.load(seam::memory_order::relaxed);
  result.compensating_workers_started = compensations_.load(seam::memory_order::relaxed);
  result.injection_queue_depth = inject_.size_hint();
  result.blocking_threads = blocking_.thread_count();
  // The counters are read one by one while workers run: clamp a transiently negative difference.
  result.live_tasks = spawned > ended ? static_cast<std::size_t>(spawned - ended) : 0;
  return result;
}

// The free functions that headers declare.
void notify_parked_worker(scheduler& sched) noexcept { sched.notify_parked_worker(); }
void inject(scheduler& sched, std::coroutine_handle<> task) { sched.inject(task.address()); }
timer_queue& timers_of(scheduler& sched) noexcept { return sched.io_reactor().timers(); }
io_source& register_io_source(scheduler& sched, int fd) { return sched.io_reactor().register_source(fd); }
void report_unobserved_failure(std::uint32_t runtime_serial, const std::exception_ptr& error) noexcept {
  try {
    std::function<void(std::exception_ptr)> handler;
    {
      live_schedulers& live = schedulers();
      std::lock_guard lock(live.mutex);
      if (scheduler* sched = find_locked(live, runtime_serial))
        handler = sched->unobserved_failure_handler();
    }
    if (handler) {
      handler(error);
      return;
    }
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "brigade: a detached task failed and nobody joined it: %s\n", e.what());
    } catch (...) {
      std::fprintf(stderr, "brigade: a detached task failed with a non-standard exception\n");
    }
  } catch (...) {
    std::fprintf(stderr, "brigade: the unobserved-failure handler itself threw\n");
  }
}
void finish_root(join_state& record) noexcept {
  // A root's coroutine is resumed only by a worker of its own runtime (a wake schedules it
  // there; nothing else resumes it), so the current worker names the scheduler.
  worker_hot& here = *current_worker();
  here.owner->finish_root(record, here);
}
void submit_root(scheduler& sched, join_state& record) { sched.submit_root(record); }
std::uint32_t submit_root_on_this_worker(join_state& record, const char* operation) {
  worker_hot* self = current_worker();
  if (self == nullptr) [[unlikely]]
    throw_outside_runtime(operation);
  self->owner->submit_root_on(*self, record);
  return self->owner->serial();
}
void throw_outside_runtime(const char* operation) {
  throw usage_error(std::string("brigade: ") + operation +
                    " called outside a runtime's worker thread; use runtime::" + operation);
}
void submit_blocking(scheduler& sched, blocking_job& job) { sched.submit_blocking(job); }

}  // namespace brigade::detail
