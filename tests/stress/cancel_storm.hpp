// cancel_storm.hpp: the harness of the cancel-safety stress tests (cancel_safety_*_test.cpp): the
// seeds and time slices, the dice, the record of a round (violations, tallies), the sets of
// tasks and threads a round runs, the stop slots through which a thread's wait is stopped, the
// occupancy count of a critical section, and the loop that runs rounds until the budget is spent.
// What the tests do and the models they check:
//
// Cancel-safety of brigade's waits, checked against sequential models under storms of stop
// requests. Each test runs rounds of many tasks (some as when_all children, whose waits reach
// their scope through a callback registration rather than the spawned root's park slot) and a
// few plain threads (the blocking forms, given a std::stop_token). The main thread, and small
// tasks it spawns to do it from a worker, abort random tasks and stop random threads' waits at
// random moments: before they start, while they run, while they are parked or about to park;
// aborted tasks are replaced, so the traffic and the parking go on. Every party records what its
// waits reported (completed, or task_cancelled), counting what its body observed (a task aborted
// before it started never runs). At the end of a round the histories are checked against the
// primitive's model:
//   channel (capacity 0, 2, 8, unbounded): a value whose send completed arrives exactly once (a
//     receiver that is never cancelled drains the channel after the storm, then it is closed);
//     a value whose send threw task_cancelled never arrives; nothing else arrives; every
//     receiver sees each producer's values in order.
//   select (a receive case on A, a send case on B): the same accounting on both channels: a
//     select's value reached B iff the select returned the send case, a value taken through the
//     receive case counts as received, and a cancelled select holds no received value.
//   mutex, semaphore (N permits), rw_mutex: never more than 1 / N holders, writers alone; at the
//     end the primitive is free (nothing was left to a cancelled waiter), a fresh acquisition
//     succeeds at once, and one that has to queue is served.
//   barrier (K parties): loopers arrive phase after phase while some are aborted and replaced;
//     then closers complete the last phase. The arrivals that passed must be a multiple of K (a
//     withdrawn arrival still counted completes a phase with K - 1 real parties); then K - 1
//     fresh arrivals must not pass, and the K-th releases them all.
//   condition_variable: items handed from producer threads (one notify_one each) to consumers
//     through a queue under the mutex, each taken exactly once; a cancelled wait holds the mutex,
//     alone, in its catch handler; and in the exact mode (see its section) every notify_one finds
//     a waiter that must take the item, so a notify lost to a cancelled waiter is caught.
// A violation fails the round with the model's message. Every wait of the harness is bounded: a
// phase that does not end within hang_limit is reported as a hang; then every party is stopped,
// and state that a stuck party may still touch is leaked rather than destroyed. Each round's seed
// is in the failure's trace; BRIGADE_STRESS_SEED=<seed> makes it the first round of every
// subtest (the same parameters and random choices; the interleaving differs). Each test runs
// for BRIGADE_STRESS_SECONDS (default 4), split across its subtests (capacities; runtimes of 2
// and 3 workers), and prints what its rounds did (how many waits were really cancelled).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "brigade/brigade.hpp"
#include "brigade/detail/seam.hpp"
#include "stress_budget.hpp"

namespace brigade_stress::cancel_storm {


using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

/// How long a phase of a round that must end (a drain, a join) may take before it is a hang.
inline constexpr auto hang_limit = 20s;

// ---- Seeds, budget, randomness ----------------------------------------------------------------

inline std::uint64_t next_seed(std::uint64_t seed) {  // splitmix64
  std::uint64_t z = seed + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/// The first round's seed: BRIGADE_STRESS_SEED (to replay a failed round), else a fresh one.
inline std::uint64_t first_seed() {
  if (const char* env = std::getenv("BRIGADE_STRESS_SEED")) return std::strtoull(env, nullptr, 0);
  std::random_device device;
  return (std::uint64_t{device()} << 32) ^ device();
}

/// The end of slice `index` of `count` equal slices of one test's budget.
inline steady::time_point slice_end(steady::time_point start, int index, int count) {
  const std::chrono::duration<double> part(brigade_stress::stress_seconds() * (index + 1) / count);
  return start + std::chrono::duration_cast<steady::duration>(part);
}

class dice {
 public:
  explicit dice(std::uint64_t seed) : engine_(seed) {}
  int between(int low, int high) {
    return low + static_cast<int>(engine_() % static_cast<std::uint64_t>(high - low + 1));
  }
  bool chance(int percent) { return static_cast<int>(engine_() % 100) < percent; }
  std::uint32_t seed() { return static_cast<std::uint32_t>(engine_()); }
  std::chrono::microseconds micros(std::chrono::microseconds high) {
    return std::chrono::microseconds(between(0, static_cast<int>(high.count())));
  }

 private:
  std::mt19937_64 engine_;
};

/// A party's random pause: nothing, a yield, or a short spin.
inline void pause(std::uint32_t roll) {
  switch (roll % 4) {
    case 0: break;
    case 1: std::this_thread::yield(); break;
    default:
      for (std::uint32_t i = 0; i < roll % 400; ++i) brigade::detail::seam::spin_pause();
  }
}

/// A slow party's work between two waits: up to `slowness` spins (slow parties make the others
/// park, which is where the stops are meant to find them).
inline void work_a_little(std::uint32_t roll, std::uint32_t slowness) {
  if (slowness == 0) return;
  for (std::uint32_t i = 0; i < roll % slowness; ++i) brigade::detail::seam::spin_pause();
}
/// A party's slowness, from its seed: half are quick, the others slow or very slow.
inline std::uint32_t slowness_of(std::uint32_t seed) {
  switch (seed % 4) {
    case 0: return 3000;
    case 1: return 200;
    default: return 0;
  }
}

/// Sleeps, then yields, until `moment`.
inline void wait_until(steady::time_point moment) {
  for (auto now = steady::now(); now < moment; now = steady::now()) {
    if (moment - now > 200us)
      std::this_thread::sleep_for((moment - now) / 2);
    else
      std::this_thread::yield();
  }
}

// ---- What a round records ----------------------------------------------------------------------

/// Violations of the model seen by tasks and threads (or the checks), reported by the main
/// thread under its SCOPED_TRACE, so with the round's seed. Keeps the first few messages.
class violations {
 public:
  void add(std::string what) {
    std::lock_guard lock(mutex_);
    if (++count_ <= 12) messages_.push_back(std::move(what));
  }
  void report() {
    std::lock_guard lock(mutex_);
    if (count_ == 0) return;
    std::string all;
    for (const std::string& message : messages_) all += "\n    " + message;
    if (count_ > messages_.size()) all += "\n    ...";
    ADD_FAILURE() << count_ << " violation(s) of the model:" << all;
    count_ = 0;
    messages_.clear();
  }

 private:
  std::mutex mutex_;
  std::size_t count_ = 0;
  std::vector<std::string> messages_;
};

/// What a subtest did, printed once at its end (how much cancellation the rounds really saw).
struct tally {
  long rounds = 0;
  long aborts = 0;           // abort() requests made
  long thread_stops = 0;     // stop requests made to threads' sources
  long cancelled_waits = 0;         // tasks' waits that threw task_cancelled, as the bodies saw it
  long cancelled_thread_waits = 0;  // threads' waits that threw task_cancelled
  long cancelled_joins = 0;  // tasks whose join threw task_cancelled
  long operations = 0;       // waits that completed (values delivered, locks taken, ...)
  void print(const std::string& subtest) const {
    std::printf("[ cancel   ] %s: %ld rounds; %ld aborts, %ld tasks ended cancelled, %ld task waits "
                "cancelled; %ld thread stops, %ld thread waits cancelled; %ld waits completed\n",
                subtest.c_str(), rounds, aborts, cancelled_joins, cancelled_waits, thread_stops,
                cancelled_thread_waits, operations);
    std::fflush(stdout);
  }
};

// Roles of a round's parties, so that its phases can wait for some of them.
constexpr unsigned producer = 1, consumer = 2, selector = 4, drainer = 8, immune = 16, closer = 32, fresh = 64;
constexpr unsigned any_role = ~0u;

/// The spawned tasks of a round. Capacity is reserved up front and never exceeded, so a handle
/// never moves: a task spawned to abort another may hold a reference to its handle.
class task_set {
 public:
  explicit task_set(std::size_t capacity) { entries_.reserve(capacity); }
  [[nodiscard]] bool full() const noexcept { return entries_.size() == entries_.capacity(); }
  [[nodiscard]] std::size_t room() const noexcept { return entries_.capacity() - entries_.size(); }
  [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }
  brigade::join_handle<void>& handle(std::size_t index) { return entries_[index].handle; }
  [[nodiscard]] unsigned role_of(std::size_t index) const { return entries_[index].role; }

  /// Callers leave room (the storms replace tasks only while room() >= 8).
  void add(brigade::join_handle<void> handle, unsigned role) {
    if (full()) {  // growing would move handles that cancellers hold references to
      std::fputs("cancel_safety_stress_test: a task_set outgrew its reserved capacity\n", stderr);
      std::abort();
    }
    entries_.push_back({std::move(handle), role});
  }

  [[nodiscard]] std::size_t unfinished(unsigned roles = any_role) const {
    return static_cast<std::size_t>(std::count_if(entries_.begin(), entries_.end(), [roles](const entry& e) {
      return (e.role & roles) != 0 && !e.handle.is_finished();
    }));
  }
  /// Waits until the tasks of `roles` have finished; false if `deadline` came first.
  [[nodiscard]] bool wait(unsigned roles, steady::time_point deadline) const {
    while (unfinished(roles) != 0) {
      if (steady::now() > deadline) return false;
      std::this_thread::sleep_for(50us);
    }
    return true;
  }
  void abort_all() {
    for (entry& e : entries_) e.handle.abort();
  }
  /// Joins every task (all finished): task_cancelled is counted, any other failure is a violation.
  void join_all(violations& problems, long& cancelled) {
    for (entry& e : entries_) {
      try {
        e.handle.join();
      } catch (const brigade::task_cancelled&) {
        ++cancelled;
      } catch (const std::exception& error) {
        problems.add(std::string("a task failed: ") + error.what());
      }
    }
    entries_.clear();
  }

 private:
  struct entry {
    brigade::join_handle<void> handle;
    unsigned role;
  };
  std::vector<entry> entries_;
};

/// The plain threads of a round; each says when its body has returned.
class thread_set {
 public:
  thread_set() = default;
  thread_set(const thread_set&) = delete;
  thread_set& operator=(const thread_set&) = delete;
  ~thread_set() {
    for (entry& e : entries_)
      if (e.thread.joinable()) e.thread.detach();  // only after a hang, with the round's state leaked
  }

  template <class Body>
  void start(unsigned role, violations& problems, Body body) {
    auto done = std::make_shared<std::atomic<bool>>(false);
    std::thread thread([body = std::move(body), done, &problems]() mutable {
      try {
        body();
      } catch (const std::exception& error) {
        problems.add(std::string("a thread failed: ") + error.what());
      }
      done->store(true, std::memory_order_release);
    });
    entries_.push_back({std::move(thread), role, std::move(done)});
  }
  [[nodiscard]] std::size_t unfinished(unsigned roles = any_role) const {
    return static_cast<std::size_t>(std::count_if(entries_.begin(), entries_.end(), [roles](const entry& e) {
      return (e.role & roles) != 0 && !e.done->load(std::memory_order_acquire);
    }));
  }
  [[nodiscard]] bool wait(unsigned roles, steady::time_point deadline) const {
    while (unfinished(roles) != 0) {
      if (steady::now() > deadline) return false;
      std::this_thread::sleep_for(50us);
    }
    return true;
  }
  void join_all() {
    for (entry& e : entries_) e.thread.join();
    entries_.clear();
  }

 private:
  struct entry {
    std::thread thread;
    unsigned role;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::vector<entry> entries_;
};

/// A thread's std::stop_source, which the storm may stop at any moment; the thread renews it
/// after a stop, so that one thread sees many cancelled waits. Retired: stopped for good.
class stop_slot {
 public:
  std::stop_token token() {
    std::lock_guard lock(mutex_);
    if (source_.stop_requested() && !retired_) source_ = std::stop_source();
    return source_.get_token();
  }
  void request_stop() {
    std::lock_guard lock(mutex_);
    source_.request_stop();
  }
  void retire() {
    std::lock_guard lock(mutex_);
    retired_ = true;
    source_.request_stop();
  }
  [[nodiscard]] bool retired() {
    std::lock_guard lock(mutex_);
    return retired_;
  }

 private:
  std::mutex mutex_;
  std::stop_source source_;
  bool retired_ = false;
};

inline brigade::task<void> abort_from_a_worker(brigade::join_handle<void>& victim) {
  victim.abort();
  co_return;
}

/// Runs two tasks as when_all children of one spawned root: aborting the root stops their
/// (child) scope, which reaches their waits through callback registrations.
inline brigade::task<void> as_children(brigade::task<void> first, brigade::task<void> second) {
  (void)co_await brigade::when_all(std::move(first), std::move(second));
}

/// What every round has: its parties, their stop sources, its violations.
struct round_base {
  explicit round_base(std::size_t capacity) : tasks(capacity), cancellers(capacity) {}
  round_base(const round_base&) = delete;
  round_base& operator=(const round_base&) = delete;

  violations problems;
  task_set tasks;
  task_set cancellers;  // tasks that abort others from a worker thread
  thread_set threads;
  std::vector<std::unique_ptr<stop_slot>> slots;
  std::atomic<long> cancelled_waits{0};         // tasks' waits that threw task_cancelled
  std::atomic<long> cancelled_thread_waits{0};  // threads' waits that threw task_cancelled
  std::atomic<long> operations{0};       // waits that completed
  long aborts = 0;                       // main thread only
  long thread_stops = 0;                 // main thread only

  stop_slot& new_slot() {
    slots.push_back(std::make_unique<stop_slot>());
    return *slots.back();
  }

  /// Aborts task `index` now: from this thread, or from a task on a worker of `rt`.
  void abort(brigade::runtime& rt, std::size_t index, bool from_worker) {
    ++aborts;
    if (from_worker && !cancellers.full()) {
      cancellers.add(rt.spawn(abort_from_a_worker(tasks.handle(index))), any_role);
      return;
    }
    tasks.handle(index).abort();
  }
  void stop_thread(stop_slot& slot) {
    ++thread_stops;
    slot.request_stop();
  }

  /// Waits for the parties of `roles` (tasks and threads) and every canceller.
  [[nodiscard]] bool wait(unsigned roles, steady::time_point deadline) const {
    return tasks.wait(roles, deadline) && threads.wait(roles, deadline) && cancellers.wait(any_role, deadline);
  }

  /// The end of a round whose parties have all finished: joins them, adds to the tally.
  void join_everything(tally& total) {
    threads.join_all();
    long ignored = 0;
    cancellers.join_all(problems, ignored);
    tasks.join_all(problems, total.cancelled_joins);
    ++total.rounds;
    total.aborts += aborts;
    total.thread_stops += thread_stops;
    total.cancelled_waits += cancelled_waits.load();
    total.cancelled_thread_waits += cancelled_thread_waits.load();
    total.operations += operations.load();
  }

  /// After a hang: stops every party for good. True when all of them then ended (the state may
  /// be destroyed); false when one is still stuck (the caller leaks the state).
  bool abandon() {
    for (auto& slot : slots) slot->retire();
    tasks.abort_all();
    if (!wait(any_role, steady::now() + 5s)) return false;
    threads.join_all();
    long ignored = 0;
    cancellers.join_all(problems, ignored);
    tasks.join_all(problems, ignored);
    return true;
  }
};

/// Reports that `what` did not happen within the hang limit and stops the round's parties.
/// Returns false: the subtest stops. Leaks the state if a party is still stuck in it.
template <class Round>
inline bool report_hang(std::unique_ptr<Round>& state, const std::string& what) {
  ADD_FAILURE() << "hang: " << what << " (limit " << hang_limit.count() << " s)";
  Round& round = *state;
  round.problems.report();
  const bool ended = round.abandon();
  round.problems.report();
  if (!ended) {
    ADD_FAILURE() << "parties still stuck after every task was aborted and every thread stopped; "
                     "the round's state is leaked";
    (void)state.release();
  }
  return false;
}

/// A random unfinished task of `roles`, or none.
inline std::optional<std::size_t> random_unfinished(task_set& tasks, unsigned roles, dice& d) {
  std::vector<std::size_t> candidates;
  for (std::size_t i = 0; i < tasks.size(); ++i)
    if ((tasks.role_of(i) & roles) != 0 && !tasks.handle(i).is_finished()) candidates.push_back(i);
  if (candidates.empty()) return std::nullopt;
  return candidates[static_cast<std::size_t>(d.between(0, static_cast<int>(candidates.size()) - 1))];
}

/// The storm of a round, run by the main thread. First some tasks of `roles` are aborted at once
/// (most before they start); then, while keep_going(), at random gaps of up to `gap`: a random
/// thread's wait is stopped (one time in five), or a random unfinished task of `roles` is
/// aborted (parked, about to park, running; from this thread or from a worker) and
/// replace(role) may spawn a successor, so that the traffic, and the parking, go on (while the
/// task set has room).
template <class KeepGoing, class Replace>
inline void storm(brigade::runtime& rt, round_base& r, dice& d, unsigned roles, std::chrono::microseconds gap,
           KeepGoing keep_going, Replace replace) {
  for (std::size_t i = 0; i < r.tasks.size(); ++i)
    if ((r.tasks.role_of(i) & roles) != 0 && d.chance(10)) r.abort(rt, i, d.chance(30));
  while (keep_going()) {
    wait_until(steady::now() + d.micros(gap));
    if (!r.slots.empty() && d.chance(20)) {
      r.stop_thread(*r.slots[static_cast<std::size_t>(d.between(0, static_cast<int>(r.slots.size()) - 1))]);
      continue;
    }
    const std::optional<std::size_t> victim = random_unfinished(r.tasks, roles, d);
    if (!victim) continue;
    r.abort(rt, *victim, d.chance(30));
    if (r.tasks.room() >= 8) replace(r.tasks.role_of(*victim));
  }
}

/// keep_going() for a storm of a fixed length.
inline auto for_a_while(std::chrono::microseconds length) {
  return [until = steady::now() + length] { return steady::now() < until; };
}

/// Runs `one_round(rt, seed, tally)` on a runtime of `workers` until `deadline`; a round returns
/// false to stop the subtest (after a hang).
template <class Round>
inline void run_rounds(const std::string& subtest, std::size_t workers, steady::time_point deadline, Round one_round) {
  brigade::runtime rt({.worker_threads = workers});
  tally total;
  std::uint64_t seed = first_seed();
  do {
    SCOPED_TRACE(subtest + ", " + std::to_string(workers) + " workers, round " + std::to_string(total.rounds) +
                 ", seed " + std::to_string(seed) + " (BRIGADE_STRESS_SEED=" + std::to_string(seed) +
                 " replays it as the first round)");
    if (!one_round(rt, seed, total)) break;
    seed = next_seed(seed);
  } while (steady::now() < deadline);
  total.print(subtest + ", " + std::to_string(workers) + " workers");
}

/// Who is inside a critical section, against a limit (1 for a mutex, N for a semaphore).
class occupancy {
 public:
  explicit occupancy(int limit) : limit_(limit) {}
  class section {
   public:
    explicit section(occupancy& where) : where_(where) {
      const int inside = where_.inside_.fetch_add(1) + 1;
      if (inside > where_.limit_) where_.overflows_.fetch_add(1);
      int seen = where_.most_.load();
      while (inside > seen && !where_.most_.compare_exchange_weak(seen, inside)) {
      }
    }
    ~section() { where_.inside_.fetch_sub(1); }
    section(const section&) = delete;
    section& operator=(const section&) = delete;

   private:
    occupancy& where_;
  };
  void check(violations& problems, const std::string& what) const {
    if (overflows_.load() != 0)
      problems.add(what + ": " + std::to_string(overflows_.load()) + " entries found more than " +
                   std::to_string(limit_) +
                   " holder(s) inside (most seen: " + std::to_string(most_.load()) + ")");
  }

 private:
  const int limit_;
  std::atomic<int> inside_{0};
  std::atomic<int> most_{0};
  std::atomic<long> overflows_{0};
};

}  // namespace brigade_stress::cancel_storm
