// Cancel-safety of mutex, semaphore and rw_mutex under storms of stop requests: a cancelled
// lock, acquire or share never holds, and nothing is lost.
// The models are described in cancel_storm.hpp's opening comment; the harness is there too.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "brigade/brigade.hpp"
#include "cancel_storm.hpp"

namespace {

using namespace brigade_stress::cancel_storm;
using namespace std::chrono_literals;

// ---- mutex, semaphore, rw_mutex ---------------------------------------------------------------


brigade::task<void> lock_then_unlock(brigade::mutex& m) { auto held = co_await m.lock_async(); }
brigade::task<void> acquire_then_release(brigade::semaphore& s) {
  co_await s.acquire_async();
  s.release();
}
brigade::task<void> read_then_unlock(brigade::rw_mutex& l) { auto held = co_await l.lock_shared_async(); }
brigade::task<void> write_then_unlock(brigade::rw_mutex& l) { auto held = co_await l.lock_async(); }

struct mutex_round : round_base {
  static constexpr const char* name = "mutex";
  explicit mutex_round(dice&) : round_base(256) {}
  brigade::mutex m;
  occupancy held{1};

  brigade::task<void> work(int count, std::uint32_t seed) {
    std::minstd_rand random(seed);
    for (int i = 0; i < count; ++i) {
      const auto roll = static_cast<std::uint32_t>(random());
      if (roll % 8 == 0) {
        if (auto guard = m.try_lock_guard()) {
          occupancy::section inside(held);
          pause(roll >> 8);
        }
      } else {
        bool locked = false;
        try {
          auto guard = co_await m.lock_async();
          locked = true;
          operations.fetch_add(1, std::memory_order_relaxed);
          occupancy::section inside(held);
          pause(roll >> 8);
          if (roll % 5 == 0) co_await brigade::yield_now();  // a stop here unwinds while holding it
        } catch (const brigade::task_cancelled&) {
          if (!locked) cancelled_waits.fetch_add(1);
          throw;
        }
      }
      if (roll % 3 == 0) co_await brigade::yield_now();
    }
  }
  void work_blocking(stop_slot& slot, int count, std::uint32_t seed) {
    std::minstd_rand random(seed);
    for (int i = 0; i < count; ++i) {
      const auto roll = static_cast<std::uint32_t>(random());
      try {
        m.lock(slot.token());
      } catch (const brigade::task_cancelled&) {
        cancelled_thread_waits.fetch_add(1);
        if (slot.retired()) return;
        continue;
      }
      operations.fetch_add(1, std::memory_order_relaxed);
      {
        occupancy::section inside(held);
        pause(roll >> 8);
      }
      m.unlock();
      pause(roll >> 16);
    }
  }
  /// After the storm: free, taken at once, and handed to a task that queued. False on a hang.
  bool final_checks(brigade::runtime& rt) {
    held.check(problems, name);
    if (m.is_locked()) {
      problems.add("mutex: still locked after every party ended (a lock leaked to a cancelled waiter?)");
      return true;
    }
    if (!m.try_lock()) {
      problems.add("mutex: try_lock failed after every party ended");
      return true;
    }
    tasks.add(rt.spawn(lock_then_unlock(m)), fresh);
    std::this_thread::sleep_for(200us);  // it usually parks meanwhile
    m.unlock();
    return tasks.wait(fresh, steady::now() + hang_limit);
  }
  void check_free_again() {
    if (m.is_locked()) problems.add("mutex: locked after the final lock and unlock");
  }
};

struct semaphore_round : round_base {
  static constexpr const char* name = "semaphore";
  explicit semaphore_round(dice& d) : round_base(256), permits(d.between(1, 4)), s(permits), held(permits) {}
  const int permits;
  brigade::semaphore s;
  occupancy held;

  /// Releases one permit when destroyed (also when a stop unwinds the holder).
  class permit {
   public:
    explicit permit(brigade::semaphore& from) : from_(from) {}
    ~permit() { from_.release(); }
    permit(const permit&) = delete;
    permit& operator=(const permit&) = delete;

   private:
    brigade::semaphore& from_;
  };

  brigade::task<void> work(int count, std::uint32_t seed) {
    std::minstd_rand random(seed);
    for (int i = 0; i < count; ++i) {
      const auto roll = static_cast<std::uint32_t>(random());
      if (roll % 8 == 0) {
        if (s.try_acquire()) {
          permit mine(s);
          occupancy::section inside(held);
          pause(roll >> 8);
        }
      } else {
        try {
          co_await s.acquire_async();
        } catch (const brigade::task_cancelled&) {
          cancelled_waits.fetch_add(1);
          throw;
        }
        permit mine(s);
        operations.fetch_add(1, std::memory_order_relaxed);
        occupancy::section inside(held);
        pause(roll >> 8);
        if (roll % 5 == 0) co_await brigade::yield_now();  // a stop here unwinds while holding it
      }
      if (roll % 3 == 0) co_await brigade::yield_now();
    }
  }
  void work_blocking(stop_slot& slot, int count, std::uint32_t seed) {
    std::minstd_rand random(seed);
    for (int i = 0; i < count; ++i) {
      const auto roll = static_cast<std::uint32_t>(random());
      try {
        s.acquire(slot.token());
      } catch (const brigade::task_cancelled&) {
        cancelled_thread_waits.fetch_add(1);
        if (slot.retired()) return;
        continue;
      }
      permit mine(s);
      operations.fetch_add(1, std::memory_order_relaxed);
      occupancy::section inside(held);
      pause(roll >> 8);
    }
  }
  bool final_checks(brigade::runtime& rt) {
    held.check(problems, name);
    if (s.available() != permits) {
      problems.add("semaphore: " + std::to_string(s.available()) + " permits available after every party ended, not " +
                   std::to_string(permits) + " (a permit lost or created)");
      return true;
    }
    for (int i = 0; i < permits; ++i)
      if (!s.try_acquire()) problems.add("semaphore: try_acquire " + std::to_string(i) + " failed with permits free");
    if (s.try_acquire()) problems.add("semaphore: a permit beyond the " + std::to_string(permits) + " was taken");
    tasks.add(rt.spawn(acquire_then_release(s)), fresh);
    std::this_thread::sleep_for(200us);
    s.release(permits);
    return tasks.wait(fresh, steady::now() + hang_limit);
  }
  void check_free_again() {
    if (s.available() != permits)
      problems.add("semaphore: " + std::to_string(s.available()) + " permits available at the end, not " +
                   std::to_string(permits));
  }
};

struct rw_round : round_base {
  static constexpr const char* name = "rw_mutex";
  explicit rw_round(dice&) : round_base(256) {}
  brigade::rw_mutex l;
  std::atomic<int> readers{0};
  std::atomic<int> writers{0};

  /// Inside as a reader or a writer: a writer finds nobody else, a reader no writer.
  class section {
   public:
    section(rw_round& round, bool writing) : round_(round), writing_(writing) {
      if (writing_) {
        if (round_.writers.fetch_add(1) != 0 || round_.readers.load() != 0)
          round_.problems.add("rw_mutex: a writer entered while others were inside");
      } else {
        round_.readers.fetch_add(1);
        if (round_.writers.load() != 0) round_.problems.add("rw_mutex: a reader entered while a writer was inside");
      }
    }
    ~section() { (writing_ ? round_.writers : round_.readers).fetch_sub(1); }
    section(const section&) = delete;
    section& operator=(const section&) = delete;

   private:
    rw_round& round_;
    bool writing_;
  };

  brigade::task<void> work(int count, std::uint32_t seed) {
    std::minstd_rand random(seed);
    for (int i = 0; i < count; ++i) {
      const auto roll = static_cast<std::uint32_t>(random());
      const bool writing = roll % 3 == 0;
      bool locked = false;
      try {
        if (writing) {
          auto guard = co_await l.lock_async();
          locked = true;
          section inside(*this, true);
          pause(roll >> 8);
          if (roll % 5 == 0) co_await brigade::yield_now();
        } else {
          auto guard = co_await l.lock_shared_async();
          locked = true;
          section inside(*this, false);
          pause(roll >> 8);
          if (roll % 5 == 0) co_await brigade::yield_now();
        }
      } catch (const brigade::task_cancelled&) {
        if (!locked) cancelled_waits.fetch_add(1);
        throw;
      }
      operations.fetch_add(1, std::memory_order_relaxed);
      if (roll % 4 == 0) co_await brigade::yield_now();
    }
  }
  void work_blocking(stop_slot& slot, int count, std::uint32_t seed) {
    std::minstd_rand random(seed);
    for (int i = 0; i < count; ++i) {
      const auto roll = static_cast<std::uint32_t>(random());
      const bool writing = roll % 3 == 0;
      try {
        if (writing)
          l.lock(slot.token());
        else
          l.lock_shared(slot.token());
      } catch (const brigade::task_cancelled&) {
        cancelled_thread_waits.fetch_add(1);
        if (slot.retired()) return;
        continue;
      }
      operations.fetch_add(1, std::memory_order_relaxed);
      {
        section inside(*this, writing);
        pause(roll >> 8);
      }
      if (writing)
        l.unlock();
      else
        l.unlock_shared();
    }
  }
  bool final_checks(brigade::runtime& rt) {
    if (l.is_write_locked() || l.readers() != 0) {
      problems.add("rw_mutex: held after every party ended (write-locked " + std::to_string(l.is_write_locked()) +
                   ", readers " + std::to_string(l.readers()) + ")");
      return true;
    }
    if (!l.try_lock()) {
      problems.add("rw_mutex: try_lock failed after every party ended");
      return true;
    }
    tasks.add(rt.spawn(read_then_unlock(l)), fresh);
    tasks.add(rt.spawn(write_then_unlock(l)), fresh);
    tasks.add(rt.spawn(read_then_unlock(l)), fresh);
    std::this_thread::sleep_for(200us);
    l.unlock();
    return tasks.wait(fresh, steady::now() + hang_limit);
  }
  void check_free_again() {
    if (l.is_write_locked() || l.readers() != 0) problems.add("rw_mutex: held after the final readers and writer left");
  }
};

/// One round of a lock-like primitive: tasks (some as when_all children) and threads take and
/// release it while random ones are stopped; then the model's final checks.
template <class Model>
bool lock_round_run(brigade::runtime& rt, std::uint64_t seed, tally& total) {
  dice d(seed);
  auto state = std::make_unique<Model>(d);
  Model& r = *state;
  const int count = d.between(20, 200);
  const auto spawn_worker = [&] {
    if (d.chance(25)) {
      auto first = r.work(count, d.seed());
      auto second = r.work(count, d.seed());
      r.tasks.add(rt.spawn(as_children(std::move(first), std::move(second))), consumer);
    } else {
      r.tasks.add(rt.spawn(r.work(count, d.seed())), consumer);
    }
  };
  const int tasks = d.between(2, 10), threads = d.between(0, 2);
  for (int i = 0; i < tasks; ++i) spawn_worker();
  for (int i = 0; i < threads; ++i) {
    stop_slot& slot = r.new_slot();
    r.threads.start(consumer, r.problems, [&r, &slot, count, s = d.seed()] { r.work_blocking(slot, count, s); });
  }
  storm(rt, r, d, consumer, std::chrono::microseconds(d.between(10, 300)),
        for_a_while(std::chrono::microseconds(d.between(200, 4000))), [&](unsigned) {
          if (d.chance(80)) spawn_worker();
        });
  if (!r.wait(any_role, steady::now() + hang_limit))
    return report_hang(state, std::string(Model::name) + ": the parties did not all finish");
  r.join_everything(total);
  if (!r.final_checks(rt))
    return report_hang(state, std::string(Model::name) + ": an acquisition queued after the storm was not served");
  long ignored = 0;
  r.tasks.join_all(r.problems, ignored);
  r.check_free_again();
  r.problems.report();
  return true;
}

TEST(cancel_safety, mutex_a_cancelled_lock_never_holds) {
  const auto start = steady::now();
  run_rounds("mutex", 2, slice_end(start, 0, 2), lock_round_run<mutex_round>);
  run_rounds("mutex", 3, slice_end(start, 1, 2), lock_round_run<mutex_round>);
}

TEST(cancel_safety, semaphore_a_cancelled_acquire_takes_no_permit) {
  const auto start = steady::now();
  run_rounds("semaphore", 2, slice_end(start, 0, 2), lock_round_run<semaphore_round>);
  run_rounds("semaphore", 3, slice_end(start, 1, 2), lock_round_run<semaphore_round>);
}

TEST(cancel_safety, rw_mutex_a_cancelled_reader_or_writer_never_holds) {
  const auto start = steady::now();
  run_rounds("rw_mutex", 2, slice_end(start, 0, 2), lock_round_run<rw_round>);
  run_rounds("rw_mutex", 3, slice_end(start, 1, 2), lock_round_run<rw_round>);
}

}  // namespace
