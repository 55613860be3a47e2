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
  hand_off h;
  return bench::run_join_latency(
      "condvar", o, [&] { (void)h.call(0); },
      [&](std::int64_t ns) -> std::int64_t { return h.call(ns); });
}
