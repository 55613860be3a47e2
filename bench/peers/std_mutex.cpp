// std_mutex.cpp: the peer of bench/runtime_mutex.cpp, with the standard library's std::mutex
// (glibc's pthread mutex: no spinning, a futex when contended).
//
//   mutex_contended  the same harness as brigade's (bench::run_contended_mutex): two plain
//         threads each increment one shared plain counter --n times (default 5,000,000) under
//         std::lock_guard<std::mutex>; ns per increment.
//   mutex_handoff  the reference for brigade's task hand-off: two threads pass the ownership of
//         one std::mutex by turns, --n times each (default 6,000: each hand-off is a futex wake
//         of a sleeping thread, tens of µs on this VM). A thread waits on a
//         std::condition_variable until it is its turn, records the acquisition
//         (bench::handoff_tally), gives the turn to the other, unlocks and notifies. The two
//         threads are pinned to different CPUs (bench::pin_to_cpu): every hand-off wakes a thread
//         on the other vCPU (two threads sharing one vCPU, as on a loaded machine, hand off by a
//         context switch instead, ~2 µs here).
//         ns per hand-off over the same span as brigade's (first acquisition to last).
//   mutex_hog  the same harness as brigade's (bench::run_mutex_under_hog): a thread waiting for
//         a std::mutex that another keeps re-taking; the waiter's median, p99 and worst wait.
// One JSON line per iteration.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "../bench_util.hpp"

namespace {

constexpr long long handoff_default_n = 6'000;

int run_handoff(const bench::options& o) {
  const long long n = o.n > 0 ? o.n : handoff_default_n;
  return bench::run_iterations(o, [&](int iter) {
    std::mutex m;
    std::condition_variable cv;
    int turn = 0;                  // guarded by m
    bench::handoff_tally tally;    // guarded by m
    tally.total = 2 * n;
    std::atomic<int> arrived{0};
    auto party = [&](int me) {
      (void)bench::pin_to_cpu(static_cast<std::size_t>(me));  // each on its own CPU
      arrived.fetch_add(1, std::memory_order_relaxed);
      while (arrived.load(std::memory_order_relaxed) < 2) std::this_thread::yield();
      for (long long i = 0; i < n; ++i) {
        std::unique_lock<std::mutex> lk(m);
        cv.wait(lk, [&] { return turn == me; });
        tally.record(me);
        turn = 1 - me;
        lk.unlock();
        cv.notify_one();
      }
    };
    std::thread t0(party, 0), t1(party, 1);
    t0.join();
    t1.join();
    return tally.report("std-mutex", o, iter);
  });
}

}  // namespace

int main(int argc, char** argv) {
  const bench::options o = bench::parse_options(argc, argv);
  if (o.workload == "mutex_contended") return bench::run_contended_mutex<std::mutex>("std-mutex", o);
  if (o.workload == "mutex_handoff") return run_handoff(o);
  if (o.workload == "mutex_uncontended") return bench::run_uncontended_mutex<std::mutex>("std-mutex", o);
  if (o.workload == "mutex_hog") return bench::run_mutex_under_hog<std::mutex>("std-mutex", o);
  bench::usage_error(argv[0], "workload must be mutex_contended, mutex_handoff or mutex_uncontended");
}
