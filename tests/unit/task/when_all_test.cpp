#include "brigade/task/when_all.hpp"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "brigade/runtime/runtime.hpp"
#include "brigade/runtime/yield_now.hpp"

namespace {

brigade::task<std::uint64_t> fib(int n) {
  if (n < 2) co_return static_cast<std::uint64_t>(n);
  auto [a, b] = co_await brigade::when_all(fib(n - 1), fib(n - 2));
  co_return a + b;
}

brigade::task<std::uint64_t> skynet(std::uint64_t num, std::uint64_t size) {
  if (size == 1) co_return num;
  std::vector<brigade::task<std::uint64_t>> children;
  children.reserve(10);
  for (std::uint64_t i = 0; i < 10; ++i) children.push_back(skynet(num + i * (size / 10), size / 10));
  std::uint64_t sum = 0;
  for (auto v : co_await brigade::when_all(std::move(children))) sum += v;
  co_return sum;
}

TEST(when_all, fib_forks_at_every_call) {
  brigade::runtime rt({.worker_threads = 2});
  EXPECT_EQ(rt.block_on(fib(20)), 6765u);
}

TEST(when_all, skynet_of_a_hundred_thousand) {
  brigade::runtime rt({.worker_threads = 2});
  EXPECT_EQ(rt.block_on(skynet(0, 100000)), 4999950000u);
}

brigade::task<int> value(int x) { co_return x; }
brigade::task<std::string> word(std::string w) { co_return w; }
brigade::task<void> nothing() { co_return; }
brigade::task<int> fails(std::string why) {
  throw std::runtime_error(why);
  co_return 0;
}

brigade::task<std::tuple<int, std::string>> mixed() {
  auto [n, w, none] = co_await brigade::when_all(value(3), word("three"), nothing());
  static_assert(std::is_same_v<decltype(none), std::monostate>);
  co_return std::tuple{n, w};
}

TEST(when_all, a_tuple_of_mixed_types_keeps_argument_order) {
  brigade::runtime rt({.worker_threads = 2});
  EXPECT_EQ(rt.block_on(mixed()), (std::tuple<int, std::string>{3, "three"}));
}

brigade::task<std::vector<int>> range_in_order(int n) {
  std::vector<brigade::task<int>> tasks;
  for (int i = 0; i < n; ++i) tasks.push_back(value(i));
  co_return co_await brigade::when_all(std::move(tasks));
}

TEST(when_all, a_vector_keeps_order_and_may_be_empty) {
  brigade::runtime rt({.worker_threads = 2});
  const auto results = rt.block_on(range_in_order(100));
  ASSERT_EQ(results.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(results[static_cast<std::size_t>(i)], i);
  EXPECT_TRUE(rt.block_on(range_in_order(0)).empty());
}

brigade::task<void> vector_of_void(std::atomic<int>& ran) {
  std::vector<brigade::task<void>> tasks;
  for (int i = 0; i < 10; ++i)
    tasks.push_back([](std::atomic<int>& r) -> brigade::task<void> {
      ++r;
      co_return;
    }(ran));
  co_await brigade::when_all(std::move(tasks));
}

brigade::task<std::uint64_t> sum_of_children(int count) {
  std::vector<brigade::task<int>> children;
  for (int i = 0; i < count; ++i) children.push_back(value(i));
  std::uint64_t sum = 0;
  for (int v : co_await brigade::when_all(std::move(children))) sum += static_cast<std::uint64_t>(v);
  co_return sum;
}

// The forks of one when_all fill the worker's deque and make it grow, whichever fork (an early
// one, or the last before control moves to the first child) finds the ring full.
TEST(when_all, more_children_than_a_deque_holds_before_it_grows) {
  brigade::runtime rt({.worker_threads = 1});
  for (int count : {250, 255, 256, 257, 258, 259, 260, 511, 512, 513, 514, 1030}) {
    const auto expected = static_cast<std::uint64_t>(count) * static_cast<std::uint64_t>(count - 1) / 2;
    EXPECT_EQ(rt.block_on(sum_of_children(count)), expected) << count << " children";
  }
}

TEST(when_all, a_vector_of_void_tasks) {
  brigade::runtime rt({.worker_threads = 2});
  std::atomic<int> ran{0};
  rt.block_on(vector_of_void(ran));
  EXPECT_EQ(ran.load(), 10);
}

brigade::task<int> counted(std::atomic<int>& started, int x) {
  ++started;
  co_await brigade::yield_now();
  co_return x;
}

brigade::task<int> first_fails_rest_skipped(std::atomic<int>& started) {
  std::vector<brigade::task<int>> tasks;
  tasks.push_back(fails("first"));  // runs first, inline, and fails before any sibling starts
  for (int i = 0; i < 50; ++i) tasks.push_back(counted(started, i));
  auto results = co_await brigade::when_all(std::move(tasks));
  co_return static_cast<int>(results.size());
}

TEST(when_all, the_first_failure_cancels_the_rest_and_is_rethrown) {
  brigade::runtime rt({.worker_threads = 1});
  std::atomic<int> started{0};
  try {
    rt.block_on(first_fails_rest_skipped(started));
    FAIL() << "when_all did not rethrow";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "first");
  }
  // With one worker nothing could start before the failure: every sibling was skipped.
  EXPECT_EQ(started.load(), 0);
}

brigade::task<int> late_failure(std::atomic<int>& finished) {
  auto [a, b, c] = co_await brigade::when_all(
      [](std::atomic<int>& f) -> brigade::task<int> {
        co_await brigade::yield_now();
        ++f;
        co_return 1;
      }(finished),
      fails("second"),
      [](std::atomic<int>& f) -> brigade::task<int> {
        ++f;
        co_return 3;
      }(finished));
  co_return a + b + c;
}

TEST(when_all, waits_for_every_child_before_rethrowing) {
  brigade::runtime rt({.worker_threads = 2});
  std::atomic<int> finished{0};
  EXPECT_THROW(rt.block_on(late_failure(finished)), std::runtime_error);
  // Every child finished (or was skipped) before when_all returned: none still runs.
  const int seen = finished.load();
  EXPECT_LE(seen, 2);
  EXPECT_EQ(finished.load(), seen);
}

brigade::task<void> empty_member() {
  brigade::task<int> empty;
  co_await brigade::when_all(value(1), std::move(empty));
}

TEST(when_all, an_empty_task_is_a_usage_error) {
  brigade::runtime rt({.worker_threads = 1});
  EXPECT_THROW(rt.block_on(empty_member()), brigade::usage_error);
}

}  // namespace

namespace {

brigade::task<std::uint64_t> skynet_array(std::uint64_t num, std::uint64_t size) {
  if (size == 1) co_return num;
  std::array<brigade::task<std::uint64_t>, 10> children;
  for (std::uint64_t i = 0; i < 10; ++i) children[i] = skynet_array(num + i * (size / 10), size / 10);
  std::uint64_t sum = 0;
  for (auto v : co_await brigade::when_all(std::move(children))) sum += v;
  co_return sum;
}

TEST(when_all, an_array_of_tasks_yields_an_array) {
  brigade::runtime rt({.worker_threads = 2});
  EXPECT_EQ(rt.block_on(skynet_array(0, 10000)), 49995000u);
  auto strings = rt.block_on([]() -> brigade::task<std::array<std::string, 2>> {
    // A named array: GCC 12 destroys a braced array of tasks built inside a co_await expression
    // twice (a compiler bug; see docs/ARCHITECTURE.md, "Compiler notes").
    std::array tasks{word("a"), word("b")};
    co_return co_await brigade::when_all(std::move(tasks));
  }());
  EXPECT_EQ(strings, (std::array<std::string, 2>{"a", "b"}));
}

}  // namespace
