#include "brigade/sync/event.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "../until_parked.hpp"
#include "brigade/runtime/runtime.hpp"

namespace {

using namespace std::chrono_literals;

brigade::task<int> waits(brigade::event& ev, std::atomic<int>& waiting) {
  ++waiting;
  co_await ev.wait_async();
  co_return 1;
}

TEST(event, wakes_every_waiting_task_and_thread) {
  brigade::runtime rt({.worker_threads = 2});
  brigade::event ev;
  std::atomic<int> waiting{0};
  std::vector<brigade::join_handle<int>> handles;
  for (int i = 0; i < 100; ++i) handles.push_back(rt.spawn(waits(ev, waiting)));
  std::atomic<bool> thread_woke{false};
  std::thread plain([&] {
    ev.wait();
    thread_woke = true;
  });
  while (waiting.load() < 100) std::this_thread::sleep_for(1ms);
  EXPECT_FALSE(ev.is_set());
  ev.set();
  ev.set();  // idempotent
  int woken = 0;
  for (auto& h : handles) woken += h.join();
  plain.join();
  EXPECT_EQ(woken, 100);
  EXPECT_TRUE(thread_woke.load());
}

TEST(event, waiting_on_a_set_event_completes_at_once) {
  brigade::runtime rt({.worker_threads = 1});
  brigade::event ev;
  ev.set();
  std::atomic<int> waiting{0};
  EXPECT_EQ(rt.block_on(waits(ev, waiting)), 1);
  ev.wait();
}

}  // namespace

namespace {

TEST(event, may_be_destroyed_as_soon_as_a_wait_returns) {
  std::atomic<brigade::event*> current{nullptr};
  std::atomic<bool> stop{false};
  std::thread setter([&] {
    while (!stop.load()) {
      if (brigade::event* ev = current.exchange(nullptr)) ev->set();
    }
  });
  for (int i = 0; i < 2000; ++i) {
    auto* ev = new brigade::event();
    current.store(ev);
    ev->wait();
    delete ev;
  }
  stop = true;
  setter.join();
}

}  // namespace

namespace {

TEST(event, reset_makes_later_waits_wait_again) {
  brigade::event e;
  e.set();
  e.wait();  // set: returns at once
  e.reset();
  EXPECT_FALSE(e.is_set());
  std::atomic<bool> passed{false};
  std::atomic<long> tid{0};
  std::thread waiting([&] {
    tid = brigade_test::this_thread_id();
    e.wait();
    passed = true;
  });
  brigade_test::until_thread_sleeps(tid);  // it waits: the reset held
  EXPECT_FALSE(passed.load());
  e.set();
  waiting.join();
  EXPECT_TRUE(passed.load());
  e.reset();
  e.reset();  // idempotent
  EXPECT_FALSE(e.is_set());
}

}  // namespace
