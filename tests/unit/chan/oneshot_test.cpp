#include "brigade/chan/oneshot.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "../until_parked.hpp"
#include "brigade/runtime/runtime.hpp"
#include "brigade/runtime/spawn.hpp"

namespace {

using namespace std::chrono_literals;

TEST(oneshot, a_task_receives_the_value_a_thread_sends) {
  brigade::runtime rt({.worker_threads = 1});
  auto [tx, rx] = brigade::make_oneshot<std::string>();
  auto waiting = rt.spawn([](brigade::oneshot_receiver<std::string> r) -> brigade::task<std::string> {
    co_return co_await r.recv_async();
  }(std::move(rx)));
  ASSERT_TRUE(brigade_test::until_workers_parked(rt, 1));  // the task is parked in recv_async
  EXPECT_TRUE(tx.send("reply"));
  EXPECT_EQ(waiting.join(), "reply");
}

TEST(oneshot, a_thread_receives_a_value_sent_before_it_asked) {
  auto [tx, rx] = brigade::make_oneshot<std::unique_ptr<int>>();
  EXPECT_TRUE(tx.send(std::make_unique<int>(5)));
  EXPECT_EQ(*rx.recv(), 5);
  EXPECT_THROW(rx.recv(), brigade::usage_error);  // received twice
}

TEST(oneshot, a_sender_gone_without_sending_fails_the_receiver) {
  auto [tx, rx] = brigade::make_oneshot<int>();
  const long receiving = brigade_test::this_thread_id();
  std::thread dropper([t = std::move(tx), receiving]() mutable {
    brigade_test::until_thread_sleeps(receiving);  // the receiver is asleep in recv
    t = brigade::oneshot_sender<int>();
  });
  try {
    (void)rx.recv();
    FAIL() << "no error";
  } catch (const brigade::channel_closed& error) {
    EXPECT_NE(std::string(error.what()).find("sender is gone"), std::string::npos);
  }
  dropper.join();
}

TEST(oneshot, sending_to_a_gone_receiver_reports_false_and_twice_is_an_error) {
  auto [tx, rx] = brigade::make_oneshot<int>();
  rx = brigade::oneshot_receiver<int>();
  EXPECT_FALSE(tx.send(1));
  EXPECT_THROW(tx.send(2), brigade::usage_error);
  brigade::oneshot_sender<int> empty;
  EXPECT_THROW(empty.send(1), brigade::usage_error);
}

TEST(oneshot, try_recv_does_not_wait) {
  auto [tx, rx] = brigade::make_oneshot<int>();
  EXPECT_EQ(rx.try_recv(), std::nullopt);
  tx.send(3);
  EXPECT_EQ(rx.try_recv(), 3);
}

TEST(oneshot, a_waiting_task_destroyed_at_shutdown_leaves_the_slot) {
  auto [tx, rx] = brigade::make_oneshot<int>();
  std::atomic<bool> started{false};
  {
    brigade::runtime rt({.worker_threads = 1});
    auto waiting = rt.spawn([](brigade::oneshot_receiver<int>& r, std::atomic<bool>& s) -> brigade::task<void> {
      s = true;
      (void)co_await r.recv_async();
    }(rx, started));
    while (!started.load()) std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(2ms);
    rt.shutdown();
    EXPECT_THROW(waiting.join(), brigade::task_cancelled);
  }
  EXPECT_TRUE(tx.send(1));  // wakes nobody: the parked waiter left
  EXPECT_EQ(rx.recv(), 1);
}

}  // namespace
