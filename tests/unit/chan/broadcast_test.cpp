#include "brigade/chan/broadcast.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "../until_parked.hpp"
#include "brigade/runtime/runtime.hpp"
#include "brigade/runtime/spawn.hpp"

namespace {

using namespace std::chrono_literals;

brigade::task<long> sum_all(brigade::broadcast_receiver<int> rx) {
  long sum = 0;
  while (auto value = co_await rx.recv_async()) sum += *value;
  co_return sum;
}

TEST(broadcast, every_subscriber_sees_every_message) {
  brigade::runtime rt({.worker_threads = 2});
  brigade::broadcast<int> feed(1024);
  std::vector<brigade::join_handle<long>> tasks;
  for (int i = 0; i < 3; ++i) tasks.push_back(rt.spawn(sum_all(feed.subscribe())));
  auto thread_rx = feed.subscribe();
  long thread_sum = 0;
  std::thread reader([&] {
    while (auto value = thread_rx.recv()) thread_sum += *value;
  });
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(feed.send(i), 4u);
  feed.close();
  for (auto& t : tasks) EXPECT_EQ(t.join(), 999L * 1000 / 2);
  reader.join();
  EXPECT_EQ(thread_sum, 999L * 1000 / 2);
  EXPECT_EQ(thread_rx.missed(), 0u);
}

TEST(broadcast, a_subscriber_sees_only_what_is_sent_after_it_subscribed) {
  brigade::broadcast<int> feed(4);
  feed.send(1);
  auto rx = feed.subscribe();
  EXPECT_EQ(rx.try_recv(), std::nullopt);
  feed.send(2);
  EXPECT_EQ(rx.try_recv(), 2);
}

TEST(broadcast, a_subscriber_that_falls_behind_skips_the_oldest_and_counts_them) {
  brigade::broadcast<int> feed(4);
  auto slow = feed.subscribe();
  for (int i = 0; i < 10; ++i) feed.send(i);  // never blocks on the slow subscriber
  EXPECT_EQ(slow.try_recv(), 6);               // 0..5 are gone: the window holds 6..9
  EXPECT_EQ(slow.missed(), 6u);
  EXPECT_EQ(slow.try_recv(), 7);
  auto copy = slow.clone();
  EXPECT_EQ(copy.try_recv(), 8);
  EXPECT_EQ(slow.try_recv(), 8);
}

TEST(broadcast, close_drains_then_ends_and_misuse_is_reported) {
  brigade::broadcast<int> feed(8);
  auto rx = feed.subscribe();
  feed.send(1);
  feed.close();
  EXPECT_EQ(rx.recv(), 1);
  EXPECT_EQ(rx.recv(), std::nullopt);
  EXPECT_THROW(feed.send(2), brigade::channel_closed);
  EXPECT_THROW(feed.close(), brigade::usage_error);
  EXPECT_THROW(brigade::broadcast<int>(0), brigade::usage_error);
}

TEST(broadcast, destroying_the_broadcast_ends_every_subscriber) {
  std::optional<brigade::broadcast<int>> feed(std::in_place, 8);
  auto rx = feed->subscribe();
  std::atomic<long> reader_id{0};
  std::thread reader([&] {
    reader_id = brigade_test::this_thread_id();
    EXPECT_EQ(rx.recv(), std::nullopt);
  });
  brigade_test::until_thread_sleeps(reader_id);  // asleep in recv: the destruction wakes it
  feed.reset();
  reader.join();
}

}  // namespace
