// Chapter 1, "a million helpers": skynet on brigade, then a million tasks waiting at once.
//
// Skynet (github.com/atemerev/skynet) is the usual stress test for cheap concurrency: a task
// spawns 10 children, each of those 10 more, six levels down; the 1,000,000 leaves return their
// own number and every task returns the sum of its children, so the root answers
// 0 + 1 + ... + 999,999 = 499,999,500,000. That is 1,111,111 tasks in all.
//
// Skynet runs twice on one runtime. The first run starts from an empty frame pool, so it pays for
// fresh memory (page faults); the second reuses the pooled frames and shows the scheduler's own
// speed. when_all runs each task's first child at once and leaves the rest to be stolen, so the
// tree is walked depth first and only a few hundred tasks are alive at any moment: skynet's
// memory figure is small and says little about the cost of one task. The third part measures
// that cost directly: a million tasks are spawned and all park on one event, and the growth of
// resident memory is divided by a million.
#include <array>
#include <atomic>
#include <brigade/brigade.hpp>
#include <chrono>
#include <cstdint>
#include <fmt/format.h>
#include <string>
#include <utility>
#include <vector>

#include "chapters/chapters.hpp"
#include "support/format.hpp"
#include "support/process_memory.hpp"
#include "support/progress.hpp"
#include "tour/context.hpp"

namespace brigade::tool {

namespace {

constexpr std::uint64_t leaf_count = 1'000'000;
constexpr std::uint64_t fan_out = 10;
constexpr std::uint64_t expected_answer = leaf_count * (leaf_count - 1) / 2;

constexpr std::uint64_t count_tasks(std::uint64_t size) {
  return size == 1 ? 1 : 1 + fan_out * count_tasks(size / fan_out);
}
constexpr std::uint64_t task_count = count_tasks(leaf_count);
static_assert(task_count == 1'111'111);

// Leaves finished so far, for the progress line. Counted a subtree of `progress_grain` leaves at
// a time, so the shared counter is touched 1,000 times per run rather than 1,000,000 and the
// progress line costs the run nothing measurable.
// Written by workers (fetch_add), read by the progress thread. Relaxed: it is a statistic and
// publishes no other memory.
constexpr std::uint64_t progress_grain = 1'000;
std::atomic<std::uint64_t> leaves_done{0};

task<std::uint64_t> skynet(std::uint64_t num, std::uint64_t size) {
  if (size == 1) co_return num;
  // Ten children in an array: when_all over an array allocates nothing and returns an array.
  std::array<task<std::uint64_t>, fan_out> children;
  for (std::uint64_t i = 0; i < fan_out; ++i) {
    children[i] = skynet(num + i * (size / fan_out), size / fan_out);
  }
  std::uint64_t sum = 0;
  for (const std::uint64_t v : co_await when_all(std::move(children))) sum += v;
  if (size == progress_grain) leaves_done.fetch_add(progress_grain, std::memory_order_relaxed);
  co_return sum;
}

struct skynet_report {
  std::uint64_t answer;
  std::chrono::duration<double> wall;
  std::size_t rss_growth;  // peak resident bytes during the run minus resident bytes before it
};

skynet_report run_skynet(runtime& rt, const tour_context& ctx, const std::string& label) {
  leaves_done.store(0, std::memory_order_relaxed);
  const std::size_t rss_before = resident_bytes();
  peak_rss_sampler sampler;
  progress line(ctx.interactive(), label, leaf_count, "leaves",
                [] { return leaves_done.load(std::memory_order_relaxed); });

  const auto start = std::chrono::steady_clock::now();
  const std::uint64_t answer = rt.block_on(skynet(0, leaf_count));
  const std::chrono::duration<double> wall = std::chrono::steady_clock::now() - start;

  line.stop();
  const std::size_t rss_peak = sampler.stop();
  return {answer, wall, rss_peak > rss_before ? rss_peak - rss_before : 0};
}

std::string describe(const skynet_report& r) {
  return fmt::format("answer {} ({}), {}, {}", r.answer,
                     r.answer == expected_answer ? "correct" : "WRONG", format_duration(r.wall),
                     format_rate(static_cast<double>(task_count) / r.wall.count(), "tasks"));
}

// --- A million helpers waiting at once ---------------------------------------------------------

constexpr std::size_t waiting_count = 1'000'000;

// Helpers spawned so far (written by the mustering task only) and helpers that have started and
// are about to wait on the bell (written by workers). Read by the mustering task and the progress
// thread. Relaxed: they only count; they publish no other memory.
std::atomic<std::size_t> helpers_spawned{0};
std::atomic<std::size_t> helpers_ready{0};

task<void> wait_for(event& bell) {
  helpers_ready.fetch_add(1, std::memory_order_relaxed);
  co_await bell.wait_async();
}

// Spawns one helper per slot of `helpers` (sized beforehand, so the handles' own memory is not
// counted), waits until every one has started, measures resident memory, rings the bell and
// joins them all. Returns the resident bytes measured with all of them waiting.
task<std::size_t> muster(event& bell, std::vector<join_handle<void>>& helpers) {
  for (join_handle<void>& h : helpers) {
    h = spawn(wait_for(bell));
    helpers_spawned.store(helpers_spawned.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  while (helpers_ready.load(std::memory_order_relaxed) < helpers.size()) co_await yield_now();
  const std::size_t rss_all_waiting = resident_bytes();
  bell.set();
  for (join_handle<void>& h : helpers) co_await h;
  co_return rss_all_waiting;
}

struct waiting_report {
  std::chrono::duration<double> wall;  // spawn, park and wake every helper, join them all
  std::size_t rss_growth;              // resident bytes with all waiting, minus before
};

waiting_report run_waiting(runtime& rt, const tour_context& ctx) {
  helpers_spawned.store(0, std::memory_order_relaxed);
  helpers_ready.store(0, std::memory_order_relaxed);
  std::vector<join_handle<void>> helpers(waiting_count);  // touched now, before the baseline
  event bell;
  const std::size_t rss_before = resident_bytes();
  progress line(ctx.interactive(), "all waiting", [] {
    const std::size_t spawned = helpers_spawned.load(std::memory_order_relaxed);
    const std::size_t ready = helpers_ready.load(std::memory_order_relaxed);
    return progress::status{
        static_cast<double>(spawned + ready) / (2.0 * static_cast<double>(waiting_count)),
        fmt::format("{} spawned, {} waiting", group_digits(spawned), group_digits(ready))};
  });

  const auto start = std::chrono::steady_clock::now();
  const std::size_t rss_all_waiting = rt.block_on(muster(bell, helpers));
  const std::chrono::duration<double> wall = std::chrono::steady_clock::now() - start;

  line.stop();
  return {wall, rss_all_waiting > rss_before ? rss_all_waiting - rss_before : 0};
}

std::string per_task(std::size_t bytes, std::uint64_t tasks) {
  return format_bytes(static_cast<double>(bytes) / static_cast<double>(tasks));
}

chapter_result run(tour_context& ctx) {
  runtime rt({.worker_threads = ctx.workers()});

  ctx.fact("workers", fmt::format("{}{}", rt.worker_count(),
                                  ctx.workers() == 0 ? " (one per hardware thread)" : ""));
  ctx.gap();
  ctx.fact("skynet", fmt::format("{} tasks ({} leaves; {} children per task, 6 levels)",
                                 group_digits(task_count), group_digits(leaf_count), fan_out));
  std::fflush(stdout);
  const skynet_report first = run_skynet(rt, ctx, "first run");
  ctx.fact("first run", describe(first));
  std::fflush(stdout);
  const skynet_report second = run_skynet(rt, ctx, "second run");
  ctx.fact("second run", describe(second));
  ctx.fact("memory per task",
           fmt::format("{} (resident memory grew {} at the peak of the first run)",
                       per_task(first.rss_growth, task_count), format_bytes(static_cast<double>(first.rss_growth))));
  ctx.gap();
  std::fflush(stdout);

  const waiting_report waiting = run_waiting(rt, ctx);
  ctx.fact("all waiting", fmt::format("{} tasks parked on one event at once, then woken: {}",
                                      group_digits(waiting_count), format_duration(waiting.wall)));
  ctx.fact("memory per task",
           fmt::format("{} (resident memory grew {} with all of them waiting)",
                       per_task(waiting.rss_growth, waiting_count),
                       format_bytes(static_cast<double>(waiting.rss_growth))));
  ctx.gap();
  ctx.paragraph(
      "Memory per task is the growth of the process's resident memory (RSS: the pages in RAM, "
      "read from /proc/self/statm) divided by the number of tasks. For skynet it is the peak "
      "growth during the first run (sampled every 2 ms) over all 1,111,111 tasks; but when_all "
      "runs each task's first child at once and lets idle workers steal the others, so the tree "
      "is walked depth first, finished frames go back to a pool, and only a small fraction of "
      "the tasks is ever alive at the same time: that figure is an average, not the price of a "
      "task. The second measure is the price: a million tasks all alive at once, each parked on "
      "one event, counting everything they hold (coroutine frame, spawn record, waiter) and the "
      "allocator's slack. For scale: a goroutine starts with a 2 KiB stack, and an OS thread "
      "reserves 8 MiB of address space for its stack.");

  if (first.answer != expected_answer || second.answer != expected_answer) {
    ctx.gap();
    ctx.paragraph(fmt::format("FAILED: skynet must answer {}; a wrong sum means a task's result "
                              "was lost or counted twice.",
                              expected_answer));
    return chapter_result::failed;
  }
  return chapter_result::passed;
}

}  // namespace

const chapter& million_helpers_chapter() {
  static constexpr chapter c{
      .slug = "million-helpers",
      .title = "a million helpers",
      .summary = "skynet's 1,111,111 tasks, then a million waiting at once: speed, memory per task",
      .essay =
          "The first essay's kitchen has chefs, OS threads: truly parallel, but expensive to hire, "
          "and you cannot have a thousand of them. Then come the helpers: coroutines, \"ultra-"
          "lightweight tasks\" that are super cheap to create, with a few real chefs switching "
          "between them. Go calls them goroutines, and the second essay adds that you can create "
          "millions of them where a few thousand threads exhaust the memory. In brigade a helper "
          "is a task<T>, and the chefs are the runtime's worker threads. Here we hire 1,111,111 "
          "helpers for skynet, where every task spawns ten children, six levels down, and adds up "
          "what they return; then we keep a million of them waiting at once, to see what one "
          "helper costs.",
      .run = &run,
  };
  return c;
}

}  // namespace brigade::tool
