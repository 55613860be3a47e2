// spawn_future: a task's outcome as a future (value, error, void), tasks and futures mixed in the
// combinators, and cancel() of the future aborting the task.
#include "brigade/future/spawn_future.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "brigade/future/combinators.hpp"
#include "brigade/future/thread_pool.hpp"
#include "brigade/sync/event.hpp"

namespace {

using namespace std::chrono_literals;

brigade::task<int> square(int x) { co_return x * x; }

brigade::task<int> fails(std::string why) {
  throw std::runtime_error(why);
  co_return 0;
}

brigade::task<void> sets(std::atomic<bool>& flag) {
  flag.store(true);
  co_return;
}

TEST(spawn_future, settles_with_the_tasks_value_error_or_completion) {
  brigade::runtime rt({.worker_threads = 2});
  EXPECT_EQ(brigade::spawn_future(rt, square(7)).get(), 49);
  auto failed = brigade::spawn_future(rt, fails("no flour"));
  try {
    (void)failed.get();
    ADD_FAILURE() << "the task's exception was lost";
  } catch (const std::runtime_error& error) {
    EXPECT_STREQ(error.what(), "no flour");
  }
  std::atomic<bool> flag{false};
  brigade::spawn_future(rt, sets(flag)).get();
  EXPECT_TRUE(flag.load());
}

TEST(spawn_future, tasks_and_pool_futures_combine) {
  brigade::runtime rt({.worker_threads = 2});
  brigade::thread_pool pool(2);
  auto [from_task, from_pool] =
      brigade::all(brigade::spawn_future(rt, square(6)), pool.submit([] { return std::string("bread"); })).get();
  EXPECT_EQ(from_task, 36);
  EXPECT_EQ(from_pool, "bread");

  std::vector<brigade::future<int>> mirrors;
  mirrors.push_back(brigade::spawn_future(rt, fails("mirror down")));
  mirrors.push_back(brigade::spawn_future(rt, square(3)));
  EXPECT_EQ(brigade::any(std::move(mirrors)).get(), 9);
  EXPECT_EQ(brigade::spawn_future(rt, square(4)).then([](int x) { return x + 1; }).get(), 17);
}

brigade::task<int> waits_for(brigade::event& never, std::atomic<bool>& started, std::atomic<int>& ended_by_cancel) {
  started.store(true);
  try {
    co_await never.wait_async();
  } catch (const brigade::task_cancelled&) {
    ended_by_cancel.fetch_add(1);
    throw;
  }
  co_return 1;
}

TEST(spawn_future, cancel_aborts_the_parked_task) {
  brigade::runtime rt({.worker_threads = 1});
  brigade::event never;
  std::atomic<bool> started{false};
  std::atomic<int> ended_by_cancel{0};
  auto pending = brigade::spawn_future(rt, waits_for(never, started, ended_by_cancel));
  // Started: parked on the event, or about to park (the wait sees the stop request then).
  while (!started.load()) std::this_thread::sleep_for(1ms);
  EXPECT_TRUE(pending.cancel());
  EXPECT_THROW((void)pending.get(), brigade::task_cancelled);
  for (int i = 0; i < 2000 && ended_by_cancel.load() == 0; ++i) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(ended_by_cancel.load(), 1) << "the task was not woken by the cancel";
}

}  // namespace
