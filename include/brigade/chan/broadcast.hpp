// brigade/chan/broadcast.hpp: broadcast<T>, a channel where every subscriber sees every message
// (tokio::sync::broadcast; an event bus, a price feed, a shutdown notice to every worker).
//
//   brigade::broadcast<quote> feed(64);          // keeps the last 64 messages
//   auto rx = feed.subscribe();                  // sees every message sent from now on
//   feed.send(q);                                // never blocks; returns the subscriber count
//   while (auto q = co_await rx.recv_async()) show(*q);  // in a task (recv() on a thread)
//   feed.close();                                // or: the broadcast object is destroyed
//
// A subscriber that falls behind: the channel keeps the last `capacity` messages and never makes
// a sender wait for a slow subscriber (one stalled consumer must not stall the feed). A subscriber
// more than `capacity` messages behind skips the oldest ones it missed and goes on from the oldest
// still kept; it learns how many it skipped from missed() (Tokio reports the same as Lagged(n)).
// Size `capacity` to the burst a subscriber must be able to absorb.
// After close(), subscribers receive what they have not seen yet (within the window), then an
// empty optional. Sending on a closed broadcast throws channel_closed; closing twice, usage_error.
// Values are copied to each subscriber (T must be copy-constructible).
// Cancellation: recv_async() is a cancellation point; a stop request of the task's scope while it is
// parked ends it with task_cancelled and consumes nothing (the subscriber's cursor does not move:
// the next recv() returns the message the cancelled one would have). recv(std::stop_token)
// does the same for a thread.
// Thread safety: every member from any thread or task. A subscriber handle is used by one party at
// a time (it is a cursor); make another with subscribe() or clone().
// Memory order: what the sender wrote before send() is visible to a subscriber that receives it.
// Complexity: send O(1) plus waking the parked subscribers; recv O(1); memory O(capacity).
#pragma once

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <utility>
#include <vector>

#include "brigade/detail/cancellable_wait.hpp"
#include "brigade/detail/scheduler_hooks.hpp"
#include "brigade/detail/seam.hpp"
#include "brigade/detail/spin_lock.hpp"
#include "brigade/detail/wait_list.hpp"
#include "brigade/runtime/errors.hpp"
#include "brigade/runtime/task.hpp"
#include "brigade/runtime/waiter.hpp"

namespace brigade {

template <class T>
class broadcast_receiver;

namespace detail {

template <class T>
class broadcast_state {
 public:
  explicit broadcast_state(std::size_t capacity) : ring_(capacity) {
    if (capacity == 0) throw usage_error("brigade: a broadcast needs a capacity of at least 1");
  }
  ~broadcast_state() { retire_cancel_targets(); }
  broadcast_state(const broadcast_state&) = delete;
  broadcast_state& operator=(const broadcast_state&) = delete;

  std::size_t send(T&& value) {
    waiter* to_wake;
    std::size_t subscribers;
    {
      std::lock_guard guard(lock_);
      if (closed_) throw channel_closed("brigade: send on a closed broadcast");
      ring_[next_ % ring_.size()] = std::move(value);
      ++next_;
      to_wake = waiters_.take_all();
      subscribers = subscribers_;
    }
    wait_list::wake_all(to_wake);
    return subscribers;
  }
  bool close() noexcept {
    waiter* to_wake;
    {
      std::lock_guard guard(lock_);
      if (closed_) return false;
      closed_ = true;
      to_wake = waiters_.take_all();
    }
    wait_list::wake_all(to_wake);
    return true;
  }

  /// A new subscriber's cursor: the next message to be sent.
  std::uint64_t subscribe() noexcept {
    std::lock_guard guard(lock_);
    ++subscribers_;
    return next_;
  }
  void unsubscribe() noexcept {
    std::lock_guard guard(lock_);
    --subscribers_;
  }
  void add_subscriber() noexcept {
    std::lock_guard guard(lock_);
    ++subscribers_;
  }

  enum class attempt : std::uint8_t { received, closed, would_block, cancelled };

  /// Under the lock: the message at `cursor` (moving the cursor past skipped ones).
  attempt try_receive_locked(std::uint64_t& cursor, std::uint64_t& missed, std::optional<T>& out) {
    const std::uint64_t oldest = next_ > ring_.size() ? next_ - ring_.size() : 0;
    if (cursor < oldest) {
      missed += oldest - cursor;
      cursor = oldest;
    }
    if (cursor < next_) {
      out.emplace(*ring_[cursor % ring_.size()]);
      ++cursor;
      return attempt::received;
    }
    return closed_ ? attempt::closed : attempt::would_block;
  }
  attempt try_receive(std::uint64_t& cursor, std::uint64_t& missed, std::optional<T>& out) {
    std::lock_guard guard(lock_);
    return try_receive_locked(cursor, missed, out);
  }
  /// Receives, or parks `entry` until the next send or close (returns would_block then), unless
  /// a stop was requested (cancelled: not parked).
  template <class Registration>
  attempt receive_or_park(std::uint64_t& cursor, std::uint64_t& missed, std::optional<T>& out, waiter& entry,
                          Registration& registration) {
    std::lock_guard guard(lock_);
    const attempt result = try_receive_locked(cursor, missed, out);
    if (result != attempt::would_block) return result;
    return park_locked(registration, waiters_, entry) == park_result::parked ? attempt::would_block : attempt::cancelled;
  }
  detail::cancel_target& cancel_target() noexcept { return cancel_target_; }
  void unlink(waiter& entry) noexcept {
    std::lock_guard guard(lock_);
    waiters_.unlink(entry);
  }

 private:
  spin_lock lock_;
  std::vector<std::optional<T>> ring_;  // under lock_: message n at ring_[n % capacity]
  std::uint64_t next_ = 0;              // under lock_: the number of messages sent
  std::size_t subscribers_ = 0;         // under lock_
  bool closed_ = false;                 // under lock_
  wait_list waiters_;                   // under lock_
  detail::cancel_target cancel_target_{&cancel_from_list<broadcast_state, &broadcast_state::lock_, &broadcast_state::waiters_>, this};
};

template <class T>
class [[nodiscard("co_await the receive")]] broadcast_receive_awaiter {
 public:
  explicit broadcast_receive_awaiter(broadcast_receiver<T>& receiver) noexcept : receiver_(receiver) {}
  broadcast_receive_awaiter(const broadcast_receive_awaiter&) = delete;
  broadcast_receive_awaiter& operator=(const broadcast_receive_awaiter&) = delete;
  ~broadcast_receive_awaiter() {
    if (party_.handle) receiver_.state_->unlink(party_);  // destroyed while parked
  }
  bool await_ready() const noexcept { return false; }
  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> awaiting) {
    party_.arm(awaiting,
               "brigade: broadcast_receiver::recv_async() awaited outside a runtime (use recv() on a thread)");
    auto& state = *receiver_.state_;
    auto result = broadcast_state<T>::attempt::cancelled;
    if (registration_.arm(scope_word_of(awaiting), state.cancel_target()))
      result = state.receive_or_park(receiver_.cursor_, receiver_.missed_, value_, party_, registration_);
    if (result == broadcast_state<T>::attempt::would_block) return true;  // parked: touch nothing of it
    party_.handle = nullptr;
    if (result == broadcast_state<T>::attempt::cancelled) party_.outcome = cancelled_outcome;
    return false;
  }
  std::optional<T> await_resume() {
    registration_.disarm();
    if (party_.outcome == cancelled_outcome) [[unlikely]]
      throw_wait_cancelled("broadcast_receiver::recv");
    if (party_.handle) {  // woken by a send or a close: the message (or the close) is there now
      party_.handle = nullptr;
      receiver_.state_->try_receive(receiver_.cursor_, receiver_.missed_, value_);
    }
    return std::move(value_);
  }

 private:
  broadcast_receiver<T>& receiver_;
  std::optional<T> value_;
  coroutine_waiter party_;
  park_registration registration_;
};

}  // namespace detail

/// One subscriber of a broadcast: a cursor in its stream of messages.
template <class T>
class broadcast_receiver {
 public:
  broadcast_receiver() noexcept = default;
  broadcast_receiver(broadcast_receiver&& other) noexcept
      : state_(std::move(other.state_)), cursor_(other.cursor_), missed_(other.missed_) {}
  broadcast_receiver& operator=(broadcast_receiver&& other) noexcept {
    if (this != &other) {
      release();
      state_ = std::move(other.state_);
      cursor_ = other.cursor_;
      missed_ = other.missed_;
    }
    return *this;
  }
  ~broadcast_receiver() { release(); }

  /// co_await rx.recv_async(): the next message, or an empty optional once the broadcast is closed and
  /// this subscriber has seen everything.
  [[nodiscard("co_await the receive")]] detail::broadcast_receive_awaiter<T> recv_async() {
    checked();
    return detail::broadcast_receive_awaiter<T>(*this);
  }
  /// On a thread: as recv(), blocking. With a token, a stop request while it waits throws
  /// task_cancelled (nothing consumed).
  std::optional<T> recv(std::stop_token token = {}) {
    detail::refuse_blocking_on_worker("broadcast_receiver::recv()");
    auto& state = checked();
    std::optional<T> value;
    while (true) {
      detail::thread_waiter party;
      detail::thread_stop_registration registration(token);
      auto result = detail::broadcast_state<T>::attempt::cancelled;
      if (registration.arm(state.cancel_target(), party))
        result = state.receive_or_park(cursor_, missed_, value, party, registration);
      if (result == detail::broadcast_state<T>::attempt::would_block) party.wait();
      registration.disarm();
      if (result == detail::broadcast_state<T>::attempt::cancelled || party.outcome == detail::cancelled_outcome)
        detail::throw_wait_cancelled("broadcast_receiver::recv");
      if (result != detail::broadcast_state<T>::attempt::would_block) return value;
    }
  }
  /// Without waiting: the next message if there is one.
  std::optional<T> try_recv() {
    std::optional<T> value;
    checked().try_receive(cursor_, missed_, value);
    return value;
  }
  /// Messages this subscriber skipped because it fell more than the capacity behind.
  [[nodiscard]] std::uint64_t missed() const noexcept { return missed_; }
  /// Another subscriber at the same position.
  [[nodiscard]] broadcast_receiver clone() const {
    checked().add_subscriber();
    return broadcast_receiver(state_, cursor_);
  }
  [[nodiscard]] explicit operator bool() const noexcept { return state_ != nullptr; }

 private:
  template <class>
  friend class broadcast;
  friend class detail::broadcast_receive_awaiter<T>;
  broadcast_receiver(std::shared_ptr<detail::broadcast_state<T>> state, std::uint64_t cursor) noexcept
      : state_(std::move(state)), cursor_(cursor) {}
  detail::broadcast_state<T>& checked() const {
    if (state_ == nullptr) throw usage_error("brigade: broadcast_receiver used through an empty handle");
    return *state_;
  }
  void release() noexcept {
    if (state_ != nullptr) {
      state_->unsubscribe();
      state_.reset();
    }
  }
  std::shared_ptr<detail::broadcast_state<T>> state_;
  std::uint64_t cursor_ = 0;
  std::uint64_t missed_ = 0;
};

/// The sending side of a broadcast, and the source of subscribers. Closes when destroyed.
template <class T>
class broadcast {
 public:
  /// Keeps the last `capacity` messages for subscribers that fall behind (at least 1).
  explicit broadcast(std::size_t capacity) : state_(std::make_shared<detail::broadcast_state<T>>(capacity)) {}
  broadcast(const broadcast&) = delete;
  broadcast& operator=(const broadcast&) = delete;
  ~broadcast() { state_->close(); }

  /// A subscriber that will see every message sent from now on.
  [[nodiscard]] broadcast_receiver<T> subscribe() { return broadcast_receiver<T>(state_, state_->subscribe()); }
  /// Sends to every subscriber; never blocks. Returns how many subscribers there are.
  /// Throws channel_closed after close().
  std::size_t send(T value) { return state_->send(std::move(value)); }
  /// Closes: subscribers drain what they have not seen, then receive an empty optional.
  void close() {
    if (!state_->close()) throw usage_error("brigade: close of a closed broadcast");
  }

 private:
  std::shared_ptr<detail::broadcast_state<T>> state_;
};

}  // namespace brigade
