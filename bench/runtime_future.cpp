// runtime_future.cpp: brigade's thread_pool and futures (issue 18), on the workloads of
// bench/future_workloads.hpp (--workload):
//
//   pool_roundtrip   `pool.submit([value] { return value + 1; }).get()` on a
//         brigade::thread_pool of --threads threads (2 in the table), from main, --n times
//         (default 10,000).
//   pool_throughput  --n `pool.submit([index] { return tiny_hash(index); })` (default
//         1,000,000) into a vector of brigade::future<std::uint64_t>, then `get()` of each in
//         order; the vector is cleared (the futures destroyed) inside the timed window.
//   then_chain       per chain: a brigade::promise<long long>, its future, then_chain_length
//         `std::move(f).then(add_one)` continuations attached, `set_value(0)` (main runs the
//         whole chain, inline: the default executor), then `get()` of the last future.
//   then_chain_pool  the same with `std::move(f).then(pool, add_one)`: every continuation runs
//         as a job of a brigade::thread_pool of --threads threads (brigade used as an executor,
//         the counterpart of Asio's posted continuations); main waits with get().
// The pool is made once per process, before the first iteration. One JSON line per iteration.
#include <brigade/brigade.hpp>

#include <cstdint>
#include <vector>

#include "bench_util.hpp"
#include "future_workloads.hpp"

namespace {

int run_roundtrip(const bench::options& o) {
  brigade::thread_pool pool(o.threads);
  return bench::run_pool_roundtrip("brigade", o, bench::pool_roundtrip_default_n,
                                   [&](std::uint64_t value) { return pool.submit([value] { return value + 1; }).get(); });
}

int run_throughput(const bench::options& o) {
  brigade::thread_pool pool(o.threads);
  std::vector<brigade::future<std::uint64_t>> futures;
  futures.reserve(static_cast<std::size_t>(o.n > 0 ? o.n : bench::pool_throughput_default_n));
  return bench::run_pool_throughput(
      "brigade", o, bench::pool_throughput_default_n,
      [&](long long n) {
        for (long long index = 0; index < n; ++index)
          futures.push_back(pool.submit([index] { return bench::tiny_hash(static_cast<std::uint64_t>(index)); }));
      },
      [&] {
        std::uint64_t sum = 0;
        for (auto& future : futures) sum += future.get();
        futures.clear();
        return sum;
      });
}

// Every continuation of the chain.
constexpr auto add_one = [](long long value) { return value + 1; };

int run_then_chain(const bench::options& o) {
  return bench::run_then_chain("brigade", o, [](long long length) {
    brigade::promise<long long> first;
    brigade::future<long long> last = first.get_future();
    for (long long link = 0; link < length; ++link) last = std::move(last).then(add_one);
    first.set_value(0);
    return last.get();
  });
}

int run_then_chain_on_pool(const bench::options& o) {
  brigade::thread_pool pool(o.threads);
  return bench::run_then_chain("brigade_pool", o, [&](long long length) {
    brigade::promise<long long> first;
    brigade::future<long long> last = first.get_future();
    for (long long link = 0; link < length; ++link) last = std::move(last).then(pool, add_one);
    first.set_value(0);
    return last.get();
  });
}

}  // namespace

int main(int argc, char** argv) {
  const bench::options o = bench::parse_options(argc, argv);
  if (o.workload == "pool_roundtrip") return run_roundtrip(o);
  if (o.workload == "pool_throughput") return run_throughput(o);
  if (o.workload == "then_chain") return run_then_chain(o);
  if (o.workload == "then_chain_pool") return run_then_chain_on_pool(o);
  bench::usage_error(argv[0], "workload must be pool_roundtrip, pool_throughput, then_chain or then_chain_pool");
}
