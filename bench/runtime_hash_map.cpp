// runtime_hash_map.cpp: brigade::concurrent_hash_map on bench/hash_map_workload.hpp (--workload
// hash_map), and:
//
//   hash_map_compute_reads  finds while get_or_compute runs on the same shard. A map of one shard
//         (so every key shares it) holds 1,024 keys. One thread calls get_or_compute on fresh keys
//         in a loop, each computation busy for 200 µs (a slow lookup, a parse); the other thread
//         (the second CPU) calls find on the present keys for --n ms (default 500). Reported:
//         M finds/s, and the computations done meanwhile. A map that computes under the shard's
//         lock makes every find wait for the computation in progress; Java's get never waits.
#include <brigade/concurrent/concurrent_hash_map.hpp>

#include <atomic>
#include <chrono>
#include <string_view>
#include <thread>

#include "hash_map_workload.hpp"

namespace {
struct adapter {
  brigade::concurrent_hash_map<int, int> map;
  void insert(int key) { map.insert(key, key); }
  void find(int key) { (void)map.find(key); }
  void erase(int key) { map.erase(key); }
  bool contains(int key) { return map.contains(key); }
  long long size() { return static_cast<long long>(map.size()); }
};

int run_compute_reads(const bench::options& o) {
  const auto window = std::chrono::milliseconds(o.n > 0 ? o.n : 500);
  constexpr int present_keys = 1024;
  constexpr auto compute_time = std::chrono::microseconds(200);
  return bench::run_iterations(o, [&](int iter) {
    brigade::concurrent_hash_map<int, int> map(1);
    for (int k = 0; k < present_keys; ++k) map.insert(k, k);
    std::atomic<bool> stop{false};
    long long computations = 0;
    std::thread computer([&] {
      bench::pin_to_cpu(0);
      for (int key = present_keys; !stop.load(std::memory_order_relaxed); ++key) {
        (void)map.get_or_compute(key, [&] {
          const auto until = bench::steady::now() + compute_time;
          while (bench::steady::now() < until) {
          }
          return key;
        });
        ++computations;
      }
    });
    long long finds = 0, found = 0;
    double ms = 0;
    std::thread finder([&] {  // a thread of its own: main stays unpinned, so the next
      bench::pin_to_cpu(1);   // iteration's threads can be pinned to either CPU
      const auto t0 = bench::steady::now();
      while (bench::steady::now() - t0 < window) {
        for (int i = 0; i < 64; ++i, ++finds) found += map.find(static_cast<int>(finds % present_keys)).has_value();
      }
      ms = bench::ms_since(t0);
    });
    finder.join();
    stop = true;
    computer.join();
    const bool ok = found == finds;
    bench::json_line("brigade", o, iter)
        .num("ms", ms)
        .num("million_finds_per_s", static_cast<double>(finds) / ms / 1e3)
        .num("computations", computations)
        .str("check", ok ? "ok" : "FAIL")
        .print();
    return ok;
  });
}
}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string_view(argv[i]) == "--workload" && std::string_view(argv[i + 1]) == "hash_map_compute_reads")
      return run_compute_reads(bench::parse_options(argc, argv));
  return bench::hash_map_main<adapter>("brigade", argc, argv);
}
