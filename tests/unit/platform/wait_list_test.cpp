#include "brigade/detail/wait_list.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace {

using brigade::detail::wait_list;
using brigade::detail::waiter;

/// A waiter that records the order in which it is woken.
struct recording_waiter final : waiter {
  recording_waiter(int id_, std::vector<int>& log_) : waiter(&record), id(id_), log(&log_) {}
  static void record(waiter* self) noexcept {
    auto* me = static_cast<recording_waiter*>(self);
    me->log->push_back(me->id);
  }
  int id;
  std::vector<int>* log;
};

TEST(wait_list, pops_in_arrival_order_and_marks_popped_waiters_unlinked) {
  std::vector<int> log;
  recording_waiter a(1, log), b(2, log), c(3, log);
  wait_list list;
  EXPECT_TRUE(list.empty());
  EXPECT_FALSE(a.is_linked());
  list.push_back(a);
  list.push_back(b);
  list.push_back(c);
  EXPECT_TRUE(a.is_linked() && b.is_linked() && c.is_linked());
  EXPECT_EQ(list.pop_front(), &a);
  EXPECT_FALSE(a.is_linked());
  EXPECT_EQ(list.pop_front(), &b);
  EXPECT_EQ(list.pop_front(), &c);
  EXPECT_EQ(list.pop_front(), nullptr);
  EXPECT_TRUE(list.empty());
}

TEST(wait_list, unlinks_from_the_front_the_middle_and_the_back) {
  std::vector<int> log;
  recording_waiter a(1, log), b(2, log), c(3, log), d(4, log);
  wait_list list;
  for (waiter* w : {static_cast<waiter*>(&a), static_cast<waiter*>(&b), static_cast<waiter*>(&c),
                    static_cast<waiter*>(&d)})
    list.push_back(*w);
  EXPECT_TRUE(list.unlink(b));   // middle
  EXPECT_FALSE(list.unlink(b));  // not there any more
  EXPECT_TRUE(list.unlink(d));   // back: the tail moves to c
  EXPECT_TRUE(list.unlink(a));   // front
  recording_waiter e(5, log);
  list.push_back(e);  // after c, which is now first
  wait_list::wake_all(list.take_all());
  EXPECT_EQ(log, (std::vector<int>{3, 5}));
  EXPECT_TRUE(list.empty());
  EXPECT_FALSE(c.is_linked());
  EXPECT_FALSE(e.is_linked());
}

TEST(wait_list, a_waiter_taken_out_can_park_again) {
  std::vector<int> log;
  recording_waiter a(1, log);
  wait_list list;
  list.push_back(a);
  wait_list::wake_all(list.take_all());
  list.push_back(a);
  EXPECT_EQ(list.pop_front(), &a);
  EXPECT_EQ(log, (std::vector<int>{1}));
}

}  // namespace
