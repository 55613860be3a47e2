// A function that takes a receiver<T> (Go's <-chan T) cannot send on it.
// expect: no member named.*send
#include <brigade/chan/channel.hpp>

void drain(brigade::receiver<int> jobs) {
  while (auto job = jobs.recv()) (void)*job;
#if BRIGADE_COMPILE_FAIL
  jobs.send(1);
#endif
}

int main() {
  auto [tx, rx] = brigade::make_channel<int>(1);
  tx.close();
  drain(rx);
}
