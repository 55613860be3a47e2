// future<T>, promise<T> and shared_future<T>: waiting from threads, fibers and tasks, errors,
// broken promises, misuse, cancellation and cancel-safety, and the continuations then /
// catch_error / finally with their executors.
#include "brigade/future/future.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <pthread.h>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "brigade/fiber/go.hpp"
#include "brigade/fiber/this_fiber.hpp"
#include "brigade/future/promise.hpp"
#include "brigade/future/shared_future.hpp"
#include "brigade/future/thread_pool.hpp"
#include "brigade/runtime/runtime.hpp"
#include "brigade/time/timeout.hpp"

namespace {

using namespace std::chrono_literals;

TEST(future, get_returns_the_value_set_on_another_thread) {
  brigade::promise<std::string> p;
  auto f = p.get_future();
  EXPECT_FALSE(f.is_ready());
  std::thread producer([p = std::move(p)]() mutable {
    std::this_thread::sleep_for(5ms);
    p.set_value("ready");
  });
  EXPECT_EQ(f.get(), "ready");
  producer.join();
}

TEST(future, get_twice_is_a_usage_error) {
  brigade::promise<int> p;
  auto f = p.get_future();
  p.set_value(7);
  EXPECT_EQ(f.get(), 7);
  EXPECT_THROW((void)f.get(), brigade::usage_error);
}

TEST(future, an_exception_reaches_the_consumer_with_its_type) {
  brigade::promise<int> p;
  auto f = p.get_future();
  p.set_exception(std::make_exception_ptr(std::out_of_range("no such row")));
  EXPECT_THROW((void)f.get(), std::out_of_range);
}

TEST(future, a_promise_destroyed_unfulfilled_breaks_its_future) {
  brigade::future<int> f;
  {
    brigade::promise<int> p;
    f = p.get_future();
  }
  try {
    (void)f.get();
    FAIL() << "expected broken_promise";
  } catch (const brigade::broken_promise& error) {
    EXPECT_NE(std::string(error.what()).find("broken promise"), std::string::npos);
  }
}

TEST(future, misuse_of_a_promise_is_a_usage_error) {
  brigade::promise<int> p;
  auto f = p.get_future();
  EXPECT_THROW((void)p.get_future(), brigade::usage_error);
  p.set_value(1);
  EXPECT_THROW(p.set_value(2), brigade::usage_error);
  EXPECT_THROW(p.set_exception(std::make_exception_ptr(std::runtime_error("x"))), brigade::usage_error);
  EXPECT_EQ(f.get(), 1);
  brigade::promise<int> moved_to(std::move(p));
  EXPECT_THROW(p.set_value(3), brigade::usage_error);  // NOLINT: use after move is the point
  brigade::future<int> empty;
  EXPECT_FALSE(empty.valid());
  EXPECT_THROW((void)empty.get(), brigade::usage_error);
}

TEST(future, a_value_whose_construction_throws_leaves_the_promise_unsatisfied) {
  struct throws_on_copy {
    throws_on_copy() = default;
    throws_on_copy(const throws_on_copy&) { throw std::runtime_error("copy failed"); }
  };
  brigade::future<throws_on_copy> f;
  {
    brigade::promise<throws_on_copy> p;
    f = p.get_future();
    const throws_on_copy original;
    EXPECT_THROW(p.set_value(original), std::runtime_error);
  }  // so the destructor breaks it, rather than leaving the consumer waiting forever
  EXPECT_THROW((void)f.get(), brigade::broken_promise);
}

TEST(future, wait_for_times_out_then_sees_the_value) {
  brigade::promise<void> p;
  auto f = p.get_future();
  EXPECT_FALSE(f.wait_for(5ms));
  p.set_value();
  EXPECT_TRUE(f.wait_for(5ms));
  f.get();
}

TEST(future, a_stop_token_ends_a_thread_wait_and_leaves_the_future_pending) {
  brigade::promise<int> p;
  auto f = p.get_future();
  std::stop_source stop;
  std::thread stopper([&] {
    std::this_thread::sleep_for(5ms);
    stop.request_stop();
  });
  EXPECT_THROW((void)f.get(stop.get_token()), brigade::task_cancelled);
  stopper.join();
  p.set_value(5);
  EXPECT_EQ(f.get(), 5);
}

brigade::task<int> await_twice_as_much(brigade::future<int> f) { co_return 2 * co_await std::move(f); }

TEST(future, a_task_co_awaits_a_value_set_by_a_plain_thread) {
  brigade::runtime rt({.worker_threads = 2});
  brigade::promise<int> p;
  auto handle = rt.spawn(await_twice_as_much(p.get_future()));
  std::this_thread::sleep_for(5ms);
  p.set_value(21);
  EXPECT_EQ(handle.join(), 42);
}

brigade::task<int> get_in_a_task(brigade::future<int>& f) { co_return f.get(); }

TEST(future, get_of_a_pending_future_in_a_task_is_refused_but_a_ready_one_is_returned) {
  brigade::runtime rt({.worker_threads = 1});
  brigade::promise<int> p;
  auto f = p.get_future();
  EXPECT_THROW(rt.block_on(get_in_a_task(f)), brigade::usage_error);
  p.set_value(3);
  EXPECT_EQ(rt.block_on(get_in_a_task(f)), 3);
}

TEST(future, a_fiber_blocks_in_get_while_another_fiber_on_the_same_worker_fulfils_it) {
  brigade::runtime rt({.worker_threads = 1});
  brigade::promise<int> p;
  auto f = p.get_future();
  auto consumer = brigade::go(rt, [&f] { return f.get(); });
  auto producer = brigade::go(rt, [p = std::move(p)]() mutable {
    brigade::this_fiber::sleep_for(2ms);
    p.set_value(99);
  });
  EXPECT_EQ(consumer.join(), 99);
  producer.join();
}

brigade::task<std::string> wait_with_timeout_then_again(brigade::future<int>& f, brigade::promise<int>& p) {
  std::string log;
  try {
    (void)co_await brigade::timeout(f, 5ms);
  } catch (const brigade::timeout_error&) {
    log += "timed out;";
  }
  p.set_value(8);
  log += std::to_string(co_await f);  // still pending after the timeout: awaited again
  co_return log;
}

TEST(future, a_timed_out_co_await_leaves_the_future_to_be_awaited_again) {
  brigade::runtime rt({.worker_threads = 1});
  brigade::promise<int> p;
  auto f = p.get_future();
  EXPECT_EQ(rt.block_on(wait_with_timeout_then_again(f, p)), "timed out;8");
}

brigade::task<void> await_forever(brigade::future<int>& f, std::atomic<bool>& waiting) {
  waiting = true;
  (void)co_await f;
}

TEST(future, cancel_wakes_a_waiting_task_and_asks_the_producer_to_stop) {
  brigade::runtime rt({.worker_threads = 1});
  brigade::promise<int> p;
  auto token = p.stop_token();
  auto f = p.get_future();
  std::atomic<bool> waiting{false};
  auto waiter = rt.spawn(await_forever(f, waiting));
  while (!waiting) std::this_thread::sleep_for(1ms);
  EXPECT_TRUE(f.cancel());
  EXPECT_THROW(waiter.join(), brigade::task_cancelled);
  EXPECT_TRUE(token.stop_requested());
  EXPECT_TRUE(p.is_cancelled());
  p.set_value(1);  // the producer finishing late is not an error
  EXPECT_FALSE(f.cancel());
}

TEST(future, aborting_the_waiting_task_leaves_the_future_unchanged) {
  brigade::runtime rt({.worker_threads = 1});
  brigade::promise<int> p;
  auto f = p.get_future();
  std::atomic<bool> waiting{false};
  auto waiter = rt.spawn(await_forever(f, waiting));
  while (!waiting) std::this_thread::sleep_for(1ms);
  waiter.abort();
  EXPECT_THROW(waiter.join(), brigade::task_cancelled);
  EXPECT_FALSE(f.is_ready());
  p.set_value(4);
  EXPECT_EQ(f.get(), 4);
}

// ---- Continuations.

TEST(future_then, transforms_and_chains) {
  brigade::promise<int> p;
  auto f = p.get_future().then([](int n) { return n + 1; }).then([](int n) { return std::to_string(n * 2); });
  p.set_value(20);
  EXPECT_EQ(f.get(), "42");
}

TEST(future_then, on_a_ready_future_runs_at_once) {
  bool ran = false;
  auto f = brigade::make_ready_future<int>(1).then([&](int n) {
    ran = true;
    return n;
  });
  EXPECT_TRUE(ran);
  EXPECT_EQ(f.get(), 1);
}

TEST(future_then, an_error_skips_then_and_reaches_catch_error) {
  brigade::promise<int> p;
  bool then_ran = false;
  auto f = p.get_future()
               .then([&](int n) {
                 then_ran = true;
                 return n;
               })
               .catch_error<std::runtime_error>([](const std::runtime_error& error) { return static_cast<int>(std::string(error.what()).size()); });
  p.set_exception(std::make_exception_ptr(std::runtime_error("four")));
  EXPECT_EQ(f.get(), 4);
  EXPECT_FALSE(then_ran);
}

TEST(future_then, catch_error_of_another_type_passes_the_error_on) {
  auto f = brigade::make_failed_future<int>(std::make_exception_ptr(std::logic_error("bad")))
               .catch_error<std::out_of_range>([](const std::out_of_range&) { return 0; });
  EXPECT_THROW((void)f.get(), std::logic_error);
}

TEST(future_then, catch_error_of_any_error_takes_the_exception_ptr) {
  auto f = brigade::make_failed_future<int>(std::make_exception_ptr(42)).catch_error([](std::exception_ptr error) {
    try {
      std::rethrow_exception(error);
    } catch (int code) {
      return code;
    }
  });
  EXPECT_EQ(f.get(), 42);
}

TEST(future_then, finally_runs_either_way_and_passes_the_outcome_on) {
  int runs = 0;
  auto ok = brigade::make_ready_future<int>(5).finally([&] { ++runs; });
  auto failed = brigade::make_failed_future<int>(std::make_exception_ptr(std::runtime_error("x"))).finally([&] { ++runs; });
  EXPECT_EQ(ok.get(), 5);
  EXPECT_THROW((void)failed.get(), std::runtime_error);
  EXPECT_EQ(runs, 2);
}

TEST(future_then, a_continuation_that_throws_fails_the_next_future) {
  auto f = brigade::make_ready_future<int>(1).then([](int) -> int { throw std::domain_error("in then"); });
  EXPECT_THROW((void)f.get(), std::domain_error);
  auto g = brigade::make_ready_future<int>(1).finally([] { throw std::domain_error("in finally"); });
  EXPECT_THROW((void)g.get(), std::domain_error);
}

TEST(future_then, a_continuation_returning_a_future_is_flattened) {
  brigade::promise<int> outer, inner;
  auto inner_future = inner.get_future();
  auto f = outer.get_future().then([&](int n) {
    return std::move(inner_future).then([n](int m) { return n * m; });
  });
  static_assert(std::is_same_v<decltype(f), brigade::future<int>>);
  outer.set_value(6);
  EXPECT_FALSE(f.is_ready());
  inner.set_value(7);
  EXPECT_EQ(f.get(), 42);
}

TEST(future_then, void_futures_chain_too) {
  brigade::promise<void> p;
  int steps = 0;
  auto f = p.get_future().then([&] { ++steps; }).then([&] {
    ++steps;
    return steps;
  });
  p.set_value();
  EXPECT_EQ(f.get(), 2);
}

// Long chains run in constant stack: settling the head of 200,000 links would overflow a
// thread's stack many times over if each link's continuation ran the next one recursively.
void* settle_a_long_chain(void* result) {
  brigade::promise<long> p;
  brigade::future<long> f = p.get_future();
  for (int i = 0; i < 200'000; ++i) f = std::move(f).then([](long n) { return n + 1; });
  p.set_value(0);
  *static_cast<long*>(result) = f.get();
  return nullptr;
}

TEST(future_then, a_chain_of_200000_continuations_runs_in_a_small_stack) {
  pthread_attr_t attributes;
  pthread_attr_init(&attributes);
  pthread_attr_setstacksize(&attributes, 256 * 1024);
  pthread_t thread;
  long result = -1;
  ASSERT_EQ(pthread_create(&thread, &attributes, &settle_a_long_chain, &result), 0);
  pthread_join(thread, nullptr);
  pthread_attr_destroy(&attributes);
  EXPECT_EQ(result, 200'000);
}

TEST(future_then, an_executor_chooses_where_the_continuation_runs) {
  brigade::thread_pool pool(1);
  brigade::runtime rt({.worker_threads = 1});
  brigade::promise<int> p;
  auto on_pool = p.get_future().then(pool, [](int n) {
    return std::make_pair(n, std::this_thread::get_id());
  });
  p.set_value(1);
  const auto [value, pool_thread] = on_pool.get();
  EXPECT_EQ(value, 1);
  EXPECT_NE(pool_thread, std::this_thread::get_id());
  auto on_runtime = brigade::make_ready_future<int>(2).then(brigade::on(rt), [](int n) {
    return brigade::runtime::current() != nullptr ? n : -1;
  });
  EXPECT_EQ(on_runtime.get(), 2);
}

TEST(future_then, an_executor_that_refuses_fails_the_next_future) {
  brigade::thread_pool pool(1);
  pool.shutdown();
  auto f = brigade::make_ready_future<int>(1).then(pool, [](int n) { return n; });
  EXPECT_THROW((void)f.get(), brigade::rejected_execution);
}

// ---- shared_future.

TEST(shared_future, many_threads_read_one_value) {
  brigade::promise<std::vector<int>> p;
  brigade::shared_future<std::vector<int>> shared = p.get_future().share();
  std::atomic<int> sums{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < 4; ++i)
    readers.emplace_back([shared, &sums] {
      int sum = 0;
      for (int v : shared.get()) sum += v;
      sums += sum;
    });
  p.set_value(std::vector<int>{1, 2, 3});
  for (auto& reader : readers) reader.join();
  EXPECT_EQ(sums.load(), 24);
  EXPECT_EQ(shared.get().size(), 3u);  // again: nothing is taken
}

TEST(shared_future, every_continuation_runs_and_errors_reach_every_consumer) {
  brigade::promise<int> p;
  auto shared = p.get_future().share();
  auto a = shared.then([](const int& n) { return n + 1; });
  auto b = shared.then([](const int& n) { return n + 2; });
  p.set_value(10);
  EXPECT_EQ(a.get(), 11);
  EXPECT_EQ(b.get(), 12);
  auto failed = brigade::make_failed_future<int>(std::make_exception_ptr(std::runtime_error("x"))).share();
  EXPECT_THROW((void)failed.get(), std::runtime_error);
  EXPECT_THROW((void)failed.get(), std::runtime_error);
}

brigade::task<int> await_shared(brigade::shared_future<int> shared) { co_return co_await shared; }

TEST(shared_future, tasks_co_await_it) {
  brigade::runtime rt({.worker_threads = 2});
  brigade::promise<int> p;
  auto shared = p.get_future().share();
  auto first = rt.spawn(await_shared(shared));
  auto second = rt.spawn(await_shared(shared));
  p.set_value(5);
  EXPECT_EQ(first.join() + second.join(), 10);
}

}  // namespace
