// std_future.cpp: the standard library's peer of brigade's thread-pool benchmarks
// (bench/runtime_future.cpp; the workloads are defined in bench/future_workloads.hpp):
// std::async(std::launch::async, ...) and std::future. There is no pool: libstdc++ starts a new
// thread for every call (and joins it in get()), so --threads does not apply and the figures
// are the cost of a thread per job, which is what code that reaches for std::async pays.
//
//   pool_roundtrip   `std::async(std::launch::async, [value] { return value + 1; }).get()` from
//         main, --n times (default 5,000: each is a thread start and join, tens of µs here).
//   pool_throughput  --n std::async calls of `[index] { return tiny_hash(index); }` (default
//         20,000, not brigade's 1,000,000: at a thread per job a million would take tens of
//         seconds per iteration, and keep every finished thread's stack mapped until its get())
//         into a vector of std::future<std::uint64_t>, then get() of each in order (which joins
//         its thread); the vector is cleared inside the timed window. Compare the ns per job.
// then_chain has no std:: equivalent (std::future has no then()): not run.
// Command line and output as bench/bench_util.hpp.
#include <cstdint>
#include <future>
#include <vector>

#include "../bench_util.hpp"
#include "../future_workloads.hpp"

namespace {

constexpr long long roundtrip_default_n = 5'000;
constexpr long long throughput_default_n = 20'000;

int run_roundtrip(const bench::options& o) {
  return bench::run_pool_roundtrip("std-async", o, roundtrip_default_n, [](std::uint64_t value) {
    return std::async(std::launch::async, [value] { return value + 1; }).get();
  });
}

int run_throughput(const bench::options& o) {
  std::vector<std::future<std::uint64_t>> futures;
  futures.reserve(static_cast<std::size_t>(o.n > 0 ? o.n : throughput_default_n));
  return bench::run_pool_throughput(
      "std-async", o, throughput_default_n,
      [&](long long n) {
        for (long long index = 0; index < n; ++index)
          futures.push_back(std::async(std::launch::async,
                                       [index] { return bench::tiny_hash(static_cast<std::uint64_t>(index)); }));
      },
      [&] {
        std::uint64_t sum = 0;
        for (auto& future : futures) sum += future.get();
        futures.clear();
        return sum;
      });
}

}  // namespace

int main(int argc, char** argv) {
  const bench::options o = bench::parse_options(argc, argv);
  if (o.workload == "pool_roundtrip") return run_roundtrip(o);
  if (o.workload == "pool_throughput") return run_throughput(o);
  bench::usage_error(argv[0], "workload must be pool_roundtrip or pool_throughput");
}
