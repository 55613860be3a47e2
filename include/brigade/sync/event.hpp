// brigade/sync/event.hpp: event, a one-way latch that tasks and threads wait on until it is set
// (a manual-reset event; asyncio.Event without clear()).
//
//   brigade::event ready;
//   co_await ready.wait();     // in a task: suspends until set()
//   ready.wait_blocking();     // on a plain thread: blocks until set()
//   ready.set();               // from anywhere: releases every waiter, present and future
//
// Waiting goes through the runtime's waiter (runtime/waiter.hpp), so a coroutine and a thread
// wait the same way. This is the first, minimal primitive; issue 4 brings the full sync layer.
// Thread safety: every member may be called from any thread. set() is idempotent.
// Memory order: what a thread wrote before set() is visible to every waiter after it wakes.
// Lifetime: the event must outlive its waiters. A suspended waiter destroyed with its task
// (runtime shutdown) unlinks itself.
// Complexity: wait O(1); set O(waiters).
#pragma once

#include <coroutine>
#include <mutex>

#include "brigade/detail/scheduler_hooks.hpp"
#include "brigade/detail/seam.hpp"
#include "brigade/runtime/errors.hpp"
#include "brigade/runtime/waiter.hpp"

namespace brigade {

class event {
 public:
  event() = default;
  event(const event&) = delete;
  event& operator=(const event&) = delete;

  /// Sets the event and wakes every waiter.
  void set() noexcept {
    detail::waiter* waiters;
    {
      std::lock_guard lock(mutex_);
      if (set_.load(detail::seam::memory_order::relaxed)) return;
      // Release: pairs with the acquire in is_set().
      set_.store(true, detail::seam::memory_order::release);
      waiters = head_;
      for (detail::waiter* w = head_; w != nullptr; w = w->next) w->mark_unlinked();
      head_ = nullptr;
    }
    while (waiters != nullptr) {
      detail::waiter* next = waiters->next;  // read before wake: the waiter may be freed by it
      waiters->wake();
      waiters = next;
    }
  }

  [[nodiscard]] bool is_set() const noexcept { return set_.load(detail::seam::memory_order::acquire); }

  /// co_await ev.wait(): suspends the task until set().
  [[nodiscard("co_await the wait")]] auto wait() noexcept { return wait_awaiter{*this}; }

  /// Blocks the calling thread until set().
  void wait_blocking() {
    if (is_set()) return;
    detail::thread_waiter waiter;
    if (!enqueue(waiter)) return;
    waiter.wait();
  }

 private:
  /// Links `entry` unless the event is already set; returns whether it was linked.
  bool enqueue(detail::waiter& entry) {
    std::lock_guard lock(mutex_);
    if (set_.load(detail::seam::memory_order::relaxed)) return false;
    entry.prev = nullptr;
    entry.next = head_;
    if (head_ != nullptr) head_->prev = &entry;
    head_ = &entry;
    return true;
  }
  void unlink(detail::waiter& entry) noexcept {
    std::lock_guard lock(mutex_);
    if (!entry.is_linked()) return;
    if (entry.prev != nullptr)
      entry.prev->next = entry.next;
    else
      head_ = entry.next;
    if (entry.next != nullptr) entry.next->prev = entry.prev;
    entry.mark_unlinked();
  }

  class [[nodiscard("co_await the wait")]] wait_awaiter {
   public:
    explicit wait_awaiter(event& owner) noexcept : event_(owner) {}
    // Holds a waiter the event's list points to while suspended: neither copyable nor movable.
    wait_awaiter(const wait_awaiter&) = delete;
    wait_awaiter& operator=(const wait_awaiter&) = delete;
    ~wait_awaiter() {
      // The handle is set while the task may be suspended and cleared when it resumes, so a
      // non-null handle here means the frame is destroyed while suspended (runtime shutdown):
      // the waiter may still be on the list. (set() may have unlinked it already; unlink checks
      // under the lock.)
      if (waiter_.handle) event_.unlink(waiter_);
    }

    bool await_ready() const noexcept { return event_.is_set(); }
    bool await_suspend(std::coroutine_handle<> awaiting) {
      detail::worker_hot* worker = detail::current_worker();
      if (worker == nullptr)
        throw usage_error("brigade: event::wait() awaited outside a runtime (use wait_blocking)");
      waiter_.handle = awaiting;
      waiter_.sched = worker->owner;
      return event_.enqueue(waiter_);
    }
    void await_resume() noexcept { waiter_.handle = nullptr; }

   private:
    event& event_;
    detail::coroutine_waiter waiter_;
  };

  std::mutex mutex_;
  detail::waiter* head_ = nullptr;  // guarded by mutex_
  detail::seam::atomic<bool> set_{false};
};

}  // namespace brigade
