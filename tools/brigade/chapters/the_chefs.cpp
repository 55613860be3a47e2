// Chapter "the chefs": the first essay's BatchProcessor, a fixed pool of four chefs, a Future per
// submitted job as the ticket, and job.get() to collect the reports in order.
//
// The Java program, and its counterpart here:
//   Executors.newFixedThreadPool(4)             brigade::thread_pool chefs(4)
//   Future<Report> job = chefPool.submit(...)   brigade::future<report> job = chefs.submit(analyse_file, path)
//   Report r = job.get()                        report r = job.get()
//   chefPool.shutdown()                         chefs.shutdown(); chefs.await_termination(...)
//
// Differences from the essay's Java, each for a reason:
// - The work is real, not Thread.sleep(2000): a batch of files is written to a fresh temporary
//   directory, and each job reads its file, counts its lines and words and hashes its bytes. The
//   directory is removed at the end.
// - The reports are collected in submission order, as the essay does, with a progress line; then
//   the same batch goes through JavaScript's style, a then() per ticket and all() for the batch.
// - One more file is missing on purpose: its ticket holds the job's exception, which get()
//   rethrows, and the rest of the batch is unaffected.
//
// Checks: every report equals the one the main thread computes by reading the file itself, both
// ways of collecting agree, and the missing file's ticket holds an error naming it.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <brigade/brigade.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <iterator>
#include <random>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "chapters/chapters.hpp"
#include "support/format.hpp"
#include "support/progress.hpp"
#include "tour/context.hpp"

namespace brigade::tool {

namespace {

constexpr std::size_t file_count = 400;
constexpr std::size_t smallest_file = 64 * 1024;   // bytes
constexpr std::size_t largest_file = 256 * 1024;
constexpr std::size_t chef_count = 4;

struct report {
  std::string name;
  std::uint64_t bytes = 0;
  std::uint64_t lines = 0;
  std::uint64_t words = 0;
  std::uint64_t hash = 0;  // FNV-1a of the bytes
  bool operator==(const report&) const = default;
};

/// The job: read the file and analyse it (the essay's analyzeFile, with real work).
report analyse_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path.filename().string());
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  report r{.name = path.filename().string(), .bytes = bytes.size()};
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  bool in_word = false;
  for (const char c : bytes) {
    hash = (hash ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
    if (c == '\n') ++r.lines;
    const bool letter = c != ' ' && c != '\n';
    if (letter && !in_word) ++r.words;
    in_word = letter;
  }
  r.hash = hash;
  return r;
}

/// Writes the batch: words of 1-10 letters, lines of about 60 characters.
std::vector<std::filesystem::path> write_batch(const std::filesystem::path& directory) {
  std::mt19937_64 random(2026);
  std::vector<std::filesystem::path> files;
  for (std::size_t i = 0; i < file_count; ++i) {
    const std::size_t size = smallest_file + random() % (largest_file - smallest_file);
    std::string text;
    text.reserve(size + 16);
    std::size_t line = 0;
    while (text.size() < size) {
      const std::size_t letters = 1 + random() % 10;
      for (std::size_t k = 0; k < letters; ++k) text.push_back(static_cast<char>('a' + random() % 26));
      line += letters + 1;
      if (line >= 60) {
        text.push_back('\n');
        line = 0;
      } else {
        text.push_back(' ');
      }
    }
    files.push_back(directory / fmt::format("order-{:03}.txt", i));
    std::ofstream(files.back(), std::ios::binary) << text;
  }
  return files;
}

struct removes_directory {
  std::filesystem::path path;
  ~removes_directory() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

chapter_result run(tour_context& ctx) {
  std::vector<std::string> failures;
  auto expect = [&](bool ok, std::string what) {
    if (!ok) failures.push_back(std::move(what));
  };

  const removes_directory directory{std::filesystem::temp_directory_path() /
                                    fmt::format("brigade-the-chefs-{}", ::getpid())};
  std::filesystem::create_directories(directory.path);
  const std::vector<std::filesystem::path> files = write_batch(directory.path);
  std::uint64_t batch_bytes = 0;
  for (const auto& f : files) batch_bytes += std::filesystem::file_size(f);
  ctx.paragraph(fmt::format("{} files of {} in all, written to {}.", files.size(), format_bytes(static_cast<double>(batch_bytes)),
                            directory.path.string()));

  // The reference: the main thread reads every file itself.
  const auto one_start = std::chrono::steady_clock::now();
  std::vector<report> expected;
  for (const auto& f : files) expected.push_back(analyse_file(f));
  const std::chrono::duration<double> one_chef = std::chrono::steady_clock::now() - one_start;

  // The essay's BatchProcessor: submit every file, then collect each ticket in order.
  brigade::thread_pool chefs(brigade::thread_pool_options{.threads = chef_count, .name = "chef"});
  const auto pool_start = std::chrono::steady_clock::now();
  std::vector<brigade::future<report>> pending_reports;
  for (const auto& f : files) pending_reports.push_back(chefs.submit(analyse_file, f));
  std::vector<report> final_reports;
  std::atomic<std::uint64_t> collected{0};
  {
    progress bar(ctx.interactive(), "collecting reports", files.size(), "reports",
                 [&] { return collected.load(std::memory_order_relaxed); });
    for (auto& job : pending_reports) {
      final_reports.push_back(job.get());  // waits for this ticket's chef, if it is not done
      collected.fetch_add(1, std::memory_order_relaxed);
    }
  }
  const std::chrono::duration<double> four_chefs = std::chrono::steady_clock::now() - pool_start;
  expect(final_reports == expected, "the pool's reports equal the main thread's");

  // JavaScript's style on the same pool: a continuation per ticket, all() for the batch.
  std::vector<brigade::future<std::uint64_t>> word_counts;
  for (const auto& f : files)
    word_counts.push_back(chefs.submit(analyse_file, f).then([](report r) { return r.words; }));
  const std::vector<std::uint64_t> words = brigade::all(std::move(word_counts)).get();
  std::uint64_t total_words = 0, expected_words = 0;
  for (const auto w : words) total_words += w;
  for (const auto& r : expected) expected_words += r.words;
  expect(total_words == expected_words, "then() and all() count the same words");

  // A missing file: its ticket holds the error; the others are unaffected.
  auto missing = chefs.submit(analyse_file, directory.path / "order-missing.txt");
  std::string missing_error;
  try {
    (void)missing.get();
  } catch (const std::exception& error) {
    missing_error = error.what();
  }
  expect(missing_error.find("order-missing.txt") != std::string::npos, "the missing file's ticket holds its error");

  chefs.shutdown();  // close the kitchen after service
  expect(chefs.await_termination(std::chrono::seconds(10)), "the chefs went home after the service");
  expect(chefs.is_terminated(), "the pool reports it terminated");

  std::uint64_t lines = 0;
  for (const auto& r : final_reports) lines += r.lines;
  ctx.fact("reports", group_digits(final_reports.size()));
  ctx.fact("lines, words", fmt::format("{}, {}", group_digits(lines), group_digits(total_words)));
  ctx.fact("one chef (main)", format_duration(one_chef));
  ctx.fact("four chefs (pool)", fmt::format("{} ({:.1f}x)", format_duration(four_chefs), one_chef / four_chefs));
  ctx.fact("missing file", missing_error);
  ctx.gap();
  ctx.paragraph(
      "Each future was a ticket: submit() handed the job to a free chef and returned at once; get() "
      "waited only if that chef was not done yet. The chefs are the pool's own threads, apart from "
      "any runtime's workers, so CPU work queued here cannot hold up a runtime's I/O; with four "
      "chefs on this machine's cores the speedup is bounded by the cores, not the chefs. The "
      "missing file's exception travelled in its ticket to the get() that asked for it.");

  return ctx.verdict(failures);
}

}  // namespace

const chapter& the_chefs_chapter() {
  static constexpr chapter c{
      .slug = "the-chefs",
      .title = "the chefs",
      .summary = "BatchProcessor: a pool of four chefs, a future per file as the ticket",
      .essay =
          "The first essay opens with OS threads as chefs: real parallelism for CPU work, but "
          "expensive, so you hire a fixed number and keep them on standby. Its Java "
          "BatchProcessor gives each file to a pool of four (ExecutorService), keeps the Future "
          "of each job as a ticket, and collects the reports with job.get(). Here the pool is "
          "brigade's thread_pool, the files are real, and the tickets are brigade futures, which "
          "also chain (then) and combine (all), as JavaScript's promises do.",
      .run = &run,
  };
  return c;
}

}  // namespace brigade::tool
