// See blocking_pool.hpp.
#include "blocking_pool.hpp"

#include <utility>

#include "brigade/runtime/errors.hpp"

namespace brigade::detail {

blocking_pool::blocking_pool(std::size_t max_threads, std::chrono::milliseconds keep_alive)
    : max_threads_(max_threads == 0 ? 1 : max_threads), keep_alive_(keep_alive) {}

blocking_pool::~blocking_pool() { shutdown(); }

void blocking_pool::submit(blocking_job& job) {
  std::vector<std::thread> to_join;
  {
    std::unique_lock lock(mutex_);
    if (shutting_down_) throw runtime_shut_down("brigade: spawn_blocking on a runtime that is shut down");
    queue_.push_back(&job);
    if (idle_ > 0) {
      work_ready_.notify_one();
    } else if (threads_.size() < max_threads_) {
      auto self = threads_.emplace(threads_.end());
      try {
        *self = std::thread([this, self] { run_thread(self); });
      } catch (...) {
        threads_.erase(self);
        queue_.pop_back();
        throw;
      }
    }
    to_join.swap(exited_);
  }
  for (auto& thread : to_join) thread.join();
}

void blocking_pool::run_thread(std::list<std::thread>::iterator self) {
  std::unique_lock lock(mutex_);
  while (true) {
    if (!queue_.empty()) {
      blocking_job* job = queue_.front();
      queue_.pop_front();
      lock.unlock();
      job->run(job);
      lock.lock();
      continue;
    }
    if (shutting_down_) break;
    ++idle_;
    const bool woken = work_ready_.wait_for(lock, keep_alive_, [this] {
      return !queue_.empty() || shutting_down_;
    });
    --idle_;
    if (!woken) break;  // idle for the whole keep-alive period
  }
  exited_.push_back(std::move(*self));
  threads_.erase(self);
  thread_exited_.notify_all();
}

void blocking_pool::shutdown() noexcept {
  std::deque<blocking_job*> cancelled;
  std::vector<std::thread> to_join;
  {
    std::unique_lock lock(mutex_);
    shutting_down_ = true;
    cancelled.swap(queue_);
    work_ready_.notify_all();
    thread_exited_.wait(lock, [this] { return threads_.empty(); });
    to_join.swap(exited_);
  }
  for (blocking_job* job : cancelled) job->cancel(job);
  for (auto& thread : to_join) thread.join();
}

std::size_t blocking_pool::thread_count() const {
  std::lock_guard lock(mutex_);
  return threads_.size();
}

}  // namespace brigade::detail
