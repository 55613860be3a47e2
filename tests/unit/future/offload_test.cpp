// offload_async / offload: CPU work on a thread_pool from a task and from a fiber, errors, and
// a cancelled wait cancelling the job.
#include "brigade/future/offload.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <stop_token>
#include <thread>

#include "brigade/fiber/go.hpp"
#include "brigade/runtime/runtime.hpp"
#include "brigade/time/timeout.hpp"

namespace {

using namespace std::chrono_literals;

long sum_to(long n) {
  long sum = 0;
  for (long i = 1; i <= n; ++i) sum += i;
  return sum;
}

brigade::task<bool> offload_and_come_back(brigade::thread_pool& pool, brigade::runtime& rt, long& result) {
  result = co_await brigade::offload_async(pool, sum_to, 1000L);
  co_return brigade::runtime::current() == &rt;  // resumed on the runtime, not on the pool
}

TEST(offload, a_task_offloads_cpu_work_and_resumes_on_its_runtime) {
  brigade::thread_pool pool(2);
  brigade::runtime rt({.worker_threads = 1});
  long result = 0;
  EXPECT_TRUE(rt.block_on(offload_and_come_back(pool, rt, result)));
  EXPECT_EQ(result, 500'500);
}

TEST(offload, a_fiber_offloads_with_a_blocking_call) {
  brigade::thread_pool pool(2);
  brigade::runtime rt({.worker_threads = 1});
  auto fiber = brigade::go(rt, [&pool] { return brigade::offload(pool, sum_to, 100L); });
  EXPECT_EQ(fiber.join(), 5050);
}

brigade::task<int> offload_a_failure(brigade::thread_pool& pool) {
  co_return co_await brigade::offload_async(pool, []() -> int { throw std::range_error("in the pool"); });
}

TEST(offload, the_jobs_exception_reaches_the_waiter) {
  brigade::thread_pool pool(1);
  brigade::runtime rt({.worker_threads = 1});
  EXPECT_THROW(rt.block_on(offload_a_failure(pool)), std::range_error);
}

brigade::task<void> offload_with_a_timeout(brigade::thread_pool& pool, std::atomic<bool>& saw_stop) {
  co_await brigade::timeout(brigade::offload_async(pool,
                                                   [&saw_stop](std::stop_token token) {
                                                     const auto deadline = std::chrono::steady_clock::now() + 5s;
                                                     while (!token.stop_requested() &&
                                                            std::chrono::steady_clock::now() < deadline)
                                                       std::this_thread::sleep_for(100us);
                                                     saw_stop = token.stop_requested();
                                                   }),
                            10ms);
}

TEST(offload, a_timed_out_wait_cancels_the_job) {
  brigade::thread_pool pool(1);
  brigade::runtime rt({.worker_threads = 1});
  std::atomic<bool> saw_stop{false};
  EXPECT_THROW(rt.block_on(offload_with_a_timeout(pool, saw_stop)), brigade::timeout_error);
  pool.shutdown();
  EXPECT_TRUE(pool.await_termination(5s));
  EXPECT_TRUE(saw_stop.load()) << "the running job was not asked to stop";
}

brigade::task<long> offload_from_a_worker_outside_a_fiber(brigade::thread_pool& pool) {
  co_return brigade::offload(pool, sum_to, 10L);  // the blocking form, on a worker: refused
}

TEST(offload, the_blocking_form_on_a_worker_outside_a_fiber_is_a_usage_error) {
  brigade::thread_pool pool(1);
  brigade::runtime rt({.worker_threads = 1});
  EXPECT_THROW(rt.block_on(offload_from_a_worker_outside_a_fiber(pool)), brigade::usage_error);
}

}  // namespace
