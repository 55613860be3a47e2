// thread_sleeps.hpp: for tests that must know a plain thread has parked (in a primitive's futex)
// before they go on, rather than sleep and hope.
#pragma once

#include <sys/syscall.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <thread>

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

}  // namespace brigade_test
