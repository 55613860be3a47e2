#include "brigade/detail/parker.hpp"

#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "brigade/runtime/waiter.hpp"

namespace {

// An unpark before the park leaves a token: park() returns at once, and sees what the unparker
// wrote before it (release/acquire). A hang (the lost-token bug) fails by the test's timeout.
TEST(parker, an_unpark_before_the_park_is_not_lost_and_publishes_writes) {
  for (int round = 0; round < 200; ++round) {
    brigade::detail::parker parker;
    int payload = 0;
    std::thread unparker([&] {
      payload = round + 1;
      parker.unpark();
    });
    unparker.join();  // the unpark happened before the park below
    parker.park(round % 2 == 0 ? 0 : 2000);
    EXPECT_EQ(payload, round + 1);
  }
}

// One token, not a count: two unparks before a park let one park() through; the thread that
// parks again is woken only by the next unpark, and each wake is counted once.
TEST(parker, unpark_wakes_a_parked_thread_once_per_token) {
  brigade::detail::parker parker;
  std::atomic<int> unparks{0};
  std::atomic<int> seen{0};
  std::thread sleeper([&] {
    // Each round: wait (re-checking, park may return spuriously) until the next unpark counted.
    for (int expected = 1; expected <= 100; ++expected) {
      while (unparks.load() < expected) parker.park(expected % 2 == 0 ? 0 : 2000);
      seen.fetch_add(1);
    }
  });
  for (int i = 1; i <= 100; ++i) {
    while (seen.load() < i - 1) std::this_thread::yield();  // the sleeper is at round i
    unparks.fetch_add(1);
    parker.unpark();
  }
  sleeper.join();
  EXPECT_EQ(seen.load(), 100);
  EXPECT_EQ(unparks.load(), 100);
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

// A parker that sleeps elsewhere (the reactor's driver): an unpark during that sleep calls the
// interrupt, one before it leaves a token that keeps the parker from sleeping at all. The
// "elsewhere" here is an eventfd read that only the interrupt ends.
TEST(parker, an_unpark_interrupts_a_sleep_elsewhere_and_a_token_prevents_it) {
  struct sleep_on_eventfd {
    int fd = ::eventfd(0, EFD_CLOEXEC);
    ~sleep_on_eventfd() { ::close(fd); }
    static void interrupt(void* self) noexcept {
      const std::uint64_t one = 1;
      [[maybe_unused]] auto n = ::write(static_cast<sleep_on_eventfd*>(self)->fd, &one, sizeof one);
    }
    void sleep() const {
      std::uint64_t value;
      [[maybe_unused]] auto n = ::read(fd, &value, sizeof value);  // blocks until interrupted
    }
  } driver;
  brigade::detail::parker parker;
  parker.set_interrupt(&sleep_on_eventfd::interrupt, &driver);
  parker.unpark();  // a token first: no sleep
  EXPECT_FALSE(parker.park_elsewhere([&] { driver.sleep(); }));
  for (int round = 0; round < 200; ++round) {
    std::atomic<bool> asleep{false};
    std::thread waker([&] {
      while (!asleep.load()) std::this_thread::yield();
      if (round % 2 == 0) std::this_thread::sleep_for(std::chrono::microseconds(50));
      parker.unpark();
    });
    asleep = true;
    // Either the unpark lands first (a token: no sleep) or it interrupts the sleep; both return.
    (void)parker.park_elsewhere([&] { driver.sleep(); });
    waker.join();
  }
}

}  // namespace
