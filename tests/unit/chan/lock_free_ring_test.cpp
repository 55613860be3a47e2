// The bounded channel's lock-free ring (chan/lock_free_ring.hpp): FIFO, full and empty, laps,
// the "must lock" flags, and values owned by the ring.
#include "brigade/chan/lock_free_ring.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

namespace {

using ring = brigade::detail::lock_free_ring<int>;
using result = ring::result;

TEST(lock_free_ring, is_fifo_and_reports_full_and_empty) {
  ring r(3);
  std::optional<int> out;
  EXPECT_EQ(r.try_pop(out, true), result::full_or_empty);
  for (int i = 0; i < 3; ++i) {
    int value = i;
    EXPECT_EQ(r.try_push(value, true), result::done);
  }
  int extra = 3;
  EXPECT_EQ(r.try_push(extra, true), result::full_or_empty);
  EXPECT_EQ(extra, 3);  // not moved from
  EXPECT_EQ(r.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(r.try_pop(out, true), result::done);
    EXPECT_EQ(*out, i);
  }
  EXPECT_EQ(r.try_pop(out, true), result::full_or_empty);
  EXPECT_EQ(r.size(), 0u);
}

// With one slot, "free for position t" and "holds position t-1's value" must differ: stamps in
// steps of two keep them apart over many laps.
TEST(lock_free_ring, a_single_slot_alternates_full_and_empty_for_many_laps) {
  ring r(1);
  std::optional<int> out;
  for (int lap = 0; lap < 1000; ++lap) {
    int value = lap;
    ASSERT_EQ(r.try_push(value, true), result::done) << "lap " << lap;
    int second = -1;
    ASSERT_EQ(r.try_push(second, true), result::full_or_empty) << "lap " << lap;
    ASSERT_EQ(r.try_pop(out, true), result::done);
    ASSERT_EQ(*out, lap);
    ASSERT_EQ(r.try_pop(out, true), result::full_or_empty);
  }
}

TEST(lock_free_ring, a_flag_turns_away_fast_operations_but_not_the_lock_holder) {
  ring r(2);
  int value = 7;
  r.set_push_flag();
  EXPECT_TRUE(r.push_flagged());
  EXPECT_EQ(r.try_push(value, true), result::flagged);
  EXPECT_EQ(r.try_push(value, false), result::done);
  r.clear_push_flag();
  EXPECT_FALSE(r.push_flagged());

  std::optional<int> out;
  r.set_pop_flag();
  EXPECT_EQ(r.try_pop(out, true), result::flagged);
  EXPECT_FALSE(out.has_value());
  EXPECT_EQ(r.try_pop(out, false), result::done);
  EXPECT_EQ(*out, 7);
  r.clear_pop_flag();
  EXPECT_FALSE(r.pop_flagged());
}

TEST(lock_free_ring, values_left_in_it_are_destroyed_with_it) {
  auto counter = std::make_shared<int>(0);
  {
    brigade::detail::lock_free_ring<std::shared_ptr<int>> r(4);
    for (int i = 0; i < 3; ++i) {
      auto copy = counter;
      ASSERT_EQ(r.try_push(copy, true), brigade::detail::lock_free_ring<std::shared_ptr<int>>::result::done);
    }
    std::optional<std::shared_ptr<int>> out;
    ASSERT_EQ(r.try_pop(out, true), brigade::detail::lock_free_ring<std::shared_ptr<int>>::result::done);
    out.reset();
    EXPECT_EQ(counter.use_count(), 3);
  }
  EXPECT_EQ(counter.use_count(), 1);
}

// Two pushers and two poppers on threads, spinning on full and empty: every value arrives once,
// and each pusher's values arrive in its order. Capacity 5 finds slots by division, 4 by a mask.
void check_concurrent_pushers_and_poppers(std::size_t capacity) {
  constexpr int per_pusher = 20'000;
  brigade::detail::lock_free_ring<std::uint32_t> r(capacity);
  std::atomic<int> pushers_left{2};
  std::vector<std::vector<std::uint32_t>> seen(2);
  std::vector<std::thread> threads;
  for (std::uint32_t p = 0; p < 2; ++p) {
    threads.emplace_back([&, p] {
      for (std::uint32_t i = 0; i < per_pusher; ++i) {
        std::uint32_t value = (p << 31) | i;
        while (r.try_push(value, true) != brigade::detail::lock_free_ring<std::uint32_t>::result::done)
          std::this_thread::yield();
      }
      pushers_left.fetch_sub(1);
    });
  }
  for (std::size_t c = 0; c < 2; ++c) {
    threads.emplace_back([&, c] {
      std::optional<std::uint32_t> out;
      std::uint32_t last[2] = {0, 0};
      bool any[2] = {false, false};
      while (true) {
        if (r.try_pop(out, true) == brigade::detail::lock_free_ring<std::uint32_t>::result::done) {
          const std::uint32_t pusher = *out >> 31, index = *out & 0x7fffffffu;
          EXPECT_TRUE(!any[pusher] || index > last[pusher]) << "out of order";
          last[pusher] = index;
          any[pusher] = true;
          seen[c].push_back(*out);
        } else if (pushers_left.load() == 0 && r.size() == 0) {
          break;
        } else {
          std::this_thread::yield();
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  std::vector<int> count(2 * per_pusher, 0);
  for (const auto& values : seen)
    for (std::uint32_t v : values) ++count[(v >> 31) * per_pusher + (v & 0x7fffffffu)];
  for (std::size_t i = 0; i < count.size(); ++i) ASSERT_EQ(count[i], 1) << "value " << i << ", capacity " << capacity;
}

TEST(lock_free_ring, concurrent_pushers_and_poppers_lose_and_duplicate_nothing) {
  check_concurrent_pushers_and_poppers(5);
  check_concurrent_pushers_and_poppers(4);
}

}  // namespace
