#include "brigade/fiber/go.hpp"

#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <span>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "brigade/chan/channel.hpp"
#include "brigade/fiber/fiber_local.hpp"
#include "brigade/fiber/this_fiber.hpp"
#include "brigade/net/tcp.hpp"
#include "brigade/runtime/runtime.hpp"
#include "brigade/runtime/spawn.hpp"
#include "brigade/sync/mutex.hpp"
#include "brigade/sync/wait_group.hpp"
#include "brigade/time/sleep.hpp"

namespace {

using namespace std::chrono_literals;

TEST(fiber, go_runs_a_function_and_join_returns_its_value) {
  brigade::runtime rt({.worker_threads = 2});
  auto handle = brigade::go(rt, [](int a, std::string b) { return b + std::to_string(a); }, 42, std::string("answer "));
  EXPECT_EQ(handle.join(), "answer 42");
}

TEST(fiber, an_exception_reaches_the_joiner) {
  brigade::runtime rt({.worker_threads = 1});
  auto handle = brigade::go(rt, [] { throw std::runtime_error("the fiber failed"); });
  try {
    handle.join();
    FAIL() << "join returned";
  } catch (const std::runtime_error& error) {
    EXPECT_STREQ(error.what(), "the fiber failed");
  }
}

TEST(fiber, a_task_awaits_a_fiber_and_a_fiber_awaits_a_task) {
  brigade::runtime rt({.worker_threads = 2});
  const int result = rt.block_on([]() -> brigade::task<int> {
    auto fiber = brigade::go([] {
      // From the fiber, a coroutine task: only the fiber waits.
      return brigade::this_fiber::await([]() -> brigade::task<int> {
        co_await brigade::sleep_for_async(1ms);
        co_return 20;
      }()) + 1;
    });
    co_return co_await fiber * 2;
  }());
  EXPECT_EQ(result, 42);
}

TEST(fiber, two_fibers_on_one_worker_ping_pong_through_blocking_channel_calls) {
  // One worker: if a blocking recv blocked the thread, the other fiber could never send.
  brigade::runtime rt({.worker_threads = 1});
  auto [ping_tx, ping_rx] = brigade::make_channel<int>(0);
  auto [pong_tx, pong_rx] = brigade::make_channel<int>(0);
  auto player = brigade::go(rt, [rx = std::move(ping_rx), tx = std::move(pong_tx)] {
    int hits = 0;
    while (auto ball = rx.recv()) {
      tx.send(*ball + 1);
      ++hits;
    }
    return hits;
  });
  auto server = brigade::go(rt, [tx = std::move(ping_tx), rx = std::move(pong_rx)]() mutable {
    int ball = 0;
    for (int i = 0; i < 1000; ++i) {
      tx.send(ball);
      ball = *rx.recv();
    }
    tx = brigade::sender<int>();  // closes the ping channel
    return ball;
  });
  EXPECT_EQ(server.join(), 1000);
  EXPECT_EQ(player.join(), 1000);
}

// Deep in plain functions, with no coroutine anywhere on the stack.
int deep_receive(const brigade::receiver<int>& rx, int depth) {
  if (depth == 0) return *rx.recv();
  volatile char frame[64] = {};  // a real frame per level
  return deep_receive(rx, depth - 1) + frame[0];
}

TEST(fiber, blocks_deep_in_a_plain_call_chain_on_a_channel_a_coroutine_fills_later) {
  brigade::runtime rt({.worker_threads = 1});
  auto [tx, rx] = brigade::make_channel<int>(0);
  std::atomic<bool> received{false};
  auto fiber = brigade::go(rt, [&received, rx = std::move(rx)] {
    const int value = deep_receive(rx, 100);
    received = true;
    return value;
  });
  auto producer = rt.spawn([](brigade::sender<int> out, std::atomic<bool>& seen) -> brigade::task<void> {
    co_await brigade::sleep_for_async(20ms);
    EXPECT_FALSE(seen.load());  // the fiber is still parked, and this task ran on the same worker
    co_await out.send_async(7);
  }(std::move(tx), received));
  producer.join();
  EXPECT_EQ(fiber.join(), 7);
}

TEST(fiber, a_sleeping_fiber_leaves_its_worker_to_others) {
  brigade::runtime rt({.worker_threads = 1});
  std::atomic<int> order{0};
  std::atomic<int> sleeper_done{0};
  std::atomic<int> runner_done{0};
  std::atomic<bool> sleeping{false};
  auto sleeper = brigade::go(rt, [&] {
    sleeping = true;
    brigade::sleep_for(200ms);  // the thread form, on a fiber
    sleeper_done = ++order;
  });
  while (!sleeping) std::this_thread::sleep_for(1ms);
  // The only worker is free while the sleeper sleeps: the runner goes first.
  auto runner = brigade::go(rt, [&] { runner_done = ++order; });
  sleeper.join();
  runner.join();
  EXPECT_EQ(runner_done.load(), 1);
  EXPECT_EQ(sleeper_done.load(), 2);
}

TEST(fiber, fibers_share_a_mutex_and_each_fiber_owns_its_lock_across_migrations) {
  brigade::runtime rt({.worker_threads = 2});
  brigade::mutex guard;
  long counter = 0;
  std::vector<brigade::join_handle<void>> fibers;
  for (int f = 0; f < 16; ++f)
    fibers.push_back(brigade::go(rt, [&] {
      for (int i = 0; i < 200; ++i) {
        guard.lock();
        const long seen = counter;
        if (i % 50 == 0) brigade::this_fiber::yield();  // holds the lock while other fibers run
        counter = seen + 1;
        guard.unlock();  // may be on another worker than the lock: the fiber owns it
      }
    }));
  for (auto& f : fibers) f.join();
  EXPECT_EQ(counter, 16 * 200);
}

TEST(fiber, another_fiber_on_the_same_thread_cannot_unlock_a_fibers_mutex) {
  brigade::runtime rt({.worker_threads = 1});
  brigade::mutex guard;
  auto [tx, rx] = brigade::make_channel<int>(0);
  auto holder = brigade::go(rt, [&guard, rx = std::move(rx)] {
    guard.lock();
    (void)rx.recv();  // parks holding the lock
    guard.unlock();
  });
  auto intruder = brigade::go(rt, [&guard, tx = std::move(tx)] {
    brigade::this_fiber::yield();
    EXPECT_THROW(guard.unlock(), brigade::usage_error);
    tx.send(1);
  });
  intruder.join();
  holder.join();
}

TEST(fiber, timed_receives_time_out_and_succeed_on_a_fiber) {
  brigade::runtime rt({.worker_threads = 1});
  auto [tx, rx] = brigade::make_channel<int>(0);
  std::atomic<bool> timed_out_once{false};
  auto fiber = brigade::go(rt, [&timed_out_once, rx = std::move(rx)] {
    int value = 0;
    const auto started = std::chrono::steady_clock::now();
    EXPECT_EQ(rx.try_recv_for(value, 20ms), brigade::channel_status::timed_out);
    EXPECT_GE(std::chrono::steady_clock::now() - started, 20ms);
    timed_out_once = true;
    EXPECT_EQ(rx.try_recv_for(value, 5s), brigade::channel_status::ok);
    return value;
  });
  auto sender = brigade::go(rt, [&timed_out_once, tx = std::move(tx)] {
    while (!timed_out_once) brigade::this_fiber::sleep_for(1ms);  // only after the first timeout
    brigade::this_fiber::sleep_for(10ms);                         // into the second wait
    tx.send(5);
  });
  sender.join();
  EXPECT_EQ(fiber.join(), 5);
}

TEST(fiber, abort_wakes_a_fiber_blocked_in_recv_and_no_value_is_lost) {
  brigade::runtime rt({.worker_threads = 2});
  auto [tx, rx] = brigade::make_channel<int>(1);
  std::atomic<bool> parked{false};
  auto fiber = brigade::go(rt, [&parked, rx]() {
    parked = true;
    return rx.recv();  // parks: nothing sent yet
  });
  while (!parked) std::this_thread::sleep_for(1ms);
  std::this_thread::sleep_for(10ms);
  fiber.abort();
  EXPECT_THROW(fiber.join(), brigade::task_cancelled);
  tx.send(9);                 // nobody took a value for the cancelled receive:
  EXPECT_EQ(rx.recv(), 9);    // it is still there
}

TEST(fiber, abort_reaches_a_fiber_in_a_mutex_wait_and_in_a_sleep) {
  brigade::runtime rt({.worker_threads = 2});
  brigade::mutex guard;
  guard.lock();
  auto locker = brigade::go(rt, [&guard] { guard.lock(); });
  auto sleeper = brigade::go(rt, [] { brigade::sleep_for(1h); });
  std::this_thread::sleep_for(20ms);
  locker.abort();
  sleeper.abort();
  EXPECT_THROW(locker.join(), brigade::task_cancelled);
  EXPECT_THROW(sleeper.join(), brigade::task_cancelled);
  guard.unlock();
  EXPECT_TRUE(guard.try_lock());  // the cancelled lock took nothing
  guard.unlock();
}

TEST(fiber, yield_lets_the_other_fiber_run_in_turn) {
  brigade::runtime rt({.worker_threads = 1});
  std::vector<int> trace;  // one worker: the fibers never run at once
  // Both fibers are started from a task on the worker, so that both are queued before either
  // runs (started from this thread, the first could finish its loop before the second exists).
  rt.block_on([](std::vector<int>& out) -> brigade::task<void> {
    auto yielder = [&out](int who) {
      for (int i = 0; i < 3; ++i) {
        out.push_back(who);
        brigade::this_fiber::yield();
      }
    };
    auto a = brigade::go(yielder, 0);
    auto b = brigade::go(yielder, 1);
    co_await a;
    co_await b;
  }(trace));
  ASSERT_EQ(trace.size(), 6u);
  for (std::size_t i = 1; i < trace.size(); ++i) EXPECT_NE(trace[i], trace[i - 1]) << "at " << i;
}

struct counted {
  static inline std::atomic<int> alive{0};
  std::string text;
  counted() { ++alive; }
  ~counted() { --alive; }
};

TEST(fiber, fiber_local_is_per_fiber_and_destroyed_when_the_fiber_ends) {
  static brigade::fiber_local<counted> local;
  brigade::runtime rt({.worker_threads = 2});
  std::vector<brigade::join_handle<std::string>> fibers;
  for (int f = 0; f < 8; ++f)
    fibers.push_back(brigade::go(rt, [f] {
      local->text = "fiber " + std::to_string(f);
      brigade::this_fiber::sleep_for(2ms);  // others set theirs meanwhile
      return local->text;
    }));
  for (int f = 0; f < 8; ++f) EXPECT_EQ(fibers[f].join(), "fiber " + std::to_string(f));
  EXPECT_EQ(counted::alive.load(), 0);
  EXPECT_THROW(local.get(), brigade::usage_error);  // off a fiber
}

TEST(fiber, thousands_of_fibers_park_on_a_channel_and_are_released) {
  brigade::runtime rt({.worker_threads = 2});
#if defined(BRIGADE_TSAN)
  constexpr int count = 2'000;  // ThreadSanitizer keeps a 256 KiB trace per fiber
#else
  constexpr int count = 10'000;
#endif
  brigade::channel<int> gate(0);
  brigade::wait_group done;
  done.add(count);
  std::atomic<long> sum{0};
  std::vector<brigade::join_handle<void>> fibers;
  fibers.reserve(count);
  for (int i = 0; i < count; ++i)
    fibers.push_back(brigade::go(rt, [&] {
      sum += *gate.recv();
      done.done();
    }));
  for (int i = 0; i < count; ++i) gate.send(1);
  done.wait();
  for (auto& f : fibers) f.join();
  EXPECT_EQ(sum.load(), count);
}

TEST(fiber, shutdown_unwinds_blocked_fibers_and_runs_their_destructors) {
  counted::alive = 0;
  {
    brigade::channel<int> never(0);  // outlives the runtime, whose fibers wait on it
    std::atomic<int> parked{0};
    brigade::runtime rt({.worker_threads = 2});
    for (int i = 0; i < 10; ++i)
      brigade::go(rt, [&never, &parked] {
        counted held;
        ++parked;
        (void)never.recv();  // nobody sends
      }).detach();
    while (parked.load() < 10) std::this_thread::sleep_for(1ms);
    EXPECT_EQ(counted::alive.load(), 10);
  }  // the runtime goes first here: its fibers are unwound
  EXPECT_EQ(counted::alive.load(), 0);
}

TEST(fiber, a_fiber_in_a_raw_system_call_does_not_hold_up_the_others) {
  // One worker: the liveness monitor sees it stuck in the system call and starts a compensating
  // worker for the fibers queued behind it.
  brigade::runtime rt({.worker_threads = 1});
  std::atomic<bool> blocked_returned{false};
  auto blocked = brigade::go(rt, [&] {
    ::usleep(1'000'000);  // no brigade call: the worker is stuck here
    blocked_returned = true;
  });
  std::this_thread::sleep_for(5ms);
  // Fibers started now run on a compensating worker, and finish first.
  std::vector<brigade::join_handle<int>> others;
  for (int i = 0; i < 20; ++i)
    others.push_back(brigade::go(rt, [i] {
      brigade::this_fiber::yield();
      return i;
    }));
  int sum = 0;
  for (auto& f : others) sum += f.join();
  EXPECT_FALSE(blocked_returned.load());
  EXPECT_EQ(sum, 190);
  blocked.join();
}

TEST(fiber, tcp_echo_with_blocking_socket_calls_on_one_worker) {
  // Server and client are fibers on one worker: each blocking accept, connect, read and write
  // parks only its fiber, so the other can run.
  brigade::runtime rt({.worker_threads = 1});
  auto listener = brigade::net::tcp_listener::bind(rt, brigade::net::endpoint::loopback_v4(0));
  const brigade::net::endpoint where = listener.local_endpoint();
  auto server = brigade::go(rt, [&rt, &listener] {
    auto [stream, peer] = listener.accept(rt);
    std::array<std::byte, 64> buffer;
    std::size_t echoed = 0;
    while (const std::size_t got = stream.read_some(buffer)) {
      stream.write_all(std::span(buffer).first(got));
      echoed += got;
    }
    return echoed;
  });
  auto client = brigade::go(rt, [&rt, where] {
    auto stream = brigade::net::tcp_stream::connect(rt, where);
    std::string all;
    for (int i = 0; i < 100; ++i) {
      const std::string message = "message " + std::to_string(i);
      stream.write_all(std::as_bytes(std::span(message)));
      std::string reply(message.size(), '\0');
      stream.read_exact(std::as_writable_bytes(std::span(reply)));
      all += reply;
    }
    stream.close();
    return all.size();
  });
  const std::size_t sent = client.join();
  EXPECT_EQ(server.join(), sent);
}

TEST(fiber, a_pinned_fiber_stays_on_its_worker_through_every_kind_of_wait) {
  brigade::runtime rt({.worker_threads = 2});
  brigade::channel<int> feed(0);
  std::vector<brigade::join_handle<int>> pinned;
  for (int f = 0; f < 6; ++f)
    pinned.push_back(brigade::go(rt, brigade::fiber_options{.pinned = true}, [&feed] {
      const long home = ::syscall(SYS_gettid);
      int moves = 0;
      for (int i = 0; i < 40; ++i) {
        switch (i % 4) {
          case 0: brigade::this_fiber::yield(); break;
          case 1: brigade::this_fiber::sleep_for(1ms); break;
          case 2:  // a task that may finish on the other worker
            (void)brigade::this_fiber::await(brigade::spawn([]() -> brigade::task<int> {
              co_await brigade::sleep_for_async(1ms);
              co_return 1;
            }()));
            break;
          default: (void)feed.recv(); break;  // woken by the main thread
        }
        if (::syscall(SYS_gettid) != home) ++moves;
      }
      return moves;
    }));
  // Unpinned fibers keep both workers busy, so that stealing has every chance.
  std::vector<brigade::join_handle<void>> others;
  for (int f = 0; f < 8; ++f)
    others.push_back(brigade::go(rt, [] {
      for (int i = 0; i < 200; ++i) brigade::this_fiber::yield();
    }));
  for (int i = 0; i < 6 * 10; ++i) feed.send(i);
  for (auto& f : pinned) EXPECT_EQ(f.join(), 0);
  for (auto& f : others) f.join();
}

TEST(fiber, misuse_is_an_error) {
  EXPECT_FALSE(brigade::this_fiber::is_fiber());
  try {
    (void)brigade::go([] {});  // no runtime on this thread
    FAIL() << "go() without a runtime returned";
  } catch (const brigade::usage_error& error) {
    EXPECT_NE(std::string(error.what()).find("go(runtime, fn)"), std::string::npos) << error.what();
  }
  EXPECT_THROW(brigade::this_fiber::yield(), brigade::usage_error);
  EXPECT_THROW((void)brigade::this_fiber::id(), brigade::usage_error);
  brigade::runtime rt({.worker_threads = 1});
  auto handle = brigade::go(rt, [] { return brigade::this_fiber::is_fiber() && brigade::this_fiber::id() != 0; });
  EXPECT_TRUE(handle.join());
  EXPECT_THROW(handle.join(), brigade::usage_error);  // joined twice
  auto detached = brigade::go(rt, [] {});
  detached.detach();
  EXPECT_THROW(detached.join(), brigade::usage_error);
  // In a task (not a fiber) the blocking forms still refuse.
  EXPECT_THROW(rt.block_on([]() -> brigade::task<void> {
    brigade::sleep_for(1ms);
    co_return;
  }()),
               brigade::usage_error);
}

TEST(fiber, a_plain_thread_and_fibers_block_on_the_same_channel) {
  brigade::runtime rt({.worker_threads = 2});
  brigade::channel<int> jobs(0);
  brigade::channel<int> results(brigade::unbounded);
  std::vector<brigade::join_handle<void>> workers;
  for (int w = 0; w < 4; ++w)
    workers.push_back(brigade::go(rt, [&] {
      while (auto job = jobs.recv()) results.send(*job * *job);
    }));
  for (int i = 1; i <= 100; ++i) jobs.send(i);  // the main thread blocks on the same channel
  jobs.close();
  for (auto& w : workers) w.join();
  long sum = 0;
  for (int i = 0; i < 100; ++i) sum += *results.recv();
  EXPECT_EQ(sum, 338350);
}

TEST(fiber_death, a_stack_overflow_is_reported_with_the_fibers_name) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        brigade::runtime rt({.worker_threads = 1});
        auto handle = brigade::go(rt, brigade::fiber_options{.stack_size = 16 * 1024, .name = "recursor"}, [] {
          struct recurse {
            static int down(int n) {
              volatile char frame[512];
              frame[0] = static_cast<char>(n);
              return n == 0 ? frame[0] : down(n - 1) + frame[0];
            }
          };
          return recurse::down(1'000'000);
        });
        (void)handle.join();
      },
      "fiber [0-9]+ \\(\"recursor\"\\) overflowed its stack of 16384 bytes");
}

}  // namespace
