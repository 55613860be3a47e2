// brigade/detail/wait_list.hpp: the list of parked waiters that every synchronisation primitive
// keeps (event, wait_group, latch, and the mutexes and channels of later layers), written once.
//
// An intrusive FIFO: a waiter carries its own links (runtime/waiter.hpp), so parking allocates
// nothing, and a waiter destroyed while parked (its task destroyed at runtime shutdown) unlinks
// itself in O(1). FIFO, so that a primitive that wakes one waiter at a time wakes the longest
// waiting first.
//
// Usage: the primitive guards the list with its own lock and calls every member under it. Waking
// happens after the lock is released: take the waiters out (pop_front, take_all), unlock, then
// call wake() on each, reading a waiter's `next` before waking it (the woken party may free it).
//
// Thread safety: none of its own; every member under the owning primitive's lock.
// Complexity: every operation O(1), except take_all's O(n) unmarking.
#pragma once

#include "brigade/detail/seam.hpp"
#include "brigade/runtime/waiter.hpp"

// A waiter parked from a function's stack frame (a blocked thread) is linked here and taken off
// again before that function returns (by the waker, or by the waiter itself when it gives up);
// GCC cannot see that, and warns that a local's address escapes.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdangling-pointer"
#endif

namespace brigade::detail {

class wait_list {
 public:
  wait_list() = default;
  wait_list(const wait_list&) = delete;
  wait_list& operator=(const wait_list&) = delete;

  [[nodiscard]] bool empty() const noexcept { return head() == nullptr; }
  [[nodiscard]] bool has_one() const noexcept { return head() != nullptr && head() == tail_; }
  /// Without the lock: whether the list looked empty a moment ago (a hint, for a guess that the
  /// caller checks again under the lock).
  [[nodiscard]] bool empty_hint() const noexcept { return head() == nullptr; }

  /// The first waiter (null when empty); with `next`, for a walk under the owner's lock.
  [[nodiscard]] const waiter* front() const noexcept { return head(); }

  /// Parks `entry` last. It must not be on any list.
  void push_back(waiter& entry) noexcept {
    entry.next = nullptr;
    entry.prev = tail_;  // nullptr when the list is empty: entry becomes the first
    if (tail_ != nullptr)
      tail_->next = &entry;
    else
      set_head(&entry);
    tail_ = &entry;
  }

  /// Parks `entry` first (a waiter that was woken to try again and lost keeps its place at the
  /// head of the queue). It must not be on any list.
  void push_front(waiter& entry) noexcept {
    entry.prev = nullptr;
    entry.next = head();
    if (head() != nullptr)
      head()->prev = &entry;
    else
      tail_ = &entry;
    set_head(&entry);
  }

  /// Removes and returns the first waiter (nullptr when empty), marked as on no list.
  waiter* pop_front() noexcept {
    waiter* first = head();
    if (first != nullptr) unlink(*first);
    return first;
  }

  /// Removes `entry` if it is still on this list (a waiter that gives up, or is destroyed while
  /// parked). Returns whether it was there.
  bool unlink(waiter& entry) noexcept {
    if (!entry.is_linked()) return false;
    // Read both links first: the relaxed store to head_ would make the compiler load them again.
    waiter* const prev = entry.prev;
    waiter* const next = entry.next;
    if (prev != nullptr)
      prev->next = next;
    else
      set_head(next);
    if (next != nullptr)
      next->prev = prev;
    else
      tail_ = prev;
    entry.next = nullptr;
    entry.mark_unlinked();
    return true;
  }

  /// Whether `entry` is on this list, found by address: never reads *entry, which may be gone (a
  /// canceller naming a waiter it only has the address of). O(1) for the first and last waiter,
  /// O(n) otherwise.
  [[nodiscard]] bool contains(const waiter* entry) const noexcept {
    if (entry == head() || entry == tail_) return entry != nullptr;
    for (const waiter* w = head(); w != nullptr; w = w->next)
      if (w == entry) return true;
    return false;
  }

  /// Removes every waiter, each marked as on no list, and returns the first; they stay chained
  /// through `next`, in order, for the caller to wake after it releases its lock.
  waiter* take_all() noexcept {
    waiter* first = head();
    for (waiter* w = first; w != nullptr; w = w->next) w->mark_unlinked();
    set_head(nullptr);
    tail_ = nullptr;
    return first;
  }

  /// Wakes a chain returned by take_all(). Call without the lock.
  static void wake_all(waiter* first) noexcept {
    while (first != nullptr) {
      waiter* next = first->next;  // read before wake: the woken party may free the waiter
      first->wake();
      first = next;
    }
  }

 private:
  // Relaxed: the owner's lock orders every access but empty_hint's, which is only a guess.
  waiter* head() const noexcept { return head_.load(seam::memory_order::relaxed); }
  void set_head(waiter* first) noexcept { head_.store(first, seam::memory_order::relaxed); }

  seam::atomic<waiter*> head_{nullptr};
  waiter* tail_ = nullptr;
};

}  // namespace brigade::detail

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
