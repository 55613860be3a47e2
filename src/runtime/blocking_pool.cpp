// See blocking_pool.hpp.
#include "blocking_pool.hpp"

#include <utility>

#include "brigade/runtime/errors.hpp"

namespace brigade::detail {

namespace {
void link_running(blocking_job*& first, blocking_job& job) noexcept {
  job.prev_running = nullptr;
  job.next_running = first;
  if (first != nullptr) first->prev_running = &job;
  first = &job;
}
void unlink_running(blocking_job*& first, blocking_job& job) noexcept {
  if (job.prev_running != nullptr)
    job.prev_running->next_running = job.next_running;
  else
    first = job.next_running;
  if (job.next_running != nullptr) job.next_running->prev_running = job.prev_running;
}
}  // namespace

blocking_pool::blocking_pool(std::size_t max_threads, std::chrono::milliseconds keep_alive)
    : state_(std::make_shared<state>()) {
  state_->max_threads = max_threads == 0 ? 1 : max_threads;
  state_->keep_alive = keep_alive;
}

blocking_pool::~blocking_pool() {
  if (finished_) return;  // the runtime's shutdown finished it (maybe leaving threads detached)
  refuse();
  cancel_queued();
  finish(std::chrono::steady_clock::time_point::max());
}

void blocking_pool::submit(blocking_job& job) {
  state& s = *state_;
  std::vector<seam::thread> to_join;
  {
    std::unique_lock lock(s.mutex);
    if (s.refusing) throw runtime_shut_down("brigade: spawn_blocking on a runtime that is shut down");
    s.queue.push_back(&job);
    if (s.idle > 0) {
      s.work_ready.notify_one();
    } else if (s.threads < s.max_threads) {
      auto self = s.handles.emplace(s.handles.end());
      try {
        *self = seam::thread(&blocking_pool::run_thread, state_, self);
      } catch (...) {
        s.handles.erase(self);
        s.queue.pop_back();
        throw;
      }
      ++s.threads;
    }
    to_join.swap(s.exited);
  }
  for (auto& thread : to_join) thread.join();
}

void blocking_pool::run_thread(std::shared_ptr<state> shared, std::list<seam::thread>::iterator self) {
  state& s = *shared;
  std::unique_lock lock(s.mutex);
  while (true) {
    if (!s.queue.empty()) {
      blocking_job* job = s.queue.front();
      s.queue.pop_front();
      link_running(s.running, *job);
      lock.unlock();
      job->operate(blocking_job::operation::execute);
      {
        // Not while shutdown destroys tasks (step 3): a publish could wake one of them.
        std::lock_guard gate(s.publish_gate);
        {
          std::lock_guard off_the_list(s.mutex);
          unlink_running(s.running, *job);
        }
        job->operate(blocking_job::operation::publish);  // may free the job
      }
      lock.lock();
      continue;
    }
    if (s.refusing) break;  // nothing more will come
    ++s.idle;
    const bool woken = s.work_ready.wait_for(lock, s.keep_alive, [&s] { return !s.queue.empty() || s.refusing; });
    --s.idle;
    if (!woken) break;  // idle for the whole keep-alive period
  }
  --s.threads;
  if (!s.detached) {
    s.exited.push_back(std::move(*self));
    s.handles.erase(self);
  }
  s.thread_exited.notify_all();
}

void blocking_pool::refuse() noexcept {
  std::lock_guard lock(state_->mutex);
  state_->refusing = true;
  state_->work_ready.notify_all();
}

void blocking_pool::cancel_queued() noexcept {
  std::deque<blocking_job*> cancelled;
  {
    std::lock_guard lock(state_->mutex);
    cancelled.swap(state_->queue);
  }
  for (blocking_job* job : cancelled) job->operate(blocking_job::operation::cancel);
}

void blocking_pool::request_stop_running() noexcept {
  // The caller holds the publish gate: a running job stays on the list, and alive, until it can
  // publish. The requests run without the pool's mutex (they run stop callbacks).
  std::vector<blocking_job*> running;
  {
    std::lock_guard lock(state_->mutex);
    for (blocking_job* job = state_->running; job != nullptr; job = job->next_running) running.push_back(job);
  }
  for (blocking_job* job : running) job->operate(blocking_job::operation::request_stop);
}

bool blocking_pool::finish(std::chrono::steady_clock::time_point deadline) noexcept {
  finished_ = true;
  state& s = *state_;
  std::vector<seam::thread> to_join;
  bool all_ended;
  {
    std::unique_lock lock(s.mutex);
    s.refusing = true;
    s.work_ready.notify_all();
    auto ended = [&s] { return s.threads == 0; };
    if (deadline == std::chrono::steady_clock::time_point::max())
      s.thread_exited.wait(lock, ended);
    else
      s.thread_exited.wait_until(lock, deadline, ended);
    all_ended = ended();
    if (!all_ended) {
      // Past the deadline: the threads still running a call are left to finish it on their own.
      for (seam::thread& thread : s.handles) thread.detach();
      s.handles.clear();
      s.detached = true;
    }
    to_join.swap(s.exited);
  }
  for (auto& thread : to_join) thread.join();
  return all_ended;
}

std::size_t blocking_pool::thread_count() const {
  std::lock_guard lock(state_->mutex);
  return state_->threads;
}

}  // namespace brigade::detail
