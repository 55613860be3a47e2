// cuckoo_hash_map.cpp: libcuckoo's cuckoohash_map (Debian libcuckoo-dev) on
// bench/hash_map_workload.hpp.
#include <libcuckoo/cuckoohash_map.hh>

#include "hash_map_workload.hpp"

namespace {
struct adapter {
  libcuckoo::cuckoohash_map<int, int> map;
  void insert(int key) { map.insert(key, key); }
  void find(int key) {
    int value;
    (void)map.find(key, value);
  }
  void erase(int key) { map.erase(key); }
  bool contains(int key) { return map.contains(key); }
  long long size() { return static_cast<long long>(map.size()); }
};
}  // namespace

int main(int argc, char** argv) {
  const bench::options o = bench::parse_options(argc, argv);
  if (o.workload != "hash_map") bench::usage_error(argv[0], "workload must be hash_map");
  adapter map;
  return bench::run_hash_map("libcuckoo", o, map);
}
