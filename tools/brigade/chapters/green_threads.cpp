// Chapter 7, "green threads": the first essay's Go worker pool once more, now as fibers with
// ordinary blocking calls; then a million fibers parked on a channel at once, beside the million
// coroutine tasks of chapter 1.
//
// The Go program and its counterpart here, line for line (chapter 2 wrote it with tasks and
// co_await; here no function is a coroutine):
//   jobChannel := make(chan string, n)     auto [jobs_tx, jobs_rx] = make_channel<std::string>(n)
//   wg.Add(1); go worker(w, jobs, ...)     group.add(1); go(rt, worker, w, jobs_rx, ..., &group)
//   defer wg.Done()                        a guard whose destructor calls group.done()
//   for url := range jobs { ... }          for (std::string& url : jobs) { ... }   (parks the fiber)
//   content, err := fetchURL(url)          fetch_url(url): a blocking sleep (the network) and a hash
//   results <- content                     results.send(page)                       (parks the fiber)
//   jobChannel <- url; close(jobChannel)   jobs_tx.send(url); jobs_tx.close()       (on main)
//   go func() { wg.Wait(); close(res) }()  go(rt, [&] { group.wait(); results.close(); })
//   for result := range resultChannel      for (content& page : results_rx)         (on main)
//
// The fetch sleeps 2 ms with brigade::sleep_for, the thread form: on a fiber it parks only the
// fiber, so 8 workers overlap their fetches on the runtime's 2 worker threads, as goroutines
// would. The fetch's failure branch of the essay is kept: every 25th URL fails, is logged in the
// count of failures, and the worker goes on (`continue`).
//
// Checks: every URL that does not fail arrives exactly once with its checksum; the failing ones
// never arrive; the pool takes less than half the time of fetching one URL after another; every
// parked fiber and task wakes.
#include <brigade/brigade.hpp>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <fmt/format.h>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "chapters/chapters.hpp"
#include "support/format.hpp"
#include "support/process_memory.hpp"
#include "support/progress.hpp"
#include "tour/context.hpp"

#if defined(__SANITIZE_THREAD__)
#define BRIGADE_TOUR_THREAD_SANITIZER 1
#elif defined(__SANITIZE_ADDRESS__)
#define BRIGADE_TOUR_ADDRESS_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define BRIGADE_TOUR_THREAD_SANITIZER 1
#elif __has_feature(address_sanitizer)
#define BRIGADE_TOUR_ADDRESS_SANITIZER 1
#endif
#endif

namespace brigade::tool {

namespace {

constexpr std::size_t url_count = 400;
constexpr std::size_t worker_count = 8;
constexpr auto fetch_latency = std::chrono::milliseconds(2);
constexpr std::size_t failing_every = 25;  // every 25th URL fails to fetch

// A million in a release build. Under AddressSanitizer 50,000: a fiber's start costs ~0.4 ms
// there (shadow memory, fake stacks), and the million would take minutes. Under ThreadSanitizer
// 2,000: it keeps a trace of 256 KiB per fiber (TracePart), and 30,000 parked fibers ran it out
// of memory.
#if defined(BRIGADE_TOUR_THREAD_SANITIZER)
constexpr std::size_t parked_count = 2'000;
#elif defined(BRIGADE_TOUR_ADDRESS_SANITIZER)
constexpr std::size_t parked_count = 50'000;
#else
constexpr std::size_t parked_count = 1'000'000;
#endif

struct content {
  std::string url;
  std::uint64_t checksum = 0;
  std::size_t worker = 0;
};

std::uint64_t fnv1a(std::string_view text) noexcept {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (const char c : text) hash = (hash ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  return hash;
}

bool fails(std::string_view url) noexcept { return fnv1a(url) % failing_every == 0; }

// The essay's fetchURL: waits for the "network" (a blocking sleep: on a fiber, only the fiber
// waits), then returns the page's checksum, or fails.
content fetch_url(const std::string& url) {
  brigade::sleep_for(fetch_latency);
  if (fails(url)) throw std::runtime_error("connection reset by peer");
  return {url, fnv1a(url) * 31 + url.size(), 0};
}

// Go's `defer wg.Done()`.
class done_on_exit {
 public:
  explicit done_on_exit(wait_group& group) noexcept : group_(group) {}
  ~done_on_exit() { group_.done(); }
  done_on_exit(const done_on_exit&) = delete;
  done_on_exit& operator=(const done_on_exit&) = delete;

 private:
  wait_group& group_;
};

// The essay's worker, as a plain function run on a fiber.
void worker(std::size_t id, receiver<std::string> jobs, sender<content> results, wait_group* group,
            std::atomic<std::size_t>* failures) {
  const done_on_exit counted_out(*group);
  for (std::string& url : jobs) {  // ends when the jobs channel is closed and empty
    content page;
    try {
      page = fetch_url(url);
    } catch (const std::runtime_error&) {
      failures->fetch_add(1, std::memory_order_relaxed);  // the essay logs it and goes on
      continue;
    }
    page.worker = id;
    results.send(std::move(page));
  }
}

struct pool_run {
  std::vector<content> pages;
  std::size_t failures = 0;
  std::chrono::duration<double> wall;
};

// The essay's scrapeWebsites, on the calling thread; the workers and the closer are fibers.
pool_run scrape_websites(runtime& rt, const std::vector<std::string>& urls) {
  pool_run run;
  wait_group group;
  std::atomic<std::size_t> failures{0};
  auto [jobs_tx, jobs_rx] = make_channel<std::string>(urls.size());
  auto [results_tx, results_rx] = make_channel<content>(urls.size());
  const auto start = std::chrono::steady_clock::now();
  std::vector<join_handle<void>> fibers;
  // 1. Launch the worker fibers.
  for (std::size_t w = 0; w < worker_count; ++w) {
    group.add(1);
    fibers.push_back(go(rt, worker, w, jobs_rx, results_tx, &group, &failures));
  }
  // 2. Send all the jobs into the job channel, then close it.
  for (const std::string& url : urls) jobs_tx.send(url);
  jobs_tx.close();
  // 3. Wait for all workers to finish, then close the result channel: a fiber, as in the essay.
  fibers.push_back(go(rt, [&group, results = std::move(results_tx)] {
    group.wait();
    results.close();
  }));
  // 4. Collect all results.
  for (content& page : results_rx) run.pages.push_back(std::move(page));
  run.wall = std::chrono::steady_clock::now() - start;
  for (join_handle<void>& fiber : fibers) fiber.join();
  run.failures = failures.load();
  return run;
}

// --- A million parked at once --------------------------------------------------------------

struct parked_report {
  std::chrono::duration<double> start_and_park;  // until every one is parked
  std::chrono::duration<double> release;         // from the release until every one is done
  std::size_t rss_growth;
};

std::atomic<std::size_t> parked{0};
std::atomic<std::size_t> released{0};

void wait_until(const std::atomic<std::size_t>& counter, std::size_t n) {
  while (counter.load(std::memory_order_relaxed) < n) std::this_thread::sleep_for(std::chrono::microseconds(500));
}

parked_report park_fibers(runtime& rt, const tour_context& ctx) {
  parked = 0;
  released = 0;
  auto [gate_tx, gate_rx] = make_channel<int>(0);
  (void)go(rt, [] { return 0; }).join();  // the first chunk of stacks is mapped before the baseline
  const std::size_t before = resident_bytes();
  progress line(ctx.interactive(), "fibers parked", parked_count, "fibers",
                [] { return parked.load(std::memory_order_relaxed); });
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < parked_count; ++i)
    go(rt, [rx = gate_rx] {
      parked.fetch_add(1, std::memory_order_relaxed);
      (void)rx.recv();  // an ordinary blocking receive: parks the fiber until the close
      released.fetch_add(1, std::memory_order_relaxed);
    }).detach();
  wait_until(parked, parked_count);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the last ones reach recv()
  const auto all_parked = std::chrono::steady_clock::now();
  line.stop();
  const std::size_t during = resident_bytes();
  gate_tx.close();
  wait_until(released, parked_count);
  const auto all_released = std::chrono::steady_clock::now();
  return {all_parked - start, all_released - all_parked, during > before ? during - before : 0};
}

task<void> parked_task(event& bell) {
  parked.fetch_add(1, std::memory_order_relaxed);
  co_await bell.wait_async();
  released.fetch_add(1, std::memory_order_relaxed);
}

task<void> spawn_parked_tasks(event& bell) {
  for (std::size_t i = 0; i < parked_count; ++i) spawn(parked_task(bell)).detach();
  co_return;
}

parked_report park_tasks(runtime& rt) {
  parked = 0;
  released = 0;
  event bell;
  const std::size_t before = resident_bytes();
  const auto start = std::chrono::steady_clock::now();
  rt.block_on(spawn_parked_tasks(bell));
  wait_until(parked, parked_count);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const auto all_parked = std::chrono::steady_clock::now();
  const std::size_t during = resident_bytes();
  bell.set();
  wait_until(released, parked_count);
  const auto all_released = std::chrono::steady_clock::now();
  return {all_parked - start, all_released - all_parked, during > before ? during - before : 0};
}

std::string per_one(std::size_t bytes) {
  return format_bytes(static_cast<double>(bytes) / static_cast<double>(parked_count));
}

chapter_result run(tour_context& ctx) {
  runtime rt({.worker_threads = ctx.workers()});
  ctx.fact("workers", fmt::format("{}{}", rt.worker_count(), ctx.workers() == 0 ? " (one per hardware thread)" : ""));
  ctx.gap();

  std::vector<std::string> urls;
  for (std::size_t i = 0; i < url_count; ++i) urls.push_back(fmt::format("https://example.com/page/{}", i));
  std::size_t expected_pages = 0;
  for (const std::string& url : urls) expected_pages += fails(url) ? 0 : 1;

  ctx.fact("worker pool", fmt::format("{} URLs, {} worker fibers, each fetch a {} ms blocking sleep",
                                      group_digits(url_count), worker_count, fetch_latency.count()));
  const pool_run pool = scrape_websites(rt, urls);
  const auto one_by_one = std::chrono::duration<double>(fetch_latency) * static_cast<double>(url_count);
  std::unordered_map<std::string, const content*> arrived;
  bool pages_ok = pool.pages.size() == expected_pages;
  for (const content& page : pool.pages) {
    pages_ok = pages_ok && !fails(page.url) && page.checksum == fnv1a(page.url) * 31 + page.url.size() &&
               page.worker < worker_count && arrived.emplace(page.url, &page).second;
  }
  const bool overlapped = pool.wall < one_by_one / 2;
  ctx.fact("pages", fmt::format("{} fetched ({}), {} failed and skipped, in {} (one after another: {})",
                                group_digits(pool.pages.size()), pages_ok ? "each once, checksums right" : "WRONG",
                                pool.failures, format_duration(pool.wall), format_duration(one_by_one)));
  ctx.gap();
  std::fflush(stdout);

  const parked_report fibers = park_fibers(rt, ctx);
  const std::size_t fibers_released = released.load();
  ctx.fact("fibers", fmt::format("{} parked in recv() at once: started and parked in {}, released in {}",
                                 group_digits(parked_count), format_duration(fibers.start_and_park),
                                 format_duration(fibers.release)));
  ctx.fact("memory per fiber", fmt::format("{} (resident memory grew {})", per_one(fibers.rss_growth),
                                           format_bytes(static_cast<double>(fibers.rss_growth))));
  std::fflush(stdout);
  const parked_report tasks = park_tasks(rt);
  const std::size_t tasks_released = released.load();
  ctx.fact("tasks (chapter 1)", fmt::format("{} parked on an event at once: {}, released in {}",
                                            group_digits(parked_count), format_duration(tasks.start_and_park),
                                            format_duration(tasks.release)));
  ctx.fact("memory per task", fmt::format("{} (resident memory grew {})", per_one(tasks.rss_growth),
                                          format_bytes(static_cast<double>(tasks.rss_growth))));
  ctx.gap();
  ctx.paragraph(
      "A fiber is a task that runs on its own stack: a blocking call deep in ordinary code parks "
      "only the fiber, and the worker thread runs the other fibers and tasks meanwhile. The price "
      "is the stack: each fiber reserves 64 KiB of address space and touches at least one 4 KiB "
      "page of it, where a parked coroutine task keeps only its frame. Go's goroutines start at "
      "2 KiB stacks that grow; measured beside brigade's fibers in docs/benchmarks.md.");

  if (!pages_ok || !overlapped || fibers_released != parked_count || tasks_released != parked_count) {
    ctx.gap();
    ctx.paragraph(fmt::format(
        "FAILED: {}", !pages_ok ? "a page was lost, duplicated or wrong"
                      : !overlapped ? "the worker fibers did not overlap their fetches (a blocking sleep held a worker thread)"
                                    : "a parked fiber or task did not wake"));
    return chapter_result::failed;
  }
  return chapter_result::passed;
}

}  // namespace

const chapter& green_threads_chapter() {
  static constexpr chapter c{
      .slug = "green-threads",
      .title = "green threads",
      .summary = "the Go worker pool as fibers with blocking calls; a million fibers parked at once",
      .essay =
          "Coroutines give the scale, but the essay warns that the async style spreads: every "
          "caller of an async function must itself be async. Goroutines are the middle ground: code "
          "that reads like threads, blocking calls and all, with millions of them multiplexed on a "
          "few OS threads. brigade's fibers are that: go(fn) starts one on the runtime's workers, and "
          "a channel receive, a mutex or a sleep called anywhere inside it parks only the fiber. Here "
          "the essay's worker pool runs as fibers, then a million fibers wait at once, beside the "
          "million coroutine tasks of chapter 1.",
      .run = &run,
  };
  return c;
}

}  // namespace brigade::tool
