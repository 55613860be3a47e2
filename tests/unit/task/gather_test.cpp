#include "brigade/task/gather.hpp"

#include <gtest/gtest.h>

#include <array>
#include <stdexcept>
#include <string>
#include <vector>

#include "brigade/runtime/runtime.hpp"

namespace {

brigade::task<int> maybe(int x) {
  if (x % 3 == 0) throw std::runtime_error("multiple of three: " + std::to_string(x));
  co_return x;
}

brigade::task<std::vector<brigade::outcome<int>>> all_outcomes() {
  std::vector<brigade::task<int>> tasks;
  for (int i = 1; i <= 9; ++i) tasks.push_back(maybe(i));
  co_return co_await brigade::gather(std::move(tasks));
}

TEST(gather, yields_every_outcome_in_order_and_cancels_nothing) {
  brigade::runtime rt({.worker_threads = 2});
  auto outcomes = rt.block_on(all_outcomes());
  ASSERT_EQ(outcomes.size(), 9u);
  for (int i = 1; i <= 9; ++i) {
    auto& o = outcomes[static_cast<std::size_t>(i - 1)];
    if (i % 3 == 0) {
      EXPECT_TRUE(o.has_error());
      EXPECT_THROW(o.value(), std::runtime_error);
    } else {
      ASSERT_TRUE(o.has_value());
      EXPECT_EQ(o.value(), i);
      EXPECT_EQ(o.error(), nullptr);
    }
  }
}

brigade::task<bool> tuple_outcomes() {
  auto [a, b, c] = co_await brigade::gather(maybe(1), maybe(3), []() -> brigade::task<void> { co_return; }());
  co_return a.has_value() && b.has_error() && c.has_value();
}

TEST(gather, variadic_yields_a_tuple_of_outcomes) {
  brigade::runtime rt({.worker_threads = 2});
  EXPECT_TRUE(rt.block_on(tuple_outcomes()));
}

}  // namespace

namespace {

TEST(gather, an_array_of_tasks_yields_an_array_of_outcomes) {
  brigade::runtime rt({.worker_threads = 2});
  auto outcomes = rt.block_on([]() -> brigade::task<std::array<brigade::outcome<int>, 3>> {
    std::array tasks{maybe(1), maybe(3), maybe(4)};  // named: see when_all_test.cpp
    co_return co_await brigade::gather(std::move(tasks));
  }());
  EXPECT_TRUE(outcomes[0].has_value());
  EXPECT_TRUE(outcomes[1].has_error());
  EXPECT_EQ(outcomes[2].value(), 4);
}

}  // namespace
