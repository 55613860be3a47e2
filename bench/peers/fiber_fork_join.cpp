// fiber_fork_join.cpp: Boost.Fiber (1.74) peer of brigade's fork-join, memory and idle
// benchmarks, on the boost::fibers::algo::work_stealing scheduler over N threads.
//
// Workloads:
//   skynet  1,111,111 fibers: every inner node starts 10 child fibers and joins them; leaves
//           return their number. Answer 499999500000.
//   fib     fib(n) with a fiber at every call: fiber(fib(n-1)), fib(n-2) inline, join(). No
//           serial cutoff. Answer fib(n). run_benchmarks.py says which n it ran.
//   spawn   1,000,000 empty detached fibers, each counting down one shared counter under a
//           fibers::mutex; the main fiber waits on a fibers::condition_variable until zero.
//   memory  N fibers (--n, default 1,000,000; run_benchmarks.py runs 100,000: a million two-page
//           stacks is 8 GB) blocked on one fibers::condition_variable: RSS growth per fiber.
//   idle    the scheduler's threads after a short parallel job, idle for --idle-ms.
//   fiber_yield  two fibers on one thread (round_robin) yielding n times each: ns per switch.
//
// Threads: work_stealing(N) is installed on main and N-1 helper threads; main's own fiber runs
// the benchmark, so N threads run fibers, as with brigade's N workers. The helper threads sit in
// a fiber-aware wait until the end, which lets their schedulers run and steal fibers.
//
// Configuration: that of Boost.Fiber's own skynet programs (performance/fiber/skynet_*.cpp):
//   - launch::dispatch: a new fiber runs at once and its parent goes on the ready queue (where
//     another thread may steal it). launch::post (the default) was measured too: it runs the
//     skynet tree breadth first, keeps most of its 1.1M stacks alive at once (2.8 GB RSS) and
//     was slower.
//   - stacks: boost::fibers::fixedsize_stack (malloc, thread-safe: a fiber can end, and its
//     stack be freed, on another thread than its creator's) of 16 KiB (see stack_size).
//   - work_stealing's `suspend` flag: false (the default: idle threads spin) for the timed
//     workloads; the idle workload runs both settings and reports them as separate impls
//     ("fiber" = suspend=false, the default; "fiber-suspend" = suspend=true).
#include <boost/fiber/all.hpp>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "../bench_util.hpp"

namespace {

namespace fibers = boost::fibers;

// 16 KiB. Boost.Fiber's own skynet programs use two pages (8 KiB); with 8 KiB the memory
// workload (100k fibers waiting on one condition variable, then notify_all) crashed in 3 of 7
// runs here with glibc heap corruption (not diagnosed further; a stack overflow into the
// neighbouring malloc chunk is the likely cause), while 16 KiB ran clean 6 times in 6.
constexpr std::size_t stack_size = 16 * 1024;

template <class Fn>
fibers::fiber start(Fn&& fn) {
  return fibers::fiber(fibers::launch::dispatch, std::allocator_arg,
                       fibers::fixedsize_stack(stack_size), std::forward<Fn>(fn));
}

// main + (threads - 1) helper threads, all with work_stealing(threads, suspend).
class fiber_threads {
 public:
  fiber_threads(std::size_t threads, bool suspend) {
    const auto n = static_cast<std::uint32_t>(threads);
    for (std::uint32_t i = 1; i < n; ++i) {
      helpers_.emplace_back([this, n, suspend] {
        fibers::use_scheduling_algorithm<fibers::algo::work_stealing>(n, suspend);
        std::unique_lock<fibers::mutex> lk(mtx_);
        cnd_.wait(lk, [this] { return done_; });
      });
    }
    // The work_stealing constructor waits until all n threads have installed theirs.
    fibers::use_scheduling_algorithm<fibers::algo::work_stealing>(n, suspend);
  }
  ~fiber_threads() {
    {
      std::unique_lock<fibers::mutex> lk(mtx_);
      done_ = true;
    }
    cnd_.notify_all();
    for (auto& t : helpers_) t.join();
  }
  fiber_threads(const fiber_threads&) = delete;
  fiber_threads& operator=(const fiber_threads&) = delete;

 private:
  fibers::mutex mtx_;
  fibers::condition_variable_any cnd_;
  bool done_ = false;
  std::vector<std::thread> helpers_;
};

std::uint64_t skynet(std::uint64_t num, std::uint64_t size) {
  if (size == 1) return num;
  std::array<std::uint64_t, 10> results{};
  std::array<fibers::fiber, 10> children;
  const std::uint64_t child = size / 10;
  for (std::uint64_t i = 0; i < 10; ++i) {
    children[i] = start([&results, i, num, child] { results[i] = skynet(num + i * child, child); });
  }
  for (auto& f : children) f.join();
  std::uint64_t sum = 0;
  for (auto v : results) sum += v;
  return sum;
}

std::uint64_t fib(int n) {
  if (n < 2) return static_cast<std::uint64_t>(n);
  std::uint64_t a = 0;
  fibers::fiber f = start([&a, n] { a = fib(n - 1); });
  std::uint64_t b = fib(n - 2);
  f.join();
  return a + b;
}

int run_idle(bench::options o, std::string_view impl, bool suspend) {
  o.workload = "idle";
  fiber_threads pool(o.threads, suspend);
  const std::uint64_t warm = fib(15);
  // The main thread sleeps as an OS thread (it is idle too); the helpers wait in their
  // schedulers.
  return bench::measure_idle(impl, o, warm == bench::fib_answer(15));
}

int run_memory(const bench::options& o) {
  const long long n = o.n > 0 ? o.n : 1'000'000;
  fiber_threads pool(o.threads, false);
  fibers::mutex mtx;
  fibers::condition_variable cnd;
  bool go = false;
  std::atomic<long long> started{0}, finished{0};
  (void)fib(10);  // warm the schedulers and this thread's stack pool
  const long long before = bench::rss_bytes();
  const auto t0 = bench::steady::now();
  for (long long i = 0; i < n; ++i) {
    start([&] {
      started.fetch_add(1, std::memory_order_relaxed);
      std::unique_lock<fibers::mutex> lk(mtx);
      cnd.wait(lk, [&] { return go; });
      lk.unlock();
      finished.fetch_add(1, std::memory_order_relaxed);
    }).detach();
  }
  while (started.load(std::memory_order_relaxed) < n) boost::this_fiber::yield();
  const double spawn_ms = bench::ms_since(t0);
  boost::this_fiber::sleep_for(std::chrono::milliseconds(50));  // let the last ones block
  const long long after = bench::rss_bytes();
  const auto t1 = bench::steady::now();
  {
    std::unique_lock<fibers::mutex> lk(mtx);
    go = true;
  }
  cnd.notify_all();
  while (finished.load(std::memory_order_relaxed) < n) boost::this_fiber::yield();
  const double wake_ms = bench::ms_since(t1);
  bench::memory_line("fiber", o, spawn_ms, wake_ms, n, before, after, true)
      .num("stack_bytes", static_cast<unsigned long long>(stack_size))
      .print();
  return 0;
}

// Two fibers on this thread (the default round_robin scheduler) calling yield() n times each.
int run_yield(const bench::options& o) {
  return bench::run_yield_switches("fiber", o, [](long long n) {
    auto yielder = [n] {
      for (long long i = 0; i < n; ++i) boost::this_fiber::yield();
    };
    fibers::fiber a(yielder), b(yielder);
    a.join();
    b.join();
  });
}

}  // namespace

int main(int argc, char** argv) {
  const bench::options o = bench::parse_options(argc, argv);
  if (o.workload == "fiber_yield") return run_yield(o);
  if (o.workload == "idle") return run_idle(o, "fiber", false);
  if (o.workload == "idle-suspend") return run_idle(o, "fiber-suspend", true);
  if (o.workload == "memory") return run_memory(o);

  fiber_threads pool(o.threads, false);
  // spawn: detached fibers counted down to zero, the way Go's peer uses a sync.WaitGroup:
  // keeping 1M joinable fiber handles keeps 1M stacks alive until they are joined (7 GB of RSS
  // with two-page stacks here, and ~40 s of page faults), which measures the allocator instead.
  const int status = bench::run_fork_join(
      "fiber", o, [&] { return skynet(0, bench::skynet_size); }, [&](int n) { return fib(n); },
      [&](long long n) {
        fibers::mutex mtx;
        fibers::condition_variable cnd;
        long long remaining = n;  // guarded by mtx
        for (long long i = 0; i < n; ++i) {
          start([&] {
            std::unique_lock<fibers::mutex> lk(mtx);
            if (--remaining == 0) cnd.notify_one();
          }).detach();
        }
        std::unique_lock<fibers::mutex> lk(mtx);
        cnd.wait(lk, [&] { return remaining == 0; });
      });
  if (status != bench::unknown_workload) return status;
  bench::usage_error(argv[0], "workload must be skynet, fib, spawn, memory, fiber_yield, idle or idle-suspend");
}
