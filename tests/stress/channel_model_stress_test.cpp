// Channels under random interleavings, checked against a sequential model. Each round picks a
// capacity (0, 1, 7, 8, unbounded), producers (threads and tasks) that send (producer, sequence)
// pairs with random pauses, and consumers (threads and tasks) that receive with a random mix of
// recv, try_recv and select (over the channel and a second, idle one). Sometimes the channel is
// closed early, while producers still send. Each party records its history; the model checks:
//   - nothing lost and nothing invented: the multiset received equals the multiset of sends that
//     returned normally (a send that threw channel_closed delivered nothing);
//   - nothing duplicated;
//   - per-producer FIFO: every consumer sees each producer's sequence numbers in increasing order;
//   - close: every consumer's loop ends (closed and drained), and after an early close every
//     later send throws channel_closed.
// Bounded in time: half of BRIGADE_STRESS_SECONDS (default 4).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "brigade/brigade.hpp"
#include "brigade/chan/channel.hpp"
#include "brigade/chan/select.hpp"
#include "brigade/detail/seam.hpp"
#include "stress_budget.hpp"

namespace {

struct message {
  std::uint32_t producer;
  std::uint32_t sequence;
};

void random_pause(std::uint32_t r) {
  switch (r % 5) {
    case 0: std::this_thread::yield(); break;
    case 1:
      for (std::uint32_t i = 0; i < r % 300; ++i) brigade::detail::seam::spin_pause();
      break;
    default: break;
  }
}

struct history {
  std::mutex mutex;
  std::vector<std::vector<std::uint32_t>> sent;  // per producer: sequences whose send returned
  std::vector<std::vector<message>> received;     // per consumer, in order
  std::atomic<int> late_send_not_refused{0};
};

brigade::task<void> task_producer(brigade::sender<message> tx, history& h, std::uint32_t id, int count,
                                  std::uint32_t seed, const std::atomic<bool>& closed_early) {
  std::minstd_rand random(seed);
  std::vector<std::uint32_t> sent;
  for (int i = 0; i < count; ++i) {
    const auto r = static_cast<std::uint32_t>(random());
    const bool closed_before = closed_early.load();
    try {
      if (r % 4 == 0) {
        message m{id, static_cast<std::uint32_t>(i)};
        const auto status = tx.try_send(std::move(m));
        if (status == brigade::channel_status::closed) break;
        if (status == brigade::channel_status::would_block) co_await tx.send_async(message{id, static_cast<std::uint32_t>(i)});
      } else {
        co_await tx.send_async(message{id, static_cast<std::uint32_t>(i)});
      }
      sent.push_back(static_cast<std::uint32_t>(i));
      if (closed_before) h.late_send_not_refused.fetch_add(1);
    } catch (const brigade::channel_closed&) {
      break;
    }
    if (r % 3 == 0) co_await brigade::yield_now();
  }
  std::lock_guard lock(h.mutex);
  h.sent[id] = std::move(sent);
}

void thread_producer(brigade::sender<message> tx, history& h, std::uint32_t id, int count, std::uint32_t seed,
                     const std::atomic<bool>& closed_early) {
  std::minstd_rand random(seed);
  std::vector<std::uint32_t> sent;
  for (int i = 0; i < count; ++i) {
    const auto r = static_cast<std::uint32_t>(random());
    const bool closed_before = closed_early.load();
    try {
      tx.send(message{id, static_cast<std::uint32_t>(i)});
      sent.push_back(static_cast<std::uint32_t>(i));
      if (closed_before) h.late_send_not_refused.fetch_add(1);
    } catch (const brigade::channel_closed&) {
      break;
    }
    random_pause(r);
  }
  std::lock_guard lock(h.mutex);
  h.sent[id] = std::move(sent);
}

brigade::task<void> task_consumer(brigade::receiver<message> rx, brigade::receiver<int> idle, history& h,
                                  std::size_t id, std::uint32_t seed) {
  std::minstd_rand random(seed);
  std::vector<message> got;
  while (true) {
    const auto r = static_cast<std::uint32_t>(random());
    std::optional<message> value;
    if (r % 3 == 0) {
      std::optional<int> nothing;
      (void)co_await brigade::select_async(brigade::recv_case(rx, value), brigade::recv_case(idle, nothing));
    } else {
      value = co_await rx.recv_async();
    }
    if (!value) break;
    got.push_back(*value);
    if (r % 4 == 0) co_await brigade::yield_now();
  }
  std::lock_guard lock(h.mutex);
  h.received[id] = std::move(got);
}

void thread_consumer(brigade::receiver<message> rx, brigade::receiver<int> idle, history& h, std::size_t id,
                     std::uint32_t seed) {
  std::minstd_rand random(seed);
  std::vector<message> got;
  while (true) {
    const auto r = static_cast<std::uint32_t>(random());
    std::optional<message> value;
    if (r % 3 == 0) {
      std::optional<int> nothing;
      (void)brigade::select(brigade::recv_case(rx, value), brigade::recv_case(idle, nothing));
    } else if (r % 3 == 1) {
      message m{};
      const auto status = rx.try_recv(m);
      if (status == brigade::channel_status::would_block) {
        random_pause(r >> 4);
        continue;
      }
      if (status == brigade::channel_status::ok) value = m;
    } else {
      value = rx.recv();
    }
    if (!value) break;
    got.push_back(*value);
    random_pause(r >> 8);
  }
  std::lock_guard lock(h.mutex);
  h.received[id] = std::move(got);
}

TEST(channel_stress, nothing_lost_duplicated_or_reordered_and_close_ends_every_loop) {
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration<double>(brigade_stress::stress_seconds() / 2);
  brigade::runtime rt({.worker_threads = 2});
  std::mt19937 random(2024);
  int rounds = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    // 1 and 7: the bounded ring with a division for the slot index; 8: with a mask.
    const std::size_t capacities[] = {0, 1, 7, 8, brigade::unbounded};
    const std::size_t capacity = capacities[random() % 5];
    const int task_producers = 1 + static_cast<int>(random() % 4);
    const int thread_producers = static_cast<int>(random() % 3);
    const int task_consumers = 1 + static_cast<int>(random() % 3);
    const int thread_consumers = static_cast<int>(random() % 2);
    const int per_producer = 50 + static_cast<int>(random() % 200);
    const bool close_early = random() % 4 == 0;
    const int producers = task_producers + thread_producers;
    const int consumers = task_consumers + thread_consumers;

    history h;
    h.sent.resize(static_cast<std::size_t>(producers));
    h.received.resize(static_cast<std::size_t>(consumers));
    std::atomic<bool> closed_early{false};
    auto [tx, rx] = brigade::make_channel<message>(capacity);
    brigade::channel<int> idle(0);

    std::vector<brigade::join_handle<void>> tasks;
    std::vector<std::thread> threads;
    for (int c = 0; c < task_consumers; ++c)
      tasks.push_back(rt.spawn(task_consumer(rx, idle.as_receiver(), h, static_cast<std::size_t>(c),
                                             static_cast<std::uint32_t>(random()))));
    for (int c = 0; c < thread_consumers; ++c)
      threads.emplace_back(thread_consumer, rx, idle.as_receiver(), std::ref(h),
                           static_cast<std::size_t>(task_consumers + c), static_cast<std::uint32_t>(random()));
    for (int p = 0; p < task_producers; ++p)
      tasks.push_back(rt.spawn(task_producer(tx, h, static_cast<std::uint32_t>(p), per_producer,
                                             static_cast<std::uint32_t>(random()), closed_early)));
    for (int p = 0; p < thread_producers; ++p)
      threads.emplace_back(thread_producer, tx, std::ref(h), static_cast<std::uint32_t>(task_producers + p),
                           per_producer, static_cast<std::uint32_t>(random()), std::cref(closed_early));
    rx = brigade::receiver<message>();
    if (close_early) {
      std::this_thread::sleep_for(std::chrono::microseconds(random() % 500));
      tx.close();
      closed_early = true;  // after the close: a send that starts now must be refused
    }
    tx = brigade::sender<message>();  // the producers hold the last senders: they close it
    for (auto& t : tasks) t.join();
    for (auto& t : threads) t.join();

    // The model: every producer's returned sends, each received exactly once, in order per consumer.
    std::vector<std::vector<int>> times_received(static_cast<std::size_t>(producers));
    for (int p = 0; p < producers; ++p) times_received[static_cast<std::size_t>(p)].assign(static_cast<std::size_t>(per_producer), 0);
    for (const auto& got : h.received) {
      std::vector<std::int64_t> last(static_cast<std::size_t>(producers), -1);
      for (const message& m : got) {
        ASSERT_LT(m.producer, static_cast<std::uint32_t>(producers));
        ASSERT_LT(m.sequence, static_cast<std::uint32_t>(per_producer));
        EXPECT_GT(static_cast<std::int64_t>(m.sequence), last[m.producer]) << "per-producer order broken";
        last[m.producer] = m.sequence;
        ++times_received[m.producer][m.sequence];
      }
    }
    for (int p = 0; p < producers; ++p) {
      std::vector<int> expected(static_cast<std::size_t>(per_producer), 0);
      for (std::uint32_t s : h.sent[static_cast<std::size_t>(p)]) expected[s] = 1;
      EXPECT_EQ(times_received[static_cast<std::size_t>(p)], expected) << "producer " << p << ", capacity " << capacity;
      if (!close_early) {
        EXPECT_EQ(h.sent[static_cast<std::size_t>(p)].size(), static_cast<std::size_t>(per_producer));
      }
    }
    EXPECT_EQ(h.late_send_not_refused.load(), 0);
    ++rounds;
  }
  EXPECT_GT(rounds, 0);
}

}  // namespace
