#include "brigade/detail/timer_wheel.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <set>
#include <utility>
#include <vector>

namespace {

using brigade::detail::timer_node;
using brigade::detail::timer_wheel;

constexpr std::uint64_t max_tick = std::numeric_limits<std::uint64_t>::max();
// The ticks a slot of `level` spans (level 0: one tick; level_span(6): the wheel's range).
constexpr std::uint64_t level_span(unsigned level) { return timer_wheel::span_of(level); }

struct entry : timer_node {
  int id = 0;
};

// The ids of a chain that advance() returned, sorted; checks that each node has left the wheel.
std::vector<int> ids_of(timer_node* chain) {
  std::vector<int> ids;
  for (timer_node* node = chain; node != nullptr; node = node->next) {
    EXPECT_FALSE(node->in_wheel());
    ids.push_back(static_cast<entry*>(node)->id);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

// Inserts one node at `deadline` into a fresh wheel at `start`, then checks that the tick
// before the deadline returns nothing and the deadline itself returns the node.
void expect_fires_exactly_at(std::uint64_t start, std::uint64_t deadline) {
  SCOPED_TRACE(testing::Message() << "start " << start << ", deadline " << deadline);
  timer_wheel wheel(start);
  entry node;
  node.deadline = deadline;
  ASSERT_TRUE(wheel.insert(node));
  ASSERT_TRUE(wheel.next_wakeup().has_value());
  EXPECT_LE(*wheel.next_wakeup(), deadline);
  EXPECT_EQ(wheel.advance(deadline - 1), nullptr);
  EXPECT_TRUE(node.in_wheel());
  EXPECT_EQ(wheel.elapsed(), deadline - 1);
  EXPECT_EQ(wheel.advance(deadline), &node);
  EXPECT_EQ(node.next, nullptr);
  EXPECT_FALSE(node.in_wheel());
  EXPECT_TRUE(wheel.empty());
  EXPECT_EQ(wheel.next_wakeup(), std::nullopt);
}

// Advances only ever to next_wakeup(), as a driver that sleeps until then does, and checks that
// the node comes out at its deadline, never at an earlier wakeup.
void expect_wakeups_reach(std::uint64_t start, std::uint64_t deadline) {
  SCOPED_TRACE(testing::Message() << "start " << start << ", deadline " << deadline);
  timer_wheel wheel(start);
  entry node;
  node.deadline = deadline;
  ASSERT_TRUE(wheel.insert(node));
  for (int steps = 0; steps < 1000; ++steps) {
    const std::optional<std::uint64_t> wakeup = wheel.next_wakeup();
    ASSERT_TRUE(wakeup.has_value());
    ASSERT_GT(*wakeup, wheel.elapsed());
    ASSERT_LE(*wakeup, deadline);
    timer_node* fired = wheel.advance(*wakeup);
    if (fired != nullptr) {
      EXPECT_EQ(fired, &node);
      EXPECT_EQ(*wakeup, deadline);
      EXPECT_TRUE(wheel.empty());
      return;
    }
  }
  ADD_FAILURE() << "the node did not fire within 1000 wakeups";
}

TEST(timer_wheel, insert_of_a_due_deadline_returns_false) {
  timer_wheel wheel(100);
  EXPECT_EQ(wheel.elapsed(), 100u);
  entry node;
  node.deadline = 100;
  EXPECT_FALSE(wheel.insert(node));
  node.deadline = 3;
  EXPECT_FALSE(wheel.insert(node));
  EXPECT_FALSE(node.in_wheel());
  EXPECT_TRUE(wheel.empty());
  EXPECT_EQ(wheel.next_wakeup(), std::nullopt);
  node.deadline = 101;
  EXPECT_TRUE(wheel.insert(node));
  EXPECT_TRUE(node.in_wheel());
  EXPECT_EQ(wheel.size(), 1u);
}

TEST(timer_wheel, fires_exactly_at_its_deadline) {
  // Every level's edges, from tick 0 and from a start that is not aligned to any level.
  for (std::uint64_t start : {std::uint64_t{0}, std::uint64_t{1'234'567'891}}) {
    for (unsigned level = 0; level < 6; ++level) {
      const std::uint64_t span = level_span(level);
      const std::uint64_t slots = timer_wheel::slots_of(level);
      for (std::uint64_t delta : {span, span + 1, 2 * span - 1, (slots - 1) * span, slots * span - 1})
        expect_fires_exactly_at(start, start + delta);
    }
    expect_fires_exactly_at(start, start + 1);
  }
}

TEST(timer_wheel, driver_following_next_wakeup_fires_at_the_deadline) {
  for (std::uint64_t deadline : {std::uint64_t{1}, std::uint64_t{64}, std::uint64_t{4097},
                                 level_span(4) * 5 + 77, level_span(6) - 1})
    expect_wakeups_reach(0, deadline);
  expect_wakeups_reach(999, level_span(6) + 12345);
  expect_wakeups_reach(max_tick - (std::uint64_t{1} << 40), max_tick);
  expect_wakeups_reach(max_tick - (std::uint64_t{1} << 40), max_tick - 1);
}

TEST(timer_wheel, removed_node_does_not_fire) {
  timer_wheel wheel;
  entry kept;
  entry removed;
  kept.deadline = 500;
  removed.deadline = 500;
  ASSERT_TRUE(wheel.insert(kept));
  ASSERT_TRUE(wheel.insert(removed));
  EXPECT_TRUE(wheel.remove(removed));
  EXPECT_FALSE(removed.in_wheel());
  EXPECT_FALSE(wheel.remove(removed));
  EXPECT_EQ(wheel.size(), 1u);
  EXPECT_EQ(wheel.advance(500), &kept);
  EXPECT_EQ(kept.next, nullptr);
  // Removing the only node of a slot clears the slot: nothing is left to wake up for.
  entry alone;
  alone.deadline = 500 + level_span(3) * 7;
  ASSERT_TRUE(wheel.insert(alone));
  EXPECT_TRUE(wheel.remove(alone));
  EXPECT_EQ(wheel.next_wakeup(), std::nullopt);
  EXPECT_EQ(wheel.advance(max_tick), nullptr);
}

TEST(timer_wheel, next_wakeup_is_never_later_than_the_earliest_deadline) {
  timer_wheel wheel;
  EXPECT_EQ(wheel.next_wakeup(), std::nullopt);
  entry far;
  entry near;
  far.deadline = level_span(5) * 3 + 9;
  near.deadline = level_span(2) + 5;
  ASSERT_TRUE(wheel.insert(far));
  ASSERT_TRUE(wheel.next_wakeup().has_value());
  EXPECT_LE(*wheel.next_wakeup(), far.deadline);
  ASSERT_TRUE(wheel.insert(near));
  EXPECT_LE(*wheel.next_wakeup(), near.deadline);
  EXPECT_GT(*wheel.next_wakeup(), wheel.elapsed());
  // Nothing is due before the wakeup.
  EXPECT_EQ(wheel.advance(*wheel.next_wakeup() - 1), nullptr);
  EXPECT_EQ(wheel.advance(near.deadline), &near);
  EXPECT_LE(*wheel.next_wakeup(), far.deadline);
  EXPECT_EQ(wheel.advance(far.deadline), &far);
  EXPECT_EQ(wheel.next_wakeup(), std::nullopt);
}

TEST(timer_wheel, far_deadlines_fire_exactly_at_their_deadline) {
  for (std::uint64_t deadline :
       {level_span(6), level_span(6) + 1, level_span(6) * 2 + 63, std::uint64_t{1} << 40,
        std::uint64_t{1} << 63, max_tick - 64, max_tick - 1, max_tick})
    expect_fires_exactly_at(0, deadline);
  expect_fires_exactly_at(max_tick - 1, max_tick);
  expect_fires_exactly_at(max_tick - level_span(6) - 5, max_tick);
}

TEST(timer_wheel, big_jumps_return_exactly_the_due_nodes) {
  std::vector<std::uint64_t> deadlines;
  for (unsigned level = 0; level <= 6; ++level)
    for (std::uint64_t multiple : {1, 2, 37, 63, 64, 100})
      deadlines.push_back(level_span(level) * multiple + level);
  deadlines.push_back(max_tick - 3);
  deadlines.push_back(max_tick);
  std::vector<entry> entries(deadlines.size());
  timer_wheel wheel(0);
  for (std::size_t i = 0; i < deadlines.size(); ++i) {
    entries[i].id = static_cast<int>(i);
    entries[i].deadline = deadlines[i];
    ASSERT_TRUE(wheel.insert(entries[i]));
  }
  std::vector<bool> fired(deadlines.size(), false);
  for (std::uint64_t now : {level_span(2) * 50, level_span(5) + 3, level_span(6) * 70 + 11,
                            std::uint64_t{1} << 62, max_tick - 4, max_tick}) {
    SCOPED_TRACE(testing::Message() << "advance to " << now);
    std::vector<int> expected;
    for (std::size_t i = 0; i < deadlines.size(); ++i)
      if (!fired[i] && deadlines[i] <= now) {
        expected.push_back(static_cast<int>(i));
        fired[i] = true;
      }
    EXPECT_EQ(ids_of(wheel.advance(now)), expected);
    EXPECT_EQ(wheel.elapsed(), now);
  }
  EXPECT_TRUE(wheel.empty());
}

TEST(timer_wheel, advance_to_an_earlier_tick_does_nothing) {
  timer_wheel wheel(1000);
  entry node;
  node.deadline = 1001;
  ASSERT_TRUE(wheel.insert(node));
  EXPECT_EQ(wheel.advance(10), nullptr);
  EXPECT_EQ(wheel.advance(1000), nullptr);
  EXPECT_EQ(wheel.elapsed(), 1000u);
  EXPECT_EQ(wheel.size(), 1u);
  EXPECT_EQ(wheel.advance(1001), &node);
}

TEST(timer_wheel, size_counts_inserts_removes_and_fires) {
  timer_wheel wheel;
  std::vector<entry> entries(10);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    entries[i].deadline = 10 * (i + 1);
    ASSERT_TRUE(wheel.insert(entries[i]));
    EXPECT_EQ(wheel.size(), i + 1);
  }
  EXPECT_FALSE(wheel.empty());
  EXPECT_TRUE(wheel.remove(entries[9]));
  EXPECT_EQ(wheel.size(), 9u);
  EXPECT_TRUE(wheel.remove(entries[0]));
  entries[0].deadline = 0;  // due already: refused, not counted
  EXPECT_FALSE(wheel.insert(entries[0]));
  EXPECT_EQ(wheel.size(), 8u);
  EXPECT_EQ(ids_of(wheel.advance(45)).size(), 3u);  // 20, 30, 40
  EXPECT_EQ(wheel.size(), 5u);
  EXPECT_EQ(ids_of(wheel.advance(90)).size(), 5u);
  EXPECT_EQ(wheel.size(), 0u);
  EXPECT_TRUE(wheel.empty());
}

TEST(timer_wheel, fired_node_is_not_removable_and_can_be_inserted_again) {
  timer_wheel wheel;
  entry first;
  entry second;
  first.deadline = 70;
  second.deadline = 70;
  ASSERT_TRUE(wheel.insert(first));
  ASSERT_TRUE(wheel.insert(second));
  timer_node* chain = wheel.advance(70);
  ASSERT_NE(chain, nullptr);
  timer_node* const chained_next = chain->next;
  ASSERT_NE(chained_next, nullptr);
  // remove() of a returned node fails and leaves the chain as it was.
  EXPECT_FALSE(wheel.remove(*chain));
  EXPECT_FALSE(wheel.remove(*chained_next));
  EXPECT_EQ(chain->next, chained_next);
  EXPECT_EQ(chained_next->next, nullptr);
  EXPECT_EQ(wheel.size(), 0u);
  // Both go back in and fire again.
  first.deadline = 70 + level_span(2) + 1;
  second.deadline = 71;
  ASSERT_TRUE(wheel.insert(first));
  ASSERT_TRUE(wheel.insert(second));
  EXPECT_EQ(wheel.advance(71), &second);
  EXPECT_EQ(wheel.advance(first.deadline), &first);
  EXPECT_TRUE(wheel.empty());
}

// Thousands of random inserts, removes and advances against a sorted set of (deadline, id):
// after every advance the wheel returns exactly the model's nodes with deadline <= now.
TEST(timer_wheel, matches_a_sorted_set_model_under_random_operations) {
  constexpr int node_count = 512;
  constexpr int operations = 60'000;
  std::mt19937_64 random(20240611);
  auto below = [&random](std::uint64_t bound) {  // uniform in [0, bound)
    return std::uniform_int_distribution<std::uint64_t>(0, bound - 1)(random);
  };

  std::vector<entry> entries(node_count);
  for (int i = 0; i < node_count; ++i) entries[i].id = i;
  std::set<std::pair<std::uint64_t, int>> model;
  timer_wheel wheel(below(std::uint64_t{1} << 40));
  std::uint64_t returned = 0;

  // A deadline offset spread over every level, past the wheel's reach, and near UINT64_MAX.
  auto random_delay = [&]() -> std::uint64_t {
    switch (below(10)) {
      case 0: return below(64);
      case 1: case 2: return below(level_span(2));
      case 3: return below(level_span(3));
      case 4: return below(level_span(4));
      case 5: return below(level_span(5));
      case 6: return below(level_span(6));
      case 7: return level_span(6) - 2 + below(4);
      case 8: return level_span(6) + below(level_span(6) * 8);
      default: return std::uint64_t{1} << below(64);
    }
  };
  auto check_advance = [&](std::uint64_t now) {
    std::vector<int> expected;
    while (!model.empty() && model.begin()->first <= now) {
      expected.push_back(model.begin()->second);
      model.erase(model.begin());
    }
    std::sort(expected.begin(), expected.end());
    const std::vector<int> got = ids_of(wheel.advance(now));
    ASSERT_EQ(got, expected) << "advance to " << now;
    returned += got.size();
  };

  for (int step = 0; step < operations; ++step) {
    const std::uint64_t choice = below(100);
    if (choice < 45) {
      entry& node = entries[below(node_count)];
      if (node.in_wheel()) continue;
      const std::uint64_t elapsed = wheel.elapsed();
      const std::uint64_t delay = random_delay();
      node.deadline = delay > max_tick - elapsed ? max_tick : elapsed + delay;
      const bool inserted = wheel.insert(node);
      ASSERT_EQ(inserted, node.deadline > elapsed);
      if (inserted) model.emplace(node.deadline, node.id);
    } else if (choice < 60) {
      entry& node = entries[below(node_count)];
      const bool was_in = node.in_wheel();
      ASSERT_EQ(wheel.remove(node), was_in);
      if (was_in) model.erase({node.deadline, node.id});
    } else {
      const std::uint64_t elapsed = wheel.elapsed();
      std::uint64_t now = elapsed;
      const std::optional<std::uint64_t> wakeup = wheel.next_wakeup();
      const std::uint64_t how = below(10);
      if (how < 3 && wakeup) {
        now = *wakeup - (how == 0 ? 1 : 0);  // to the wakeup, or the tick before it
      } else if (how < 6) {
        now = elapsed + below(200);
      } else if (how < 8) {
        now = elapsed + below(level_span(4));
      } else if (how < 9) {
        now = elapsed + below(level_span(6) * 4);
      } else {
        now = elapsed - std::min(elapsed, below(3));  // backwards or standing still: a no-op
      }
      check_advance(now);
      ASSERT_EQ(wheel.elapsed(), std::max(elapsed, now));
    }
    ASSERT_EQ(wheel.size(), model.size());
    ASSERT_EQ(wheel.empty(), model.empty());
    const std::optional<std::uint64_t> wakeup = wheel.next_wakeup();
    ASSERT_EQ(wakeup.has_value(), !model.empty());
    if (wakeup) {
      ASSERT_GT(*wakeup, wheel.elapsed());
      ASSERT_LE(*wakeup, model.begin()->first);
    }
  }
  EXPECT_GT(returned, 1000u);  // the run exercised firing, not only inserting
  check_advance(max_tick);
  EXPECT_TRUE(wheel.empty());
  EXPECT_TRUE(model.empty());
}

// Staging (timer_wheel.hpp): many nodes over several level-2 slots, a driver that follows
// next_wakeup() tick by tick, inserts and removals while slots are being staged. Every node
// fires exactly at its deadline, and no advance moves more than a batch per staged level: the
// moves of a slot happen before the clock reaches it, not all at its start.
TEST(timer_wheel, staged_slots_fire_on_time_and_move_in_batches) {
  constexpr int node_count = 40'000;
  const std::uint64_t window = 3 * level_span(2);  // three level-2 slots
  std::mt19937_64 random(7);
  auto below = [&random](std::uint64_t bound) {
    return std::uniform_int_distribution<std::uint64_t>(0, bound - 1)(random);
  };
  std::vector<entry> entries(node_count);
  for (int i = 0; i < node_count; ++i) entries[i].id = i;
  std::set<std::pair<std::uint64_t, int>> model;
  const std::uint64_t start = level_span(2) * 6 - level_span(1) / 2;  // in a level-2 slot's last level-1 slot
  timer_wheel wheel(start);
  auto insert = [&](entry& node) {
    node.deadline = wheel.elapsed() + 1 + below(window);
    ASSERT_TRUE(wheel.insert(node));
    model.emplace(node.deadline, node.id);
  };
  for (int i = 0; i < node_count / 2; ++i) insert(entries[i]);
  int next_to_insert = node_count / 2;
  std::size_t most_moved = 0;
  int advances = 0;
  while (!model.empty()) {
    const std::optional<std::uint64_t> wakeup = wheel.next_wakeup();
    ASSERT_TRUE(wakeup.has_value());
    ASSERT_GT(*wakeup, wheel.elapsed());
    ASSERT_LE(*wakeup, model.begin()->first);
    std::vector<int> expected;
    while (!model.empty() && model.begin()->first <= *wakeup) {
      expected.push_back(model.begin()->second);
      model.erase(model.begin());
    }
    std::sort(expected.begin(), expected.end());
    ASSERT_EQ(ids_of(wheel.advance(*wakeup)), expected) << "advance to " << *wakeup;
    ++advances;
    most_moved = std::max(most_moved, wheel.moved_by_last_advance());
    // Keep inserting (some land straight in next-turn banks) and remove a few staged nodes.
    for (int k = 0; k < 8 && next_to_insert < node_count; ++k) insert(entries[next_to_insert++]);
    if (below(4) == 0 && !model.empty()) {
      entry& node = entries[model.rbegin()->second];
      model.erase(std::prev(model.end()));
      ASSERT_TRUE(wheel.remove(node));
    }
    ASSERT_EQ(wheel.size(), model.size());
  }
  EXPECT_TRUE(wheel.empty());
  EXPECT_EQ(wheel.next_wakeup(), std::nullopt);
  // A plain hierarchical wheel moves a whole level-2 slot (about a third of the nodes, over
  // 10,000) in one advance.
  EXPECT_LE(most_moved, timer_wheel::banked_levels * timer_wheel::stage_batch);
  EXPECT_GT(advances, 1000);
}

// The random-operation model of the test above, at the density where staging batches bind:
// thousands of nodes within a level-3 span, small steps, removals.
TEST(timer_wheel, matches_a_sorted_set_model_with_dense_deadlines_and_small_steps) {
  constexpr int node_count = 3000;
  constexpr int operations = 40'000;
  std::mt19937_64 random(99);
  auto below = [&random](std::uint64_t bound) {
    return std::uniform_int_distribution<std::uint64_t>(0, bound - 1)(random);
  };
  std::vector<entry> entries(node_count);
  for (int i = 0; i < node_count; ++i) entries[i].id = i;
  std::set<std::pair<std::uint64_t, int>> model;
  timer_wheel wheel(level_span(3) - 70);  // the turns of levels 0..2 end soon
  for (int step = 0; step < operations; ++step) {
    const std::uint64_t choice = below(100);
    if (choice < 55) {
      entry& node = entries[below(node_count)];
      if (node.in_wheel()) continue;
      // Hundreds of nodes per level-1 slot: more than a staging batch.
      const std::uint64_t delay = below(3) == 0 ? below(200) : below(level_span(1) * 4);
      node.deadline = wheel.elapsed() + 1 + delay;
      ASSERT_TRUE(wheel.insert(node));
      model.emplace(node.deadline, node.id);
    } else if (choice < 65) {
      entry& node = entries[below(node_count)];
      const bool was_in = node.in_wheel();
      ASSERT_EQ(wheel.remove(node), was_in);
      if (was_in) model.erase({node.deadline, node.id});
    } else {
      const std::optional<std::uint64_t> wakeup = wheel.next_wakeup();
      const std::uint64_t now = below(2) == 0 && wakeup ? *wakeup : wheel.elapsed() + 1 + below(96);
      std::vector<int> expected;
      while (!model.empty() && model.begin()->first <= now) {
        expected.push_back(model.begin()->second);
        model.erase(model.begin());
      }
      std::sort(expected.begin(), expected.end());
      ASSERT_EQ(ids_of(wheel.advance(now)), expected) << "advance to " << now;
    }
    ASSERT_EQ(wheel.size(), model.size());
    const std::optional<std::uint64_t> wakeup = wheel.next_wakeup();
    ASSERT_EQ(wakeup.has_value(), !model.empty());
    if (wakeup) {
      ASSERT_GT(*wakeup, wheel.elapsed());
      ASSERT_LE(*wakeup, model.begin()->first);
    }
  }
  const std::uint64_t last = model.empty() ? wheel.elapsed() + 1 : model.rbegin()->first;
  std::vector<int> expected;
  for (const auto& [deadline, id] : model) expected.push_back(id);
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(ids_of(wheel.advance(last)), expected);
  EXPECT_TRUE(wheel.empty());
}

}  // namespace
