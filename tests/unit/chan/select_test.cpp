#include "brigade/chan/select.hpp"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "brigade/runtime/runtime.hpp"
#include "brigade/runtime/spawn.hpp"

namespace {

using namespace std::chrono_literals;

TEST(select, the_default_branch_runs_when_nothing_is_ready) {
  brigade::channel<int> a(0);
  brigade::channel<std::string> b(0);
  std::optional<int> x;
  std::optional<std::string> y;
  EXPECT_EQ(brigade::try_select(brigade::recv_case(a, x), brigade::recv_case(b, y)), std::nullopt);
  EXPECT_EQ(brigade::try_select(brigade::send_case(a, 1)), std::nullopt);  // nobody receives
}

TEST(select, a_ready_case_runs_and_reports_its_index) {
  brigade::channel<int> a(1);
  brigade::channel<std::string> b(1);
  b.send_blocking("hello");
  std::optional<int> x;
  std::optional<std::string> y;
  EXPECT_EQ(brigade::try_select(brigade::recv_case(a, x), brigade::recv_case(b, y)), 1u);
  EXPECT_EQ(y, "hello");
  EXPECT_EQ(brigade::select_blocking(brigade::recv_case(b, y), brigade::send_case(a, 5)), 1u);
  EXPECT_EQ(a.recv_blocking(), 5);
}

TEST(select, an_unchosen_send_case_does_not_send) {
  brigade::channel<int> ready(1);
  brigade::channel<int> other(1);
  ready.send_blocking(1);
  std::optional<int> got;
  // Only the receive is ready... and the send too (other has room): run many times, and check
  // that exactly one case ran each time.
  int sends = 0;
  for (int i = 0; i < 200; ++i) {
    if (!ready.size()) ready.send_blocking(1);
    const auto chosen = brigade::select_blocking(brigade::recv_case(ready, got), brigade::send_case(other, 9));
    if (chosen == 1) {
      ++sends;
      int out = 0;
      EXPECT_EQ(other.try_recv(out), brigade::channel_status::ok);
      EXPECT_EQ(ready.size(), 1u);  // the receive did not run
    } else {
      EXPECT_EQ(got, 1);
      EXPECT_EQ(other.size(), 0u);  // the send did not run
    }
  }
  EXPECT_GT(sends, 0);
  EXPECT_LT(sends, 200);
}

TEST(select, ready_cases_are_chosen_at_random) {
  std::array<brigade::channel<int>, 3> channels{brigade::channel<int>(1), brigade::channel<int>(1), brigade::channel<int>(1)};
  std::array<int, 3> chosen{};
  for (int i = 0; i < 3000; ++i) {
    for (auto& c : channels)
      if (c.size() == 0) c.send_blocking(i);
    std::optional<int> a, b, c;
    ++chosen[brigade::select_blocking(brigade::recv_case(channels[0], a), brigade::recv_case(channels[1], b),
                                      brigade::recv_case(channels[2], c))];
  }
  for (int count : chosen) {
    EXPECT_GT(count, 800);  // each ~1000: uniform choice (a biased one would starve a channel)
    EXPECT_LT(count, 1200);
  }
}

TEST(select, a_closed_channel_is_ready_and_receives_nothing) {
  brigade::channel<int> open(0);
  brigade::channel<int> closed(0);
  closed.close();
  std::optional<int> x, y{42};
  EXPECT_EQ(brigade::select_blocking(brigade::recv_case(open, x), brigade::recv_case(closed, y)), 1u);
  EXPECT_EQ(y, std::nullopt);
  EXPECT_THROW(brigade::select_blocking(brigade::send_case(closed, 1)), brigade::channel_closed);
}

TEST(select, empty_handles_are_never_ready_and_alone_are_an_error) {
  brigade::receiver<int> nil;
  brigade::channel<int> ready(1);
  ready.send_blocking(3);
  std::optional<int> x, y;
  EXPECT_EQ(brigade::select_blocking(brigade::recv_case(nil, x), brigade::recv_case(ready, y)), 1u);
  EXPECT_EQ(y, 3);
  EXPECT_THROW(brigade::select_blocking(brigade::recv_case(nil, x)), brigade::usage_error);
  EXPECT_EQ(brigade::try_select(brigade::recv_case(nil, x)), std::nullopt);  // default branch
}

TEST(select, a_thread_parks_until_a_case_becomes_ready) {
  brigade::channel<int> a(0);
  brigade::channel<std::string> b(0);
  std::thread later([&] {
    std::this_thread::sleep_for(10ms);
    b.send_blocking("late");
  });
  std::optional<int> x;
  std::optional<std::string> y;
  EXPECT_EQ(brigade::select_blocking(brigade::recv_case(a, x), brigade::recv_case(b, y)), 1u);
  EXPECT_EQ(y, "late");
  later.join();
  // The losing case left a's queue: a send to a now finds nobody.
  EXPECT_EQ(a.try_send(1), brigade::channel_status::would_block);
}

// Tasks select over a job channel and a quit channel (the usual Go worker loop).
brigade::task<int> worker(brigade::receiver<int> jobs, brigade::receiver<int> quit, brigade::sender<int> done) {
  int handled = 0;
  while (true) {
    std::optional<int> job, stop;
    const std::size_t which = co_await brigade::select(brigade::recv_case(jobs, job), brigade::recv_case(quit, stop));
    if (which == 1 || !job) break;
    ++handled;
    co_await done.send(*job);
  }
  co_return handled;
}

TEST(select, tasks_select_over_jobs_and_a_quit_signal) {
  brigade::runtime rt({.worker_threads = 2});
  brigade::channel<int> jobs(0), quit(0), done(brigade::unbounded);
  std::vector<brigade::join_handle<int>> workers;
  for (int w = 0; w < 3; ++w) workers.push_back(rt.spawn(worker(jobs.as_receiver(), quit.as_receiver(), done.as_sender())));
  for (int j = 0; j < 300; ++j) jobs.send_blocking(j);
  quit.close();  // every worker's select sees quit ready
  int handled = 0;
  for (auto& w : workers) handled += w.join();
  EXPECT_EQ(handled, 300);
  long sum = 0;
  int out = 0;
  while (done.try_recv(out) == brigade::channel_status::ok) sum += out;
  EXPECT_EQ(sum, 299L * 300 / 2);
}

// A task selecting between sending and receiving, against threads on both ends.
TEST(select, a_task_selects_between_a_send_and_a_receive) {
  brigade::runtime rt({.worker_threads = 1});
  brigade::channel<int> in(0), out(0);
  auto pump = rt.spawn([](brigade::receiver<int> from, brigade::sender<int> to) -> brigade::task<int> {
    int pending = 0, moved = 0;
    bool open = true;
    while (open || pending > 0) {
      std::optional<int> value;
      if (pending > 0 && open) {
        if (co_await brigade::select(brigade::recv_case(from, value), brigade::send_case(to, 1)) == 1) {
          --pending;
          ++moved;
          continue;
        }
      } else if (pending > 0) {
        co_await to.send(1);
        --pending;
        ++moved;
        continue;
      } else {
        value = co_await from.recv();
      }
      if (value) pending += *value; else open = false;
    }
    co_return moved;
  }(in.as_receiver(), out.as_sender()));
  std::thread feeder([&] {
    for (int i = 0; i < 100; ++i) in.send_blocking(2);
    in.close();
  });
  int received = 0;
  for (int i = 0; i < 200; ++i) received += out.recv_blocking().value_or(0);
  feeder.join();
  EXPECT_EQ(pump.join(), 200);
  EXPECT_EQ(received, 200);
}

TEST(select, co_await_outside_a_runtime_is_a_usage_error) {
  brigade::channel<int> ch(0);
  std::optional<int> x;
  auto awaiter = brigade::select(brigade::recv_case(ch, x));
  EXPECT_THROW(awaiter.await_suspend(std::noop_coroutine()), brigade::usage_error);
}

TEST(select, a_selecting_task_destroyed_at_shutdown_leaves_every_queue) {
  brigade::channel<int> a(0), b(0);
  std::atomic<bool> started{false};
  {
    brigade::runtime rt({.worker_threads = 1});
    auto selecting = rt.spawn([](brigade::receiver<int> x, brigade::sender<int> y, std::atomic<bool>& s) -> brigade::task<void> {
      s = true;
      std::optional<int> got;
      (void)co_await brigade::select(brigade::recv_case(x, got), brigade::send_case(y, 1));
    }(a.as_receiver(), b.as_sender(), started));
    while (!started.load()) std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(2ms);
    rt.shutdown();
    EXPECT_THROW(selecting.join(), brigade::task_cancelled);
  }
  EXPECT_EQ(a.try_send(1), brigade::channel_status::would_block);
  int out = 0;
  EXPECT_EQ(b.try_recv(out), brigade::channel_status::would_block);
}

}  // namespace
