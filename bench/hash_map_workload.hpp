// hash_map_workload.hpp: the concurrent hash map workload, the same for brigade and its peers
// (bench/runtime_hash_map.cpp; bench/peers/cuckoo_hash_map.cpp, libcuckoo; and
// bench/peers/tbb_hash_map.cpp, oneTBB's concurrent_hash_map).
//
//   hash_map  o.threads threads (2 in the table) each run o.n operations (default 5,000,000) on
//             one map of int keys drawn uniformly from [0, 100,000), prefilled with every even
//             key: 90% find, 5% insert, 5% erase, chosen by a per-thread minstd_rand. Reported:
//             million operations per second over all threads. Check: every thread ran its
//             operations and the map's final size is within [0, keys] and equals the number of
//             keys found by a final scan.
#pragma once

#include <atomic>
#include <cstdint>
#include <random>
#include <thread>
#include <vector>

#include "bench_util.hpp"

namespace bench {

constexpr int hash_map_keys = 100'000;
constexpr long long hash_map_default_n = 5'000'000;

/// Map adapter: void insert(int); void find(int); void erase(int); bool contains(int);
/// long long size(). Prefilling uses insert.

/// Keys present, found one by one (checks the map's own size()).
template <class Map>
long long count_present(Map& map) {
  long long n = 0;
  for (int key = 0; key < hash_map_keys; ++key) n += map.contains(key) ? 1 : 0;
  return n;
}
template <class Map>
int run_hash_map(std::string_view impl, const options& o, Map& map) {
  const long long per_thread = o.n > 0 ? o.n : hash_map_default_n;
  for (int key = 0; key < hash_map_keys; key += 2) map.insert(key);
  return run_iterations(o, [&](int iter) {
    std::atomic<long long> done{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < o.threads; ++t)
      threads.emplace_back([&, t] {
        std::minstd_rand random(static_cast<unsigned>(t * 7919 + static_cast<std::size_t>(iter) * 104729 + 1));
        while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
        for (long long i = 0; i < per_thread; ++i) {
          const auto r = static_cast<std::uint32_t>(random());
          const int key = static_cast<int>(r % hash_map_keys);
          const std::uint32_t kind = (r >> 17) % 20;
          if (kind < 18)
            map.find(key);
          else if (kind == 18)
            map.insert(key);
          else
            map.erase(key);
        }
        done.fetch_add(per_thread);
      });
    const auto t0 = steady::now();
    go.store(true, std::memory_order_release);
    for (auto& t : threads) t.join();
    const double ms = ms_since(t0);
    const long long operations = done.load();
    const long long size = map.size();
    const bool ok = operations == per_thread * static_cast<long long>(o.threads) && size >= 0 &&
                    size <= hash_map_keys && size == count_present(map);
    json_line(impl, o, iter)
        .num("ms", ms)
        .num("million_ops_per_s", static_cast<double>(operations) / ms / 1e3)
        .num("operations", operations)
        .num("final_size", size)
        .str("check", ok ? "ok" : "FAIL")
        .print();
    return ok;
  });
}

/// The whole main() of a hash-map benchmark program: parses the options, checks the workload,
/// runs it on a default-constructed Adapter.
template <class Adapter>
int hash_map_main(std::string_view impl, int argc, char** argv) {
  const options o = parse_options(argc, argv);
  if (o.workload != "hash_map") usage_error(argv[0], "workload must be hash_map");
  Adapter map;
  return run_hash_map(impl, o, map);
}

}  // namespace bench
