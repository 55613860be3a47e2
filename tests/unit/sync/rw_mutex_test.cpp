#include "brigade/sync/rw_mutex.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <vector>

#include "../until_parked.hpp"
#include "brigade/runtime/runtime.hpp"
#include "brigade/runtime/spawn.hpp"
#include "brigade/runtime/yield_now.hpp"

namespace {

using namespace std::chrono_literals;

// Readers and writers check the rule: a writer is alone; readers only share with readers.
struct rule_watch {
  std::atomic<int> readers{0};
  std::atomic<int> writers{0};
  std::atomic<int> violations{0};
  std::atomic<int> most_readers{0};
  void read_enter() {
    const int now = readers.fetch_add(1) + 1;
    if (writers.load() != 0) violations.fetch_add(1);
    int seen = most_readers.load();
    while (now > seen && !most_readers.compare_exchange_weak(seen, now)) {
    }
  }
  void read_leave() { readers.fetch_sub(1); }
  void write_enter() {
    if (writers.fetch_add(1) != 0 || readers.load() != 0) violations.fetch_add(1);
  }
  void write_leave() { writers.fetch_sub(1); }
};

TEST(rw_mutex, writers_are_alone_and_readers_share) {
  brigade::runtime rt({.worker_threads = 2});
  brigade::rw_mutex lock;
  rule_watch watch;
  long value = 0;  // written under the write lock
  std::vector<brigade::join_handle<void>> handles;
  for (int t = 0; t < 16; ++t)
    handles.push_back(rt.spawn([](brigade::rw_mutex& l, rule_watch& w, long& v, int id) -> brigade::task<void> {
      for (int i = 0; i < 200; ++i) {
        if ((i + id) % 4 == 0) {
          auto held = co_await l.lock_async();
          w.write_enter();
          ++v;
          co_await brigade::yield_now();
          w.write_leave();
        } else {
          auto held = co_await l.lock_shared_async();
          w.read_enter();
          co_await brigade::yield_now();
          w.read_leave();
        }
      }
    }(lock, watch, value, t)));
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 1000; ++i) {
        if ((i + t) % 4 == 0) {
          std::unique_lock held(lock);
          watch.write_enter();
          ++value;
          watch.write_leave();
        } else {
          std::shared_lock held(lock);
          watch.read_enter();
          watch.read_leave();
        }
      }
    });
  for (auto& h : handles) h.join();
  for (auto& t : threads) t.join();
  EXPECT_EQ(watch.violations.load(), 0);
  EXPECT_EQ(value, 16 * 50 + 2 * 250);
  EXPECT_FALSE(lock.is_write_locked());
  EXPECT_EQ(lock.readers(), 0u);
}

// Readers keep the lock always read-held between them; a writer still gets in (readers that
// arrive after it waits queue behind it).
TEST(rw_mutex, a_writer_is_not_starved_by_overlapping_readers) {
  brigade::rw_mutex lock;
  std::atomic<bool> stop{false};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t)
    readers.emplace_back([&] {
      while (!stop.load()) {
        std::shared_lock held(lock);
        std::this_thread::sleep_for(100us);
      }
    });
  while (lock.readers() == 0) std::this_thread::yield();  // the readers overlap from here on
  for (int i = 0; i < 5; ++i) {
    EXPECT_TRUE(lock.try_lock_for(10s));
    lock.unlock();
  }
  stop = true;
  for (auto& t : readers) t.join();
}

TEST(rw_mutex, readers_queued_behind_a_writer_that_gives_up_are_let_in) {
  brigade::rw_mutex lock;
  lock.lock_shared();  // a reader inside
  std::stop_source give_up;
  std::thread writer([&] { EXPECT_THROW(lock.lock(give_up.get_token()), brigade::task_cancelled); });
  while (lock.try_lock_shared() ? (lock.unlock_shared(), true) : false) std::this_thread::yield();
  // The writer waits now: new readers queue behind it.
  std::atomic<bool> read{false};
  std::atomic<long> reader_id{0};
  std::thread reader([&] {
    reader_id = brigade_test::this_thread_id();
    lock.lock_shared();
    read = true;
    lock.unlock_shared();
  });
  brigade_test::until_thread_sleeps(reader_id);  // queued behind the writer
  EXPECT_FALSE(read.load());
  give_up.request_stop();
  writer.join();  // gave up: the queued reader must get in although the first reader stays
  reader.join();
  EXPECT_TRUE(read.load());
  lock.unlock_shared();
  EXPECT_EQ(lock.readers(), 0u);
  EXPECT_TRUE(lock.try_lock());
  lock.unlock();
}

TEST(rw_mutex, try_forms_respect_the_rule) {
  brigade::rw_mutex lock;
  EXPECT_TRUE(lock.try_lock_shared());
  EXPECT_TRUE(lock.try_lock_shared());
  EXPECT_EQ(lock.readers(), 2u);
  EXPECT_FALSE(lock.try_lock());
  EXPECT_FALSE(lock.try_lock_for(5ms));
  lock.unlock_shared();
  lock.unlock_shared();
  EXPECT_TRUE(lock.try_lock());
  std::thread other([&] {
    EXPECT_FALSE(lock.try_lock_shared());
    EXPECT_FALSE(lock.try_lock_shared_for(5ms));
  });
  other.join();
  lock.unlock();
}

TEST(rw_mutex, misuse_is_a_usage_error) {
  brigade::rw_mutex lock;
  EXPECT_THROW(lock.unlock(), brigade::usage_error);
  EXPECT_THROW(lock.unlock_shared(), brigade::usage_error);
  lock.lock();
  std::thread other([&] { EXPECT_THROW(lock.unlock(), brigade::usage_error); });
  other.join();
  EXPECT_THROW(lock.lock(), brigade::usage_error);
  EXPECT_THROW(lock.lock_shared(), brigade::usage_error);  // would wait for itself
  lock.unlock();
  auto awaiter = lock.lock_shared_async();
  EXPECT_TRUE(awaiter.await_ready());  // free: taken at once
  auto held = awaiter.await_resume();
  EXPECT_EQ(lock.readers(), 1u);
  held.unlock();
  EXPECT_THROW(held.unlock(), brigade::usage_error);
  EXPECT_EQ(lock.readers(), 0u);
}

TEST(rw_mutex, a_waiting_task_destroyed_at_shutdown_leaves_the_queue) {
  brigade::rw_mutex lock;
  lock.lock();
  std::atomic<int> started{0};
  {
    brigade::runtime rt({.worker_threads = 1});
    auto reader = rt.spawn([](brigade::rw_mutex& l, std::atomic<int>& s) -> brigade::task<void> {
      s.fetch_add(1);
      auto held = co_await l.lock_shared_async();
    }(lock, started));
    auto writer = rt.spawn([](brigade::rw_mutex& l, std::atomic<int>& s) -> brigade::task<void> {
      s.fetch_add(1);
      auto held = co_await l.lock_async();
    }(lock, started));
    while (started.load() < 2) std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(2ms);
    rt.shutdown();
    EXPECT_THROW(reader.join(), brigade::task_cancelled);
    EXPECT_THROW(writer.join(), brigade::task_cancelled);
  }
  lock.unlock();
  EXPECT_FALSE(lock.is_write_locked());
  EXPECT_EQ(lock.readers(), 0u);
  EXPECT_TRUE(lock.try_lock());
  lock.unlock();
}

}  // namespace
