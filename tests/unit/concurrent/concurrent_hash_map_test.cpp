#include "brigade/concurrent/concurrent_hash_map.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "brigade/runtime/runtime.hpp"
#include "brigade/runtime/spawn.hpp"

namespace {

TEST(concurrent_hash_map, behaves_like_a_map_on_one_thread) {
  brigade::concurrent_hash_map<int, std::string> map(4);
  std::map<int, std::string> model;
  std::mt19937 random(7);
  for (int i = 0; i < 20000; ++i) {
    const int key = static_cast<int>(random() % 500);
    switch (random() % 5) {
      case 0: EXPECT_EQ(map.insert(key, std::to_string(i)), model.emplace(key, std::to_string(i)).second); break;
      case 1: EXPECT_EQ(map.erase(key), model.erase(key) == 1); break;
      case 2: {
        const bool inserted = model.insert_or_assign(key, "x" + std::to_string(i)).second;
        EXPECT_EQ(map.insert_or_assign(key, "x" + std::to_string(i)), inserted);
        break;
      }
      case 3: {
        const bool present = model.count(key) == 1;
        if (present) model[key] += "!";
        EXPECT_EQ(map.update(key, [](std::string& v) { v += "!"; }), present);
        break;
      }
      default: {
        const auto found = map.find(key);
        const auto it = model.find(key);
        ASSERT_EQ(found.has_value(), it != model.end()) << "key " << key;
        if (found) {
          EXPECT_EQ(*found, it->second);
        }
      }
    }
  }
  EXPECT_EQ(map.size(), model.size());
  std::map<int, std::string> seen;
  map.for_each([&](const int& k, const std::string& v) { EXPECT_TRUE(seen.emplace(k, v).second); });
  EXPECT_EQ(seen, model);
  map.clear();
  EXPECT_TRUE(map.empty());
}

TEST(concurrent_hash_map, get_or_compute_runs_once_per_key_under_contention) {
  brigade::concurrent_hash_map<int, int> map;
  std::atomic<int> computations{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int key = 0; key < 1000; ++key) {
        const int value = map.get_or_compute(key, [&] {
          computations.fetch_add(1);
          return key * 2;
        });
        EXPECT_EQ(value, key * 2);
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(computations.load(), 1000);
  EXPECT_EQ(map.size(), 1000u);
}

TEST(concurrent_hash_map, a_throwing_computation_inserts_nothing) {
  brigade::concurrent_hash_map<std::string, int> map;
  EXPECT_THROW(map.get_or_compute("k", []() -> int { throw std::runtime_error("no"); }), std::runtime_error);
  EXPECT_FALSE(map.contains("k"));
  EXPECT_EQ(map.get_or_compute("k", [] { return 3; }), 3);
}

TEST(concurrent_hash_map, tasks_and_threads_update_counters_without_losing_any) {
  brigade::runtime rt({.worker_threads = 2});
  brigade::concurrent_hash_map<int, long> map(8);
  for (int key = 0; key < 64; ++key) map.insert(key, 0);
  std::vector<brigade::join_handle<void>> tasks;
  for (int t = 0; t < 8; ++t)
    tasks.push_back(rt.spawn([](brigade::concurrent_hash_map<int, long>& m, int seed) -> brigade::task<void> {
      for (int i = 0; i < 5000; ++i) m.update((i * 7 + seed) % 64, [](long& v) { ++v; });
      co_return;
    }(map, t)));
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5000; ++i) map.update((i * 13 + t) % 64, [](long& v) { ++v; });
    });
  for (auto& h : tasks) h.join();
  for (auto& t : threads) t.join();
  long total = 0;
  map.for_each([&](const int&, const long& v) { total += v; });
  EXPECT_EQ(total, 10 * 5000);
}

TEST(concurrent_hash_map, erase_keeps_every_other_key_reachable) {
  // Keys that collide into long probe runs: erasing from the middle must not hide later ones.
  struct collide {
    std::size_t operator()(int k) const noexcept { return static_cast<std::size_t>(k % 3); }
  };
  brigade::concurrent_hash_map<int, int, collide> map(1);
  for (int k = 0; k < 300; ++k) map.insert(k, k);
  for (int k = 0; k < 300; k += 2) EXPECT_TRUE(map.erase(k));
  for (int k = 0; k < 300; ++k) EXPECT_EQ(map.find(k), k % 2 ? std::optional<int>(k) : std::nullopt) << k;
}

TEST(concurrent_hash_map, using_the_same_shard_from_inside_a_callback_is_an_error_not_a_hang) {
  brigade::concurrent_hash_map<int, int> map(1);  // one shard: every key shares it
  map.insert(1, 1);
  EXPECT_THROW(map.update(1, [&](int&) { map.insert(2, 2); }), brigade::usage_error);
  EXPECT_THROW(map.visit(1, [&](const int&) { (void)map.find(1); }), brigade::usage_error);
  EXPECT_THROW(map.visit(1, [&](const int&) { map.erase(1); }), brigade::usage_error);
  EXPECT_THROW(map.get_or_compute(5, [&] { return *map.find(1); }), brigade::usage_error);
  EXPECT_TRUE(map.insert(2, 2));  // the failed nested calls left the shard usable
  EXPECT_FALSE(map.contains(5));
  brigade::concurrent_hash_map<int, int> other(1);
  other.insert(1, 1);
  EXPECT_TRUE(map.visit(1, [&](const int&) { EXPECT_EQ(other.find(1), 1); }));  // another map is fine
}

}  // namespace
