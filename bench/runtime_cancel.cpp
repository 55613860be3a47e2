// runtime_cancel.cpp: how fast a stop request reaches a parked task (issue 14). Peer: Go's
// context cancellation of a goroutine parked in a select on a channel and ctx.Done()
// (bench/peers/go_channel.go, the same workload).
//
//   cancel_latency  a task parks in `co_await rx.recv_async()` on a channel nobody sends on; 200 µs
//                   later another task takes a timestamp, calls abort() and awaits the handle;
//                   the parked task's catch of task_cancelled takes the second timestamp. The
//                   sample is the difference: the stop request, the withdrawal from the channel,
//                   and resuming the task (it goes to the aborting task's worker, as Go's woken
//                   goroutine goes to the P of the goroutine that cancels).
//   cancel_latency_thread  the same, aborted by a plain thread (main) while every worker sleeps:
//                   it also pays for waking a sleeping worker (no Go equivalent: Go's main is a
//                   goroutine).
// Samples per iteration: --n (2,000). One JSON line per iteration with the median and the 99th
// percentile in µs.
#include <brigade/brigade.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "bench_util.hpp"

namespace {

brigade::task<void> park_in_recv(brigade::receiver<int> rx, std::atomic<bool>& parked, std::atomic<std::int64_t>& woke_at) {
  try {
    parked.store(true, std::memory_order_release);
    (void)co_await rx.recv_async();
  } catch (const brigade::task_cancelled&) {
    woke_at.store(bench::now_ns(), std::memory_order_release);
    throw;
  }
}

/// Aborts `handle` and awaits it (the cancelled task runs next on this worker); returns the time
/// of the abort.
brigade::task<std::int64_t> abort_and_join(brigade::join_handle<void>& handle) {
  const std::int64_t aborted_at = bench::now_ns();
  handle.abort();
  try {
    co_await handle;
  } catch (const brigade::task_cancelled&) {
  }
  co_return aborted_at;
}

}  // namespace

int main(int argc, char** argv) {
  const bench::options o = bench::parse_options(argc, argv);
  const bool from_thread = o.workload == "cancel_latency_thread";
  if (o.workload != "cancel_latency" && !from_thread)
    bench::usage_error(argv[0], "workload must be cancel_latency or cancel_latency_thread");
  brigade::runtime rt({.worker_threads = o.threads});
  const long long samples = o.n > 0 ? o.n : 2'000;
  auto [tx, rx] = brigade::make_channel<int>(0);  // main keeps tx: nobody ever sends
  return bench::run_iterations(o, [&](int iter) {
    const auto t0 = bench::steady::now();
    std::vector<double> latency;
    latency.reserve(static_cast<std::size_t>(samples));
    bool all_cancelled = true;
    for (long long i = 0; i < samples; ++i) {
      std::atomic<bool> parked{false};
      std::atomic<std::int64_t> woke_at{0};
      auto handle = rt.spawn(park_in_recv(rx, parked, woke_at));
      while (!parked.load(std::memory_order_acquire)) std::this_thread::yield();
      std::this_thread::sleep_for(std::chrono::microseconds(200));  // parked; its worker asleep
      std::int64_t aborted_at = 0;
      if (from_thread) {
        aborted_at = bench::now_ns();
        handle.abort();
        try {
          handle.join();
        } catch (const brigade::task_cancelled&) {
        }
      } else {
        aborted_at = rt.block_on(abort_and_join(handle));
      }
      const std::int64_t stamp = woke_at.load(std::memory_order_acquire);
      if (stamp == 0) all_cancelled = false;
      latency.push_back(static_cast<double>(stamp - aborted_at) / 1e3);
    }
    bench::json_line("brigade", o, iter)
        .num("ms", bench::ms_since(t0))
        .num("abort_wake_median_us", bench::percentile(latency, 0.5))
        .num("abort_wake_p99_us", bench::percentile(latency, 0.99))
        .num("samples", samples)
        .str("check", all_cancelled ? "ok" : "FAIL")
        .print();
    return all_cancelled;
  });
}
