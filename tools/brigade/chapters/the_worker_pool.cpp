// Chapter 2, "the worker pool": the first essay's Go scraper, a pool of worker goroutines ranging
// over a channel of URLs, written on brigade's tasks, channels and wait_group.
//
// The Go program, and its counterpart here:
//   jobChannel := make(chan string, n)     auto [jobs_tx, jobs_rx] = make_channel<std::string>(n)
//   wg.Add(1); go worker(w, jobs, ...)     group.add(1); rt.spawn(worker(w, jobs_rx, ..., group))
//   defer wg.Done()                        a guard whose destructor calls group.done()
//   for url := range jobs { ... }          while (auto url = co_await jobs.recv_async()) { ... }
//   results <- content                     co_await results.send_async(std::move(page))
//   jobChannel <- url; close(jobChannel)   co_await jobs.send_async(url); jobs.close()  (in a task)
//   go func() { wg.Wait(); close(res) }()  a task: co_await group.wait_async(); results.close()
//   for result := range resultChannel      for (content& page : results_rx)  (on the main thread)
//
// Differences from the essay's Go, each for a reason:
// - The jobs come from their own producer task. The essay's main goroutine sends every job
//   itself before it reads a result, which works only because both its channels hold len(urls):
//   with smaller channels main would wait to send a job while every worker waits to send a result
//   that nobody is reading yet. Here the job channel's capacity varies and the results channel
//   holds 100, so the producer runs beside main.
// - There is no network layer yet, so the "fetch" is CPU work: the page's size and bytes are made
//   up from the URL (deterministic, the same on every run) and hashed, without being stored, so
//   that it also costs ThreadSanitizer nothing extra. It cannot fail, so the essay's error branch
//   (log and `continue`) is left out; what the essay logs per job, the worker, is kept in the
//   result and summed up as each worker's share.
// - Go needs no joins: its main returns and the goroutines are forgotten. Here main joins every
//   task after the results channel closes, so that an exception in one of them is not lost and
//   the wait_group (a local of main's) outlives every task that uses it.
//
// Checks: every URL's page arrives exactly once, with the size and checksum that fetching it
// one by one on the main thread gave beforehand, and from a worker that exists.
#include <algorithm>
#include <brigade/brigade.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <fmt/format.h>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "chapters/chapters.hpp"
#include "support/format.hpp"
#include "tour/context.hpp"

namespace brigade::tool {

namespace {

constexpr std::size_t job_count = 5'000;
constexpr std::size_t smallest_page = 32 * 1024;  // bytes; each URL's page size lies in between
constexpr std::size_t largest_page = 80 * 1024;   // (a multiple of 8): about 8 us of hashing
constexpr std::size_t result_capacity = 100;
constexpr std::size_t job_capacity = 100;  // the job channel's (but where capacities vary)
constexpr std::size_t worker_counts[] = {1, 2, 4, 8};
constexpr std::size_t capacity_workers = 4;  // workers where the capacities are compared
constexpr int rounds = 3;                    // each pool runs this often; the fastest is shown

// --- The simulated fetch -----------------------------------------------------------------------

constexpr std::uint64_t fnv_offset = 0xcbf29ce484222325ULL;
constexpr std::uint64_t fnv_prime = 0x100000001b3ULL;

std::uint64_t fnv1a(std::string_view text) noexcept {
  std::uint64_t hash = fnv_offset;
  for (const char c : text) hash = (hash ^ static_cast<unsigned char>(c)) * fnv_prime;
  return hash;
}

// splitmix64's output function: the page's next 8 bytes.
std::uint64_t mix(std::uint64_t z) noexcept {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// What a worker sends back for one URL (the essay's Content).
struct content {
  std::string url;
  std::size_t bytes = 0;
  std::uint64_t checksum = 0;  // FNV-1a of the page, 8 bytes at a time
  std::size_t worker = 0;      // which worker fetched it
};

// "Fetches" `url`: makes up a page of 8 to 24 KiB from the URL's hash and hashes its bytes as they
// are made, a few microseconds of CPU work. The same URL always gives the same page.
content fetch_url(std::string url) {
  const std::uint64_t seed = fnv1a(url);
  const std::size_t words = (smallest_page + seed % (largest_page - smallest_page + 1)) / 8;
  std::uint64_t state = seed;
  std::uint64_t hash = fnv_offset;
  for (std::size_t i = 0; i < words; ++i) {
    state += 0x9e3779b97f4a7c15ULL;
    hash = (hash ^ mix(state)) * fnv_prime;
  }
  return {std::move(url), words * 8, hash, 0};
}

// --- The pool, as Go writes it ------------------------------------------------------------------

// Go's `defer wg.Done()`: the worker is counted out however it ends, so that the results channel
// is closed even if a worker fails.
class done_on_exit {
 public:
  explicit done_on_exit(wait_group& group) noexcept : group_(group) {}
  ~done_on_exit() { group_.done(); }
  done_on_exit(const done_on_exit&) = delete;
  done_on_exit& operator=(const done_on_exit&) = delete;

 private:
  wait_group& group_;
};

// A receiver<std::string> can only receive and a sender<content> only send, as Go's
// `jobs <-chan string` and `results chan<- Content`.
task<void> worker(std::size_t id, receiver<std::string> jobs, sender<content> results,
                  wait_group& group) {
  const done_on_exit counted_out(group);
  while (std::optional<std::string> url = co_await jobs.recv_async()) {  // ends when closed and empty
    content page = fetch_url(std::move(*url));
    page.worker = id;
    co_await results.send_async(std::move(page));
  }
}

task<void> send_jobs(sender<std::string> jobs, const std::vector<std::string>& urls) {
  for (const std::string& url : urls) co_await jobs.send_async(url);
  jobs.close();  // telling the workers no more jobs are coming
}

task<void> close_when_done(wait_group& group, sender<content> results) {
  co_await group.wait_async();
  results.close();
}

// Joins every handle, even after one has thrown; then rethrows the first error.
void join_all(std::vector<join_handle<void>>& parties) {
  std::exception_ptr first_error;
  for (join_handle<void>& party : parties) {
    if (!party.valid()) continue;
    try {
      party.join();
    } catch (...) {
      if (!first_error) first_error = std::current_exception();
    }
  }
  if (first_error) std::rethrow_exception(first_error);
}

struct pool_run {
  std::vector<content> pages;  // in the order they arrived
  std::chrono::duration<double> wall;
};

// The essay's scrapeWebsites, on the calling (main) thread: starts the workers, the producer and
// the closer on `rt`, ranges over the results until the channel closes, then joins every task.
pool_run scrape_websites(runtime& rt, const std::vector<std::string>& urls,
                         std::size_t worker_count, std::size_t job_channel_capacity) {
  wait_group group;
  std::vector<join_handle<void>> parties;
  parties.reserve(worker_count + 2);
  pool_run run;
  run.pages.reserve(urls.size());
  std::exception_ptr failure;
  {
    auto [jobs_tx, jobs_rx] = make_channel<std::string>(job_channel_capacity);
    auto [results_tx, results_rx] = make_channel<content>(result_capacity);
    const auto start = std::chrono::steady_clock::now();
    try {
      // 1. Launch the workers.
      for (std::size_t w = 0; w < worker_count; ++w) {
        group.add(1);
        try {
          parties.push_back(rt.spawn(worker(w, jobs_rx, results_tx, group)));
        } catch (...) {
          group.done();  // this one never started
          throw;
        }
      }
      // 2. Send the jobs, then close the job channel: from a task of its own (see the top).
      parties.push_back(rt.spawn(send_jobs(std::move(jobs_tx), urls)));
      // 3. Close the result channel once every worker is done. Main gives its own sending handle
      //    to that task, so this close is the only one (the last handle would close it too).
      parties.push_back(rt.spawn(close_when_done(group, std::move(results_tx))));
      // 4. Collect every result: range-for on a receiver blocks this thread until it is closed.
      for (content& page : results_rx) run.pages.push_back(std::move(page));
    } catch (...) {
      failure = std::current_exception();
    }
    run.wall = std::chrono::steady_clock::now() - start;
  }  // main's channel handles go: whatever happened above, every task can now run to its end
  join_all(parties);
  if (failure) std::rethrow_exception(failure);
  return run;
}

// --- Checking and reporting --------------------------------------------------------------------

struct expected_pages {
  std::vector<std::string> urls;
  std::vector<content> pages;                               // pages[i] is urls[i]'s
  std::unordered_map<std::string_view, std::size_t> index;  // URL -> its number
};

struct verdict {
  std::size_t correct = 0;
  std::size_t missing = 0;
  std::size_t duplicated = 0;
  std::size_t wrong = 0;            // wrong size or checksum, or a worker that does not exist
  std::size_t unknown = 0;          // a URL nobody sent
  std::vector<std::size_t> shares;  // pages per worker

  [[nodiscard]] bool passed() const noexcept {
    return missing == 0 && duplicated == 0 && wrong == 0 && unknown == 0;
  }
};

verdict check(const expected_pages& expected, const std::vector<content>& pages,
              std::size_t worker_count) {
  verdict v;
  v.shares.assign(worker_count, 0);
  std::vector<unsigned> arrivals(expected.urls.size(), 0);
  for (const content& page : pages) {
    const auto it = expected.index.find(page.url);
    if (it == expected.index.end()) {
      ++v.unknown;
      continue;
    }
    if (++arrivals[it->second] > 1) {
      ++v.duplicated;
      continue;
    }
    const content& want = expected.pages[it->second];
    if (page.bytes != want.bytes || page.checksum != want.checksum || page.worker >= worker_count) {
      ++v.wrong;
      continue;
    }
    ++v.correct;
    ++v.shares[page.worker];
  }
  v.missing = static_cast<std::size_t>(std::count(arrivals.begin(), arrivals.end(), 0U));
  return v;
}

std::string describe_verdict(const verdict& v) {
  std::string out = fmt::format("{} correct", group_digits(v.correct));
  if (v.missing != 0) out += fmt::format(", {} MISSING", group_digits(v.missing));
  if (v.duplicated != 0) out += fmt::format(", {} TWICE", group_digits(v.duplicated));
  if (v.wrong != 0) out += fmt::format(", {} WRONG", group_digits(v.wrong));
  if (v.unknown != 0) out += fmt::format(", {} UNKNOWN", group_digits(v.unknown));
  return out;
}

std::string describe_shares(const std::vector<std::size_t>& shares) {
  if (shares.size() == 1) return "";
  const auto [least, most] = std::minmax_element(shares.begin(), shares.end());
  return fmt::format("  each {}-{}", group_digits(*least), group_digits(*most));
}

struct pool_result {
  std::chrono::duration<double> best;
  verdict shown;    // the first failing round's, or else the last round's
  bool all_passed;  // every round's check held
};

pool_result run_pool(runtime& rt, const expected_pages& expected, std::size_t worker_count,
                     std::size_t job_channel_capacity) {
  pool_result result{std::chrono::duration<double>::max(), {}, true};
  for (int round = 0; round < rounds; ++round) {
    std::fflush(stdout);
    const pool_run run = scrape_websites(rt, expected.urls, worker_count, job_channel_capacity);
    result.best = std::min(result.best, run.wall);
    if (result.all_passed) {  // once a round has failed, its verdict stays shown
      result.shown = check(expected, run.pages, worker_count);
      result.all_passed = result.shown.passed();
    }
  }
  return result;
}

std::string describe_time(std::chrono::duration<double> wall) {
  return fmt::format("{:>9} {:>15}", format_duration(wall),
                     format_rate(static_cast<double>(job_count) / wall.count(), "jobs"));
}

// The time, the rate, the speed against fetching one by one, the check, the shares.
std::string describe_pool(const pool_result& r, std::chrono::duration<double> one_by_one) {
  return fmt::format("{}  x{:<4.2f}  {}{}", describe_time(r.best), one_by_one / r.best,
                     describe_verdict(r.shown), describe_shares(r.shown.shares));
}

chapter_result run(tour_context& ctx) {
  runtime rt({.worker_threads = ctx.workers()});

  expected_pages expected;
  expected.urls.reserve(job_count);
  for (std::size_t i = 0; i < job_count; ++i)
    expected.urls.push_back(fmt::format("https://example.com/articles/{}", i + 1));
  for (std::size_t i = 0; i < job_count; ++i) expected.index.emplace(expected.urls[i], i);

  // One by one on this thread: the expected pages, and the time with no pool at all.
  std::chrono::duration<double> one_by_one = std::chrono::duration<double>::max();
  std::size_t total_bytes = 0;
  for (int round = 0; round < rounds; ++round) {
    std::vector<content> pages;
    pages.reserve(job_count);
    const auto start = std::chrono::steady_clock::now();
    for (const std::string& url : expected.urls) pages.push_back(fetch_url(url));
    one_by_one = std::min<std::chrono::duration<double>>(one_by_one,
                                                         std::chrono::steady_clock::now() - start);
    expected.pages = std::move(pages);
  }
  for (const content& page : expected.pages) total_bytes += page.bytes;

  ctx.fact("jobs", fmt::format("{} URLs, one simulated fetch each", group_digits(job_count)));
  ctx.fact("a fetch", fmt::format("hashes a page of {}-{} KiB made up from its URL",
                                  smallest_page / 1024, largest_page / 1024));
  ctx.fact("fetching", fmt::format("{} per page on average, {} hashed per run",
                                   format_duration(one_by_one / static_cast<double>(job_count)),
                                   format_bytes(static_cast<double>(total_bytes))));
  ctx.fact("results channel", fmt::format("capacity {}", result_capacity));
  ctx.fact("threads",
           fmt::format("{} run the tasks{}; main ranges over the results on its own",
                       rt.worker_count(), ctx.workers() == 0 ? " (one per hardware thread)" : ""));
  ctx.fact("runs", fmt::format("each pool {} times, the fastest shown, every one checked", rounds));
  ctx.gap();
  ctx.fact("one by one", fmt::format("{}  x1     on main alone: no tasks, no channels",
                                     describe_time(one_by_one)));
  ctx.gap();

  std::vector<std::string> failures;
  const auto note = [&](const std::string& what, const pool_result& r) {
    if (!r.all_passed) failures.push_back(fmt::format("{}: a page was lost, delivered twice or wrong", what));
  };

  ctx.paragraph(
      fmt::format("Worker tasks ranging over a job channel of capacity {}:", job_capacity));
  std::chrono::duration<double> one_worker{};
  for (const std::size_t workers : worker_counts) {
    const pool_result r = run_pool(rt, expected, workers, job_capacity);
    if (workers == 1) one_worker = r.best;
    const std::string label = fmt::format("{} worker{}", workers, workers == 1 ? "" : "s");
    ctx.fact(label, describe_pool(r, one_by_one));
    note(fmt::format("{}, job capacity {}", label, job_capacity), r);
  }
  const auto pool_cost = (one_worker - one_by_one) / static_cast<double>(job_count);
  ctx.fact("pool's cost",
           pool_cost.count() > 0
               ? fmt::format("{} per job (1 worker against one by one)", format_duration(pool_cost))
               : std::string("none measurable (1 worker against one by one)"));
  ctx.gap();

  ctx.paragraph(fmt::format("The job channel's capacity, with {} workers:", capacity_workers));
  const std::pair<std::size_t, std::string> capacities[] = {
      {0, "capacity 0"},
      {job_capacity, fmt::format("capacity {}", group_digits(job_capacity))},
      {job_count, fmt::format("capacity {}", group_digits(job_count))},
  };
  for (const auto& [capacity, label] : capacities) {
    const pool_result r = run_pool(rt, expected, capacity_workers, capacity);
    ctx.fact(label, describe_pool(r, one_by_one));
    note(fmt::format("{} workers, job {}", capacity_workers, label), r);
  }
  ctx.gap();

  ctx.paragraph(fmt::format(
      "Each run sends {} URLs through the job channel and {} pages back through the results "
      "channel, and checks that every URL's page came back exactly once, with the size and "
      "checksum that fetching it one by one gave; \"x\" is the speed against that, and \"each\" "
      "the fewest and the most pages one worker fetched. The fetch is CPU work standing in for a "
      "network call until brigade has a network layer: a worker task holds its thread for the "
      "whole fetch, so worker tasks beyond the {} threads cannot go faster, and the producer and "
      "main take their share of the CPU too. A real fetch mostly waits, and a task waiting on a "
      "socket leaves its thread to the others: that is when hundreds of workers on a few threads "
      "pay. Capacity 0 is a rendezvous: each job passes from the producer to a worker by hand, "
      "the one waiting for the other. Capacity {} lets the producer run ahead of the workers, "
      "and the essay's len(urls) lets it send every job at once.",
      group_digits(job_count), group_digits(job_count), rt.worker_count(), job_capacity));

  return ctx.verdict(failures);
}

}  // namespace

const chapter& the_worker_pool_chapter() {
  static constexpr chapter c{
      .slug = "the-worker-pool",
      .title = "the worker pool",
      .summary =
          "Go's scraper: workers ranging over a job channel, a wait group, a results channel",
      .essay =
          "The first essay's Go program: a pool of goroutines scraping websites. URLs go into a "
          "job channel; numWorkers workers range over it, fetch each page and send it to a "
          "results channel; a sync.WaitGroup counts the workers out, and a goroutine that waits "
          "on it closes the results channel, which ends main's range over the results. \"This "
          "model gives you enormous concurrency with code that is readable.\" Here it is on "
          "brigade: tasks for goroutines, brigade::channel's sender and receiver for Go's "
          "chan<- and <-chan, and brigade::wait_group. The fetch is simulated by CPU work, "
          "hashing a page made up from the URL, until brigade has a network layer; the pool "
          "runs with 1 to 8 workers and three capacities of the job channel.",
      .run = &run,
  };
  return c;
}

}  // namespace brigade::tool
