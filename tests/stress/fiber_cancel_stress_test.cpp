// Cancel-safety of fibers' blocking channel calls and gate waits under aborts at random moments.
// A fiber's wait on a channel or a gate (event, future) is named to its cancellation through its
// driver task's park slot; an abort races with the other side completing the operation. Each
// round checks the outcome both ways: a send that returned was received exactly once, in order;
// a cancelled send delivered nothing; a receive that was cancelled took nothing; a cancelled gate
// wait left the gate as it was.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "brigade/brigade.hpp"
#include "brigade/future/promise.hpp"
#include "stress_budget.hpp"

namespace {

using namespace std::chrono_literals;

constexpr std::uint32_t senders = 3;
constexpr std::uint32_t values_per_sender = 200;

std::uint64_t numbered(std::uint32_t party, std::uint32_t sequence) { return (std::uint64_t{party} << 32) | sequence; }

void spin_for(std::uint32_t microseconds) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(microseconds);
  while (std::chrono::steady_clock::now() < until) {
  }
}

TEST(fiber_cancel_stress, aborted_blocking_sends_and_receives_lose_and_duplicate_nothing) {
  brigade::runtime rt({.worker_threads = 2});
  std::minstd_rand random(12345);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(brigade_stress::stress_seconds() / 2);
  int rounds = 0, cancelled_sends = 0, cancelled_receives = 0;
  while (std::chrono::steady_clock::now() < deadline || rounds < 5) {
    ++rounds;
    const std::size_t capacity = std::vector<std::size_t>{0, 1, 4}[random() % 3];
    auto [tx, rx] = brigade::make_channel<std::uint64_t>(capacity);
    std::vector<std::vector<std::uint8_t>> sent(senders, std::vector<std::uint8_t>(values_per_sender, 0));
    std::vector<brigade::join_handle<void>> sending;
    for (std::uint32_t party = 0; party < senders; ++party) {
      sending.push_back(brigade::go(rt, [party, &sent, to = tx]() {
        for (std::uint32_t sequence = 0; sequence < values_per_sender; ++sequence) {
          to.send(numbered(party, sequence));  // an abort ends the fiber here with task_cancelled
          sent[party][sequence] = 1;
        }
      }));
    }
    std::vector<std::uint64_t> received;
    auto receiving = brigade::go(rt, [&received, from = rx]() {
      while (std::optional<std::uint64_t> value = from.recv()) received.push_back(*value);
    });
    // Abort some of them at random moments while they run.
    spin_for(static_cast<std::uint32_t>(random() % 200));
    for (auto& handle : sending)
      if (random() % 2 == 0) handle.abort();
    const bool abort_receiver = random() % 3 == 0;
    std::thread drainer;  // takes over from an aborted receiver, so that the senders can finish
    if (abort_receiver) {
      receiving.abort();
      EXPECT_THROW(receiving.join(), brigade::task_cancelled);  // it receives until closed
      ++cancelled_receives;
      drainer = std::thread([&received, from = rx] {
        while (std::optional<std::uint64_t> value = from.recv()) received.push_back(*value);
      });
    }
    for (auto& handle : sending) {
      try {
        handle.join();
      } catch (const brigade::task_cancelled&) {
        ++cancelled_sends;
      }
    }
    tx.close();
    if (abort_receiver)
      drainer.join();
    else
      receiving.join();
    // Each completed send arrived once, in its sender's order; nothing else arrived, except
    // possibly the one send per sender that was under way when its fiber was aborted: a send
    // cancelled after it handed its value over returns normally, so it is marked; one that was
    // withdrawn delivered nothing.
    std::vector<std::uint32_t> next(senders, 0);
    for (const std::uint64_t value : received) {
      const auto party = static_cast<std::uint32_t>(value >> 32);
      const auto sequence = static_cast<std::uint32_t>(value & 0xFFFFFFFFu);
      ASSERT_LT(party, senders);
      ASSERT_EQ(sequence, next[party]) << "round " << rounds << ": out of order or duplicated";
      ASSERT_EQ(sent[party][sequence], 1) << "round " << rounds << ": a value arrived whose send did not complete";
      ++next[party];
    }
    for (std::uint32_t party = 0; party < senders; ++party)
      for (std::uint32_t sequence = next[party]; sequence < values_per_sender; ++sequence)
        ASSERT_EQ(sent[party][sequence], 0) << "round " << rounds << ": a completed send was lost";
  }
  RecordProperty("rounds", rounds);
  RecordProperty("cancelled_sends", cancelled_sends);
  RecordProperty("cancelled_receives", cancelled_receives);
}

TEST(fiber_cancel_stress, aborted_gate_waits_leave_the_gate_and_the_future_unchanged) {
  brigade::runtime rt({.worker_threads = 2});
  std::minstd_rand random(777);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(brigade_stress::stress_seconds() / 2);
  int rounds = 0, woken = 0, cancelled = 0;
  while (std::chrono::steady_clock::now() < deadline || rounds < 5) {
    ++rounds;
    brigade::event ready;
    brigade::promise<int> p;
    brigade::future<int> f = p.get_future();
    auto event_waiter = brigade::go(rt, [&ready] { ready.wait(); });
    auto future_waiter = brigade::go(rt, [&f] {
      f.wait();  // get() would take the value: wait() leaves it for the check below
    });
    spin_for(static_cast<std::uint32_t>(random() % 100));
    // Abort and complete race.
    std::thread completer([&, delay = static_cast<std::uint32_t>(random() % 100)] {
      spin_for(delay);
      ready.set();
      p.set_value(rounds);
    });
    event_waiter.abort();
    future_waiter.abort();
    completer.join();
    for (auto* handle : {&event_waiter, &future_waiter}) {
      try {
        handle->join();
        ++woken;
      } catch (const brigade::task_cancelled&) {
        ++cancelled;
      }
    }
    ASSERT_TRUE(ready.is_set());
    ASSERT_EQ(f.get(), rounds) << "a cancelled wait changed the future";
  }
  RecordProperty("rounds", rounds);
  RecordProperty("woken", woken);
  RecordProperty("cancelled", cancelled);
}

}  // namespace
