// runtime_memory.cpp: memory per suspended task. N tasks (default 1,000,000) each co_await one
// brigade::event; the figure is the growth of the process's resident set (/proc/self/statm)
// between before the tasks are made and when all N are suspended, divided by N.
//   memory             N spawned (detached) tasks: each a frame plus its spawn record.
//   memory_structured  N children of one when_all: each a frame plus its slot in the vector; no
//                      spawn record (structured children need none).
// Peers: 1M goroutines blocked on one channel (bench/peers/go_bench.go), Boost.Fiber fibers
// blocked on one condition variable (bench/peers/fiber_fork_join.cpp).
//
// The tasks are spawned detached from inside one task (their join_handles are dropped, so the
// figure holds no handle storage, like the Go peer); each counts itself when it starts and when it
// finishes, and main polls those counters. Also reported: ms (spawn until all N have started),
// wake_ms (event set until all N have finished). One iteration per process: a second one in the
// same process would reuse the memory freed by the first.
#include <brigade/brigade.hpp>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "bench_util.hpp"

namespace {

std::atomic<long long> started{0};
std::atomic<long long> finished{0};

brigade::task<void> sleeper(brigade::event& ev) {
  started.fetch_add(1, std::memory_order_relaxed);  // a count only; nothing is published
  co_await ev.wait_async();
  finished.fetch_add(1, std::memory_order_relaxed);
}

brigade::task<void> spawn_sleepers(brigade::event& ev, long long n) {
  for (long long i = 0; i < n; ++i) brigade::spawn(sleeper(ev)).detach();
  co_return;
}

brigade::task<void> when_all_sleepers(brigade::event& ev, long long n) {
  std::vector<brigade::task<void>> children;
  children.reserve(static_cast<std::size_t>(n));
  for (long long i = 0; i < n; ++i) children.push_back(sleeper(ev));
  co_await brigade::when_all(std::move(children));
}

brigade::task<int> warm_up() { co_return 1; }

void wait_until(const std::atomic<long long>& counter, long long n) {
  while (counter.load(std::memory_order_relaxed) < n) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

}  // namespace

int main(int argc, char** argv) {
  const bench::options o = bench::parse_options(argc, argv);
  const bool structured = o.workload == "memory_structured";
  if (o.workload != "memory" && !structured)
    bench::usage_error(argv[0], "workload must be memory or memory_structured");
  const long long n = o.n > 0 ? o.n : 1'000'000;

  brigade::runtime rt({.worker_threads = o.threads});
  brigade::event ev;
  const bool warm_ok = rt.block_on(warm_up()) == 1;  // workers started, runtime's own memory in

  const long long before = bench::rss_bytes();
  const auto t0 = bench::steady::now();
  brigade::join_handle<void> parent;
  if (structured)
    parent = rt.spawn(when_all_sleepers(ev, n));
  else
    rt.block_on(spawn_sleepers(ev, n));
  wait_until(started, n);
  const double spawn_ms = bench::ms_since(t0);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let the last ones suspend
  const long long after = bench::rss_bytes();

  const auto t1 = bench::steady::now();
  ev.set();
  wait_until(finished, n);
  if (structured) parent.join();
  const double wake_ms = bench::ms_since(t1);

  const bool ok = warm_ok && finished.load() == n;
  bench::memory_line("brigade", o, spawn_ms, wake_ms, n, before, after, ok).print();
  return ok ? 0 : 1;
}
