#include "brigade/sync/wait_group.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "../until_parked.hpp"
#include "brigade/runtime/runtime.hpp"
#include "brigade/runtime/spawn.hpp"
#include "brigade/sync/event.hpp"

namespace {

using namespace std::chrono_literals;

brigade::task<void> work(brigade::wait_group& group, std::atomic<int>& finished) {
  finished.fetch_add(1);
  group.done();
  co_return;
}

// Go's worker pattern: add before spawning, done in each worker, wait in the parent.
brigade::task<int> spawn_and_wait(brigade::wait_group& group, std::atomic<int>& finished, int n) {
  for (int i = 0; i < n; ++i) {
    group.add(1);
    brigade::spawn(work(group, finished)).detach();
  }
  co_await group.wait_async();
  co_return finished.load();
}

TEST(wait_group, a_task_waits_for_every_worker) {
  brigade::runtime rt({.worker_threads = 2});
  brigade::wait_group group;
  std::atomic<int> finished{0};
  EXPECT_EQ(rt.block_on(spawn_and_wait(group, finished, 1000)), 1000);
  EXPECT_EQ(group.count(), 0);
}

TEST(wait_group, threads_and_tasks_wait_on_the_same_group) {
  brigade::runtime rt({.worker_threads = 2});
  brigade::wait_group group;
  group.add(3);
  std::atomic<int> woken{0};
  std::atomic<long> waiter_id{0};
  std::thread waiter_thread([&] {
    waiter_id = brigade_test::this_thread_id();
    group.wait();
    woken.fetch_add(1);
  });
  auto waiting_task = rt.spawn([](brigade::wait_group& g, std::atomic<int>& w) -> brigade::task<void> {
    co_await g.wait_async();
    w.fetch_add(1);
  }(group, woken));
  brigade_test::until_thread_sleeps(waiter_id);      // the thread waits
  ASSERT_TRUE(brigade_test::until_workers_parked(rt, 2));    // and so does the task
  EXPECT_EQ(woken.load(), 0);
  for (int i = 0; i < 3; ++i) {
    std::thread([&] { group.done(); }).join();
  }
  waiting_task.join();
  waiter_thread.join();
  EXPECT_EQ(woken.load(), 2);
}

TEST(wait_group, waiting_at_zero_returns_at_once) {
  brigade::runtime rt({.worker_threads = 1});
  brigade::wait_group group;
  group.wait();
  rt.block_on([](brigade::wait_group& g) -> brigade::task<void> { co_await g.wait_async(); }(group));
}

TEST(wait_group, a_negative_counter_is_a_usage_error_that_changes_nothing) {
  brigade::wait_group group;
  group.add(1);
  group.done();
  try {
    group.done();
    FAIL() << "done() below zero did not throw";
  } catch (const brigade::usage_error& e) {
    EXPECT_NE(std::string(e.what()).find("negative"), std::string::npos) << e.what();
  }
  EXPECT_EQ(group.count(), 0);
  group.add(2);
  EXPECT_THROW(group.add(-3), brigade::usage_error);
  EXPECT_EQ(group.count(), 2);
}

TEST(wait_group, can_be_reused_once_its_waits_returned) {
  brigade::wait_group group;
  for (int round = 0; round < 3; ++round) {
    group.add(2);
    std::thread a([&] { group.done(); });
    std::thread b([&] { group.done(); });
    group.wait();
    a.join();
    b.join();
    EXPECT_EQ(group.count(), 0);
  }
}

TEST(wait_group, co_await_outside_a_runtime_is_a_usage_error) {
  brigade::wait_group group;
  group.add(1);
  auto awaiter = group.wait_async();
  EXPECT_FALSE(awaiter.await_ready());
  EXPECT_THROW(awaiter.await_suspend(std::noop_coroutine()), brigade::usage_error);
}

// A task suspended on a group is destroyed at shutdown: its waiter leaves the list, and a later
// done() wakes nobody (no use of the freed frame; ASan checks this).
TEST(wait_group, a_waiter_destroyed_at_shutdown_leaves_the_list) {
  brigade::wait_group group;
  group.add(1);
  std::atomic<bool> started{false};
  {
    brigade::runtime rt({.worker_threads = 1});
    auto handle = rt.spawn([](brigade::wait_group& g, std::atomic<bool>& s) -> brigade::task<void> {
      s = true;
      co_await g.wait_async();
    }(group, started));
    while (!started.load()) std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(2ms);
    rt.shutdown();
    EXPECT_THROW(handle.join(), brigade::task_cancelled);
  }
  group.done();
  EXPECT_EQ(group.count(), 0);
}

}  // namespace

namespace {

// Go's pattern: the waiter returns and the group (a local) is gone at once, while the done()
// that opened it may still be running. Repeated with the done() on another thread; AddressSanitizer
// reports a use after free if done() touches the group after a waiter could see zero.
TEST(wait_group, may_be_destroyed_as_soon_as_a_wait_returns) {
  std::atomic<brigade::wait_group*> current{nullptr};
  std::atomic<bool> stop{false};
  std::thread finisher([&] {
    while (!stop.load()) {
      if (brigade::wait_group* group = current.exchange(nullptr)) group->done();
    }
  });
  for (int i = 0; i < 2000; ++i) {
    auto* group = new brigade::wait_group();
    group->add(1);
    current.store(group);
    group->wait();
    delete group;
  }
  stop = true;
  finisher.join();
}

TEST(wait_group, a_task_may_destroy_its_group_as_soon_as_the_wait_returns) {
  brigade::runtime rt({.worker_threads = 2});
  std::atomic<brigade::wait_group*> current{nullptr};
  std::atomic<bool> stop{false};
  std::thread finisher([&] {
    while (!stop.load()) {
      if (brigade::wait_group* group = current.exchange(nullptr)) group->done();
    }
  });
  rt.block_on([](std::atomic<brigade::wait_group*>& slot) -> brigade::task<void> {
    for (int i = 0; i < 2000; ++i) {
      auto group = std::make_unique<brigade::wait_group>();
      group->add(1);
      slot.store(group.get());
      co_await group->wait_async();
    }
  }(current));
  stop = true;
  finisher.join();
}

}  // namespace

namespace {

TEST(wait_group, wait_blocking_inside_a_task_is_a_usage_error) {
  brigade::runtime rt({.worker_threads = 1});
  brigade::wait_group group;
  group.add(1);
  EXPECT_THROW(rt.block_on([](brigade::wait_group& g) -> brigade::task<void> {
                 g.wait();
                 co_return;
               }(group)),
               brigade::usage_error);
  group.done();
}

}  // namespace
