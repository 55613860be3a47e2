// A function that takes a sender<T> (Go's chan<- T) cannot receive from it.
// expect: no member named.*recv
#include <brigade/chan/channel.hpp>

void produce(brigade::sender<int> results) {
  results.send(1);
#if BRIGADE_COMPILE_FAIL
  (void)results.recv();
#endif
}

int main() {
  auto [tx, rx] = brigade::make_channel<int>(1);
  produce(tx);
  (void)rx.recv();
}
