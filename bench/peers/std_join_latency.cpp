// std_join_latency.cpp: the reference for bench/runtime_join_latency.cpp: the same two
// measurements with two plain threads handing off through a std::mutex and two
// std::condition_variables (what a hand-written "submit a job and wait for it" costs).
//
//   rtt   main posts a job to the other thread (blocked in wait), the job does nothing and
//         replies, main (blocked in wait) wakes: one round trip, two blocking hand-offs.
//   wake  the job busy-waits 50 µs, takes a timestamp and replies; the sample is the time from
//         that timestamp to main running again. glibc's condition variable does not spin, so
//         main is asleep in the futex here already.
//   sleep_wake  the same with a 1 ms job.
// Samples per iteration: 10,000 round trips (--n), 2,000 wakes, 200 sleep_wakes. One JSON line
// per iteration with the medians and 99th percentiles, in µs.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "../bench_util.hpp"

namespace {

class hand_off {
 public:
  hand_off() : thread_([this] { serve(); }) {}
  ~hand_off() {
    {
      std::lock_guard<std::mutex> lk(m_);
      stop_ = true;
    }
    request_cv_.notify_one();
    thread_.join();
  }
  hand_off(const hand_off&) = delete;
  hand_off& operator=(const hand_off&) = delete;

  // Posts one job that spins spin_ns and waits for its reply; returns the job's timestamp.
  std::int64_t call(std::int64_t spin_ns) {
    std::unique_lock<std::mutex> lk(m_);
    spin_ns_ = spin_ns;
    const std::uint64_t seq = ++requested_;
    lk.unlock();
    request_cv_.notify_one();
    lk.lock();
    reply_cv_.wait(lk, [&] { return replied_ == seq; });
    return stamp_;
  }

 private:
  void serve() {
    std::unique_lock<std::mutex> lk(m_);
    for (;;) {
      request_cv_.wait(lk, [&] { return stop_ || requested_ != replied_; });
      if (stop_) return;
      const std::int64_t spin = spin_ns_;
      const std::uint64_t seq = requested_;
      lk.unlock();
      if (spin > 0) {
        const std::int64_t end = bench::now_ns() + spin;
        while (bench::now_ns() < end) {
        }
      }
      const std::int64_t stamp = bench::now_ns();
      lk.lock();
      stamp_ = stamp;
      replied_ = seq;
      lk.unlock();
      reply_cv_.notify_one();
      lk.lock();
    }
  }

  std::mutex m_;
  std::condition_variable request_cv_, reply_cv_;
  // Guarded by m_.
  std::uint64_t requested_ = 0, replied_ = 0;
  std::int64_t spin_ns_ = 0, stamp_ = 0;
  bool stop_ = false;
  std::thread thread_;  // last: starts after the fields above are initialised
};

}  // namespace

int main(int argc, char** argv) {
  const bench::options o = bench::parse_options(argc, argv);
  if (o.workload != "join_latency") bench::usage_error(argv[0], "workload must be join_latency");
  const long long rtt_samples = o.n > 0 ? o.n : 10'000;
  const long long wake_samples = std::max(1LL, rtt_samples / 5);
  const long long sleep_samples = std::max(1LL, rtt_samples / 50);
  const std::int64_t spin_ns = 50'000;
  const std::int64_t long_spin_ns = 1'000'000;
  hand_off h;
  return bench::run_iterations(o, [&](int iter) {
    const auto t0 = bench::steady::now();
    std::vector<double> rtt, wake, sleep_wake;
    rtt.reserve(static_cast<std::size_t>(rtt_samples));
    wake.reserve(static_cast<std::size_t>(wake_samples));
    sleep_wake.reserve(static_cast<std::size_t>(sleep_samples));
    for (long long i = 0; i < rtt_samples; ++i) {
      const std::int64_t s = bench::now_ns();
      (void)h.call(0);
      rtt.push_back(static_cast<double>(bench::now_ns() - s) / 1e3);
    }
    for (long long i = 0; i < wake_samples; ++i) {
      const std::int64_t stamp = h.call(spin_ns);
      wake.push_back(static_cast<double>(bench::now_ns() - stamp) / 1e3);
    }
    for (long long i = 0; i < sleep_samples; ++i) {
      const std::int64_t stamp = h.call(long_spin_ns);
      sleep_wake.push_back(static_cast<double>(bench::now_ns() - stamp) / 1e3);
    }
    bench::json_line("condvar", o, iter)
        .num("ms", bench::ms_since(t0))
        .num("rtt_median_us", bench::percentile(rtt, 0.5))
        .num("rtt_p99_us", bench::percentile(rtt, 0.99))
        .num("wake_median_us", bench::percentile(wake, 0.5))
        .num("wake_p99_us", bench::percentile(wake, 0.99))
        .num("sleep_wake_median_us", bench::percentile(sleep_wake, 0.5))
        .num("sleep_wake_p99_us", bench::percentile(sleep_wake, 0.99))
        .num("samples", rtt_samples)
        .num("wake_samples", wake_samples)
        .num("sleep_samples", sleep_samples)
        .num("spin_us", spin_ns / 1000)
        .num("long_spin_us", long_spin_ns / 1000)
        .str("check", "ok")
        .print();
    return true;
  });
}
