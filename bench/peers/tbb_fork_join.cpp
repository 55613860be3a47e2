// tbb_fork_join.cpp: oneTBB (tbb::task_group) peer of bench/runtime_fork_join.cpp and
// bench/runtime_idle.cpp.
//
// Workloads:
//   skynet  1,111,111 tasks: every inner node runs its 10 children with task_group::run and
//           waits for them; leaves return their number. Answer 499999500000.
//   fib     fib(n) (default 32) forking at every call: task_group::run(fib(n-1)), fib(n-2)
//           inline, task_group::wait(). No serial cutoff. Answer fib(n).
//   spawn   one task_group, 1,000,000 run([]{}) from the arena's master thread, then wait().
//   idle    the arena's threads after a short parallel job, idle for --idle-ms: CPU time used.
//
// Thread count: tbb::global_control(max_allowed_parallelism, N) and a task_arena of N slots;
// the calling thread takes one slot (it works while it waits), so N threads compute, as with
// brigade's N workers while main is blocked in block_on.
#include <tbb/global_control.h>
#include <tbb/task_arena.h>
#include <tbb/task_group.h>

#include <array>
#include <cstdint>
#include <thread>

#include "../bench_util.hpp"

namespace {

std::uint64_t skynet(std::uint64_t num, std::uint64_t size) {
  if (size == 1) return num;
  std::array<std::uint64_t, 10> results{};
  tbb::task_group g;
  const std::uint64_t child = size / 10;
  for (std::uint64_t i = 0; i < 10; ++i) {
    g.run([&results, i, num, child] { results[i] = skynet(num + i * child, child); });
  }
  g.wait();
  std::uint64_t sum = 0;
  for (auto v : results) sum += v;
  return sum;
}

std::uint64_t fib(int n) {
  if (n < 2) return static_cast<std::uint64_t>(n);
  std::uint64_t a = 0;
  tbb::task_group g;
  g.run([&a, n] { a = fib(n - 1); });
  std::uint64_t b = fib(n - 2);
  g.wait();
  return a + b;
}

}  // namespace

int main(int argc, char** argv) {
  const bench::options o = bench::parse_options(argc, argv);
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, o.threads);
  tbb::task_arena arena(static_cast<int>(o.threads));
  arena.initialize();

  const int status = bench::run_fork_join(
      "tbb", o,
      [&] {
        std::uint64_t sum = 0;
        arena.execute([&] { sum = skynet(0, bench::skynet_size); });
        return sum;
      },
      [&](int n) {
        std::uint64_t v = 0;
        arena.execute([&] { v = fib(n); });
        return v;
      },
      [&](long long n) {
        arena.execute([&] {
          tbb::task_group g;
          for (long long i = 0; i < n; ++i) g.run([] {});
          g.wait();
        });
      });
  if (status != bench::unknown_workload) return status;
  if (o.workload == "idle") {
    // Wake every thread of the arena with a short parallel job, then measure the idle window
    // from the moment that job returns: any spinning before the threads go to sleep counts.
    std::uint64_t warm = 0;
    arena.execute([&] { warm = fib(20); });
    return bench::measure_idle("tbb", o, warm == bench::fib_answer(20));
  }
  bench::usage_error(argv[0], "workload must be skynet, fib, spawn or idle");
}
