// runtime_hash_map.cpp: brigade::concurrent_hash_map on bench/hash_map_workload.hpp.
#include <brigade/concurrent/concurrent_hash_map.hpp>

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
}  // namespace

int main(int argc, char** argv) { return bench::hash_map_main<adapter>("brigade", argc, argv); }
