#include "brigade/sync/barrier.hpp"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "brigade/runtime/runtime.hpp"

namespace {

using namespace std::chrono_literals;

constexpr int phases = 50;
constexpr int parties = 4;

// Each party writes its slot of the phase, arrives, then checks that every party's slot of that
// phase is written: no party goes on before all have arrived.
struct phase_board {
  std::array<std::array<std::atomic<int>, parties>, phases> slots{};
  std::atomic<int> early{0};
  void write(int phase, int party) { slots[phase][party].store(1, std::memory_order_relaxed); }
  void check(int phase) {
    for (auto& s : slots[phase])
      if (s.load(std::memory_order_relaxed) != 1) early.fetch_add(1);
  }
};

brigade::task<void> task_party(brigade::barrier& b, phase_board& board, int party) {
  for (int phase = 0; phase < phases; ++phase) {
    board.write(phase, party);
    co_await b.arrive_and_wait_async();
    board.check(phase);
  }
}

TEST(barrier, tasks_and_threads_go_on_together_phase_after_phase) {
  brigade::runtime rt({.worker_threads = 2});
  brigade::barrier b(parties);
  phase_board board;
  auto first = rt.spawn(task_party(b, board, 0));
  auto second = rt.spawn(task_party(b, board, 1));
  std::vector<std::thread> threads;
  for (int party = 2; party < parties; ++party)
    threads.emplace_back([&b, &board, party] {
      for (int phase = 0; phase < phases; ++phase) {
        board.write(phase, party);
        b.arrive_and_wait();
        board.check(phase);
      }
    });
  first.join();
  second.join();
  for (auto& t : threads) t.join();
  EXPECT_EQ(board.early.load(), 0);
}

TEST(barrier, one_party_never_waits) {
  brigade::runtime rt({.worker_threads = 1});
  brigade::barrier alone(1);
  alone.arrive_and_wait();
  rt.block_on([](brigade::barrier& b) -> brigade::task<void> {
    co_await b.arrive_and_wait_async();
    co_await b.arrive_and_wait_async();
  }(alone));
  EXPECT_EQ(alone.parties(), 1);
}

TEST(barrier, fewer_than_one_party_is_a_usage_error) {
  EXPECT_THROW(brigade::barrier(0), brigade::usage_error);
  EXPECT_THROW(brigade::barrier(-2), brigade::usage_error);
}

TEST(barrier, co_await_outside_a_runtime_is_a_usage_error) {
  brigade::barrier b(2);
  auto awaiter = b.arrive_and_wait_async();
  EXPECT_THROW(awaiter.await_suspend(std::noop_coroutine()), brigade::usage_error);
}

// A task waiting at the barrier is destroyed at shutdown: its waiter leaves the list, so the
// arrival that completes the phase later wakes nobody freed (ASan checks this).
TEST(barrier, a_waiter_destroyed_at_shutdown_leaves_the_list) {
  brigade::barrier b(2);
  std::atomic<bool> started{false};
  {
    brigade::runtime rt({.worker_threads = 1});
    auto handle = rt.spawn([](brigade::barrier& bar, std::atomic<bool>& s) -> brigade::task<void> {
      s = true;
      co_await bar.arrive_and_wait_async();
    }(b, started));
    while (!started.load()) std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(2ms);
    rt.shutdown();
    EXPECT_THROW(handle.join(), brigade::task_cancelled);
  }
  b.arrive_and_wait();  // completes the phase the destroyed task arrived in
}

}  // namespace
