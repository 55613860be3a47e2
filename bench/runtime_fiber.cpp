// runtime_fiber.cpp: brigade's fibers (fiber/go.hpp) on the workloads of their peers, Go's
// goroutines and Boost.Fiber (bench/peers/go_bench.go, go_channel.go, fiber_fork_join.cpp,
// fiber_channel.cpp).
//
// Workloads:
//   skynet         1,111,111 fibers: every inner node starts 10 child fibers with go() and joins
//                  them with the blocking join(); leaves return their number (Go's and
//                  Boost.Fiber's skynet, the same tree). Answer 499999500000.
//   chan_pingpong  two fibers pass a counter through two unbuffered channels with the blocking
//                  send() / recv() (the thread forms, which park the fiber); ns per round trip.
//   fiber_yield    two fibers on one worker each call this_fiber::yield() n times; ns per
//                  switch = time / (2n) (Boost.Fiber: two fibers yielding on one thread).
//   memory         N fibers (--n, default 1,000,000) each blocked in recv() on one channel;
//                  RSS growth per fiber, then the channel is closed and all of them finish.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "bench_util.hpp"
#include "brigade/chan/channel.hpp"
#include "brigade/fiber/go.hpp"
#include "brigade/fiber/this_fiber.hpp"
#include "brigade/runtime/runtime.hpp"
#include "channel_workloads.hpp"

namespace {

std::uint64_t skynet(std::uint64_t num, std::uint64_t size) {
  if (size == 1) return num;
  const std::uint64_t child = size / 10;
  std::array<brigade::join_handle<std::uint64_t>, 10> children;
  for (std::uint64_t i = 0; i < 10; ++i) children[i] = brigade::go(skynet, num + i * child, child);
  std::uint64_t sum = 0;
  for (auto& handle : children) sum += handle.join();
  return sum;
}

long long pingpong(long long n) {
  auto [ping_tx, ping_rx] = brigade::make_channel<long long>(0);
  auto [pong_tx, pong_rx] = brigade::make_channel<long long>(0);
  auto echo = brigade::go([rx = std::move(ping_rx), tx = std::move(pong_tx)] {
    while (auto value = rx.recv()) tx.send(*value + 1);
  });
  long long counter = 0;
  for (long long i = 0; i < n; ++i) {
    ping_tx.send(counter + 1);
    counter = *pong_rx.recv();
  }
  ping_tx.close();
  echo.join();
  return counter;
}

void wait_until(const std::atomic<long long>& counter, long long n) {
  while (counter.load(std::memory_order_relaxed) < n) std::this_thread::sleep_for(std::chrono::microseconds(200));
}

int run_memory(const bench::options& o) {
  const long long n = o.n > 0 ? o.n : 1'000'000;
  brigade::runtime rt({.worker_threads = o.threads});
  auto [tx, rx] = brigade::make_channel<int>(0);
  std::atomic<long long> started{0};
  std::atomic<long long> finished{0};
  // Warm: workers started, the first chunk of stacks mapped.
  const bool warm_ok = brigade::go(rt, [] { return 1; }).join() == 1;
  const long long before = bench::rss_bytes();
  const auto t0 = bench::steady::now();
  for (long long i = 0; i < n; ++i)
    brigade::go(rt, [&started, &finished, rx] {
      started.fetch_add(1, std::memory_order_relaxed);
      (void)rx.recv();  // parks until the channel is closed
      finished.fetch_add(1, std::memory_order_relaxed);
    }).detach();
  wait_until(started, n);
  const double spawn_ms = bench::ms_since(t0);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let the last ones park
  const long long after = bench::rss_bytes();
  const auto t1 = bench::steady::now();
  tx.close();
  wait_until(finished, n);
  const double wake_ms = bench::ms_since(t1);
  const bool ok = warm_ok && finished.load() == n;
  bench::memory_line("brigade", o, spawn_ms, wake_ms, n, before, after, ok)
      .num("stack_bytes", static_cast<unsigned long long>(brigade::detail::default_fiber_stack_size))
      .print();
  return ok ? 0 : 1;
}

int run_yield(const bench::options& o) {
  brigade::runtime rt({.worker_threads = 1});
  return bench::run_yield_switches("brigade", o, [&](long long n) {
    auto yielder = [n] {
      for (long long i = 0; i < n; ++i) brigade::this_fiber::yield();
    };
    auto a = brigade::go(rt, yielder);
    auto b = brigade::go(rt, yielder);
    a.join();
    b.join();
  });
}

}  // namespace

int main(int argc, char** argv) {
  const bench::options o = bench::parse_options(argc, argv);
  if (o.workload == "memory") return run_memory(o);
  if (o.workload == "fiber_yield") return run_yield(o);
  brigade::runtime rt({.worker_threads = o.threads});
  if (o.workload == "chan_pingpong")
    return bench::run_pingpong("brigade", o, [&](long long n) { return brigade::go(rt, pingpong, n).join(); });
  if (o.workload == "skynet") {
    const int status = bench::run_fork_join(
        "brigade", o, [&] { return brigade::go(rt, skynet, 0, bench::skynet_size).join(); },
        [](int) { return std::uint64_t{0}; }, [](long long) {});
    if (status != bench::unknown_workload) return status;
  }
  bench::usage_error(argv[0], "workload must be skynet, chan_pingpong, fiber_yield or memory");
}
