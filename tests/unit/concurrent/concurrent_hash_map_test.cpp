#include "brigade/concurrent/concurrent_hash_map.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "../until_parked.hpp"
#include "brigade/runtime/runtime.hpp"
#include "brigade/runtime/spawn.hpp"

namespace {

using namespace std::chrono_literals;

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

/// Starts get_or_compute(key) on a thread whose function blocks until `release` is set.
struct blocked_computation {
  std::atomic<bool> started{false}, release{false};
  std::thread thread;
  blocked_computation(brigade::concurrent_hash_map<int, int>& map, int key, int value)
      : thread([this, &map, key, value] {
          (void)map.get_or_compute(key, [&] {
            started = true;
            while (!release.load()) std::this_thread::yield();
            return value;
          });
        }) {
    while (!started.load()) std::this_thread::yield();
  }
  void finish() {
    release = true;
    thread.join();
  }
};

// Java's get never waits for a computeIfAbsent. Here, with one shard, a find of another key (and
// of the key itself, which is absent until computed) returned only after the computation ended.
TEST(concurrent_hash_map, reads_and_other_keys_never_wait_for_a_computation) {
  brigade::concurrent_hash_map<int, int> map(1);  // one shard: every key shares it
  map.insert(1, 10);
  blocked_computation computing(map, 2, 20);
  // Each of these would wait forever if it waited for the computation (which ends only below).
  EXPECT_EQ(map.find(1), 10);
  EXPECT_EQ(map.find(2), std::nullopt);
  EXPECT_FALSE(map.contains(2));
  EXPECT_EQ(map.size(), 1u);
  EXPECT_TRUE(map.insert(3, 30));
  EXPECT_TRUE(map.update(1, [](int& v) { ++v; }));
  EXPECT_EQ(map.get_or_compute(4, [] { return 40; }), 40);
  computing.finish();
  EXPECT_EQ(map.find(2), 20);
  EXPECT_EQ(map.find(1), 11);
}

// Writes to the key being computed, and other get_or_compute calls for it, wait for its value.
TEST(concurrent_hash_map, writes_to_the_key_being_computed_wait_for_its_value) {
  brigade::concurrent_hash_map<int, int> map(1);
  blocked_computation computing(map, 2, 20);
  std::atomic<int> finished{0};
  std::atomic<long> second_id{0}, writer_id{0};
  std::optional<int> second_result;
  bool inserted = true;
  std::thread second([&] {
    second_id = brigade_test::this_thread_id();
    second_result = map.get_or_compute(2, [] { return -1; });  // must not run
    finished.fetch_add(1);
  });
  std::thread writer([&] {
    writer_id = brigade_test::this_thread_id();
    inserted = map.insert(2, -2);  // after the computation: the key is there
    finished.fetch_add(1);
  });
  brigade_test::until_thread_sleeps(second_id);  // both wait for the computation
  brigade_test::until_thread_sleeps(writer_id);
  EXPECT_EQ(finished.load(), 0);
  computing.finish();
  second.join();
  writer.join();
  EXPECT_EQ(second_result, 20);
  EXPECT_FALSE(inserted);
  EXPECT_EQ(map.find(2), 20);
}

// A computation that throws hands the key to a party that was waiting for it.
TEST(concurrent_hash_map, a_waiting_party_computes_after_a_computation_throws) {
  brigade::concurrent_hash_map<int, int> map(1);
  std::atomic<bool> started{false}, release{false};
  std::thread failing([&] {
    EXPECT_THROW((void)map.get_or_compute(2, [&]() -> int {
      started = true;
      while (!release.load()) std::this_thread::yield();
      throw std::runtime_error("no");
    }), std::runtime_error);
  });
  while (!started.load()) std::this_thread::yield();
  std::optional<int> result;
  std::atomic<long> waiting_id{0};
  std::thread waiting([&] {
    waiting_id = brigade_test::this_thread_id();
    result = map.get_or_compute(2, [] { return 22; });
  });
  brigade_test::until_thread_sleeps(waiting_id);  // it waits for the failing computation
  release = true;
  failing.join();
  waiting.join();
  EXPECT_EQ(result, 22);
  EXPECT_EQ(map.find(2), 22);
}

TEST(concurrent_hash_map, upsert_merge_and_erase_if) {
  brigade::concurrent_hash_map<std::string, int> hits(2);
  EXPECT_TRUE(hits.upsert("a", [] { return 1; }, [](int& n) { ++n; }));
  EXPECT_FALSE(hits.upsert("a", [] { return 1; }, [](int& n) { ++n; }));
  EXPECT_EQ(hits.find("a"), 2);
  EXPECT_EQ(hits.merge("b", 5, [](int old, int add) { return old + add; }), 5);
  EXPECT_EQ(hits.merge("b", 5, [](int old, int add) { return old + add; }), 10);
  for (int k = 0; k < 1000; ++k) hits.insert("k" + std::to_string(k), k);
  // Every odd value goes; the probe runs shift entries back as they do, and none is missed.
  EXPECT_EQ(hits.erase_if([](const std::string&, const int& v) { return v % 2 == 1; }), 500u);
  std::size_t left = 0;
  hits.for_each([&](const std::string&, const int& v) {
    EXPECT_EQ(v % 2, 0);
    ++left;
  });
  EXPECT_EQ(left, 502u);  // 500 even k, "a" (2) and "b" (10)
  EXPECT_EQ(hits.size(), 502u);
  // The shard is the function's own: using it from inside is an error, not a hang.
  EXPECT_THROW(hits.upsert("a", [] { return 0; }, [&](int&) { (void)hits.find("a"); }), brigade::usage_error);
}

// erase_if over keys that collide into long, wrapped probe runs: what the backward shift moves
// back into a slot already passed was passed already; nothing is missed.
TEST(concurrent_hash_map, erase_if_misses_nothing_in_wrapped_probe_runs) {
  struct collide {
    std::size_t operator()(int k) const noexcept { return static_cast<std::size_t>(k % 2); }
  };
  brigade::concurrent_hash_map<int, int, collide> map(1);
  for (int k = 0; k < 200; ++k) map.insert(k, k);
  EXPECT_EQ(map.erase_if([](const int& k, const int&) { return k % 3 != 0; }), 133u);
  for (int k = 0; k < 200; ++k) EXPECT_EQ(map.contains(k), k % 3 == 0) << k;
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
  EXPECT_TRUE(map.insert(2, 2));  // the failed nested calls left the shard usable
  // get_or_compute's function runs outside the lock: the shard is usable from it, except for the
  // key being computed.
  EXPECT_EQ(map.get_or_compute(5, [&] { return *map.find(1) + map.get_or_compute(6, [] { return 60; }); }), 61);
  EXPECT_THROW(map.get_or_compute(7, [&] { return map.get_or_compute(7, [] { return 0; }); }), brigade::usage_error);
  EXPECT_THROW(map.get_or_compute(8, [&] { return map.insert(8, 1) ? 1 : 0; }), brigade::usage_error);
  EXPECT_FALSE(map.contains(7));
  EXPECT_FALSE(map.contains(8));
  brigade::concurrent_hash_map<int, int> other(1);
  other.insert(1, 1);
  EXPECT_TRUE(map.visit(1, [&](const int&) { EXPECT_EQ(other.find(1), 1); }));  // another map is fine
}

}  // namespace
