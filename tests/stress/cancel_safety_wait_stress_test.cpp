// Cancel-safety of barrier arrivals and condition-variable waits under storms of stop requests.
// The models are described in cancel_storm.hpp's opening comment; the harness is there too.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "brigade/brigade.hpp"
#include "cancel_storm.hpp"

namespace {

using namespace brigade_stress::cancel_storm;
using namespace std::chrono_literals;

// ---- barrier --------------------------------------------------------------------------------

struct barrier_round : round_base {
  explicit barrier_round(int k) : round_base(4096), parties(k), gate(k) {}
  const int parties;
  brigade::barrier gate;
  std::atomic<bool> stopping{false};
  std::atomic<long> passed{0};  // arrivals whose wait returned normally
};

brigade::task<void> arrive_until_stopped(barrier_round& r, std::uint32_t seed) {
  const std::uint32_t slowness = slowness_of(seed);
  std::minstd_rand random(seed);
  while (!r.stopping.load()) {
    try {
      co_await r.gate.arrive_and_wait_async();
    } catch (const brigade::task_cancelled&) {
      r.cancelled_waits.fetch_add(1);
      throw;
    }
    r.passed.fetch_add(1);
    work_a_little(static_cast<std::uint32_t>(random()), slowness);
    if (random() % 4 == 0) co_await brigade::yield_now();
  }
}

brigade::task<void> arrive_once(barrier_round& r) {
  co_await r.gate.arrive_and_wait_async();
  r.passed.fetch_add(1);
}

void arrive_until_stopped_blocking(barrier_round& r, stop_slot& slot, std::uint32_t seed) {
  std::minstd_rand random(seed);
  while (!r.stopping.load()) {
    try {
      r.gate.arrive_and_wait(slot.token());
    } catch (const brigade::task_cancelled&) {
      r.cancelled_thread_waits.fetch_add(1);
      if (slot.retired()) return;
      continue;
    }
    r.passed.fetch_add(1);
    pause(static_cast<std::uint32_t>(random()));
  }
}

/// Spawns one looper (or, sometimes, a root with two as when_all children).
void spawn_looper(brigade::runtime& rt, barrier_round& r, dice& d) {
  if (d.chance(20)) {
    auto first = arrive_until_stopped(r, d.seed());
    auto second = arrive_until_stopped(r, d.seed());
    r.tasks.add(rt.spawn(as_children(std::move(first), std::move(second))), consumer);
  } else {
    r.tasks.add(rt.spawn(arrive_until_stopped(r, d.seed())), consumer);
  }
}

bool barrier_round_run(brigade::runtime& rt, std::uint64_t seed, tally& total) {
  dice d(seed);
  auto state = std::make_unique<barrier_round>(d.between(2, 5));
  barrier_round& r = *state;
  const int k = r.parties;
  const int loopers = d.between(k, 2 * k + 1);
  for (int i = 0; i < loopers; ++i) spawn_looper(rt, r, d);
  if (d.chance(50)) {
    stop_slot& slot = r.new_slot();
    r.threads.start(consumer, r.problems, [&r, &slot, s = d.seed()] { arrive_until_stopped_blocking(r, slot, s); });
  }

  // The storm: abort random loopers (parked, arriving, or between phases) and replace each, so
  // the phases go on; stop the thread's waits.
  storm(rt, r, d, consumer, std::chrono::microseconds(d.between(20, 400)),
        for_a_while(std::chrono::microseconds(d.between(500, 10000))), [&](unsigned) { spawn_looper(rt, r, d); });

  // Stop looping; closers complete the phase the remaining parties are parked in. A closer is
  // added whenever nothing moved for a while (too many only start a phase that more complete).
  r.stopping.store(true);
  const auto deadline = steady::now() + hang_limit;
  long last_passed = -1;
  std::size_t last_unfinished = 0;
  auto last_change = steady::now();
  while (r.tasks.unfinished() + r.threads.unfinished() + r.cancellers.unfinished() != 0) {
    if (steady::now() > deadline)
      return report_hang(state, "barrier of " + std::to_string(k) + ": the parties did not all pass (" +
                                    std::to_string(r.passed.load()) + " passed so far)");
    const long now_passed = r.passed.load();
    const std::size_t now_unfinished = r.tasks.unfinished() + r.threads.unfinished();
    if (now_passed != last_passed || now_unfinished != last_unfinished) {
      last_passed = now_passed;
      last_unfinished = now_unfinished;
      last_change = steady::now();
    } else if (steady::now() - last_change > 2ms && !r.tasks.full()) {
      r.tasks.add(rt.spawn(arrive_once(r)), closer);
      last_change = steady::now();
    }
    std::this_thread::sleep_for(100us);
  }
  r.operations.store(r.passed.load());
  r.join_everything(total);
  if (r.passed.load() % k != 0)
    r.problems.add("barrier of " + std::to_string(k) + ": " + std::to_string(r.passed.load()) +
                   " arrivals passed, not a multiple of the parties (a phase passed with a withdrawn "
                   "arrival counted, or needed an extra one)");

  // A fresh phase: K - 1 arrivals must not pass, the K-th releases them all.
  for (int i = 0; i < k - 1; ++i) r.tasks.add(rt.spawn(arrive_once(r)), fresh);
  std::this_thread::sleep_for(3ms);
  if (const std::size_t early = r.tasks.size() - r.tasks.unfinished(fresh); early != 0) {
    r.problems.add("barrier of " + std::to_string(k) + ": " + std::to_string(early) + " of " + std::to_string(k - 1) +
                   " fresh arrivals passed before the last party arrived (the barrier counted a withdrawn arrival)");
    r.problems.report();
    if (!r.abandon()) (void)state.release();  // the count is off: a K-th arrival would only park
    return false;
  }
  r.tasks.add(rt.spawn(arrive_once(r)), fresh);
  if (!r.wait(fresh, steady::now() + hang_limit))
    return report_hang(state, "barrier of " + std::to_string(k) + ": a fresh phase of " + std::to_string(k) +
                                  " arrivals did not pass after the storm");
  long ignored = 0;
  r.tasks.join_all(r.problems, ignored);
  r.problems.report();
  return true;
}

TEST(cancel_safety, barrier_a_cancelled_arrival_is_withdrawn) {
  const auto start = steady::now();
  run_rounds("barrier", 2, slice_end(start, 0, 2), barrier_round_run);
  run_rounds("barrier", 3, slice_end(start, 1, 2), barrier_round_run);
}

// ---- condition_variable -------------------------------------------------------------------------
//
// Two modes, by round:
//   exact: one producer; consumers take an item only right after a wait that a notify ended
//     (never by looking at the queue first), and the producer pushes each item (with one
//     notify_one) only while a consumer that is never aborted is parked and the previous item was
//     taken. So the notify_one always finds a waiter, and whichever it wakes must take the item:
//     a notify lost to a cancelled waiter leaves the item in the queue (reported after the hang
//     limit), and a wait that returns normally with nothing to take is reported too.
//   mixed: one or two producers, consumers that use the predicate form, and a thread waiting
//     with a std::stop_token: every item is taken exactly once.
// In both, a cancelled wait must hold the mutex, alone, in its catch handler.

struct cv_round : round_base {
  cv_round(std::size_t count, bool exact_mode)
      : round_base(4096),
        items(count),
        exact(exact_mode),
        pushed(new std::atomic<bool>[count]),
        consumed(new std::atomic<int>[count]) {
    for (std::size_t i = 0; i < count; ++i) {
      pushed[i].store(false);
      consumed[i].store(0);
    }
  }
  const std::size_t items;
  const bool exact;
  brigade::mutex m;
  brigade::condition_variable not_empty;
  std::deque<std::size_t> queue;  // under m
  bool done = false;              // under m
  int immune_waiting = 0;         // under m: never-aborted consumers inside wait (exact mode)
  occupancy held{1};
  std::unique_ptr<std::atomic<bool>[]> pushed;   // per item: pushed (a producer that reported a
                                                 // lost item stops pushing)
  std::unique_ptr<std::atomic<int>[]> consumed;  // per item: times taken from the queue

  /// Under m: takes the next item.
  void take() {
    consumed[queue.front()].fetch_add(1);
    queue.pop_front();
    operations.fetch_add(1, std::memory_order_relaxed);
  }
  /// In the catch handler of a cancelled wait: the guard holds the mutex, and nobody else does.
  void check_held_after_cancel(const brigade::mutex::guard& guard) {
    cancelled_waits.fetch_add(1);
    if (!guard.owns_lock() || guard.mutex() != &m || !m.is_locked()) {
      problems.add("condition_variable: a cancelled wait threw without the mutex held by its guard");
      return;
    }
    occupancy::section inside(held);
  }
};

/// Mixed mode: takes items (predicate form) until `done`.
brigade::task<void> consume_items(cv_round& r, std::uint32_t seed) {
  std::minstd_rand random(seed);
  const auto ready = [&r] { return !r.queue.empty() || r.done; };
  while (true) {
    {
      auto guard = co_await r.m.lock_async();
      { occupancy::section inside(r.held); }
      try {
        co_await r.not_empty.wait_async(guard, ready);
      } catch (const brigade::task_cancelled&) {
        r.check_held_after_cancel(guard);
        throw;
      }
      occupancy::section inside(r.held);
      if (r.queue.empty()) co_return;  // done
      r.take();
    }
    if (random() % 4 == 0) co_await brigade::yield_now();
  }
}

/// Exact mode: takes an item only right after a wait that a notify ended.
brigade::task<void> consume_after_notify(cv_round& r, bool never_aborted) {
  auto guard = co_await r.m.lock_async();
  while (!r.done) {
    if (never_aborted) ++r.immune_waiting;
    try {
      co_await r.not_empty.wait_async(guard);
    } catch (const brigade::task_cancelled&) {
      r.check_held_after_cancel(guard);
      throw;
    }
    if (never_aborted) --r.immune_waiting;
    occupancy::section inside(r.held);
    if (!r.queue.empty())
      r.take();
    else if (!r.done)
      r.problems.add("condition_variable: a wait returned normally with no item pushed for it (a spurious or "
                     "double wake)");
  }
}

void consume_items_blocking(cv_round& r, stop_slot& slot) {
  std::unique_lock lock(r.m);
  while (true) {
    const bool ready = r.not_empty.wait(lock, slot.token(), [&r] { return !r.queue.empty() || r.done; });
    if (!lock.owns_lock()) {
      r.problems.add("condition_variable: a thread's wait returned without the mutex");
      return;
    }
    occupancy::section inside(r.held);
    if (!ready) {
      r.cancelled_thread_waits.fetch_add(1);
      if (slot.retired()) return;
      continue;
    }
    if (r.queue.empty()) return;  // done
    r.take();
  }
}

/// Pushes items first, first + step, ...; one notify_one each, then waits (bounded) until the
/// item was taken before pushing the next, so that consumers park between items. In exact mode,
/// pushes only while a never-aborted consumer is parked.
void produce_items(cv_round& r, std::size_t first, std::size_t step, std::uint32_t seed) {
  std::minstd_rand random(seed);
  for (std::size_t item = first; item < r.items; item += step) {
    const auto roll = static_cast<std::uint32_t>(random());
    const auto deadline = steady::now() + hang_limit;
    bool notified = false;
    while (true) {
      {
        std::unique_lock lock(r.m);
        if (!r.exact || r.immune_waiting > 0) {
          occupancy::section inside(r.held);
          r.queue.push_back(item);
          r.pushed[item].store(true);
          notified = roll % 2 == 0;
          if (notified) r.not_empty.notify_one();
          break;
        }
      }
      if (steady::now() > deadline) {
        r.problems.add("condition_variable: no never-aborted consumer parked within the hang limit");
        return;
      }
      std::this_thread::sleep_for(20us);
    }
    if (!notified) r.not_empty.notify_one();
    while (r.consumed[item].load() == 0) {
      if (steady::now() > deadline) {
        r.problems.add("condition_variable: item " + std::to_string(item) + " stayed in the queue for " +
                       std::to_string(hang_limit.count()) + " s" +
                       (r.exact ? " although a never-aborted consumer was parked when its notify_one came "
                                  "(a notify lost to a cancelled waiter)"
                                : ""));
        return;
      }
      std::this_thread::sleep_for(20us);
    }
    pause(roll >> 4);
  }
}

void spawn_consumer(brigade::runtime& rt, cv_round& r, dice& d) {
  auto body = [&r, &d] { return r.exact ? consume_after_notify(r, false) : consume_items(r, d.seed()); };
  if (d.chance(20)) {
    auto first = body();
    auto second = body();
    r.tasks.add(rt.spawn(as_children(std::move(first), std::move(second))), consumer);
  } else {
    r.tasks.add(rt.spawn(body()), consumer);
  }
}

bool cv_round_run(brigade::runtime& rt, std::uint64_t seed, tally& total) {
  dice d(seed);
  const bool exact = d.chance(50);
  auto state = std::make_unique<cv_round>(static_cast<std::size_t>(d.between(50, 400)), exact);
  cv_round& r = *state;
  const int never_aborted = d.between(1, 2), abortable = d.between(2, 6), producers = exact ? 1 : d.between(1, 2);
  for (int i = 0; i < never_aborted; ++i)
    r.tasks.add(rt.spawn(exact ? consume_after_notify(r, true) : consume_items(r, d.seed())), immune);
  for (int i = 0; i < abortable; ++i) spawn_consumer(rt, r, d);
  if (!exact && d.chance(50)) {
    stop_slot& slot = r.new_slot();
    r.threads.start(consumer, r.problems, [&r, &slot] { consume_items_blocking(r, slot); });
  }
  for (int p = 0; p < producers; ++p)
    r.threads.start(producer, r.problems, [&r, p, producers, s = d.seed()] {
      produce_items(r, static_cast<std::size_t>(p), static_cast<std::size_t>(producers), s);
    });

  // The storm lasts while the items flow: abort random consumers (parked in the wait, taking
  // the mutex back, or between items) and replace each; stop the thread's waits.
  const auto deadline = steady::now() + hang_limit + 5s;  // a producer reports a lost item first
  storm(rt, r, d, consumer, std::chrono::microseconds(d.between(20, 500)),
        [&r, deadline] { return r.threads.unfinished(producer) != 0 && steady::now() < deadline; },
        [&](unsigned) { spawn_consumer(rt, r, d); });
  if (r.threads.unfinished(producer) != 0)
    return report_hang(state, "condition_variable: the producers did not finish");
  if (std::unique_lock lock(r.m, std::defer_lock); lock.try_lock_for(hang_limit)) {
    r.done = true;
    r.not_empty.notify_all();
  } else {
    return report_hang(state, "condition_variable: the mutex could not be taken after the producers finished");
  }
  if (!r.wait(any_role, steady::now() + hang_limit))
    return report_hang(state, "condition_variable: consumers did not end after done and notify_all");
  r.join_everything(total);
  r.held.check(r.problems, "condition_variable's mutex");
  for (std::size_t i = 0; i < r.items; ++i)
    if (r.consumed[i].load() != (r.pushed[i].load() ? 1 : 0))
      r.problems.add("condition_variable: item " + std::to_string(i) + " was taken " +
                     std::to_string(r.consumed[i].load()) + " times");
  if (!r.queue.empty()) r.problems.add("condition_variable: items left in the queue");
  if (r.m.is_locked()) r.problems.add("condition_variable: the mutex is locked after every party ended");
  r.problems.report();
  return true;
}

TEST(cancel_safety, condition_variable_a_cancelled_wait_holds_the_mutex_and_loses_no_notify) {
  const auto start = steady::now();
  run_rounds("condition_variable", 2, slice_end(start, 0, 2), cv_round_run);
  run_rounds("condition_variable", 3, slice_end(start, 1, 2), cv_round_run);
}

}  // namespace
