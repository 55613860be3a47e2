#include "brigade/sync/latch.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "brigade/runtime/runtime.hpp"

namespace {

TEST(latch, opens_after_the_last_count_down_for_threads_and_tasks) {
  brigade::runtime rt({.worker_threads = 2});
  brigade::latch ready(4);
  std::atomic<int> passed{0};
  auto waiting_task = rt.spawn([](brigade::latch& l, std::atomic<int>& p) -> brigade::task<void> {
    co_await l.wait_async();
    p.fetch_add(1);
  }(ready, passed));
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i)
    threads.emplace_back([&] {
      ready.arrive_and_wait();
      passed.fetch_add(1);
    });
  EXPECT_FALSE(ready.try_wait());
  ready.count_down();
  for (auto& t : threads) t.join();
  waiting_task.join();
  EXPECT_EQ(passed.load(), 4);
  EXPECT_TRUE(ready.try_wait());
  ready.wait();  // stays open
}

// Tasks and threads arrive together: each counts down once and waits for the others.
TEST(latch, tasks_and_threads_arrive_and_wait_together) {
  brigade::runtime rt({.worker_threads = 2});
  brigade::latch all_here(4);
  std::atomic<int> arrived{0}, passed{0};
  std::vector<brigade::join_handle<void>> tasks;
  for (int t = 0; t < 2; ++t)
    tasks.push_back(rt.spawn([](brigade::latch& l, std::atomic<int>& a, std::atomic<int>& p) -> brigade::task<void> {
      a.fetch_add(1);
      co_await l.arrive_and_wait_async();
      EXPECT_EQ(a.load(), 4);  // nobody passes before all four arrived
      p.fetch_add(1);
    }(all_here, arrived, passed)));
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&] {
      arrived.fetch_add(1);
      all_here.arrive_and_wait();
      EXPECT_EQ(arrived.load(), 4);
      passed.fetch_add(1);
    });
  for (auto& h : tasks) h.join();
  for (auto& t : threads) t.join();
  EXPECT_EQ(passed.load(), 4);
  EXPECT_TRUE(all_here.try_wait());
}

TEST(latch, a_zero_count_is_open_from_the_start) {
  brigade::latch open(0);
  EXPECT_TRUE(open.try_wait());
  open.wait();
}

TEST(latch, counting_below_zero_is_a_usage_error_that_changes_nothing) {
  brigade::latch l(2);
  EXPECT_THROW(l.count_down(3), brigade::usage_error);
  EXPECT_FALSE(l.try_wait());
  EXPECT_THROW(l.count_down(-1), brigade::usage_error);
  l.count_down(2);
  EXPECT_TRUE(l.try_wait());
  EXPECT_THROW(l.count_down(), brigade::usage_error);
  EXPECT_THROW(brigade::latch(-1), brigade::usage_error);
}

}  // namespace

namespace {

// A party that sees the latch open may destroy it at once, even while the count_down() that
// opened it is still running (AddressSanitizer reports a use after free otherwise). Polling
// try_wait() makes the window between the count reaching zero and the opener releasing the
// latch's lock as wide as it can be.
TEST(latch, may_be_destroyed_as_soon_as_it_is_seen_open) {
  std::atomic<brigade::latch*> current{nullptr};
  std::atomic<bool> stop{false};
  std::thread opener([&] {
    while (!stop.load()) {
      if (brigade::latch* l = current.exchange(nullptr)) l->count_down();
    }
  });
  for (int i = 0; i < 5000; ++i) {
    auto* l = new brigade::latch(1);
    current.store(l);
    while (!l->try_wait()) {
    }
    delete l;
  }
  stop = true;
  opener.join();
}

}  // namespace
