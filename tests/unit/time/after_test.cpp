#include "brigade/time/after.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <thread>

#include "brigade/chan/select.hpp"
#include "brigade/runtime/runtime.hpp"

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

TEST(after, a_deadline_is_a_case_of_a_select) {
  brigade::runtime rt({.worker_threads = 2});
  brigade::channel<int> jobs(0);
  auto body = [](brigade::channel<int>& c) -> brigade::task<std::size_t> {
    std::optional<int> job;
    std::optional<clock_type::time_point> expired;
    const auto start = clock_type::now();
    auto deadline = brigade::after(20ms);
    const std::size_t chosen = co_await brigade::select_async(brigade::recv_case(c, job), brigade::recv_case(deadline, expired));
    EXPECT_TRUE(expired.has_value());
    if (expired) EXPECT_GE(*expired - start, 20ms);
    co_return chosen;
  };
  EXPECT_EQ(rt.block_on(body(jobs)), 1u);
}

TEST(after, a_ready_case_wins_over_a_later_deadline) {
  brigade::runtime rt({.worker_threads = 2});
  brigade::channel<int> jobs(1);
  jobs.try_send(3);
  auto body = [](brigade::channel<int>& c) -> brigade::task<int> {
    std::optional<int> job;
    std::optional<clock_type::time_point> expired;
    auto deadline = brigade::after(1h);  // left running: it frees itself at the runtime's end
    const std::size_t chosen = co_await brigade::select_async(brigade::recv_case(c, job), brigade::recv_case(deadline, expired));
    co_return chosen == 0 ? job.value_or(-1) : -1;
  };
  EXPECT_EQ(rt.block_on(body(jobs)), 3);
}

TEST(after, the_channel_gets_one_time_point_then_closes) {
  brigade::runtime rt({.worker_threads = 1});
  auto rx = brigade::after(rt, 5ms);  // from a plain thread
  const auto start = clock_type::now();
  auto first = rx.recv();
  ASSERT_TRUE(first.has_value());
  EXPECT_GE(*first - start, 0ms);
  EXPECT_FALSE(rx.recv().has_value());  // closed after its one value
  auto passed = brigade::after(rt, -1s);  // a duration that has passed: at once
  EXPECT_TRUE(passed.recv().has_value());
}

TEST(after, a_runtime_destroyed_first_closes_the_channel_without_a_value) {
  auto rt = std::make_unique<brigade::runtime>(brigade::runtime_options{.worker_threads = 1});
  auto rx = brigade::after(*rt, 1h);
  rt.reset();
  EXPECT_FALSE(rx.recv().has_value());
}

TEST(after, refuses_a_thread_that_names_no_runtime) {
  EXPECT_THROW((void)brigade::after(1ms), brigade::usage_error);
}

}  // namespace
