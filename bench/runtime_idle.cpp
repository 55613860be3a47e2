// runtime_idle.cpp: CPU time an idle runtime burns. A runtime with --threads workers runs one
// short fork-join job (so every worker has run and then gone idle), then main sleeps --idle-ms
// (default 5 s); the figure is the process's CPU time over that window (getrusage RUSAGE_SELF,
// user + system, all threads). Expected: about 0. The window starts the moment the job
// returns, so any spinning before the workers park is counted.
// Peers: the same with oneTBB, Go and Boost.Fiber (idle workload of each peer program).
#include <brigade/brigade.hpp>

#include <chrono>
#include <cstdint>
#include <thread>

#include "bench_util.hpp"

namespace {

brigade::task<std::uint64_t> fib(int n) {
  if (n < 2) co_return static_cast<std::uint64_t>(n);
  auto [a, b] = co_await brigade::when_all(fib(n - 1), fib(n - 2));
  co_return a + b;
}

}  // namespace

int main(int argc, char** argv) {
  const bench::options o = bench::parse_options(argc, argv);
  if (o.workload != "idle") bench::usage_error(argv[0], "workload must be idle");
  brigade::runtime rt({.worker_threads = o.threads});
  const bool ok = rt.block_on(fib(20)) == bench::fib_answer(20);
  return bench::measure_idle("brigade", o, ok);
}
