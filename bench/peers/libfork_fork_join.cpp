// libfork_fork_join.cpp: libfork (lf::lazy_pool) peer of bench/runtime_fork_join.cpp (issue 19).
//
// Built only when bench/CMakeLists.txt is given a libfork checkout
// (-DBRIGADE_LIBFORK_SOURCE=<dir>, or run_benchmarks.py --libfork DIR); nothing of libfork is
// copied here, its headers are included from that checkout (header-only). libfork asks for
// C++23, so this program is compiled with -std=c++2b (the others with C++20), and by g++ where
// the build's compiler is clang 16 or older, which libfork's BUILDING.md says miscompiles it
// (built with clang-16 this program crashed in 3 of 8 spawn processes; see bench/CMakeLists.txt).
//
// libfork is a continuation-stealing library with strict fork-join: `co_await lf::fork[&r, f](x)`
// runs the child f(x) at once on this thread and leaves the parent's continuation for a thief;
// `co_await lf::call[&r, f](x)` runs a child without offering the continuation; `co_await
// lf::join` waits for every child forked since the last join. Async functions are lambdas whose
// first parameter is the function itself, and their frames live on libfork's cactus stack.
//
// Workloads, as brigade's (bench/runtime_fork_join.cpp) maps onto libfork:
//   skynet  1,111,111 tasks: each inner node forks its 10 children (lf::fork, each writing its
//           result into a std::array in the node's frame), then lf::join, as brigade's
//           when_all(array) starts 10 children and waits for all. Leaves return their number.
//           Answer 499999500000.
//   fib     fib(n) (default 32) with a fork at every call, libfork's own idiom: lf::fork
//           fib(n-1), lf::call fib(n-2), lf::join. No serial cutoff. Answer fib(n).
//   spawn   inside one task: 1,000,000 lf::fork of an empty async function, all joined. As
//           everywhere in libfork, the forking thread runs each child at once and the other
//           worker can only steal the rest of the loop (brigade's thief takes the children).
//           libfork counts a task's steals and joined children between two joins in 16-bit
//           fields (core/impl/frame.hpp: m_steal, m_join); each steal takes the continuation
//           of one fork, so a scope of more than 65,534 forks could overflow them. The task
//           therefore joins after every 62,500 forks: 16 joins for the 1M. Every fork is still
//           its own task; none is run as a plain call.
//
// Thread count: lf::lazy_pool(--threads), made before timing (its workers sleep when they
// find no work). main blocks in lf::sync_wait(pool, ...), which submits the root task to the
// pool, so --threads threads compute, as with brigade's workers while main waits in block_on.
// Built without hwloc (LF_USE_HWLOC is not defined): no NUMA topology, the pool takes the
// thread count given.
#include "libfork/core.hpp"
#include "libfork/schedule.hpp"

#include <array>
#include <cstdint>

#include "../bench_util.hpp"

// libfork spells a fork lf::fork[&result, function](args) where the compiler has C++23's
// multidimensional subscript (clang 16 with -std=c++2b), and lf::fork(&result, function)(args),
// the same binding (deprecated where [] exists), where it has not (g++ 12).
#if defined(__cpp_multidimensional_subscript) && __cpp_multidimensional_subscript >= 202211L
#define LIBFORK_FORK(...) lf::fork[__VA_ARGS__]
#define LIBFORK_CALL(...) lf::call[__VA_ARGS__]
#else
#define LIBFORK_FORK(...) lf::fork(__VA_ARGS__)
#define LIBFORK_CALL(...) lf::call(__VA_ARGS__)
#endif

namespace {

// The largest number of forks between two joins in the spawn workload (see above).
constexpr long long forks_per_join = 62'500;

inline constexpr auto skynet = [](auto skynet, std::uint64_t num, std::uint64_t size) -> lf::task<std::uint64_t> {
  if (size == 1) co_return num;
  std::array<std::uint64_t, 10> results{};
  const std::uint64_t child = size / 10;
  for (std::uint64_t i = 0; i < 10; ++i) co_await LIBFORK_FORK(&results[i], skynet)(num + i * child, child);
  co_await lf::join;
  std::uint64_t sum = 0;
  for (auto v : results) sum += v;
  co_return sum;
};

inline constexpr auto fib = [](auto fib, int n) -> lf::task<std::uint64_t> {
  if (n < 2) co_return static_cast<std::uint64_t>(n);
  std::uint64_t a = 0;
  std::uint64_t b = 0;
  co_await LIBFORK_FORK(&a, fib)(n - 1);
  co_await LIBFORK_CALL(&b, fib)(n - 2);
  co_await lf::join;
  co_return a + b;
};

inline constexpr auto empty = [](auto) -> lf::task<void> { co_return; };

inline constexpr auto spawn_join = [](auto, long long n) -> lf::task<void> {
  for (long long i = 0; i < n; ++i) {
    co_await LIBFORK_FORK(empty)();
    if ((i + 1) % forks_per_join == 0) co_await lf::join;
  }
  co_await lf::join;
};

}  // namespace

int main(int argc, char** argv) {
  const bench::options o = bench::parse_options(argc, argv);
  lf::lazy_pool pool(o.threads);

  const int status = bench::run_fork_join(
      "libfork", o, [&] { return lf::sync_wait(pool, skynet, std::uint64_t{0}, bench::skynet_size); },
      [&](int n) { return lf::sync_wait(pool, fib, n); },
      [&](long long n) { lf::sync_wait(pool, spawn_join, n); });
  if (status != bench::unknown_workload) return status;
  bench::usage_error(argv[0], "workload must be skynet, fib or spawn");
}
