// The liveness monitor's LIFO steal and compensating workers, raced against the workers they
// rescue work from.
//
// Relays pass tokens around a ring of rendezvous channels. A token's hand-off wakes the next
// relay into the sender's LIFO slot; then, at random, the sender stalls: it computes for a few
// milliseconds (the monitor takes the woken relay from its LIFO slot), or blocks its worker in a
// thread-form lock that a plain thread holds for a while (the worker is marked blocking, and when
// every worker is, a compensating worker is started). The owner's take of the LIFO slot and the
// monitor's steal race on every stall.
// Invariant: every hop runs exactly once. A hop the monitor and the owner both ran would resume a
// relay twice (a corrupted coroutine: the sanitizer builds catch it, and a token's count would
// skip); a hop neither ran would stall the ring (caught by the bounded wait). Each token carries
// its own hop count and each relay checks that the count it receives is one more than the count
// that token had when it last passed this relay plus the ring's length (so a replayed or lost hop
// shows). At the end the relays are aborted while parked, which must wake each of them.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "brigade/brigade.hpp"
#include "stress_budget.hpp"

namespace {

using namespace std::chrono_literals;

constexpr int relays = 6;
constexpr int tokens = 3;

/// A token: which one, and how many hops it has made.
struct token {
  int id = 0;
  std::int64_t hops = 0;
};

struct ring_state {
  std::atomic<std::uint64_t> hops{0};
  std::atomic<std::uint64_t> bad_hops{0};
  brigade::mutex contended;  // held now and then by a plain thread
};

brigade::task<void> relay(brigade::receiver<token> in, brigade::sender<token> out, ring_state& state, std::uint32_t seed) {
  std::minstd_rand random(seed);
  std::int64_t last_seen[tokens];
  for (auto& seen : last_seen) seen = -1;
  while (auto received = co_await in.recv_async()) {
    state.hops.fetch_add(1, std::memory_order_relaxed);
    std::int64_t& seen = last_seen[received->id];
    if (seen >= 0 && received->hops != seen + relays) state.bad_hops.fetch_add(1, std::memory_order_relaxed);
    seen = received->hops;
    co_await out.send_async(token{received->id, received->hops + 1});  // the next relay goes to this worker's LIFO slot
    const auto roll = random() % 64;
    if (roll == 0) {
      // A long computation: the woken relay must run elsewhere meanwhile.
      const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(2 + random() % 4);
      while (std::chrono::steady_clock::now() < until) {
      }
    } else if (roll == 1) {
      std::lock_guard lock(state.contended);  // a thread-form lock: may block this worker
    }
  }
}

TEST(liveness_stress, every_hop_runs_once_while_workers_stall) {
  const auto budget = std::chrono::duration<double>(brigade_stress::stress_seconds());
  for (std::size_t workers : {std::size_t{1}, std::size_t{2}}) {
    SCOPED_TRACE(testing::Message() << workers << " workers");
    brigade::runtime rt({.worker_threads = workers});
    ring_state state;
    std::vector<brigade::sender<token>> senders;
    std::vector<brigade::receiver<token>> receivers;
    for (int i = 0; i < relays; ++i) {
      auto [tx, rx] = brigade::make_channel<token>(0);
      senders.push_back(std::move(tx));
      receivers.push_back(std::move(rx));
    }
    std::vector<brigade::join_handle<void>> handles;
    for (int i = 0; i < relays; ++i)
      handles.push_back(rt.spawn(relay(receivers[i], senders[(i + 1) % relays], state, 12345u + static_cast<std::uint32_t>(i))));
    // A plain thread that takes the contended lock now and then and holds it a while.
    std::atomic<bool> holder_stop{false};
    std::thread holder([&] {
      std::minstd_rand random(99);
      while (!holder_stop) {
        {
          std::lock_guard lock(state.contended);
          std::this_thread::sleep_for(std::chrono::microseconds(200 + random() % 2000));
        }
        std::this_thread::sleep_for(std::chrono::microseconds(random() % 3000));
      }
    });
    for (int t = 0; t < tokens; ++t) senders[static_cast<std::size_t>(t * 2)].send(token{t, 0});
    const auto deadline = std::chrono::steady_clock::now() + budget / 2;
    std::uint64_t last = 0;
    auto last_change = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(10ms);
      const std::uint64_t now_hops = state.hops.load();
      if (now_hops != last) {
        last = now_hops;
        last_change = std::chrono::steady_clock::now();
      }
      ASSERT_LT(std::chrono::steady_clock::now() - last_change, 5s) << "the ring stalled at " << now_hops << " hops";
    }
    holder_stop = true;
    holder.join();
    for (auto& handle : handles) handle.abort();  // each is parked in a send or a recv, or about to be
    for (auto& handle : handles) {
      const auto limit = std::chrono::steady_clock::now() + 10s;
      while (!handle.is_finished() && std::chrono::steady_clock::now() < limit) std::this_thread::sleep_for(1ms);
      ASSERT_TRUE(handle.is_finished()) << "an aborted relay did not stop";
      EXPECT_THROW(handle.join(), brigade::task_cancelled);
    }
    EXPECT_EQ(state.bad_hops.load(), 0u) << "a token skipped or replayed a hop";
    const auto stats = rt.stats();
    std::printf("[ liveness ] %zu workers: %llu hops, %llu LIFO steals, %llu compensating workers started\n",
                workers, static_cast<unsigned long long>(state.hops.load()),
                static_cast<unsigned long long>(stats.lifo_steals),
                static_cast<unsigned long long>(stats.compensating_workers_started));
    EXPECT_GT(state.hops.load(), 0u);
  }
}

}  // namespace
