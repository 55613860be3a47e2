// brigade/chan/oneshot.hpp: oneshot<T>, a channel for exactly one value (tokio::sync::oneshot): the
// reply slot of a request, the result of a job handed to another task or thread.
//
//   auto [reply_tx, reply_rx] = brigade::make_oneshot<int>();
//   jobs.send(job{42, std::move(reply_tx)});        // whoever handles the job replies once:
//   reply_tx.send(answer);                          //   never blocks
//   int answer = co_await reply_rx.recv_async();    // in a task (recv() on a thread)
//
// send() stores the value and wakes the receiver; it returns false (and drops the value) when the
// receiver is gone, since nobody could read it. Sending twice throws usage_error. If the sender is
// destroyed without sending, recv() throws channel_closed ("the oneshot's sender is gone without
// sending"), so a receiver never waits forever. Receiving twice throws usage_error.
// Cancellation: recv_async() is a cancellation point; a stop request of the task's scope while it waits
// ends it with task_cancelled and takes nothing (a value sent later stays for the next recv()).
// recv(std::stop_token) does the same for a thread.
// Both ends are move-only; each may be used from any thread or task.
// Memory order: what the sender wrote before send() is visible to the receiver after recv().
// Complexity: O(1); one allocation for the pair.
#pragma once

#include <coroutine>
#include <mutex>
#include <optional>
#include <stop_token>
#include <utility>

#include "brigade/detail/gate_wait.hpp"
#include "brigade/detail/seam.hpp"
#include "brigade/detail/spin_lock.hpp"
#include "brigade/detail/wait_list.hpp"
#include "brigade/runtime/errors.hpp"
#include "brigade/runtime/waiter.hpp"

namespace brigade {

template <class T>
class oneshot_sender;
template <class T>
class oneshot_receiver;

namespace detail {

/// The state both ends share; freed by the second end to go.
template <class T>
class oneshot_state {
 public:
  oneshot_state() noexcept = default;
  ~oneshot_state() { retire_cancel_targets(); }
  oneshot_state(const oneshot_state&) = delete;
  oneshot_state& operator=(const oneshot_state&) = delete;

  // The gate protocol of gate_wait.hpp: open once a value is stored or the sender is gone.
  bool is_open() const noexcept { return open_.load(seam::memory_order::acquire); }
  template <class Registration>
  park_result enqueue(waiter& entry, Registration& registration) {
    std::lock_guard guard(lock_);
    if (is_open()) return park_result::not_needed;
    return park_locked(registration, waiters_, entry);
  }
  detail::cancel_target& cancel_target() noexcept { return cancel_target_; }
  void unlink(waiter& entry) noexcept {
    std::lock_guard guard(lock_);
    waiters_.unlink(entry);
  }
  static const char* off_runtime_message() noexcept {
    return "brigade: oneshot_receiver::recv_async() awaited outside a runtime (use recv() on a thread)";
  }

  /// The sender's side: stores the value (false when the receiver is gone).
  bool deliver(T&& value) {
    waiter* to_wake;
    {
      std::lock_guard guard(lock_);
      if (sent_) throw usage_error("brigade: oneshot_sender::send() called twice");
      sent_ = true;
      if (receiver_gone_) return false;
      value_.emplace(std::move(value));
      open_.store(true, seam::memory_order::release);
      to_wake = waiters_.take_all();
    }
    wait_list::wake_all(to_wake);
    return true;
  }
  /// The sender goes: opens the gate if it never sent. Returns whether the state is now free.
  bool sender_gone() noexcept {
    waiter* to_wake = nullptr;
    bool free;
    {
      std::lock_guard guard(lock_);
      if (!sent_) {
        open_.store(true, seam::memory_order::release);
        to_wake = waiters_.take_all();
      }
      sender_gone_ = true;
      free = receiver_gone_;
    }
    wait_list::wake_all(to_wake);
    return free;
  }
  bool receiver_gone() noexcept {
    std::lock_guard guard(lock_);
    receiver_gone_ = true;
    return sender_gone_;
  }
  /// After the gate opened: the value, or channel_closed.
  T take() {
    std::lock_guard guard(lock_);
    if (taken_) throw usage_error("brigade: oneshot_receiver::recv() called twice");
    if (!value_) throw channel_closed("brigade: the oneshot's sender is gone without sending");
    taken_ = true;
    T value(std::move(*value_));
    value_.reset();
    return value;
  }
  /// Without waiting: the value if it is there.
  std::optional<T> try_take() {
    if (!is_open()) return std::nullopt;
    return take();
  }

 private:
  spin_lock lock_;
  seam::atomic<bool> open_{false};
  bool sent_ = false;           // under lock_
  bool taken_ = false;          // under lock_
  bool sender_gone_ = false;    // under lock_
  bool receiver_gone_ = false;  // under lock_
  std::optional<T> value_;      // under lock_
  wait_list waiters_;           // under lock_
  detail::cancel_target cancel_target_{&cancel_from_list<oneshot_state, &oneshot_state::lock_, &oneshot_state::waiters_>, this};
};

template <class T>
class oneshot_awaiter : public gate_awaiter<oneshot_state<T>> {
 public:
  explicit oneshot_awaiter(oneshot_state<T>& state) noexcept
      : gate_awaiter<oneshot_state<T>>(state), state_(state) {}
  T await_resume() {
    gate_awaiter<oneshot_state<T>>::await_resume();
    return state_.take();
  }

 private:
  oneshot_state<T>& state_;
};

}  // namespace detail

template <class T>
std::pair<oneshot_sender<T>, oneshot_receiver<T>> make_oneshot();

/// The sending end of a oneshot: send one value, once.
template <class T>
class oneshot_sender {
 public:
  oneshot_sender() noexcept = default;
  oneshot_sender(oneshot_sender&& other) noexcept : state_(std::exchange(other.state_, nullptr)) {}
  oneshot_sender& operator=(oneshot_sender&& other) noexcept {
    if (this != &other) {
      release();
      state_ = std::exchange(other.state_, nullptr);
    }
    return *this;
  }
  ~oneshot_sender() { release(); }

  /// Stores the value for the receiver and wakes it; false when the receiver is gone. Throws
  /// usage_error on a second send or on an empty handle.
  bool send(T value) {
    if (state_ == nullptr) throw usage_error("brigade: oneshot_sender::send() on an empty handle");
    return state_->deliver(std::move(value));
  }
  [[nodiscard]] explicit operator bool() const noexcept { return state_ != nullptr; }

 private:
  friend std::pair<oneshot_sender<T>, oneshot_receiver<T>> make_oneshot<T>();
  explicit oneshot_sender(detail::oneshot_state<T>* state) noexcept : state_(state) {}
  void release() noexcept {
    if (state_ == nullptr) return;
    detail::oneshot_state<T>* state = std::exchange(state_, nullptr);
    if (state->sender_gone()) delete state;  // the receiver went first: the last one frees
  }
  detail::oneshot_state<T>* state_ = nullptr;
};

/// The receiving end of a oneshot: receive the value, once.
template <class T>
class oneshot_receiver {
 public:
  oneshot_receiver() noexcept = default;
  oneshot_receiver(oneshot_receiver&& other) noexcept : state_(std::exchange(other.state_, nullptr)) {}
  oneshot_receiver& operator=(oneshot_receiver&& other) noexcept {
    if (this != &other) {
      release();
      state_ = std::exchange(other.state_, nullptr);
    }
    return *this;
  }
  ~oneshot_receiver() { release(); }

  /// co_await rx.recv_async(): the value; throws channel_closed if the sender went without sending.
  [[nodiscard("co_await the receive")]] detail::oneshot_awaiter<T> recv_async() { return detail::oneshot_awaiter<T>(checked()); }
  /// On a thread: as recv(), blocking.
  T recv(std::stop_token token = {}) {
    detail::oneshot_state<T>& state = checked();
    detail::wait_blocking_on(state, std::move(token));
    return state.take();
  }
  /// Without waiting: the value if it has been sent (throws as recv() if the sender is gone).
  std::optional<T> try_recv() { return checked().try_take(); }
  [[nodiscard]] explicit operator bool() const noexcept { return state_ != nullptr; }

 private:
  friend std::pair<oneshot_sender<T>, oneshot_receiver<T>> make_oneshot<T>();
  explicit oneshot_receiver(detail::oneshot_state<T>* state) noexcept : state_(state) {}
  detail::oneshot_state<T>& checked() const {
    if (state_ == nullptr) throw usage_error("brigade: oneshot_receiver used through an empty handle");
    return *state_;
  }
  void release() noexcept {
    if (state_ == nullptr) return;
    detail::oneshot_state<T>* state = std::exchange(state_, nullptr);
    if (state->receiver_gone()) delete state;
  }
  detail::oneshot_state<T>* state_ = nullptr;
};

/// A new oneshot's two ends.
template <class T>
std::pair<oneshot_sender<T>, oneshot_receiver<T>> make_oneshot() {
  auto* state = new detail::oneshot_state<T>();
  return {oneshot_sender<T>(state), oneshot_receiver<T>(state)};
}

}  // namespace brigade
