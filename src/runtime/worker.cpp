// The loop of one worker thread (protocols P2 and P3 of scheduler.cpp).
//
// Fairness: the owner pops its deque LIFO, which is what keeps a fork-join tree depth-first, but
// could let two tasks that keep waking each other through the LIFO slot starve the rest. Two
// bounds prevent that: after 16 tasks in a row from the LIFO slot, the slot's task goes to the
// injection queue (behind everything else) if anything else waits; and every 61st task is taken from the injection
// queue first (61, a prime, as in Go and Tokio, so it does not fall into step with a program's
// own period), or else from the pinned queue, or else from the yield queue. A task that yielded
// waits behind everything else ready here, but at most for the next such check. Thieves take the
// oldest work from the top of the deques and yield queues, so nothing waits for the owner alone
// while another worker is free.
#include <array>

#include "brigade/detail/wait_list.hpp"

#include "scheduler.hpp"

namespace brigade::detail {
namespace {

constexpr std::uint32_t max_lifo_streak = 16;
// How long a searcher keeps looking before it parks. A futex wake costs ~1.6 µs of the waker's
// time on a VM and the sleeper's wake-up several more, so a worker that runs dry in a fork-join
// phase should find the next stealable task by looking again, not by being woken. But a spinning
// worker holds a core that a thread it just woke (a joiner in main, say) may need, which on a
// two-core machine turned a 5 µs wake into 80 µs when this spin was longer. Hence ~20 µs, with
// about 1 µs between rounds.
constexpr std::uint64_t search_budget_nanoseconds = 20'000;
constexpr std::uint64_t search_round_gap_nanoseconds = 1'000;
constexpr std::uint32_t inject_check_interval = 61;
constexpr std::size_t max_inject_batch = 64;
// How long an owner must have left its deque untouched (no push, no pop) while holding private
// tasks before a searcher takes some of them (P8, step 5). The rescue's heavy fence interrupts
// every running worker, and on this VM the interrupted worker loses 0.2-0.5 ms to it: with a
// 20 µs threshold, an owner that stalled briefly (a page fault, its vCPU preempted) was rescued,
// the rescue stalled it again, and spawn+join lost half its speed to hundreds of rescues per
// million tasks. An owner that forks or pops publishes on its own as soon as it sees a searcher.
constexpr std::uint64_t private_rescue_delay_nanoseconds = 1'000'000;
// A thief takes half of a victim's deque, up to this many tasks, with one claim, so that it pays
// for its search and its idle-word updates once per batch.
constexpr std::size_t max_steal_batch = 32;

std::uint32_t next_random(std::uint32_t& state) noexcept {
  // xorshift32: cheap, good enough to spread victims.
  state ^= state << 13;
  state ^= state >> 17;
  state ^= state << 5;
  return state;
}

}  // namespace

void scheduler::run_worker(worker& self) {
  set_current_worker(&self);
  self.thread_id_.store(seam::this_thread_kernel_id(), seam::memory_order::relaxed);
  // Whether activity_ says running: kept in a local, so that the common path (a task found
  // locally, right after another) stores nothing.
  bool marked_running = false;
  while (!shutting_down_.load(seam::memory_order::relaxed)) {
    void* task = next_local_task(self);
    if (task == nullptr) {
      marked_running = false;  // search_for_work and park say what they do
      task = search_for_work(self);
      if (task == nullptr) {
        if (self.extra_) break;  // a compensating worker retires instead of parking
        park(self);
        continue;
      }
    }
    if (!marked_running) [[unlikely]] {
      self.activity_.store(worker::activity::running, seam::memory_order::relaxed);
      marked_running = true;
    }
    if (self.searching_) leave_searching(self);
    if (join_state* record = as_root_start(task)) task = start_root(self, *record);
    self.counters.bump(self.counters.tasks_run);
    std::coroutine_handle<>::from_address(task).resume();
  }
  if (self.searching_) leave_searching(self);
  self.activity_.store(worker::activity::parked, seam::memory_order::relaxed);
  set_current_worker(nullptr);
}



void* scheduler::next_local_task(worker& self) {
  ++self.tick_;
  if (self.tick_ % inject_check_interval == 0) {
    registry_.drain_remote_removals(static_cast<std::uint16_t>(self.index));
    if (reactor_->has_work()) [[unlikely]]
      turn_reactor_while_busy(self);
    // The injection queue first: a pinned fiber that yields in a loop refills the pinned queue at
    // once, and must not keep the injected work waiting.
    if (void* task = take_from_inject(self)) return task;
    if (void* task = take_pinned(self)) return task;
    if (void* task = take_yielded(self)) return task;
  }
  if (void* task = take_lifo(self)) {
    if (++self.lifo_streak_ <= max_lifo_streak) return task;
    // Too many in a row: let everything else go first. When nothing else waits here (two tasks
    // that wake each other, a channel ping-pong), the slot's task goes on at once, without a
    // round trip through the injection queue's lock.
    self.lifo_streak_ = 0;
    if (void* other = pop_local(self)) {
      inject(task);
      return other;
    }
    if (inject_.size_hint() == 0) return task;
    inject(task);
    return take_from_inject(self);
  }
  self.lifo_streak_ = 0;
  if (void* task = pop_local(self)) return task;
  if (void* task = take_pinned(self)) return task;
  if (void* task = take_from_inject(self)) return task;
  return take_yielded(self);
}

void* scheduler::take_pinned_slowly(worker& self) {
  void* task = nullptr;
  (void)self.pinned_.pop_batch(&task, 1);
  return task;
}

void* scheduler::take_from_inject(worker& self) {
  // Take a fair share, so that a burst submitted from outside spreads over the workers
  // without every task going through the lock.
  const std::size_t queued = inject_.size_hint();
  if (queued == 0) return nullptr;
  const std::size_t share = std::min<std::size_t>(max_inject_batch, queued / core_workers_ + 1);
  std::array<void*, max_inject_batch> batch;
  const std::size_t taken = inject_.pop_batch(batch.data(), share);
  if (taken == 0) return nullptr;
  // Keep FIFO order: the deque pops LIFO, so push the later ones first.
  for (std::size_t i = taken; i-- > 1;) self.deque.push(batch[i]);
  if (taken > 1) offer_work(self);
  return batch[0];
}

void* scheduler::search_for_work(worker& self) {
  // A compensating worker searches without counting in the idle word (it never parks).
  if (!self.searching_ && !self.extra_) {
    if (!idle_.transition_to_searching()) return nullptr;
    self.searching_ = true;
  }
  self.activity_.store(worker::activity::searching, seam::memory_order::relaxed);
  const std::uint32_t count = span();
  std::array<void*, max_steal_batch> batch;
  // Runs the oldest of a stolen batch now; the others pop next, oldest first.
  auto keep = [&](std::size_t taken) -> void* {
    self.counters.bump(self.counters.steals, taken);
    if (taken > 1) {
      for (std::size_t k = taken; k-- > 1;) self.deque.push(batch[k]);
      offer_work(self);
    }
    return batch[0];
  };
  const std::uint64_t deadline = seam::now_nanoseconds() + search_budget_nanoseconds;
  for (int round = 0;; ++round) {
    if (round > 0) {
      if (seam::now_nanoseconds() >= deadline) break;
      seam::spin_until(search_round_gap_nanoseconds, [] { return false; });
      if (shutting_down_.load(seam::memory_order::relaxed)) return nullptr;
    }
    const std::uint32_t start = next_random(self.random_state_) % count;
    for (std::uint32_t i = 0; i < count; ++i) {
      worker& victim = *workers_[(start + i) % count];
      if (&victim == &self) continue;
      if (std::size_t taken = victim.deque.steal_batch(batch.data(), batch.size())) return keep(taken);
      if (std::size_t taken = victim.yielded_.steal_batch(batch.data(), batch.size())) return keep(taken);
    }
    if (void* task = take_from_inject(self)) return task;
    if (void* task = take_yielded(self)) return task;  // a thief held its queue when the loop looked
    // Nothing to steal: look at the reactor instead of only spinning (Go's findrunnable polls
    // the network the same way), on the first round and every eighth, when descriptors are
    // registered and nobody holds the driver. What it wakes lands on this worker's queues.
    if (round % 8 == 0 && reactor_->registered_sources() != 0) [[unlikely]] {
      if (void* task = turn_reactor_while_searching(self)) return task;
    }
  }
  // P8: a worker that holds private tasks publishes them at its next fork or pop once it sees us
  // searching. One that has neither pushed nor popped for private_rescue_delay_nanoseconds is in
  // a long stretch without either (maybe blocked): take some of its private tasks, paying a
  // heavy fence. Until then, watch the first victim with private tasks.
  if (self.private_forks) {
    const worker* watched = nullptr;
    for (std::uint32_t i = 0; i < count && watched == nullptr; ++i) {
      worker& victim = *workers_[i];
      if (&victim == &self || victim.deque.total_size_hint() == victim.deque.size_hint()) continue;
      watched = &victim;
      const std::uint32_t bottom = victim.deque.bottom_hint();
      const std::uint64_t now = seam::now_nanoseconds();
      if (self.rescue_victim_ != &victim || self.rescue_victim_bottom_ != bottom) {
        self.rescue_victim_ = &victim;  // start watching (again: the owner made progress)
        self.rescue_victim_bottom_ = bottom;
        self.rescue_watch_since_ = now;
      } else if (now - self.rescue_watch_since_ >= private_rescue_delay_nanoseconds) {
        if (std::size_t taken = victim.deque.steal_batch_including_private(batch.data(), batch.size())) {
          self.counters.bump(self.counters.private_steals);
          return keep(taken);
        }
      }
    }
    if (watched == nullptr) self.rescue_victim_ = nullptr;
  }
  return nullptr;
}

void scheduler::leave_searching(worker& self) noexcept {
  self.searching_ = false;
  if (idle_.transition_from_searching()) notify_parked_worker();
}

bool scheduler::work_visible() const noexcept {
  if (inject_.size_hint() != 0) return true;
  // Private tasks count: their owner may be stuck, and a woken searcher takes them (P8).
  const std::uint32_t count = span();
  for (std::uint32_t i = 0; i < count; ++i)
    if (workers_[i]->deque.total_size_hint() != 0 || workers_[i]->yielded_.size_hint() != 0) return true;
  return false;
}

void scheduler::park(worker& self) {
  // Free what finished elsewhere before sleeping, not after an unbounded wait.
  registry_.drain_remote_removals(static_cast<std::uint16_t>(self.index));
  self.activity_.store(worker::activity::parked, seam::memory_order::relaxed);
  idle_.transition_to_parked(self.index, self.searching_);
  self.searching_ = false;
  // P3: pairs with the fence in inject (a worker's own pushes skip it: offer_work).
  seam::full_fence();
  if (work_visible() || shutting_down_.load()) notify_parked_worker();
  // Work pinned to this worker, pushed before the fence (schedule_pinned's push, fence, then its
  // look at the sleeper list, which found this worker not yet there): only this worker runs it.
  if (self.pinned_.size_hint() != 0 && idle_.unpark_self(self.index)) {
    self.searching_ = true;
    self.activity_.store(worker::activity::searching, seam::memory_order::relaxed);
    return;
  }
  self.counters.bump(self.counters.parks);
  while (idle_.is_sleeping(self.index)) {
    if (shutting_down_.load()) return;
    // The reactor: one sleeper at a time sleeps in the driver (docs/ARCHITECTURE.md, "The
    // reactor"); an unpark interrupts it there as it would wake the futex.
    if (!reactor_->try_hold(self.index)) {
      self.parker_.park();
      continue;
    }
    waiter* ready = reactor_->turn(&self.parker_);
    reactor_->release();
    if (ready == nullptr) continue;
    // Timers fired or descriptors became ready: this worker runs their tasks. It counts itself
    // awake first (as a notifier would), so that scheduling them here does not wake another.
    if (idle_.unpark_self(self.index) && monitor_sleeps_until_work_.load(seam::memory_order::seq_cst)) [[unlikely]]
      poke_monitor();
    wait_list::wake_all(ready);
    break;
  }
  hand_off_driver(self.index);
  // Whoever took us off the sleeper list counted us as searching.
  self.searching_ = true;
  self.activity_.store(worker::activity::searching, seam::memory_order::relaxed);
}

void scheduler::hand_off_driver(std::uint32_t leaving) noexcept {
  // The driver's holder leaves it without sleeping in it (a parked holder woken to run tasks, a
  // busy worker's or the monitor's look): if timers or descriptors need watching and nobody
  // holds the driver, wake a sleeper to take it (it stays on the sleeper list, finds itself
  // still asleep, and sleeps in the driver). Without this, a worker that found the driver held
  // by a look and parked on its futex would leave nobody watching once the look ends, and the
  // monitor, seeing every worker parked, sleeps too. A sleeper that parks after this check
  // takes the driver itself: the release happened before it (the idle lock orders them).
  if (reactor_->held() || !reactor_->has_work()) return;
  try {
    if (auto index = idle_.any_sleeper_except(leaving)) workers_[*index]->parker_.unpark();
  } catch (...) {
    // Only a failure to lock the idle mutex gets here; the busy look and the monitor remain.
  }
}

void* scheduler::turn_reactor_while_searching(worker& self) {
  if (!reactor_->try_hold(self.index)) return nullptr;
  waiter* ready = reactor_->turn(nullptr);
  reactor_->release();
  if (ready == nullptr) return nullptr;
  hand_off_driver(self.index);
  wait_list::wake_all(ready);
  return next_local_task(self);
}

void scheduler::turn_reactor_while_busy(worker& self) noexcept {
  if (!reactor_->maybe_ready(seam::now_nanoseconds()) || !reactor_->try_hold(self.index)) return;
  waiter* ready = reactor_->turn(nullptr);
  reactor_->release();
  hand_off_driver(self.index);
  wait_list::wake_all(ready);  // onto this worker's queues, where idle workers can steal them
}

}  // namespace brigade::detail
