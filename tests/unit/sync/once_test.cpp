#include "brigade/sync/once.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "../until_parked.hpp"
#include "brigade/runtime/runtime.hpp"
#include "brigade/runtime/spawn.hpp"
#include "brigade/runtime/yield_now.hpp"
#include "brigade/sync/once_cell.hpp"

namespace {

using namespace std::chrono_literals;

TEST(once_cell, concurrent_tasks_and_threads_see_one_initialisation) {
  brigade::runtime rt({.worker_threads = 2});
  brigade::once_cell<std::string> cell;
  std::atomic<int> runs{0};
  std::vector<brigade::join_handle<std::string>> handles;
  for (int t = 0; t < 20; ++t)
    handles.push_back(rt.spawn([](brigade::once_cell<std::string>& c, std::atomic<int>& r) -> brigade::task<std::string> {
      const std::string& value = co_await c.get_or_init_async([&r]() -> brigade::task<std::string> {
        r.fetch_add(1);
        co_await brigade::yield_now();  // others arrive while this runs
        co_return std::string("loaded");
      });
      co_return value;
    }(cell, runs)));
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&] {
      EXPECT_EQ(cell.get_or_init([&] {
        runs.fetch_add(1);
        return std::string("loaded");
      }), "loaded");
    });
  for (auto& h : handles) EXPECT_EQ(h.join(), "loaded");
  for (auto& t : threads) t.join();
  EXPECT_EQ(runs.load(), 1);
  ASSERT_NE(cell.get(), nullptr);
  EXPECT_EQ(*cell.get(), "loaded");
}

TEST(once_cell, a_failed_initialiser_lets_the_next_caller_try) {
  brigade::once_cell<int> cell;
  EXPECT_EQ(cell.get(), nullptr);
  EXPECT_THROW(cell.get_or_init([]() -> int { throw std::runtime_error("first try fails"); }),
               std::runtime_error);
  EXPECT_FALSE(cell.is_initialized());
  EXPECT_EQ(cell.get_or_init([] { return 7; }), 7);
  EXPECT_EQ(cell.get_or_init([] { return 8; }), 7);
  brigade::runtime rt({.worker_threads = 1});
  EXPECT_EQ(rt.block_on([](brigade::once_cell<int>& c) -> brigade::task<int> {
              co_return co_await c.get_or_init_async([] { return 9; });
            }(cell)),
            7);
}

TEST(once, runs_the_action_exactly_once_for_tasks_and_threads) {
  brigade::runtime rt({.worker_threads = 2});
  brigade::once setup;
  std::atomic<int> runs{0};
  std::atomic<int> after{0};
  std::vector<brigade::join_handle<void>> handles;
  for (int t = 0; t < 20; ++t)
    handles.push_back(rt.spawn([](brigade::once& o, std::atomic<int>& r, std::atomic<int>& a) -> brigade::task<void> {
      co_await o.call_async([&r]() -> brigade::task<void> {
        co_await brigade::yield_now();
        r.fetch_add(1);
      });
      if (r.load() == 1) a.fetch_add(1);  // every caller returns after the action ran
    }(setup, runs, after)));
  std::thread thread([&] {
    setup.call([&] { runs.fetch_add(1); });
    if (runs.load() == 1) after.fetch_add(1);
  });
  for (auto& h : handles) h.join();
  thread.join();
  EXPECT_EQ(runs.load(), 1);
  EXPECT_EQ(after.load(), 21);
  EXPECT_TRUE(setup.is_done());
}

TEST(once, a_throwing_action_is_retried_by_the_next_caller) {
  brigade::once setup;
  EXPECT_THROW(setup.call([] { throw std::runtime_error("not yet"); }), std::runtime_error);
  EXPECT_FALSE(setup.is_done());
  int runs = 0;
  setup.call([&] { ++runs; });
  setup.call([&] { ++runs; });
  EXPECT_EQ(runs, 1);
}

// While one thread runs a slow failing action, another waits, then runs its own.
TEST(once, a_waiter_runs_its_action_after_the_first_one_failed) {
  brigade::once setup;
  std::atomic<bool> first_running{false};
  std::atomic<int> runs{0};
  const long second = brigade_test::this_thread_id();
  std::thread first([&] {
    EXPECT_THROW(setup.call([&] {
      first_running = true;
      brigade_test::until_thread_sleeps(second);  // the second caller waits for this action
      throw std::runtime_error("fails");
    }), std::runtime_error);
  });
  while (!first_running.load()) std::this_thread::yield();
  setup.call([&] { runs.fetch_add(1); });
  first.join();
  EXPECT_EQ(runs.load(), 1);
  EXPECT_TRUE(setup.is_done());
}

}  // namespace

namespace {

// A party that sees the once done may destroy it at once, even while the call that ran the
// action is still finishing (AddressSanitizer reports a use after free otherwise).
TEST(once, may_be_destroyed_as_soon_as_it_is_seen_done) {
  std::atomic<brigade::once*> current{nullptr};
  std::atomic<bool> stop{false};
  std::thread runner([&] {
    while (!stop.load()) {
      if (brigade::once* o = current.exchange(nullptr)) o->call([] {});
    }
  });
  for (int i = 0; i < 5000; ++i) {
    auto* o = new brigade::once();
    current.store(o);
    while (!o->is_done()) {
    }
    delete o;
  }
  stop = true;
  runner.join();
}

}  // namespace
