#include "brigade/detail/parker.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "brigade/runtime/waiter.hpp"

namespace {

TEST(parker, an_unpark_before_the_park_is_not_lost) {
  brigade::detail::parker parker;
  parker.unpark();
  parker.park();  // returns at once: consumes the token
  SUCCEED();
}

TEST(parker, unpark_wakes_a_parked_thread) {
  brigade::detail::parker parker;
  std::atomic<bool> flag{false};
  std::thread sleeper([&] {
    while (!flag.load()) parker.park(0);
  });
  flag.store(true);
  parker.unpark();
  sleeper.join();
  SUCCEED();
}

TEST(thread_waiter, wake_releases_a_waiting_thread_and_publishes_writes) {
  for (int round = 0; round < 200; ++round) {
    brigade::detail::thread_waiter waiter;
    int payload = 0;
    std::thread waker([&] {
      payload = round + 1;
      waiter.wake();
    });
    waiter.wait(round % 2 == 0 ? 0 : 5000);  // half the rounds go straight to the futex
    EXPECT_EQ(payload, round + 1);
    waker.join();
  }
}

}  // namespace
