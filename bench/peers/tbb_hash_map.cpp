// tbb_hash_map.cpp: oneTBB's concurrent_hash_map (Debian libtbb-dev) on
// bench/hash_map_workload.hpp. Finds use a const_accessor (a read lock on the element).
#include <tbb/concurrent_hash_map.h>

#include "hash_map_workload.hpp"

namespace {
struct adapter {
  using map_type = tbb::concurrent_hash_map<int, int>;
  map_type map;
  void insert(int key) { map.insert({key, key}); }
  void find(int key) {
    map_type::const_accessor found;
    (void)map.find(found, key);
  }
  void erase(int key) { map.erase(key); }
  bool contains(int key) { return map.count(key) != 0; }
  long long size() { return static_cast<long long>(map.size()); }
};
}  // namespace

int main(int argc, char** argv) { return bench::hash_map_main<adapter>("tbb", argc, argv); }
