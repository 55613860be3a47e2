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
  /// Batch-steals `max` at a time until `done` is set and the deque looks empty.
  void steal_in_batches(work_stealing_deque& deque, std::size_t max, const std::atomic<bool>& done) {
    std::vector<void*> out(max);
    while (!done.load(std::memory_order_acquire) || !deque.empty_hint()) {
      const std::size_t n = deque.steal_batch(out.data(), max);
      for (std::size_t k = 0; k < n; ++k) record(out[k]);
    }
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

}  // namespace
