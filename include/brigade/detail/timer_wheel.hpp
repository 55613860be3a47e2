// brigade/detail/timer_wheel.hpp: the hierarchical timer wheel that keeps every pending deadline
// of the time driver, written as a plain data structure: no clock, no lock, no allocation.
//
// Defines `timer_node` (the links a timer entry carries; the caller's entry derives from it) and
// `timer_wheel` (six levels of 64 slots; a slot of level k spans 64^k ticks, so the wheel sees
// 64^6 = 2^36 ticks ahead, about 80 days at the runtime's 100 µs tick). The design is the hashed
// hierarchical timing wheel of Varghese and Lauck ("Hashed and Hierarchical Timing Wheels", 1987)
// in the shape Tokio's time driver gives it: one 64-bit occupancy bitmap per level, so finding
// the next occupied slot is a count of trailing zeros, and a node is placed by the highest group
// of six bits in which its deadline differs from the current tick.
//
// Usage: set `deadline` (in ticks, whatever unit the caller counts in) on a node that is not in
// the wheel, then insert() it; insert() refuses a deadline that is already due, and the caller
// fires that one itself. remove() takes a node out early (a cancelled timer). The driver sleeps
// until next_wakeup(), then calls advance(now), which returns the due nodes chained through
// `next`; read a node's `next` before handing the node on, since re-inserting or freeing it reuses
// that link. Every call goes under the caller's lock; firing (waking the timers' tasks) is best
// done after that lock is released, from the returned chain, which the wheel no longer touches.
//
// Guarantees: a node is never returned before its deadline, and is returned by the first
// advance(now) with now >= deadline, for every deadline up to UINT64_MAX (those past the wheel's
// reach wait at the top level and are placed again each time their slot comes round).
// next_wakeup() is never later than the earliest deadline in the wheel, and is later than
// elapsed(), so advancing to it always makes progress.
//
// Thread safety: none of its own; the caller holds its lock around every member.
// Complexity: insert and remove O(1); next_wakeup O(levels); advance O(1) amortised per node per
// level it moves through, plus one step per occupied slot it passes (never one per tick, however
// far it jumps). A deadline past the wheel's reach costs one more step each 2^36 ticks of small
// steps; one large jump places it again at most once.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace brigade::detail {

class timer_wheel;

/// The links a timer carries; the caller's timer entry derives from it.
///
/// The wheel stores the node's address from insert() until advance() returns it or remove()
/// takes it out, so a node is neither copyable nor movable; a node must not be destroyed while
/// in_wheel().
struct timer_node {
  timer_node() = default;
  timer_node(const timer_node&) = delete;
  timer_node& operator=(const timer_node&) = delete;

  /// The tick at which the timer is due; set by the caller while the node is not in the wheel.
  std::uint64_t deadline = 0;
  /// While in the wheel: the next node on the same slot's list (the wheel's own link, not to be
  /// touched). After advance() returns the node: the next returned node, nullptr after the last.
  timer_node* next = nullptr;

  /// Whether the node is on one of the wheel's slot lists (inserted, not yet returned or removed).
  [[nodiscard]] bool in_wheel() const noexcept { return slot_ != not_in_wheel; }

 private:
  friend class timer_wheel;
  static constexpr std::uint16_t not_in_wheel = 0xFFFF;

  timer_node* prev_ = nullptr;  // the previous node on the slot's list; nullptr for the first
  // Which slot list the node is on, as level * 64 + slot, or not_in_wheel. remove() needs it to
  // find the list head and the occupancy bit when the node is the first or the last of its slot.
  std::uint16_t slot_ = not_in_wheel;
};

/// A hashed hierarchical timer wheel of intrusive nodes: insert, remove, and advance to a tick
/// that returns every node due by then.
///
/// Thread safety: none; every member under the caller's lock.
/// Complexity: insert and remove O(1), next_wakeup O(levels), advance amortised O(1) per node per
/// level (the header comment has the details).
class timer_wheel {
 public:
  static constexpr unsigned levels = 6;
  static constexpr unsigned bits_per_level = 6;
  static constexpr unsigned slots_per_level = 1u << bits_per_level;  // 64
  /// How far ahead of elapsed() the wheel places deadlines exactly: 64^6 = 2^36 ticks.
  static constexpr std::uint64_t range = std::uint64_t{1} << (levels * bits_per_level);

  explicit timer_wheel(std::uint64_t start_tick = 0) noexcept : elapsed_(start_tick) {}
  timer_wheel(const timer_wheel&) = delete;
  timer_wheel& operator=(const timer_wheel&) = delete;

  /// The tick the wheel has advanced to.
  [[nodiscard]] std::uint64_t elapsed() const noexcept { return elapsed_; }
  /// How many nodes are in the wheel.
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }

  /// Inserts `node`, which must not be in the wheel, at its `deadline`. Returns false and
  /// inserts nothing when the deadline is already due (deadline <= elapsed()): the caller fires
  /// that timer itself.
  bool insert(timer_node& node) noexcept {
    if (node.deadline <= elapsed_) return false;
    place(node);
    ++size_;
    return true;
  }

  /// Removes `node` if it is in the wheel; returns whether it was. A node that advance() has
  /// returned is in no wheel: this returns false and leaves its `next` alone.
  bool remove(timer_node& node) noexcept {
    if (!node.in_wheel()) return false;
    unlink(node);
    --size_;
    return true;
  }

  /// The earliest tick at which advance() may have something to do: the deadline of a due node,
  /// or the start of a higher-level slot whose nodes must be moved down. std::nullopt when the
  /// wheel is empty. Never later than the earliest deadline in the wheel; always later than
  /// elapsed().
  [[nodiscard]] std::optional<std::uint64_t> next_wakeup() const noexcept {
    const std::optional<slot_position> next = next_occupied_slot();
    if (!next) return std::nullopt;
    return next->start;
  }

  /// Advances the wheel to tick `now` and returns the nodes whose deadline is <= now, taken out
  /// of the wheel and chained through `next` (nullptr-terminated, in no particular order).
  /// A `now` at or before elapsed() does nothing and returns nullptr.
  timer_node* advance(std::uint64_t now) noexcept {
    timer_node* due = nullptr;
    if (now <= elapsed_) return due;
    // Visit the occupied slots in the order the clock reaches them, each at its start tick. The
    // lowest occupied level holds the earliest slot (see next_occupied_slot), so one level's
    // occupancy bitmap says where to go next and the empty ticks between are skipped.
    while (const std::optional<slot_position> next = next_occupied_slot()) {
      if (next->start > now) break;
      if (next->level == levels - 1 && now - elapsed_ >= range) {
        // The jump covers a whole turn of the top level, the only level with nodes left (the
        // lower ones were all earlier and are done): stepping slot by slot would visit every
        // top slot at least once, and a slot of far deadlines once more per turn, up to 2^28
        // turns before UINT64_MAX. Take the whole level instead, jump straight to `now`, and
        // place each node again from there: one visit per node, the cost of a single turn.
        // Detach every list before placing any node again, so that none is visited twice.
        std::array<timer_node*, slots_per_level> lists{};
        for (unsigned slot = 0; slot < slots_per_level; ++slot)
          lists[slot] = take_slot(levels - 1, slot);
        elapsed_ = now;
        for (timer_node* list : lists) due = sort_out(list, now, due);
        break;
      }
      // The clock reaches this slot's start: every node in it now lies within the slot's span
      // ahead of elapsed_, so placing it again puts it on a lower level (or fires it). A node
      // past the wheel's reach goes back to the top level, a full turn later.
      elapsed_ = next->start;
      due = sort_out(take_slot(next->level, next->slot), now, due);
    }
    // No slot starts at or before `now` (the loop's exit), so every node still in the wheel has
    // a deadline later than `now`, and moving the clock there keeps every slot ahead of it
    // (next_occupied_slot explains why).
    elapsed_ = now;
    return due;
  }

 private:
  // Where a node goes. Write E for elapsed_ and D for a deadline > E, and split a tick into
  // groups of six bits; group k selects the slot at level k. A node goes to the level of the
  // highest group in which D differs from E, into the slot that D's group selects there:
  //
  //   - D and E agree on every group above that level, and D's group there is larger than E's
  //     (D > E). So the slot lies strictly ahead of the level's current position, which is E's
  //     group, and the slot's start (D with the lower groups cleared) is > E and <= D.
  //   - The span of the slot (64^level ticks) holds D, so once the clock reaches the slot's
  //     start, D differs from the clock only in lower groups: the node moves down a level at
  //     least, and reaches level 0 (whose slot starts at D itself) after at most five moves.
  //
  // A deadline past the wheel's reach (it differs from E above group 5, so it lies in a later
  // 2^36-tick turn of the top level than E) goes to the top level, into the slot its group 5 selects. That slot may be at or behind the
  // top level's position; the top level alone wraps around, so a slot at or behind its position
  // is reached on the next turn, whose start (E's next 2^36-aligned turn plus the slot's offset)
  // is still <= D, since D lies in that turn or a later one.
  static unsigned level_for(std::uint64_t elapsed, std::uint64_t deadline) noexcept {
    const std::uint64_t differing = elapsed ^ deadline;
    if (differing >= range) return levels - 1;
    // The highest differing bit, counting from 0; `| (slots_per_level - 1)` makes level 0 the
    // answer for bits 0..5 and keeps bit_width away from 0.
    const auto highest_bit =
        static_cast<unsigned>(std::bit_width(differing | (slots_per_level - 1))) - 1;
    return highest_bit / bits_per_level;
  }

  static unsigned slot_for(unsigned level, std::uint64_t deadline) noexcept {
    return static_cast<unsigned>(deadline >> (level * bits_per_level)) & (slots_per_level - 1);
  }

  void place(timer_node& node) noexcept {
    const unsigned level = level_for(elapsed_, node.deadline);
    const unsigned slot = slot_for(level, node.deadline);
    timer_node*& head = slots_[level][slot];
    node.prev_ = nullptr;
    node.next = head;
    if (head != nullptr) head->prev_ = &node;
    head = &node;
    node.slot_ = static_cast<std::uint16_t>(level * slots_per_level + slot);
    occupied_[level] |= std::uint64_t{1} << slot;
  }

  void unlink(timer_node& node) noexcept {
    const unsigned level = node.slot_ / slots_per_level;
    const unsigned slot = node.slot_ % slots_per_level;
    if (node.prev_ != nullptr)
      node.prev_->next = node.next;
    else
      slots_[level][slot] = node.next;
    if (node.next != nullptr) node.next->prev_ = node.prev_;
    if (slots_[level][slot] == nullptr) occupied_[level] &= ~(std::uint64_t{1} << slot);
    node.next = nullptr;
    node.prev_ = nullptr;
    node.slot_ = timer_node::not_in_wheel;
  }

  // Detaches a slot's whole list and returns its first node; the nodes keep their `next` links.
  timer_node* take_slot(unsigned level, unsigned slot) noexcept {
    timer_node* const first = slots_[level][slot];
    slots_[level][slot] = nullptr;
    occupied_[level] &= ~(std::uint64_t{1} << slot);
    return first;
  }

  // Takes each node of a detached list: one due by `now` goes onto the `due` chain, one not yet
  // due is placed again relative to elapsed_ (its deadline > now >= elapsed_). Returns the chain.
  timer_node* sort_out(timer_node* list, std::uint64_t now, timer_node* due) noexcept {
    while (list != nullptr) {
      timer_node& node = *list;
      list = node.next;
      if (node.deadline <= now) {
        node.prev_ = nullptr;
        node.slot_ = timer_node::not_in_wheel;
        node.next = due;
        due = &node;
        --size_;
      } else {
        place(node);
      }
    }
    return due;
  }

  struct slot_position {
    unsigned level;
    unsigned slot;
    std::uint64_t start;  // the tick at which the clock reaches the slot
  };

  // The next slot the clock reaches, or nullopt when the wheel is empty.
  //
  // Invariant (between calls): on levels 0..4 every occupied slot lies strictly ahead of the
  // level's position (E's group at that level), within the current turn of that level; on the
  // top level, a slot ahead of the position belongs to this turn and one at or behind it to the
  // next turn. Every node's slot starts at or before its deadline.
  //
  // Why it holds: place() puts nodes there (see level_for). advance() moves the clock only to
  // the start S of the earliest occupied slot, or to a `now` earlier than S; a tick T with
  // E <= T < S agrees with E on every group above that slot's level and so leaves those
  // positions where they were, and on the slot's own level T's group stays below the slot (or,
  // at S, the slot is the one being emptied). On the top level, a T in the next turn is earlier
  // than every next-turn slot's start, so each of those slots is now ahead in T's turn, at the
  // same start.
  //
  // Why the lowest occupied level holds the earliest slot: a slot of level k < 5 starts before
  // the end of E's current span at level k + 1, which is where the next slot of any higher
  // level begins at the earliest.
  [[nodiscard]] std::optional<slot_position> next_occupied_slot() const noexcept {
    for (unsigned level = 0; level < levels; ++level) {
      const std::uint64_t occupied = occupied_[level];
      if (occupied == 0) continue;
      const unsigned shift = level * bits_per_level;
      // The start of E's current turn at this level: E with this level's group and every lower
      // one cleared. At the top level the shift is 36 bits, still less than 64.
      const std::uint64_t turn_mask = (std::uint64_t{1} << (shift + bits_per_level)) - 1;
      const std::uint64_t turn_start = elapsed_ & ~turn_mask;
      if (level < levels - 1) {
        const auto slot = static_cast<unsigned>(std::countr_zero(occupied));
        return slot_position{level, slot, turn_start + (std::uint64_t{slot} << shift)};
      }
      const unsigned position = slot_for(level, elapsed_);
      // The slots after the position (none after the last; a shift by 64 would be undefined).
      const std::uint64_t ahead_mask =
          position == slots_per_level - 1 ? 0 : ~std::uint64_t{0} << (position + 1);
      const std::uint64_t ahead = occupied & ahead_mask;
      if (ahead != 0) {
        const auto slot = static_cast<unsigned>(std::countr_zero(ahead));
        return slot_position{level, slot, turn_start + (std::uint64_t{slot} << shift)};
      }
      // A slot at or behind the position holds only deadlines of a later turn than E's, so E's
      // turn is not the last one before UINT64_MAX, and the next turn's start does not overflow.
      const auto slot = static_cast<unsigned>(std::countr_zero(occupied));
      return slot_position{level, slot, turn_start + range + (std::uint64_t{slot} << shift)};
    }
    return std::nullopt;
  }

  std::uint64_t elapsed_;
  std::size_t size_ = 0;
  // One bit per slot: set exactly when the slot's list is not empty.
  std::array<std::uint64_t, levels> occupied_{};
  std::array<std::array<timer_node*, slots_per_level>, levels> slots_{};
};

}  // namespace brigade::detail
