// asio_timers.cpp: the Boost.Asio peer of brigade's timer benchmarks: boost::asio::steady_timer
// on one io_context run by one thread (asio's usual single-threaded event loop; the context is
// made with concurrency hint 1). Header-only Asio, no brigade. The lines say "threads":1
// whatever --threads says: this peer is single-threaded by design.
//
//   asio_timers --workload timers_schedule_cancel [--n 1000000] [--iters 3] [--round R]
//   asio_timers --workload timers_lateness        [--n 100000]  [--iters 3] [--round R]
//
// Command line and output as bench/bench_util.hpp (one JSON line per in-process iteration;
// iteration 0 is cold). bench/run_benchmarks.py runs it like the other peers: one fresh process
// per round, reading its lines.
//
// timers_schedule_cancel: --n timers (default 1,000,000) in batches of 1000. For each timer of a
//   batch: expires_after(d) with d random in 1..1000 ms (fixed seed; the durations are drawn
//   before the clock starts), async_wait(handler); then cancel() on all of them; then poll()
//   until the batch's 1000 handlers have run. Every handler must see operation_aborted: the
//   check fails unless exactly n handlers ran, all aborted. Reported: ms, ops_per_s (timers
//   scheduled and cancelled per second), ns_per_timer.
//   The 1000 steady_timer objects are built once, before the clock starts, and re-armed by every
//   batch. A steady_timer's constructor does no system call and allocates nothing (it records
//   its service and an empty queue entry), so constructing it per timer would add little; the
//   work measured is what a timer costs: arming it (the wait operation's allocation, from
//   Asio's per-thread recycling cache, and the timer heap insertion, with a timerfd_settime when
//   it becomes the earliest), cancelling it and running its handler. Re-arming a timer object
//   is also how Asio programs use timers (one per connection, re-armed per operation).
//
// timers_lateness: --n timers (default 100,000), each armed at once with expires_after(d), d
//   random in 0..1000 ms (fixed seed), all of them before io_context::run() is called on the one
//   thread. Each handler records its lateness: steady_clock::now() - the timer's expiry().
//   Reported: p50_us, p99_us, max_us of the lateness; ms from the first arming to run()'s
//   return; schedule_ms, the time spent arming them all (timers whose d is shorter than that
//   are late by the rest of it: the one thread is busy arming, and with 100k timers that is
//   1-6% of them, so p99 follows schedule_ms); and after_arming_p50_us / _p99_us / _max_us,
//   the same over the timers that expired after the last one was armed (the loop's own
//   precision). schedule_ms is larger in iterations 0 and 1 than later: glibc gives the
//   freed handler memory back to the OS once (trim), and this VM's page faults are slow. The
//   check fails unless exactly n handlers ran, none with an error. (brigade runs the same measurement with 1M tasks each
//   sleeping a random 0..1000 ms.)
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <random>

#include "../bench_util.hpp"

namespace {

namespace asio = boost::asio;
using std::chrono::milliseconds;

constexpr long long schedule_cancel_default_n = 1'000'000;
constexpr long long lateness_default_n = 100'000;
constexpr std::size_t batch = 1000;
constexpr std::uint64_t seed = 20240601;

std::vector<int> random_ms(long long n, int lo, int hi) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> dist(lo, hi);
  std::vector<int> v(static_cast<std::size_t>(n));
  for (auto& d : v) d = dist(rng);
  return v;
}

int schedule_cancel(const bench::options& o) {
  const long long n = o.n > 0 ? o.n : schedule_cancel_default_n;
  const std::vector<int> durations = random_ms(n, 1, 1000);
  asio::io_context io(1);
  std::vector<asio::steady_timer> timers;
  timers.reserve(batch);
  for (std::size_t i = 0; i < batch; ++i) timers.emplace_back(io);

  return bench::run_iterations(o, [&](int iter) {
    long long aborted = 0, other = 0;
    auto handler = [&aborted, &other](const boost::system::error_code& ec) {
      if (ec == asio::error::operation_aborted)
        ++aborted;
      else
        ++other;
    };
    bool stuck = false;
    const auto t0 = bench::steady::now();
    for (long long base = 0; base < n && !stuck; base += static_cast<long long>(batch)) {
      const auto m = static_cast<std::size_t>(std::min<long long>(static_cast<long long>(batch), n - base));
      for (std::size_t i = 0; i < m; ++i) {
        timers[i].expires_after(milliseconds(durations[static_cast<std::size_t>(base) + i]));
        timers[i].async_wait(handler);
      }
      for (std::size_t i = 0; i < m; ++i) timers[i].cancel();
      // The context stopped when the previous batch's last handler ran out of work.
      io.restart();
      const long long target = base + static_cast<long long>(m);
      int idle_polls = 0;
      while (aborted + other < target) {
        if (io.poll() == 0 && ++idle_polls > 3) {
          stuck = true;  // cancelled handlers that never became ready: reported as FAIL
          break;
        }
      }
    }
    const double ms = bench::ms_since(t0);
    const bool ok = !stuck && aborted == n && other == 0;
    if (!ok)
      std::fprintf(stderr, "asio_timers: %lld handlers aborted and %lld otherwise, of %lld\n", aborted, other, n);
    bench::json_line("asio", o, iter)
        .num("ms", ms)
        .num("ops_per_s", static_cast<double>(n) / (ms / 1e3))
        .num("ns_per_timer", ms * 1e6 / static_cast<double>(n))
        .num("timers", n)
        .num("batch", static_cast<long long>(batch))
        .str("check", ok ? "ok" : "FAIL")
        .print();
    return ok;
  });
}

int lateness(const bench::options& o) {
  const long long n = o.n > 0 ? o.n : lateness_default_n;
  const std::vector<int> durations = random_ms(n, 0, 1000);
  asio::io_context io(1);

  return bench::run_iterations(o, [&](int iter) {
    std::vector<asio::steady_timer> timers;
    timers.reserve(static_cast<std::size_t>(n));
    for (long long i = 0; i < n; ++i) timers.emplace_back(io);
    std::vector<double> late_us, late_after_arming_us;
    late_us.reserve(static_cast<std::size_t>(n));
    late_after_arming_us.reserve(static_cast<std::size_t>(n));
    long long errors = 0;
    asio::steady_timer::time_point armed{};  // set before any handler can run

    const auto t0 = bench::steady::now();
    for (std::size_t i = 0; i < static_cast<std::size_t>(n); ++i) {
      timers[i].expires_after(milliseconds(durations[i]));
      timers[i].async_wait([&, i](const boost::system::error_code& ec) {
        const auto now = asio::steady_timer::clock_type::now();
        if (ec) ++errors;
        const auto expiry = timers[i].expiry();
        const double us = std::chrono::duration<double, std::micro>(now - expiry).count();
        late_us.push_back(us);
        if (expiry >= armed) late_after_arming_us.push_back(us);
      });
    }
    armed = asio::steady_timer::clock_type::now();
    const double schedule_ms = bench::ms_since(t0);
    io.restart();
    io.run();
    const double ms = bench::ms_since(t0);

    const bool ok = errors == 0 && static_cast<long long>(late_us.size()) == n;
    if (!ok)
      std::fprintf(stderr, "asio_timers: %zu of %lld handlers ran, %lld with an error\n", late_us.size(), n, errors);
    std::sort(late_us.begin(), late_us.end());
    std::sort(late_after_arming_us.begin(), late_after_arming_us.end());
    auto at = [](const std::vector<double>& v, double p) {
      if (v.empty()) return 0.0;
      const auto idx = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
      return v[std::min(idx, v.size() - 1)];
    };
    bench::json_line("asio", o, iter)
        .num("ms", ms)
        .num("p50_us", at(late_us, 0.5))
        .num("p99_us", at(late_us, 0.99))
        .num("max_us", at(late_us, 1.0))
        .num("schedule_ms", schedule_ms)
        .num("after_arming_p50_us", at(late_after_arming_us, 0.5))
        .num("after_arming_p99_us", at(late_after_arming_us, 0.99))
        .num("after_arming_max_us", at(late_after_arming_us, 1.0))
        .num("after_arming_timers", static_cast<long long>(late_after_arming_us.size()))
        .num("timers", n)
        .str("check", ok ? "ok" : "FAIL")
        .print();
    return ok;
  });
}

}  // namespace

int main(int argc, char** argv) {
  bench::options o = bench::parse_options(argc, argv);
  o.threads = 1;  // one io_context on one thread, whatever --threads says
  if (o.n < 0) bench::usage_error(argv[0], "--n must not be negative");
  if (o.workload == "timers_schedule_cancel") return schedule_cancel(o);
  if (o.workload == "timers_lateness") return lateness(o);
  bench::usage_error(argv[0], "--workload must be timers_schedule_cancel or timers_lateness");
}
