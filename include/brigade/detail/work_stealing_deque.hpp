// brigade/detail/work_stealing_deque.hpp: the per-worker run queue, a growable Chase-Lev
// work-stealing deque.
//
// One owner thread pushes and pops at the bottom (LIFO: the most recently forked task runs next,
// which keeps a fork-join tree depth-first and its working set in cache); any number of thieves
// take from the top (FIFO: they get the oldest, usually largest, piece of work).
//
// Algorithm: D. Chase and Y. Lev, "Dynamic Circular Work-Stealing Deque" (SPAA 2005), with the
// memory orders of N. M. Lê, A. Pop, A. Cohen and F. Zappa Nardelli, "Correct and Efficient
// Work-Stealing for Weak Memory Models" (PPoPP 2013). Items are pointers (coroutine frame
// addresses); empty is nullptr.
//
// Thread safety: push and pop by the owner only; steal, size_hint and empty_hint by anyone.
// Complexity: push, pop and steal are O(1) (push amortised: the ring doubles when full; the old
// ring is kept until the deque is destroyed because a thief may still be reading it).
//
// Invariants:
//   - top_ only grows, and only through a successful compare-exchange (by a thief, or by the
//     owner taking the last item).
//   - bottom_ is written only by the owner. Items live in [top_, bottom_) of the current ring.
//   - A ring is never freed while the deque lives; rings_retired_ owns the old ones.
//   - top_seen_by_owner_ <= top_ (top_ never decreases), so bottom_ - top_seen_by_owner_ is an
//     upper bound of the size, which is all push() needs to decide whether to grow.
//
// Linearizability: a steal is linearized at its successful CAS on top_; a pop of any item but the
// last at its store to bottom_ (the full fence after it keeps a thief from reading the old
// bottom_ after the owner has read top_); the last item is decided by the same CAS on top_ that
// thieves use, so exactly one of the owner and the thieves gets it.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "brigade/detail/cache_line.hpp"
#include "brigade/detail/seam.hpp"

namespace brigade::detail {

class work_stealing_deque {
 public:
  explicit work_stealing_deque(std::int64_t initial_capacity = 256)
      : ring_(new ring(initial_capacity)) {}
  ~work_stealing_deque() { delete ring_.load(seam::memory_order::relaxed); }
  work_stealing_deque(const work_stealing_deque&) = delete;
  work_stealing_deque& operator=(const work_stealing_deque&) = delete;

  /// Owner: adds an item at the bottom.
  void push(void* item) {
    const std::int64_t b = bottom_.load(seam::memory_order::relaxed);
    ring* r = ring_.load(seam::memory_order::relaxed);
    // top_ only grows, so an old value bounds the size from above: reload top_ (a line the
    // thieves write) only when that bound says the ring may be full.
    if (b - top_seen_by_owner_ > r->capacity - 1) {
      // Acquire: pairs with a thief's CAS on top_, so the slot we overwrite after growing or
      // wrapping is no longer being read (a cached value was itself loaded with acquire).
      top_seen_by_owner_ = top_.load(seam::memory_order::acquire);
      if (b - top_seen_by_owner_ > r->capacity - 1) r = grow(r, b, top_seen_by_owner_);
    }
    r->put(b, item);
    // Release: a thief that reads this bottom_ with acquire sees the item and what it points to.
    bottom_.store(b + 1, seam::memory_order::release);
  }

  /// Owner: removes the bottom item, or returns nullptr when the deque is empty.
  void* pop() noexcept {
    const std::int64_t b = bottom_.load(seam::memory_order::relaxed) - 1;
    ring* r = ring_.load(seam::memory_order::relaxed);
    bottom_.store(b, seam::memory_order::relaxed);
    // Orders the store to bottom_ before the load of top_ (pairs with the fence in steal()).
    seam::full_fence();
    std::int64_t t = top_.load(seam::memory_order::relaxed);
    if (t > b) {  // was empty
      bottom_.store(b + 1, seam::memory_order::relaxed);
      return nullptr;
    }
    void* item = r->get(b);
    if (t == b) {  // the last item: race the thieves for it on top_
      if (!top_.compare_exchange_strong(t, t + 1, seam::memory_order::seq_cst,
                                        seam::memory_order::relaxed))
        item = nullptr;
      bottom_.store(b + 1, seam::memory_order::relaxed);
    }
    return item;
  }

  /// Thief: removes the top item. Returns nullptr when empty or when it lost a race (the caller
  /// may simply try another victim). `size_seen`, when given, receives the number of items the
  /// deque held when the steal looked.
  void* steal(std::int64_t* size_seen = nullptr) noexcept {
    std::int64_t t = top_.load(seam::memory_order::acquire);
    seam::full_fence();  // pairs with the fence in pop()
    // Acquire: pairs with push()'s release store, making the item visible.
    const std::int64_t b = bottom_.load(seam::memory_order::acquire);
    if (size_seen != nullptr) *size_seen = b - t;
    if (t >= b) return nullptr;
    ring* r = ring_.load(seam::memory_order::acquire);  // pairs with the release in grow()
    void* item = r->get(t);
    if (!top_.compare_exchange_strong(t, t + 1, seam::memory_order::seq_cst,
                                      seam::memory_order::relaxed))
      return nullptr;
    return item;
  }

  /// Thief: takes about half of the items (at most `max`, at least one if any) from the top into
  /// out[0..n), oldest first, and returns n. Each item is one steal() (a batch taken with a
  /// single CAS would race with the owner's CAS-free pops), but the thief pays for finding the
  /// victim and for its idle bookkeeping once per batch instead of once per item.
  std::size_t steal_batch(void** out, std::size_t max) noexcept {
    std::int64_t size_seen = 0;
    void* first = steal(&size_seen);
    if (first == nullptr) return 0;
    out[0] = first;
    const auto wanted = static_cast<std::size_t>(size_seen / 2);
    const std::size_t limit = wanted < max ? (wanted > 0 ? wanted : 1) : max;
    std::size_t taken = 1;
    while (taken < limit) {
      void* item = steal();
      if (item == nullptr) break;
      out[taken++] = item;
    }
    return taken;
  }

  /// Anyone: an estimate of the number of items (exact when no operation is in flight).
  std::int64_t size_hint() const noexcept {
    const std::int64_t b = bottom_.load(seam::memory_order::relaxed);
    const std::int64_t t = top_.load(seam::memory_order::relaxed);
    return b > t ? b - t : 0;
  }

  bool empty_hint() const noexcept { return size_hint() == 0; }

 private:
  struct ring {
    explicit ring(std::int64_t cap)
        : capacity(cap), mask(cap - 1), slots(new seam::atomic<void*>[static_cast<std::size_t>(cap)]) {}
    std::int64_t capacity;
    std::int64_t mask;
    std::unique_ptr<seam::atomic<void*>[]> slots;
    // Slots are atomics so that a thief reading a slot the owner is overwriting (a race the
    // algorithm tolerates: the thief's CAS then fails) is not a data race.
    void put(std::int64_t i, void* item) noexcept {
      slots[static_cast<std::size_t>(i & mask)].store(item, seam::memory_order::relaxed);
    }
    void* get(std::int64_t i) const noexcept {
      return slots[static_cast<std::size_t>(i & mask)].load(seam::memory_order::relaxed);
    }
  };

  ring* grow(ring* old, std::int64_t bottom, std::int64_t top) {
    auto bigger = std::make_unique<ring>(old->capacity * 2);
    for (std::int64_t i = top; i < bottom; ++i) bigger->put(i, old->get(i));
    rings_retired_.emplace_back(old);
    ring* r = bigger.release();
    // Release: a thief that loads the new ring sees the copied items.
    ring_.store(r, seam::memory_order::release);
    return r;
  }

  // Shared: written by the owner (bottom_) and by CAS from anyone (top_); apart, so a thief's CAS
  // does not invalidate the owner's line on every push.
  alignas(cache_line_size) seam::atomic<std::int64_t> top_{0};
  alignas(cache_line_size) seam::atomic<std::int64_t> bottom_{0};
  seam::atomic<ring*> ring_;
  // Owner only.
  std::int64_t top_seen_by_owner_ = 0;  // some earlier value of top_
  std::vector<std::unique_ptr<ring>> rings_retired_;
};

}  // namespace brigade::detail
