#include "brigade/detail/work_stealing_deque.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace {

using brigade::detail::work_stealing_deque;

void* item(std::uintptr_t i) { return reinterpret_cast<void*>(i); }

/// Counts how many times each item was taken (items are the integers 1..n).
class take_counts {
 public:
  explicit take_counts(std::uintptr_t items) : counts_(items + 1) {}
  void record(void* taken_item) { counts_[reinterpret_cast<std::uintptr_t>(taken_item)].fetch_add(1); }
  /// Batch-steals `max` at a time until `done` is set and the deque looks empty (of public
  /// items; of all items when `including_private`).
  void steal_in_batches(work_stealing_deque& deque, std::size_t max, const std::atomic<bool>& done,
                        bool including_private = false) {
    std::vector<void*> out(max);
    auto looks_empty = [&] {
      return (including_private ? deque.total_size_hint() : deque.size_hint()) == 0;
    };
    while (!done.load(std::memory_order_acquire) || !looks_empty()) {
      const std::size_t n = including_private
                                ? deque.steal_batch_including_private(out.data(), max)
                                : deque.steal_batch(out.data(), max);
      for (std::size_t k = 0; k < n; ++k) record(out[k]);
    }
  }
  std::size_t total() const {
    std::size_t sum = 0;
    for (const auto& count : counts_) sum += static_cast<std::size_t>(count.load());
    return sum;
  }
  void add(const take_counts& other) {
    for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i].fetch_add(other.counts_[i].load());
  }
  void expect_each_taken_once() const {
    for (std::uintptr_t i = 1; i < counts_.size(); ++i) ASSERT_EQ(counts_[i].load(), 1) << "item " << i;
  }

 private:
  std::vector<std::atomic<int>> counts_;
};

TEST(work_stealing_deque, owner_pops_lifo_thieves_steal_fifo) {
  work_stealing_deque deque(4);
  for (std::uintptr_t i = 1; i <= 3; ++i) deque.push(item(i));
  EXPECT_EQ(deque.size_hint(), 3);
  EXPECT_EQ(deque.steal(), item(1));
  EXPECT_EQ(deque.pop(), item(3));
  EXPECT_EQ(deque.pop(), item(2));
  EXPECT_EQ(deque.pop(), nullptr);
  EXPECT_EQ(deque.steal(), nullptr);
}

TEST(work_stealing_deque, grows_past_its_initial_capacity) {
  work_stealing_deque deque(2);
  for (std::uintptr_t i = 1; i <= 1000; ++i) deque.push(item(i));
  EXPECT_EQ(deque.steal(), item(1));
  for (std::uintptr_t i = 1000; i >= 2; --i) ASSERT_EQ(deque.pop(), item(i));
  EXPECT_TRUE(deque.empty_hint());
}

TEST(work_stealing_deque, a_batch_steal_takes_about_half_oldest_first) {
  work_stealing_deque deque(4);
  for (std::uintptr_t i = 1; i <= 10; ++i) deque.push(item(i));
  void* out[8];
  ASSERT_EQ(deque.steal_batch(out, 8), 5u);
  for (std::uintptr_t i = 0; i < 5; ++i) EXPECT_EQ(out[i], item(i + 1));
  ASSERT_EQ(deque.steal_batch(out, 2), 2u);  // capped by max
  EXPECT_EQ(out[0], item(6));
  ASSERT_EQ(deque.steal_batch(out, 8), 2u);  // half of 3, rounded up
  EXPECT_EQ(out[0], item(8));
  EXPECT_EQ(out[1], item(9));
  ASSERT_EQ(deque.steal_batch(out, 8), 1u);  // the last one
  EXPECT_EQ(out[0], item(10));
  EXPECT_EQ(deque.pop(), nullptr);
  EXPECT_EQ(deque.steal_batch(out, 8), 0u);
  deque.push(item(11));  // usable after being emptied by thieves
  EXPECT_EQ(deque.pop(), item(11));
}

// Invariant: with one owner pushing and popping and two thieves stealing (one item at a time, or
// in batches), every item is taken exactly once.
TEST(work_stealing_deque, every_item_is_taken_exactly_once_under_concurrent_steals) {
  constexpr std::uintptr_t items = 200'000;
  work_stealing_deque deque(8);
  take_counts taken(items);
  std::atomic<bool> done{false};
  std::thread a([&] {
    while (!done.load(std::memory_order_acquire) || !deque.empty_hint())
      if (void* p = deque.steal()) taken.record(p);
  });
  std::thread b([&] { taken.steal_in_batches(deque, 16, done); });
  for (std::uintptr_t i = 1; i <= items; ++i) {
    deque.push(item(i));
    if (i % 3 == 0)
      if (void* p = deque.pop()) taken.record(p);
  }
  while (void* p = deque.pop()) taken.record(p);
  done.store(true, std::memory_order_release);
  a.join();
  b.join();
  taken.expect_each_taken_once();
}

// The owner keeps the deque nearly empty (a few pushes, then pops until empty), so that it and
// two batch thieves keep racing for the last items: still, every item is taken exactly once.
TEST(work_stealing_deque, owner_and_thieves_racing_for_the_last_items_take_each_once) {
  constexpr std::uintptr_t items = 200'000;
  work_stealing_deque deque(4);
  take_counts taken(items);
  std::atomic<bool> done{false};
  std::thread a([&] { taken.steal_in_batches(deque, 4, done); });
  std::thread b([&] { taken.steal_in_batches(deque, 4, done); });
  std::uintptr_t next = 1;
  while (next <= items) {
    const std::uintptr_t burst = 1 + next % 7;
    for (std::uintptr_t k = 0; k < burst && next <= items; ++k) deque.push(item(next++));
    while (void* p = deque.pop()) taken.record(p);
  }
  done.store(true, std::memory_order_release);
  a.join();
  b.join();
  // A pop may report empty while a thief holds a claim; what the thief did not take is still
  // there for the owner.
  while (void* p = deque.pop()) taken.record(p);
  taken.expect_each_taken_once();
}

TEST(work_stealing_deque, private_items_are_not_stolen_until_published) {
  work_stealing_deque deque(4);
  deque.push(item(1));
  deque.push_private(item(2));
  deque.push_private(item(3));
  EXPECT_TRUE(deque.has_private());
  EXPECT_EQ(deque.size_hint(), 1);
  EXPECT_EQ(deque.total_size_hint(), 3);
  void* out[8];
  ASSERT_EQ(deque.steal_batch(out, 8), 1u);  // only the public item
  EXPECT_EQ(out[0], item(1));
  EXPECT_EQ(deque.steal_batch(out, 8), 0u);
  deque.publish();
  EXPECT_FALSE(deque.has_private());
  ASSERT_EQ(deque.steal_batch(out, 8), 1u);  // half of two, oldest first
  EXPECT_EQ(out[0], item(2));
  EXPECT_EQ(deque.pop(), item(3));
  EXPECT_EQ(deque.pop(), nullptr);
}

TEST(work_stealing_deque, the_owner_pops_private_then_public_items_newest_first) {
  work_stealing_deque deque(2);  // grows with private items in it
  deque.push(item(1));
  deque.push(item(2));
  deque.push_private(item(3));
  deque.push_private(item(4));
  deque.push_private(item(5));
  for (std::uintptr_t expected = 5; expected >= 1; --expected) EXPECT_EQ(deque.pop(), item(expected));
  EXPECT_EQ(deque.pop(), nullptr);
  EXPECT_EQ(deque.total_size_hint(), 0);
  deque.push_private(item(6));  // reusable after it ran empty
  EXPECT_EQ(deque.pop(), item(6));
}

TEST(work_stealing_deque, a_steal_including_private_items_takes_them_oldest_first) {
  if (!brigade::detail::seam::enable_heavy_fence()) GTEST_SKIP() << "membarrier(2) unavailable";
  work_stealing_deque deque(8);
  for (std::uintptr_t i = 1; i <= 4; ++i) deque.push_private(item(i));
  void* out[8];
  EXPECT_EQ(deque.steal_batch(out, 8), 0u);
  ASSERT_EQ(deque.steal_batch_including_private(out, 8), 2u);
  EXPECT_EQ(out[0], item(1));
  EXPECT_EQ(out[1], item(2));
  EXPECT_EQ(deque.pop(), item(4));
  EXPECT_EQ(deque.pop(), item(3));
  EXPECT_EQ(deque.pop(), nullptr);
  // The owner publishes and pushes again after a thief took private items past `split`.
  deque.push_private(item(5));
  deque.publish();
  deque.push_private(item(6));
  ASSERT_EQ(deque.steal_batch(out, 8), 1u);
  EXPECT_EQ(out[0], item(5));
  EXPECT_EQ(deque.pop(), item(6));
  EXPECT_EQ(deque.pop(), nullptr);
}

// The owner pushes mostly private items, publishes now and then, and pops down to empty, while
// one thief steals public items and another steals including private ones (with the heavy
// fence): every item is still taken exactly once.
TEST(work_stealing_deque, private_pops_racing_both_kinds_of_thieves_take_each_once) {
  if (!brigade::detail::seam::enable_heavy_fence()) GTEST_SKIP() << "membarrier(2) unavailable";
  constexpr std::uintptr_t items = 100'000;
  work_stealing_deque deque(4);
  take_counts taken(items);
  std::atomic<bool> done{false};
  std::atomic<int> started{0};
  std::thread a([&] {
    started.fetch_add(1);
    taken.steal_in_batches(deque, 4, done);
  });
  take_counts taken_by_b(items);
  std::thread b([&] {
    started.fetch_add(1);
    taken_by_b.steal_in_batches(deque, 4, done, /*including_private=*/true);
  });
  while (started.load() < 2) std::this_thread::yield();
  constexpr std::uintptr_t left_private = 3;  // pushed last and never popped: only b takes them
  std::uintptr_t next = 1;
  for (std::uintptr_t round = 0; next <= items - left_private; ++round) {
    const std::uintptr_t burst = 1 + next % 7;
    for (std::uintptr_t k = 0; k < burst && next <= items - left_private; ++k) {
      if (next % 5 == 0) deque.push(item(next++));
      else deque.push_private(item(next++));
    }
    // Mostly leave one behind, so that items pile up for the thieves; now and then run dry.
    const std::uintptr_t pops = round % 16 == 0 ? items : burst - 1;
    for (std::uintptr_t k = 0; k < pops; ++k) {
      void* p = deque.pop();
      if (p == nullptr) break;
      taken.record(p);
    }
  }
  while (next <= items) deque.push_private(item(next++));
  done.store(true, std::memory_order_release);
  a.join();
  b.join();
  while (void* p = deque.pop()) taken.record(p);
  EXPECT_GE(taken_by_b.total(), left_private) << "private items were left for the thief to take";
  taken.add(taken_by_b);
  taken.expect_each_taken_once();
}

}  // namespace
