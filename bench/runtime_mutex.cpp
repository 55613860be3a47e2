// runtime_mutex.cpp: brigade::mutex under contention, two workloads (--workload):
//
//   mutex_contended  two plain threads (--threads, 2 in the table) each increment one shared
//         plain counter --n times (default 5,000,000) under std::lock_guard<brigade::mutex>;
//         ns per increment. The harness is bench::run_contended_mutex, shared with the peer
//         (bench/peers/std_mutex.cpp runs it on std::mutex).
//   mutex_handoff  two tasks on a runtime of --threads workers take one brigade::mutex by turns,
//         `auto held = co_await m.lock_async();`, --n times each (default 5,000,000). Nothing
//         but the mutex makes them alternate: while one holds the lock the other is queued on it,
//         so every release hands the lock to the waiting task (brigade's FIFO hand-off to tasks)
//         and the releaser, locking again at once, queues behind it. An acquisition counts as a
//         hand-off only if the other task made it, and the check fails unless every acquisition
//         after the first hand-off is one (bench::handoff_tally). To start that way, main holds
//         the lock (a thread-side lock()) until both tasks have reached lock_async and 1 ms
//         more, then unlocks. ns per hand-off: the time from the first hand-off's start to the
//         last acquisition over the hand-offs (a round trip A -> B -> A is two). Reference: two threads passing the
//         ownership of a std::mutex by turns with a std::condition_variable (the peer).
//   mutex_uncontended  one plain thread, std::lock_guard<brigade::mutex>, --n times (default
//         50,000,000; bench::run_uncontended_mutex, shared with the std::mutex peer).
//   mutex_uncontended_task  the same from one task on a one-worker runtime,
//         `auto held = co_await m.lock_async();`: the task form's fast path (await_ready takes
//         the lock, await_resume makes the guard).
//   mutex_hog  a plain thread waiting for a brigade::mutex that another thread holds --n µs at a
//         time (default 200) and takes again at once: the waiter's median, p99 and worst wait
//         (bench::run_mutex_under_hog, shared with the std::mutex peer).
// The runtime is created once per process, before the first iteration; one JSON line per
// iteration.
#include <brigade/brigade.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

#include "bench_util.hpp"

namespace {

constexpr long long handoff_default_n = 5'000'000;

struct handoff_state {
  brigade::mutex m;
  bench::handoff_tally tally;  // guarded by m
  std::atomic<int> arrived{0};
};

brigade::task<void> party(handoff_state& s, int me, long long n) {
  s.arrived.fetch_add(1, std::memory_order_relaxed);
  for (long long i = 0; i < n; ++i) {
    auto held = co_await s.m.lock_async();
    s.tally.record(me);
  }  // held's destructor releases the lock: to the other task, waiting on it
}

std::uint64_t steals(const brigade::runtime& rt) {
  std::uint64_t n = 0;
  for (const auto& w : rt.stats().workers) n += w.steals;
  return n;
}

int run_handoff(const bench::options& o) {
  const long long n = o.n > 0 ? o.n : handoff_default_n;
  brigade::runtime rt({.worker_threads = o.threads});
  return bench::run_iterations(o, [&](int iter) {
    handoff_state s;
    s.tally.total = 2 * n;
    s.m.lock();  // main holds the lock until both tasks wait for it
    auto a = rt.spawn(party(s, 0, n));
    auto b = rt.spawn(party(s, 1, n));
    while (s.arrived.load(std::memory_order_relaxed) < 2) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // from arrived to queued
    const std::uint64_t steals_before = steals(rt);
    s.m.unlock();
    a.join();
    b.join();
    // Steals during the iteration: 0 means both tasks ran on the worker where the hand-offs put
    // them (the LIFO slot), however many workers there are.
    return s.tally.report("brigade", o, iter, {{"steals", static_cast<long long>(steals(rt) - steals_before)}});
  });
}

brigade::task<std::uint64_t> lock_in_a_loop(brigade::mutex& m, long long n) {
  std::uint64_t counter = 0;
  for (long long i = 0; i < n; ++i) {
    auto held = co_await m.lock_async();
    ++counter;
  }
  co_return counter;
}

int run_uncontended_task(const bench::options& o) {
  const long long n = o.n > 0 ? o.n : bench::uncontended_default_n;
  brigade::runtime rt({.worker_threads = 1});
  brigade::mutex m;
  return bench::run_iterations(o, [&](int iter) {
    const auto t0 = bench::steady::now();
    const std::uint64_t counter = rt.block_on(lock_in_a_loop(m, n));
    return bench::report_lock_loop("brigade", o, iter, bench::ms_since(t0), counter, n);
  });
}

}  // namespace

int main(int argc, char** argv) {
  const bench::options o = bench::parse_options(argc, argv);
  if (o.workload == "mutex_contended") return bench::run_contended_mutex<brigade::mutex>("brigade", o);
  if (o.workload == "mutex_handoff") return run_handoff(o);
  if (o.workload == "mutex_uncontended") return bench::run_uncontended_mutex<brigade::mutex>("brigade", o);
  if (o.workload == "mutex_uncontended_task") return run_uncontended_task(o);
  if (o.workload == "mutex_hog") return bench::run_mutex_under_hog<brigade::mutex>("brigade", o);
  bench::usage_error(argv[0],
                     "workload must be mutex_contended, mutex_handoff, mutex_uncontended or mutex_uncontended_task");
}
