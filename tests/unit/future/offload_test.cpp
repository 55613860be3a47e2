// offload_async / offload: CPU work on a thread_pool from a task and from a fiber, errors, and
// a cancelled wait cancelling the job.
#include "brigade/future/offload.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <stdexcept>
#include <stop_token>
#include <thread>
#include <vector>

#include "brigade/chan/channel.hpp"
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

// The hybrid's shape: a front end spawns one task per job; each task offloads (or awaits a local
// task that is destroyed before the end) and ends on a channel send. Every task must finish: the
// results channel closes only when the last task's sender is gone. Built with clang-16 -O2 while
// clang could elide task frames, the tasks never finished and the second runtime of this test hung
// on frames freed twice (tests/unit/runtime/task_elision_test.cpp has the reduced case).
struct hybrid_result {
  int id = 0;
  long value = 0;
};

brigade::task<long> doubled(long x) { co_return 2 * x; }

brigade::task<void> hybrid_handler(int id, brigade::thread_pool* pool, brigade::sender<hybrid_result> results) {
  long value = 0;
  if (pool != nullptr) {
    value = co_await brigade::offload_async(*pool, sum_to, static_cast<long>(id));
  } else {
    auto child = doubled(id);
    value = co_await std::move(child);
  }
  co_await results.send_async(hybrid_result{id, value});
}

brigade::task<void> hybrid_front_end(brigade::receiver<int> jobs, brigade::thread_pool* pool,
                                     brigade::sender<hybrid_result> results) {
  while (auto id = co_await jobs.recv_async()) brigade::spawn(hybrid_handler(*id, *id % 2 == 0 ? pool : nullptr, results)).detach();
}

TEST(offload, every_task_of_a_front_end_that_offloads_finishes) {
  brigade::thread_pool pool(2);
  for (std::size_t workers : {1U, 2U}) {
    brigade::runtime rt({.worker_threads = workers});
    for (int capacity : {0, 1, 64}) {
      constexpr int job_count = 200;
      auto [jobs_tx, jobs_rx] = brigade::make_channel<int>(16);
      auto [results_tx, results_rx] = brigade::make_channel<hybrid_result>(static_cast<std::size_t>(capacity));
      rt.spawn(hybrid_front_end(std::move(jobs_rx), &pool, std::move(results_tx))).detach();
      for (int id = 0; id < job_count; ++id) jobs_tx.send(id);
      jobs_tx = {};
      std::vector<int> seen(job_count, 0);
      int wrong = 0;
      for (hybrid_result r : results_rx) {  // ends when every handler has returned
        ++seen.at(static_cast<std::size_t>(r.id));
        if (r.value != (r.id % 2 == 0 ? sum_to(r.id) : 2L * r.id)) ++wrong;
      }
      EXPECT_EQ(wrong, 0);
      EXPECT_EQ(std::count(seen.begin(), seen.end(), 1), job_count) << workers << " workers, capacity " << capacity;
    }
  }
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
