#include "brigade/task/when_any.hpp"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "brigade/runtime/runtime.hpp"
#include "brigade/runtime/yield_now.hpp"
#include "yields_until_cancelled.hpp"

namespace {

using brigade_test::yields_until_cancelled;

brigade::task<int> immediate(int x) { co_return x; }

brigade::task<brigade::when_any_result<int>> race(std::atomic<int>& cancelled) {
  std::vector<brigade::task<int>> tasks;
  tasks.push_back(yields_until_cancelled<int>(cancelled));
  tasks.push_back(immediate(7));
  tasks.push_back(yields_until_cancelled<int>(cancelled));
  co_return co_await brigade::when_any(std::move(tasks));
}

TEST(when_any, the_first_to_finish_wins_and_the_rest_are_cancelled) {
  brigade::runtime rt({.worker_threads = 2});
  std::atomic<int> cancelled{0};
  const auto winner = rt.block_on(race(cancelled));
  EXPECT_EQ(winner.index, 1u);
  EXPECT_EQ(winner.value, 7);
  // when_any waited for the losers: both were cancelled (running, or before they started).
  EXPECT_LE(cancelled.load(), 2);
}

brigade::task<std::variant<int, std::string>> variadic(std::atomic<int>& cancelled) {
  co_return co_await brigade::when_any(yields_until_cancelled<int>(cancelled), []() -> brigade::task<std::string> {
    co_return "second";
  }());
}

TEST(when_any, variadic_yields_a_variant_whose_index_names_the_winner) {
  brigade::runtime rt({.worker_threads = 2});
  std::atomic<int> cancelled{0};
  const auto winner = rt.block_on(variadic(cancelled));
  ASSERT_EQ(winner.index(), 1u);
  EXPECT_EQ(std::get<1>(winner), "second");
}

brigade::task<int> fails_first(std::atomic<int>& cancelled) {
  auto result = co_await brigade::when_any(
      []() -> brigade::task<int> {
        throw std::logic_error("lost");
        co_return 0;
      }(),
      yields_until_cancelled<int>(cancelled));
  co_return std::get<0>(result);
}

TEST(when_any, a_failure_that_finishes_first_is_rethrown) {
  brigade::runtime rt({.worker_threads = 1});
  std::atomic<int> cancelled{0};
  EXPECT_THROW(rt.block_on(fails_first(cancelled)), std::logic_error);
}

brigade::task<void> no_tasks() {
  co_await brigade::when_any(std::vector<brigade::task<int>>{});
}

TEST(when_any, of_no_tasks_is_a_usage_error) {
  brigade::runtime rt({.worker_threads = 1});
  EXPECT_THROW(rt.block_on(no_tasks()), brigade::usage_error);
}

}  // namespace

namespace {

TEST(when_any, over_an_array) {
  brigade::runtime rt({.worker_threads = 2});
  std::atomic<int> cancelled{0};
  const auto winner = rt.block_on([](std::atomic<int>& c) -> brigade::task<brigade::when_any_result<int>> {
    std::array tasks{yields_until_cancelled<int>(c), immediate(3)};  // named: see when_all_test.cpp
    co_return co_await brigade::when_any(std::move(tasks));
  }(cancelled));
  EXPECT_EQ(winner.index, 1u);
  EXPECT_EQ(winner.value, 3);
}

}  // namespace
