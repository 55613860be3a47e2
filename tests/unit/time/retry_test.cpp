#include "brigade/time/retry.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "../until_parked.hpp"
#include "brigade/runtime/runtime.hpp"
#include "brigade/time/timeout.hpp"

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using std::chrono::nanoseconds;

/// An error that says which attempt threw it.
struct attempt_failed : std::runtime_error {
  explicit attempt_failed(int n) : std::runtime_error("attempt " + std::to_string(n)), attempt(n) {}
  int attempt;
};

/// A task that fails (attempt_failed) until its `succeed_on`th call, then returns 10 * calls.
brigade::task<int> flaky(std::atomic<int>& calls, int succeed_on) {
  const int call = ++calls;
  co_await brigade::sleep_for_async(0ms);
  if (call < succeed_on) throw attempt_failed(call);
  co_return 10 * call;
}

/// Records what on_retry receives.
struct hook_log {
  std::vector<std::size_t> attempts;
  std::vector<nanoseconds> delays;
  std::vector<std::exception_ptr> errors;
  auto hook() {
    return [this](std::size_t attempt, const std::exception_ptr& error, nanoseconds delay) {
      attempts.push_back(attempt);
      errors.push_back(error);
      delays.push_back(delay);
    };
  }
};

/// Runs a retry of an operation that always fails, with `policy`, and returns the delays the
/// hook saw (policy.on_retry is replaced).
std::vector<nanoseconds> delays_of(brigade::runtime& rt, brigade::retry_policy policy) {
  hook_log log;
  policy.on_retry = log.hook();
  std::atomic<int> calls{0};
  auto body = [&]() -> brigade::task<void> {
    (void)co_await brigade::retry([&] { return flaky(calls, 1'000'000); }, policy);
  };
  EXPECT_THROW(rt.block_on(body()), attempt_failed);
  EXPECT_EQ(static_cast<std::size_t>(calls.load()), policy.max_attempts);
  std::vector<std::size_t> expected_attempts;
  for (std::size_t n = 1; n < policy.max_attempts; ++n) expected_attempts.push_back(n);
  EXPECT_EQ(log.attempts, expected_attempts);
  return log.delays;
}

TEST(retry, success_on_the_third_attempt_returns_the_value) {
  brigade::runtime rt({.worker_threads = 2});
  std::atomic<int> calls{0};
  const brigade::retry_policy policy{.max_attempts = 5, .initial_delay = 1ms};
  auto body = [&]() -> brigade::task<int> {
    co_return co_await brigade::retry([&] { return flaky(calls, 3); }, policy);
  };
  EXPECT_EQ(rt.block_on(body()), 30);
  EXPECT_EQ(calls.load(), 3);
}

TEST(retry, stops_after_max_attempts_and_rethrows_the_last_error) {
  brigade::runtime rt({.worker_threads = 2});
  int calls = 0;
  std::vector<std::exception_ptr> thrown;
  hook_log log;
  const brigade::retry_policy policy{
      .max_attempts = 3, .backoff = brigade::retry_backoff::constant, .initial_delay = 1ms, .on_retry = log.hook()};
  auto fails = [&]() -> int {
    auto error = std::make_exception_ptr(attempt_failed(++calls));
    thrown.push_back(error);
    std::rethrow_exception(error);
  };
  auto body = [&]() -> brigade::task<std::exception_ptr> {
    try {
      (void)co_await brigade::retry(fails, policy);
    } catch (...) {
      co_return std::current_exception();
    }
    co_return nullptr;
  };
  const std::exception_ptr error = rt.block_on(body());
  EXPECT_EQ(calls, 3);
  ASSERT_EQ(thrown.size(), 3u);
  EXPECT_EQ(error, thrown[2]);  // the very object the last attempt threw
  EXPECT_THROW(std::rethrow_exception(error), attempt_failed);
  // Every error is seen: the hook got the first two, the caller the last.
  ASSERT_EQ(log.errors.size(), 2u);
  EXPECT_EQ(log.errors[0], thrown[0]);
  EXPECT_EQ(log.errors[1], thrown[1]);
}

TEST(retry, a_plain_function_is_retried_like_a_task) {
  brigade::runtime rt({.worker_threads = 2});
  int calls = 0;
  const brigade::retry_policy policy{.initial_delay = 0ms};
  auto body = [&]() -> brigade::task<std::string> {
    std::string value = co_await brigade::retry(
        [&] {
          if (++calls < 2) throw std::runtime_error("not yet");
          return std::string("done");
        },
        policy);
    co_await brigade::retry([&] {
      if (++calls < 4) throw std::runtime_error("not yet");
    }, policy);
    co_return value;
  };
  EXPECT_EQ(rt.block_on(body()), "done");
  EXPECT_EQ(calls, 4);
}

TEST(retry, a_move_only_value_is_returned) {
  brigade::runtime rt({.worker_threads = 2});
  int calls = 0;
  const brigade::retry_policy policy{.initial_delay = 0ms};
  auto make = [&]() -> brigade::task<std::unique_ptr<int>> {
    if (++calls < 2) throw std::runtime_error("not yet");
    co_return std::make_unique<int>(5);
  };
  auto body = [&]() -> brigade::task<int> {
    std::unique_ptr<int> value = co_await brigade::retry(make, policy);
    co_return *value;
  };
  EXPECT_EQ(rt.block_on(body()), 5);
}

TEST(retry, a_single_attempt_never_calls_the_hook) {
  brigade::runtime rt({.worker_threads = 2});
  EXPECT_TRUE(delays_of(rt, {.max_attempts = 1, .initial_delay = 1ms}).empty());
}

TEST(retry, on_retry_sees_each_retried_attempt_with_a_constant_delay) {
  brigade::runtime rt({.worker_threads = 2});
  const auto delays = delays_of(rt, {.max_attempts = 3, .backoff = brigade::retry_backoff::constant, .initial_delay = 2ms});
  EXPECT_EQ(delays, (std::vector<nanoseconds>{2ms, 2ms}));
}

TEST(retry, linear_backoff_grows_by_the_initial_delay_up_to_the_cap) {
  brigade::runtime rt({.worker_threads = 2});
  const auto delays = delays_of(
      rt, {.max_attempts = 5, .backoff = brigade::retry_backoff::linear, .initial_delay = 2ms, .max_delay = 5ms});
  EXPECT_EQ(delays, (std::vector<nanoseconds>{2ms, 4ms, 5ms, 5ms}));
}

TEST(retry, exponential_backoff_multiplies_up_to_the_cap) {
  brigade::runtime rt({.worker_threads = 2});
  const auto delays = delays_of(rt, {.max_attempts = 5,
                                     .backoff = brigade::retry_backoff::exponential,
                                     .initial_delay = 1ms,
                                     .multiplier = 3.0,
                                     .max_delay = 5ms});
  EXPECT_EQ(delays, (std::vector<nanoseconds>{1ms, 3ms, 5ms, 5ms}));
}

TEST(retry, delay_after_gives_the_essays_fetch_user_schedule_and_saturates) {
  const brigade::retry_policy fetch_user{.max_attempts = 3, .backoff = brigade::retry_backoff::linear, .initial_delay = 1s};
  EXPECT_EQ(fetch_user.delay_after(1), 1000ms);
  EXPECT_EQ(fetch_user.delay_after(2), 2000ms);
  const brigade::retry_policy defaults{};
  EXPECT_EQ(defaults.max_attempts, 3u);
  EXPECT_EQ(defaults.delay_after(1), 100ms);
  EXPECT_EQ(defaults.delay_after(2), 200ms);
  EXPECT_EQ(defaults.delay_after(3), 400ms);
  EXPECT_EQ(defaults.delay_after(1000), defaults.max_delay);  // 2^999 * 100 ms: the cap, no overflow
  const brigade::retry_policy unbounded{.multiplier = 10.0, .max_delay = nanoseconds::max()};
  EXPECT_EQ(unbounded.delay_after(100), nanoseconds::max());
  const brigade::retry_policy none{.initial_delay = 0ms};
  EXPECT_EQ(none.delay_after(5), 0ns);
}

TEST(retry, full_jitter_stays_within_zero_and_the_delay) {
  brigade::runtime rt({.worker_threads = 2});
  std::vector<nanoseconds> all;
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    const auto delays = delays_of(rt, {.max_attempts = 11,
                                       .backoff = brigade::retry_backoff::constant,
                                       .initial_delay = 100us,
                                       .jitter = brigade::retry_jitter::full,
                                       .seed = seed});
    all.insert(all.end(), delays.begin(), delays.end());
  }
  ASSERT_EQ(all.size(), 200u);
  for (const auto d : all) {
    EXPECT_GE(d, 0ns);
    EXPECT_LE(d, 100us);
  }
  // Spread over the range, not stuck at one end.
  EXPECT_LT(*std::min_element(all.begin(), all.end()), 20us);
  EXPECT_GT(*std::max_element(all.begin(), all.end()), 80us);
}

TEST(retry, proportional_jitter_stays_within_its_fraction_and_the_cap) {
  brigade::runtime rt({.worker_threads = 2});
  std::vector<nanoseconds> all;
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    const auto delays = delays_of(rt, {.max_attempts = 11,
                                       .backoff = brigade::retry_backoff::exponential,
                                       .initial_delay = 100us,
                                       .multiplier = 2.0,
                                       .max_delay = 400us,
                                       .jitter = brigade::retry_jitter::proportional,
                                       .jitter_fraction = 0.25,
                                       .seed = seed});
    ASSERT_EQ(delays.size(), 10u);
    // Nominal: 100, 200, 400, 400, ... us; each within +-25 %, and never above the cap.
    for (std::size_t i = 0; i < delays.size(); ++i) {
      const double nominal = i == 0 ? 100'000.0 : i == 1 ? 200'000.0 : 400'000.0;
      EXPECT_GE(static_cast<double>(delays[i].count()), nominal * 0.75 - 1.0) << i;
      EXPECT_LE(static_cast<double>(delays[i].count()), std::min(nominal * 1.25, 400'000.0) + 1.0) << i;
    }
    all.push_back(delays[0]);
  }
  EXPECT_LT(*std::min_element(all.begin(), all.end()), 90us);
  EXPECT_GT(*std::max_element(all.begin(), all.end()), 110us);
}

TEST(retry, the_same_seed_gives_the_same_jittered_delays) {
  brigade::runtime rt({.worker_threads = 2});
  const brigade::retry_policy policy{.max_attempts = 6,
                                     .backoff = brigade::retry_backoff::constant,
                                     .initial_delay = 50us,
                                     .jitter = brigade::retry_jitter::full,
                                     .seed = 1234};
  const auto first = delays_of(rt, policy);
  EXPECT_EQ(first, delays_of(rt, policy));
  brigade::retry_policy other = policy;
  other.seed = 4321;
  EXPECT_NE(first, delays_of(rt, other));
}

TEST(retry, the_predicate_stops_retries_on_a_non_retryable_error) {
  brigade::runtime rt({.worker_threads = 2});
  int calls = 0;
  const brigade::retry_policy policy{
      .max_attempts = 5, .initial_delay = 0ms, .retry_if = [](const std::exception_ptr& error) {
        try {
          std::rethrow_exception(error);
        } catch (const std::invalid_argument&) {
          return false;
        } catch (...) {
          return true;
        }
      }};
  auto body = [&]() -> brigade::task<int> {
    co_return co_await brigade::retry(
        [&]() -> int {
          if (++calls < 3) throw std::runtime_error("transient");
          throw std::invalid_argument("permanent");
        },
        policy);
  };
  EXPECT_THROW(rt.block_on(body()), std::invalid_argument);
  EXPECT_EQ(calls, 3);
}

TEST(retry, retry_on_retries_only_the_listed_error_types) {
  brigade::runtime rt({.worker_threads = 2});
  int calls = 0;
  const brigade::retry_policy policy{.max_attempts = 5, .initial_delay = 0ms, .retry_if = brigade::retry_on<std::system_error>()};
  auto body = [&]() -> brigade::task<void> {
    co_await brigade::retry(
        [&] {
          if (++calls < 3) throw brigade::timeout_error();  // a std::system_error
          throw std::runtime_error("not listed");
        },
        policy);
  };
  EXPECT_THROW(rt.block_on(body()), std::runtime_error);
  EXPECT_EQ(calls, 3);
}

TEST(retry, the_default_predicate_retries_neither_a_usage_error_nor_a_non_std_exception) {
  brigade::runtime rt({.worker_threads = 2});
  int calls = 0;
  const brigade::retry_policy policy{.max_attempts = 5, .initial_delay = 0ms};
  auto misuse = [&]() -> brigade::task<void> {
    co_await brigade::retry(
        [&] {
          ++calls;
          throw brigade::usage_error("a bug");
        },
        policy);
  };
  EXPECT_THROW(rt.block_on(misuse()), brigade::usage_error);
  EXPECT_EQ(calls, 1);
  auto odd = [&]() -> brigade::task<void> {
    co_await brigade::retry(
        [&] {
          ++calls;
          throw 42;
        },
        policy);
  };
  EXPECT_THROW(rt.block_on(odd()), int);
  EXPECT_EQ(calls, 2);
}

TEST(retry, task_cancelled_from_inside_fn_is_never_retried) {
  brigade::runtime rt({.worker_threads = 2});
  int calls = 0;
  const brigade::retry_policy policy{
      .max_attempts = 5, .initial_delay = 0ms, .retry_if = [](const std::exception_ptr&) { return true; }};
  auto body = [&]() -> brigade::task<void> {
    co_await brigade::retry(
        [&] {
          ++calls;
          throw brigade::task_cancelled();
        },
        policy);
  };
  EXPECT_THROW(rt.block_on(body()), brigade::task_cancelled);
  EXPECT_EQ(calls, 1);
}

brigade::task<int> retries_with_a_long_backoff(std::atomic<int>& calls, std::atomic<int>& hooks) {
  const brigade::retry_policy policy{.max_attempts = 5,
                                     .backoff = brigade::retry_backoff::constant,
                                     .initial_delay = 1h,
                                     .max_delay = 2h,
                                     .on_retry = [&](std::size_t, const std::exception_ptr&, nanoseconds) { ++hooks; }};
  co_return co_await brigade::retry([&] { return flaky(calls, 1'000'000); }, policy);
}

TEST(retry, an_abort_during_a_long_backoff_ends_the_retry_with_task_cancelled) {
  brigade::runtime rt({.worker_threads = 2});
  std::atomic<int> calls{0};
  std::atomic<int> hooks{0};
  auto handle = rt.spawn(retries_with_a_long_backoff(calls, hooks));
  while (hooks.load() == 0) std::this_thread::yield();
  ASSERT_TRUE(brigade_test::until_workers_parked(rt, 2));  // in the 1 h pause
  const auto start = clock_type::now();
  handle.abort();
  EXPECT_THROW(handle.join(), brigade::task_cancelled);
  EXPECT_LT(clock_type::now() - start, 30s);  // not the hour
  EXPECT_EQ(calls.load(), 1);                 // no further attempt
  EXPECT_EQ(hooks.load(), 1);
}

brigade::task<int> hangs(std::atomic<int>& calls) {
  ++calls;
  co_await brigade::sleep_for_async(1h);
  co_return 0;
}

TEST(retry, an_abort_during_an_attempt_starts_no_further_attempt) {
  brigade::runtime rt({.worker_threads = 2});
  std::atomic<int> calls{0};
  auto handle = rt.spawn([](std::atomic<int>& c) -> brigade::task<int> {
    const brigade::retry_policy policy{.max_attempts = 5, .initial_delay = 0ms};
    co_return co_await brigade::retry([&] { return hangs(c); }, policy);
  }(calls));
  while (calls.load() == 0) std::this_thread::yield();
  ASSERT_TRUE(brigade_test::until_workers_parked(rt, 2));
  handle.abort();
  EXPECT_THROW(handle.join(), brigade::task_cancelled);
  EXPECT_EQ(calls.load(), 1);
}

/// An attempt that turns its cancellation into another error (a cleanup that failed).
brigade::task<int> hides_its_cancellation(std::atomic<int>& calls) {
  ++calls;
  try {
    co_await brigade::sleep_for_async(1h);
  } catch (const brigade::task_cancelled&) {
  }
  throw std::runtime_error("cleanup failed");
}

TEST(retry, a_stop_seen_after_an_attempt_failed_otherwise_ends_the_retry_with_task_cancelled) {
  brigade::runtime rt({.worker_threads = 2});
  std::atomic<int> calls{0};
  auto handle = rt.spawn([](std::atomic<int>& c) -> brigade::task<int> {
    const brigade::retry_policy policy{.max_attempts = 5, .initial_delay = 0ms};
    co_return co_await brigade::retry([&] { return hides_its_cancellation(c); }, policy);
  }(calls));
  while (calls.load() == 0) std::this_thread::yield();
  ASSERT_TRUE(brigade_test::until_workers_parked(rt, 2));
  handle.abort();
  EXPECT_THROW(handle.join(), brigade::task_cancelled);
  EXPECT_EQ(calls.load(), 1);
}

TEST(retry, a_timeout_around_the_retry_ends_it_with_timeout_error) {
  brigade::runtime rt({.worker_threads = 2});
  std::atomic<int> calls{0};
  std::atomic<int> hooks{0};
  // During a pause.
  auto in_backoff = [&]() -> brigade::task<void> {
    auto retrying = retries_with_a_long_backoff(calls, hooks);
    (void)co_await brigade::timeout(std::move(retrying), 20ms);
  };
  EXPECT_THROW(rt.block_on(in_backoff()), brigade::timeout_error);
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(hooks.load(), 1);
  // During an attempt.
  calls = 0;
  const brigade::retry_policy policy{.max_attempts = 5, .initial_delay = 0ms};
  auto in_attempt = [&]() -> brigade::task<void> {
    auto retrying = brigade::retry([&] { return hangs(calls); }, policy);
    (void)co_await brigade::timeout(std::move(retrying), 20ms);
  };
  EXPECT_THROW(rt.block_on(in_attempt()), brigade::timeout_error);
  EXPECT_EQ(calls.load(), 1);
}

TEST(retry, a_timeout_inside_each_attempt_is_retried) {
  brigade::runtime rt({.worker_threads = 2});
  std::atomic<int> calls{0};
  const brigade::retry_policy policy{.max_attempts = 3, .initial_delay = 1ms};
  auto body = [&]() -> brigade::task<int> {
    // fn is a coroutine: the attempt's task must outlive the timeout that awaits it.
    co_return co_await brigade::retry([&]() -> brigade::task<int> { co_return co_await brigade::timeout(hangs(calls), 5ms); },
                                      policy);
  };
  EXPECT_THROW(rt.block_on(body()), brigade::timeout_error);
  EXPECT_EQ(calls.load(), 3);
}

TEST(retry, an_invalid_policy_is_a_usage_error_at_the_call) {
  auto fn = [] { return 1; };
  EXPECT_THROW((void)brigade::retry(fn, {.max_attempts = 0}), brigade::usage_error);
  EXPECT_THROW((void)brigade::retry(fn, {.initial_delay = -1ms}), brigade::usage_error);
  EXPECT_THROW((void)brigade::retry(fn, {.multiplier = 0.5}), brigade::usage_error);
  EXPECT_THROW((void)brigade::retry(fn, {.jitter_fraction = 1.5}), brigade::usage_error);
  EXPECT_NO_THROW((void)brigade::retry(fn, {}));
}

TEST(retry, an_error_in_on_retry_ends_the_retry_with_it) {
  brigade::runtime rt({.worker_threads = 2});
  std::atomic<int> calls{0};
  const brigade::retry_policy policy{
      .max_attempts = 5, .initial_delay = 0ms, .on_retry = [](std::size_t, const std::exception_ptr&, nanoseconds) {
        throw std::logic_error("hook");
      }};
  auto body = [&]() -> brigade::task<int> { co_return co_await brigade::retry([&] { return flaky(calls, 3); }, policy); };
  EXPECT_THROW(rt.block_on(body()), std::logic_error);
  EXPECT_EQ(calls.load(), 1);
}

}  // namespace
