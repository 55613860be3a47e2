// brigade/chan/block_queue.hpp: the buffer of an unbounded channel: a FIFO queue of values in a
// chain of fixed-size blocks, which grows without moving what it holds and without allocating
// while its owner's lock is held (internal; chan/channel_core.hpp uses it).
//
// Layout: values live in blocks of `block_slots` slots, linked from the oldest (head) to the
// newest (tail); pushes fill the tail block, pops empty the head block. A block the pops have
// emptied is kept as the spare (or freed if there is one already), and a push that fills the tail
// block links the spare in as the new tail. So a queue that keeps a steady level allocates
// nothing, and one that grows needs one new block per `block_slots` values: the owner allocates it
// *before* it takes its lock (prepare, below) and hands it over under the lock (install_spare).
// Only when no spare is ready at a push (two blocks filled between one sender's prepare and its
// push) does grow_locked allocate under the lock, which stays correct, just slower.
// Why blocks and not one array that doubles: doubling moves every value, under the lock, into
// memory touched for the first time (a page fault each 4 KiB, ~15 µs on this VM), and holds up
// every other party of the channel meanwhile.
//
// Not thread-safe: every member but the static block functions is called under the owner's lock.
// Invariants: count_ values, from head_index_ in head_ to tail_index_ (exclusive) in tail_; head_
// and tail_ are both null or both not; blocks between them are full; spare_ is on no chain.
// Complexity: push and pop O(1); no value is ever moved once pushed, until popped.
#pragma once

#include <algorithm>
#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace brigade::detail {

template <class T>
class block_queue {
  static_assert(std::is_nothrow_move_constructible_v<T> && std::is_nothrow_destructible_v<T>,
                "block_queue<T> needs a T that moves and destroys without throwing");

 public:
  /// Slots per block: about 2 KiB of values, and at least 16.
  static constexpr std::size_t block_slots = std::max<std::size_t>(16, 2048 / sizeof(T));

  struct block {
    block* next = nullptr;
    alignas(T) unsigned char storage[block_slots * sizeof(T)];
    /// Where slot `index` is (its value, if any, is reached through std::launder).
    T* slot(std::size_t index) noexcept { return reinterpret_cast<T*>(storage + index * sizeof(T)); }
  };

  /// A new block, for install_spare. Throws std::bad_alloc. Call without the owner's lock.
  static block* allocate_block() { return new block; }
  static void free_block(block* b) noexcept { delete b; }

  block_queue() = default;
  block_queue(const block_queue&) = delete;
  block_queue& operator=(const block_queue&) = delete;
  ~block_queue() {
    while (count_ > 0) (void)pop();
    free_block(head_);  // the one left after the pops (the others were freed or kept as spare)
    free_block(spare_);
  }

  [[nodiscard]] std::size_t size() const noexcept { return count_; }

  /// Whether push() needs no allocation: the tail block has a free slot, or a spare is ready.
  [[nodiscard]] bool has_room() const noexcept {
    return (tail_ != nullptr && tail_index_ < block_slots) || spare_ != nullptr;
  }
  /// Whether a spare block would be welcome (the owner then calls install_spare, lock released
  /// for the allocation).
  [[nodiscard]] bool wants_spare() const noexcept { return spare_ == nullptr; }

  /// Takes `b` as the spare if there is none; returns the block the caller must free (after it
  /// releases its lock): `b` itself when a spare was already there, else null.
  [[nodiscard]] block* install_spare(block* b) noexcept {
    if (spare_ != nullptr) return b;
    spare_ = b;
    return nullptr;
  }

  /// Makes room when has_room() is false, allocating under the owner's lock (the fallback).
  /// Throws std::bad_alloc; then nothing changed.
  void grow_locked() {
    if (!has_room()) spare_ = allocate_block();
  }

  /// Appends `value`. Precondition: has_room().
  void push(T&& value) noexcept {
    if (tail_ == nullptr || tail_index_ == block_slots) link_spare();
    ::new (static_cast<void*>(tail_->slot(tail_index_))) T(std::move(value));
    ++tail_index_;
    ++count_;
  }

  /// Removes and returns the oldest value. Precondition: size() > 0.
  T pop() noexcept {
    T* oldest = std::launder(head_->slot(head_index_));
    T value(std::move(*oldest));
    oldest->~T();
    ++head_index_;
    --count_;
    if (head_index_ == block_slots && head_ != tail_) {  // the head block is used up: retire it
      block* done = std::exchange(head_, head_->next);
      head_index_ = 0;
      retire(done);
    } else if (count_ == 0) {  // empty: start the one block over
      head_index_ = 0;
      tail_index_ = 0;
    }
    return value;
  }

 private:
  void link_spare() noexcept {
    block* fresh = std::exchange(spare_, nullptr);
    fresh->next = nullptr;
    if (tail_ == nullptr) {
      head_ = tail_ = fresh;
      head_index_ = 0;
    } else {
      tail_->next = fresh;
      tail_ = fresh;
    }
    tail_index_ = 0;
  }
  void retire(block* done) noexcept {
    if (spare_ == nullptr) {
      spare_ = done;
    } else {
      free_block(done);
    }
  }

  block* head_ = nullptr;
  block* tail_ = nullptr;
  block* spare_ = nullptr;
  std::size_t head_index_ = 0;
  std::size_t tail_index_ = 0;
  std::size_t count_ = 0;
};

}  // namespace brigade::detail
