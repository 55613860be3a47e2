// Temporaries in co_await expressions: the idiomatic code that g++ 12 miscompiles (it destroys
// the temporary twice: ../shared/repros/gcc12_capturing_lambda_in_co_await.cpp and
// gcc12_braced_temporary_in_send.cpp, a double free 5 of 5 runs). The README's toolchain (clang-16)
// compiles them correctly, and so must any compiler brigade's build accepts without the explicit
// opt-in (cmake/brigade-compiler-check.cmake). Under that opt-in, with g++ older than 13, these
// tests are skipped: they would crash the test program, which is the compiler's fault.
#include <gtest/gtest.h>

#include <string>
#include <utility>

#include "brigade/brigade.hpp"

namespace {

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#define BRIGADE_SKIP_ON_OLD_GCC() GTEST_SKIP() << "g++ older than 13 miscompiles temporaries in co_await"
#else
#define BRIGADE_SKIP_ON_OLD_GCC() (void)0
#endif

TEST(co_await_temporaries, a_capturing_lambda_passed_to_spawn_blocking) {
  BRIGADE_SKIP_ON_OLD_GCC();
  brigade::runtime rt({.worker_threads = 2});
  const int wrong = rt.block_on([]() -> brigade::task<int> {
    int mismatches = 0;
    for (int i = 0; i < 500; ++i) {
      std::string path = "/var/lib/brigade/some/long/path/that/is/not/small/" + std::to_string(i);
      const auto length = co_await brigade::spawn_blocking([path] { return path.size(); });
      if (length != path.size()) ++mismatches;
    }
    co_return mismatches;
  }());
  EXPECT_EQ(wrong, 0);
}

struct request {
  std::string body;
  int id;
};

TEST(co_await_temporaries, a_braced_temporary_passed_to_send) {
  BRIGADE_SKIP_ON_OLD_GCC();
  constexpr int count = 5000;
  brigade::runtime rt({.worker_threads = 2});
  auto [tx, rx] = brigade::make_channel<request>(8);
  auto consumer = rt.spawn([](brigade::receiver<request> in) -> brigade::task<int> {
    int wrong = 0, expected = 0;
    while (auto r = co_await in.recv_async()) {
      if (r->id != expected || r->body != std::string(40, 'x')) ++wrong;
      ++expected;
    }
    co_return wrong + (expected == count ? 0 : 1);
  }(std::move(rx)));
  rt.spawn([](brigade::sender<request> out) -> brigade::task<void> {
      for (int i = 0; i < count; ++i) co_await out.send_async(request{std::string(40, 'x'), i});
    }(std::move(tx)))
      .detach();
  EXPECT_EQ(consumer.join(), 0);
}

}  // namespace
