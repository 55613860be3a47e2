// bench_util.hpp: the small harness shared by brigade's benchmark programs and their C++ peers.
//
// Every benchmark program is run by bench/run_benchmarks.py, one fresh process per round, and
// prints one JSON object per line and per in-process iteration:
//
//   {"impl":"tbb","workload":"skynet","threads":2,"round":0,"iter":0,"ms":12.5,"check":"ok"}
//
// iter 0 is the cold iteration (first in a fresh process: thread start-up, first-touch page
// faults, empty pools); later iterations are warm. Extra fields (tasks_per_s, bytes_per_task,
// cpu_ms, ...) are added per workload. A failed answer check prints "check":"FAIL" and the
// program exits with status 1, so a wrong benchmark can never report a figure silently.
//
// Command line, common to all programs (each program takes the subset it needs):
//   --workload NAME   which workload to run (skynet, fib, spawn, memory, join_latency, idle,
//                     mutex_contended, mutex_handoff)
//   --threads N       worker threads (default 2)
//   --round R         round number, echoed in the output
//   --iters K         in-process iterations (default 3: 1 cold + 2 warm)
//   --max-ms M        stop iterating once M ms have elapsed (after at least 2 iterations)
//   --n N             problem size (workload specific: fib's n, task counts, ...)
//   --idle-ms M       idle window of the idle workload (default 5000)
#pragma once

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <thread>
#include <vector>

namespace bench {

struct options {
  std::string workload;
  std::size_t threads = 2;
  int round = 0;
  int iters = 3;
  double max_ms = 1e12;
  long long n = 0;  // 0: the workload's default
  long long idle_ms = 5000;
};

[[noreturn]] inline void usage_error(const char* prog, const char* what) {
  std::fprintf(stderr, "%s: %s\n", prog, what);
  std::exit(2);
}

inline options parse_options(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage_error(argv[0], "missing value after a flag");
      return argv[++i];
    };
    if (a == "--workload") {
      o.workload = value();
    } else if (a == "--threads") {
      o.threads = std::strtoull(value(), nullptr, 10);
    } else if (a == "--round") {
      o.round = std::atoi(value());
    } else if (a == "--iters") {
      o.iters = std::max(1, std::atoi(value()));
    } else if (a == "--max-ms") {
      o.max_ms = std::strtod(value(), nullptr);
    } else if (a == "--n") {
      o.n = std::strtoll(value(), nullptr, 10);
    } else if (a == "--idle-ms") {
      o.idle_ms = std::strtoll(value(), nullptr, 10);
    } else {
      usage_error(argv[0], "unknown flag (see bench/bench_util.hpp)");
    }
  }
  if (o.workload.empty()) usage_error(argv[0], "--workload is required");
  if (o.threads == 0) usage_error(argv[0], "--threads must be at least 1");
  return o;
}

using steady = std::chrono::steady_clock;

inline double ms_since(steady::time_point t0) {
  return std::chrono::duration<double, std::milli>(steady::now() - t0).count();
}

inline std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(steady::now().time_since_epoch())
      .count();
}

// Resident set size of this process in bytes (/proc/self/statm, second field, in pages).
inline long long rss_bytes() {
  std::ifstream f("/proc/self/statm");
  long long size = 0, resident = 0;
  f >> size >> resident;
  return resident * static_cast<long long>(::sysconf(_SC_PAGESIZE));
}

struct cpu_usage {
  double user_ms = 0, sys_ms = 0;
  long voluntary_switches = 0, involuntary_switches = 0;
};

// CPU time of the whole process (all threads): getrusage(RUSAGE_SELF).
inline cpu_usage process_cpu() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  auto ms = [](timeval tv) { return static_cast<double>(tv.tv_sec) * 1e3 + static_cast<double>(tv.tv_usec) / 1e3; };
  return {ms(u.ru_utime), ms(u.ru_stime), u.ru_nvcsw, u.ru_nivcsw};
}

// Percentile of a sample (sorts a copy); p in [0, 1].
inline double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto idx = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(idx, v.size() - 1)];
}

// One JSON object on one line. Keys are fixed identifiers, so no escaping is needed for them;
// string values are escaped minimally (quotes and backslashes).
class json_line {
 public:
  json_line(std::string_view impl, const options& o, int iter) {
    str("impl", impl);
    str("workload", o.workload);
    num("threads", static_cast<long long>(o.threads));
    num("round", static_cast<long long>(o.round));
    num("iter", static_cast<long long>(iter));
  }
  json_line& str(std::string_view key, std::string_view v) {
    key_(key);
    s_ += '"';
    for (char c : v) {
      if (c == '"' || c == '\\') s_ += '\\';
      s_ += c;
    }
    s_ += '"';
    return *this;
  }
  template <class Number>
    requires std::is_arithmetic_v<Number>
  json_line& num(std::string_view key, Number v) {
    key_(key);
    if constexpr (std::is_integral_v<Number>) {
      s_ += std::to_string(v);
    } else {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.6g", static_cast<double>(v));
      s_ += buf;
    }
    return *this;
  }
  void print() {
    s_ += "}\n";
    std::fputs(s_.c_str(), stdout);
    std::fflush(stdout);
  }

 private:
  void key_(std::string_view k) {
    s_ += s_.empty() ? "{" : ",";
    s_ += '"';
    s_ += k;
    s_ += "\":";
  }
  std::string s_;
};

// Runs body(iter) for up to o.iters iterations (at least 2 if o.iters >= 2, then stops early
// once o.max_ms have elapsed in total). body returns false on a failed check; the process then
// exits with status 1 after the current line is printed.
template <class Body>
int run_iterations(const options& o, Body body) {
  const auto t0 = steady::now();
  bool ok = true;
  for (int i = 0; i < o.iters; ++i) {
    if (i >= 2 && ms_since(t0) > o.max_ms) break;
    ok = body(i) && ok;
    if (!ok) break;
  }
  return ok ? 0 : 1;
}

// The workloads' reference answers.
constexpr std::uint64_t skynet_size = 1'000'000;          // leaves; 1,111,111 tasks in all
constexpr std::uint64_t skynet_answer = 499'999'500'000;  // sum of 0 .. 999,999
constexpr std::size_t skynet_tasks = 1'111'111;
constexpr int fib_default_n = 32;
constexpr long long spawn_default_n = 1'000'000;

inline std::uint64_t fib_answer(int n) {
  std::uint64_t a = 0, b = 1;
  for (int i = 0; i < n; ++i) {
    auto c = a + b;
    a = b;
    b = c;
  }
  return a;
}

// Number of calls (tasks) made by the naive recursive fib(n): 2 * fib(n + 1) - 1.
inline std::uint64_t fib_calls(int n) { return 2 * fib_answer(n + 1) - 1; }

// The idle workload, the same for every implementation: after the caller has run one short job
// on it (so every thread has been active), main sleeps o.idle_ms and the process's CPU time over
// that window is reported. Returns the exit status.
inline int measure_idle(std::string_view impl, const options& o, bool warm_up_ok) {
  const auto before = process_cpu();
  std::this_thread::sleep_for(std::chrono::milliseconds(o.idle_ms));
  const auto after = process_cpu();
  json_line(impl, o, 0)
      .num("cpu_ms", (after.user_ms + after.sys_ms) - (before.user_ms + before.sys_ms))
      .num("user_ms", after.user_ms - before.user_ms)
      .num("sys_ms", after.sys_ms - before.sys_ms)
      .num("idle_ms", o.idle_ms)
      .num("context_switches", (after.voluntary_switches + after.involuntary_switches) -
                                   (before.voluntary_switches + before.involuntary_switches))
      .str("check", warm_up_ok ? "ok" : "FAIL")
      .print();
  return warm_up_ok ? 0 : 1;
}

// The fiber_yield workload, the same for every implementation: run_two_yielders(n) starts two
// fibers (goroutines) on one thread that each yield n times, and waits for both. One line per
// iteration; ns per switch = time / (2n).
template <class TwoYielders>
int run_yield_switches(std::string_view impl, const options& o, TwoYielders run_two_yielders) {
  const long long n = o.n > 0 ? o.n : 1'000'000;
  return run_iterations(o, [&](int iter) {
    const auto t0 = steady::now();
    run_two_yielders(n);
    const double ms = ms_since(t0);
    json_line(impl, o, iter)
        .num("ms", ms)
        .num("ns_per_switch", ms * 1e6 / static_cast<double>(2 * n))
        .num("switches", 2 * n)
        .str("check", "ok")
        .print();
    return true;
  });
}

// The memory workload's line: n tasks suspended at once, RSS before and after. The caller may add
// fields before print().
inline json_line memory_line(std::string_view impl, const options& o, double spawn_ms, double wake_ms,
                             long long n, long long rss_before, long long rss_after, bool ok) {
  json_line line(impl, o, 0);
  line.num("ms", spawn_ms)
      .num("wake_ms", wake_ms)
      .num("tasks", n)
      .num("rss_before", rss_before)
      .num("rss_after", rss_after)
      .num("bytes_per_task", static_cast<double>(rss_after - rss_before) / static_cast<double>(n))
      .str("check", ok ? "ok" : "FAIL");
  return line;
}

// The join-latency workload, the same for every implementation (one JSON line per iteration):
//   round_trip()          starts an empty job and waits for it (timed by the caller's clock);
//   spin_then_stamp(ns)   starts a job that busy-waits ns, then returns now_ns() taken just
//                         before it finishes; the sample is the time from that stamp until the
//                         waiting thread is back.
// Samples per iteration: o.n round trips (default 10,000), a fifth as many 50 µs wakes and a
// fiftieth as many 1 ms wakes (the waiter is asleep by then). Returns the exit status.
template <class RoundTrip, class SpinThenStamp>
int run_join_latency(std::string_view impl, const options& o, RoundTrip round_trip,
                     SpinThenStamp spin_then_stamp) {
  const long long rtt_samples = o.n > 0 ? o.n : 10'000;
  const long long wake_samples = std::max(1LL, rtt_samples / 5);
  const long long sleep_samples = std::max(1LL, rtt_samples / 50);
  const std::int64_t spin_ns = 50'000;
  const std::int64_t long_spin_ns = 1'000'000;
  auto micros_since = [](std::int64_t start) { return static_cast<double>(now_ns() - start) / 1e3; };
  return run_iterations(o, [&](int iter) {
    const auto t0 = steady::now();
    std::vector<double> rtt, wake, sleep_wake;
    rtt.reserve(static_cast<std::size_t>(rtt_samples));
    wake.reserve(static_cast<std::size_t>(wake_samples));
    sleep_wake.reserve(static_cast<std::size_t>(sleep_samples));
    for (long long i = 0; i < rtt_samples; ++i) {
      const std::int64_t start = now_ns();
      round_trip();
      rtt.push_back(micros_since(start));
    }
    for (long long i = 0; i < wake_samples; ++i) wake.push_back(micros_since(spin_then_stamp(spin_ns)));
    for (long long i = 0; i < sleep_samples; ++i)
      sleep_wake.push_back(micros_since(spin_then_stamp(long_spin_ns)));
    json_line(impl, o, iter)
        .num("ms", ms_since(t0))
        .num("rtt_median_us", percentile(rtt, 0.5))
        .num("rtt_p99_us", percentile(rtt, 0.99))
        .num("wake_median_us", percentile(wake, 0.5))
        .num("wake_p99_us", percentile(wake, 0.99))
        .num("sleep_wake_median_us", percentile(sleep_wake, 0.5))
        .num("sleep_wake_p99_us", percentile(sleep_wake, 0.99))
        .num("samples", rtt_samples)
        .num("wake_samples", wake_samples)
        .num("sleep_samples", sleep_samples)
        .num("spin_us", spin_ns / 1000)
        .num("long_spin_us", long_spin_ns / 1000)
        .str("check", "ok")
        .print();
    return true;
  });
}

// Pins the calling thread to the index-th CPU (modulo their number) of those this process may
// run on; returns whether it did. The two-thread mutex workloads pin their threads to different
// CPUs, so that the placement is the same for every implementation and every round (two
// threads on two cores; a thread hand-off always crosses CPUs). On a quiet machine unpinned
// threads measured the same here.
inline bool pin_to_cpu(std::size_t index) {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (::sched_getaffinity(0, sizeof allowed, &allowed) != 0) return false;
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &allowed)) cpus.push_back(c);
  if (cpus.empty()) return false;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpus[index % cpus.size()], &one);
  return ::pthread_setaffinity_np(::pthread_self(), sizeof one, &one) == 0;
}

// The contended-mutex workload, the same for every mutex type: o.threads plain threads (2 in the
// table) each lock the mutex with std::lock_guard<Mutex> o.n times (default
// contended_default_n) and increment a shared plain counter under it; the counter must end at
// threads * n. The threads are started anew in every iteration, each pinned to its own CPU
// (pin_to_cpu), and wait at a start line; the time runs from the start signal until both are
// joined. Reported: ns per increment (time / all increments) and, for diagnosis:
//   cpu_ms, sys_ms    the process's CPU time over the window (spinning and futex calls show);
//   cpu_per_wall      cpu_ms / ms: 2 when both threads ran all along (spinning or not), less
//                     when one slept, or was kept off its vCPU by another process or by the
//                     hypervisor (this VM's steal time is not reported);
//   voluntary_switches, involuntary_switches   a thread that parks switches voluntarily;
//   owner_changes     how often the lock passed from one thread to the other, also per 1000
//                     increments: a lock that lets the running thread take it again makes few;
//                     near 0, the threads did not overlap and the figure is an uncontended one.
// Returns the exit status.
constexpr long long contended_default_n = 5'000'000;

template <class Mutex>
int run_contended_mutex(std::string_view impl, const options& o) {
  const long long per_thread = o.n > 0 ? o.n : contended_default_n;
  const long long total = per_thread * static_cast<long long>(o.threads);
  // The mutex and what it guards on one cache line of their own, as a struct with a mutex member
  // usually has them. Left to the stack, their placement varied with the process's stack
  // randomisation, and so did the figure: one build measured 23-26 or 31-41 ns by process.
  struct alignas(64) guarded_counter {
    Mutex m;
    std::uint64_t counter = 0;
    std::uint64_t owner_changes = 0;
    std::size_t last = 0;
  };
  auto state = std::make_unique<guarded_counter>();
  Mutex& m = state->m;
  guarded_counter& shared = *state;  // guarded by m
  return run_iterations(o, [&](int iter) {
    shared.counter = 0;
    shared.owner_changes = 0;
    shared.last = 0;
    std::atomic<std::size_t> ready{0}, pinned{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    threads.reserve(o.threads);
    for (std::size_t t = 0; t < o.threads; ++t) {
      threads.emplace_back([&, t] {
        if (pin_to_cpu(t)) pinned.fetch_add(1, std::memory_order_relaxed);
        ready.fetch_add(1, std::memory_order_relaxed);
        while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
        for (long long i = 0; i < per_thread; ++i) {
          std::lock_guard<Mutex> lock(m);
          ++shared.counter;
          if (shared.last != t) {
            ++shared.owner_changes;
            shared.last = t;
          }
        }
      });
    }
    while (ready.load(std::memory_order_relaxed) < o.threads) std::this_thread::yield();
    const cpu_usage cpu0 = process_cpu();
    const auto t0 = steady::now();
    go.store(true, std::memory_order_release);
    for (auto& t : threads) t.join();
    const double ms = ms_since(t0);
    const cpu_usage cpu1 = process_cpu();
    const bool ok = shared.counter == static_cast<std::uint64_t>(total);
    json_line(impl, o, iter)
        .num("ms", ms)
        .num("ns_per_increment", ms * 1e6 / static_cast<double>(total))
        .num("increments", total)
        .num("cpu_ms", (cpu1.user_ms + cpu1.sys_ms) - (cpu0.user_ms + cpu0.sys_ms))
        .num("sys_ms", cpu1.sys_ms - cpu0.sys_ms)
        .num("cpu_per_wall", ((cpu1.user_ms + cpu1.sys_ms) - (cpu0.user_ms + cpu0.sys_ms)) / ms)
        .num("voluntary_switches", cpu1.voluntary_switches - cpu0.voluntary_switches)
        .num("involuntary_switches", cpu1.involuntary_switches - cpu0.involuntary_switches)
        .num("owner_changes", static_cast<unsigned long long>(shared.owner_changes))
        .num("owner_changes_per_1000",
             1000.0 * static_cast<double>(shared.owner_changes) / static_cast<double>(total))
        .num("pinned_threads", pinned.load(std::memory_order_relaxed))
        .str("check", ok ? "ok" : "FAIL")
        .num("answer", static_cast<unsigned long long>(shared.counter))
        .print();
    return ok;
  });
}

// The uncontended lock: one thread takes and releases the lock --n times (default 50,000,000)
// around an increment, std::lock_guard<Mutex>; ns per lock and unlock. Nothing else touches it:
// the figure is the fast path's cost.
constexpr long long uncontended_default_n = 50'000'000;

// One line for a loop of `n` lock/unlock pairs that took `ms` and counted `counter` under the
// lock: ns per pair, and the check that nothing was lost. Returns whether the count is right.
inline bool report_lock_loop(std::string_view impl, const options& o, int iter, double ms, std::uint64_t counter,
                             long long n) {
  const bool ok = counter == static_cast<std::uint64_t>(n);
  json_line(impl, o, iter)
      .num("ms", ms)
      .num("ns_per_lock", ms * 1e6 / static_cast<double>(n))
      .num("locks", n)
      .str("check", ok ? "ok" : "FAIL")
      .print();
  return ok;
}

template <class Mutex>
int run_uncontended_mutex(std::string_view impl, const options& o) {
  const long long n = o.n > 0 ? o.n : uncontended_default_n;
  Mutex m;
  std::uint64_t counter = 0;  // guarded by m
  return run_iterations(o, [&](int iter) {
    counter = 0;
    const auto t0 = steady::now();
    for (long long i = 0; i < n; ++i) {
      std::lock_guard<Mutex> lock(m);
      ++counter;
    }
    return report_lock_loop(impl, o, iter, ms_since(t0), counter, n);
  });
}

// The waiter-under-a-hog workload (Go's TestMutexFairness, measured), the same for every mutex
// type: a hog thread, pinned to one CPU, holds the mutex for --n µs at a time (default 200,
// busy: a long computation) and takes it again at once; a second thread, pinned to the other CPU,
// sleeps 100 µs, locks, unlocks, and records how long lock() took, until it has 500 samples or
// 3 s have passed. Reported: the waiter's median, p99 and worst wait in µs, its acquisitions,
// and the hog's (the lock's throughput). A mutex that lets a running thread take the lock
// again at once starves the waiter; one that bounds every wait keeps the worst near the hold.
constexpr long long hog_default_hold_us = 200;

template <class Mutex>
int run_mutex_under_hog(std::string_view impl, const options& o) {
  const auto hold = std::chrono::microseconds(o.n > 0 ? o.n : hog_default_hold_us);
  constexpr std::size_t samples_wanted = 500;
  constexpr auto window = std::chrono::seconds(3);
  return run_iterations(o, [&](int iter) {
    Mutex m;
    std::atomic<bool> stop{false}, hogging{false};
    long long hog_acquisitions = 0;
    std::thread hog([&] {
      pin_to_cpu(0);
      while (!stop.load(std::memory_order_relaxed)) {
        std::lock_guard<Mutex> lock(m);
        hogging.store(true, std::memory_order_relaxed);
        ++hog_acquisitions;
        const auto until = steady::now() + hold;
        while (steady::now() < until) {
        }
      }
    });
    while (!hogging.load(std::memory_order_relaxed)) std::this_thread::yield();
    std::vector<double> waits_us;
    waits_us.reserve(samples_wanted);
    const auto t0 = steady::now();
    std::thread waiter([&] {
      pin_to_cpu(1);
      while (waits_us.size() < samples_wanted && steady::now() - t0 < window) {
        std::this_thread::sleep_for(std::chrono::microseconds(100));
        const auto asked = steady::now();
        m.lock();
        waits_us.push_back(std::chrono::duration<double, std::micro>(steady::now() - asked).count());
        m.unlock();
      }
    });
    waiter.join();
    const double ms = ms_since(t0);
    stop = true;
    hog.join();
    const bool ok = !waits_us.empty();
    json_line(impl, o, iter)
        .num("ms", ms)
        .num("wait_median_us", ok ? percentile(waits_us, 0.5) : 0)
        .num("wait_p99_us", ok ? percentile(waits_us, 0.99) : 0)
        .num("wait_max_us", ok ? percentile(waits_us, 1.0) : 0)
        .num("waiter_acquisitions", static_cast<long long>(waits_us.size()))
        .num("hog_acquisitions", hog_acquisitions)
        .num("hold_us", static_cast<long long>(hold.count()))
        .str("check", ok ? "ok" : "FAIL")
        .print();
    return ok;
  });
}

// The hand-off workload's bookkeeping, the same for every implementation: two parties (0 and 1)
// take one lock `total` times in all; the holder calls record(me) once it holds the lock (so the
// tally is guarded by the lock). A hand-off is an acquisition by the other party than the
// previous holder. The lead-in is the acquisitions before the first hand-off: 1 when the start
// went as planned (both parties waiting for the lock when it is first released); more when the
// first party took the lock again before the second was queued (a start that a loaded machine
// may delay). From the first hand-off on the parties must alternate strictly: every later
// acquisition is a hand-off (repeats must be 0). The time runs from the last acquisition of the
// lead-in to the last one, so it spans exactly the hand-offs counted (and the tiny critical
// sections between them).
struct handoff_tally {
  long long total = 0;
  long long acquisitions = 0;
  long long lead_in = 0;
  long long handoffs = 0;
  int last = -1;
  std::int64_t first_ns = 0, last_ns = 0;

  void record(int me) {
    if (handoffs == 0 && (last == -1 || me == last)) {
      first_ns = now_ns();  // still in the lead-in
      ++lead_in;
    } else if (me != last) {
      ++handoffs;
    }
    last = me;
    if (++acquisitions == total) last_ns = now_ns();
  }

  // Prints the iteration's line; the check requires strict alternation after the lead-in, and a
  // lead-in under 1% of the acquisitions. `extra`: more integer fields for the line. Returns
  // whether the check passed.
  bool report(std::string_view impl, const options& o, int iter,
              std::initializer_list<std::pair<std::string_view, long long>> extra = {}) const {
    const long long repeats = acquisitions - lead_in - handoffs;
    const bool ok = acquisitions == total && repeats == 0 && handoffs > 0 && lead_in * 100 < total;
    const double ns = static_cast<double>(last_ns - first_ns);
    json_line line(impl, o, iter);
    line.num("ms", ns / 1e6)
        .num("ns_per_handoff", handoffs > 0 ? ns / static_cast<double>(handoffs) : 0.0)
        .num("handoffs", handoffs)
        .num("acquisitions", acquisitions)
        .num("lead_in", lead_in)
        .num("repeats", repeats);
    for (const auto& [key, value] : extra) line.num(key, value);
    line.str("check", ok ? "ok" : "FAIL").print();
    return ok;
  }
};

// run_fork_join's answer when o.workload is none of skynet, fib and spawn.
constexpr int unknown_workload = -1;

// The fork-join workloads, timed, checked and reported the same way for every implementation.
// Each callable runs one iteration on the implementation under test:
//   skynet()      returns skynet's sum over skynet_size leaves;
//   fib(n)        returns fib(n), forking at every call;
//   spawn(n)      starts n empty tasks and waits for all of them.
// Returns the process's exit status, or unknown_workload.
template <class Skynet, class Fib, class Spawn>
int run_fork_join(std::string_view impl, const options& o, Skynet skynet, Fib fib, Spawn spawn) {
  if (o.workload == "skynet") {
    return run_iterations(o, [&](int iter) {
      const auto t0 = steady::now();
      const std::uint64_t sum = skynet();
      const double ms = ms_since(t0);
      const bool ok = sum == skynet_answer;
      json_line(impl, o, iter)
          .num("ms", ms)
          .num("tasks", static_cast<unsigned long long>(skynet_tasks))
          .str("check", ok ? "ok" : "FAIL")
          .num("answer", static_cast<unsigned long long>(sum))
          .print();
      return ok;
    });
  }
  if (o.workload == "fib") {
    const int n = o.n > 0 ? static_cast<int>(o.n) : fib_default_n;
    return run_iterations(o, [&](int iter) {
      const auto t0 = steady::now();
      const std::uint64_t v = fib(n);
      const double ms = ms_since(t0);
      const bool ok = v == fib_answer(n);
      json_line(impl, o, iter)
          .num("ms", ms)
          .num("n", static_cast<long long>(n))
          .num("tasks", static_cast<unsigned long long>(fib_calls(n)))
          .str("check", ok ? "ok" : "FAIL")
          .num("answer", static_cast<unsigned long long>(v))
          .print();
      return ok;
    });
  }
  if (o.workload == "spawn") {
    const long long n = o.n > 0 ? o.n : spawn_default_n;
    return run_iterations(o, [&](int iter) {
      const auto t0 = steady::now();
      spawn(n);
      const double ms = ms_since(t0);
      json_line(impl, o, iter)
          .num("ms", ms)
          .num("tasks", n)
          .num("tasks_per_s", static_cast<double>(n) / (ms / 1e3))
          .str("check", "ok")
          .print();
      return true;
    });
  }
  return unknown_workload;
}

}  // namespace bench
