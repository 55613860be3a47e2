// mutex, rw_mutex and semaphore under random interleavings, checked against their models. Threads
// and tasks (on 2-3 workers) pick random operations (blocking lock, try-lock, timed lock with a
// short timeout, co_await) with random pauses inside and outside the critical section.
//   mutex:     exclusion, checked by tickets: every party takes a ticket from one counter on entry
//              and on exit; with one party inside at a time, its exit ticket is always its entry
//              ticket + 1. And nothing lost: the count of sections equals the successful locks.
//   rw_mutex:  a writer is alone, readers share only with readers (checked at every entry), and
//              writes under the write lock are never lost.
//   semaphore: never more holders than permits, and every permit is back at the end.
// Every round ends (no lost wake-up, no permit lost to a timed-out waiter) and the primitive is
// free at the end. Bounded in time: a quarter of BRIGADE_STRESS_SECONDS each (default 4).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <thread>
#include <vector>

#include "brigade/brigade.hpp"
#include "brigade/detail/seam.hpp"
#include "stress_budget.hpp"

namespace {

using namespace std::chrono_literals;

void random_pause(std::uint32_t r) {
  switch (r % 4) {
    case 0: break;
    case 1: std::this_thread::yield(); break;
    default:
      for (std::uint32_t i = 0; i < r % 500; ++i) brigade::detail::seam::spin_pause();
  }
}

auto deadline_in_quarter_budget() {
  return std::chrono::steady_clock::now() +
         std::chrono::duration<double>(brigade_stress::stress_seconds() / 4);
}

// ---- mutex ------------------------------------------------------------------------------------

struct mutex_model {
  brigade::mutex m;
  std::atomic<std::uint64_t> tickets{0};
  std::atomic<int> violations{0};
  std::atomic<long> sections{0};
  long counter = 0;  // plain, under m
  void section(std::uint32_t r) {
    const std::uint64_t in = tickets.fetch_add(1, std::memory_order_relaxed);
    ++counter;
    random_pause(r);
    const std::uint64_t out = tickets.fetch_add(1, std::memory_order_relaxed);
    if (out != in + 1) violations.fetch_add(1, std::memory_order_relaxed);
    sections.fetch_add(1, std::memory_order_relaxed);
  }
};

brigade::task<void> mutex_task(mutex_model& model, std::uint32_t seed, int operations) {
  std::minstd_rand random(seed);
  for (int i = 0; i < operations; ++i) {
    const auto r = static_cast<std::uint32_t>(random());
    if (r % 5 == 0) {
      if (auto held = model.m.try_lock_guard()) model.section(r >> 4);
    } else {
      auto held = co_await model.m.lock_async();
      model.section(r >> 4);
      if (r % 7 == 0) co_await brigade::yield_now();  // suspended while holding it
    }
    if (r % 3 == 0) co_await brigade::yield_now();
  }
}

void mutex_thread(mutex_model& model, std::uint32_t seed, int operations) {
  std::minstd_rand random(seed);
  for (int i = 0; i < operations; ++i) {
    const auto r = static_cast<std::uint32_t>(random());
    switch (r % 4) {
      case 0:
        if (model.m.try_lock()) {
          model.section(r >> 4);
          model.m.unlock();
        }
        break;
      case 1:
        if (model.m.try_lock_for(std::chrono::microseconds(r % 50))) {
          model.section(r >> 4);
          model.m.unlock();
        }
        break;
      default: {
        std::lock_guard lock(model.m);
        model.section(r >> 4);
      }
    }
    random_pause(r >> 8);
  }
}

TEST(mutex_stress, exclusion_and_no_lost_sections_for_tasks_and_threads) {
  const auto deadline = deadline_in_quarter_budget();
  brigade::runtime rt({.worker_threads = 2});
  std::mt19937 random(777);
  int rounds = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    mutex_model model;
    const int tasks = 1 + static_cast<int>(random() % 8);
    const int threads = static_cast<int>(random() % 3);
    std::vector<brigade::join_handle<void>> handles;
    for (int t = 0; t < tasks; ++t)
      handles.push_back(rt.spawn(mutex_task(model, static_cast<std::uint32_t>(random()), 200)));
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
      workers.emplace_back(mutex_thread, std::ref(model), static_cast<std::uint32_t>(random()), 200);
    for (auto& h : handles) h.join();
    for (auto& w : workers) w.join();
    EXPECT_EQ(model.violations.load(), 0);
    EXPECT_EQ(model.counter, model.sections.load());
    EXPECT_FALSE(model.m.is_locked());
    ++rounds;
  }
  EXPECT_GT(rounds, 0);
}

// ---- rw_mutex ---------------------------------------------------------------------------------

struct rw_model {
  brigade::rw_mutex lock;
  std::atomic<int> readers{0};
  std::atomic<int> writers{0};
  std::atomic<int> violations{0};
  std::atomic<long> writes{0};
  long value = 0;  // plain, under the write lock
  void read(std::uint32_t r) {
    readers.fetch_add(1);
    if (writers.load() != 0) violations.fetch_add(1);
    random_pause(r);
    readers.fetch_sub(1);
  }
  void write(std::uint32_t r) {
    if (writers.fetch_add(1) != 0 || readers.load() != 0) violations.fetch_add(1);
    ++value;
    random_pause(r);
    writers.fetch_sub(1);
    writes.fetch_add(1);
  }
};

brigade::task<void> rw_task(rw_model& model, std::uint32_t seed, int operations) {
  std::minstd_rand random(seed);
  for (int i = 0; i < operations; ++i) {
    const auto r = static_cast<std::uint32_t>(random());
    if (r % 4 == 0) {
      auto held = co_await model.lock.lock_async();
      model.write(r >> 4);
      if (r % 3 == 0) co_await brigade::yield_now();
    } else {
      auto held = co_await model.lock.lock_shared_async();
      model.read(r >> 4);
      if (r % 3 == 0) co_await brigade::yield_now();
    }
  }
}

void rw_thread(rw_model& model, std::uint32_t seed, int operations) {
  std::minstd_rand random(seed);
  for (int i = 0; i < operations; ++i) {
    const auto r = static_cast<std::uint32_t>(random());
    switch (r % 6) {
      case 0: {
        std::unique_lock held(model.lock);
        model.write(r >> 4);
        break;
      }
      case 1:
        if (model.lock.try_lock_for(std::chrono::microseconds(r % 50))) {
          model.write(r >> 4);
          model.lock.unlock();
        }
        break;
      case 2:
        if (model.lock.try_lock_shared_for(std::chrono::microseconds(r % 50))) {
          model.read(r >> 4);
          model.lock.unlock_shared();
        }
        break;
      default: {
        std::shared_lock held(model.lock);
        model.read(r >> 4);
      }
    }
    random_pause(r >> 8);
  }
}

TEST(rw_mutex_stress, writers_alone_readers_together_nothing_lost) {
  const auto deadline = deadline_in_quarter_budget();
  brigade::runtime rt({.worker_threads = 2});
  std::mt19937 random(4242);
  int rounds = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    rw_model model;
    const int tasks = 1 + static_cast<int>(random() % 8);
    const int threads = static_cast<int>(random() % 3);
    std::vector<brigade::join_handle<void>> handles;
    for (int t = 0; t < tasks; ++t)
      handles.push_back(rt.spawn(rw_task(model, static_cast<std::uint32_t>(random()), 200)));
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
      workers.emplace_back(rw_thread, std::ref(model), static_cast<std::uint32_t>(random()), 200);
    for (auto& h : handles) h.join();
    for (auto& w : workers) w.join();
    EXPECT_EQ(model.violations.load(), 0);
    EXPECT_EQ(model.value, model.writes.load());
    EXPECT_FALSE(model.lock.is_write_locked());
    EXPECT_EQ(model.lock.readers(), 0u);
    ++rounds;
  }
  EXPECT_GT(rounds, 0);
}

// ---- semaphore --------------------------------------------------------------------------------

struct semaphore_model {
  explicit semaphore_model(int n) : permits(n), limit(n) {}
  brigade::semaphore permits;
  const int limit;
  std::atomic<int> inside{0};
  std::atomic<int> violations{0};
  void hold(std::uint32_t r) {
    if (inside.fetch_add(1) + 1 > limit) violations.fetch_add(1);
    random_pause(r);
    inside.fetch_sub(1);
  }
};

brigade::task<void> semaphore_task(semaphore_model& model, std::uint32_t seed, int operations) {
  std::minstd_rand random(seed);
  for (int i = 0; i < operations; ++i) {
    const auto r = static_cast<std::uint32_t>(random());
    if (r % 5 == 0) {
      if (!model.permits.try_acquire()) continue;
    } else {
      co_await model.permits.acquire_async();
    }
    model.hold(r >> 4);
    if (r % 3 == 0) co_await brigade::yield_now();
    model.permits.release();
  }
}

void semaphore_thread(semaphore_model& model, std::uint32_t seed, int operations) {
  std::minstd_rand random(seed);
  for (int i = 0; i < operations; ++i) {
    const auto r = static_cast<std::uint32_t>(random());
    if (r % 3 == 0) {
      if (!model.permits.try_acquire_for(std::chrono::microseconds(r % 50))) continue;
    } else {
      model.permits.acquire();
    }
    model.hold(r >> 4);
    model.permits.release();
    random_pause(r >> 8);
  }
}

TEST(semaphore_stress, never_more_holders_than_permits_and_none_lost) {
  const auto deadline = deadline_in_quarter_budget();
  brigade::runtime rt({.worker_threads = 3});
  std::mt19937 random(99);
  int rounds = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    semaphore_model model(1 + static_cast<int>(random() % 3));
    const int tasks = 1 + static_cast<int>(random() % 8);
    const int threads = static_cast<int>(random() % 3);
    std::vector<brigade::join_handle<void>> handles;
    for (int t = 0; t < tasks; ++t)
      handles.push_back(rt.spawn(semaphore_task(model, static_cast<std::uint32_t>(random()), 200)));
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
      workers.emplace_back(semaphore_thread, std::ref(model), static_cast<std::uint32_t>(random()), 200);
    for (auto& h : handles) h.join();
    for (auto& w : workers) w.join();
    EXPECT_EQ(model.violations.load(), 0);
    EXPECT_EQ(model.permits.available(), model.limit);
    ++rounds;
  }
  EXPECT_GT(rounds, 0);
}

}  // namespace
