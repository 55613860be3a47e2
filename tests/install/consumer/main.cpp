// Runs a trivial task on the installed library: the smallest complete brigade program.
#include <brigade/brigade.hpp>
#include <cstdio>

namespace {
brigade::task<int> answer() { co_return 42; }
}  // namespace

int main() {
  brigade::runtime rt({.worker_threads = 1});
  const int value = rt.block_on(answer());
  std::printf("answer %d\n", value);
  return value == 42 ? 0 : 1;
}
