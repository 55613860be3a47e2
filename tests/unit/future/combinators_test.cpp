// all, all_settled, any and race over futures: order, fail-fast, every outcome, first success,
// first settled, empty inputs, and inputs settled on several threads at once.
#include "brigade/future/combinators.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "brigade/future/promise.hpp"
#include "brigade/future/thread_pool.hpp"

namespace {

std::vector<brigade::promise<int>> promises(int count, std::vector<brigade::future<int>>& futures) {
  std::vector<brigade::promise<int>> made(static_cast<std::size_t>(count));
  for (auto& p : made) futures.push_back(p.get_future());
  return made;
}

TEST(combinators, all_keeps_argument_order_whatever_order_they_settle_in) {
  std::vector<brigade::future<int>> futures;
  auto ps = promises(3, futures);
  auto combined = brigade::all(std::move(futures));
  ps[2].set_value(30);
  ps[0].set_value(10);
  EXPECT_FALSE(combined.is_ready());
  ps[1].set_value(20);
  EXPECT_EQ(combined.get(), (std::vector<int>{10, 20, 30}));
}

TEST(combinators, all_fails_fast_on_the_first_error) {
  std::vector<brigade::future<int>> futures;
  auto ps = promises(3, futures);
  auto combined = brigade::all(std::move(futures));
  ps[1].set_exception(std::make_exception_ptr(std::runtime_error("second failed")));
  EXPECT_TRUE(combined.is_ready());  // without waiting for the others
  EXPECT_THROW((void)combined.get(), std::runtime_error);
  ps[0].set_value(1);
  ps[2].set_exception(std::make_exception_ptr(std::logic_error("ignored")));
}

TEST(combinators, all_of_different_types_gives_a_tuple) {
  brigade::promise<std::string> name;
  brigade::promise<void> done;
  auto combined = brigade::all(brigade::make_ready_future<int>(7), name.get_future(), done.get_future());
  name.set_value("seven");
  done.set_value();
  auto [number, text, nothing] = combined.get();
  EXPECT_EQ(number, 7);
  EXPECT_EQ(text, "seven");
  (void)nothing;
}

TEST(combinators, all_of_void_futures_and_of_none) {
  std::vector<brigade::future<void>> voids;
  voids.push_back(brigade::make_ready_future<void>());
  voids.push_back(brigade::make_ready_future<void>());
  brigade::all(std::move(voids)).get();
  EXPECT_TRUE(brigade::all(std::vector<brigade::future<int>>{}).get().empty());
}

TEST(combinators, all_settled_reports_every_outcome_in_order) {
  std::vector<brigade::future<int>> futures;
  auto ps = promises(3, futures);
  auto combined = brigade::all_settled(std::move(futures));
  ps[0].set_exception(std::make_exception_ptr(std::runtime_error("first")));
  ps[2].set_value(3);
  ps[1].set_value(2);
  auto outcomes = combined.get();
  ASSERT_EQ(outcomes.size(), 3u);
  EXPECT_TRUE(outcomes[0].has_error());
  EXPECT_EQ(outcomes[1].value(), 2);
  EXPECT_EQ(outcomes[2].value(), 3);
  auto mixed = brigade::all_settled(brigade::make_ready_future<int>(1),
                                    brigade::make_failed_future<std::string>(std::make_exception_ptr(std::runtime_error("x"))))
                   .get();
  EXPECT_EQ(std::get<0>(mixed).value(), 1);
  EXPECT_TRUE(std::get<1>(mixed).has_error());
}

TEST(combinators, any_takes_the_first_success_and_reports_every_failure) {
  std::vector<brigade::future<int>> futures;
  auto ps = promises(3, futures);
  auto first_good = brigade::any(std::move(futures));
  ps[0].set_exception(std::make_exception_ptr(std::runtime_error("mirror 0 down")));
  EXPECT_FALSE(first_good.is_ready());
  ps[2].set_value(42);
  ps[1].set_value(41);
  EXPECT_EQ(first_good.get(), 42);

  auto none_good = brigade::any(brigade::make_failed_future<int>(std::make_exception_ptr(std::runtime_error("a"))),
                                brigade::make_failed_future<int>(std::make_exception_ptr(std::logic_error("b"))));
  try {
    (void)none_good.get();
    FAIL() << "expected all_failed";
  } catch (const brigade::all_failed& error) {
    ASSERT_EQ(error.errors().size(), 2u);
    EXPECT_THROW(std::rethrow_exception(error.errors()[1]), std::logic_error);
  }
  EXPECT_THROW((void)brigade::any(std::vector<brigade::future<int>>{}).get(), brigade::all_failed);
}

TEST(combinators, race_takes_the_first_to_settle_even_an_error) {
  std::vector<brigade::future<int>> futures;
  auto ps = promises(2, futures);
  auto first = brigade::race(std::move(futures));
  ps[1].set_exception(std::make_exception_ptr(std::runtime_error("fast failure")));
  ps[0].set_value(1);
  EXPECT_THROW((void)first.get(), std::runtime_error);
  EXPECT_THROW((void)brigade::race(std::vector<brigade::future<int>>{}).get(), brigade::usage_error);
}

TEST(combinators, inputs_settled_by_many_threads_at_once) {
  brigade::thread_pool pool(4);
  for (int round = 0; round < 20; ++round) {
    std::vector<brigade::future<int>> futures;
    for (int i = 0; i < 200; ++i) futures.push_back(pool.submit([i] { return i; }));
    const auto values = brigade::all(std::move(futures)).get();
    for (int i = 0; i < 200; ++i) ASSERT_EQ(values[static_cast<std::size_t>(i)], i);
  }
}

}  // namespace
