// future_workloads.hpp: the thread-pool and future workloads of issue 18, timed, checked and
// reported the same way for brigade (bench/runtime_future.cpp) and its C++ peers
// (bench/peers/std_future.cpp, bench/peers/asio_pool.cpp); the Java peer
// (bench/peers/JavaFutures.java) follows the same definitions. One JSON line per iteration
// (bench_util.hpp); the pool (the runtime under test) is made before the first iteration.
//
//   pool_roundtrip   one submitter thread (main) submits a tiny job (it returns its argument
//                    plus one) to a pool of --threads threads (2 in the table) and waits for its
//                    result, --n times (default 10,000). Each round trip is timed on its own.
//                    Reported: ns per round trip (the iteration's time / n), the median and
//                    the 99th percentile of the round trips. Check: every result is its
//                    argument plus one.
//   pool_throughput  main submits --n tiny jobs (default 1,000,000) one after the other, keeping
//                    every future in a vector reserved before the clock starts, then gets every
//                    result in submission order and destroys the futures. Each job returns
//                    tiny_hash(its index). Reported: ns per job and million jobs per second
//                    over the whole (submitting and collecting), and, as a diagnostic, the ns
//                    per job that submitting alone took. Check: the sum of the results equals
//                    the sum computed on one thread.
//   then_chain       --n chains (default 1,000), one after the other; each chain is
//                    then_chain_length (1,000) continuations on one future, each adding 1 to
//                    its input, and its final value must be 1,000 (the first future holds 0).
//                    Reported: ns per continuation (the iteration's time / (n * 1,000)),
//                    everything included: attaching the continuations, running them, and the
//                    final wait for the last one.
#pragma once

#include <cstdint>
#include <vector>

#include "bench_util.hpp"

namespace bench {

constexpr long long pool_roundtrip_default_n = 10'000;
constexpr long long pool_throughput_default_n = 1'000'000;
constexpr long long then_chain_default_chains = 1'000;
constexpr long long then_chain_length = 1'000;

/// The job of pool_throughput: a few multiplications and shifts of its index (Knuth's
/// multiplicative hash, folded), so that a job computes something and the sum checks it.
constexpr std::uint64_t tiny_hash(std::uint64_t index) noexcept {
  std::uint64_t mixed = index * 2654435761ULL;
  mixed ^= mixed >> 29;
  mixed *= 0x9E3779B97F4A7C15ULL;
  return mixed ^ (mixed >> 32);
}

/// The sum (modulo 2^64) of tiny_hash(0 .. n-1): pool_throughput's answer.
inline std::uint64_t tiny_hash_sum(long long n) {
  std::uint64_t sum = 0;
  for (long long index = 0; index < n; ++index) sum += tiny_hash(static_cast<std::uint64_t>(index));
  return sum;
}

/// pool_roundtrip: `round_trip(value)` submits a job that returns value + 1, waits for it and
/// returns its result. `default_n` is the implementation's round trips per iteration when --n
/// is not given. Returns the exit status.
template <class RoundTrip>
int run_pool_roundtrip(std::string_view impl, const options& o, long long default_n, RoundTrip round_trip) {
  const long long n = o.n > 0 ? o.n : default_n;
  std::vector<double> samples_ns(static_cast<std::size_t>(n));
  return run_iterations(o, [&](int iter) {
    bool all_right = true;
    const auto t0 = steady::now();
    for (long long i = 0; i < n; ++i) {
      const std::int64_t start = now_ns();
      const std::uint64_t result = round_trip(static_cast<std::uint64_t>(i));
      samples_ns[static_cast<std::size_t>(i)] = static_cast<double>(now_ns() - start);
      all_right = all_right && result == static_cast<std::uint64_t>(i) + 1;
    }
    const double ms = ms_since(t0);
    json_line(impl, o, iter)
        .num("ms", ms)
        .num("ns_per_round_trip", ms * 1e6 / static_cast<double>(n))
        .num("rtt_median_ns", percentile(samples_ns, 0.5))
        .num("rtt_p99_ns", percentile(samples_ns, 0.99))
        .num("round_trips", n)
        .str("check", all_right ? "ok" : "FAIL")
        .print();
    return all_right;
  });
}

/// pool_throughput: `submit_all(n)` submits the n jobs (job i returns tiny_hash(i)) and keeps
/// their futures; `collect_all()` gets every result, destroys the futures, and returns the sum
/// of the results. Both run inside the timed window. Returns the exit status.
template <class SubmitAll, class CollectAll>
int run_pool_throughput(std::string_view impl, const options& o, long long default_n, SubmitAll submit_all,
                        CollectAll collect_all) {
  const long long n = o.n > 0 ? o.n : default_n;
  const std::uint64_t expected = tiny_hash_sum(n);
  return run_iterations(o, [&](int iter) {
    const auto t0 = steady::now();
    submit_all(n);
    const double submit_ms = ms_since(t0);
    const std::uint64_t sum = collect_all();
    const double ms = ms_since(t0);
    const bool ok = sum == expected;
    json_line(impl, o, iter)
        .num("ms", ms)
        .num("ns_per_job", ms * 1e6 / static_cast<double>(n))
        .num("million_jobs_per_s", static_cast<double>(n) / ms / 1e3)
        .num("submit_ns_per_job", submit_ms * 1e6 / static_cast<double>(n))
        .num("jobs", n)
        .str("check", ok ? "ok" : "FAIL")
        .num("answer", static_cast<unsigned long long>(sum))
        .print();
    return ok;
  });
}

/// then_chain: `one_chain(length)` builds and runs one chain of `length` continuations that
/// each add 1, starting from 0, and returns the final value (which must be `length`).
/// Returns the exit status.
template <class OneChain>
int run_then_chain(std::string_view impl, const options& o, OneChain one_chain) {
  const long long chains = o.n > 0 ? o.n : then_chain_default_chains;
  return run_iterations(o, [&](int iter) {
    bool all_right = true;
    long long last = 0;
    const auto t0 = steady::now();
    for (long long chain = 0; chain < chains; ++chain) {
      last = one_chain(then_chain_length);
      all_right = all_right && last == then_chain_length;
    }
    const double ms = ms_since(t0);
    const long long continuations = chains * then_chain_length;
    json_line(impl, o, iter)
        .num("ms", ms)
        .num("ns_per_continuation", ms * 1e6 / static_cast<double>(continuations))
        .num("continuations", continuations)
        .num("chains", chains)
        .str("check", all_right ? "ok" : "FAIL")
        .num("answer", last)
        .print();
    return all_right;
  });
}

}  // namespace bench
