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

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>

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
struct channel_waiter final : waiter {
  channel_waiter() noexcept : waiter(&forward_wake) {}

  /// outcome values: the value moved (sent, or received into the slot); or the channel closed.
  static constexpr std::uint32_t delivered = 1;
  static constexpr std::uint32_t closed = 2;
  static constexpr std::uint32_t unselected = std::numeric_limits<std::uint32_t>::max();

  waiter* party = nullptr;  // whom to wake
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

  wait_list& parked_senders() noexcept { return parked_senders_; }
  wait_list& parked_receivers() noexcept { return parked_receivers_; }

  /// Under the lock: the first parked operation of `queue` that may be completed, claimed; stale
  /// select cases before it are dropped from the queue.
  static channel_waiter* pop_claimed(wait_list& queue) noexcept {
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
  /// outcome `closed`, chained through `next` for waking after the lock is released.
  waiter* close_locked() noexcept {
    closed_ = true;
    return fail_all(parked_senders_, fail_all(parked_receivers_, nullptr));
  }
  /// Under the lock: the last receiver is gone; parked senders fail.
  waiter* receivers_gone_locked() noexcept {
    receivers_gone_ = true;
    return fail_all(parked_senders_, nullptr);
  }

  spin_lock lock_;
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
      operation->next = chain;
      chain = operation;
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
    std::lock_guard guard(lock_);
    return count_;
  }

  /// Under the lock: sends `value` if it can go now (moved from only when done). `to_wake` gets
  /// the receiver to wake after the lock is released.
  channel_attempt try_send_locked(T& value, waiter*& to_wake) noexcept {
    if (send_fails_locked()) return channel_attempt::closed;
    if (channel_waiter* receiver = pop_claimed(parked_receivers_)) {
      static_cast<std::optional<T>*>(receiver->slot)->emplace(std::move(value));
      receiver->outcome = channel_waiter::delivered;
      to_wake = receiver;
      return channel_attempt::done;
    }
    if (count_ < capacity_ && ensure_room()) {
      push(std::move(value));
      return channel_attempt::done;
    }
    return channel_attempt::would_block;
  }

  /// Under the lock: whether a send could complete now (a receiver is parked, or there is room).
  /// A parked receiver may be a select case already won elsewhere, so a true answer can still
  /// end in would_block; a false one is exact.
  [[nodiscard]] bool may_send_now_locked() const noexcept {
    return !send_fails_locked() && (!parked_receivers_.empty() || count_ < capacity_);
  }

  /// Under the lock: receives into `out` if a value is there; closed when drained and closed.
  channel_attempt try_receive_locked(std::optional<T>& out, waiter*& to_wake) noexcept {
    if (count_ > 0) {
      out.emplace(pop());
      // Room freed: the longest-parked sender's value takes it, at the back.
      if (channel_waiter* sender = pop_claimed(parked_senders_)) {
        push(std::move(*static_cast<T*>(sender->slot)));
        sender->outcome = channel_waiter::delivered;
        to_wake = sender;
      }
      return channel_attempt::done;
    }
    if (channel_waiter* sender = pop_claimed(parked_senders_)) {  // capacity 0: hand-over
      out.emplace(std::move(*static_cast<T*>(sender->slot)));
      sender->outcome = channel_waiter::delivered;
      to_wake = sender;
      return channel_attempt::done;
    }
    return closed_ ? channel_attempt::closed : channel_attempt::would_block;
  }

  /// Closes the channel. Returns false (and changes nothing) if it was already closed.
  bool close() noexcept {
    waiter* to_wake;
    {
      std::lock_guard guard(lock_);
      if (closed_) return false;
      to_wake = close_locked();
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
    if (capacity_ != 0 && capacity_ != unbounded) reserve(capacity_);
  }
  ~channel_core() {
    while (count_ > 0) pop();
    ::operator delete(buffer_, std::align_val_t{alignof(T)});
  }

  void drop_reference() noexcept {
    if (references_.fetch_sub(1, seam::memory_order::acq_rel) == 1) delete this;
  }

  // The ring buffer: count_ values from head_, in a buffer of allocated_ slots.
  T* slot_at(std::size_t index) noexcept { return buffer_ + (head_ + index) % allocated_; }
  void push(T&& value) noexcept {
    ::new (static_cast<void*>(slot_at(count_))) T(std::move(value));
    ++count_;
  }
  T pop() noexcept {
    T* first = slot_at(0);
    T value(std::move(*first));
    first->~T();
    head_ = (head_ + 1) % allocated_;
    --count_;
    return value;
  }
  /// Makes room for one more value (an unbounded channel grows); false when memory runs out (the
  /// sender then parks, as if the buffer were full, rather than lose the value).
  bool ensure_room() noexcept {
    if (count_ < allocated_) return true;
    try {
      reserve(allocated_ == 0 ? 16 : allocated_ * 2);
      return true;
    } catch (const std::bad_alloc&) {
      return false;
    }
  }
  void reserve(std::size_t slots) {
    T* grown = static_cast<T*>(::operator new(slots * sizeof(T), std::align_val_t{alignof(T)}));
    for (std::size_t i = 0; i < count_; ++i) {
      T* from = slot_at(i);
      ::new (static_cast<void*>(grown + i)) T(std::move(*from));
      from->~T();
    }
    ::operator delete(buffer_, std::align_val_t{alignof(T)});
    buffer_ = grown;
    allocated_ = slots;
    head_ = 0;
  }

  const std::size_t capacity_;
  T* buffer_ = nullptr;     // under lock_
  std::size_t allocated_ = 0;
  std::size_t head_ = 0;
  std::size_t count_ = 0;
};

}  // namespace detail
}  // namespace brigade
