// In a task, too: co_await on a receiver's send does not exist.
// expect: no member named.*send
#include <brigade/chan/channel.hpp>
#include <brigade/runtime/task.hpp>

brigade::task<void> echo(brigade::receiver<int> in) {
  while (auto value = co_await in.recv_async()) {
#if BRIGADE_COMPILE_FAIL
    co_await in.send_async(*value);
#endif
  }
}

int main() { (void)echo; }
