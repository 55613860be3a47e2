// Every awaitable brigade returns, and every guard, is [[nodiscard]]: a call whose result is
// dropped (`m.lock_async();` without co_await does nothing) is a warning, an error under -Werror.
// Case N (BRIGADE_COMPILE_FAIL=N) drops the result of one call; case 0 (the control) drops none.
// cases: 23
// flags: -Werror
// expect: nodiscard
#include <brigade/brigade.hpp>

#include <optional>
#include <string>
#include <vector>

#ifndef BRIGADE_COMPILE_FAIL
#define BRIGADE_COMPILE_FAIL 0
#endif

brigade::task<int> answer() { co_return 42; }

brigade::task<void> drops(brigade::mutex& m, brigade::rw_mutex& rw, brigade::semaphore& s, brigade::event& e,
                          brigade::latch& l, brigade::wait_group& wg, brigade::barrier& b,
                          brigade::condition_variable& cv, brigade::once& o, brigade::once_cell<int>& cell,
                          brigade::channel<int>& ch, brigade::oneshot_receiver<int>& one,
                          brigade::broadcast_receiver<int>& many, brigade::join_handle<int>& handle) {
  std::optional<int> slot;
  auto guard = co_await m.lock_async();
#if BRIGADE_COMPILE_FAIL == 1
  m.lock_async();
#endif
#if BRIGADE_COMPILE_FAIL == 2
  rw.lock_async();
#endif
#if BRIGADE_COMPILE_FAIL == 3
  rw.lock_shared_async();
#endif
#if BRIGADE_COMPILE_FAIL == 4
  s.acquire_async();
#endif
#if BRIGADE_COMPILE_FAIL == 5
  e.wait_async();
#endif
#if BRIGADE_COMPILE_FAIL == 6
  l.wait_async();
#endif
#if BRIGADE_COMPILE_FAIL == 7
  wg.wait_async();
#endif
#if BRIGADE_COMPILE_FAIL == 8
  b.arrive_and_wait_async();
#endif
#if BRIGADE_COMPILE_FAIL == 9
  cv.wait_async(guard);
#endif
#if BRIGADE_COMPILE_FAIL == 10
  o.call_async([]() -> brigade::task<void> { co_return; });
#endif
#if BRIGADE_COMPILE_FAIL == 11
  cell.get_or_init_async([]() -> brigade::task<int> { co_return 1; });
#endif
#if BRIGADE_COMPILE_FAIL == 12
  ch.send_async(1);
#endif
#if BRIGADE_COMPILE_FAIL == 13
  ch.recv_async();
#endif
#if BRIGADE_COMPILE_FAIL == 14
  one.recv_async();
#endif
#if BRIGADE_COMPILE_FAIL == 15
  many.recv_async();
#endif
#if BRIGADE_COMPILE_FAIL == 16
  brigade::select_async(brigade::recv_case(ch, slot));
#endif
#if BRIGADE_COMPILE_FAIL == 17
  brigade::yield_now();
#endif
#if BRIGADE_COMPILE_FAIL == 18
  brigade::this_task::stop_token();
#endif
#if BRIGADE_COMPILE_FAIL == 19
  brigade::when_all(answer(), answer());
#endif
#if BRIGADE_COMPILE_FAIL == 20
  brigade::when_any(answer(), answer());
#endif
#if BRIGADE_COMPILE_FAIL == 21
  answer();
#endif
#if BRIGADE_COMPILE_FAIL == 22
  m.try_lock_guard();
#endif
#if BRIGADE_COMPILE_FAIL == 23
  l.arrive_and_wait_async();
#endif
  (void)handle;
}

int main() {}
