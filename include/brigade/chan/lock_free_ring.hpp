// brigade/chan/lock_free_ring.hpp: the buffer of a bounded channel: a fixed-capacity ring that
// many producers and many consumers use without a lock, and that the channel can close to them
// (internal; chan/channel_core.hpp uses it).
//
// The algorithm is Dmitry Vyukov's bounded MPMC queue (also crossbeam-channel's array flavour):
// two position counters, `tail` for pushes and `head` for pops, each on its own cache line, and a
// stamp per slot that says which position may use the slot next and whether it holds a value.
//   push at position t (slot t % capacity): the slot is free for t when its stamp is 2t; claim t
//        by a compare-exchange of tail from t to t + 1, construct the value, store stamp 2t + 1.
//   pop at position h: the slot holds h's value when its stamp is 2h + 1; claim h by a
//        compare-exchange of head, move the value out, store stamp 2(h + capacity) (free for the
//        push one lap later).
// (Stamps count in steps of 2 so that "free" (even) and "holds a value" (odd) never coincide,
// which Vyukov's stamps t and t + 1 would do for a capacity of 1.)
// Invariants: head <= tail <= head + capacity (positions, ignoring the flags below); the values
// in the ring are those of positions head .. tail - 1, in order, so the ring is FIFO. A slot's
// stamp only grows. A value is written only by the pusher that claimed its position and read
// only by the popper that claimed it; the stamp's release store and acquire load order the
// value's construction before its move, and the move before the next lap's construction.
// "Full" and "empty" are decided from the positions (tail == head + capacity, tail == head); when
// the positions say there is a value (or room) but the slot's stamp does not yet, the party that
// claimed the position is between its compare-exchange and its stamp store, and the caller spins
// until it finishes (a few instructions, unless that thread was preempted: the spin yields).
//
// The "must lock" flags. Bit 0 of tail is the push flag and bit 0 of head the pop flag (positions
// count in steps of 2). The channel sets a flag, under its lock, while parties of that side are
// parked (or for good once the channel is closed): a fast push (push with honor_flag) sees the
// flag, or fails its compare-exchange because the flag appeared, and goes to the lock instead;
// the lock holder pushes and pops regardless of the flags. The flag changes and the claims are
// sequentially consistent read-modify-writes of the same words, and flagged() reads are
// sequentially consistent, which is what the channel's parking handshake needs (channel_core.hpp).
//
// Thread safety: every member may be called from any thread at once, except the destructor.
// Complexity: O(1) per operation, plus waits for a party in the middle of its own operation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>

#include "brigade/detail/seam.hpp"

namespace brigade::detail {

/// The part of a lock_free_ring that does not depend on T: the two position words with their
/// flags. A channel's T-independent code (its flag bookkeeping, select's snapshot) works on this.
class lock_free_ring_positions {
 public:
  // The flags (see the top of this file). set_* and clear_* are sequentially consistent; so are
  // the *_flagged() loads. Each flag has a copy on a cache line of its own that only flag changes
  // write: *_flagged() reads the copy, so that a pusher asking "are receivers parked?" after every
  // push does not pull in head's line, which the poppers keep writing (and the same for poppers).
  void set_push_flag() noexcept {
    tail_.word.fetch_or(flag, seam::memory_order::seq_cst);
    flags_.push.store(true, seam::memory_order::seq_cst);
  }
  void clear_push_flag() noexcept {
    flags_.push.store(false, seam::memory_order::seq_cst);
    tail_.word.fetch_and(~flag, seam::memory_order::seq_cst);
  }
  void set_pop_flag() noexcept {
    head_.word.fetch_or(flag, seam::memory_order::seq_cst);
    flags_.pop.store(true, seam::memory_order::seq_cst);
  }
  void clear_pop_flag() noexcept {
    flags_.pop.store(false, seam::memory_order::seq_cst);
    head_.word.fetch_and(~flag, seam::memory_order::seq_cst);
  }
  [[nodiscard]] bool push_flagged() const noexcept { return flags_.push.load(seam::memory_order::seq_cst); }
  [[nodiscard]] bool pop_flagged() const noexcept { return flags_.pop.load(seam::memory_order::seq_cst); }

  /// Values in the ring, counting those being pushed or popped right now (sequentially
  /// consistent loads of both positions; exact while no fast operation runs).
  [[nodiscard]] std::size_t size() const noexcept {
    const std::uint64_t head = head_.word.load(seam::memory_order::seq_cst) >> 1;
    const std::uint64_t tail = tail_.word.load(seam::memory_order::seq_cst) >> 1;
    return tail > head ? static_cast<std::size_t>(tail - head) : 0;
  }

 protected:
  lock_free_ring_positions() = default;
  ~lock_free_ring_positions() = default;

  static constexpr std::uint64_t flag = 1;
  static constexpr std::uint64_t step = 2;  // one position

  struct alignas(64) position_word {
    seam::atomic<std::uint64_t> word{0};
  };
  struct alignas(64) flag_copies {
    seam::atomic<bool> push{false};
    seam::atomic<bool> pop{false};
  };

  position_word head_;
  position_word tail_;
  flag_copies flags_;
};

template <class T>
class lock_free_ring final : public lock_free_ring_positions {
  static_assert(std::is_nothrow_move_constructible_v<T> && std::is_nothrow_destructible_v<T>,
                "lock_free_ring<T> needs a T that moves and destroys without throwing");

 public:
  enum class result : std::uint8_t { done, full_or_empty, flagged };

  explicit lock_free_ring(std::size_t capacity)
      : capacity_(capacity),
        index_mask_((capacity & (capacity - 1)) == 0 ? capacity - 1 : 0),
        slots_(new slot[capacity]) {
    for (std::size_t i = 0; i < capacity; ++i) slots_[i].stamp.store(2 * i, seam::memory_order::relaxed);
  }
  lock_free_ring(const lock_free_ring&) = delete;
  lock_free_ring& operator=(const lock_free_ring&) = delete;
  /// Destroys the values still in the ring (no other party may be using it).
  ~lock_free_ring() {
    std::optional<T> value;
    while (try_pop(value, false) == result::done) value.reset();
  }

  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }

  /// Appends `value` (moved from only when done). full_or_empty: the ring is full. flagged: the
  /// push flag is set and `honor_flag` is true (nothing was done).
  BRIGADE_ALWAYS_INLINE result try_push(T& value, bool honor_flag) noexcept {
    std::uint64_t word = tail_.word.load(seam::memory_order::relaxed);
    std::uint32_t backoff = first_backoff;
    while (true) {
      if (honor_flag && (word & flag) != 0) return result::flagged;
      const std::uint64_t position = word >> 1;
      slot& target = slot_of(position);
      const std::uint64_t stamp = target.stamp.load(seam::memory_order::acquire);
      if (stamp == 2 * position) {
        if (tail_.word.compare_exchange_weak(word, word + step, seam::memory_order::seq_cst,
                                             seam::memory_order::relaxed)) {
          ::new (static_cast<void*>(target.storage)) T(std::move(value));
          target.stamp.store(2 * position + 1, seam::memory_order::release);
          return result::done;
        }
        back_off(backoff);  // another pusher took the position, or a flag changed: `word` is fresh
        continue;
      }
      if (stamp + 2 * capacity_ == 2 * position + 1) {  // the slot still holds the value of one lap ago
        if ((head_.word.load(seam::memory_order::seq_cst) >> 1) + capacity_ == position) return result::full_or_empty;
        // Its popper has claimed it and is moving it out: wait for the stamp.
      }
      back_off(backoff);
      word = tail_.word.load(seam::memory_order::relaxed);
    }
  }

  /// Takes the oldest value into `out`. full_or_empty: the ring is empty. flagged: the pop flag is
  /// set and `honor_flag` is true.
  BRIGADE_ALWAYS_INLINE result try_pop(std::optional<T>& out, bool honor_flag) noexcept {
    std::uint64_t word = head_.word.load(seam::memory_order::relaxed);
    std::uint32_t backoff = first_backoff;
    while (true) {
      if (honor_flag && (word & flag) != 0) return result::flagged;
      const std::uint64_t position = word >> 1;
      slot& source = slot_of(position);
      const std::uint64_t stamp = source.stamp.load(seam::memory_order::acquire);
      if (stamp == 2 * position + 1) {
        if (head_.word.compare_exchange_weak(word, word + step, seam::memory_order::seq_cst,
                                             seam::memory_order::relaxed)) {
          T* held = std::launder(reinterpret_cast<T*>(source.storage));
          out.emplace(std::move(*held));
          held->~T();
          source.stamp.store(2 * (position + capacity_), seam::memory_order::release);
          return result::done;
        }
        back_off(backoff);
        continue;
      }
      if (stamp == 2 * position) {  // no value for this lap yet
        if ((tail_.word.load(seam::memory_order::seq_cst) >> 1) == position) return result::full_or_empty;
        // Its pusher has claimed the position and is constructing the value: wait for the stamp.
      }
      back_off(backoff);
      word = head_.word.load(seam::memory_order::relaxed);
    }
  }

 private:
  static constexpr std::uint32_t first_backoff = 64;
  static constexpr std::uint32_t max_backoff = 512;

  struct slot {
    seam::atomic<std::uint64_t> stamp{0};
    alignas(T) unsigned char storage[sizeof(T)];
  };
  /// After a lost compare-exchange (or while waiting for a party in the middle of its operation),
  /// looks again after 64, 128, 256, 512 pauses, then yields the processor each time (the party
  /// waited for may be preempted). The long first wait is deliberate: the winner of a race on
  /// `tail` (or `head`) usually has more to push, and a loser that stays away lets it do so while
  /// the line is in its cache. Two producers and two consumers on two cores (bench chan_mpmc):
  /// 60-62 M messages/s starting at 1 pause, 70 at 16, 74-78 at 64 (one interleaved run).
  [[gnu::noinline]] static void back_off(std::uint32_t& backoff) noexcept {
    for (std::uint32_t i = 0; i < backoff; ++i) seam::spin_pause();
    if (backoff < max_backoff) {
      backoff *= 2;
    } else {
      seam::yield();
    }
  }

  /// The slot of a position. A power-of-two capacity (above 1) takes a mask instead of the
  /// division, which costs tens of cycles: one worker passing messages through a channel of 1024
  /// (bench chan_mpmc, --threads 1) went from 44-47 to 56-58 M messages/s.
  slot& slot_of(std::uint64_t position) noexcept {
    return slots_[index_mask_ != 0 ? position & index_mask_ : position % capacity_];
  }

  const std::size_t capacity_;
  const std::uint64_t index_mask_;  // capacity - 1 for a power of two above 1, else 0
  std::unique_ptr<slot[]> slots_;
};

}  // namespace brigade::detail
