// Chapter 4, "the ledger": the first essay's FinancialLedger, transfers between accounts under
// locks and a cached total under a read-write lock, run by threads and tasks at once while
// auditors check that no money appears or vanishes.
//
// Differences from the essay's Java, each for a reason:
// - One brigade::mutex per account instead of one lock for the whole ledger, so transfers between
//   different accounts run in parallel. A transfer locks two accounts, so they are locked in one
//   global order (lowest number first): two transfers that lock the same pair in opposite orders
//   could each hold one and wait forever for the other (the essay's deadlock).
// - The total is recomputed while every account is locked (in the same order), so it sees each
//   transfer entirely or not at all. The essay's recompute holds only the read-write lock while
//   transfers hold only the ledger lock: it can add up the accounts in the middle of a transfer
//   and cache a total that is off by the amount in flight, and its `totalCache = null` can land
//   before such a recompute stores its stale sum.
// - Lock order across the two kinds of lock: the cache lock before any account lock. The
//   recompute takes the cache's write lock and then the accounts; a transfer releases its accounts
//   before it takes the cache's write lock to invalidate it. So no party ever waits for the cache
//   lock while holding an account.
// - Insufficient funds is an exception (as in the essay) thrown before anything changes.
//
// Threads use the blocking forms (std::lock_guard<brigade::mutex>, std::shared_lock and
// std::unique_lock on brigade::rw_mutex); tasks use the co_await forms, which return guards. Both
// work on the same ledger at the same time, on the same locks.
#include <algorithm>
#include <atomic>
#include <brigade/brigade.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <fmt/format.h>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "chapters/chapters.hpp"
#include "support/format.hpp"
#include "tour/context.hpp"

namespace brigade::tool {

namespace {

constexpr std::size_t account_count = 8;
constexpr long opening_balance = 1'000;
constexpr long expected_total = static_cast<long>(account_count) * opening_balance;
constexpr long largest_transfer = 700;  // amounts are 1..largest_transfer
constexpr int transfer_threads = 4;
constexpr int transfers_per_thread = 20'000;
constexpr int transfer_tasks = 100;
constexpr int transfers_per_task = 800;
constexpr int auditor_threads = 2;
constexpr int auditor_tasks = 2;

// A transfer that would overdraw its source: thrown before either balance changes.
class insufficient_funds : public std::runtime_error {
 public:
  insufficient_funds(std::size_t account, long balance, long amount)
      : std::runtime_error(fmt::format("insufficient funds: account {} holds {}, cannot pay {}",
                                       account, balance, amount)) {}
};

// splitmix64: a small, fast, seeded source of transfers, the same on every run.
class dice {
 public:
  explicit dice(std::uint64_t seed) noexcept : state_(seed) {}
  std::uint64_t next() noexcept {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  std::size_t below(std::size_t n) noexcept { return static_cast<std::size_t>(next() % n); }

 private:
  std::uint64_t state_;
};

struct transfer_order {
  std::size_t from;
  std::size_t to;
  long amount;
};

transfer_order roll(dice& d) {
  const std::size_t from = d.below(account_count);
  const std::size_t to = (from + 1 + d.below(account_count - 1)) % account_count;  // never `from`
  return {from, to, 1 + static_cast<long>(d.below(static_cast<std::size_t>(largest_transfer)))};
}

// Every counter below is written by transferring and auditing threads and tasks and read by the
// chapter after all of them have been joined (the joins publish them). Relaxed: they only count.
void lower_to(std::atomic<long>& lowest, long value) noexcept {
  long seen = lowest.load(std::memory_order_relaxed);
  while (value < seen && !lowest.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
  }
}

class ledger {
 public:
  ledger() {
    for (account& a : accounts_) a.balance = opening_balance;
  }

  // ---- Threads -------------------------------------------------------------------------------

  /// Moves `amount` from one account to another; throws insufficient_funds, changing nothing,
  /// if the source holds less.
  void transfer(const transfer_order& t) {
    {
      std::lock_guard<brigade::mutex> first(accounts_[std::min(t.from, t.to)].lock);
      std::lock_guard<brigade::mutex> second(accounts_[std::max(t.from, t.to)].lock);
      move_locked(t);
    }  // accounts released before the cache lock is taken: see the lock order above
    std::unique_lock<brigade::rw_mutex> write(cache_lock_);
    cache_valid_ = false;
  }

  /// The sum of all balances: the cached one if valid, else recomputed (double-checked).
  long total() {
    {
      std::shared_lock<brigade::rw_mutex> read(cache_lock_);
      if (cache_valid_) {
        cache_hits_.fetch_add(1, std::memory_order_relaxed);
        return cached_total_;
      }
    }
    std::unique_lock<brigade::rw_mutex> write(cache_lock_);
    // Check again: another reader may have recomputed between our read and write locks.
    if (cache_valid_) {
      second_check_hits_.fetch_add(1, std::memory_order_relaxed);
      return cached_total_;
    }
    std::vector<std::unique_lock<brigade::mutex>> held;
    held.reserve(account_count);
    for (account& a : accounts_) held.emplace_back(a.lock);  // lowest number first
    return store_total_locked();
  }

  // ---- Tasks ---------------------------------------------------------------------------------

  task<void> transfer_async(transfer_order t) {
    {
      auto first = co_await accounts_[std::min(t.from, t.to)].lock.lock_async();
      auto second = co_await accounts_[std::max(t.from, t.to)].lock.lock_async();
      move_locked(t);
    }
    auto write = co_await cache_lock_.lock_async();
    cache_valid_ = false;
  }

  task<long> total_async() {
    {
      auto read = co_await cache_lock_.lock_shared_async();
      if (cache_valid_) {
        cache_hits_.fetch_add(1, std::memory_order_relaxed);
        co_return cached_total_;
      }
    }
    auto write = co_await cache_lock_.lock_async();
    if (cache_valid_) {
      second_check_hits_.fetch_add(1, std::memory_order_relaxed);
      co_return cached_total_;
    }
    std::vector<brigade::mutex::guard> held;
    held.reserve(account_count);
    for (account& a : accounts_) held.push_back(co_await a.lock.lock_async());
    co_return store_total_locked();
  }

  // ---- After every party has finished --------------------------------------------------------

  [[nodiscard]] std::vector<long> balances() const {
    std::vector<long> out;
    for (const account& a : accounts_) out.push_back(a.balance);
    return out;
  }
  [[nodiscard]] std::uint64_t cache_hits() const noexcept {
    return cache_hits_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint64_t second_check_hits() const noexcept {
    return second_check_hits_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint64_t recomputes() const noexcept {
    return recomputes_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint64_t negatives_seen() const noexcept {
    return negatives_seen_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] long lowest_seen() const noexcept {
    return lowest_seen_.load(std::memory_order_relaxed);
  }

 private:
  struct account {
    brigade::mutex lock;
    long balance = 0;  // guarded by lock
  };

  /// With both accounts of `t` locked: checks, then moves the money, or throws having changed
  /// nothing. Also checks that neither balance is negative, as every party that holds an account
  /// does.
  void move_locked(const transfer_order& t) {
    account& from = accounts_[t.from];
    account& to = accounts_[t.to];
    note_balance(from.balance);
    note_balance(to.balance);
    if (from.balance < t.amount) throw insufficient_funds(t.from, from.balance, t.amount);
    from.balance -= t.amount;
    to.balance += t.amount;
    note_balance(from.balance);
  }

  /// With the cache's write lock and every account held: recomputes and caches the total.
  long store_total_locked() {
    long sum = 0;
    for (const account& a : accounts_) {
      note_balance(a.balance);
      sum += a.balance;
    }
    cached_total_ = sum;
    cache_valid_ = true;
    recomputes_.fetch_add(1, std::memory_order_relaxed);
    return sum;
  }

  void note_balance(long balance) noexcept {
    if (balance < 0) negatives_seen_.fetch_add(1, std::memory_order_relaxed);
    lower_to(lowest_seen_, balance);
  }

  // Invariants: the sum of the balances is expected_total whenever no transfer holds its two
  // accounts; every balance is >= 0; cache_valid_ implies cached_total_ was computed from a
  // snapshot taken with every account locked. Lock order: cache_lock_, then accounts by number.
  account accounts_[account_count];

  brigade::rw_mutex cache_lock_;
  long cached_total_ = 0;     // guarded by cache_lock_
  bool cache_valid_ = false;  // guarded by cache_lock_

  std::atomic<std::uint64_t> cache_hits_{0};
  std::atomic<std::uint64_t> second_check_hits_{0};
  std::atomic<std::uint64_t> recomputes_{0};
  std::atomic<std::uint64_t> negatives_seen_{0};
  std::atomic<long> lowest_seen_{opening_balance};
};

// What one kind of party (threads, or tasks) did. Written by the parties, read after the joins.
struct tally {
  std::atomic<std::uint64_t> completed{0};
  std::atomic<std::uint64_t> refused{0};
  std::atomic<std::uint64_t> audits{0};
  std::atomic<std::uint64_t> wrong_audits{0};
  std::atomic<long> wrong_total{0};  // one of the wrong totals, if any

  void record_audit(long total) noexcept {
    audits.fetch_add(1, std::memory_order_relaxed);
    if (total != expected_total) {
      wrong_audits.fetch_add(1, std::memory_order_relaxed);
      wrong_total.store(total, std::memory_order_relaxed);
    }
  }
};

// The first refusal's message, kept to show what the error says. Written once, by whoever wins
// `claimed`; read after the joins.
struct first_refusal {
  std::atomic<bool> claimed{false};
  std::string message;
  void offer(const insufficient_funds& e) {
    if (!claimed.exchange(true, std::memory_order_relaxed)) message = e.what();
  }
};

void thread_transfers(ledger& book, std::uint64_t seed, tally& counts, first_refusal& refusal) {
  dice d(seed);
  for (int i = 0; i < transfers_per_thread; ++i) {
    try {
      book.transfer(roll(d));
      counts.completed.fetch_add(1, std::memory_order_relaxed);
    } catch (const insufficient_funds& e) {
      counts.refused.fetch_add(1, std::memory_order_relaxed);
      refusal.offer(e);
    }
  }
}

task<void> task_transfers(ledger& book, std::uint64_t seed, tally& counts, first_refusal& refusal) {
  dice d(seed);
  for (int i = 0; i < transfers_per_task; ++i) {
    try {
      co_await book.transfer_async(roll(d));
      counts.completed.fetch_add(1, std::memory_order_relaxed);
    } catch (const insufficient_funds& e) {
      counts.refused.fetch_add(1, std::memory_order_relaxed);
      refusal.offer(e);
    }
  }
}

task<void> all_task_transfers(ledger& book, tally& counts, first_refusal& refusal) {
  std::vector<join_handle<void>> parties;
  parties.reserve(transfer_tasks);
  for (int i = 0; i < transfer_tasks; ++i) {
    parties.push_back(
        spawn(task_transfers(book, 1000 + static_cast<std::uint64_t>(i), counts, refusal)));
  }
  for (join_handle<void>& p : parties) co_await p;
}

// Auditors read the total until the transfers have finished (at least once each). `finished` is
// written by the chapter once every transfer has been joined; relaxed: it only ends the loop.
void thread_auditor(ledger& book, const std::atomic<bool>& finished, tally& counts) {
  do {
    counts.record_audit(book.total());
    std::this_thread::yield();
  } while (!finished.load(std::memory_order_relaxed));
}

task<void> task_auditor(ledger& book, const std::atomic<bool>& finished, tally& counts) {
  do {
    counts.record_audit(co_await book.total_async());
    co_await yield_now();
  } while (!finished.load(std::memory_order_relaxed));
}

std::string describe_balances(const std::vector<long>& balances) {
  std::string out;
  for (const long b : balances)
    out += fmt::format("{}{}", out.empty() ? "" : " ", group_digits_signed(b));
  return out;
}

chapter_result run(tour_context& ctx) {
  ledger book;
  tally by_threads;
  tally by_tasks;
  first_refusal refusal;
  std::atomic<bool> finished{false};
  runtime rt({.worker_threads = ctx.workers()});

  ctx.fact("accounts", fmt::format("{}, {} each: total {}", account_count,
                                   group_digits(opening_balance), group_digits(expected_total)));
  ctx.fact("transfers", fmt::format("{} threads x {} and {} tasks x {}", transfer_threads,
                                    group_digits(transfers_per_thread), transfer_tasks,
                                    group_digits(transfers_per_task)));
  ctx.fact("amounts", fmt::format("1 to {}, between random pairs of accounts", largest_transfer));
  ctx.fact("auditors", fmt::format("{} threads and {} tasks, reading the total meanwhile",
                                   auditor_threads, auditor_tasks));
  ctx.fact("workers", fmt::format("{}", rt.worker_count()));
  ctx.gap();
  std::fflush(stdout);

  std::chrono::duration<double> wall{};
  {
    // Declared so that on any exit the auditors are told to stop before the threads are joined
    // (std::jthread joins when destroyed), and the runtime outlives neither the ledger nor them.
    std::vector<join_handle<void>> task_auditors;
    std::vector<std::jthread> auditors;
    std::vector<std::jthread> transferrers;
    struct finish_on_exit {
      std::atomic<bool>& flag;
      ~finish_on_exit() { flag.store(true, std::memory_order_relaxed); }
    } finish{finished};

    for (int i = 0; i < auditor_tasks; ++i)
      task_auditors.push_back(rt.spawn(task_auditor(book, finished, by_tasks)));
    for (int i = 0; i < auditor_threads; ++i)
      auditors.emplace_back([&] { thread_auditor(book, finished, by_threads); });

    const auto start = std::chrono::steady_clock::now();
    join_handle<void> tasks_done = rt.spawn(all_task_transfers(book, by_tasks, refusal));
    for (int i = 0; i < transfer_threads; ++i) {
      transferrers.emplace_back(
          [&book, &by_threads, &refusal, seed = static_cast<std::uint64_t>(i + 1)] {
            thread_transfers(book, seed, by_threads, refusal);
          });
    }
    for (std::jthread& t : transferrers) t.join();
    tasks_done.join();
    wall = std::chrono::steady_clock::now() - start;

    finished.store(true, std::memory_order_relaxed);
    for (std::jthread& t : auditors) t.join();
    for (join_handle<void>& h : task_auditors) h.join();
  }

  const std::vector<long> balances = book.balances();
  long final_total = 0;
  for (const long b : balances) final_total += b;
  const bool final_negative =
      std::any_of(balances.begin(), balances.end(), [](long b) { return b < 0; });
  const std::uint64_t attempted =
      static_cast<std::uint64_t>(transfer_threads) * transfers_per_thread +
      static_cast<std::uint64_t>(transfer_tasks) * transfers_per_task;
  const std::uint64_t completed = by_threads.completed + by_tasks.completed;
  const std::uint64_t refused = by_threads.refused + by_tasks.refused;
  const std::uint64_t audits = by_threads.audits + by_tasks.audits;
  const std::uint64_t wrong_audits = by_threads.wrong_audits + by_tasks.wrong_audits;

  ctx.fact("ran in",
           fmt::format("{} ({})", format_duration(wall),
                       format_rate(static_cast<double>(attempted) / wall.count(), "transfers")));
  ctx.fact("completed",
           fmt::format("{} ({} by threads, {} by tasks)", group_digits(completed),
                       group_digits(by_threads.completed), group_digits(by_tasks.completed)));
  ctx.fact("refused",
           fmt::format("{} ({} by threads, {} by tasks)", group_digits(refused),
                       group_digits(by_threads.refused), group_digits(by_tasks.refused)));
  if (refusal.claimed.load(std::memory_order_relaxed)) ctx.fact("for example", refusal.message);
  ctx.fact("audits", fmt::format("{} ({} by threads, {} by tasks)", group_digits(audits),
                                 group_digits(by_threads.audits), group_digits(by_tasks.audits)));
  ctx.fact("audited totals", wrong_audits == 0
                                 ? fmt::format("all {} (correct)", group_digits(expected_total))
                                 : fmt::format("{} WRONG", group_digits(wrong_audits)));
  ctx.fact("from the cache", group_digits(book.cache_hits()));
  ctx.fact("recomputed", group_digits(book.recomputes()));
  ctx.fact("found fresh", fmt::format("{} (on the second check: another had recomputed)",
                                      group_digits(book.second_check_hits())));
  ctx.fact("lowest balance",
           book.negatives_seen() == 0
               ? fmt::format("{} (never negative)", group_digits_signed(book.lowest_seen()))
               : fmt::format("{} (NEGATIVE {} times)", group_digits_signed(book.lowest_seen()),
                             group_digits(book.negatives_seen())));
  ctx.fact("final balances", describe_balances(balances));
  ctx.fact("final total", fmt::format("{} ({})", group_digits_signed(final_total),
                                      final_total == expected_total ? "correct" : "WRONG"));
  ctx.gap();
  ctx.paragraph(
      "Every transfer locks its two accounts lowest number first. Were one transfer to lock A then "
      "B while another locked B then A, each could hold one lock and wait forever for the other: "
      "the first essay's \"permanent traffic jam\". With one global order a cycle of waiting "
      "cannot form. The auditors' recompute locks every account in the same order, after the "
      "cache's write lock; a transfer lets go of its accounts before it takes the cache lock to "
      "invalidate it, so the two kinds of lock are also always taken in one order. The recompute "
      "thus sees each transfer whole or not at all. (The essay's Java recomputes under the "
      "read-write lock while transfers hold a different lock, so it can add up the accounts "
      "halfway through a transfer and cache a total that is off by the amount in flight.)");
  ctx.gap();
  ctx.paragraph(
      "The cache is the essay's double-check: readers share the read lock and return the cached "
      "total if it is valid; otherwise they take the write lock and check again, because another "
      "reader may have recomputed it while they waited (the \"found fresh\" count), and only then "
      "recompute. A transfer never changes the total, so invalidating on every transfer is more "
      "than this ledger needs; it does so anyway, as the essay's does, so that the auditors add "
      "up the balances themselves and would catch a transfer that lost or made money.");

  std::vector<std::string> failures;
  if (wrong_audits != 0)
    failures.push_back(fmt::format("{} audits saw a total other than {} (one saw {})", wrong_audits,
                                   expected_total,
                                   by_threads.wrong_audits != 0 ? by_threads.wrong_total.load()
                                                                : by_tasks.wrong_total.load()));
  if (book.negatives_seen() != 0 || final_negative)
    failures.push_back("a balance went negative: an overdrawing transfer was let through");
  if (final_total != expected_total)
    failures.push_back(fmt::format("the final total is {}, not {}", final_total, expected_total));
  if (completed + refused != attempted)
    failures.push_back(
        fmt::format("{} transfers completed and {} were refused, but {} were attempted", completed,
                    refused, attempted));
  if (audits == 0) failures.push_back("no audit ran");
  return ctx.verdict(failures);
}

}  // namespace

const chapter& the_ledger_chapter() {
  static constexpr chapter c{
      .slug = "the-ledger",
      .title = "the ledger",
      .summary =
          "transfers under per-account locks, a cached total under a read-write lock, audited",
      .essay =
          "The first essay's FinancialLedger: transfers between accounts under a lock, and a total "
          "that many readers share through a read-write lock and a cache, recomputed with a "
          "double check when a transfer has invalidated it. A transfer that would overdraw is "
          "refused with an error, not allowed to leave a negative balance. Here threads and tasks "
          "transfer at once on the same ledger, each account with its own brigade::mutex, while "
          "auditors read the total through a brigade::rw_mutex and check that money is never made "
          "or lost and no balance goes below zero.",
      .run = &run,
  };
  return c;
}

}  // namespace brigade::tool
