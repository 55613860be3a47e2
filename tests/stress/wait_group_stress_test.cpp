// wait_group and latch under random interleavings: many parties (threads and tasks) finish after
// random delays while waiters (threads and tasks) wait. Invariants checked every round:
//   - a wait returns only after every party's done() (each party writes its slot before done(),
//     and the waiter, once woken, must see every slot written: nothing lost, no early return);
//   - every wait returns (no lost wake-up: the round finishes within its time);
//   - the counter ends at zero, and a done() too many is refused without changing it.
// Bounded in time: a quarter of BRIGADE_STRESS_SECONDS (default 4).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>
#include <thread>
#include <vector>

#include "brigade/brigade.hpp"
#include "brigade/detail/seam.hpp"
#include "stress_budget.hpp"

namespace {

void random_pause(std::uint32_t r) {
  switch (r % 4) {
    case 0: break;
    case 1: std::this_thread::yield(); break;
    default:
      for (std::uint32_t i = 0; i < r % 2000; ++i) brigade::detail::seam::spin_pause();
  }
}

brigade::task<void> party(brigade::wait_group& group, std::atomic<int>& slot, std::uint32_t r) {
  if (r % 3 == 0) co_await brigade::yield_now();
  random_pause(r >> 3);
  slot.store(1, std::memory_order_relaxed);  // ordered by done()'s release
  group.done();
}

template <class Gate>
brigade::task<int> task_waiter(Gate& gate, std::vector<std::atomic<int>>& slots) {
  co_await gate.wait_async();
  int seen = 0;
  for (auto& s : slots) seen += s.load(std::memory_order_relaxed);
  co_return seen;
}

TEST(wait_group_stress, waits_return_only_after_every_party_and_always_return) {
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration<double>(brigade_stress::stress_seconds() / 4);
  brigade::runtime rt({.worker_threads = 3});
  std::mt19937 random(12345);
  int rounds = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    const int parties = 1 + static_cast<int>(random() % 40);
    const int thread_parties = static_cast<int>(random() % 4);
    brigade::wait_group group;
    group.add(parties + thread_parties);
    std::vector<std::atomic<int>> slots(static_cast<std::size_t>(parties + thread_parties));
    std::vector<brigade::join_handle<int>> task_waiters;
    for (int i = 0; i < 2; ++i) task_waiters.push_back(rt.spawn(task_waiter(group, slots)));
    std::atomic<int> thread_seen{-1};
    std::thread thread_waiter([&] {
      group.wait();
      int seen = 0;
      for (auto& s : slots) seen += s.load(std::memory_order_relaxed);
      thread_seen = seen;
    });
    for (int i = 0; i < parties; ++i)
      rt.spawn(party(group, slots[static_cast<std::size_t>(i)], static_cast<std::uint32_t>(random())))
          .detach();
    std::vector<std::thread> threads;
    for (int i = 0; i < thread_parties; ++i) {
      const auto r = static_cast<std::uint32_t>(random());
      threads.emplace_back([&group, &slots, i, parties, r] {
        random_pause(r);
        slots[static_cast<std::size_t>(parties + i)].store(1, std::memory_order_relaxed);
        group.done();
      });
    }
    for (auto& h : task_waiters) EXPECT_EQ(h.join(), parties + thread_parties);
    thread_waiter.join();
    for (auto& t : threads) t.join();
    EXPECT_EQ(thread_seen.load(), parties + thread_parties);
    EXPECT_EQ(group.count(), 0);
    EXPECT_THROW(group.done(), brigade::usage_error);
    EXPECT_EQ(group.count(), 0);
    ++rounds;
  }
  EXPECT_GT(rounds, 0);
}

TEST(latch_stress, every_waiter_passes_once_the_last_party_counts_down) {
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration<double>(brigade_stress::stress_seconds() / 4);
  brigade::runtime rt({.worker_threads = 2});
  std::mt19937 random(54321);
  while (std::chrono::steady_clock::now() < deadline) {
    const int parties = 1 + static_cast<int>(random() % 6);
    brigade::latch done(parties);
    std::vector<std::atomic<int>> slots(static_cast<std::size_t>(parties));
    auto waiting = rt.spawn(task_waiter(done, slots));
    std::vector<std::thread> threads;
    for (int i = 0; i < parties; ++i) {
      const auto r = static_cast<std::uint32_t>(random());
      threads.emplace_back([&done, &slots, i, r] {
        random_pause(r);
        slots[static_cast<std::size_t>(i)].store(1, std::memory_order_relaxed);
        done.arrive_and_wait();
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(waiting.join(), parties);
    EXPECT_TRUE(done.try_wait());
  }
}

}  // namespace
