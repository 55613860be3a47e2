#include "brigade/chan/block_queue.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <memory>
#include <random>
#include <string>

namespace {

using queue = brigade::detail::block_queue<std::string>;

/// Pushes after making room the way the channel does: the spare prepared outside the lock, the
/// fallback allocation only when none was ready.
void push_with_room(queue& q, std::string value, int& fallbacks) {
  if (!q.has_room()) {
    ++fallbacks;
    q.grow_locked();
  }
  q.push(std::move(value));
}

TEST(block_queue, keeps_fifo_order_across_blocks_against_a_model) {
  queue q;
  std::deque<std::string> model;
  std::mt19937 random(11);
  int fallbacks = 0;
  for (int step = 0; step < 20000; ++step) {
    if (q.wants_spare()) {
      EXPECT_EQ(q.install_spare(queue::allocate_block()), nullptr);
    }
    if (model.empty() || random() % 3 != 0) {  // grows on average
      std::string value = "value " + std::to_string(step) + std::string(step % 40, 'x');
      model.push_back(value);
      push_with_room(q, std::move(value), fallbacks);
    } else {
      ASSERT_EQ(q.pop(), model.front());
      model.pop_front();
    }
    ASSERT_EQ(q.size(), model.size());
  }
  EXPECT_EQ(fallbacks, 0);  // a spare was always ready: nothing allocated "under the lock"
  while (!model.empty()) {
    ASSERT_EQ(q.pop(), model.front());
    model.pop_front();
  }
  EXPECT_EQ(q.size(), 0u);
}

TEST(block_queue, a_steady_level_allocates_nothing_and_spares_are_not_leaked) {
  queue q;
  int fallbacks = 0;
  EXPECT_TRUE(q.wants_spare());
  auto* extra = queue::allocate_block();
  EXPECT_EQ(q.install_spare(queue::allocate_block()), nullptr);
  EXPECT_EQ(q.install_spare(extra), extra);  // one spare is enough: the caller frees the other
  queue::free_block(extra);
  // Keep about two blocks' worth in the queue for a long time: drained head blocks become the
  // spare that the next filled tail block takes.
  for (std::size_t i = 0; i < 2 * queue::block_slots; ++i) push_with_room(q, "fill", fallbacks);
  for (int round = 0; round < 10000; ++round) {
    push_with_room(q, "x", fallbacks);
    (void)q.pop();
  }
  EXPECT_EQ(fallbacks, 2);  // the second and third blocks, which no prepare made; none after that
  // The destructor frees what is left (values and blocks): AddressSanitizer checks the leaks.
}

TEST(block_queue, fallback_growth_without_a_spare_still_works) {
  queue q;
  int fallbacks = 0;
  for (int i = 0; i < 1000; ++i) push_with_room(q, std::to_string(i), fallbacks);
  EXPECT_GT(fallbacks, 0);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(q.pop(), std::to_string(i));
}

}  // namespace
