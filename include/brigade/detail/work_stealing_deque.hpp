// brigade/detail/work_stealing_deque.hpp: the per-worker run queue, a growable work-stealing
// deque in which a thief takes a batch of items with one claim, and whose newest items can be
// kept private to the owner.
//
// One owner thread pushes and pops at the bottom (LIFO: the most recently forked task runs next,
// which keeps a fork-join tree depth-first and its working set in cache); thieves take from the
// top (FIFO: they get the oldest, usually largest, pieces of work), about half of the items at a
// time.
//
// Public and private items. Items live in [real, bottom). Those below `split` are public:
// ordinary steals take only from [real, split). Those in [split, bottom) are private: pushed with
// push_private() while no other worker could steal them anyway (every worker busy), so that the
// owner takes them back with plain loads and stores, without the full fence that a pop of a
// public item costs (~10% of a fine-grained fork-join). publish() makes every item public with
// one store. A thief that must have a private item anyway (the owner has not published them for
// a long while: it may be blocked) uses steal_batch_including_private(), which pays a heavy
// fence (membarrier) instead.
//
// Algorithm. The owner's public side is Chase and Lev's ("Dynamic Circular Work-Stealing Deque",
// SPAA 2005; memory orders after Lê, Pop, Cohen and Zappa Nardelli, PPoPP 2013) with `split` in
// the role of Chase-Lev's bottom. The thieves' side claims a range first and validates it after,
// like Tokio's run queue: the top word holds two indices, `steal` and `real`; [steal, real) is a
// range a thief has claimed and is copying (empty when no steal is in progress).
//   Steal (thief): read the top word; if a steal is in progress (steal != real), give up on this
//   victim. Read the limit L (split; bottom for steal_batch_including_private), choose n (about
//   half of the items below L). Claim: CAS the top word from (real, real) to (real, real + n).
//   Including private items: heavy fence. Then read the limit again (L2), take the items
//   [real, min(real + n, L2)), and release: store (end, end) where end is where they stop.
//   Pop, private item (bottom - 1 >= split): b = bottom - 1; store bottom = b; light fence; read
//   the top word. If b < real (a thief took it) restore bottom and report empty; else take b.
//   Pop, public item (the private part is empty): b = split - 1; store split = b and bottom = b;
//   full fence; read the top word. If b < real, restore both and report empty; else take b, with
//   no CAS even when it is the last one.
// Why it is safe.
//   Public pops against steals: the owner's pop and a thief's claim are both in the single total
//   order S of sequentially consistent operations. If the claim comes first, the owner's read of
//   the top word (after its fence) sees the claim or its release, so it does not take an item
//   below the claimed end. If the owner's read comes first, its store to split precedes, in S,
//   the thief's second read of split, which therefore sees it (or a later publish): the thief
//   stops below the item the owner took (or, after a publish, takes the new item now at that
//   index, a different task).
//   Private pops against ordinary steals: an ordinary thief never claims past split, and the
//   owner only pops privately at or above split, so they never want the same item.
//   Private pops against steals including private items: the thief's heavy fence puts a full
//   fence at some point P into the owner's execution. If the owner's store to bottom comes before
//   P, the thief's second read of bottom (after the heavy fence) sees it and stops below b. If it
//   comes after P, so does the owner's following read of the top word (the light fence keeps the
//   compiler from reordering them, P the processor), which therefore sees the claim.
//   Only one thief can hold a claim: others see steal != real and move on; the owner never
//   writes the top word, so the thief's release is a plain store.
// A thief preempted in the middle of a steal keeps other thieves off this deque until it runs
// again (they try other victims); the owner is never blocked by it. While a claim is in progress
// the owner may report empty although items below the claimed end will come back when the thief
// releases what it did not take; callers treat empty as "nothing here right now" (the worker
// loop looks elsewhere and re-checks every deque, private parts included, before it parks).
//
// Items are pointers (coroutine frame addresses); empty is nullptr. Indices are 32-bit and wrap;
// differences are taken as signed, so a deque may hold up to 2^30 items.
//
// Thread safety: push, push_private, publish, pop and has_private by the owner only; the steals,
// size_hint, total_size_hint and empty_hint by anyone. steal_batch_including_private requires
// seam::enable_heavy_fence() to have returned true. Complexity: push and pop O(1) (push
// amortised: the ring doubles when full; old rings are kept until the deque is destroyed because
// a thief may still be reading one); publish O(1); a batch steal is O(items taken).
//
// Invariants:
//   - steal <= real <= bottom + 1 (modulo 2^32; bottom + 1 transiently, inside a pop); the top
//     word changes only by a thief's claim CAS (from steal == real) and by that thief's release.
//   - split <= bottom (split + 1 transiently, inside a public pop); split and bottom are written
//     only by the owner. real may pass split only by a steal that includes private items.
//   - A slot with index i is overwritten only when i - capacity < steal (no thief reads it).
//   - steal_seen_by_owner_ <= steal (steal never decreases), so bottom - steal_seen_by_owner_ is
//     an upper bound of the occupancy, which is all push() needs to decide whether to grow.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <vector>

#include "brigade/detail/cache_line.hpp"
#include "brigade/detail/seam.hpp"

namespace brigade::detail {

class work_stealing_deque {
 public:
  explicit work_stealing_deque(std::uint32_t initial_capacity = 256)
      : ring_(new ring(initial_capacity)) {}
  ~work_stealing_deque() { delete ring_.load(seam::memory_order::relaxed); }
  work_stealing_deque(const work_stealing_deque&) = delete;
  work_stealing_deque& operator=(const work_stealing_deque&) = delete;

  /// Owner: adds an item at the bottom, where thieves can take it (with every older item).
  void push(void* item) {
    push_private(item);
    publish();
  }

  /// Owner: adds an item at the bottom, private (see the top of this header).
  void push_private(void* item) {
    if (try_push_private(item)) return;
    // Acquire: pairs with a thief's release of its claim, so the slots it read are no longer
    // being read when we overwrite them (a cached value was itself loaded with acquire).
    steal_seen_by_owner_ = steal_index(top_.load(seam::memory_order::acquire));
    const std::uint32_t b = bottom_.load(seam::memory_order::relaxed);
    ring* r = ring_.load(seam::memory_order::relaxed);
    if (distance(steal_seen_by_owner_, b) >= r->capacity) r = grow(r, b, steal_seen_by_owner_);
    put_private(r, b, item);
  }

  /// Owner: push_private when the ring surely has room, without reading the line the thieves
  /// write, and returns true; else does nothing and returns false.
  bool try_push_private(void* item) noexcept {
    const std::uint32_t b = bottom_.load(seam::memory_order::relaxed);
    ring* r = ring_.load(seam::memory_order::relaxed);
    // steal only grows, so an old value bounds the occupancy from above: push_private reloads
    // the top word only when that bound says the ring may be full.
    if (distance(steal_seen_by_owner_, b) >= r->capacity) return false;
    put_private(r, b, item);
    return true;
  }

  /// Owner: makes every item public.
  void publish() noexcept {
    // Release: a thief that reads this split sees the items below it and what they point to.
    split_.store(bottom_.load(seam::memory_order::relaxed), seam::memory_order::release);
  }

  /// Owner: true when some items are private.
  [[nodiscard]] bool has_private() const noexcept {
    return bottom_.load(seam::memory_order::relaxed) != split_.load(seam::memory_order::relaxed);
  }

  /// Owner: removes the bottom item, or returns nullptr when there is none it may take now.
  void* pop() noexcept {
    const std::uint32_t b = bottom_.load(seam::memory_order::relaxed) - 1;
    const std::uint32_t s = split_.load(seam::memory_order::relaxed);
    if (distance(s, b) >= 0) {  // a private item
      bottom_.store(b, seam::memory_order::relaxed);
      seam::light_fence();  // see "Why it is safe": the heavy fence of a thief does the rest
      const std::uint64_t word = top_.load(seam::memory_order::relaxed);
      if (distance(real_index(word), b) < 0) {  // a thief took it
        bottom_.store(b + 1, seam::memory_order::relaxed);
        return nullptr;
      }
      return ring_.load(seam::memory_order::relaxed)->get(b);
    }
    // The private part is empty: take the newest public item.
    split_.store(b, seam::memory_order::relaxed);
    bottom_.store(b, seam::memory_order::relaxed);
    // Orders the store to split before the read of the top word (see "Why it is safe").
    seam::full_fence();
    const std::uint64_t word = top_.load(seam::memory_order::seq_cst);
    if (distance(real_index(word), b) < 0) {  // empty, or everything left is claimed
      split_.store(b + 1, seam::memory_order::relaxed);
      bottom_.store(b + 1, seam::memory_order::relaxed);
      return nullptr;
    }
    return ring_.load(seam::memory_order::relaxed)->get(b);
  }

  /// Thief: takes about half of the public items (at most `max`, at least one if any) from the
  /// top into out[0..n), oldest first, and returns n. Returns 0 when there is no public item or
  /// another thief's steal is in progress (the caller tries another victim).
  std::size_t steal_batch(void** out, std::size_t max) noexcept {
    return steal_below(split_, out, max, false);
  }

  /// Thief: as steal_batch, but private items may be taken too. Pays a heavy fence when it
  /// claims something. Precondition: seam::enable_heavy_fence() returned true.
  std::size_t steal_batch_including_private(void** out, std::size_t max) noexcept {
    return steal_below(bottom_, out, max, true);
  }

  /// Thief: takes the top public item, or returns nullptr (none, or another steal in progress).
  void* steal() noexcept {
    void* item = nullptr;
    return steal_batch(&item, 1) == 1 ? item : nullptr;
  }

  /// Anyone: an estimate of the number of public items (exact when no operation is in flight).
  std::int64_t size_hint() const noexcept { return items_below(split_); }
  /// Anyone: an estimate of the number of items, public and private.
  std::int64_t total_size_hint() const noexcept { return items_below(bottom_); }

  bool empty_hint() const noexcept { return size_hint() == 0; }

  /// Anyone: the owner's bottom index, which changes whenever the owner pushes or pops. A value
  /// that stays the same over a while says the owner is not using its deque (maybe blocked).
  std::uint32_t bottom_hint() const noexcept { return bottom_.load(seam::memory_order::relaxed); }

 private:
  static constexpr std::uint32_t max_capacity = 1u << 30;

  // The top word: `steal` in the low half, `real` in the high half.
  static std::uint64_t pack(std::uint32_t steal, std::uint32_t real) noexcept {
    return (static_cast<std::uint64_t>(real) << 32) | steal;
  }
  static std::uint32_t steal_index(std::uint64_t word) noexcept {
    return static_cast<std::uint32_t>(word);
  }
  static std::uint32_t real_index(std::uint64_t word) noexcept {
    return static_cast<std::uint32_t>(word >> 32);
  }
  /// to - from, for wrapping 32-bit indices less than 2^31 apart.
  static std::int64_t distance(std::uint32_t from, std::uint32_t to) noexcept {
    return static_cast<std::int32_t>(to - from);
  }

  std::int64_t items_below(const seam::atomic<std::uint32_t>& limit) const noexcept {
    const std::int64_t size = distance(real_index(top_.load(seam::memory_order::relaxed)),
                                       limit.load(seam::memory_order::relaxed));
    return size > 0 ? size : 0;
  }

  /// The steal of "Algorithm", with `limit` = split (ordinary) or bottom (including private).
  std::size_t steal_below(const seam::atomic<std::uint32_t>& limit, void** out, std::size_t max,
                          bool heavy) noexcept {
    const std::uint64_t word = top_.load(seam::memory_order::acquire);
    const std::uint32_t real = real_index(word);
    if (steal_index(word) != real) return 0;  // another thief is copying
    const std::int64_t available = distance(real, limit.load(seam::memory_order::acquire));
    if (available <= 0 || max == 0) return 0;
    std::int64_t wanted = available - available / 2;
    if (wanted > static_cast<std::int64_t>(max)) wanted = static_cast<std::int64_t>(max);
    const auto claimed_end = static_cast<std::uint32_t>(real + static_cast<std::uint32_t>(wanted));
    std::uint64_t expected = word;
    if (!top_.compare_exchange_strong(expected, pack(real, claimed_end), seam::memory_order::seq_cst,
                                      seam::memory_order::relaxed))
      return 0;  // lost to another thief
    if (heavy) seam::heavy_fence();
    // Validate against the owner's pops that read the top word before our claim.
    std::int64_t taken = distance(real, limit.load(seam::memory_order::seq_cst));
    if (taken > wanted) taken = wanted;
    if (taken < 0) taken = 0;
    ring* r = ring_.load(seam::memory_order::acquire);  // pairs with the release in grow()
    for (std::int64_t i = 0; i < taken; ++i) out[i] = r->get(real + static_cast<std::uint32_t>(i));
    const auto end = static_cast<std::uint32_t>(real + static_cast<std::uint32_t>(taken));
    // Release: the owner may overwrite the slots we read only after it sees this.
    top_.store(pack(end, end), seam::memory_order::release);
    return static_cast<std::size_t>(taken);
  }

  struct ring {
    explicit ring(std::uint32_t cap)
        : capacity(cap), mask(cap - 1), slots(new seam::atomic<void*>[cap]) {}
    std::int64_t capacity;
    std::uint32_t mask;
    std::unique_ptr<seam::atomic<void*>[]> slots;
    // Slots are atomics because a thief reads them while the owner may write other slots of the
    // same ring; relaxed suffices, the indices' acquire and release order the contents.
    void put(std::uint32_t i, void* item) noexcept { slots[i & mask].store(item, seam::memory_order::relaxed); }
    void* get(std::uint32_t i) const noexcept { return slots[i & mask].load(seam::memory_order::relaxed); }
  };

  void put_private(ring* r, std::uint32_t b, void* item) noexcept {
    r->put(b, item);
    // Release: a thief that steals including private items reads bottom, then the item.
    bottom_.store(b + 1, seam::memory_order::release);
  }

  ring* grow(ring* old, std::uint32_t bottom, std::uint32_t oldest) {
    if (old->capacity >= max_capacity) throw std::length_error("brigade: a worker's deque is full");
    auto bigger = std::make_unique<ring>(static_cast<std::uint32_t>(old->capacity * 2));
    for (std::uint32_t i = oldest; i != bottom; ++i) bigger->put(i, old->get(i));
    rings_retired_.emplace_back(old);
    ring* r = bigger.release();
    // Release: a thief that loads the new ring sees the copied items.
    ring_.store(r, seam::memory_order::release);
    return r;
  }

  // Shared: the top word (written by thieves), and split and bottom (written by the owner),
  // apart, so that a thief's claim does not invalidate the owner's line on every push.
  alignas(cache_line_size) seam::atomic<std::uint64_t> top_{0};
  alignas(cache_line_size) seam::atomic<std::uint32_t> split_{0};
  seam::atomic<std::uint32_t> bottom_{0};
  seam::atomic<ring*> ring_;
  // Owner only.
  std::uint32_t steal_seen_by_owner_ = 0;  // some earlier value of steal
  std::vector<std::unique_ptr<ring>> rings_retired_;
};

}  // namespace brigade::detail
