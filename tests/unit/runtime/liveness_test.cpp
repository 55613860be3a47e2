// A blocked worker strands nothing: work made runnable by a worker that then stops running tasks
// (a thread-form lock, a blocking system call, a long computation, block_in_place) reaches the
// other workers, and when every worker is blocked a compensating worker runs it.
//
// Each test bounds its own waiting (a few seconds) and reports a hang as a failure; none of the
// bounds is a performance claim: the work must simply happen at all while the worker is blocked.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <unistd.h>
#include <vector>

#include "brigade/brigade.hpp"

#include "../until_parked.hpp"

namespace {

using namespace std::chrono_literals;

/// Polls `done` for up to `limit`; true if it became true.
bool eventually(const std::atomic<bool>& done, std::chrono::milliseconds limit = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done.load()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

/// What every test here needs from a finished pair of handles: both done within the bound.
template <class A, class B>
void expect_both_finish(brigade::join_handle<A>& a, brigade::join_handle<B>& b, const char* what) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!(a.is_finished() && b.is_finished()) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
  ASSERT_TRUE(a.is_finished() && b.is_finished()) << what;
  a.join();
  b.join();
}

brigade::task<void> hold_until_set(brigade::mutex& m, brigade::event& go, std::atomic<bool>& holds) {
  auto held = co_await m.lock_async();
  holds = true;
  co_await go.wait_async();  // suspended here when the other task sets the event
}  // releases the mutex

brigade::task<void> set_then_lock_on_the_thread(brigade::mutex& m, brigade::event& go) {
  go.set();                  // the holder becomes ready: into THIS worker's LIFO slot
  std::lock_guard lock(m);   // blocks this worker until the holder has released the mutex
  co_return;
}

// ../shared/repros/blocked_worker_hides_woken_task.cpp: the woken holder sat in the blocked
// worker's LIFO slot while the other worker slept: a deadlock every time.
TEST(liveness, blocked_worker_hides_woken_task) {
  brigade::runtime rt({.worker_threads = 2});
  brigade::mutex m;
  brigade::event go;
  std::atomic<bool> holds{false};
  auto holder = rt.spawn(hold_until_set(m, go, holds));
  ASSERT_TRUE(eventually(holds));
  ASSERT_TRUE(brigade_test::until_workers_parked(rt, 2));  // the holder waits on the event; both workers are asleep
  auto setter = rt.spawn(set_then_lock_on_the_thread(m, go));
  expect_both_finish(holder, setter, "the woken holder was stranded behind the blocked worker");
}

TEST(liveness, one_blocked_worker_gets_a_compensating_worker) {
  brigade::runtime rt({.worker_threads = 1});
  brigade::mutex m;
  brigade::event go;
  std::atomic<bool> holds{false};
  auto holder = rt.spawn(hold_until_set(m, go, holds));
  ASSERT_TRUE(eventually(holds));
  std::this_thread::sleep_for(20ms);
  auto setter = rt.spawn(set_then_lock_on_the_thread(m, go));
  expect_both_finish(holder, setter, "nothing ran the woken holder while the only worker was blocked");
  EXPECT_GE(rt.stats().compensating_workers_started, 1u);
}

brigade::task<void> set_flag(std::atomic<bool>& flag) {
  flag = true;
  co_return;
}

brigade::task<void> wake_then_compute(brigade::event& go, std::atomic<bool>& woken_ran, std::atomic<bool>& saw_it) {
  go.set();  // the waiter goes to this worker's LIFO slot
  // A long computation that never returns to the scheduler; the woken task must run elsewhere
  // meanwhile (the monitor takes it from the LIFO slot and an idle worker runs it).
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!woken_ran.load() && std::chrono::steady_clock::now() < deadline) {
  }
  saw_it = woken_ran.load();
  co_return;
}

brigade::task<void> wait_then_flag(brigade::event& go, std::atomic<bool>& parked, std::atomic<bool>& ran) {
  parked = true;
  co_await go.wait_async();
  ran = true;
}

TEST(liveness, a_task_woken_by_a_long_computation_runs_on_another_worker) {
  brigade::runtime rt({.worker_threads = 2});
  brigade::event go;
  std::atomic<bool> parked{false}, ran{false}, seen{false};
  auto waiter = rt.spawn(wait_then_flag(go, parked, ran));
  ASSERT_TRUE(eventually(parked));
  ASSERT_TRUE(brigade_test::until_workers_parked(rt, 2));  // the waiter is suspended, so the wake goes through a LIFO slot
  auto computer = rt.spawn(wake_then_compute(go, ran, seen));
  expect_both_finish(waiter, computer, "the computation or the woken task did not finish");
  EXPECT_TRUE(seen.load()) << "the woken task ran only after the computation gave up";
  EXPECT_GE(rt.stats().lifo_steals, 1u);
  EXPECT_EQ(rt.stats().compensating_workers_started, 0u) << "a computing worker is not compensated";
}

brigade::task<void> fork_then_compute(std::atomic<int>& children_done, int children, std::atomic<bool>& saw_all) {
  // Spawned on this worker while it is busy: the start entries may stay private to its deque.
  for (int i = 0; i < children; ++i)
    brigade::spawn([](std::atomic<int>& done) -> brigade::task<void> {
      ++done;
      co_return;
    }(children_done)).detach();
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (children_done.load() < children && std::chrono::steady_clock::now() < deadline) {
  }
  saw_all = children_done.load() == children;
  co_return;
}

// The rescue of private tasks must not depend on a worker that happens to be searching: the
// other worker is parked when the owner stops coming back to its loop.
TEST(liveness, tasks_forked_by_a_worker_that_then_computes_run_on_a_parked_one) {
  brigade::runtime rt({.worker_threads = 2});
  std::atomic<int> done{0};
  std::atomic<bool> seen{false};
  ASSERT_TRUE(brigade_test::until_workers_parked(rt, 2));
  auto handle = rt.spawn(fork_then_compute(done, 8, seen));
  ASSERT_TRUE(eventually(seen) || handle.is_finished());
  handle.join();
  EXPECT_TRUE(seen.load()) << done.load() << " of 8 forked tasks ran while their worker computed";
}

brigade::task<void> wake_then_read(brigade::event& go, int fd) {
  go.set();  // the writer goes to this worker's LIFO slot
  char byte = 0;
  // A blocking system call, without block_in_place: the only worker sleeps in the kernel.
  (void)::read(fd, &byte, 1);
  co_return;
}

brigade::task<void> wait_then_write(brigade::event& go, std::atomic<bool>& parked, int fd) {
  parked = true;
  co_await go.wait_async();
  const char byte = 'x';
  (void)::write(fd, &byte, 1);
}

TEST(liveness, a_worker_blocked_in_a_system_call_gets_a_compensating_worker) {
  int pipe_ends[2];
  ASSERT_EQ(::pipe(pipe_ends), 0);
  {
    brigade::runtime rt({.worker_threads = 1});
    brigade::event go;
    std::atomic<bool> parked{false};
    auto writer = rt.spawn(wait_then_write(go, parked, pipe_ends[1]));
    ASSERT_TRUE(eventually(parked));
    std::this_thread::sleep_for(20ms);
    auto reader = rt.spawn(wake_then_read(go, pipe_ends[0]));
    expect_both_finish(writer, reader, "the writer never ran while the reader blocked the only worker");
    EXPECT_GE(rt.stats().compensating_workers_started, 1u);
  }
  ::close(pipe_ends[0]);
  ::close(pipe_ends[1]);
}

// A task that yielded sits in its worker's yield queue, behind whatever that worker runs next.
// When that is a long computation or a blocking system call, the yielded task must run
// elsewhere: stolen by a parked worker that the monitor wakes, or by a compensating worker.
brigade::task<void> wait_then_compute(brigade::event& go, std::atomic<bool>& parked, std::atomic<bool>& yielder_ran,
                                      std::atomic<bool>& saw_it) {
  parked = true;
  co_await go.wait_async();  // woken into the setter's LIFO slot: its worker runs this next
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!yielder_ran.load() && std::chrono::steady_clock::now() < deadline) {
  }
  saw_it = yielder_ran.load();
}

brigade::task<void> wake_then_yield(brigade::event& go, std::atomic<bool>& ran) {
  go.set();                         // the computer goes to this worker's LIFO slot
  co_await brigade::yield_now();    // this task goes to the worker's yield queue, behind it
  ran = true;
}

TEST(liveness, a_task_that_yielded_behind_a_long_computation_runs_on_another_worker) {
  brigade::runtime rt({.worker_threads = 2});
  brigade::event go;
  std::atomic<bool> parked{false}, ran{false}, seen{false};
  auto computer = rt.spawn(wait_then_compute(go, parked, ran, seen));
  ASSERT_TRUE(eventually(parked));
  ASSERT_TRUE(brigade_test::until_workers_parked(rt, 2));
  auto yielder = rt.spawn(wake_then_yield(go, ran));
  expect_both_finish(computer, yielder, "the computation or the yielded task did not finish");
  EXPECT_TRUE(seen.load()) << "the yielded task ran only after the computation gave up";
}

brigade::task<void> yield_then_write(std::atomic<bool>& yielded, int fd) {
  yielded = true;
  co_await brigade::yield_now();  // behind the reader, which the only worker runs next
  const char byte = 'x';
  (void)::write(fd, &byte, 1);
}

brigade::task<void> spawn_reader_then_yield_then_write(int read_fd, int write_fd, std::atomic<bool>& yielded,
                                                       brigade::join_handle<void>& reader) {
  reader = brigade::spawn([](int fd) -> brigade::task<void> {
    char byte = 0;
    (void)::read(fd, &byte, 1);  // blocks the only worker in the kernel
    co_return;
  }(read_fd));
  co_await yield_then_write(yielded, write_fd);
}

TEST(liveness, a_task_that_yielded_behind_a_blocking_system_call_runs_on_a_compensating_worker) {
  int pipe_ends[2];
  ASSERT_EQ(::pipe(pipe_ends), 0);
  {
    brigade::runtime rt({.worker_threads = 1});
    std::atomic<bool> yielded{false};
    brigade::join_handle<void> reader;
    auto writer = rt.spawn(spawn_reader_then_yield_then_write(pipe_ends[0], pipe_ends[1], yielded, reader));
    ASSERT_TRUE(eventually(yielded));
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!writer.is_finished() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
    const bool finished = writer.is_finished();
    if (!finished) {
      const char byte = 'x';
      (void)::write(pipe_ends[1], &byte, 1);  // unblocks the reader, so that the runtime can shut down
    }
    ASSERT_TRUE(finished) << "the yielded writer never ran while the reader blocked the only worker";
    writer.join();
    reader.join();
    EXPECT_GE(rt.stats().compensating_workers_started, 1u);
  }
  ::close(pipe_ends[0]);
  ::close(pipe_ends[1]);
}

brigade::task<int> block_until(std::atomic<bool>& flag) {
  co_return brigade::block_in_place([&flag] {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!flag.load() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(100us);
    return flag.load() ? 1 : 0;
  });
}

TEST(liveness, block_in_place_lets_the_other_tasks_run) {
  brigade::runtime rt({.worker_threads = 1});
  std::atomic<bool> flag{false};
  auto blocked = rt.spawn(block_until(flag));
  std::this_thread::sleep_for(10ms);  // the only worker is inside block_in_place
  auto setter = rt.spawn(set_flag(flag));
  expect_both_finish(blocked, setter, "no task ran while the only worker was in block_in_place");
}

TEST(liveness, block_in_place_off_a_runtime_just_runs_the_function) {
  EXPECT_EQ(brigade::block_in_place([] { return 42; }), 42);
}

TEST(liveness, compensating_workers_retire_when_the_block_ends) {
  brigade::runtime rt({.worker_threads = 1});
  brigade::mutex m;
  brigade::event go;
  std::atomic<bool> holds{false};
  auto holder = rt.spawn(hold_until_set(m, go, holds));
  ASSERT_TRUE(eventually(holds));
  std::this_thread::sleep_for(20ms);
  auto setter = rt.spawn(set_then_lock_on_the_thread(m, go));
  expect_both_finish(holder, setter, "the pair did not finish");
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (rt.stats().compensating_workers != 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
  EXPECT_EQ(rt.stats().compensating_workers, 0u);
}

// An idle runtime costs the monitor nothing: once every worker is parked it stops looking until
// a worker is woken, and then it looks again (the blocked-worker repro above must still be
// rescued after a long idle spell).
TEST(liveness, the_monitor_stops_looking_while_every_worker_is_parked) {
  brigade::runtime rt({.worker_threads = 2});
  rt.block_on([]() -> brigade::task<void> { co_return; }());
  // Once every worker is parked, the monitor goes to sleep within one of its intervals.
  ASSERT_TRUE(brigade_test::until_workers_parked(rt, 2));
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!rt.stats().monitor_asleep)
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the monitor kept looking at an idle runtime";
  // The flag goes up just before the monitor's last check that every worker is parked; if a worker
  // was awake for a moment then (a sleeper woken to take the reactor's driver), one more look
  // follows and the flag goes up again. Let that settle before counting: a monitor that kept
  // looking every few milliseconds would still be caught in the window below.
  std::this_thread::sleep_for(50ms);
  while (!rt.stats().monitor_asleep)
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the monitor kept looking at an idle runtime";
  const std::uint64_t before = rt.stats().monitor_looks;
  std::this_thread::sleep_for(200ms);  // a window for a look that should not happen
  EXPECT_EQ(rt.stats().monitor_looks, before) << "the monitor looked while every worker was parked";
  EXPECT_TRUE(rt.stats().monitor_asleep);

  brigade::mutex m;
  brigade::event go;
  std::atomic<bool> holds{false};
  auto holder = rt.spawn(hold_until_set(m, go, holds));
  ASSERT_TRUE(eventually(holds));
  ASSERT_TRUE(brigade_test::until_workers_parked(rt, 2));  // idle again: the monitor sleeps until work comes
  while (!rt.stats().monitor_asleep)
    ASSERT_LT(std::chrono::steady_clock::now(), deadline + 5s) << "the monitor did not go back to sleep";
  auto setter = rt.spawn(set_then_lock_on_the_thread(m, go));
  expect_both_finish(holder, setter, "after an idle spell the monitor did not rescue the woken task");
  // The work that came woke the monitor (a poke); its look is counted once its thread runs, which
  // on a loaded machine may be after both tasks finished.
  const auto look_deadline = std::chrono::steady_clock::now() + 5s;
  while (rt.stats().monitor_looks <= before && std::chrono::steady_clock::now() < look_deadline)
    std::this_thread::sleep_for(1ms);
  EXPECT_GT(rt.stats().monitor_looks, before);
}

}  // namespace
