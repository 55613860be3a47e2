// asio_pool.cpp: the Boost.Asio peer of brigade's thread-pool and future benchmarks
// (bench/runtime_future.cpp; the workloads are defined in bench/future_workloads.hpp), on a
// boost::asio::thread_pool of --threads threads (2 in the table). Header-only Asio, no brigade.
//
//   pool_roundtrip   `asio::post(pool, asio::use_future([value] { return value + 1; })).get()`
//         from main, --n times (default 10,000): use_future wraps the function so that post
//         returns a std::future of its result (a std::promise inside, set on the pool thread).
//   pool_throughput  --n posts of `asio::use_future([index] { return tiny_hash(index); })`
//         (default 1,000,000) into a vector of std::future<std::uint64_t>, then get() of each in
//         order; the vector is cleared (the futures destroyed) inside the timed window.
//   then_chain       Asio has no future with continuations (std::future has no then(), and the
//         experimental asio::deferred came after Boost 1.74). The plainest equivalent: a chain
//         of handlers posted to the pool, each running the step (value + 1) and posting the
//         next with its result; the last one sets a std::promise, on whose std::future main
//         waits. So every link is a post (an allocation from Asio's per-thread recycling cache
//         and a queue operation: from a pool thread, onto that thread's private queue) and a
//         handler call; brigade's inline then() runs its chain on the settling thread instead
//         (brigade's row then_chain_pool posts every continuation to its pool as Asio does).
// Command line and output as bench/bench_util.hpp; the pool is made once per process, before
// the first iteration.
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>

#include <cstdint>
#include <future>
#include <vector>

#include "../bench_util.hpp"
#include "../future_workloads.hpp"

namespace {

namespace asio = boost::asio;

int run_roundtrip(const bench::options& o) {
  asio::thread_pool pool(o.threads);
  const int status = bench::run_pool_roundtrip("asio-pool", o, bench::pool_roundtrip_default_n, [&](std::uint64_t value) {
    return asio::post(pool, asio::use_future([value] { return value + 1; })).get();
  });
  pool.join();
  return status;
}

int run_throughput(const bench::options& o) {
  asio::thread_pool pool(o.threads);
  std::vector<std::future<std::uint64_t>> futures;
  futures.reserve(static_cast<std::size_t>(o.n > 0 ? o.n : bench::pool_throughput_default_n));
  const int status = bench::run_pool_throughput(
      "asio-pool", o, bench::pool_throughput_default_n,
      [&](long long n) {
        for (long long index = 0; index < n; ++index)
          futures.push_back(asio::post(
              pool, asio::use_future([index] { return bench::tiny_hash(static_cast<std::uint64_t>(index)); })));
      },
      [&] {
        std::uint64_t sum = 0;
        for (auto& future : futures) sum += future.get();
        futures.clear();
        return sum;
      });
  pool.join();
  return status;
}

// One link of the chain: adds 1 to `value`, then posts the next link, or, after the last one,
// hands the final value to `done`.
struct chain_link {
  asio::thread_pool* pool;
  std::promise<long long>* done;
  long long value;
  long long links_left;

  void operator()() const {
    const long long next_value = value + 1;
    if (links_left == 1) {
      done->set_value(next_value);
      return;
    }
    asio::post(*pool, chain_link{pool, done, next_value, links_left - 1});
  }
};

int run_then_chain(const bench::options& o) {
  asio::thread_pool pool(o.threads);
  const int status = bench::run_then_chain("asio-pool", o, [&](long long length) {
    std::promise<long long> done;
    std::future<long long> last = done.get_future();
    asio::post(pool, chain_link{&pool, &done, 0, length});
    return last.get();
  });
  pool.join();
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  const bench::options o = bench::parse_options(argc, argv);
  if (o.workload == "pool_roundtrip") return run_roundtrip(o);
  if (o.workload == "pool_throughput") return run_throughput(o);
  if (o.workload == "then_chain") return run_then_chain(o);
  bench::usage_error(argv[0], "workload must be pool_roundtrip, pool_throughput or then_chain");
}
