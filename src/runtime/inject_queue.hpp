// The injection queue: tasks submitted from outside the runtime's workers (spawn from main, a
// wake from a plain thread or the blocking pool) and tasks that yielded. FIFO, shared by all
// workers. A mutex-protected ring (std::deque) with an atomic length, so that workers can see
// "empty" without taking the lock (the common case when the runtime is busy with its own work).
//
// Invariants: length_ == tasks_.size() whenever mutex_ is free. length_ is written only under
// mutex_.
#pragma once

#include <cstddef>
#include <deque>
#include <mutex>

#include "brigade/detail/seam.hpp"

namespace brigade::detail {

class inject_queue {
 public:
  void push(void* task) {
    std::lock_guard lock(mutex_);
    tasks_.push_back(task);
    // Relaxed: readers only use it as a hint and take the lock before trusting it.
    length_.store(tasks_.size(), seam::memory_order::relaxed);
  }

  /// Takes up to `max` tasks; returns how many it wrote to `out`.
  std::size_t pop_batch(void** out, std::size_t max) {
    if (length_.load(seam::memory_order::relaxed) == 0) return 0;
    std::lock_guard lock(mutex_);
    std::size_t taken = 0;
    while (taken < max && !tasks_.empty()) {
      out[taken++] = tasks_.front();
      tasks_.pop_front();
    }
    length_.store(tasks_.size(), seam::memory_order::relaxed);
    return taken;
  }

  std::size_t size_hint() const noexcept { return length_.load(seam::memory_order::relaxed); }

  /// Drops every queued task without running it (shutdown; the frames are owned elsewhere).
  void clear() {
    std::lock_guard lock(mutex_);
    tasks_.clear();
    length_.store(0, seam::memory_order::relaxed);
  }

 private:
  seam::mutex mutex_;
  std::deque<void*> tasks_;
  seam::atomic<std::size_t> length_{0};
};

}  // namespace brigade::detail
