// brigade/detail/timer_wheel.hpp: the hierarchical timer wheel that keeps every pending deadline
// of the time driver, written as a plain data structure: no clock, no lock, no allocation.
//
// Defines `timer_node` (the links a timer entry carries; the caller's entry derives from it) and
// `timer_wheel` (six levels: the root, level 0, has 4096 slots of one tick; levels 1..5 have 64
// slots each, and a slot of level k spans 4096 * 64^(k-1) ticks; the wheel sees 2^42 ticks
// ahead, about 14 years at the runtime's 100 µs tick). The design is the hashed hierarchical
// timing wheel of Varghese and Lauck ("Hashed and Hierarchical Timing Wheels", 1987) in the shape
// Tokio's time driver gives it: a 64-bit occupancy bitmap per level (the root's 64 words with a
// summary word), so finding the next occupied slot is a count of trailing zeros, and a node is
// placed by the highest group of bits in which its deadline differs from the current tick (the
// root's 12 bits, then groups of six).
//
// Why the wide root: every move of a node from one level to another is a cache miss on a task's
// frame, and with 64 root slots (6.4 ms) a one-second sleep moved twice. With 4096 (409.6 ms)
// a sleep below that never moves and one below 26 s moves once: in the 1M-sleep benchmark the
// wheel's moves were a fifth of the run's CPU. The root costs 2 x 32 KiB of list heads.
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
// Staging (why moves are spread out): in a plain hierarchical wheel a slot of level k is
// re-sorted onto the levels below in one go when the clock reaches it. With 64-slot levels at
// 100 µs ticks a level-2 slot spanned 409.6 ms (a level-1 slot does now): with a million sleeps
// of up to a second, 400,000 nodes moved at once, each a cache miss, and the timers due in that
// slot's first ticks waited 40 ms for the move (measured: the p99 lateness of the 1M-sleep
// benchmark was 130-170 ms, a fifth of its time in advance()).
// Here levels 0..3 have two banks of slots: the current turn of the level, and its next turn.
// The slot of level k (1..4) that comes after the current one (its "next slot") is moved ahead
// of time into the next-turn bank of level k-1, at most stage_batch nodes per level per
// advance() (all of them once it starts within stage_rush_ticks), and next_wakeup() asks for a
// tick-by-tick advance while such a slot is not empty. When the clock reaches the end of a turn,
// the banks swap in O(1) ("flip"), and the slot's nodes are already where they belong. A node
// inserted into a next slot goes straight to the next-turn bank. So a node still moves at most
// once per level, but the moves happen during the span before its slot, a batch per tick.
// Only the top level is not staged: its slots span 80 days, and one moves down in one go.
//
// Thread safety: none of its own; the caller holds its lock around every member.
// Complexity: insert and remove O(1); next_wakeup O(levels); advance O(1) amortised per node per
// level it moves through, plus one step per occupied slot or bank flip it passes (never one per
// tick, however far it jumps), plus at most stage_batch moves per level (unless a next slot
// starts within stage_rush_ticks and is not yet empty). A deadline past the wheel's reach costs
// one more step each 2^42 ticks of small steps; one large jump places it again at most once.
#pragma once

#include <array>
#include <bit>
#include <cassert>
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
  // Which slot list the node is on, as (bank * levels + level) * 64 + slot, or not_in_wheel.
  // remove() needs it to find the list head and the occupancy bit when the node is the first or
  // the last of its slot.
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
  /// Level 0 (the root) has 2^12 = 4096 slots of one tick; levels 1..5 have 64 slots each.
  static constexpr unsigned root_bits = 12;
  static constexpr unsigned upper_bits = 6;
  static constexpr unsigned root_slots = 1u << root_bits;
  static constexpr unsigned upper_slots = 1u << upper_bits;
  /// The bits of a tick below `level`'s group (level 0: none; level 1: the root's 12).
  static constexpr unsigned shift_of(unsigned level) noexcept {
    return level == 0 ? 0 : root_bits + (level - 1) * upper_bits;
  }
  /// The slots of `level`.
  static constexpr unsigned slots_of(unsigned level) noexcept { return level == 0 ? root_slots : upper_slots; }
  /// The ticks one slot of `level` spans (level 0: 1; level 1: 4096; each level above: 64 times
  /// the one below); span_of(levels) is the wheel's range.
  static constexpr std::uint64_t span_of(unsigned level) noexcept { return std::uint64_t{1} << shift_of(level); }
  /// How far ahead of elapsed() the wheel places deadlines exactly: 2^(12 + 5 * 6) = 2^42 ticks.
  static constexpr std::uint64_t range = std::uint64_t{1} << (root_bits + (levels - 1) * upper_bits);
  /// Levels 0..banked_levels-1 have a next-turn bank; levels 1..banked_levels are staged into it.
  static constexpr unsigned banked_levels = 4;
  /// How many nodes one advance() moves from the next slot of each level into the bank below.
  static constexpr std::size_t stage_batch = 256;
  /// A next slot that starts within this many ticks is moved whole.
  static constexpr std::uint64_t stage_rush_ticks = 2;

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
  /// the start of a higher-level slot whose nodes must be moved down, or, for a slot that is
  /// staged, the tick at which it becomes the next slot (elapsed() + 1 while a next slot is not
  /// empty). std::nullopt when the wheel is empty. Never later than the earliest deadline in the
  /// wheel; always later than elapsed().
  [[nodiscard]] std::optional<std::uint64_t> next_wakeup() const noexcept {
    std::optional<std::uint64_t> earliest;
    for (unsigned level = 0; level < levels; ++level) {
      if (const std::optional<slot_position> first = first_occupied(level)) {
        const std::uint64_t wakeup = wakeup_for(level, first->start);
        if (!earliest || wakeup < *earliest) earliest = wakeup;
      }
      if (level < banked_levels) {
        const std::optional<unsigned> slot = lowest_slot(next_bank(level), level);
        if (!slot) continue;
        const std::uint64_t wakeup = wakeup_for(level, next_turn_start(level) + (std::uint64_t{*slot} << shift_of(level)));
        if (!earliest || wakeup < *earliest) earliest = wakeup;
      }
    }
    return earliest;
  }

  /// The tick next_wakeup() asks for on account of `node` alone, which must be in the wheel
  /// (after insert(): whether the caller's driver must wake earlier than it planned).
  [[nodiscard]] std::uint64_t wakeup_of(const timer_node& node) const noexcept {
    const unsigned bank = node.slot_ / lists_per_bank;
    const unsigned local = node.slot_ % lists_per_bank;
    const unsigned level = local < root_slots ? 0 : 1 + (local - root_slots) / upper_slots;
    const unsigned slot = local < root_slots ? local : (local - root_slots) % upper_slots;
    std::uint64_t start;
    if (level < banked_levels && bank != current_bank(level))
      start = next_turn_start(level) + (std::uint64_t{slot} << shift_of(level));
    else
      start = current_slot_start(level, slot);
    return wakeup_for(level, start);
  }

  /// How many nodes the last advance() placed again (moved down a level or staged ahead); fired
  /// nodes do not count. Staging bounds it by banked_levels * stage_batch plus the nodes of
  /// slots that were never a next slot before the clock reached them (a jump) or were rushed.
  [[nodiscard]] std::size_t moved_by_last_advance() const noexcept { return moved_; }

  /// Advances the wheel to tick `now` and returns the nodes whose deadline is <= now, taken out
  /// of the wheel and chained through `next` (nullptr-terminated, in no particular order).
  /// A `now` at or before elapsed() does nothing and returns nullptr.
  timer_node* advance(std::uint64_t now) noexcept {
    timer_node* due = nullptr;
    moved_ = 0;
    if (now <= elapsed_) return due;
    // Visit the occupied slots, and the ends of turns whose next-turn bank is filled, in the
    // order the clock reaches them. The lowest occupied level holds the earliest slot (see
    // next_occupied_slot), so one level's occupancy bitmap says where to go next and the empty
    // ticks between are skipped.
    for (;;) {
      const std::optional<slot_position> next = next_occupied_slot();
      const std::optional<std::uint64_t> flip = next_flip();
      if (flip && (!next || *flip <= next->start)) {
        // A turn ends before (or where) the next slot starts: every slot of the ending turns is
        // done, so their banks swap, and the next-turn bank's nodes are in place for the new
        // turn. A slot of a higher level that starts here is sorted out after the swap.
        if (*flip > now) break;
        elapsed_ = *flip;
        flip_banks(*flip);
        continue;
      }
      if (!next || next->start > now) break;
      if (next->level == levels - 1 && now - elapsed_ >= range) {
        // The jump covers a whole turn of the top level, the only level with nodes left (the
        // lower ones and the next-turn banks were all earlier and are done): stepping slot by
        // slot would visit every top slot at least once, and a slot of far deadlines once more
        // per turn, up to 2^22 turns before UINT64_MAX. Take the whole level instead, jump
        // straight to `now`, and place each node again from there: one visit per node, the
        // cost of a single turn. Detach every list before placing any node again, so that none
        // is visited twice.
        std::array<timer_node*, upper_slots> lists{};
        for (unsigned slot = 0; slot < upper_slots; ++slot)
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
    // No slot starts and no turn ends at or before `now` (the loop's exit), so every node still
    // in the wheel has a deadline later than `now`, and moving the clock there keeps every slot
    // ahead of it (next_occupied_slot explains why).
    elapsed_ = now;
    stage_next_slots();
    return due;
  }

 private:

  // Where a node goes. Write E for elapsed_ and D for a deadline > E, and split a tick into
  // groups of bits (group 0: bits 0..11; group k >= 1: the six bits above group k - 1); group k
  // selects the slot at level k. A node goes to the level of the
  // highest group in which D differs from E, into the slot that D's group selects there:
  //
  //   - D and E agree on every group above that level, and D's group there is larger than E's
  //     (D > E). So the slot lies strictly ahead of the level's current position, which is E's
  //     group, and the slot's start (D with the lower groups cleared) is > E and <= D.
  //   - The span of the slot (span_of(level) ticks) holds D, so once the clock reaches the slot's
  //     start, D differs from the clock only in lower groups: the node moves down a level at
  //     least, and reaches level 0 (whose slot starts at D itself) after at most five moves.
  //
  // A deadline past the wheel's reach (it differs from E above group 5, so it lies in a later
  // 2^42-tick turn of the top level than E) goes to the top level, into the slot its group 5
  // selects. That slot may be at or behind the
  // top level's position; the top level alone wraps around, so a slot at or behind its position
  // is reached on the next turn, whose start (E's next 2^42-aligned turn plus the slot's offset)
  // is still <= D, since D lies in that turn or a later one.
  //
  // A slot of level k in 1..banked_levels right after the position is the level's next slot:
  // a node bound there is staged instead (stage()).
  static unsigned level_for(std::uint64_t elapsed, std::uint64_t deadline) noexcept {
    const std::uint64_t differing = elapsed ^ deadline;
    if (differing >= range) return levels - 1;
    if (differing < root_slots) return 0;
    // The highest differing bit, counting from 0 (at least root_bits here).
    const auto highest_bit = static_cast<unsigned>(std::bit_width(differing)) - 1;
    return 1 + (highest_bit - root_bits) / upper_bits;
  }

  static unsigned slot_for(unsigned level, std::uint64_t deadline) noexcept {
    return static_cast<unsigned>(deadline >> shift_of(level)) & (slots_of(level) - 1);
  }

  unsigned current_bank(unsigned level) const noexcept { return level < banked_levels ? current_bank_[level] : 0u; }
  // Only for level < banked_levels.
  unsigned next_bank(unsigned level) const noexcept { return current_bank_[level] ^ 1u; }

  // The start of E's current turn at `level` (E with that level's group and every lower one
  // cleared), and of the turn after it. At the top level the shift is 36 bits, still below 64.
  std::uint64_t turn_start(unsigned level) const noexcept { return elapsed_ & ~(span_of(level + 1) - 1); }
  // Only for level < banked_levels with a filled next-turn bank: then a deadline lies in that
  // turn, so its start does not overflow.
  std::uint64_t next_turn_start(unsigned level) const noexcept { return turn_start(level) + span_of(level + 1); }

  // The start of slot `slot` of `level`'s current bank (ahead of the position; at the top level
  // a slot at or behind the position belongs to the next turn).
  std::uint64_t current_slot_start(unsigned level, unsigned slot) const noexcept {
    const std::uint64_t offset = std::uint64_t{slot} << shift_of(level);
    if (level == levels - 1 && slot <= slot_for(level, elapsed_)) return turn_start(level) + range + offset;
    return turn_start(level) + offset;
  }

  // When a slot of `level` that starts at `start` needs an advance: at its start; for a staged
  // level, already when it becomes the next slot (the start of the slot before it), and at once
  // if it is the next slot now.
  std::uint64_t wakeup_for(unsigned level, std::uint64_t start) const noexcept {
    if (level == 0 || level > banked_levels) return start;
    const std::uint64_t becomes_next = start - span_of(level);
    return becomes_next > elapsed_ ? becomes_next : elapsed_ + 1;
  }

  // The lists are one flat array, which is also what a node's slot_ indexes: a bank holds the
  // root's 4096 lists, then 64 per upper level. The occupancy bits follow the same numbering,
  // 64 lists to a word (a bank's lists fill whole words, and an upper level is one word); the
  // root's 64 words have a summary word per bank, a bit per non-zero word.
  static constexpr unsigned lists_per_bank = root_slots + (levels - 1) * upper_slots;
  static constexpr unsigned first_list(unsigned level) noexcept {
    return level == 0 ? 0 : root_slots + (level - 1) * upper_slots;
  }
  static unsigned list_of(unsigned bank, unsigned level, unsigned slot) noexcept {
    return bank * lists_per_bank + first_list(level) + slot;
  }
  void mark_occupied(unsigned list) noexcept {
    occupied_[list / 64] |= std::uint64_t{1} << (list % 64);
    const unsigned local = list % lists_per_bank;
    if (local < root_slots) root_summary_[list / lists_per_bank] |= std::uint64_t{1} << (local / 64);
  }
  void mark_empty(unsigned list) noexcept {
    std::uint64_t& word = occupied_[list / 64];
    word &= ~(std::uint64_t{1} << (list % 64));
    const unsigned local = list % lists_per_bank;
    if (local < root_slots && word == 0) root_summary_[list / lists_per_bank] &= ~(std::uint64_t{1} << (local / 64));
  }
  // The occupancy word of an upper level (one word: 64 slots).
  std::uint64_t upper_word(unsigned bank, unsigned level) const noexcept {
    return occupied_[(bank * lists_per_bank + first_list(level)) / 64];
  }
  bool level_empty(unsigned bank, unsigned level) const noexcept {
    return level == 0 ? root_summary_[bank] == 0 : upper_word(bank, level) == 0;
  }
  // The lowest occupied slot of a bank's level, or nullopt.
  std::optional<unsigned> lowest_slot(unsigned bank, unsigned level) const noexcept {
    if (level == 0) {
      const std::uint64_t summary = root_summary_[bank];
      if (summary == 0) return std::nullopt;
      const auto word = static_cast<unsigned>(std::countr_zero(summary));
      return word * 64 + static_cast<unsigned>(std::countr_zero(occupied_[bank * lists_per_bank / 64 + word]));
    }
    const std::uint64_t occupied = upper_word(bank, level);
    if (occupied == 0) return std::nullopt;
    return static_cast<unsigned>(std::countr_zero(occupied));
  }

  void link(timer_node& node, unsigned bank, unsigned level, unsigned slot) noexcept {
    const unsigned list = list_of(bank, level, slot);
    timer_node*& head = lists_[list];
    node.prev_ = nullptr;
    node.next = head;
    if (head != nullptr) head->prev_ = &node;
    head = &node;
    node.slot_ = static_cast<std::uint16_t>(list);
    mark_occupied(list);
  }

  void place(timer_node& node) noexcept {
    unsigned level = level_for(elapsed_, node.deadline);
    unsigned slot = slot_for(level, node.deadline);
    unsigned bank = current_bank(level);
    if (level - 1 < banked_levels && slot == slot_for(level, elapsed_) + 1) {
      // The next slot of a staged level (1..banked_levels): the next-turn bank below (stage()),
      // written out for the common case, which inserts take often.
      --level;
      slot = slot_for(level, node.deadline);
      if (level >= 1 && slot == 0 && slot_for(level, elapsed_) == slots_of(level) - 1) [[unlikely]] {
        stage(node, level + 1);
        return;
      }
      bank = next_bank(level);
    }
    link(node, bank, level, slot);
  }

  // `node`'s deadline lies in the next slot of `level` (1..banked_levels), which starts where
  // the current turn of level - 1 ends, at S: it goes to the next-turn bank of level - 1, into
  // the slot its group there selects (that turn is [S, S + span_of(level))). Unless that slot is
  // itself the next slot of level - 1 (slot 0, with level - 1's position on its last slot:
  // the current turn of level - 2 ends at S as well): then one level further down, and so on.
  void stage(timer_node& node, unsigned level) noexcept {
    for (unsigned below = level - 1;; --below) {
      const unsigned slot = slot_for(below, node.deadline);
      if (below >= 1 && slot == 0 && slot_for(below, elapsed_) == slots_of(below) - 1) continue;
      link(node, next_bank(below), below, slot);
      return;
    }
  }

  // Moves nodes out of the next slot of each staged level, from the top down (a node staged
  // from level k may land in the next slot of k - 1, and moves on in the same call).
  void stage_next_slots() noexcept {
    for (unsigned level = banked_levels; level >= 1; --level) {
      const unsigned position = slot_for(level, elapsed_);
      timer_node** head;
      if (position + 1 < slots_of(level))
        head = &lists_[list_of(current_bank(level), level, position + 1)];
      else if (level < banked_levels)
        head = &lists_[list_of(next_bank(level), level, 0)];
      else
        continue;  // the top level is not staged
      if (*head == nullptr) continue;
      const std::uint64_t starts = (elapsed_ | (span_of(level) - 1)) + 1;  // a deadline is >= it
      std::size_t budget = starts - elapsed_ <= stage_rush_ticks ? ~std::size_t{0} : stage_batch;
      while (budget-- != 0 && *head != nullptr) {
        timer_node& node = **head;
        unlink(node);
        stage(node, level);
        ++moved_;
      }
    }
  }

  // The end of a turn at tick `at`: every level whose turn ends there swaps its banks. Their
  // current banks are empty: each of their slots started before `at` and was visited.
  void flip_banks(std::uint64_t at) noexcept {
    for (unsigned level = 0; level < banked_levels && at % span_of(level + 1) == 0; ++level) {
      assert(level_empty(current_bank(level), level));
      current_bank_[level] ^= 1u;
    }
  }

  // The end of the earliest turn whose next-turn bank holds nodes, or nullopt. Turns of lower
  // levels end first, so the lowest such level answers.
  std::optional<std::uint64_t> next_flip() const noexcept {
    for (unsigned level = 0; level < banked_levels; ++level)
      if (!level_empty(next_bank(level), level)) return next_turn_start(level);
    return std::nullopt;
  }

  void unlink(timer_node& node) noexcept {
    const unsigned list = node.slot_;
    if (node.prev_ != nullptr)
      node.prev_->next = node.next;
    else
      lists_[list] = node.next;
    if (node.next != nullptr) node.next->prev_ = node.prev_;
    if (lists_[list] == nullptr) mark_empty(list);
    node.next = nullptr;
    node.prev_ = nullptr;
    node.slot_ = timer_node::not_in_wheel;
  }

  // Detaches a current slot's whole list and returns its first node; the nodes keep their
  // `next` links.
  timer_node* take_slot(unsigned level, unsigned slot) noexcept {
    const unsigned list = list_of(current_bank(level), level, slot);
    timer_node* const first = lists_[list];
    lists_[list] = nullptr;
    mark_empty(list);
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
        ++moved_;
      }
    }
    return due;
  }

  struct slot_position {
    unsigned level;
    unsigned slot;
    std::uint64_t start;  // the tick at which the clock reaches the slot
  };

  // The first slot of `level`'s current bank that the clock reaches, or nullopt if it is empty.
  [[nodiscard]] std::optional<slot_position> first_occupied(unsigned level) const noexcept {
    const std::optional<unsigned> lowest = lowest_slot(current_bank(level), level);
    if (!lowest) return std::nullopt;
    unsigned slot = *lowest;
    if (level == levels - 1) {
      const std::uint64_t occupied = upper_word(current_bank(level), level);
      const unsigned position = slot_for(level, elapsed_);
      // The slots after the position (none after the last; a shift by 64 would be undefined)
      // belong to this turn and come first. A slot at or behind the position holds only
      // deadlines of a later turn than E's, so E's turn is not the last one before UINT64_MAX,
      // and the next turn's start does not overflow.
      const std::uint64_t ahead_mask =
          position == upper_slots - 1 ? 0 : ~std::uint64_t{0} << (position + 1);
      if (const std::uint64_t ahead = occupied & ahead_mask; ahead != 0)
        slot = static_cast<unsigned>(std::countr_zero(ahead));
    }
    return slot_position{level, slot, current_slot_start(level, slot)};
  }

  // The next slot the clock reaches, or nullopt when the current banks are empty.
  //
  // Invariant (between calls): on levels 0..4 every occupied slot of the current bank lies
  // strictly ahead of the level's position (E's group at that level), within the current turn
  // of that level; on the top level, a slot ahead of the position belongs to this turn and one
  // at or behind it to the next turn. A next-turn bank holds nodes of the level's next turn
  // only. Every node's slot starts at or before its deadline.
  //
  // Why it holds: place() and stage() put nodes there (see level_for and stage). advance()
  // moves the clock only to the start S of the earliest occupied slot, to the end of a turn
  // whose next-turn bank is filled (and swaps the banks there), or to a `now` earlier than both;
  // a tick T with E <= T < S agrees with E on every group above that slot's level and so leaves
  // those positions where they were, and on the slot's own level T's group stays below the slot
  // (or, at S, the slot is the one being emptied). A filled next-turn bank stops the clock at
  // its turn's start, so a level's position never wraps past it. On the top level, a T in the
  // next turn is earlier than every next-turn slot's start, so each of those slots is now ahead
  // in T's turn, at the same start.
  //
  // Why the lowest occupied level holds the earliest slot: a slot of level k < 5 starts before
  // the end of E's current span at level k + 1, which is where the next slot of any higher
  // level begins at the earliest.
  [[nodiscard]] std::optional<slot_position> next_occupied_slot() const noexcept {
    for (unsigned level = 0; level < levels; ++level)
      if (std::optional<slot_position> first = first_occupied(level)) return first;
    return std::nullopt;
  }

  std::uint64_t elapsed_;
  std::size_t size_ = 0;
  std::size_t moved_ = 0;  // by the last advance()
  // Which of a banked level's two banks holds its current turn (the other: its next turn).
  std::array<std::uint8_t, levels> current_bank_{};
  // One bit per list (list_of's numbering), set exactly when the list is not empty; and per
  // bank, a bit per root word that is not zero.
  std::array<std::uint64_t, 2 * lists_per_bank / 64> occupied_{};
  std::array<std::uint64_t, 2> root_summary_{};
  std::array<timer_node*, 2 * lists_per_bank> lists_{};
};

}  // namespace brigade::detail
