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

int main(int argc, char** argv) { return bench::hash_map_main<adapter>("libcuckoo", argc, argv); }
