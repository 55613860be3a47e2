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
  const long long rtt_samples = o.n > 0 ? o.n : 10'000;
  const long long wake_samples = std::max(1LL, rtt_samples / 5);
  const long long sleep_samples = std::max(1LL, rtt_samples / 50);
  const std::int64_t spin_ns = 50'000;
  const std::int64_t long_spin_ns = 1'000'000;
  brigade::runtime rt({.worker_threads = o.threads});
  return bench::run_iterations(o, [&](int iter) {
    const auto t0 = bench::steady::now();
    std::vector<double> rtt, wake, sleep_wake;
    rtt.reserve(static_cast<std::size_t>(rtt_samples));
    wake.reserve(static_cast<std::size_t>(wake_samples));
    sleep_wake.reserve(static_cast<std::size_t>(sleep_samples));
    for (long long i = 0; i < rtt_samples; ++i) {
      const std::int64_t s = bench::now_ns();
      rt.spawn(empty()).join();
      rtt.push_back(static_cast<double>(bench::now_ns() - s) / 1e3);
    }
    for (long long i = 0; i < wake_samples; ++i) {
      const std::int64_t stamp = rt.spawn(spin_then_stamp(spin_ns)).join();
      wake.push_back(static_cast<double>(bench::now_ns() - stamp) / 1e3);
    }
    for (long long i = 0; i < sleep_samples; ++i) {
      const std::int64_t stamp = rt.spawn(spin_then_stamp(long_spin_ns)).join();
      sleep_wake.push_back(static_cast<double>(bench::now_ns() - stamp) / 1e3);
    }
    bench::json_line("brigade", o, iter)
        .num("ms", bench::ms_since(t0))
        .num("rtt_median_us", bench::percentile(rtt, 0.5))
        .num("rtt_p99_us", bench::percentile(rtt, 0.99))
        .num("wake_median_us", bench::percentile(wake, 0.5))
        .num("wake_p99_us", bench::percentile(wake, 0.99))
        .num("sleep_wake_median_us", bench::percentile(sleep_wake, 0.5))
        .num("sleep_wake_p99_us", bench::percentile(sleep_wake, 0.99))
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
