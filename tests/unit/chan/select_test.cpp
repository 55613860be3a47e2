#include "brigade/chan/select.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <string>
#include <cstdint>
#include <optional>
#include <stop_token>
#include <thread>
#include <utility>
#include <vector>

#include "../until_parked.hpp"
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
  b.send("hello");
  std::optional<int> x;
  std::optional<std::string> y;
  EXPECT_EQ(brigade::try_select(brigade::recv_case(a, x), brigade::recv_case(b, y)), 1u);
  EXPECT_EQ(y, "hello");
  EXPECT_EQ(brigade::select(brigade::recv_case(b, y), brigade::send_case(a, 5)), 1u);
  EXPECT_EQ(a.recv(), 5);
}

TEST(select, an_unchosen_send_case_does_not_send) {
  brigade::channel<int> ready(1);
  brigade::channel<int> other(1);
  ready.send(1);
  std::optional<int> got;
  // Only the receive is ready... and the send too (other has room): run many times, and check
  // that exactly one case ran each time.
  int sends = 0;
  for (int i = 0; i < 200; ++i) {
    if (!ready.size()) ready.send(1);
    const auto chosen = brigade::select(brigade::recv_case(ready, got), brigade::send_case(other, 9));
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
      if (c.size() == 0) c.send(i);
    std::optional<int> a, b, c;
    ++chosen[brigade::select(brigade::recv_case(channels[0], a), brigade::recv_case(channels[1], b),
                                      brigade::recv_case(channels[2], c))];
  }
  for (int count : chosen) {
    EXPECT_GT(count, 800);  // each ~1000: uniform choice (a biased one would starve a channel)
    EXPECT_LT(count, 1200);
  }
}

// ../shared/repros/parked_select_always_pairs_first_case.cpp (Go's TestPseudoRandomSend): a
// select parked with two send cases on one unbuffered channel was always completed through case 0,
// because its cases were queued in case order. The receiver here takes only from a parked
// sender (try_recv on a rendezvous channel), so every round exercises the parked select.
TEST(select, parked_cases_on_one_channel_are_queued_in_a_random_order) {
  constexpr int rounds = 200;
  brigade::channel<int> c(0);
  std::thread selecting([&] {
    for (int i = 0; i < rounds; ++i) (void)brigade::select(brigade::send_case(c, 1), brigade::send_case(c, 0));
  });
  int ones = 0, zeros = 0;
  for (int i = 0; i < rounds; ++i) {
    int value = -1;
    while (c.try_recv(value) != brigade::channel_status::ok) std::this_thread::yield();
    (value == 1 ? ones : zeros) += 1;
  }
  selecting.join();
  // Binomial(200, 1/2): outside 60..140 with probability ~1e-8.
  EXPECT_GT(ones, 60);
  EXPECT_GT(zeros, 60);
}

// ../shared/repros/select_snapshot_broken_by_lock_free_path.cpp (Go's TestNonblockSelectRace):
// c1 holds a value; another thread sends on c2 and only then drains c1 (with try_recv, the
// lock-free ring path of a bounded channel), so at every moment one of them holds a value and a
// try_select over both must never take its default. It did, tens of times in 20,000 rounds,
// because the lock-free operations ran between the select's polls of c1 and c2.
template <std::size_t Idle>
int try_select_defaults(int rounds) {
  std::array<brigade::channel<int>, Idle> idle;
  for (auto& ch : idle) ch = brigade::channel<int>(1);
  std::array<std::optional<int>, Idle + 2> out;
  std::optional<brigade::channel<int>> c1, c2;
  std::atomic<int> go{-1}, done{0};
  int defaults = 0;
  std::thread selecting([&] {
    for (int r = 0; r < rounds; ++r) {
      for (int spins = 0; go.load(std::memory_order_acquire) != r; ++spins)
        if (spins > 1000) std::this_thread::yield();  // the other thread may be preempted
      const auto chosen = [&]<std::size_t... I>(std::index_sequence<I...>) {
        return brigade::try_select(brigade::recv_case(*c1, out[0]), brigade::recv_case(*c2, out[1]),
                                   brigade::recv_case(idle[I], out[I + 2])...);
      }(std::make_index_sequence<Idle>{});
      if (!chosen) ++defaults;
      done.fetch_add(1, std::memory_order_acq_rel);
    }
  });
  std::uint32_t sweep = 12345;
  for (int r = 0; r < rounds; ++r) {
    c1.emplace(1);
    c2.emplace(1);
    c1->send(1);
    sweep = sweep * 1664525u + 1013904223u;
    const unsigned delay = 1u << ((sweep >> 16) % 12);  // sweeps the relative timing
    done.store(0, std::memory_order_relaxed);
    go.store(r, std::memory_order_release);
    for (unsigned i = 0; i < delay; ++i) asm volatile("" ::: "memory");
    c2->send(1);
    int drained = 0;
    (void)c1->try_recv(drained);
    for (int spins = 0; done.load(std::memory_order_acquire) != 1; ++spins)
      if (spins > 1000) std::this_thread::yield();
  }
  selecting.join();
  return defaults;
}

TEST(select, try_select_sees_one_snapshot_of_bounded_channels_used_without_their_lock) {
  EXPECT_EQ(try_select_defaults<0>(4000), 0);
  EXPECT_EQ(try_select_defaults<8>(4000), 0);
}

TEST(select, a_closed_channel_is_ready_and_receives_nothing) {
  brigade::channel<int> open(0);
  brigade::channel<int> closed(0);
  closed.close();
  std::optional<int> x, y{42};
  EXPECT_EQ(brigade::select(brigade::recv_case(open, x), brigade::recv_case(closed, y)), 1u);
  EXPECT_EQ(y, std::nullopt);
  EXPECT_THROW(brigade::select(brigade::send_case(closed, 1)), brigade::channel_closed);
}

TEST(select, empty_handles_are_never_ready_and_alone_are_an_error) {
  brigade::receiver<int> nil;
  brigade::channel<int> ready(1);
  ready.send(3);
  std::optional<int> x, y;
  EXPECT_EQ(brigade::select(brigade::recv_case(nil, x), brigade::recv_case(ready, y)), 1u);
  EXPECT_EQ(y, 3);
  EXPECT_THROW(brigade::select(brigade::recv_case(nil, x)), brigade::usage_error);
  EXPECT_EQ(brigade::try_select(brigade::recv_case(nil, x)), std::nullopt);  // default branch
}

TEST(select, a_thread_parks_until_a_case_becomes_ready) {
  brigade::channel<int> a(0);
  brigade::channel<std::string> b(0);
  const long selecting = brigade_test::this_thread_id();
  std::thread later([&] {
    brigade_test::until_thread_sleeps(selecting);  // the select is parked on both channels
    b.send("late");
  });
  std::optional<int> x;
  std::optional<std::string> y;
  EXPECT_EQ(brigade::select(brigade::recv_case(a, x), brigade::recv_case(b, y)), 1u);
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
    const std::size_t which = co_await brigade::select_async(brigade::recv_case(jobs, job), brigade::recv_case(quit, stop));
    if (which == 1 || !job) break;
    ++handled;
    co_await done.send_async(*job);
  }
  co_return handled;
}

TEST(select, tasks_select_over_jobs_and_a_quit_signal) {
  brigade::runtime rt({.worker_threads = 2});
  brigade::channel<int> jobs(0), quit(0), done(brigade::unbounded);
  std::vector<brigade::join_handle<int>> workers;
  for (int w = 0; w < 3; ++w) workers.push_back(rt.spawn(worker(jobs.as_receiver(), quit.as_receiver(), done.as_sender())));
  for (int j = 0; j < 300; ++j) jobs.send(j);
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
        if (co_await brigade::select_async(brigade::recv_case(from, value), brigade::send_case(to, 1)) == 1) {
          --pending;
          ++moved;
          continue;
        }
      } else if (pending > 0) {
        co_await to.send_async(1);
        --pending;
        ++moved;
        continue;
      } else {
        value = co_await from.recv_async();
      }
      if (value) pending += *value; else open = false;
    }
    co_return moved;
  }(in.as_receiver(), out.as_sender()));
  std::thread feeder([&] {
    for (int i = 0; i < 100; ++i) in.send(2);
    in.close();
  });
  int received = 0;
  for (int i = 0; i < 200; ++i) received += out.recv().value_or(0);
  feeder.join();
  EXPECT_EQ(pump.join(), 200);
  EXPECT_EQ(received, 200);
}

TEST(select, co_await_outside_a_runtime_is_a_usage_error) {
  brigade::channel<int> ch(0);
  std::optional<int> x;
  auto awaiter = brigade::select_async(brigade::recv_case(ch, x));
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
      (void)co_await brigade::select_async(brigade::recv_case(x, got), brigade::send_case(y, 1));
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

namespace {

// Go's reflect.Select: a select over a list of cases built at run time, here a fan-in over N
// channels, in a task and on a thread.
TEST(select, a_run_time_list_of_cases_fans_in_from_n_channels) {
  constexpr int channels = 7, per_channel = 200;
  std::vector<brigade::channel<int>> inputs;
  for (int c = 0; c < channels; ++c) inputs.emplace_back(4);
  std::vector<std::thread> producers;
  for (int c = 0; c < channels; ++c)
    producers.emplace_back([&, c] {
      for (int i = 0; i < per_channel; ++i) inputs[c].send(c * 1000 + i);
      inputs[c].close();
    });
  brigade::runtime rt({.worker_threads = 2});
  const auto [received, from_each_ok] = rt.block_on([](std::vector<brigade::channel<int>>& in) -> brigade::task<std::pair<int, bool>> {
    std::vector<int> next(in.size(), 0);  // per channel, the value expected next (FIFO per channel)
    std::vector<bool> open(in.size(), true);
    int count = 0;
    bool in_order = true;
    while (std::count(open.begin(), open.end(), true) > 0) {
      std::vector<std::optional<int>> got(in.size());
      std::vector<brigade::recv_case<int>> cases;
      std::vector<std::size_t> channel_of;  // case index -> channel
      for (std::size_t c = 0; c < in.size(); ++c)
        if (open[c]) {
          cases.emplace_back(in[c], got[c]);
          channel_of.push_back(c);
        }
      const std::size_t which = channel_of[co_await brigade::select_async(std::move(cases))];
      if (!got[which]) {
        open[which] = false;  // closed and drained
        continue;
      }
      in_order = in_order && *got[which] == static_cast<int>(which) * 1000 + next[which]++;
      ++count;
    }
    co_return std::pair{count, in_order};
  }(inputs));
  for (auto& p : producers) p.join();
  EXPECT_EQ(received, channels * per_channel);
  EXPECT_TRUE(from_each_ok);
}

TEST(select, a_run_time_list_on_a_thread_chooses_at_random_and_stops_on_request) {
  std::vector<brigade::channel<int>> ready;
  for (int c = 0; c < 3; ++c) ready.emplace_back(1);
  std::array<int, 3> chosen{};
  for (int i = 0; i < 3000; ++i) {
    for (auto& c : ready)
      if (c.size() == 0) c.send(i);
    std::vector<std::optional<int>> got(3);
    std::vector<brigade::recv_case<int>> cases;
    for (int c = 0; c < 3; ++c) cases.emplace_back(ready[c], got[c]);
    ++chosen[brigade::select(std::move(cases))];
  }
  for (int count : chosen) {
    EXPECT_GT(count, 800);  // each ~1000
    EXPECT_LT(count, 1200);
  }
  // try_select over an empty list takes its default; select over one would wait forever.
  EXPECT_FALSE(brigade::try_select(std::vector<brigade::recv_case<int>>{}).has_value());
  EXPECT_THROW((void)brigade::select(std::vector<brigade::recv_case<int>>{}), brigade::usage_error);
  // A stop request wakes a thread parked on the list, which completed no case.
  brigade::channel<int> never(0);
  std::stop_source stop;
  std::optional<int> got;
  const long selecting = brigade_test::this_thread_id();
  std::thread stopper([&] {
    brigade_test::until_thread_sleeps(selecting);  // the select is parked
    stop.request_stop();
  });
  std::vector<brigade::recv_case<int>> cases;
  cases.emplace_back(never, got);
  EXPECT_THROW((void)brigade::select(std::move(cases), stop.get_token()), brigade::task_cancelled);
  stopper.join();
  EXPECT_FALSE(got.has_value());
}

}  // namespace
