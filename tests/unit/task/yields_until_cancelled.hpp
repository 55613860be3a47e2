// yields_until_cancelled.hpp: a test task shared by the task-layer tests. It yields (a
// cancellation point) until its scope is stopped, counts that it saw task_cancelled, and
// rethrows it, so a test can check how many of its tasks were cancelled.
#pragma once

#include <atomic>

#include "brigade/runtime/errors.hpp"
#include "brigade/runtime/task.hpp"
#include "brigade/runtime/yield_now.hpp"

namespace brigade_test {

template <class T = void>
brigade::task<T> yields_until_cancelled(std::atomic<int>& cancelled) {
  try {
    while (true) co_await brigade::yield_now();
  } catch (const brigade::task_cancelled&) {
    ++cancelled;
    throw;
  }
}

}  // namespace brigade_test
