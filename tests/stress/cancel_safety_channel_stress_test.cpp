// Cancel-safety of channel send and recv, and of select, under storms of stop requests.
// The models are described in cancel_storm.hpp's opening comment; the harness is there too.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "brigade/brigade.hpp"
#include "cancel_storm.hpp"

namespace {

using namespace brigade_stress::cancel_storm;
using namespace std::chrono_literals;

// ---- Channels: numbered values ---------------------------------------------------------------

constexpr std::uint8_t not_attempted = 0, completed = 1, cancelled = 2;

std::uint64_t numbered(std::uint32_t party, std::uint32_t sequence) { return (std::uint64_t{party} << 32) | sequence; }
std::string describe(std::uint64_t value) {
  return std::to_string(value >> 32) + ":" + std::to_string(value & 0xFFFFFFFFu);
}

/// Sends status.size() values numbered (party, sequence), recording how each send ended.
brigade::task<void> send_numbered(brigade::sender<std::uint64_t> to, std::vector<std::uint8_t>& status,
                                  std::uint32_t party, round_base& round, std::uint32_t seed) {
  const std::uint32_t slowness = slowness_of(seed);
  std::minstd_rand random(seed);
  for (std::uint32_t sequence = 0; sequence < status.size(); ++sequence) {
    try {
      co_await to.send_async(numbered(party, sequence));
    } catch (const brigade::task_cancelled&) {
      status[sequence] = cancelled;
      round.cancelled_waits.fetch_add(1);
      throw;
    }
    status[sequence] = completed;
    round.operations.fetch_add(1, std::memory_order_relaxed);
    work_a_little(static_cast<std::uint32_t>(random()), slowness);
    if (random() % 8 == 0) co_await brigade::yield_now();
  }
}

void send_numbered_blocking(const brigade::sender<std::uint64_t>& to, std::vector<std::uint8_t>& status,
                            std::uint32_t party, round_base& round, stop_slot& slot, std::uint32_t seed) {
  std::minstd_rand random(seed);
  for (std::uint32_t sequence = 0; sequence < status.size(); ++sequence) {
    try {
      to.send(numbered(party, sequence), slot.token());
      status[sequence] = completed;
      round.operations.fetch_add(1, std::memory_order_relaxed);
    } catch (const brigade::task_cancelled&) {
      status[sequence] = cancelled;
      round.cancelled_thread_waits.fetch_add(1);
      if (slot.retired()) return;
    }
    pause(static_cast<std::uint32_t>(random()));
  }
}

/// Receives until the channel is closed and drained, recording every value in order.
brigade::task<void> receive_all(brigade::receiver<std::uint64_t> from, std::vector<std::uint64_t>& got,
                                round_base& round, std::uint32_t seed) {
  const std::uint32_t slowness = slowness_of(seed);
  std::minstd_rand random(seed);
  while (true) {
    std::optional<std::uint64_t> value;
    try {
      value = co_await from.recv_async();
    } catch (const brigade::task_cancelled&) {
      round.cancelled_waits.fetch_add(1);
      throw;
    }
    if (!value) co_return;
    got.push_back(*value);
    round.operations.fetch_add(1, std::memory_order_relaxed);
    work_a_little(static_cast<std::uint32_t>(random()), slowness);
    if (random() % 8 == 0) co_await brigade::yield_now();
  }
}

void receive_all_blocking(const brigade::receiver<std::uint64_t>& from, std::vector<std::uint64_t>& got,
                          round_base& round, stop_slot& slot, std::uint32_t seed) {
  std::minstd_rand random(seed);
  while (true) {
    try {
      std::optional<std::uint64_t> value = from.recv(slot.token());
      if (!value) return;
      got.push_back(*value);
    } catch (const brigade::task_cancelled&) {
      round.cancelled_thread_waits.fetch_add(1);
      if (slot.retired()) return;
    }
    pause(static_cast<std::uint32_t>(random()));
  }
}

/// The model of a channel: every value whose send completed was received exactly once, no other
/// value was received, and each receiver saw each producer's values in increasing order.
void check_deliveries(const std::vector<std::vector<std::uint8_t>>& sends,
                      const std::vector<std::vector<std::uint64_t>>& received, violations& problems,
                      const std::string& channel_name) {
  std::vector<std::vector<int>> times(sends.size());
  for (std::size_t p = 0; p < sends.size(); ++p) times[p].assign(sends[p].size(), 0);
  for (std::size_t r = 0; r < received.size(); ++r) {
    std::vector<std::int64_t> last(sends.size(), -1);
    for (const std::uint64_t value : received[r]) {
      const std::size_t party = value >> 32;
      const std::uint32_t sequence = value & 0xFFFFFFFFu;
      if (party >= sends.size() || sequence >= sends[party].size()) {
        problems.add(channel_name + ": receiver " + std::to_string(r) + " got a value never sent: " + describe(value));
        continue;
      }
      if (static_cast<std::int64_t>(sequence) <= last[party])
        problems.add(channel_name + ": receiver " + std::to_string(r) + " got " + describe(value) + " after " +
                     std::to_string(party) + ":" + std::to_string(last[party]) + " (per-producer FIFO broken)");
      last[party] = sequence;
      ++times[party][sequence];
    }
  }
  for (std::size_t p = 0; p < sends.size(); ++p) {
    for (std::size_t s = 0; s < sends[p].size(); ++s) {
      const int expected = sends[p][s] == completed ? 1 : 0;
      if (times[p][s] == expected) continue;
      const char* how = sends[p][s] == completed   ? "whose send completed"
                        : sends[p][s] == cancelled ? "whose send was cancelled"
                                                   : "never sent";
      const std::uint64_t value = numbered(static_cast<std::uint32_t>(p), static_cast<std::uint32_t>(s));
      problems.add(channel_name + ": value " + describe(value) +
                   " " + how + " was received " + std::to_string(times[p][s]) + " times");
    }
  }
}

struct channel_round : round_base {
  channel_round(std::size_t capacity, std::size_t producers, std::size_t receivers, std::size_t per_producer)
      : round_base(256),
        values(capacity),
        sends(producers, std::vector<std::uint8_t>(per_producer, not_attempted)),
        received(receivers) {}
  brigade::channel<std::uint64_t> values;            // open until the explicit close
  std::vector<std::vector<std::uint8_t>> sends;      // [producer][sequence], by its producer
  std::vector<std::vector<std::uint64_t>> received;  // [receiver], in order, by its receiver
  std::uint32_t next_producer = 0;                   // main thread: ids handed out
  std::size_t next_receiver = 0;
};

/// Spawns a producer task (or a root with two as when_all children), while ids are left.
void spawn_producer(brigade::runtime& rt, channel_round& r, dice& d) {
  const std::uint32_t p = r.next_producer;
  if (p + 2 > r.sends.size()) return;
  const brigade::sender<std::uint64_t> tx = r.values.as_sender();
  if (d.chance(25)) {
    auto first = send_numbered(tx, r.sends[p], p, r, d.seed());
    auto second = send_numbered(tx, r.sends[p + 1], p + 1, r, d.seed());
    r.tasks.add(rt.spawn(as_children(std::move(first), std::move(second))), producer);
    r.next_producer += 2;
  } else {
    r.tasks.add(rt.spawn(send_numbered(tx, r.sends[p], p, r, d.seed())), producer);
    r.next_producer += 1;
  }
}

/// Spawns a receiver task (or two as children), keeping one id for the drainer.
void spawn_receiver(brigade::runtime& rt, channel_round& r, dice& d) {
  const std::size_t c = r.next_receiver;
  if (c + 3 > r.received.size()) return;
  const brigade::receiver<std::uint64_t> rx = r.values.as_receiver();
  if (d.chance(25)) {
    auto first = receive_all(rx, r.received[c], r, d.seed());
    auto second = receive_all(rx, r.received[c + 1], r, d.seed());
    r.tasks.add(rt.spawn(as_children(std::move(first), std::move(second))), consumer);
    r.next_receiver += 2;
  } else {
    r.tasks.add(rt.spawn(receive_all(rx, r.received[c], r, d.seed())), consumer);
    r.next_receiver += 1;
  }
}

bool channel_round_run(brigade::runtime& rt, std::size_t capacity, std::uint64_t seed, tally& total) {
  dice d(seed);
  auto state = std::make_unique<channel_round>(capacity, 48, 48, static_cast<std::size_t>(d.between(20, 200)));
  channel_round& r = *state;
  const std::string name =
      "channel of capacity " + (capacity == brigade::unbounded ? std::string("unbounded") : std::to_string(capacity));
  const bool receivers_first = d.chance(50);
  const int task_producers = d.between(1, 5), task_receivers = d.between(1, 5);
  if (receivers_first)
    for (int i = 0; i < task_receivers; ++i) spawn_receiver(rt, r, d);
  for (int i = 0; i < task_producers; ++i) spawn_producer(rt, r, d);
  if (!receivers_first)
    for (int i = 0; i < task_receivers; ++i) spawn_receiver(rt, r, d);
  if (d.chance(50)) {
    stop_slot& slot = r.new_slot();
    r.threads.start(producer, r.problems, [&r, &slot, p = r.next_producer++, s = d.seed()] {
      send_numbered_blocking(r.values.as_sender(), r.sends[p], p, r, slot, s);
    });
  }
  if (d.chance(50)) {
    stop_slot& slot = r.new_slot();
    r.threads.start(consumer, r.problems, [&r, &slot, c = r.next_receiver++, s = d.seed()] {
      receive_all_blocking(r.values.as_receiver(), r.received[c], r, slot, s);
    });
  }

  storm(rt, r, d, producer | consumer, std::chrono::microseconds(d.between(10, 200)),
        for_a_while(std::chrono::microseconds(d.between(200, 3000))), [&](unsigned role) {
          if (!d.chance(80)) return;
          if (role == producer)
            spawn_producer(rt, r, d);
          else
            spawn_receiver(rt, r, d);
        });

  // A receiver that is never cancelled drains what the cancelled ones left; then every producer
  // that was not cancelled can finish, and the channel is closed and drained.
  r.tasks.add(rt.spawn(receive_all(r.values.as_receiver(), r.received[r.next_receiver++], r, d.seed())), drainer);
  if (!r.wait(producer, steady::now() + hang_limit))
    return report_hang(state, name + ": producers did not finish while a receiver drained");
  r.values.close();
  if (!r.wait(any_role, steady::now() + hang_limit))
    return report_hang(state, name + ": receivers did not end after the close");
  r.join_everything(total);
  check_deliveries(r.sends, r.received, r.problems, name);
  r.problems.report();
  return true;
}

TEST(cancel_safety, channel_a_cancelled_send_delivers_nothing_and_a_cancelled_recv_loses_nothing) {
  const std::size_t capacities[] = {0, 2, 8, brigade::unbounded};
  const auto start = steady::now();
  int slice = 0;
  for (const std::size_t capacity : capacities) {
    for (const std::size_t workers : {std::size_t{2}, std::size_t{3}}) {
      const std::string name =
          "channel capacity " + (capacity == brigade::unbounded ? std::string("unbounded") : std::to_string(capacity));
      run_rounds(name, workers, slice_end(start, slice++, 8),
                 [capacity](brigade::runtime& rt, std::uint64_t seed, tally& total) {
                   return channel_round_run(rt, capacity, seed, total);
                 });
    }
  }
}

// ---- select ---------------------------------------------------------------------------------

/// Selects between receiving from A and sending its next numbered value to B until A is closed
/// and drained; records every send case's end and every value received.
brigade::task<void> select_loop(brigade::receiver<std::uint64_t> from, brigade::sender<std::uint64_t> to,
                                std::vector<std::uint8_t>& sends, std::vector<std::uint64_t>& got,
                                std::uint32_t party, round_base& round, std::uint32_t seed) {
  const std::uint32_t slowness = slowness_of(seed);
  std::minstd_rand random(seed);
  while (true) {
    const std::uint64_t value = numbered(party, static_cast<std::uint32_t>(sends.size()));
    std::optional<std::uint64_t> received;
    std::size_t chosen = 0;
    try {
      chosen = co_await brigade::select_async(brigade::recv_case(from, received), brigade::send_case(to, value));
    } catch (const brigade::task_cancelled&) {
      sends.push_back(cancelled);
      round.cancelled_waits.fetch_add(1);
      if (received) round.problems.add("a cancelled select holds a received value " + describe(*received));
      throw;
    }
    round.operations.fetch_add(1, std::memory_order_relaxed);
    if (chosen == 1) {
      sends.push_back(completed);
    } else {
      if (!received) co_return;  // A closed and drained
      got.push_back(*received);
    }
    work_a_little(static_cast<std::uint32_t>(random()), slowness);
    if (random() % 8 == 0) co_await brigade::yield_now();
  }
}

void select_loop_blocking(const brigade::receiver<std::uint64_t>& from, const brigade::sender<std::uint64_t>& to,
                          std::vector<std::uint8_t>& sends, std::vector<std::uint64_t>& got, std::uint32_t party,
                          round_base& round, stop_slot& slot, std::uint32_t seed) {
  std::minstd_rand random(seed);
  while (true) {
    const std::uint64_t value = numbered(party, static_cast<std::uint32_t>(sends.size()));
    std::optional<std::uint64_t> received;
    std::size_t chosen = 0;
    try {
      chosen = brigade::select(slot.token(), brigade::recv_case(from, received),
                                        brigade::send_case(to, value));
    } catch (const brigade::task_cancelled&) {
      sends.push_back(cancelled);
      round.cancelled_thread_waits.fetch_add(1);
      if (received) round.problems.add("a cancelled select holds a received value " + describe(*received));
      if (slot.retired()) return;
      continue;
    }
    round.operations.fetch_add(1, std::memory_order_relaxed);
    if (chosen == 1) {
      sends.push_back(completed);
    } else {
      if (!received) return;
      got.push_back(*received);
    }
    pause(static_cast<std::uint32_t>(random()));
  }
}

struct select_round : round_base {
  select_round(std::size_t a_capacity, std::size_t b_capacity, std::size_t per_feeder)
      : round_base(256),
        a(a_capacity),
        b(b_capacity),
        a_sends(16, std::vector<std::uint8_t>(per_feeder, not_attempted)),
        b_sends(48),
        a_received(48 + 1),
        b_received(48) {}
  brigade::channel<std::uint64_t> a;  // feeders -> selectors' receive case (and a drainer)
  brigade::channel<std::uint64_t> b;  // selectors' send case -> receivers (and a drainer)
  std::vector<std::vector<std::uint8_t>> a_sends;       // [feeder][sequence]
  std::vector<std::vector<std::uint8_t>> b_sends;       // [selector][sequence], grows
  std::vector<std::vector<std::uint64_t>> a_received;   // [selector], then A's drainer
  std::vector<std::vector<std::uint64_t>> b_received;   // [receiver], then B's drainer
  std::uint32_t next_feeder = 0, next_selector = 0;     // main thread: ids handed out
  std::size_t next_receiver = 0;
};

void spawn_feeder(brigade::runtime& rt, select_round& r, dice& d) {
  const std::uint32_t f = r.next_feeder;
  if (f + 1 > r.a_sends.size()) return;
  r.tasks.add(rt.spawn(send_numbered(r.a.as_sender(), r.a_sends[f], f, r, d.seed())), producer);
  ++r.next_feeder;
}

void spawn_selector(brigade::runtime& rt, select_round& r, dice& d) {
  const std::uint32_t s = r.next_selector;
  if (s + 2 > r.b_sends.size()) return;
  const auto from = r.a.as_receiver();
  const auto to = r.b.as_sender();
  if (d.chance(25)) {
    auto first = select_loop(from, to, r.b_sends[s], r.a_received[s], s, r, d.seed());
    auto second = select_loop(from, to, r.b_sends[s + 1], r.a_received[s + 1], s + 1, r, d.seed());
    r.tasks.add(rt.spawn(as_children(std::move(first), std::move(second))), selector);
    r.next_selector += 2;
  } else {
    r.tasks.add(rt.spawn(select_loop(from, to, r.b_sends[s], r.a_received[s], s, r, d.seed())), selector);
    r.next_selector += 1;
  }
}

void spawn_b_receiver(brigade::runtime& rt, select_round& r, dice& d) {
  const std::size_t c = r.next_receiver;
  if (c + 2 > r.b_received.size()) return;  // one kept for the drainer
  r.tasks.add(rt.spawn(receive_all(r.b.as_receiver(), r.b_received[c], r, d.seed())), consumer);
  ++r.next_receiver;
}

bool select_round_run(brigade::runtime& rt, std::uint64_t seed, tally& total) {
  dice d(seed);
  const std::size_t a_capacities[] = {0, 1, 4};
  const std::size_t b_capacities[] = {0, 2};
  auto state = std::make_unique<select_round>(a_capacities[d.between(0, 2)], b_capacities[d.between(0, 1)],
                                              static_cast<std::size_t>(d.between(20, 200)));
  select_round& r = *state;
  const int task_selectors = d.between(2, 5), task_feeders = d.between(1, 3), task_receivers = d.between(1, 3);
  for (int i = 0; i < task_selectors; ++i) spawn_selector(rt, r, d);
  for (int i = 0; i < task_receivers; ++i) spawn_b_receiver(rt, r, d);
  for (int i = 0; i < task_feeders; ++i) spawn_feeder(rt, r, d);
  if (d.chance(50)) {
    stop_slot& slot = r.new_slot();
    r.threads.start(selector, r.problems, [&r, &slot, s = r.next_selector++, seed32 = d.seed()] {
      select_loop_blocking(r.a.as_receiver(), r.b.as_sender(), r.b_sends[s], r.a_received[s], s, r, slot, seed32);
    });
  }
  if (d.chance(30)) {
    stop_slot& slot = r.new_slot();
    r.threads.start(producer, r.problems, [&r, &slot, f = r.next_feeder++, seed32 = d.seed()] {
      send_numbered_blocking(r.a.as_sender(), r.a_sends[f], f, r, slot, seed32);
    });
  }
  if (d.chance(30)) {
    stop_slot& slot = r.new_slot();
    r.threads.start(consumer, r.problems, [&r, &slot, c = r.next_receiver++, seed32 = d.seed()] {
      receive_all_blocking(r.b.as_receiver(), r.b_received[c], r, slot, seed32);
    });
  }

  storm(rt, r, d, selector | consumer | producer, std::chrono::microseconds(d.between(10, 200)),
        for_a_while(std::chrono::microseconds(d.between(200, 3000))), [&](unsigned role) {
          if (!d.chance(80)) return;
          if (role == selector)
            spawn_selector(rt, r, d);
          else if (role == consumer)
            spawn_b_receiver(rt, r, d);
          else
            spawn_feeder(rt, r, d);
        });

  // Drainers that are never cancelled: A's lets every feeder finish; B's lets every selector go on.
  r.tasks.add(rt.spawn(receive_all(r.a.as_receiver(), r.a_received.back(), r, d.seed())), drainer);
  r.tasks.add(rt.spawn(receive_all(r.b.as_receiver(), r.b_received.back(), r, d.seed())), drainer);
  if (!r.wait(producer, steady::now() + hang_limit)) return report_hang(state, "select: feeders of A did not finish");
  r.a.close();
  if (!r.wait(selector, steady::now() + hang_limit))
    return report_hang(state, "select: selectors did not end after A closed");
  r.b.close();
  if (!r.wait(any_role, steady::now() + hang_limit))
    return report_hang(state, "select: receivers did not end after B closed");
  r.join_everything(total);
  check_deliveries(r.a_sends, r.a_received, r.problems, "select's receive case (channel A)");
  check_deliveries(r.b_sends, r.b_received, r.problems, "select's send case (channel B)");
  r.problems.report();
  return true;
}

TEST(cancel_safety, select_a_cancelled_select_completes_no_case) {
  const auto start = steady::now();
  run_rounds("select", 2, slice_end(start, 0, 2), select_round_run);
  run_rounds("select", 3, slice_end(start, 1, 2), select_round_run);
}

}  // namespace
