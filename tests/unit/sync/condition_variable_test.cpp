#include "brigade/sync/condition_variable.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "../until_parked.hpp"
#include "brigade/runtime/runtime.hpp"
#include "brigade/runtime/spawn.hpp"

namespace {

using namespace std::chrono_literals;

// A bounded queue guarded by a brigade::mutex with two conditions, used by tasks and threads.
struct bounded_queue {
  brigade::mutex m;
  brigade::condition_variable not_empty, not_full;
  std::deque<int> items;
  static constexpr std::size_t capacity = 4;
};

brigade::task<void> task_producer(bounded_queue& q, int from, int count) {
  for (int i = from; i < from + count; ++i) {
    auto held = co_await q.m.lock_async();
    co_await q.not_full.wait_async(held, [&] { return q.items.size() < bounded_queue::capacity; });
    q.items.push_back(i);
    q.not_empty.notify_one();
  }
}

brigade::task<long> task_consumer(bounded_queue& q, int count) {
  long sum = 0;
  for (int i = 0; i < count; ++i) {
    auto held = co_await q.m.lock_async();
    co_await q.not_empty.wait_async(held, [&] { return !q.items.empty(); });
    EXPECT_TRUE(held.owns_lock());
    sum += q.items.front();
    q.items.pop_front();
    q.not_full.notify_one();
  }
  co_return sum;
}

TEST(condition_variable, tasks_and_threads_pass_items_through_a_bounded_queue) {
  brigade::runtime rt({.worker_threads = 2});
  bounded_queue q;
  constexpr int per_party = 2000;
  auto producer = rt.spawn(task_producer(q, 0, per_party));
  auto consumer = rt.spawn(task_consumer(q, per_party));
  long thread_sum = 0;
  std::thread thread_consumer([&] {
    for (int i = 0; i < per_party; ++i) {
      std::unique_lock lock(q.m);
      q.not_empty.wait(lock, [&] { return !q.items.empty(); });
      thread_sum += q.items.front();
      q.items.pop_front();
      q.not_full.notify_one();
    }
  });
  std::thread thread_producer([&] {
    for (int i = per_party; i < 2 * per_party; ++i) {
      std::unique_lock lock(q.m);
      q.not_full.wait(lock, [&] { return q.items.size() < bounded_queue::capacity; });
      q.items.push_back(i);
      q.not_empty.notify_one();
    }
  });
  producer.join();
  thread_producer.join();
  const long task_sum = consumer.join();
  thread_consumer.join();
  constexpr long n = 2 * per_party;
  EXPECT_EQ(task_sum + thread_sum, n * (n - 1) / 2);
  EXPECT_TRUE(q.items.empty());
  EXPECT_FALSE(q.m.is_locked());
}

TEST(condition_variable, notify_all_wakes_every_waiter) {
  brigade::mutex m;
  brigade::condition_variable cv;
  bool go = false;
  std::atomic<int> through{0};
  std::vector<std::thread> threads;
  std::vector<std::atomic<long>> ids(4);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      ids[t] = brigade_test::this_thread_id();
      std::unique_lock lock(m);
      cv.wait(lock, [&] { return go; });
      through.fetch_add(1);
    });
  for (auto& id : ids) {  // all four asleep in the wait: one notify_all must wake them all
    brigade_test::until_thread_sleeps(id);
  }
  {
    std::lock_guard lock(m);
    go = true;
  }
  cv.notify_all();
  for (auto& t : threads) t.join();
  EXPECT_EQ(through.load(), 4);
}

TEST(condition_variable, wait_for_times_out_with_the_mutex_held) {
  brigade::mutex m;
  brigade::condition_variable cv;
  std::unique_lock lock(m);
  EXPECT_EQ(cv.wait_for(lock, 10ms), std::cv_status::timeout);
  EXPECT_TRUE(lock.owns_lock());
  EXPECT_FALSE(cv.wait_for(lock, 5ms, [] { return false; }));
  EXPECT_TRUE(cv.wait_until(lock, std::chrono::steady_clock::now() + 5ms, [] { return true; }));
  lock.unlock();
  cv.notify_one();  // nobody waits: the timed-out waiters left the list
}

TEST(condition_variable, waiting_without_the_mutex_is_a_usage_error) {
  brigade::mutex m;
  brigade::condition_variable cv;
  std::unique_lock<brigade::mutex> not_held(m, std::defer_lock);
  EXPECT_THROW(cv.wait(not_held), brigade::usage_error);
  brigade::runtime rt({.worker_threads = 1});
  EXPECT_THROW(rt.block_on([](brigade::mutex& mx, brigade::condition_variable& c) -> brigade::task<void> {
                 auto held = co_await mx.lock_async();
                 held.unlock();
                 co_await c.wait_async(held);
               }(m, cv)),
               brigade::usage_error);
}

}  // namespace
