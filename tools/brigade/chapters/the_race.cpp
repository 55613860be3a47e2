// Chapter 3, "the race": the second essay's Java program, 1000 threads incrementing a shared
// counter and 1000 decrementing it, first racing and then under a lock.
//
// The Java program's `data++` is three steps (read, add, write) and nothing stops another thread
// from writing between the read and the write, so updates are lost and the total is rarely 0. In
// C++ the same unsynchronised `long` would be a data race, which is undefined behaviour, not just
// a wrong number. So the racy counter here is a std::atomic<long> updated by a relaxed load and
// then a separate relaxed store: every access is well defined (and clean under ThreadSanitizer),
// but the read-modify-write is still two steps, so the lost updates are real, exactly as in Java.
//
// Each thread does `iterations` updates rather than the essay's one, and all of them start
// together behind a latch: with one update per thread most threads finish before the next one
// starts, and on a machine with two cores the race would rarely show. Then the fix: a
// brigade::mutex around a plain long, from the same 2000 threads and then from 2000 tasks (the
// co_await form, which suspends the task rather than the worker thread); both must total 0.
#include <atomic>
#include <brigade/brigade.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <fmt/format.h>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "chapters/chapters.hpp"
#include "support/format.hpp"
#include "tour/context.hpp"

namespace brigade::tool {

namespace {

constexpr int threads_per_side = 1000;  // 1000 incrementing and 1000 decrementing, as in the essay
constexpr int iterations = 1000;        // updates per thread (the essay: 1)
constexpr int racy_runs = 5;
constexpr int locked_runs = 3;
constexpr std::uint64_t updates_per_run = 2ULL * threads_per_side * iterations;

// Starts `threads_per_side` threads running `up` and as many running `down`, holds them all at a
// gate until every one exists, opens it and joins them. Returns the time from the gate opening to
// the last join. If creating a thread fails, the threads already started are let through and
// joined before the error propagates (a joinable std::thread must never be destroyed).
template <class Up, class Down>
std::chrono::duration<double> run_threads(Up up, Down down) {
  brigade::latch gate(1);
  std::vector<std::thread> threads;
  threads.reserve(2 * threads_per_side);
  const auto open_and_join = [&] {
    gate.count_down();
    for (std::thread& t : threads) t.join();
  };
  try {
    for (int i = 0; i < threads_per_side; ++i) {
      threads.emplace_back([&] {
        gate.wait();
        for (int k = 0; k < iterations; ++k) up();
      });
      threads.emplace_back([&] {
        gate.wait();
        for (int k = 0; k < iterations; ++k) down();
      });
    }
  } catch (...) {
    open_and_join();
    throw;
  }
  const auto start = std::chrono::steady_clock::now();
  open_and_join();
  return std::chrono::steady_clock::now() - start;
}

struct race_report {
  long total;
  std::chrono::duration<double> wall;
};

// The racy counter: an atomic, so each load and store is well defined, but updated in two steps.
// Relaxed: the point is the lost update between the load and the store; no other memory is
// published through the counter (the joins publish the final value to the main thread).
race_report racy_threads() {
  std::atomic<long> counter{0};
  const auto wall = run_threads(
      [&] {
        counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      },
      [&] {
        counter.store(counter.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
      });
  return {counter.load(std::memory_order_relaxed), wall};
}

// The fix on threads: a plain long, read and written only under the mutex.
race_report locked_threads() {
  brigade::mutex m;
  long counter = 0;  // guarded by m
  const auto wall = run_threads(
      [&] {
        std::lock_guard<brigade::mutex> lock(m);
        ++counter;
      },
      [&] {
        std::lock_guard<brigade::mutex> lock(m);
        --counter;
      });
  return {counter, wall};
}

// The fix on tasks: each task takes the lock `iterations` times with co_await, which parks the
// task (not the worker thread) while another holds it.
task<void> adjust(brigade::latch& gate, brigade::mutex& m, long& counter, long delta) {
  co_await gate.wait_async();
  for (int k = 0; k < iterations; ++k) {
    auto held = co_await m.lock_async();
    counter += delta;
  }
}

// Spawns the tasks, holds them at a gate until all exist (as the threads are), then opens it and
// joins them; the time is measured from the gate opening, as for the threads.
task<race_report> locked_tasks() {
  brigade::latch gate(1);
  brigade::mutex m;
  long counter = 0;  // guarded by m
  std::vector<join_handle<void>> helpers;
  helpers.reserve(2 * threads_per_side);
  for (int i = 0; i < threads_per_side; ++i) {
    helpers.push_back(spawn(adjust(gate, m, counter, +1)));
    helpers.push_back(spawn(adjust(gate, m, counter, -1)));
  }
  const auto start = std::chrono::steady_clock::now();
  gate.count_down();
  for (join_handle<void>& h : helpers) co_await h;
  // Every task has finished (the joins publish their writes): nobody else touches counter now.
  co_return race_report{counter, std::chrono::steady_clock::now() - start};
}

std::string describe_run(const race_report& r, bool must_be_zero) {
  std::string verdict;
  if (r.total == 0) {
    verdict = "correct";
  } else {
    verdict = must_be_zero ? "WRONG" : "wrong";
  }
  return fmt::format("total {:>8}  {:<7}  {}", group_digits_signed(r.total), verdict,
                     format_duration(r.wall));
}

chapter_result run(tour_context& ctx) {
  runtime rt({.worker_threads = ctx.workers()});

  ctx.fact("threads", fmt::format("{} adding and {} subtracting, {} updates each",
                                  group_digits(threads_per_side), group_digits(threads_per_side),
                                  group_digits(iterations)));
  ctx.fact("start", fmt::format("together: a latch holds all {} until the last one exists",
                                group_digits(2 * threads_per_side)));
  ctx.fact("expected total", fmt::format("0 (after {} updates)", group_digits(updates_per_run)));
  ctx.gap();

  ctx.paragraph(
      "Racing: the counter is read (a relaxed load) and written back plus or minus one (a "
      "separate relaxed store). Another thread's update that lands in between is lost.");
  int wrong_runs = 0;
  long worst = 0;
  for (int i = 1; i <= racy_runs; ++i) {
    std::fflush(stdout);
    const race_report r = racy_threads();
    if (r.total != 0) ++wrong_runs;
    if ((r.total < 0 ? -r.total : r.total) > (worst < 0 ? -worst : worst)) worst = r.total;
    ctx.fact(fmt::format("race, run {}", i), describe_run(r, false));
  }
  ctx.fact("wrong runs", fmt::format("{} of {}{}", wrong_runs, racy_runs,
                                     wrong_runs == 0 ? " (lucky: the race is still there)"
                                                     : fmt::format(" (furthest from 0: {})",
                                                                   group_digits_signed(worst))));
  ctx.gap();

  ctx.paragraph(
      "Locked: a plain long, changed only while holding a brigade::mutex "
      "(std::lock_guard<brigade::mutex>, as with std::mutex).");
  bool all_zero = true;
  for (int i = 1; i <= locked_runs; ++i) {
    std::fflush(stdout);
    const race_report r = locked_threads();
    all_zero = all_zero && r.total == 0;
    ctx.fact(fmt::format("threads, run {}", i), describe_run(r, true));
  }
  ctx.gap();

  ctx.paragraph(fmt::format(
      "Locked, from tasks: {} tasks on {} worker threads instead of {} "
      "threads; each takes the same mutex with `auto held = co_await "
      "m.lock_async();`, which suspends the task while it waits.",
      group_digits(2 * threads_per_side), rt.worker_count(), group_digits(2 * threads_per_side)));
  for (int i = 1; i <= locked_runs; ++i) {
    std::fflush(stdout);
    const race_report r = rt.block_on(locked_tasks());
    all_zero = all_zero && r.total == 0;
    ctx.fact(fmt::format("tasks, run {}", i), describe_run(r, true));
  }
  ctx.gap();

  ctx.paragraph(
      "A racing total is the number of lost decrements minus the number of lost increments: "
      "losses on the two sides cancel, so the total understates how many updates were lost. "
      "A plain long instead of the atomic would be a data race, undefined behaviour in C++ (and "
      "flagged by ThreadSanitizer); the atomic keeps the program defined while keeping the bug. "
      "The lock makes the read, the change and the write one step that no other thread or task "
      "can split; a mutex taken by a task is handed to the next waiting task directly, in order.");

  if (!all_zero) {
    ctx.gap();
    ctx.paragraph(
        "FAILED: every locked run must total 0; a nonzero total means two holders were "
        "inside the mutex at once (or an update was lost across a hand-over).");
    return chapter_result::failed;
  }
  return chapter_result::passed;
}

}  // namespace

const chapter& the_race_chapter() {
  static constexpr chapter c{
      .slug = "the-race",
      .title = "the race",
      .summary = "1000 threads add, 1000 subtract: lost updates, then 0 every time under a mutex",
      .essay =
          "The second essay's race: two chefs reach for the same jar. One thread increments a "
          "shared value while another decrements it; each reads the old value, and whichever "
          "writes last wins, so one change is lost. Its Java program starts 1000 incrementing and "
          "1000 decrementing threads and prints a different value on every run. \"Race condition "
          "can be overcome using a lock\": here is the race on 2000 std::threads, then the lock, "
          "a brigade::mutex, taken by the same threads and then by 2000 tasks.",
      .run = &run,
  };
  return c;
}

}  // namespace brigade::tool
