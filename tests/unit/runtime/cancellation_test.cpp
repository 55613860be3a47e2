// Cancellation reaches every wait: a task parked in any of brigade's waits is woken by abort()
// (or a stop of an enclosing scope) and its wait throws task_cancelled, leaving the primitive as
// if the waiter had never come (cancel-safety, spot-checked here; tests/stress checks it against
// a model). The one-worker tests are deterministic: the waiting task is spawned first, so it runs
// and parks before the task that aborts it runs.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <stop_token>
#include <thread>
#include <vector>
#include <utility>

#include "brigade/brigade.hpp"

#include "../until_parked.hpp"

namespace {

using namespace std::chrono_literals;

brigade::task<void> abort_it(brigade::join_handle<void>& handle) {
  handle.abort();
  co_return;
}

/// Spawns `waiting` on `rt` (one worker), lets it park, aborts it from another task, and expects
/// its join to throw task_cancelled.
void expect_abort_wakes(brigade::runtime& rt, brigade::task<void> waiting) {
  auto handle = rt.spawn(std::move(waiting));
  rt.block_on(abort_it(handle));
  EXPECT_THROW(handle.join(), brigade::task_cancelled);
}

/// Waits (a bounded while) for `handle` to finish; false if it did not.
template <class T>
bool finishes(const brigade::join_handle<T>& handle, std::chrono::milliseconds limit = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!handle.is_finished()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

TEST(cancellation, abort_wakes_a_task_parked_on_an_event) {
  brigade::runtime rt({.worker_threads = 1});
  brigade::event never;
  expect_abort_wakes(rt, [](brigade::event& ev) -> brigade::task<void> { co_await ev.wait_async(); }(never));
  never.set();  // the event still works for others
}

TEST(cancellation, a_cancelled_receive_loses_no_value) {
  for (std::size_t capacity : {std::size_t{0}, std::size_t{4}, brigade::unbounded}) {
    brigade::runtime rt({.worker_threads = 1});
    auto [tx, rx] = brigade::make_channel<int>(capacity);
    expect_abort_wakes(rt, [](brigade::receiver<int> from) -> brigade::task<void> {
      (void)co_await from.recv_async();
      ADD_FAILURE() << "the receive completed";
    }(rx));
    // The cancelled receiver left the queue: a value sent now stays for the next receiver.
    if (capacity == 0) {
      EXPECT_EQ(tx.try_send(1), brigade::channel_status::would_block);
    } else {
      EXPECT_EQ(tx.try_send(1), brigade::channel_status::ok);
      int out = 0;
      EXPECT_EQ(rx.try_recv(out), brigade::channel_status::ok);
      EXPECT_EQ(out, 1);
    }
  }
}

TEST(cancellation, a_cancelled_send_never_delivers) {
  for (std::size_t capacity : {std::size_t{0}, std::size_t{1}}) {
    brigade::runtime rt({.worker_threads = 1});
    auto [tx, rx] = brigade::make_channel<int>(capacity);
    if (capacity == 1) {
      ASSERT_EQ(tx.try_send(7), brigade::channel_status::ok);  // full
    }
    expect_abort_wakes(rt, [](brigade::sender<int> to) -> brigade::task<void> {
      co_await to.send_async(42);
      ADD_FAILURE() << "the send completed";
    }(tx));
    int out = 0;
    if (capacity == 1) {
      ASSERT_EQ(rx.try_recv(out), brigade::channel_status::ok);
      EXPECT_EQ(out, 7);
    }
    EXPECT_EQ(rx.try_recv(out), brigade::channel_status::would_block);  // 42 never arrives
  }
}

TEST(cancellation, a_cancelled_select_completes_no_case) {
  brigade::runtime rt({.worker_threads = 1});
  auto [a_tx, a_rx] = brigade::make_channel<int>(0);
  auto [b_tx, b_rx] = brigade::make_channel<int>(0);
  expect_abort_wakes(rt, [](brigade::receiver<int> a, brigade::sender<int> b) -> brigade::task<void> {
    std::optional<int> got;
    (void)co_await brigade::select_async(brigade::recv_case(a, got), brigade::send_case(b, 5));
    ADD_FAILURE() << "a case completed";
  }(a_rx, b_tx));
  int out = 0;
  EXPECT_EQ(a_tx.try_send(1), brigade::channel_status::would_block);  // nobody receives on a
  EXPECT_EQ(b_rx.try_recv(out), brigade::channel_status::would_block);  // nobody sends on b
}

TEST(cancellation, a_cancelled_lock_never_holds) {
  brigade::runtime rt({.worker_threads = 1});
  brigade::mutex m;
  m.lock();  // main holds it
  expect_abort_wakes(rt, [](brigade::mutex& lock) -> brigade::task<void> {
    auto held = co_await lock.lock_async();
    ADD_FAILURE() << "the lock was taken";
  }(m));
  m.unlock();
  EXPECT_FALSE(m.is_locked());  // not handed to the cancelled waiter
  EXPECT_TRUE(m.try_lock());
  m.unlock();
}

TEST(cancellation, a_cancelled_shared_or_exclusive_lock_never_holds) {
  brigade::runtime rt({.worker_threads = 1});
  brigade::rw_mutex lock;
  lock.lock();
  expect_abort_wakes(rt, [](brigade::rw_mutex& l) -> brigade::task<void> {
    auto read = co_await l.lock_shared_async();
    ADD_FAILURE() << "the share was taken";
  }(lock));
  expect_abort_wakes(rt, [](brigade::rw_mutex& l) -> brigade::task<void> {
    auto write = co_await l.lock_async();
    ADD_FAILURE() << "the write lock was taken";
  }(lock));
  lock.unlock();
  EXPECT_FALSE(lock.is_write_locked());
  EXPECT_EQ(lock.readers(), 0u);
}

brigade::task<void> read_once(brigade::rw_mutex& lock, std::atomic<bool>& read) {
  auto share = co_await lock.lock_shared_async();
  read = true;
}

TEST(cancellation, a_cancelled_writer_lets_in_the_readers_queued_behind_it) {
  brigade::runtime rt({.worker_threads = 1});
  brigade::rw_mutex lock;
  lock.lock_shared();  // main reads: a writer must wait, and readers queue behind it
  auto writer = rt.spawn([](brigade::rw_mutex& l) -> brigade::task<void> {
    auto write = co_await l.lock_async();
  }(lock));
  std::atomic<bool> read{false};
  auto reader = rt.spawn(read_once(lock, read));
  rt.block_on(abort_it(writer));
  EXPECT_THROW(writer.join(), brigade::task_cancelled);
  ASSERT_TRUE(finishes(reader)) << "the reader stayed queued behind a writer that was gone";
  EXPECT_TRUE(read.load());
  lock.unlock_shared();
}

TEST(cancellation, a_cancelled_acquire_takes_no_permit) {
  brigade::runtime rt({.worker_threads = 1});
  brigade::semaphore permits(0);
  expect_abort_wakes(rt, [](brigade::semaphore& s) -> brigade::task<void> {
    co_await s.acquire_async();
    ADD_FAILURE() << "a permit was taken";
  }(permits));
  permits.release(1);
  EXPECT_EQ(permits.available(), 1);  // nobody is queued to take it
}

TEST(cancellation, a_cancelled_condition_wait_holds_the_mutex_again) {
  brigade::runtime rt({.worker_threads = 1});
  brigade::mutex m;
  brigade::condition_variable cv;
  std::atomic<bool> held_after{false};
  expect_abort_wakes(rt, [](brigade::mutex& lock, brigade::condition_variable& c,
                            std::atomic<bool>& held) -> brigade::task<void> {
    auto guard = co_await lock.lock_async();
    try {
      co_await c.wait_async(guard);
    } catch (const brigade::task_cancelled&) {
      held = guard.owns_lock() && lock.is_locked();
      throw;
    }
  }(m, cv, held_after));
  EXPECT_TRUE(held_after.load());
  EXPECT_FALSE(m.is_locked());  // released when the guard went
}

TEST(cancellation, a_cancelled_barrier_arrival_is_withdrawn) {
  brigade::runtime rt({.worker_threads = 1});
  brigade::barrier pair(2);
  expect_abort_wakes(rt, [](brigade::barrier& b) -> brigade::task<void> { co_await b.arrive_and_wait_async(); }(pair));
  // Two fresh arrivals make the phase; had the cancelled one still counted, the first would pass
  // alone and the second would wait forever.
  auto arrive = [](brigade::barrier& b) -> brigade::task<void> { co_await b.arrive_and_wait_async(); };
  auto first = rt.spawn(arrive(pair));
  auto second = rt.spawn(arrive(pair));
  ASSERT_TRUE(finishes(first) && finishes(second));
  first.join();
  second.join();
}

TEST(cancellation, abort_wakes_the_gate_waits) {
  brigade::runtime rt({.worker_threads = 1});
  brigade::wait_group group;
  group.add(1);
  expect_abort_wakes(rt, [](brigade::wait_group& g) -> brigade::task<void> { co_await g.wait_async(); }(group));
  brigade::latch gate(1);
  expect_abort_wakes(rt, [](brigade::latch& l) -> brigade::task<void> { co_await l.wait_async(); }(gate));
  auto [reply_tx, reply_rx] = brigade::make_oneshot<int>();
  expect_abort_wakes(rt, [](brigade::oneshot_receiver<int>& r) -> brigade::task<void> { (void)co_await r.recv_async(); }(reply_rx));
  reply_tx.send(3);  // the cancelled recv took nothing: the value is there for the next one
  EXPECT_EQ(reply_rx.try_recv(), 3);
  brigade::broadcast<int> feed(4);
  auto sub = feed.subscribe();
  expect_abort_wakes(rt, [](brigade::broadcast_receiver<int>& s) -> brigade::task<void> { (void)co_await s.recv_async(); }(sub));
  feed.send(9);
  EXPECT_EQ(sub.try_recv(), 9);
  group.done();
  gate.count_down();
}

TEST(cancellation, abort_wakes_a_task_waiting_for_another_to_initialise_a_once) {
  brigade::runtime rt({.worker_threads = 1});
  brigade::once once;
  brigade::event release;
  auto initialiser = rt.spawn([](brigade::once& o, brigade::event& ev) -> brigade::task<void> {
    // Named first: GCC 12 destroys a capturing lambda inside a co_await expression twice.
    auto slow_action = [&ev]() -> brigade::task<void> { co_await ev.wait_async(); };
    co_await o.call_async(slow_action);
  }(once, release));
  expect_abort_wakes(rt, [](brigade::once& o) -> brigade::task<void> {
    co_await o.call_async([]() -> brigade::task<void> { co_return; });
  }(once));
  release.set();
  initialiser.join();
  EXPECT_TRUE(once.is_done());
}

TEST(cancellation, a_cancelled_join_leaves_the_joined_task_running_and_joinable) {
  brigade::runtime rt({.worker_threads = 1});
  brigade::event release;
  auto joined = rt.spawn([](brigade::event& ev) -> brigade::task<void> { co_await ev.wait_async(); }(release));
  expect_abort_wakes(rt, [](brigade::join_handle<void>& other) -> brigade::task<void> { co_await other; }(joined));
  EXPECT_FALSE(joined.is_finished());
  release.set();
  joined.join();  // still joinable
}

TEST(cancellation, abort_from_another_thread_wakes_a_parked_task) {
  brigade::runtime rt({.worker_threads = 2});
  auto [tx, rx] = brigade::make_channel<int>(0);
  std::atomic<bool> waiting{false};
  auto handle = rt.spawn([](brigade::receiver<int> from, std::atomic<bool>& flag) -> brigade::task<void> {
    flag = true;
    (void)co_await from.recv_async();
  }(rx, waiting));
  while (!waiting) std::this_thread::yield();
  ASSERT_TRUE(brigade_test::until_workers_parked(rt, 2));  // the task is parked in recv
  handle.abort();
  ASSERT_TRUE(finishes(handle));
  EXPECT_THROW(handle.join(), brigade::task_cancelled);
}

TEST(cancellation, a_wait_that_starts_after_the_stop_throws_at_once) {
  brigade::runtime rt({.worker_threads = 1});
  brigade::event never;
  std::atomic<bool> started{false}, reached_wait{false};
  auto handle = rt.spawn([](brigade::event& ev, std::atomic<bool>& flag, std::atomic<bool>& reached) -> brigade::task<void> {
    flag = true;
    auto token = co_await brigade::this_task::stop_token();
    while (!token.stop_requested()) std::this_thread::yield();  // no cancellation point
    reached = true;
    co_await ev.wait_async();
  }(never, started, reached_wait));
  while (!started) std::this_thread::yield();
  handle.abort();
  EXPECT_THROW(handle.join(), brigade::task_cancelled);
  EXPECT_TRUE(reached_wait.load());
}

TEST(cancellation, a_wait_that_can_complete_at_once_completes_even_when_stopped) {
  brigade::runtime rt({.worker_threads = 1});
  brigade::event ready;
  ready.set();
  std::atomic<bool> started{false};
  auto handle = rt.spawn([](brigade::event& ev, std::atomic<bool>& flag) -> brigade::task<int> {
    flag = true;
    auto token = co_await brigade::this_task::stop_token();
    while (!token.stop_requested()) std::this_thread::yield();  // no cancellation point
    co_await ev.wait_async();  // open: no suspension, no cancellation
    co_return 1;
  }(ready, started));
  while (!started) std::this_thread::yield();
  handle.abort();
  EXPECT_EQ(handle.join(), 1);
}

// ---- Structured children ----------------------------------------------------------------------

TEST(cancellation, when_any_wakes_the_loser_parked_on_an_event) {
  brigade::runtime rt({.worker_threads = 2});
  brigade::event never;
  const auto winner = rt.block_on([](brigade::event& ev) -> brigade::task<std::size_t> {
    auto fast = []() -> brigade::task<int> { co_return 1; };
    auto slow = [](brigade::event& e) -> brigade::task<int> {
      co_await e.wait_async();
      co_return 2;
    };
    auto result = co_await brigade::when_any(slow(ev), fast());
    co_return result.index();
  }(never));
  EXPECT_EQ(winner, 1u);
}

TEST(cancellation, aborting_a_task_wakes_its_when_all_children_parked_on_channels) {
  brigade::runtime rt({.worker_threads = 2});
  auto [tx, rx] = brigade::make_channel<int>(0);
  std::atomic<int> parked{0};
  auto receive = [](brigade::receiver<int> from, std::atomic<int>& count) -> brigade::task<void> {
    ++count;
    (void)co_await from.recv_async();
  };
  auto handle = rt.spawn([](brigade::receiver<int> from, std::atomic<int>& count, auto child) -> brigade::task<void> {
    co_await brigade::when_all(child(from, count), child(from, count));
  }(rx, parked, receive));
  while (parked.load() < 2) std::this_thread::yield();
  ASSERT_TRUE(brigade_test::until_workers_parked(rt, 2));  // both children are parked in recv
  handle.abort();
  ASSERT_TRUE(finishes(handle));
  EXPECT_THROW(handle.join(), brigade::task_cancelled);
}

brigade::task<void> park_on(brigade::event& never, std::atomic<int>& parked) {
  ++parked;
  co_await never.wait_async();
}

brigade::task<void> when_all_of_parked(brigade::event& never, std::atomic<int>& parked) {
  co_await brigade::when_all(park_on(never, parked), park_on(never, parked));
}

brigade::task<void> group_of_parked(brigade::event& never, std::atomic<int>& parked) {
  co_await brigade::with_task_group([&never, &parked](brigade::task_group& group) -> brigade::task<void> {
    group.spawn(when_all_of_parked(never, parked));
    group.spawn(park_on(never, parked));
    co_await park_on(never, parked);  // the body parks too
  });
}

// A stop of the root reaches tasks parked three scopes below it: the group's, then a when_all's.
TEST(cancellation, aborting_a_root_wakes_tasks_parked_in_nested_scopes) {
  brigade::runtime rt({.worker_threads = 2});
  brigade::event never;
  std::atomic<int> parked{0};
  auto handle = rt.spawn(group_of_parked(never, parked));
  while (parked.load() < 4) std::this_thread::yield();
  ASSERT_TRUE(brigade_test::until_workers_parked(rt, 2));  // all four are parked
  handle.abort();
  ASSERT_TRUE(finishes(handle)) << "a task parked below the root was not woken";
  EXPECT_THROW(handle.join(), brigade::task_cancelled);
}

TEST(cancellation, a_detached_spawn_is_not_stopped_with_the_task_that_spawned_it) {
  brigade::runtime rt({.worker_threads = 1});
  brigade::event release;
  std::atomic<bool> inner_done{false};
  auto handle = rt.spawn([](brigade::event& ev, std::atomic<bool>& done) -> brigade::task<void> {
    brigade::spawn([](brigade::event& e, std::atomic<bool>& d) -> brigade::task<void> {
      co_await e.wait_async();
      d = true;
    }(ev, done)).detach();
    co_await ev.wait_async();
  }(release, inner_done));
  rt.block_on(abort_it(handle));
  EXPECT_THROW(handle.join(), brigade::task_cancelled);
  release.set();
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!inner_done && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  EXPECT_TRUE(inner_done.load());
}

// ---- stop_callback ----------------------------------------------------------------------------

TEST(stop_callback, runs_once_on_the_stop_request) {
  brigade::runtime rt({.worker_threads = 1});
  std::atomic<int> runs{0};
  brigade::event never;
  auto handle = rt.spawn([](std::atomic<int>& count, brigade::event& ev) -> brigade::task<void> {
    brigade::stop_callback on_stop(co_await brigade::this_task::stop_token(), [&count]() noexcept { ++count; });
    co_await ev.wait_async();
  }(runs, never));
  rt.block_on(abort_it(handle));
  EXPECT_THROW(handle.join(), brigade::task_cancelled);
  EXPECT_EQ(runs.load(), 1);
}

TEST(stop_callback, runs_at_once_when_the_scope_is_already_stopped) {
  brigade::runtime rt({.worker_threads = 1});
  std::atomic<bool> started{false};
  auto handle = rt.spawn([](std::atomic<bool>& flag) -> brigade::task<int> {
    flag = true;
    auto token = co_await brigade::this_task::stop_token();
    while (!token.stop_requested()) std::this_thread::yield();  // no cancellation point
    bool ran = false;
    { brigade::stop_callback on_stop(token, [&ran]() noexcept { ran = true; }); }
    co_return ran ? 1 : 0;
  }(started));
  while (!started) std::this_thread::yield();
  handle.abort();
  EXPECT_EQ(handle.join(), 1);
}

TEST(stop_callback, does_not_run_after_it_is_destroyed) {
  brigade::runtime rt({.worker_threads = 1});
  std::atomic<int> runs{0};
  std::atomic<bool> unregistered{false};
  auto handle = rt.spawn([](std::atomic<int>& count, std::atomic<bool>& done) -> brigade::task<void> {
    auto token = co_await brigade::this_task::stop_token();
    { brigade::stop_callback on_stop(token, [&count]() noexcept { ++count; }); }
    done = true;
    while (!token.stop_requested()) std::this_thread::yield();  // no cancellation point
  }(runs, unregistered));
  while (!unregistered) std::this_thread::yield();
  handle.abort();
  EXPECT_NO_THROW(handle.join());
  EXPECT_EQ(runs.load(), 0);
}

// The child keeps its callback registered until the test has looked: a child that returned as
// soon as it saw the root's stop bit could destroy the callback before the stop request reached
// its scope (a callback destroyed before it runs never runs, as with std::stop_callback), which
// made this test fail about once in a few hundred runs under ThreadSanitizer.
TEST(stop_callback, reaches_a_callback_registered_in_a_child_scope) {
  brigade::runtime rt({.worker_threads = 2});
  std::atomic<int> runs{0};
  std::atomic<bool> registered{false};
  std::atomic<bool> released{false};
  auto handle = rt.spawn([](std::atomic<int>& count, std::atomic<bool>& ready, std::atomic<bool>& release) -> brigade::task<void> {
    auto child = [](std::atomic<int>& c, std::atomic<bool>& r, std::atomic<bool>& go) -> brigade::task<void> {
      auto token = co_await brigade::this_task::stop_token();  // the when_all's scope
      brigade::stop_callback on_stop(token, [&c]() noexcept { ++c; });
      r = true;
      while (!go) std::this_thread::yield();  // holds the worker; not a cancellation point
    };
    co_await brigade::when_all(child(count, ready, release));
  }(runs, registered, released));
  while (!registered) std::this_thread::yield();
  handle.abort();  // runs the callbacks of the root's scope and those below, before it returns
  EXPECT_EQ(runs.load(), 1);
  released = true;
  ASSERT_TRUE(finishes(handle));
  EXPECT_EQ(runs.load(), 1);
}

// ---- Plain threads: the blocking forms with a std::stop_token ----------------------------------

TEST(thread_cancellation, blocking_waits_end_with_task_cancelled_on_the_token) {
  brigade::mutex m;
  m.lock();
  auto [tx, unused_rx] = brigade::make_channel<int>(0);  // nobody receives
  auto [unused_tx, rx] = brigade::make_channel<int>(0);  // nobody sends
  brigade::event never;
  brigade::semaphore none(0);
  brigade::barrier pair(2);
  std::stop_source stop;
  std::atomic<int> cancelled{0};
  std::vector<long> waiting_ids;  // the kernel ids of the waiting threads
  std::mutex ids_mutex;
  auto expect_cancelled = [&](auto wait) {
    return std::thread([&cancelled, &stop, &waiting_ids, &ids_mutex, wait] {
      {
        std::lock_guard lock(ids_mutex);
        waiting_ids.push_back(brigade_test::this_thread_id());
      }
      try {
        wait(stop.get_token());
      } catch (const brigade::task_cancelled&) {
        ++cancelled;
      }
    });
  };
  std::thread threads[] = {
      expect_cancelled([&](std::stop_token t) { (void)rx.recv(t); }),
      expect_cancelled([&](std::stop_token t) { tx.send(1, t); }),
      expect_cancelled([&](std::stop_token t) { never.wait(t); }),
      expect_cancelled([&](std::stop_token t) { none.acquire(t); }),
      expect_cancelled([&](std::stop_token t) { pair.arrive_and_wait(t); }),
      expect_cancelled([&](std::stop_token t) {
        std::optional<int> got;
        (void)brigade::select(t, brigade::recv_case(rx, got));
      }),
  };
  // Every one is asleep in its wait before the stop: the wake, not the check before parking, ends it.
  while (true) {
    std::lock_guard lock(ids_mutex);
    if (waiting_ids.size() == std::size(threads)) break;
  }
  for (long id : waiting_ids) brigade_test::until_thread_sleeps(id);
  stop.request_stop();
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(cancelled.load(), 6);
  // mutex::lock(token) on the thread that does not hold it:
  std::stop_source lock_stop;
  std::atomic<long> locker_id{0};
  std::thread locker([&] {
    locker_id = brigade_test::this_thread_id();
    EXPECT_THROW(m.lock(lock_stop.get_token()), brigade::task_cancelled);
  });
  brigade_test::until_thread_sleeps(locker_id);
  lock_stop.request_stop();
  locker.join();
  m.unlock();
  EXPECT_FALSE(m.is_locked());
}

TEST(thread_cancellation, condition_wait_returns_false_on_the_token_with_the_mutex_held) {
  brigade::mutex m;
  brigade::condition_variable cv;
  std::stop_source stop;
  std::atomic<long> waiter_id{0};
  std::thread waiter([&] {
    waiter_id = brigade_test::this_thread_id();
    std::unique_lock lock(m);
    EXPECT_FALSE(cv.wait(lock, stop.get_token(), [] { return false; }));
    EXPECT_TRUE(lock.owns_lock());
  });
  brigade_test::until_thread_sleeps(waiter_id);  // asleep in the wait, the mutex released
  stop.request_stop();
  waiter.join();
}

TEST(thread_cancellation, join_ends_on_the_token_and_the_handle_stays_joinable) {
  brigade::runtime rt({.worker_threads = 1});
  brigade::event release;
  auto handle = rt.spawn([](brigade::event& ev) -> brigade::task<void> { co_await ev.wait_async(); }(release));
  std::stop_source stop;
  std::atomic<long> joiner_id{0};
  std::thread joiner([&] {
    joiner_id = brigade_test::this_thread_id();
    EXPECT_THROW(handle.join(stop.get_token()), brigade::task_cancelled);
  });
  brigade_test::until_thread_sleeps(joiner_id);
  stop.request_stop();
  joiner.join();
  release.set();
  handle.join();
}

}  // namespace
