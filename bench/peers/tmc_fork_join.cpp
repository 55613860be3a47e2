// tmc_fork_join.cpp: TooManyCooks (tmc::ex_cpu) peer of bench/runtime_fork_join.cpp (issue 19).
//
// Built only when bench/CMakeLists.txt is given a TooManyCooks checkout
// (-DBRIGADE_TOOMANYCOOKS_SOURCE=<dir>, or run_benchmarks.py --toomanycooks DIR); nothing of
// TooManyCooks is copied here, its headers are included from that checkout. It is header-only:
// this file defines TMC_IMPL, so the library's out-of-line functions are compiled into it.
//
// Workloads, as brigade's (bench/runtime_fork_join.cpp) maps onto TooManyCooks:
//   skynet  1,111,111 tasks: each inner node puts its 10 children (tmc::task) in an array and
//           awaits tmc::spawn_many<10>(array), which returns their results in a std::array, as
//           brigade's when_all(array) does. Leaves return their number. Answer 499999500000.
//   fib     fib(n) (default 32) forking at every call: co_await tmc::spawn_tuple(fib(n-1),
//           fib(n-2)), as brigade's when_all(fib(n-1), fib(n-2)). No serial cutoff. Answer fib(n).
//   spawn   inside one task: a tmc::fork_group() (void results, so no per-task storage),
//           fork(empty()) 1,000,000 times, then co_await the group: every task is started
//           before any is joined, as brigade's spawn of 1M tasks followed by co_await of each
//           join_handle (TooManyCooks keeps no handle per task; brigade keeps 1M).
//
// Thread count: one tmc::ex_cpu with set_thread_count(--threads), initialised before timing.
// main posts the root task with tmc::post_waitable and blocks on the std::future it returns,
// so --threads threads compute, as with brigade's workers while main waits in block_on.
// Built without hwloc (TMC_USE_HWLOC is not defined): the executor takes the thread count given.
#define TMC_IMPL
#include "tmc/all_headers.hpp"

#include <array>
#include <cstdint>

#include "../bench_util.hpp"

namespace {

tmc::task<std::uint64_t> skynet(std::uint64_t num, std::uint64_t size) {
  if (size == 1) co_return num;
  std::array<tmc::task<std::uint64_t>, 10> children;
  const std::uint64_t child = size / 10;
  for (std::uint64_t i = 0; i < 10; ++i) children[i] = skynet(num + i * child, child);
  std::uint64_t sum = 0;
  for (auto v : co_await tmc::spawn_many<10>(children.begin())) sum += v;
  co_return sum;
}

tmc::task<std::uint64_t> fib(int n) {
  if (n < 2) co_return static_cast<std::uint64_t>(n);
  auto [a, b] = co_await tmc::spawn_tuple(fib(n - 1), fib(n - 2));
  co_return a + b;
}

tmc::task<void> empty() { co_return; }

tmc::task<void> spawn_join(long long n) {
  auto group = tmc::fork_group();
  for (long long i = 0; i < n; ++i) group.fork(empty());
  co_await std::move(group);
}

}  // namespace

int main(int argc, char** argv) {
  const bench::options o = bench::parse_options(argc, argv);
  tmc::ex_cpu executor;
  executor.set_thread_count(o.threads).init();

  const int status = bench::run_fork_join(
      "tmc", o, [&] { return tmc::post_waitable(executor, skynet(0, bench::skynet_size)).get(); },
      [&](int n) { return tmc::post_waitable(executor, fib(n)).get(); },
      [&](long long n) { tmc::post_waitable(executor, spawn_join(n)).get(); });
  if (status != bench::unknown_workload) return status;
  bench::usage_error(argv[0], "workload must be skynet, fib or spawn");
}
