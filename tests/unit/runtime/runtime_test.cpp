#include "brigade/runtime/runtime.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "brigade/runtime/spawn.hpp"
#include "brigade/runtime/this_task.hpp"
#include "brigade/runtime/yield_now.hpp"
#include "brigade/sync/event.hpp"

namespace {

using namespace std::chrono_literals;

brigade::task<int> forty_two() { co_return 42; }
brigade::task<int> add_one(int x) { co_return x + 1; }
brigade::task<void> throws_runtime_error() {
  throw std::runtime_error("boom");
  co_return;
}

TEST(runtime, default_worker_count_is_the_hardware_concurrency) {
  brigade::runtime rt;
  const auto hardware = std::thread::hardware_concurrency();
  EXPECT_EQ(rt.worker_count(), hardware == 0 ? 1u : hardware);
}

TEST(runtime, block_on_returns_the_value_or_rethrows) {
  brigade::runtime rt({.worker_threads = 2});
  EXPECT_EQ(rt.block_on(add_one(41)), 42);
  EXPECT_THROW(rt.block_on(throws_runtime_error()), std::runtime_error);
}

brigade::task<int> spawn_and_join() {
  auto a = brigade::spawn(forty_two());
  auto b = brigade::spawn(add_one(1));
  int x = co_await a;
  int y = co_await std::move(b);
  co_return x + y;
}

TEST(runtime, spawn_inside_a_task_and_await_the_handles) {
  brigade::runtime rt({.worker_threads = 2});
  EXPECT_EQ(rt.block_on(spawn_and_join()), 44);
}

// Awaiting an lvalue keeps the handle (joined); awaiting an rvalue consumes it, also on error.
brigade::task<void> awaiting_an_rvalue_consumes_the_handle() {
  auto kept = brigade::spawn(forty_two());
  EXPECT_EQ(co_await kept, 42);
  EXPECT_TRUE(kept.valid());
  EXPECT_TRUE(kept.is_finished());
  auto consumed = brigade::spawn(forty_two());
  EXPECT_EQ(co_await std::move(consumed), 42);
  EXPECT_FALSE(consumed.valid());  // NOLINT(bugprone-use-after-move): testing the consumed state
  auto failing = brigade::spawn(throws_runtime_error());
  EXPECT_THROW(co_await std::move(failing), std::runtime_error);
  EXPECT_FALSE(failing.valid());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(co_await brigade::spawn(add_one(1)), 2);
}

TEST(join_handle, awaiting_an_rvalue_consumes_the_handle) {
  brigade::runtime rt({.worker_threads = 2});
  rt.block_on(awaiting_an_rvalue_consumes_the_handle());
  EXPECT_EQ(rt.stats().live_tasks, 0u);
}

TEST(runtime, join_from_a_plain_thread) {
  brigade::runtime rt({.worker_threads = 2});
  auto handle = rt.spawn(forty_two());
  EXPECT_EQ(handle.join(), 42);
  EXPECT_TRUE(handle.valid());
}

TEST(runtime, a_spawned_task_that_throws_rethrows_at_join) {
  brigade::runtime rt({.worker_threads = 2});
  auto handle = rt.spawn(throws_runtime_error());
  EXPECT_THROW(handle.join(), std::runtime_error);
}

TEST(runtime, many_spawns_all_complete) {
  brigade::runtime rt({.worker_threads = 2});
  std::vector<brigade::join_handle<int>> handles;
  for (int i = 0; i < 10'000; ++i) handles.push_back(rt.spawn(add_one(i)));
  long sum = 0;
  for (auto& h : handles) sum += h.join();
  EXPECT_EQ(sum, 10'000L * 10'001L / 2);
}

TEST(join_handle, joining_twice_is_a_usage_error) {
  brigade::runtime rt({.worker_threads = 1});
  auto handle = rt.spawn(forty_two());
  EXPECT_EQ(handle.join(), 42);
  EXPECT_THROW(handle.join(), brigade::usage_error);
}

TEST(join_handle, an_empty_handle_is_a_usage_error) {
  brigade::join_handle<int> empty;
  EXPECT_FALSE(empty.valid());
  EXPECT_THROW(empty.join(), brigade::usage_error);
  EXPECT_THROW(empty.abort(), brigade::usage_error);
  brigade::runtime rt({.worker_threads = 1});
  auto handle = rt.spawn(forty_two());
  auto moved = std::move(handle);
  EXPECT_THROW(handle.join(), brigade::usage_error);  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(moved.join(), 42);
}

brigade::task<void> join_on_worker() {
  auto handle = brigade::spawn(forty_two());
  handle.join();  // blocks a worker: refused
  co_return;
}

TEST(join_handle, blocking_join_on_a_worker_is_a_usage_error) {
  brigade::runtime rt({.worker_threads = 2});
  EXPECT_THROW(rt.block_on(join_on_worker()), brigade::usage_error);
}

brigade::task<int> block_on_inside(brigade::runtime& rt) { co_return rt.block_on(forty_two()); }

TEST(runtime, block_on_from_a_worker_is_a_usage_error) {
  brigade::runtime rt({.worker_threads = 2});
  EXPECT_THROW(rt.block_on(block_on_inside(rt)), brigade::usage_error);
}

TEST(runtime, free_spawn_outside_a_runtime_is_a_usage_error) {
  EXPECT_THROW((void)brigade::spawn(forty_two()), brigade::usage_error);
  EXPECT_EQ(brigade::runtime::current(), nullptr);
}

brigade::task<brigade::runtime*> current_runtime() { co_return brigade::runtime::current(); }

TEST(runtime, current_is_the_runtime_of_the_worker) {
  brigade::runtime rt({.worker_threads = 1});
  EXPECT_EQ(rt.block_on(current_runtime()), &rt);
}

TEST(runtime, spawn_after_shutdown_is_refused) {
  brigade::runtime rt({.worker_threads = 2});
  rt.shutdown();
  rt.shutdown();  // idempotent
  EXPECT_THROW((void)rt.spawn(forty_two()), brigade::runtime_shut_down);
  EXPECT_THROW(rt.block_on(forty_two()), brigade::runtime_shut_down);
  EXPECT_THROW((void)rt.spawn_blocking([] { return 1; }), brigade::runtime_shut_down);
}

brigade::task<void> nothing() { co_return; }

// Spawns from a worker until shutdown refuses: the free spawn's own path (submit on the calling
// worker) must throw runtime_shut_down and free the refused task's frame and record (ASan and
// LeakSanitizer check the latter).
brigade::task<void> spawns_until_refused(std::atomic<bool>& started, std::atomic<bool>& refused) {
  started.store(true);
  while (true) {
    try {
      brigade::spawn(nothing()).detach();
    } catch (const brigade::runtime_shut_down&) {
      refused.store(true);
      co_return;
    }
  }
}

TEST(runtime, free_spawn_on_a_worker_during_shutdown_is_refused) {
  std::atomic<bool> started{false};
  std::atomic<bool> refused{false};
  brigade::runtime rt({.worker_threads = 2});
  rt.spawn(spawns_until_refused(started, refused)).detach();
  while (!started.load()) std::this_thread::yield();
  rt.shutdown();  // refuses new work first, then waits for the worker's step to end
  EXPECT_TRUE(refused.load());
}

brigade::task<int> spawns_an_empty_task() {
  brigade::task<int> empty;
  try {
    (void)brigade::spawn(std::move(empty));
  } catch (const brigade::usage_error& e) {
    co_return std::string(e.what()).find("empty task") != std::string::npos ? 1 : 2;
  }
  co_return 0;
}

TEST(runtime, free_spawn_of_an_empty_task_is_a_usage_error) {
  brigade::runtime rt({.worker_threads = 1});
  EXPECT_EQ(rt.block_on(spawns_an_empty_task()), 1);
}

struct destructor_counter {
  std::atomic<int>* count;
  ~destructor_counter() { count->fetch_add(1); }
};

brigade::task<int> waits_forever(brigade::event& never, std::atomic<int>& destroyed,
                                 std::atomic<int>& started) {
  destructor_counter guard{&destroyed};
  started.fetch_add(1);
  co_await never.wait_async();
  co_return 1;
}

TEST(runtime, shutdown_destroys_suspended_tasks_and_joiners_see_cancellation) {
  brigade::event never;
  std::atomic<int> destroyed{0}, started{0};
  auto rt = std::make_unique<brigade::runtime>(brigade::runtime_options{.worker_threads = 2});
  std::vector<brigade::join_handle<int>> handles;
  for (int i = 0; i < 100; ++i) handles.push_back(rt->spawn(waits_forever(never, destroyed, started)));
  while (started.load() < 100) std::this_thread::sleep_for(1ms);
  // A detached one too: it must be destroyed without anyone joining it.
  rt->spawn(waits_forever(never, destroyed, started)).detach();
  while (started.load() < 101) std::this_thread::sleep_for(1ms);
  std::thread joiner([&] { EXPECT_THROW(handles[0].join(), brigade::task_cancelled); });
  rt->shutdown();
  joiner.join();
  EXPECT_EQ(destroyed.load(), 101);
  for (std::size_t i = 1; i < handles.size(); ++i) {
    EXPECT_TRUE(handles[i].is_finished());
    EXPECT_THROW(handles[i].join(), brigade::task_cancelled);
  }
  rt.reset();
}

brigade::task<int> finishes_at_once() { co_return 2; }

brigade::task<int> waits_for(brigade::event& go) {
  co_await go.wait_async();
  co_return 3;
}

// The registry of started roots (a table per worker whose free entries are reused): roots that
// finish free entries that later roots take, roots woken by the other worker finish there (the
// owner removes them later), and shutdown must still find exactly the ones left suspended.
brigade::task<void> spawn_generations(brigade::event& never, brigade::event& go, std::atomic<int>& destroyed,
                                      std::atomic<int>& started, std::vector<brigade::join_handle<int>>& waiting,
                                      std::vector<brigade::join_handle<int>>& woken) {
  for (int generation = 0; generation < 3; ++generation) {
    std::vector<brigade::join_handle<int>> quick;
    for (int i = 0; i < 500; ++i) {
      quick.push_back(brigade::spawn(finishes_at_once()));
      if (i % 5 == 0) waiting.push_back(brigade::spawn(waits_forever(never, destroyed, started)));
      if (i % 5 == 1) woken.push_back(brigade::spawn(waits_for(go)));
    }
    for (auto& handle : quick) EXPECT_EQ(co_await std::move(handle), 2);
  }
}

TEST(runtime, shutdown_finds_every_suspended_root_after_registry_entries_are_reused) {
  brigade::event never, go;
  std::atomic<int> destroyed{0}, started{0};
  std::vector<brigade::join_handle<int>> waiting, woken;
  auto rt = std::make_unique<brigade::runtime>(brigade::runtime_options{.worker_threads = 2});
  rt->block_on(spawn_generations(never, go, destroyed, started, waiting, woken));
  while (started.load() < static_cast<int>(waiting.size())) std::this_thread::sleep_for(1ms);
  go.set();  // from main: the woken roots finish on whichever worker takes them
  for (auto& handle : woken) EXPECT_EQ(handle.join(), 3);
  rt->shutdown();
  EXPECT_EQ(destroyed.load(), static_cast<int>(waiting.size()));
  for (auto& handle : waiting) EXPECT_THROW(handle.join(), brigade::task_cancelled);
  EXPECT_EQ(rt->stats().live_tasks, 0u);
  rt.reset();
}

// Occupies a worker (blocking its thread) until `gate` is set; `started` says when it runs.
// Holds its worker thread (deliberately: a blocking wait would be refused on a worker) until the
// event is set.
/// Keeps its worker busy (computing, never back in the scheduler loop) until `gate` is set. Busy,
/// not asleep: a worker asleep in a system call is one the liveness monitor compensates, and a
/// compensating worker would run the queued tasks.
brigade::task<void> blocks_worker_until(brigade::event& gate, std::atomic<bool>& started) {
  started = true;
  while (!gate.is_set()) {
  }
  co_return;
}

brigade::task<void> sets_flag(std::atomic<bool>& flag) {
  flag = true;
  co_return;
}

TEST(runtime, shutdown_cancels_tasks_that_never_started) {
  brigade::runtime rt({.worker_threads = 1});
  brigade::event gate;
  std::atomic<bool> second_ran{false}, first_started{false};
  // The only worker blocks in a task until the gate opens; the second task stays queued.
  auto first = rt.spawn(blocks_worker_until(gate, first_started));
  auto second = rt.spawn(sets_flag(second_ran));
  while (!first_started.load()) std::this_thread::sleep_for(1ms);
  std::thread opener([&] {  // once the workers were told to stop: the queued task must not start
    while (!rt.stats().shutting_down) std::this_thread::yield();
    gate.set();
  });
  rt.shutdown();  // the running task finishes its step; the queued one is destroyed
  opener.join();
  EXPECT_NO_THROW(first.join());
  EXPECT_FALSE(second_ran.load());
  EXPECT_THROW(second.join(), brigade::task_cancelled);
}

brigade::task<void> shutdown_inside(brigade::runtime& rt) {
  rt.shutdown();
  co_return;
}

TEST(runtime, shutdown_from_its_own_worker_is_a_usage_error) {
  brigade::runtime rt({.worker_threads = 1});
  EXPECT_THROW(rt.block_on(shutdown_inside(rt)), brigade::usage_error);
}

brigade::task<int> spins_until_cancelled(std::atomic<bool>& running) {
  running = true;
  while (true) co_await brigade::yield_now();  // a cancellation point
}

// Spawns make(running), waits until the task runs, aborts it: its joiner must get task_cancelled.
template <class Make>
void expect_abort_cancels_a_running_task(Make make) {
  brigade::runtime rt({.worker_threads = 2});
  std::atomic<bool> running{false};
  auto handle = rt.spawn(make(running));
  while (!running.load()) std::this_thread::sleep_for(1ms);
  handle.abort();
  EXPECT_THROW(handle.join(), brigade::task_cancelled);
}

TEST(join_handle, abort_cancels_a_running_task_at_its_next_cancellation_point) {
  expect_abort_cancels_a_running_task(spins_until_cancelled);
}

TEST(join_handle, abort_before_start_means_the_body_never_runs) {
  brigade::runtime rt({.worker_threads = 1});
  brigade::event gate;
  std::atomic<bool> blocker_started{false}, ran{false};
  auto blocker = rt.spawn(blocks_worker_until(gate, blocker_started));
  auto victim = rt.spawn(sets_flag(ran));
  victim.abort();
  gate.set();
  blocker.join();
  EXPECT_THROW(victim.join(), brigade::task_cancelled);
  EXPECT_FALSE(ran.load());
}

brigade::task<bool> observes_token(std::atomic<bool>& running) {
  auto token = co_await brigade::this_task::stop_token();
  running = true;
  while (!token.stop_requested()) std::this_thread::sleep_for(100us);
  co_await brigade::this_task::throw_if_cancelled();
  co_return false;
}

TEST(join_handle, a_task_can_poll_its_stop_token) {
  expect_abort_cancels_a_running_task(observes_token);
}

TEST(runtime, a_detached_task_that_fails_is_reported_not_lost) {
  std::atomic<int> reported{0};
  std::string message;
  std::atomic<bool> done{false};
  {
    brigade::runtime rt({.worker_threads = 1, .on_unobserved_failure = [&](std::exception_ptr e) {
                           try {
                             std::rethrow_exception(e);
                           } catch (const std::exception& ex) {
                             message = ex.what();
                           }
                           reported.fetch_add(1);
                           done = true;
                         }});
    rt.spawn(throws_runtime_error()).detach();
    // A failure that someone joins is observed, not reported.
    auto joined = rt.spawn(throws_runtime_error());
    EXPECT_THROW(joined.join(), std::runtime_error);
    while (!done.load()) std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(reported.load(), 1);
  EXPECT_EQ(message, "boom");
}

// A handle may outlive its runtime. Dropping it then, unjoined, after its task failed reports
// the failure without the runtime (printed to standard error) instead of touching freed memory.
TEST(join_handle, a_failed_task_dropped_after_its_runtime_is_gone_is_still_reported) {
  brigade::join_handle<void> survivor;
  {
    brigade::runtime rt({.worker_threads = 1});
    survivor = rt.spawn(throws_runtime_error());
    while (!survivor.is_finished()) std::this_thread::sleep_for(1ms);
  }
  testing::internal::CaptureStderr();
  survivor.detach();
  EXPECT_NE(testing::internal::GetCapturedStderr().find("boom"), std::string::npos);
}

TEST(runtime, stats_count_the_work) {
  brigade::runtime rt({.worker_threads = 2});
  for (int i = 0; i < 100; ++i) rt.block_on(forty_two());
  const auto stats = rt.stats();
  ASSERT_EQ(stats.workers.size(), 2u);
  std::uint64_t run = 0;
  for (const auto& w : stats.workers) run += w.tasks_run;
  EXPECT_GE(run, 100u);
  EXPECT_EQ(stats.live_tasks, 0u);
}

TEST(runtime, idle_workers_park) {
  brigade::runtime rt({.worker_threads = 2});
  rt.block_on(forty_two());
  // Idle workers park after a bounded search; wait until both have parked at least once.
  for (int i = 0; i < 1000; ++i) {
    const auto stats = rt.stats();
    if (stats.workers[0].parks > 0 && stats.workers[1].parks > 0) break;
    std::this_thread::sleep_for(1ms);
  }
  const auto stats = rt.stats();
  EXPECT_GT(stats.workers[0].parks, 0u);
  EXPECT_GT(stats.workers[1].parks, 0u);
}

/// Spins on the calling thread (no scheduling point) until `flag` is set; false after 10 s.
bool spin_until_set(const std::atomic<bool>& flag) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!flag.load()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
  }
  return true;
}

brigade::task<void> holds_worker_until(std::atomic<bool>& running, const std::atomic<bool>& release) {
  running = true;
  spin_until_set(release);
  co_return;
}

/// Once the other worker is busy too, spawns a task and spins, without a scheduling point, until
/// that task has run; true if it ran within the time limit.
brigade::task<bool> spawns_then_blocks(const std::atomic<bool>& other_running,
                                       std::atomic<bool>& release_other) {
  spin_until_set(other_running);
  std::atomic<bool> ran{false};
  auto handle = brigade::spawn(sets_flag(ran));  // every worker busy: the task is kept private
  release_other = true;  // the other worker finishes and goes looking for work
  const bool ran_while_blocked = spin_until_set(ran);
  co_await std::move(handle);
  co_return ran_while_blocked;
}

// A worker that keeps forked work private (because every worker was busy) and then blocks does
// not strand it: the worker that goes idle takes it with a heavy fence (protocol 8 of docs/ARCHITECTURE.md).
TEST(runtime, an_idle_worker_takes_work_kept_private_by_a_blocked_one) {
  brigade::runtime rt({.worker_threads = 2});
  std::atomic<bool> other_running{false}, release_other{false};
  auto other = rt.spawn(holds_worker_until(other_running, release_other));
  EXPECT_TRUE(rt.block_on(spawns_then_blocks(other_running, release_other)));
  other.join();
  std::uint64_t private_steals = 0;
  for (const auto& w : rt.stats().workers) private_steals += w.private_steals;
  RecordProperty("private_steals", static_cast<int>(private_steals));
}

brigade::task<std::vector<int>> interleaves(int id, std::vector<int>& log) {
  for (int i = 0; i < 3; ++i) {
    log.push_back(id);
    co_await brigade::yield_now();
  }
  co_return std::vector<int>{};
}

brigade::task<std::vector<int>> two_yielders() {
  std::vector<int> log;
  auto a = brigade::spawn(interleaves(1, log));
  auto b = brigade::spawn(interleaves(2, log));
  co_await a;
  co_await b;
  co_return log;
}

TEST(yield_now, lets_other_tasks_run_on_a_single_worker) {
  brigade::runtime rt({.worker_threads = 1});
  const auto log = rt.block_on(two_yielders());
  ASSERT_EQ(log.size(), 6u);
  // With one worker, a yield always lets the other task take a turn.
  int switches = 0;
  for (std::size_t i = 1; i < log.size(); ++i) switches += log[i] != log[i - 1];
  EXPECT_GE(switches, 4);
}


// Where a yielded task waits: behind the worker's own queued tasks and the injection queue.
brigade::task<void> append(std::vector<std::string>& log, std::string entry) {
  log.push_back(std::move(entry));
  co_return;
}

// The injection comes from a thread started beforehand while the task spins on the worker:
// joining a thread there instead blocked the worker in the kernel, and the liveness monitor then
// started a compensating worker that ran the local tasks beside it (a data race on the log under
// ThreadSanitizer, once in CI). A spinning worker is running, which the monitor leaves alone.
brigade::task<void> yield_behind_local_and_injected_work(std::vector<std::string>& log, std::atomic<bool>& inject_now,
                                                         std::atomic<bool>& injected) {
  auto local_a = brigade::spawn(append(log, "local"));  // this worker's deque
  auto local_b = brigade::spawn(append(log, "local"));
  inject_now.store(true, std::memory_order_release);
  while (!injected.load(std::memory_order_acquire)) {
  }
  co_await brigade::yield_now();
  log.push_back("yielder");
  co_await local_a;
  co_await local_b;
}

TEST(yield_now, runs_after_the_workers_queued_tasks_and_the_injected_ones) {
  brigade::runtime rt({.worker_threads = 1});
  std::vector<std::string> log;
  std::atomic<bool> inject_now{false}, injected{false};
  brigade::join_handle<void> injected_task;
  std::thread injector([&] {
    while (!inject_now.load(std::memory_order_acquire)) std::this_thread::yield();
    injected_task = rt.spawn(append(log, "injected"));  // the injection queue
    injected.store(true, std::memory_order_release);
  });
  rt.block_on(yield_behind_local_and_injected_work(log, inject_now, injected));
  injector.join();
  injected_task.join();
  EXPECT_EQ(log, (std::vector<std::string>{"local", "local", "injected", "yielder"}));
}

// A worker whose deque never runs dry still takes its oldest yielded task at every 61st task.
brigade::task<void> link(int remaining, std::atomic<int>& links_run) {
  links_run.fetch_add(1);
  if (remaining > 0) brigade::spawn(link(remaining - 1, links_run)).detach();  // the deque's next task
  co_return;
}

brigade::task<void> yield_once(std::atomic<int>& links_run, std::atomic<int>& links_before_resuming) {
  co_await brigade::yield_now();
  links_before_resuming = links_run.load();
}

brigade::task<int> yield_beside_an_endless_chain() {
  constexpr int chain_length = 10'000;
  std::atomic<int> links_run{0}, links_before_resuming{-1};
  auto yielder = brigade::spawn(yield_once(links_run, links_before_resuming));
  co_await brigade::yield_now();  // the yielder runs and yields: it is behind this task now
  brigade::spawn(link(chain_length, links_run)).detach();
  co_await yielder;
  while (links_run.load() <= chain_length) co_await brigade::yield_now();  // the links use links_run
  co_return links_before_resuming.load();
}

TEST(yield_now, a_yielded_task_runs_within_61_tasks_on_a_worker_that_never_runs_dry) {
  brigade::runtime rt({.worker_threads = 1});
  const int links_before = rt.block_on(yield_beside_an_endless_chain());
  EXPECT_GE(links_before, 0);
  EXPECT_LE(links_before, 2 * 61) << "the yielded task waited for the chain instead of its turn";
}
}  // namespace

namespace {

brigade::task<long> fork_join_sum(int depth) {
  if (depth == 0) co_return 1;
  auto left = brigade::spawn(fork_join_sum(depth - 1));
  const long right = co_await fork_join_sum(depth - 1);
  co_return right + co_await left;
}

// Without membarrier (a kernel that lacks it gets this protocol): forked tasks are not kept
// private and a woken task does not go through the LIFO slot's asymmetric fence. The same
// programs run the same way; the steal counters show which protocol ran.
TEST(runtime, the_symmetric_fence_protocol_runs_the_same_programs) {
  for (const bool membarrier : {false, true}) {
    brigade::runtime rt({.worker_threads = 2, .use_membarrier = membarrier});
    EXPECT_EQ(rt.block_on(fork_join_sum(14)), 1L << 14) << "use_membarrier " << membarrier;
    // A wake-up chain between two tasks (the LIFO slot's path when membarrier is used).
    brigade::event ping, pong;
    auto echo = rt.spawn([](brigade::event& in, brigade::event& out) -> brigade::task<void> {
      co_await in.wait_async();
      out.set();
    }(ping, pong));
    ping.set();
    pong.wait();
    echo.join();
    std::uint64_t private_steals = 0;
    for (const auto& w : rt.stats().workers) private_steals += w.private_steals;
    if (!membarrier) {
      EXPECT_EQ(private_steals, 0u);  // nothing was private to steal
    }
  }
}

}  // namespace
