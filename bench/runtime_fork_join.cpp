// runtime_fork_join.cpp: brigade's side of the fork-join benchmarks (docs/benchmarks.md).
// Peers on the same workloads: bench/peers/tbb_fork_join.cpp (oneTBB task_group),
// bench/peers/go_bench.go (goroutines), bench/peers/fiber_fork_join.cpp (Boost.Fiber).
//
// Workloads (one brigade::runtime with --threads workers per process, made before timing):
//   skynet  1,111,111 tasks: each inner node forks its 10 children with when_all(array);
//           leaves return their number. Answer 499999500000.
//   fib     fib(n) (default 32) forking at every call: when_all(fib(n-1), fib(n-2)). No serial
//           cutoff. Answer fib(n).
//   spawn   inside one task: spawn 1,000,000 empty tasks, keep their join_handles in a vector
//           (allocated once, before timing), then co_await each handle. Reports tasks_per_s.
// Each iteration is one block_on from main, timed from the call to its return.
#include <brigade/brigade.hpp>

#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include "bench_util.hpp"

namespace {

brigade::task<std::uint64_t> skynet(std::uint64_t num, std::uint64_t size) {
  if (size == 1) co_return num;
  // An array, not a vector: when_all over an array allocates nothing and returns an array.
  std::array<brigade::task<std::uint64_t>, 10> children;
  const std::uint64_t child = size / 10;
  for (std::uint64_t i = 0; i < 10; ++i) children[i] = skynet(num + i * child, child);
  std::uint64_t sum = 0;
  for (auto v : co_await brigade::when_all(std::move(children))) sum += v;
  co_return sum;
}

brigade::task<std::uint64_t> fib(int n) {
  if (n < 2) co_return static_cast<std::uint64_t>(n);
  auto [a, b] = co_await brigade::when_all(fib(n - 1), fib(n - 2));
  co_return a + b;
}

brigade::task<void> empty() { co_return; }

// `handles` is reused by every iteration: its 8 MB are allocated and first touched once, before
// timing starts, rather than page-faulted in again (~30 ms here) whenever glibc hands back fresh
// memory for it. The peers keep no per-task handles at all.
brigade::task<void> spawn_join(long long n, std::vector<brigade::join_handle<void>>& handles) {
  for (long long i = 0; i < n; ++i) handles.push_back(brigade::spawn(empty()));
  for (auto& h : handles) co_await std::move(h);
  handles.clear();
}

}  // namespace

int main(int argc, char** argv) {
  const bench::options o = bench::parse_options(argc, argv);
  brigade::runtime rt({.worker_threads = o.threads});
  std::vector<brigade::join_handle<void>> handles;
  if (o.workload == "spawn") {
    handles.resize(static_cast<std::size_t>(o.n > 0 ? o.n : bench::spawn_default_n));
    handles.clear();  // keeps the capacity, now touched
  }

  const int status = bench::run_fork_join(
      "brigade", o, [&] { return rt.block_on(skynet(0, bench::skynet_size)); },
      [&](int n) { return rt.block_on(fib(n)); }, [&](long long n) { rt.block_on(spawn_join(n, handles)); });
  if (status != bench::unknown_workload) return status;
  bench::usage_error(argv[0], "workload must be skynet, fib or spawn");
}
