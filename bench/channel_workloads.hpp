// channel_workloads.hpp: the channel workloads, the same for brigade and its C++ peers
// (bench/runtime_channel.cpp, bench/peers/fiber_channel.cpp, bench/peers/moodycamel_queue.cpp;
// Go's are in bench/peers/go_channel.go). One JSON line per iteration (bench_util.hpp).
//
//   chan_pingpong  two parties pass a counter back and forth over two unbuffered channels;
//                  o.n round trips (default 1,000,000). Reported: ns per round trip (two
//                  hand-overs). Check: the counter ends at 2 * n.
//   chan_mpmc      2 producers send o.n values in all (default 10,000,000) into one channel of
//                  capacity 1024, 2 consumers receive them. Reported: million messages per
//                  second. Check: the consumers' sums add up to the sum of what was sent.
#pragma once

#include <cstdint>

#include "bench_util.hpp"

namespace bench {

constexpr long long pingpong_default_n = 1'000'000;
constexpr long long mpmc_default_n = 10'000'000;
constexpr std::size_t mpmc_capacity = 1024;

/// Sum of the values 0 .. n-1 that each of the two producers sends (n / 2 each).
inline std::uint64_t mpmc_expected_sum(long long n) {
  const auto half = static_cast<std::uint64_t>(n / 2);
  return 2 * (half * (half - 1) / 2);
}

/// Runs `round_trips(n)` (returns the final counter) per iteration and prints the line.
template <class PingPong>
int run_pingpong(std::string_view impl, const options& o, PingPong round_trips) {
  const long long n = o.n > 0 ? o.n : pingpong_default_n;
  return run_iterations(o, [&](int iter) {
    const auto t0 = steady::now();
    const long long counter = round_trips(n);
    const double ms = ms_since(t0);
    const bool ok = counter == 2 * n;
    json_line(impl, o, iter)
        .num("ms", ms)
        .num("ns_per_round_trip", ms * 1e6 / static_cast<double>(n))
        .num("round_trips", n)
        .str("check", ok ? "ok" : "FAIL")
        .print();
    return ok;
  });
}

/// Runs `transfer(n)` (returns the consumers' total) per iteration and prints the line.
template <class Transfer>
int run_mpmc(std::string_view impl, const options& o, Transfer transfer) {
  const long long n = o.n > 0 ? o.n : mpmc_default_n;
  return run_iterations(o, [&](int iter) {
    const auto t0 = steady::now();
    const std::uint64_t sum = transfer(n);
    const double ms = ms_since(t0);
    const bool ok = sum == mpmc_expected_sum(n);
    json_line(impl, o, iter)
        .num("ms", ms)
        .num("million_msgs_per_s", static_cast<double>(n) / ms / 1e3)
        .num("messages", n)
        .num("capacity", static_cast<long long>(mpmc_capacity))
        .str("check", ok ? "ok" : "FAIL")
        .print();
    return ok;
  });
}

}  // namespace bench
