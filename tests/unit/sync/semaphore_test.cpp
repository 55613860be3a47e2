#include "brigade/sync/semaphore.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include "../until_parked.hpp"
#include "brigade/runtime/runtime.hpp"
#include "brigade/runtime/spawn.hpp"
#include "brigade/runtime/yield_now.hpp"

namespace {

using namespace std::chrono_literals;

// Records the most parties ever inside at once.
struct occupancy {
  std::atomic<int> inside{0};
  std::atomic<int> most{0};
  void enter() {
    const int now = inside.fetch_add(1) + 1;
    int seen = most.load();
    while (now > seen && !most.compare_exchange_weak(seen, now)) {
    }
  }
  void leave() { inside.fetch_sub(1); }
};

TEST(semaphore, at_most_n_tasks_and_threads_hold_a_permit) {
  brigade::runtime rt({.worker_threads = 2});
  brigade::semaphore permits(3);
  occupancy room;
  std::vector<brigade::join_handle<void>> handles;
  for (int t = 0; t < 20; ++t)
    handles.push_back(rt.spawn([](brigade::semaphore& s, occupancy& r) -> brigade::task<void> {
      for (int i = 0; i < 100; ++i) {
        co_await s.acquire_async();
        r.enter();
        co_await brigade::yield_now();
        r.leave();
        s.release();
      }
    }(permits, room)));
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        permits.acquire();
        room.enter();
        room.leave();
        permits.release();
      }
    });
  for (auto& h : handles) h.join();
  for (auto& t : threads) t.join();
  EXPECT_LE(room.most.load(), 3);
  EXPECT_GE(room.most.load(), 1);
  EXPECT_EQ(permits.available(), 3);
}

TEST(semaphore, try_acquire_and_release_count_permits) {
  brigade::semaphore s(2);
  EXPECT_TRUE(s.try_acquire());
  EXPECT_TRUE(s.try_acquire());
  EXPECT_FALSE(s.try_acquire());
  s.release(5);
  EXPECT_EQ(s.available(), 5);
  s.release(0);
  EXPECT_EQ(s.available(), 5);
}

TEST(semaphore, a_release_wakes_waiters_first_in_first_out) {
  brigade::semaphore s(0);
  std::vector<int> order;
  std::mutex order_mutex;
  std::vector<std::thread> threads;
  std::atomic<long> tid{0};
  for (int t = 0; t < 3; ++t) {
    tid = 0;
    threads.emplace_back([&, t] {
      tid = brigade_test::this_thread_id();
      s.acquire();
      std::lock_guard lock(order_mutex);
      order.push_back(t);
    });
    // Thread t is queued (asleep in acquire) before the next one arrives.
    brigade_test::until_thread_sleeps(tid);
  }
  for (int t = 0; t < 3; ++t) {
    s.release();
    while (true) {
      std::lock_guard lock(order_mutex);
      if (order.size() == static_cast<std::size_t>(t + 1)) break;
    }
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(s.available(), 0);
}

TEST(semaphore, try_acquire_for_times_out_and_leaves_no_trace) {
  brigade::semaphore s(0);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(s.try_acquire_for(15ms));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 15ms);
  s.release();
  EXPECT_EQ(s.available(), 1);  // nobody still queued took it
  EXPECT_TRUE(s.try_acquire_until(std::chrono::steady_clock::now() + 1s));
}

TEST(semaphore, misuse_is_a_usage_error) {
  EXPECT_THROW(brigade::semaphore(-1), brigade::usage_error);
  brigade::semaphore s(brigade::semaphore::max_permits);
  EXPECT_THROW(s.release(-1), brigade::usage_error);
  EXPECT_THROW(s.release(1), brigade::usage_error);
  EXPECT_EQ(s.available(), brigade::semaphore::max_permits);
  brigade::semaphore empty(0);
  auto awaiter = empty.acquire_async();
  EXPECT_FALSE(awaiter.await_ready());
  EXPECT_THROW(awaiter.await_suspend(std::noop_coroutine()), brigade::usage_error);
}

TEST(semaphore, a_waiting_task_destroyed_at_shutdown_leaves_the_queue) {
  brigade::semaphore s(0);
  std::atomic<bool> started{false};
  {
    brigade::runtime rt({.worker_threads = 1});
    auto handle = rt.spawn([](brigade::semaphore& sem, std::atomic<bool>& st) -> brigade::task<void> {
      st = true;
      co_await sem.acquire_async();
    }(s, started));
    while (!started.load()) std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(2ms);
    rt.shutdown();
    EXPECT_THROW(handle.join(), brigade::task_cancelled);
  }
  s.release();
  EXPECT_EQ(s.available(), 1);
}

}  // namespace

namespace {

// A scoped permit gives its permit back on every way out of its scope: a task's, a thread's, and
// one that moved to another owner.
TEST(semaphore, a_scoped_permit_is_released_when_destroyed) {
  brigade::semaphore s(1);
  {
    auto held = s.acquire_permit();
    EXPECT_EQ(held.owner(), &s);
    EXPECT_EQ(s.available(), 0);
    EXPECT_FALSE(s.try_acquire_permit().has_value());
    brigade::semaphore::permit moved = std::move(held);
    EXPECT_FALSE(held.owns_lock());
    EXPECT_EQ(s.available(), 0);
  }
  EXPECT_EQ(s.available(), 1);
  {
    auto maybe = s.try_acquire_permit();
    ASSERT_TRUE(maybe.has_value());
    maybe->unlock();  // early release
    EXPECT_EQ(s.available(), 1);
  }
  EXPECT_EQ(s.available(), 1);
  brigade::runtime rt({.worker_threads = 1});
  EXPECT_THROW(rt.block_on([](brigade::semaphore& sem) -> brigade::task<void> {
    auto held = co_await sem.acquire_permit_async();
    EXPECT_EQ(sem.available(), 0);
    throw std::runtime_error("the work failed");  // the permit still goes back
  }(s)),
               std::runtime_error);
  EXPECT_EQ(s.available(), 1);
}

}  // namespace
