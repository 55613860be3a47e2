// thread_pool: submit and futures, exceptions, shutdown / shutdown_now / await_termination,
// cancellation of queued and running jobs, jobs that wait on the pool's own work (helping, extra
// threads, deadlock_error), execute()'s failures, and a pool destroyed with work queued.
#include "brigade/future/thread_pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "brigade/future/promise.hpp"

namespace {

using namespace std::chrono_literals;

/// A job that holds a pool thread until released (so that later jobs stay queued).
struct gate {
  std::atomic<bool> entered{false};
  std::atomic<bool> open{false};
  void hold() {
    entered = true;
    while (!open) std::this_thread::sleep_for(100us);
  }
  void wait_until_entered() const {
    while (!entered) std::this_thread::sleep_for(100us);
  }
};

TEST(thread_pool, submit_returns_each_result_through_its_future) {
  brigade::thread_pool pool(2);
  EXPECT_EQ(pool.thread_count(), 2u);
  std::vector<brigade::future<int>> futures;
  for (int i = 0; i < 100; ++i) futures.push_back(pool.submit([](int x) { return x * x; }, i));
  long sum = 0;
  for (auto& f : futures) sum += f.get();
  EXPECT_EQ(sum, 328'350);
}

TEST(thread_pool, a_job_that_throws_delivers_the_exception_through_its_future) {
  brigade::thread_pool pool(1);
  auto f = pool.submit([]() -> int { throw std::invalid_argument("bad input"); });
  EXPECT_THROW((void)f.get(), std::invalid_argument);
}

TEST(thread_pool, shutdown_finishes_queued_work_and_refuses_new_work) {
  brigade::thread_pool pool(1);
  gate held;
  auto first = pool.submit([&] { held.hold(); });
  std::atomic<int> ran{0};
  std::vector<brigade::future<void>> queued;
  for (int i = 0; i < 10; ++i) queued.push_back(pool.submit([&] { ++ran; }));
  pool.shutdown();
  EXPECT_TRUE(pool.is_shutdown());
  EXPECT_THROW((void)pool.submit([] {}), brigade::rejected_execution);
  EXPECT_THROW(pool.execute([] {}), brigade::rejected_execution);
  EXPECT_FALSE(pool.await_termination(5ms));  // the gate holds the only thread
  held.open = true;
  EXPECT_TRUE(pool.await_termination(5s));
  EXPECT_TRUE(pool.is_terminated());
  EXPECT_EQ(ran.load(), 10);
  first.get();
}

TEST(thread_pool, shutdown_now_hands_back_the_queued_jobs_and_stops_the_running_ones) {
  brigade::thread_pool pool(1);
  std::atomic<bool> running{false};
  auto running_job = pool.submit([&](std::stop_token token) {
    running = true;
    while (!token.stop_requested()) std::this_thread::sleep_for(100us);
    return std::string("stopped");
  });
  while (!running) std::this_thread::sleep_for(100us);
  auto kept = pool.submit([] { return 1; });
  auto dropped = pool.submit([] { return 2; });
  std::vector<brigade::thread_pool::job> handed_back = pool.shutdown_now();
  ASSERT_EQ(handed_back.size(), 2u);
  EXPECT_EQ(running_job.get(), "stopped");
  handed_back[0]();                // run here: its future gets the value
  handed_back.pop_back();          // dropped: its future is cancelled
  EXPECT_EQ(kept.get(), 1);
  EXPECT_THROW((void)dropped.get(), brigade::task_cancelled);
  EXPECT_TRUE(pool.await_termination(5s));
}

TEST(thread_pool, a_cancelled_queued_job_never_runs) {
  brigade::thread_pool pool(1);
  gate held;
  auto first = pool.submit([&] { held.hold(); });
  held.wait_until_entered();
  std::atomic<bool> ran{false};
  auto second = pool.submit([&] { ran = true; });
  EXPECT_TRUE(second.cancel());
  EXPECT_THROW(second.get(), brigade::task_cancelled);
  held.open = true;
  first.get();
  auto third = pool.submit([] {});  // runs after the cancelled one was skipped
  third.get();
  EXPECT_FALSE(ran.load());
}

TEST(thread_pool, cancel_asks_a_running_job_to_stop) {
  brigade::thread_pool pool(1);
  std::atomic<bool> running{false}, saw_stop{false};
  auto f = pool.submit([&](std::stop_token token) {
    running = true;
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!token.stop_requested() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(100us);
    saw_stop = token.stop_requested();
  });
  while (!running) std::this_thread::sleep_for(100us);
  EXPECT_TRUE(f.cancel());
  EXPECT_THROW(f.get(), brigade::task_cancelled);
  pool.shutdown();
  EXPECT_TRUE(pool.await_termination(5s));
  EXPECT_TRUE(saw_stop.load());
}

TEST(thread_pool, a_job_waiting_for_a_job_it_queued_on_a_one_thread_pool_runs_it_itself) {
  brigade::thread_pool pool(1);
  auto outer = pool.submit([&pool] {
    auto inner = pool.submit([] { return 20; });
    return inner.get() + 1;  // the only thread waits for a job queued behind it
  });
  EXPECT_EQ(outer.get(), 21);
  EXPECT_EQ(pool.extra_threads_started(), 0u);
}

// A job waits for a promise that only a job queued behind it fulfils, on a one-thread pool. Two
// orders: the fulfiller is queued before the wait begins (the pool sees it as the waiter
// blocks), or after (the pool sees it as the fulfiller is queued).
struct promise_behind_a_waiter {
  brigade::promise<int> p;
  brigade::future<int> f = p.get_future();
  std::atomic<bool> fulfiller_queued{false}, waiting{false};
};

TEST(thread_pool, a_job_waiting_for_work_queued_behind_it_gets_an_extra_thread_as_it_blocks) {
  brigade::thread_pool pool(1);
  promise_behind_a_waiter shared;
  auto waiter = pool.submit([&shared] {
    while (!shared.fulfiller_queued) std::this_thread::sleep_for(100us);
    return shared.f.get();
  });
  auto fulfiller = pool.submit([&shared] { shared.p.set_value(5); });
  shared.fulfiller_queued = true;
  EXPECT_EQ(waiter.get(), 5);
  fulfiller.get();
  EXPECT_EQ(pool.extra_threads_started(), 1u);
}

TEST(thread_pool, a_job_waiting_for_work_queued_after_it_blocked_gets_an_extra_thread) {
  brigade::thread_pool pool(1);
  promise_behind_a_waiter shared;
  auto waiter = pool.submit([&shared] {
    shared.waiting = true;
    return shared.f.get();
  });
  while (!shared.waiting) std::this_thread::sleep_for(100us);
  std::this_thread::sleep_for(10ms);  // usually blocked by now; either order must work
  auto fulfiller = pool.submit([&shared] { shared.p.set_value(6); });
  EXPECT_EQ(waiter.get(), 6);
  fulfiller.get();
  EXPECT_EQ(pool.extra_threads_started(), 1u);
}

TEST(thread_pool, past_its_extra_threads_a_deadlocking_wait_throws_deadlock_error) {
  for (const bool queue_first : {true, false}) {
    brigade::thread_pool pool(brigade::thread_pool_options{.threads = 1, .max_extra_threads = 0});
    promise_behind_a_waiter shared;
    auto waiter = pool.submit([&shared, queue_first] {
      shared.waiting = true;
      if (queue_first)
        while (!shared.fulfiller_queued) std::this_thread::sleep_for(100us);
      return shared.f.get();
    });
    if (!queue_first) {
      while (!shared.waiting) std::this_thread::sleep_for(100us);
      std::this_thread::sleep_for(10ms);
    }
    auto fulfiller = pool.submit([&shared] { shared.p.set_value(5); });
    shared.fulfiller_queued = true;
    try {
      (void)waiter.get();
      FAIL() << "expected deadlock_error (queue_first " << queue_first << ")";
    } catch (const brigade::deadlock_error& error) {
      EXPECT_NE(std::string(error.what()).find("max_extra_threads"), std::string::npos);
    }
    fulfiller.get();  // the thread, freed from the deadlocked wait, ran it
  }
}

TEST(thread_pool, what_an_executed_function_throws_goes_to_the_handler) {
  std::atomic<int> failures{0};
  {
    brigade::thread_pool pool(brigade::thread_pool_options{
        .threads = 1, .on_unobserved_failure = [&](std::exception_ptr) { ++failures; }});
    pool.execute([] { throw std::runtime_error("lost?"); });
    pool.execute([] {});
  }
  EXPECT_EQ(failures.load(), 1);
}

TEST(thread_pool, a_pool_destroyed_with_work_queued_finishes_it) {
  std::atomic<int> ran{0};
  std::vector<brigade::future<void>> futures;
  {
    brigade::thread_pool pool(2);
    for (int i = 0; i < 1000; ++i) futures.push_back(pool.submit([&] { ++ran; }));
  }
  EXPECT_EQ(ran.load(), 1000);
  for (auto& f : futures) EXPECT_TRUE(f.is_ready());
}

TEST(thread_pool, jobs_take_their_arguments_by_value_and_move_only_ones_too) {
  brigade::thread_pool pool(1);
  auto owned = std::make_unique<int>(9);
  auto f = pool.submit([](std::unique_ptr<int> value, int add) { return *value + add; }, std::move(owned), 1);
  EXPECT_EQ(f.get(), 10);
}

}  // namespace
