// runtime_join_latency.cpp: how fast a plain thread blocked in join_handle::join() runs again
// when the task completes. Reference: bench/peers/std_join_latency.cpp (the same two
// measurements between two threads with std::condition_variable).
//
//   rtt   main: h = rt.spawn(empty task); h.join(). One round trip: the task goes through the
//         injection queue to a worker (woken if parked), runs, completes, wakes main.
//   wake  the task busy-waits 50 µs, then returns a timestamp taken just before co_return; the
//         sample is the time from that timestamp to join() returning on main. join() spins
//         briefly before it sleeps on a futex (runtime/waiter.hpp), so this may catch main
//         still spinning: it is what a joiner of a short task sees.
//   sleep_wake  the same with a 1 ms task, long past join()'s spin: main is asleep in the
//         futex, so this is the wake-up latency of a thread blocked in join.
// Samples per iteration: 10,000 round trips (--n), 2,000 wakes, 200 sleep_wakes. One JSON line
// per iteration with the medians and 99th percentiles, in µs.
#include <brigade/brigade.hpp>

#include <cstdint>
#include <vector>

#include "bench_util.hpp"

namespace {

brigade::task<void> empty() { co_return; }

brigade::task<std::int64_t> spin_then_stamp(std::int64_t spin_ns) {
  const std::int64_t end = bench::now_ns() + spin_ns;
  while (bench::now_ns() < end) {
  }
  co_return bench::now_ns();
}

}  // namespace

int main(int argc, char** argv) {
  const bench::options o = bench::parse_options(argc, argv);
  if (o.workload != "join_latency") bench::usage_error(argv[0], "workload must be join_latency");
  brigade::runtime rt({.worker_threads = o.threads});
  return bench::run_join_latency(
      "brigade", o, [&] { rt.spawn(empty()).join(); },
      [&](std::int64_t ns) -> std::int64_t { return rt.spawn(spin_then_stamp(ns)).join(); });
}
