// brigade/chan/channel_core.hpp: the shared state of a channel and its algorithms (internal;
// users hold sender<T>, receiver<T> and channel<T> from chan/channel.hpp).
//
// Go's design (runtime/chan.go), on brigade's waiter. One lock guards a ring buffer and two queues
// of parked operations: senders that wait for room or for a receiver, receivers that wait for a
// value. Every operation is one short critical section:
//   send  receiver parked? move the value straight into its slot and wake it (no buffer trip);
//         else room in the buffer? append; else park with a pointer to the value.
//   recv  buffer not empty? take the oldest, then move one parked sender's value into the room
//         that freed (so the buffer stays in FIFO order); else sender parked (capacity 0)? take its
//         value directly; else closed? report closed; else park with a pointer to the slot.
//   close mark closed; every parked receiver wakes with "closed", every parked sender wakes with
//         "closed" (its send fails); what is buffered stays for the receivers to drain.
// Invariants, under the lock: senders park only while the buffer is full (or capacity is 0) and
// receivers only while it is empty, so at most one of the two queues holds live operations.
// Values move under the lock, before the wake (which happens after the lock is released): the
// woken party finds its value in place, and waker and woken never touch each other's frames
// afterwards.
//
// Bounded channels (0 < capacity < unbounded) add a lock-free path in front of this. Their buffer
// is a lock_free_ring (chan/lock_free_ring.hpp), and while nobody is parked a send or receive is
// one compare-exchange on the ring, without the lock (fast_send, fast_receive). The ring's flags
// send everyone to the lock while parties of one side are parked:
//   - a party parks under the lock by queuing itself, setting its side's flag (senders: the push
//     flag, receivers: the pop flag) and then settling (below), which completes it at once if the
//     ring changed before the flag went up;
//   - a fast operation that succeeded reads the other side's flag; if it is set, it takes the lock
//     and settles;
//   - settling, under the lock: give ring values to parked receivers while both exist, move parked
//     senders' values into the ring while there is room, and clear a side's flag once its queue
//     is empty (never after close).
// The flag changes, the ring's claims and the flag reads are sequentially consistent, so of a
// parking party (flag up, then it reads the positions) and a fast operation on the other side
// (claim, then it reads the flag), at least one sees the other: a value or room never sits
// unnoticed beside a parked party. With its side's flag up, only the lock holder pushes (or pops),
// so settling moves exactly what it counted.
// Wakes: every locked step returns the waiters it completed as a chain (through `next`), woken
// with wait_list::wake_all after the lock is released.
//
// Selection: a parked operation may be one case of a select (chan/select.hpp), parked on several
// channels at once. Whoever takes it off a queue must first claim it (channel_waiter::try_claim);
// when the select was already won by another case, the stale waiter is dropped and the next one
// is tried. The select takes its other waiters off their queues after it wakes.
//
// Handles: the core counts sender handles, receiver handles and references. When the last sender
// handle goes, the channel closes (no receiver can wait forever on a channel nobody can send on);
// when the last receiver handle goes, parked and later sends fail with channel_closed (no sender
// waits forever for a receiver that cannot come). The last reference frees the core.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>

#include "brigade/chan/block_queue.hpp"
#include "brigade/chan/lock_free_ring.hpp"
#include "brigade/detail/cancellable_wait.hpp"
#include "brigade/detail/seam.hpp"
#include "brigade/detail/spin_lock.hpp"
#include "brigade/detail/wait_list.hpp"
#include "brigade/runtime/errors.hpp"
#include "brigade/runtime/waiter.hpp"

namespace brigade {

/// The capacity of a channel that never blocks a sender.
inline constexpr std::size_t unbounded = std::numeric_limits<std::size_t>::max();

namespace detail {

/// One party's operation on one channel, parked on the channel's send or receive queue. The party
/// itself (a thread_waiter or coroutine_waiter) may wait on several channel operations at once (a
/// select); this waiter forwards the wake to it.
struct channel_waiter : waiter {
  channel_waiter() noexcept : waiter(&forward_wake) {}
  /// An operation that wakes its party itself (a task's own send or receive: channel.hpp).
  explicit channel_waiter(wake_function on_wake) noexcept : waiter(on_wake) {}

  /// outcome values: the value moved (sent, or received into the slot); or the channel closed.
  static constexpr std::uint32_t delivered = 1;
  static constexpr std::uint32_t closed = 2;
  static constexpr std::uint32_t unselected = std::numeric_limits<std::uint32_t>::max();

  waiter* party = nullptr;  // whom to wake (unless the operation wakes its party itself)
  void* slot = nullptr;     // a send: the T to move from; a receive: the std::optional<T> to fill
  seam::atomic<std::uint32_t>* selection = nullptr;  // the select's winner word, or null
  std::uint32_t case_index = 0;                      // this operation's case in that select

  /// Whether the taker may complete this operation: always, unless it is a case of a select that
  /// another case already won. Acquire/release: the winner's claim orders what the select reads.
  bool try_claim() noexcept {
    if (selection == nullptr) return true;
    std::uint32_t expected = unselected;
    return selection->compare_exchange_strong(expected, case_index, seam::memory_order::acq_rel,
                                              seam::memory_order::acquire);
  }

 private:
  static void forward_wake(waiter* self) noexcept { static_cast<channel_waiter*>(self)->party->wake(); }
};

/// What an attempt under the lock did.
enum class channel_attempt : std::uint8_t { done, closed, would_block };

/// The part of a channel's core that does not depend on T.
class channel_core_base {
 public:
  channel_core_base(const channel_core_base&) = delete;
  channel_core_base& operator=(const channel_core_base&) = delete;

  spin_lock& lock() noexcept { return lock_; }

  // Handle counting. add_* on copy; drop_* on destruction (the last reference frees the core).
  void add_sender() noexcept {
    senders_.fetch_add(1, seam::memory_order::relaxed);
    references_.fetch_add(1, seam::memory_order::relaxed);
  }
  void add_receiver() noexcept {
    receivers_.fetch_add(1, seam::memory_order::relaxed);
    references_.fetch_add(1, seam::memory_order::relaxed);
  }

  /// Under the lock.
  [[nodiscard]] bool closed_locked() const noexcept { return closed_; }
  /// Whether a send can never be delivered, under the lock.
  [[nodiscard]] bool send_fails_locked() const noexcept { return closed_ || receivers_gone_; }
  [[nodiscard]] const char* send_failure_message_locked() const noexcept {
    return closed_ ? "brigade: send on a closed channel"
                   : "brigade: send on a channel whose receivers are all gone";
  }

  /// Under the lock: prepends `operation` to a chain of waiters to wake.
  static void add_to_chain(waiter*& chain, waiter& operation) noexcept {
    operation.next = chain;
    chain = &operation;
  }

  /// Under the lock, for select's snapshot: a bounded channel's ring sends every fast operation
  /// to the lock (both flags up) until thaw_locked(), so that nothing changes the channel while
  /// the select, holding this lock, looks at its other channels. False for other channels, which
  /// every operation locks anyway.
  [[nodiscard]] bool is_bounded() const noexcept { return ring_positions_ != nullptr; }

  bool freeze_locked() noexcept {
    if (ring_positions_ == nullptr) return false;
    frozen_ = true;
    ring_positions_->set_push_flag();
    ring_positions_->set_pop_flag();
    return true;
  }
  /// Under the lock: ends freeze_locked(); the flags follow the queues again.
  void thaw_locked() noexcept {
    frozen_ = false;
    refresh_flags_locked();
  }

  /// Under the lock: the first parked operation of `queue` that may be completed, claimed; stale
  /// select cases before it are dropped from the queue. An empty queue costs no call.
  BRIGADE_ALWAYS_INLINE static channel_waiter* pop_claimed(wait_list& queue) noexcept {
    if (queue.empty()) return nullptr;
    return pop_claimed_slowly(queue);
  }
  [[gnu::noinline]] static channel_waiter* pop_claimed_slowly(wait_list& queue) noexcept {
    while (waiter* next = queue.pop_front()) {
      auto* operation = static_cast<channel_waiter*>(next);
      if (operation->try_claim()) return operation;
    }
    return nullptr;
  }

 protected:
  channel_core_base() = default;
  ~channel_core_base() = default;

  /// Under the lock: marks closed and takes every parked operation that can be claimed, with
  /// outcome `closed`, added to `chain` for waking after the lock is released.
  waiter* close_locked(waiter* chain) noexcept {
    closed_ = true;
    return fail_all(parked_senders_, fail_all(parked_receivers_, chain));
  }
  /// Under the lock: the last receiver is gone; parked senders fail.
  waiter* receivers_gone_locked() noexcept {
    receivers_gone_ = true;
    return fail_all(parked_senders_, nullptr);
  }

  /// Under the lock, bounded channels: a side's flag comes down once nobody of that side is
  /// parked, unless the channel is closed (or, for senders, has no receivers left) or a select
  /// has frozen it.
  void refresh_flags_locked() noexcept {
    if (frozen_) return;
    if (parked_receivers_.empty() && !closed_ && ring_positions_->pop_flagged()) ring_positions_->clear_pop_flag();
    if (parked_senders_.empty() && !send_fails_locked() && ring_positions_->push_flagged())
      ring_positions_->clear_push_flag();
  }

  spin_lock lock_;
  lock_free_ring_positions* ring_positions_ = nullptr;  // a bounded channel's ring, else null
  bool frozen_ = false;          // under lock_: freeze_locked() holds the flags up
  bool closed_ = false;          // under lock_
  bool receivers_gone_ = false;  // under lock_
  wait_list parked_senders_;     // under lock_
  wait_list parked_receivers_;   // under lock_
  // Handles; relaxed increments (a copy is made from a live handle), acq_rel decrements (the last
  // one sees every other handle's writes before it closes or frees).
  seam::atomic<std::size_t> senders_{0};
  seam::atomic<std::size_t> receivers_{0};
  seam::atomic<std::size_t> references_{0};

 private:
  static waiter* fail_all(wait_list& queue, waiter* chain) noexcept {
    while (channel_waiter* operation = pop_claimed(queue)) {
      operation->outcome = channel_waiter::closed;
      add_to_chain(chain, *operation);
    }
    return chain;
  }
};

/// A channel's core for values of type T.
template <class T>
class channel_core final : public channel_core_base {
  static_assert(std::is_nothrow_move_constructible_v<T>,
                "brigade::channel<T> moves values under its lock: T's move constructor must be noexcept");
  static_assert(std::is_nothrow_destructible_v<T>, "brigade::channel<T> needs a T that destroys without throwing");

 public:
  /// A new core with one sender and one receiver handle counted.
  static channel_core* create(std::size_t capacity) { return new channel_core(capacity); }

  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
  /// Values buffered (a snapshot).
  [[nodiscard]] std::size_t size() noexcept {
    if (ring_) return ring_->size();
    std::lock_guard guard(lock_);
    return unbounded_ ? unbounded_->queue.size() : 0;
  }

  /// Without the lock: a bounded channel's send while no sender is parked and it is open. True
  /// when `value` went into the ring (moved from); false when the caller must take the lock and
  /// use try_send_locked (another kind of channel, a full ring, parked senders, or closed).
  BRIGADE_ALWAYS_INLINE bool fast_send(T& value) noexcept {
    if (!ring_ || ring_->try_push(value, true) != lock_free_ring<T>::result::done) return false;
    if (ring_->pop_flagged()) settle_and_wake();  // receivers are parked: hand them the value
    return true;
  }
  /// Without the lock: a bounded channel's receive while no receiver is parked and it is open.
  /// True when a value was taken into `out`; false: take the lock and use try_receive_locked.
  BRIGADE_ALWAYS_INLINE bool fast_receive(std::optional<T>& out) noexcept {
    if (!ring_ || ring_->try_pop(out, true) != lock_free_ring<T>::result::done) return false;
    if (ring_->push_flagged()) settle_and_wake();  // senders are parked: room for one of them
    return true;
  }

  /// Before taking the lock to send on an unbounded channel: makes the block the send may need
  /// now, so that the queue never allocates under the lock (one relaxed load when none is needed;
  /// every other kind of channel returns at once).
  BRIGADE_ALWAYS_INLINE void prepare_room() {
    if (unbounded_ != nullptr && unbounded_->spare_wanted.load(seam::memory_order::relaxed)) [[unlikely]]
      prepare_room_slowly();
  }

  /// Under the lock: sends `value` if it can go now (moved from only when done). Waiters to wake
  /// after the lock is released are added to the chain `to_wake`.
  BRIGADE_ALWAYS_INLINE channel_attempt try_send_locked(T& value, waiter*& to_wake) noexcept {
    if (ring_) return try_send_to_ring_locked(value, to_wake);
    if (send_fails_locked()) return channel_attempt::closed;
    if (channel_waiter* receiver = pop_claimed(parked_receivers_)) {
      static_cast<std::optional<T>*>(receiver->slot)->emplace(std::move(value));
      receiver->outcome = channel_waiter::delivered;
      add_to_chain(to_wake, *receiver);
      return channel_attempt::done;
    }
    if (unbounded_ != nullptr && ensure_room()) {  // (the other kinds never buffer here)
      unbounded_->queue.push(std::move(value));
      refresh_spare_wanted();
      return channel_attempt::done;
    }
    return channel_attempt::would_block;
  }

  /// Under the lock: whether a send could complete now (a receiver is parked, or there is room).
  /// A parked receiver may be a select case already won elsewhere, so a true answer can still
  /// end in would_block; a false one is exact.
  [[nodiscard]] bool may_send_now_locked() const noexcept {
    if (send_fails_locked()) return false;
    if (!parked_receivers_.empty()) return true;
    return ring_ ? ring_->size() < capacity_ : unbounded_ != nullptr;
  }

  /// Under the lock: receives into `out` if a value is there; closed when drained and closed.
  BRIGADE_ALWAYS_INLINE channel_attempt try_receive_locked(std::optional<T>& out, waiter*& to_wake) noexcept {
    if (ring_) return try_receive_from_ring_locked(out, to_wake);
    if (unbounded_ != nullptr && unbounded_->queue.size() > 0) {
      out.emplace(unbounded_->queue.pop());
      refresh_spare_wanted();
      // Room freed: the longest-parked sender's value takes it, at the back. (Senders park on an
      // unbounded channel only when memory ran out; the room freed may be in another block, so
      // it is made first, and a sender stays parked, its value with it, if that fails again.)
      if (!parked_senders_.empty() && ensure_room()) {
        if (channel_waiter* sender = pop_claimed(parked_senders_)) {
          unbounded_->queue.push(std::move(*static_cast<T*>(sender->slot)));
          refresh_spare_wanted();
          sender->outcome = channel_waiter::delivered;
          add_to_chain(to_wake, *sender);
        }
      }
      return channel_attempt::done;
    }
    if (channel_waiter* sender = pop_claimed(parked_senders_)) {  // capacity 0: hand-over
      out.emplace(std::move(*static_cast<T*>(sender->slot)));
      sender->outcome = channel_waiter::delivered;
      add_to_chain(to_wake, *sender);
      return channel_attempt::done;
    }
    return closed_ ? channel_attempt::closed : channel_attempt::would_block;
  }

  /// Under the lock, after try_send_locked said would_block: parks `operation` (its party, slot
  /// and selection set) on the send queue. A bounded channel may complete it at once (the ring
  /// changed since): it is then in the chain `to_wake`, like any operation completed by others.
  void park_sender_locked(channel_waiter& operation, waiter*& to_wake) noexcept {
    parked_senders_.push_back(operation);
    if (ring_) raise_push_flag_and_settle_locked(to_wake);
  }
  /// Under the lock, after try_receive_locked said would_block: as park_sender_locked.
  void park_receiver_locked(channel_waiter& operation, waiter*& to_wake) noexcept {
    parked_receivers_.push_back(operation);
    if (ring_) raise_pop_flag_and_settle_locked(to_wake);
  }
  /// Parks `operation` as park_sender_locked does, unless `registration` says a stop was
  /// requested (then it returns false without parking), releases the lock and wakes the chain
  /// `to_wake` (what the caller's attempt completed) and what settling completed. For a task's
  /// await_suspend: once the lock is released the task may be resumed elsewhere and its frame
  /// reused, so what is needed after the unlock must not live in that frame. Not inlined, so that
  /// the chain of waiters to wake is on this thread's stack (a compiler may keep an inlined
  /// await_suspend's locals in the coroutine frame: clang did, and ThreadSanitizer saw the chain
  /// read from a frame that another worker had resumed).
  template <class Registration>
  [[gnu::noinline]] bool park_sender_and_unlock(channel_waiter& operation, waiter* to_wake,
                                                Registration& registration) noexcept {
    const bool parks = registration.bind_unless_stopped(operation);
    if (parks) park_sender_locked(operation, to_wake);
    lock_.unlock();
    wait_list::wake_all(to_wake);
    return parks;
  }
  /// As park_sender_and_unlock, for a receive.
  template <class Registration>
  [[gnu::noinline]] bool park_receiver_and_unlock(channel_waiter& operation, waiter* to_wake,
                                                  Registration& registration) noexcept {
    const bool parks = registration.bind_unless_stopped(operation);
    if (parks) park_receiver_locked(operation, to_wake);
    lock_.unlock();
    wait_list::wake_all(to_wake);
    return parks;
  }
  /// Without the lock: whether a send that failed its lock-free path will very likely complete
  /// without parking (a receiver is parked, or the channel is unbounded), so that it need not arm
  /// its cancellation before taking the lock. A guess: the awaiter arms and retries if wrong.
  [[nodiscard]] bool send_likely_completes() const noexcept {
    return capacity_ == unbounded || !parked_receivers_.empty_hint();
  }

  /// The targets through which a stop request withdraws a parked send or receive.
  cancel_target& send_cancel_target() noexcept { return send_cancel_target_; }
  cancel_target& receive_cancel_target() noexcept { return receive_cancel_target_; }
  /// Under the lock: takes a parked operation off its queue (a select's losing case, or a waiter
  /// destroyed at shutdown). Does nothing if it is no longer queued.
  void unpark_sender_locked(channel_waiter& operation) noexcept {
    if (parked_senders_.unlink(operation) && ring_) refresh_flags_locked();
  }
  void unpark_receiver_locked(channel_waiter& operation) noexcept {
    if (parked_receivers_.unlink(operation) && ring_) refresh_flags_locked();
  }

  /// Closes the channel. Returns false (and changes nothing) if it was already closed.
  bool close() noexcept {
    waiter* to_wake = nullptr;
    {
      std::lock_guard guard(lock_);
      if (closed_) return false;
      if (ring_) {
        // Everyone to the lock from now on (closed_ keeps the flags up); values sent before the
        // close reach parked receivers before those are told "closed".
        closed_ = true;
        ring_->set_push_flag();
        ring_->set_pop_flag();
        settle_locked(to_wake);
      }
      to_wake = close_locked(to_wake);
    }
    wait_list::wake_all(to_wake);
    return true;
  }

  void drop_sender() noexcept {
    if (senders_.fetch_sub(1, seam::memory_order::acq_rel) == 1) close();
    drop_reference();
  }
  void drop_receiver() noexcept {
    if (receivers_.fetch_sub(1, seam::memory_order::acq_rel) == 1) {
      waiter* to_wake;
      {
        std::lock_guard guard(lock_);
        if (ring_) ring_->set_push_flag();  // every send goes to the lock, and fails there
        to_wake = receivers_gone_locked();
      }
      wait_list::wake_all(to_wake);
    }
    drop_reference();
  }

 private:
  explicit channel_core(std::size_t capacity) : capacity_(capacity) {
    senders_.store(1, seam::memory_order::relaxed);
    receivers_.store(1, seam::memory_order::relaxed);
    references_.store(2, seam::memory_order::relaxed);
    if (capacity_ != 0 && capacity_ != unbounded) {
      ring_ = std::make_unique<lock_free_ring<T>>(capacity_);
      ring_positions_ = ring_.get();
    }
    if (capacity_ == unbounded) unbounded_ = std::make_unique<unbounded_buffer>();
  }
  ~channel_core() {
    retire_cancel_targets();

  }

  void drop_reference() noexcept {
    if (references_.fetch_sub(1, seam::memory_order::acq_rel) == 1) delete this;
  }

  // The bounded channel's slow paths, kept out of line so that the rendezvous and unbounded
  // channels' locked steps stay small enough to be inlined into their awaiters.

  /// try_send_locked for a bounded channel.
  [[gnu::noinline]] channel_attempt try_send_to_ring_locked(T& value, waiter*& to_wake) noexcept {
    if (send_fails_locked()) return channel_attempt::closed;
    settle_locked(to_wake);
    if (channel_waiter* receiver = pop_claimed(parked_receivers_)) {  // the ring is empty
      static_cast<std::optional<T>*>(receiver->slot)->emplace(std::move(value));
      receiver->outcome = channel_waiter::delivered;
      add_to_chain(to_wake, *receiver);
      refresh_flags_locked();
      return channel_attempt::done;
    }
    return ring_->try_push(value, false) == lock_free_ring<T>::result::done ? channel_attempt::done
                                                                            : channel_attempt::would_block;
  }
  /// try_receive_locked for a bounded channel.
  [[gnu::noinline]] channel_attempt try_receive_from_ring_locked(std::optional<T>& out, waiter*& to_wake) noexcept {
    settle_locked(to_wake);
    if (ring_->try_pop(out, false) == lock_free_ring<T>::result::done) {
      settle_locked(to_wake);  // room freed: a parked sender's value takes it
      return channel_attempt::done;
    }
    return closed_ ? channel_attempt::closed : channel_attempt::would_block;
  }
  [[gnu::noinline]] void raise_push_flag_and_settle_locked(waiter*& to_wake) noexcept {
    ring_->set_push_flag();
    settle_locked(to_wake);
  }
  [[gnu::noinline]] void raise_pop_flag_and_settle_locked(waiter*& to_wake) noexcept {
    ring_->set_pop_flag();
    settle_locked(to_wake);
  }

  /// Takes the lock, settles, wakes (a fast operation found the other side's flag up).
  [[gnu::noinline]] void settle_and_wake() noexcept {
    waiter* to_wake = nullptr;
    {
      std::lock_guard guard(lock_);
      settle_locked(to_wake);
    }
    wait_list::wake_all(to_wake);
  }

  /// Under the lock, bounded channels: parked receivers take values from the ring and parked
  /// senders' values go into its room, oldest first, as far as they can; then the flags of a side
  /// with an empty queue come down. While a side's queue is not empty its flag is up, so only
  /// this lock holder pops (or pushes) and what the positions count is there to take (or free).
  void settle_locked(waiter*& to_wake) noexcept {
    while (!parked_receivers_.empty() && ring_->size() > 0) {
      channel_waiter* receiver = pop_claimed(parked_receivers_);
      if (receiver == nullptr) break;
      // Cannot fail: the pop flag is up (receivers are parked), so nobody else pops.
      [[maybe_unused]] const auto popped = ring_->try_pop(*static_cast<std::optional<T>*>(receiver->slot), false);
      assert(popped == lock_free_ring<T>::result::done);
      receiver->outcome = channel_waiter::delivered;
      add_to_chain(to_wake, *receiver);
    }
    while (!parked_senders_.empty() && ring_->size() < capacity_) {
      channel_waiter* sender = pop_claimed(parked_senders_);
      if (sender == nullptr) break;
      // Cannot fail: the push flag is up (senders are parked), so nobody else pushes.
      [[maybe_unused]] const auto pushed = ring_->try_push(*static_cast<T*>(sender->slot), false);
      assert(pushed == lock_free_ring<T>::result::done);
      sender->outcome = channel_waiter::delivered;
      add_to_chain(to_wake, *sender);
    }
    refresh_flags_locked();
  }
  /// Under the lock, after a stop request withdrew a parked operation: a bounded channel's flags
  /// follow its queues.
  static waiter* after_withdrawal(channel_core& core) noexcept {
    if (core.ring_) core.refresh_flags_locked();
    return nullptr;
  }

  /// Under the lock: makes sure one more value fits in the unbounded channel's queue, allocating
  /// here only when no spare block was prepared (see prepare_room); false when memory runs out
  /// (the sender then parks, as if the buffer were full, rather than lose the value).
  bool ensure_room() noexcept {
    if (unbounded_->queue.has_room()) return true;
    try {
      unbounded_->queue.grow_locked();
      return true;
    } catch (const std::bad_alloc&) {
      return false;
    }
  }
  /// Under the lock, after a push or pop of the unbounded queue: publishes whether it has no
  /// spare block, for prepare_room (a store only when that changed).
  void refresh_spare_wanted() noexcept {
    const bool wanted = unbounded_->queue.wants_spare();
    if (wanted != unbounded_->spare_wanted.load(seam::memory_order::relaxed))
      unbounded_->spare_wanted.store(wanted, seam::memory_order::relaxed);
  }
  [[gnu::noinline]] void prepare_room_slowly() {
    typename block_queue<T>::block* fresh;
    try {
      fresh = block_queue<T>::allocate_block();
    } catch (const std::bad_alloc&) {
      return;  // the push will try under the lock, and park if that fails too
    }
    {
      std::lock_guard guard(lock_);
      fresh = unbounded_->queue.install_spare(fresh);
      refresh_spare_wanted();
    }
    block_queue<T>::free_block(fresh);  // null, or the block another sender's prepare made needless
  }

  const std::size_t capacity_;
  std::unique_ptr<lock_free_ring<T>> ring_;  // bounded channels (0 < capacity < unbounded)
  // An unbounded channel's buffer, apart from the core so that the other kinds stay small (a
  // rendezvous channel's core is what a ping-pong touches).
  struct unbounded_buffer {
    block_queue<T> queue;  // under lock_
    // Whether queue has no spare block; written under lock_, read without it by prepare_room (a
    // stale value costs one needless allocation, or one under the lock).
    seam::atomic<bool> spare_wanted{true};
  };
  std::unique_ptr<unbounded_buffer> unbounded_;  // unbounded channels only
  cancel_target send_cancel_target_{
      &cancel_from_list<channel_core, &channel_core::lock_, &channel_core::parked_senders_, &channel_core::after_withdrawal>,
      this};
  cancel_target receive_cancel_target_{
      &cancel_from_list<channel_core, &channel_core::lock_, &channel_core::parked_receivers_, &channel_core::after_withdrawal>,
      this};
};

}  // namespace detail
}  // namespace brigade
