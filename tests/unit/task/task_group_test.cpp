#include "brigade/task/task_group.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "brigade/chan/channel.hpp"
#include "brigade/runtime/runtime.hpp"
#include "brigade/runtime/yield_now.hpp"
#include "yields_until_cancelled.hpp"

namespace {

using brigade_test::yields_until_cancelled;

brigade::task<void> add(std::atomic<int>& total, int x) {
  co_await brigade::yield_now();
  total += x;
}

brigade::task<void> fan_out(brigade::task_group& group, std::atomic<int>& total, int depth) {
  total += 1;
  if (depth == 0) co_return;
  for (int i = 0; i < 3; ++i) group.spawn(fan_out(group, total, depth - 1));
}

TEST(task_group, returns_after_every_child_including_grandchildren) {
  brigade::runtime rt({.worker_threads = 2});
  std::atomic<int> total{0};
  const int value = rt.block_on(brigade::with_task_group([&](brigade::task_group& group) -> brigade::task<int> {
    for (int i = 1; i <= 10; ++i) group.spawn(add(total, i));
    group.spawn(fan_out(group, total, 4));  // 1 + 3 + 9 + 27 + 81 = 121 tasks
    co_return 5;
  }));
  EXPECT_EQ(value, 5);
  EXPECT_EQ(total.load(), 55 + 121);
}

brigade::task<void> fails_after_yield() {
  co_await brigade::yield_now();
  throw std::runtime_error("child failed");
}

TEST(task_group, an_error_cancels_the_siblings_and_is_rethrown) {
  brigade::runtime rt({.worker_threads = 2});
  std::atomic<int> cancelled{0};
  try {
    rt.block_on(brigade::with_task_group([&](brigade::task_group& group) -> brigade::task<void> {
      for (int i = 0; i < 4; ++i) group.spawn(yields_until_cancelled(cancelled));
      group.spawn(fails_after_yield());
      co_return;
    }));
    FAIL() << "the child's error was not rethrown";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "child failed");
  }
  EXPECT_LE(cancelled.load(), 4);  // each was cancelled while running or before it started
}

TEST(task_group, an_error_in_the_body_cancels_the_children) {
  brigade::runtime rt({.worker_threads = 2});
  std::atomic<int> cancelled{0};
  EXPECT_THROW(rt.block_on(brigade::with_task_group([&](brigade::task_group& group) -> brigade::task<void> {
                 group.spawn(yields_until_cancelled(cancelled));
                 throw std::invalid_argument("body failed");
                 co_return;
               })),
               std::invalid_argument);
}

TEST(task_group, request_stop_ends_the_children_without_an_error) {
  brigade::runtime rt({.worker_threads = 2});
  std::atomic<int> cancelled{0};
  EXPECT_NO_THROW(rt.block_on(brigade::with_task_group([&](brigade::task_group& group) -> brigade::task<void> {
    for (int i = 0; i < 3; ++i) group.spawn(yields_until_cancelled(cancelled));
    co_await brigade::yield_now();
    group.request_stop();
    EXPECT_TRUE(group.get_stop_token().stop_requested());
  })));
}

brigade::task<void> flag_then_run_until_cancelled(std::atomic<bool>& running, std::atomic<int>& cancelled) {
  running = true;
  co_await yields_until_cancelled(cancelled);
}

brigade::task<void> outer_cancelled(std::atomic<bool>& running, std::atomic<int>& cancelled) {
  co_await brigade::with_task_group([&](brigade::task_group& group) -> brigade::task<void> {
    group.spawn(flag_then_run_until_cancelled(running, cancelled));
    co_return;
  });
}

TEST(task_group, cancelling_the_enclosing_task_cancels_the_group) {
  brigade::runtime rt({.worker_threads = 2});
  std::atomic<int> cancelled{0};
  std::atomic<bool> running{false};
  auto handle = rt.spawn(outer_cancelled(running, cancelled));
  while (!running.load()) std::this_thread::yield();
  handle.abort();
  EXPECT_THROW(handle.join(), brigade::task_cancelled);
  EXPECT_EQ(cancelled.load(), 1);
}

}  // namespace

// ../shared/repros/task_group_child_error_does_not_cancel_body.cpp: the body ran in the enclosing
// scope, so a failing child never stopped it and with_task_group never returned.
brigade::task<void> failing_child() {
  co_await brigade::yield_now();
  throw std::runtime_error("child failed");
}

TEST(task_group, task_group_child_error_does_not_cancel_body) {
  brigade::runtime rt({.worker_threads = 2});
  std::atomic<long> body_yields{0};
  auto handle = rt.spawn(brigade::with_task_group([&](brigade::task_group& group) -> brigade::task<void> {
    group.spawn(failing_child());
    for (;;) {  // every iteration passes a cancellation point
      ++body_yields;
      co_await brigade::yield_now();
    }
  }));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!handle.is_finished() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_TRUE(handle.is_finished()) << "the body was not cancelled after " << body_yields << " yields";
  EXPECT_THROW(handle.join(), std::runtime_error);
}

TEST(task_group, a_failing_child_wakes_the_body_parked_on_a_channel) {
  brigade::runtime rt({.worker_threads = 2});
  auto [tx, rx] = brigade::make_channel<int>(0);
  EXPECT_THROW(rt.block_on(brigade::with_task_group([&rx](brigade::task_group& group) -> brigade::task<void> {
                 group.spawn(failing_child());
                 (void)co_await rx.recv_async();  // nobody sends: only the failure ends this
               })),
               std::runtime_error);
}
