// runtime_timers.cpp: brigade's timers (issue 16). Peer: Boost.Asio's steady_timer on one
// io_context and one thread (bench/peers/asio_timers.cpp, the same workloads and the same seed).
// Command line and output as bench/bench_util.hpp (one JSON line per in-process iteration;
// iteration 0 is cold), plus --busy.
//
//   timers_schedule_cancel: the shape of asio_timers': --n timers (default 1,000,000) in batches
//     of 1000, each with a deadline random in 1..1000 ms (fixed seed; drawn before the clock
//     starts); per batch: park all 1000, then withdraw all 1000. Through the runtime's internal
//     timer queue (detail::timer_queue, what sleep_for_async and timeout() use), from a task on
//     a runtime of ONE worker (whatever --threads says): queue.park(entry, deadline, registration)
//     with a registration that never reports a stop, then queue.withdraw(entry). The 1000
//     timer_entry objects (and their waiters) are made once, before the clock, and re-parked by
//     every batch, as asio_timers re-arms its 1000 steady_timer objects. Reported: ms,
//     ops_per_s (timers parked and withdrawn per second), ns_per_timer.
//     NOT the same work as Asio's: a withdrawn brigade timer runs nothing, while each cancelled
//     Asio timer queues and runs its handler with operation_aborted (and each async_wait takes
//     its operation from Asio's recycling allocator). brigade's figure is the wheel's insert and
//     removal under its lock, plus the clock read of each deadline (and, when a timer is earlier
//     than the one the driver watches, the call that asks for the driver's attention).
//   timers_schedule_cancel_timeout: the user-level equivalent through the public API: --n
//     (default 1,000,000) times `co_await brigade::timeout(ready{}, 1s)`, where `ready` is an
//     awaitable that completes without suspending: per operation a timer is armed and withdrawn,
//     around a child scope and the operation's task frame (what timeout() costs when the
//     operation does not wait). One worker. Reported as above (ops = timeouts).
//   timers_lateness: --n tasks (default 1,000,000), spawned detached from one task, each sleeping
//     d random in 0..1000 ms (fixed seed, as asio_timers) from when it starts: `co_await
//     sleep_until_async(its start + d)`; each records its lateness = steady_clock::now() when it
//     runs again - its deadline. Reported: p50_us, p99_us, max_us (and min_us: never negative, or
//     the check fails: a sleep must not end early); ms from the start until all have woken;
//     schedule_ms, from the start until the last task has parked; after_arming_p50/p99/max_us
//     over the tasks whose deadline falls after the last one parked (no spawning competes with
//     their wake-ups; Asio's single thread cannot run a handler before it has armed every timer,
//     so only its after_arming figures compare with these). --threads workers (2 in the table).
//     With --busy (or --workload timers_lateness_busy): at least 2 workers, and one more task,
//     spawned before the sleepers, computes without yielding from the start until 5 ms after the
//     last deadline: one worker is taken for the whole window. busy_ms is how long it ran.
//   A task's sleep is a timer in a wheel of 100 µs ticks (deadlines rounded up to the next
//   tick), so brigade's lateness is about half a tick plus the wake-up on average and under a
//   tick plus the wake-up at most on an idle machine; Asio's timers use a timerfd with nanosecond
//   deadlines.
#include <brigade/brigade.hpp>
#include <brigade/detail/timer_queue.hpp>
#include <brigade/time/sleep.hpp>
#include <brigade/time/timeout.hpp>

#include <atomic>
#include <chrono>
#include <coroutine>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "bench_util.hpp"

namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;
namespace detail = brigade::detail;

constexpr long long schedule_cancel_default_n = 1'000'000;
constexpr long long lateness_default_n = 1'000'000;
constexpr std::size_t batch = 1000;
constexpr std::uint64_t seed = 20240601;  // asio_timers' seed: the same durations

std::vector<int> random_ms(long long n, int lo, int hi) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> dist(lo, hi);
  std::vector<int> v(static_cast<std::size_t>(n));
  for (auto& d : v) d = dist(rng);
  return v;
}

// --- timers_schedule_cancel: the timer queue itself --------------------------------------------

// The waiter of a benchmark timer: it is never meant to fire (every timer is withdrawn long
// before its deadline); if one does (the thread was descheduled for a millisecond), the withdraw
// fails and the firing is waited for before the entry is parked again.
struct bench_waiter final : detail::waiter {
  bench_waiter() noexcept : waiter(&fire) {}
  static void fire(waiter* self) noexcept {
    static_cast<bench_waiter*>(self)->fired.store(true, std::memory_order_release);
  }
  std::atomic<bool> fired{false};
};

// A registration that never reports a stop (the timer is not a cancellable wait here).
struct never_stopped {
  bool bind_unless_stopped(detail::waiter&) noexcept { return true; }
};

struct schedule_cancel_result {
  long long parked = 0, withdrawn = 0, fired = 0, not_parked = 0;
  double ms = 0;
};

brigade::task<schedule_cancel_result> schedule_cancel_queue(const std::vector<int>& durations) {
  detail::timer_queue& queue = detail::timers_of(*detail::current_worker()->owner);
  const auto n = static_cast<long long>(durations.size());
  std::vector<bench_waiter> waiters(batch);
  std::vector<std::optional<detail::timer_entry>> entries(batch);
  for (std::size_t i = 0; i < batch; ++i) entries[i].emplace(waiters[i], queue);
  never_stopped registration;
  schedule_cancel_result r;
  const auto t0 = bench::steady::now();
  for (long long base = 0; base < n; base += static_cast<long long>(batch)) {
    const auto m = static_cast<std::size_t>(std::min<long long>(static_cast<long long>(batch), n - base));
    for (std::size_t i = 0; i < m; ++i) {
      const auto deadline = detail::deadline_after(milliseconds(durations[static_cast<std::size_t>(base) + i]));
      if (queue.park(*entries[i], deadline, registration) == detail::park_result::parked)
        ++r.parked;
      else
        ++r.not_parked;
    }
    for (std::size_t i = 0; i < m; ++i) {
      if (queue.withdraw(*entries[i])) {
        ++r.withdrawn;
      } else {
        while (!waiters[i].fired.load(std::memory_order_acquire)) std::this_thread::yield();
        waiters[i].fired.store(false, std::memory_order_relaxed);
        ++r.fired;
      }
    }
  }
  r.ms = bench::ms_since(t0);
  co_return r;
}

int schedule_cancel(const bench::options& o) {
  const long long n = o.n > 0 ? o.n : schedule_cancel_default_n;
  const std::vector<int> durations = random_ms(n, 1, 1000);
  brigade::runtime rt({.worker_threads = 1});
  return bench::run_iterations(o, [&](int iter) {
    const schedule_cancel_result r = rt.block_on(schedule_cancel_queue(durations));
    // Every timer parked; each withdrawn, or (rarely: a descheduled thread) fired first.
    const bool ok = r.parked == n && r.withdrawn + r.fired == n && r.not_parked == 0;
    if (!ok)
      std::fprintf(stderr, "brigade_timers: %lld parked (%lld not), %lld withdrawn, %lld fired, of %lld\n", r.parked,
                   r.not_parked, r.withdrawn, r.fired, n);
    bench::json_line("brigade", o, iter)
        .num("ms", r.ms)
        .num("ops_per_s", static_cast<double>(n) / (r.ms / 1e3))
        .num("ns_per_timer", r.ms * 1e6 / static_cast<double>(n))
        .num("timers", n)
        .num("batch", static_cast<long long>(batch))
        .num("fired", r.fired)
        .str("handlers", "none (withdrawn timers dispatch nothing; Asio runs an aborted handler each)")
        .str("check", ok ? "ok" : "FAIL")
        .print();
    return ok;
  });
}

// --- timers_schedule_cancel_timeout: the same through timeout() ---------------------------------

// Completes without suspending: timeout() arms its timer, runs this, withdraws the timer.
struct ready {
  bool await_ready() const noexcept { return true; }
  void await_suspend(std::coroutine_handle<>) const noexcept {}
  int await_resume() const noexcept { return 1; }
};

brigade::task<long long> timeout_loop(long long n) {
  long long sum = 0;
  for (long long i = 0; i < n; ++i) sum += co_await brigade::timeout(ready{}, 1s);
  co_return sum;
}

int schedule_cancel_timeout(const bench::options& o) {
  const long long n = o.n > 0 ? o.n : schedule_cancel_default_n;
  brigade::runtime rt({.worker_threads = 1});
  return bench::run_iterations(o, [&](int iter) {
    const auto t0 = bench::steady::now();
    const long long sum = rt.block_on(timeout_loop(n));
    const double ms = bench::ms_since(t0);
    const bool ok = sum == n;
    bench::json_line("brigade", o, iter)
        .num("ms", ms)
        .num("ops_per_s", static_cast<double>(n) / (ms / 1e3))
        .num("ns_per_timer", ms * 1e6 / static_cast<double>(n))
        .num("timers", n)
        .str("check", ok ? "ok" : "FAIL")
        .num("answer", sum)
        .print();
    return ok;
  });
}

// --- timers_lateness ----------------------------------------------------------------------------

struct lateness_run {
  bench::steady::time_point start;
  std::vector<int> durations_ms;                    // each task's sleep
  std::vector<bench::steady::time_point> deadlines;  // written by each task when it starts
  std::vector<double> late_us;            // per task, written by that task only
  std::vector<std::int64_t> parked_at_ns;  // when each task began its sleep
};

brigade::task<void> sleeper(lateness_run& run, std::size_t i, brigade::latch& done) {
  // Each task sleeps its own duration from when it starts (sleep_for): the time it took to
  // spawn the million before it is not counted as lateness of its timer.
  run.parked_at_ns[i] = bench::now_ns();
  const auto deadline = bench::steady::now() + milliseconds(run.durations_ms[i]);
  run.deadlines[i] = deadline;
  co_await brigade::sleep_until_async(deadline);
  run.late_us[i] = std::chrono::duration<double, std::micro>(bench::steady::now() - deadline).count();
  done.count_down();
}

brigade::task<void> spawn_sleepers(lateness_run& run, brigade::latch& done) {
  for (std::size_t i = 0; i < run.deadlines.size(); ++i) brigade::spawn(sleeper(run, i, done)).detach();
  co_return;
}

// Computes without yielding until `until`; returns how long it ran, in ms.
brigade::task<double> busy_until(bench::steady::time_point until) {
  const auto t0 = bench::steady::now();
  std::uint64_t x = 1;
  while (bench::steady::now() < until) {
    for (int k = 0; k < 1000; ++k) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
  }
  co_return bench::ms_since(t0) + (x == 0 ? 1e-9 : 0.0);  // uses x: the loop is kept
}

int lateness(bench::options o, bool busy) {
  const long long n = o.n > 0 ? o.n : lateness_default_n;
  if (busy && o.threads < 2) o.threads = 2;
  const std::vector<int> durations = random_ms(n, 0, 1000);
  const int longest = *std::max_element(durations.begin(), durations.end());
  brigade::runtime rt({.worker_threads = o.threads});
  return bench::run_iterations(o, [&](int iter) {
    lateness_run run;
    run.deadlines.resize(static_cast<std::size_t>(n));
    run.late_us.assign(static_cast<std::size_t>(n), -1e300);
    run.parked_at_ns.assign(static_cast<std::size_t>(n), 0);
    brigade::latch done(n);

    run.start = bench::steady::now();
    const std::int64_t start_ns = bench::now_ns();
    run.durations_ms = durations;
    brigade::join_handle<double> hog;
    if (busy) hog = rt.spawn(busy_until(run.start + milliseconds(longest) + 5ms));
    rt.block_on(spawn_sleepers(run, done));
    done.wait();
    const double ms = bench::ms_since(run.start);
    const double busy_ms = busy ? hog.join() : 0.0;

    const std::int64_t armed_ns = *std::max_element(run.parked_at_ns.begin(), run.parked_at_ns.end());
    const double schedule_ms = static_cast<double>(armed_ns - start_ns) / 1e6;
    std::vector<double> after_arming;
    after_arming.reserve(static_cast<std::size_t>(n));
    const auto armed = run.start + std::chrono::nanoseconds(armed_ns - start_ns);
    for (std::size_t i = 0; i < run.deadlines.size(); ++i)
      if (run.deadlines[i] >= armed) after_arming.push_back(run.late_us[i]);
    std::sort(run.late_us.begin(), run.late_us.end());
    std::sort(after_arming.begin(), after_arming.end());
    auto at = [](const std::vector<double>& v, double p) {
      if (v.empty()) return 0.0;
      const auto idx = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
      return v[std::min(idx, v.size() - 1)];
    };
    const double min_us = run.late_us.front();
    const bool ok = min_us >= 0;  // every task woke (set), none before its deadline
    if (!ok) std::fprintf(stderr, "brigade_timers: a sleep ended %.1f µs early (or never)\n", -min_us);
    bench::json_line("brigade", o, iter)
        .num("ms", ms)
        .num("p50_us", at(run.late_us, 0.5))
        .num("p99_us", at(run.late_us, 0.99))
        .num("max_us", at(run.late_us, 1.0))
        .num("min_us", min_us)
        .num("schedule_ms", schedule_ms)
        .num("after_arming_p50_us", at(after_arming, 0.5))
        .num("after_arming_p99_us", at(after_arming, 0.99))
        .num("after_arming_max_us", at(after_arming, 1.0))
        .num("after_arming_timers", static_cast<long long>(after_arming.size()))
        .num("timers", n)
        .num("busy", busy ? 1 : 0)
        .num("busy_ms", busy_ms)
        .str("check", ok ? "ok" : "FAIL")
        .print();
    return ok;
  });
}

}  // namespace

int main(int argc, char** argv) {
  // --busy is this program's own flag; the rest is bench_util's.
  bool busy = false;
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (i > 0 && std::string_view(argv[i]) == "--busy")
      busy = true;
    else
      args.push_back(argv[i]);
  }
  bench::options o = bench::parse_options(static_cast<int>(args.size()), args.data());
  if (o.n < 0) bench::usage_error(argv[0], "--n must not be negative");
  if (o.workload == "timers_schedule_cancel") {
    o.threads = 1;
    return schedule_cancel(o);
  }
  if (o.workload == "timers_schedule_cancel_timeout") {
    o.threads = 1;
    return schedule_cancel_timeout(o);
  }
  if (o.workload == "timers_lateness_busy") {
    o.workload = "timers_lateness";
    busy = true;
  }
  if (o.workload == "timers_lateness") return lateness(o, busy);
  bench::usage_error(argv[0],
                     "--workload must be timers_schedule_cancel, timers_schedule_cancel_timeout, "
                     "timers_lateness or timers_lateness_busy");
}
