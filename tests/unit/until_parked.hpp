// until_parked.hpp: for tests that must know a plain thread, or every worker of a runtime, has
// parked before they go on, rather than sleep and hope.
#pragma once

#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <fstream>
#include <string>
#include <thread>

#include "brigade/runtime/runtime.hpp"

namespace brigade_test {

/// The kernel's id of the calling thread.
inline long this_thread_id() { return ::syscall(SYS_gettid); }

/// Waits until the kernel reports thread `tid` of this process asleep (state S in
/// /proc/self/task/<tid>/stat). A thread that blocks in a brigade wait spins a few microseconds,
/// then sleeps in the futex: from then on this returns.
inline void until_thread_sleeps(long tid) {
  const std::string path = "/proc/self/task/" + std::to_string(tid) + "/stat";
  while (true) {
    std::ifstream stat(path);
    std::string line;
    std::getline(stat, line);
    const auto end_of_name = line.rfind(')');  // "<tid> (<name>) <state> ..."
    if (end_of_name != std::string::npos && end_of_name + 2 < line.size() && line[end_of_name + 2] == 'S') return;
    std::this_thread::yield();
  }
}

/// As above, for a thread that publishes its id in `id` (0 until it runs) just before it waits.
inline void until_thread_sleeps(const std::atomic<long>& id) {
  while (id.load() == 0) std::this_thread::yield();
  until_thread_sleeps(id.load());
}

/// Waits (up to 5 s) until every worker of `rt` is asleep for lack of work: a task that set a
/// flag just before its co_await has then suspended, and nothing runs. Returns whether it came.
inline bool until_workers_parked(const brigade::runtime& rt, std::size_t workers) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (rt.stats().parked_workers < workers)
    if (std::chrono::steady_clock::now() > deadline) return false;
  return true;
}

}  // namespace brigade_test
