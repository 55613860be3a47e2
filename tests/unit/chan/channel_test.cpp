#include "brigade/chan/channel.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "../until_parked.hpp"
#include "brigade/runtime/runtime.hpp"
#include "brigade/runtime/spawn.hpp"
#include "brigade/sync/wait_group.hpp"

namespace {

using namespace std::chrono_literals;

// ---- Go's semantics ---------------------------------------------------------------------------

TEST(channel, an_unbuffered_send_waits_until_a_receiver_takes_the_value) {
  auto [tx, rx] = brigade::make_channel<int>(0);
  std::atomic<bool> sent{false};
  std::atomic<long> sender_id{0};
  std::thread sender([&, tx = std::move(tx)]() mutable {
    sender_id = brigade_test::this_thread_id();
    tx.send(7);
    sent = true;
  });
  brigade_test::until_thread_sleeps(sender_id);
  EXPECT_FALSE(sent.load());  // nobody received yet: the send is asleep, waiting
  EXPECT_EQ(rx.recv(), 7);
  sender.join();
  EXPECT_TRUE(sent.load());
}

TEST(channel, a_buffered_channel_takes_capacity_values_without_a_receiver) {
  brigade::channel<int> ch(3);
  EXPECT_EQ(ch.capacity(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(ch.try_send(i), brigade::channel_status::ok);
  EXPECT_EQ(ch.try_send(3), brigade::channel_status::would_block);
  EXPECT_EQ(ch.size(), 3u);
  int out = -1;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(ch.try_recv(out), brigade::channel_status::ok);
    EXPECT_EQ(out, i);  // FIFO
  }
  EXPECT_EQ(ch.try_recv(out), brigade::channel_status::would_block);
}

TEST(channel, an_unbounded_channel_never_blocks_a_sender) {
  auto [tx, rx] = brigade::make_channel<std::string>(brigade::unbounded);
  for (int i = 0; i < 10000; ++i) tx.send(std::to_string(i));
  tx = brigade::sender<std::string>();  // the last sender goes: closed
  int expected = 0;
  for (std::string& value : rx) EXPECT_EQ(value, std::to_string(expected++));
  EXPECT_EQ(expected, 10000);
}

TEST(channel, close_lets_receivers_drain_then_reports_closed) {
  brigade::channel<int> ch(4);
  ch.send(1);
  ch.send(2);
  ch.close();
  EXPECT_EQ(ch.recv(), 1);
  EXPECT_EQ(ch.recv(), 2);
  EXPECT_EQ(ch.recv(), std::nullopt);
  int out = 0;
  EXPECT_EQ(ch.try_recv(out), brigade::channel_status::closed);
}

TEST(channel, close_wakes_every_waiting_receiver) {
  auto [tx, rx] = brigade::make_channel<int>(0);
  std::atomic<int> saw_closed{0};
  std::vector<std::thread> receivers;
  std::vector<std::atomic<long>> ids(4);
  for (int i = 0; i < 4; ++i)
    receivers.emplace_back([&, i, rx = rx] {
      ids[i] = brigade_test::this_thread_id();
      if (!rx.recv()) saw_closed.fetch_add(1);
    });
  for (auto& id : ids) {  // all four asleep in recv: the close wakes them
    brigade_test::until_thread_sleeps(id);
  }
  tx.close();
  for (auto& t : receivers) t.join();
  EXPECT_EQ(saw_closed.load(), 4);
}

TEST(channel, a_send_on_a_closed_channel_is_an_error_that_says_so) {
  brigade::channel<int> ch(1);
  ch.close();
  try {
    ch.send(1);
    FAIL() << "send on a closed channel did not throw";
  } catch (const brigade::channel_closed& error) {
    EXPECT_NE(std::string(error.what()).find("send on a closed channel"), std::string::npos);
  }
  EXPECT_EQ(ch.try_send(1), brigade::channel_status::closed);
  EXPECT_THROW(ch.close(), brigade::usage_error);  // closing twice
}

TEST(channel, a_parked_sender_fails_when_the_channel_closes) {
  auto [tx, rx] = brigade::make_channel<int>(0);
  std::atomic<long> sender_id{0};
  std::thread sender([&] {
    sender_id = brigade_test::this_thread_id();
    EXPECT_THROW(tx.send(1), brigade::channel_closed);
  });
  brigade_test::until_thread_sleeps(sender_id);  // parked: the close must wake it
  tx.close();
  sender.join();
}

TEST(channel, the_last_sender_handle_closes_the_channel) {
  auto [tx, rx] = brigade::make_channel<int>(2);
  {
    brigade::sender<int> copy = tx;
    tx = brigade::sender<int>();
    copy.send(5);
  }  // the last sender goes here
  EXPECT_EQ(rx.recv(), 5);
  EXPECT_EQ(rx.recv(), std::nullopt);  // closed, never waits forever
}

TEST(channel, sends_fail_once_every_receiver_is_gone) {
  auto [tx, rx] = brigade::make_channel<int>(0);
  std::atomic<long> sender_id{0};
  std::thread sender([&] {
    sender_id = brigade_test::this_thread_id();
    try {
      tx.send(1);
      ADD_FAILURE() << "a parked send outlived every receiver";
    } catch (const brigade::channel_closed& error) {
      EXPECT_NE(std::string(error.what()).find("receivers are all gone"), std::string::npos);
    }
  });
  brigade_test::until_thread_sleeps(sender_id);  // parked: the last receiver's going wakes it
  rx = brigade::receiver<int>();
  sender.join();
  EXPECT_EQ(tx.try_send(2), brigade::channel_status::closed);
}

TEST(channel, an_empty_handle_is_a_usage_error_not_a_hang) {
  brigade::sender<int> tx;
  brigade::receiver<int> rx;
  EXPECT_FALSE(tx);
  EXPECT_THROW(tx.send(1), brigade::usage_error);
  EXPECT_THROW(rx.recv(), brigade::usage_error);
  EXPECT_THROW(tx.close(), brigade::usage_error);
  int out = 0;
  EXPECT_THROW(rx.try_recv(out), brigade::usage_error);
}

TEST(channel, try_send_keeps_a_value_it_could_not_send) {
  brigade::channel<std::unique_ptr<int>> ch(0);
  auto value = std::make_unique<int>(3);
  EXPECT_EQ(ch.try_send(std::move(value)), brigade::channel_status::would_block);
  ASSERT_NE(value, nullptr);
  EXPECT_EQ(*value, 3);
}

TEST(channel, buffered_values_are_destroyed_with_the_channel) {
  auto counter = std::make_shared<int>(0);
  {
    brigade::channel<std::shared_ptr<int>> ch(brigade::unbounded);
    for (int i = 0; i < 100; ++i) ch.send(counter);
    EXPECT_EQ(counter.use_count(), 101);
  }
  EXPECT_EQ(counter.use_count(), 1);
}

// ---- tasks ------------------------------------------------------------------------------------

brigade::task<void> produce(brigade::sender<int> tx, int from, int count) {
  for (int i = from; i < from + count; ++i) co_await tx.send_async(i);
}

brigade::task<long> consume(brigade::receiver<int> rx) {
  long sum = 0;
  while (auto value = co_await rx.recv_async()) sum += *value;
  co_return sum;
}

TEST(channel, tasks_range_until_closed_and_drained) {
  for (std::size_t capacity : {std::size_t{0}, std::size_t{1}, std::size_t{64}, brigade::unbounded}) {
    brigade::runtime rt({.worker_threads = 2});
    auto [tx, rx] = brigade::make_channel<int>(capacity);
    std::vector<brigade::join_handle<void>> producers;
    for (int p = 0; p < 4; ++p) producers.push_back(rt.spawn(produce(tx, p * 1000, 1000)));
    tx = brigade::sender<int>();  // only the producers' copies remain: they close it when done
    std::vector<brigade::join_handle<long>> consumers;
    for (int c = 0; c < 3; ++c) consumers.push_back(rt.spawn(consume(rx)));
    for (auto& p : producers) p.join();
    long total = 0;
    for (auto& c : consumers) total += c.join();
    EXPECT_EQ(total, 3999L * 4000 / 2) << "capacity " << capacity;
  }
}

TEST(channel, tasks_and_threads_talk_both_ways) {
  brigade::runtime rt({.worker_threads = 1});
  auto [ping_tx, ping_rx] = brigade::make_channel<int>(0);
  auto [pong_tx, pong_rx] = brigade::make_channel<int>(0);
  auto echo = rt.spawn([](brigade::receiver<int> in, brigade::sender<int> out) -> brigade::task<void> {
    while (auto value = co_await in.recv_async()) co_await out.send_async(*value + 1);
  }(ping_rx, pong_tx));
  ping_rx = brigade::receiver<int>();
  pong_tx = brigade::sender<int>();
  for (int i = 0; i < 1000; ++i) {
    ping_tx.send(i);
    EXPECT_EQ(pong_rx.recv(), i + 1);
  }
  ping_tx.close();
  echo.join();
  EXPECT_EQ(pong_rx.recv(), std::nullopt);  // the echo task's sender is gone
}

TEST(channel, a_send_on_a_closed_channel_throws_in_a_task) {
  brigade::runtime rt({.worker_threads = 1});
  brigade::channel<int> ch(0);
  auto parked = rt.spawn([](brigade::sender<int> tx) -> brigade::task<void> { co_await tx.send_async(1); }(ch.as_sender()));
  std::this_thread::sleep_for(10ms);
  ch.close();
  EXPECT_THROW(parked.join(), brigade::channel_closed);
  EXPECT_THROW(rt.block_on([](brigade::sender<int> tx) -> brigade::task<void> { co_await tx.send_async(2); }(ch.as_sender())),
               brigade::channel_closed);
}

TEST(channel, co_await_outside_a_runtime_is_a_usage_error) {
  brigade::channel<int> ch(0);
  auto awaiter = ch.recv_async();
  EXPECT_THROW(awaiter.await_suspend(std::noop_coroutine()), brigade::usage_error);
}

TEST(channel, a_waiting_task_destroyed_at_shutdown_leaves_the_queue) {
  brigade::channel<int> ch(0);
  std::atomic<int> started{0};
  {
    brigade::runtime rt({.worker_threads = 1});
    auto receiver = rt.spawn([](brigade::receiver<int> rx, std::atomic<int>& s) -> brigade::task<void> {
      s.fetch_add(1);
      (void)co_await rx.recv_async();
    }(ch.as_receiver(), started));
    brigade::channel<int> other(0);
    auto sender = rt.spawn([](brigade::sender<int> tx, std::atomic<int>& s) -> brigade::task<void> {
      s.fetch_add(1);
      co_await tx.send_async(1);
    }(other.as_sender(), started));
    while (started.load() < 2) std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(2ms);
    rt.shutdown();
    EXPECT_THROW(receiver.join(), brigade::task_cancelled);
    EXPECT_THROW(sender.join(), brigade::task_cancelled);
    EXPECT_EQ(other.try_recv(*std::make_unique<int>()), brigade::channel_status::would_block);
  }
  EXPECT_EQ(ch.try_send(1), brigade::channel_status::would_block);  // nobody parked any more
}

}  // namespace

namespace {

// A blocking form inside a task would stall its worker (and here, with one worker, deadlock):
// refused, as join() and block_on() are.
TEST(channel, a_blocking_form_inside_a_task_is_a_usage_error) {
  brigade::runtime rt({.worker_threads = 1});
  brigade::channel<int> ch(1);
  EXPECT_THROW(rt.block_on([](brigade::channel<int>& c) -> brigade::task<void> {
                 (void)c.recv();
                 co_return;
               }(ch)),
               brigade::usage_error);
  EXPECT_THROW(rt.block_on([](brigade::channel<int>& c) -> brigade::task<void> {
                 for (int value : c) (void)value;
                 co_return;
               }(ch)),
               brigade::usage_error);
  EXPECT_THROW(rt.block_on([](brigade::channel<int>& c) -> brigade::task<void> {
                 c.send(1);
                 co_return;
               }(ch)),
               brigade::usage_error);
}

}  // namespace

namespace {

struct counts_copies {
  static inline int copies = 0;
  int value = 0;
  explicit counts_copies(int v) : value(v) {}
  counts_copies(const counts_copies& other) : value(other.value) { ++copies; }
  counts_copies(counts_copies&&) noexcept = default;
  counts_copies& operator=(const counts_copies&) = default;
  counts_copies& operator=(counts_copies&&) noexcept = default;
};

TEST(channel, try_send_of_a_const_value_copies_it_only_when_it_goes) {
  brigade::channel<counts_copies> ch(1);
  const counts_copies item(4);
  counts_copies::copies = 0;
  EXPECT_EQ(ch.try_send(item), brigade::channel_status::ok);
  EXPECT_EQ(counts_copies::copies, 1);
  EXPECT_EQ(ch.try_send(item), brigade::channel_status::would_block);  // full: no copy made
  EXPECT_EQ(counts_copies::copies, 1);
  ch.close();
  EXPECT_EQ(ch.try_send(item), brigade::channel_status::closed);
  EXPECT_EQ(counts_copies::copies, 1);
}

}  // namespace

namespace {

// Go's len(ch), seen from a sender: how far ahead of the receivers it is.
TEST(channel, a_sender_sees_how_many_values_are_buffered) {
  auto [tx, rx] = brigade::make_channel<int>(4);
  EXPECT_EQ(tx.size(), 0u);
  tx.send(1);
  tx.send(2);
  EXPECT_EQ(tx.size(), 2u);
  EXPECT_EQ(rx.recv(), 1);
  EXPECT_EQ(tx.size(), 1u);
  auto [unbounded_tx, unbounded_rx] = brigade::make_channel<int>(brigade::unbounded);
  for (int i = 0; i < 100; ++i) unbounded_tx.send(i);
  EXPECT_EQ(unbounded_tx.size(), 100u);
}

}  // namespace
