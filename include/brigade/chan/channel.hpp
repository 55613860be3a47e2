// brigade/chan/channel.hpp: Go's channels for tasks and threads: channel<T>, and the
// direction-typed handles sender<T> (Go's chan<- T) and receiver<T> (Go's <-chan T).
//
//   brigade::channel<job> jobs(100);                 // capacity 0: rendezvous; N; brigade::unbounded
//   auto [tx, rx] = brigade::make_channel<job>(100); // or the two ends directly
//   co_await tx.send_async(j);                       // in a task: suspends while the buffer is full
//   tx.send(j);                                      // on a thread: blocks
//   while (auto j = co_await rx.recv_async()) use(*j);  // a task ranges until closed and drained
//   for (job& j : rx) use(j);                        // a thread does the same with range-for
//   tx.close();                                      // or: the last sender handle goes away
//
// Semantics, as Go's:
//   - capacity 0: a send waits until a receiver takes the value; capacity N: until there is room.
//     An unbounded channel never makes a sender wait.
//   - Values arrive in the order they were sent (FIFO per channel, so per producer as well).
//   - close(): receivers drain what is buffered, then every receive reports closed (an empty
//     optional). Sending on a closed channel throws channel_closed ("send on a closed channel");
//     so does a send parked when the channel closes. Closing twice throws usage_error.
//   - When the last sender handle (sender<T> or channel<T>) is destroyed, the channel closes: a
//     receiver never waits forever on a channel nobody can send on. When the last receiver handle
//     is destroyed, parked and later sends throw channel_closed: nobody could take the value.
//   - The plain forms (send, recv, range-for) block: they are for plain threads; on a
//     runtime's worker thread they throw usage_error (they would stall the worker).
//   - An empty handle (default-constructed or moved-from) is Go's nil channel, except that using
//     it throws usage_error instead of blocking forever; in a select it is a case never ready.
// Handles are cheap to copy (a reference count) and may be used from any thread or task at once;
// their operations are const (they act on the shared channel, not on the handle).
// A function that takes a receiver<T> cannot send: sender<T> and receiver<T> have only their own
// direction's operations, checked at compile time.
// Memory order: everything a sender wrote before a send is visible to the receiver of the value.
// Complexity: every operation O(1) (an unbounded channel's buffer doubles when it fills). On a
// bounded channel (0 < capacity < unbounded) a send or receive that does not have to wait is one
// compare-exchange on a lock-free ring; the others take one short spin-locked critical section.
// A parked party costs no CPU.
// Cancellation (cancel-safety, as Tokio documents it): send_async() and recv_async() are
// cancellation points.
// A stop request of the task's scope while it is parked takes it off the channel's queue and the
// co_await throws task_cancelled:
//   - a cancelled recv_async() loses no value: either a value was already handed to it (then the wait
//     completed, and the value is returned; the stop is seen at the next cancellation point), or
//     it took none and every value stays in the channel for other receivers;
//   - a cancelled send_async() never delivers later: the value was not taken, and is destroyed with the
//     awaiter; a send whose value was taken completes normally.
// An operation that completes without parking is not interrupted. The blocking forms given a
// std::stop_token (send(value, token), recv(token)) behave the same on a thread.
// Lifetime: a task destroyed while it waits on a channel (runtime shutdown) leaves the queue; a
// value it was sending is then not delivered.
#pragma once

#include <chrono>
#include <coroutine>
#include <cstdint>
#include <cstddef>
#include <iterator>
#include <mutex>
#include <optional>
#include <stop_token>
#include <utility>

#include "brigade/chan/channel_core.hpp"
#include "brigade/detail/cancellable_wait.hpp"
#include "brigade/detail/scheduler_hooks.hpp"
#include "brigade/detail/timer_queue.hpp"
#include "brigade/runtime/errors.hpp"
#include "brigade/runtime/task.hpp"
#include "brigade/runtime/waiter.hpp"

namespace brigade {

template <class T>
class sender;
template <class T>
class receiver;
template <class T>
class channel;

namespace detail {

[[noreturn, gnu::noinline, gnu::cold]] inline void throw_empty_channel_handle(const char* operation) {
  throw usage_error(std::string("brigade: ") + operation +
                    " on an empty channel handle (default-constructed or moved-from)");
}

template <class T>
channel_core<T>& checked_core(channel_core<T>* core, const char* operation) {
  if (core == nullptr) [[unlikely]]
    throw_empty_channel_handle(operation);
  return *core;
}

/// The counted reference to a channel's core that a sender<T> or receiver<T> is: copying it
/// counts one more handle of its side (`Side::add`), destroying it one less (`Side::drop`, which
/// closes the channel after the last sender, fails sends after the last receiver, and frees the
/// core after the last handle). Empty when default-constructed or moved from.
template <class T, class Side>
class channel_end {
 public:
  channel_end() noexcept = default;
  explicit channel_end(channel_core<T>* adopted) noexcept : core_(adopted) {}
  channel_end(const channel_end& other) noexcept : core_(other.core_) {
    if (core_ != nullptr) Side::add(*core_);
  }
  channel_end(channel_end&& other) noexcept : core_(std::exchange(other.core_, nullptr)) {}
  channel_end& operator=(channel_end other) noexcept {
    std::swap(core_, other.core_);
    return *this;
  }
  ~channel_end() {
    if (core_ != nullptr) Side::drop(*core_);
  }

  /// The core, for `operation`; throws usage_error naming it when the handle is empty.
  channel_core<T>& core(const char* operation) const { return checked_core(core_, operation); }
  channel_core<T>* get() const noexcept { return core_; }

 private:
  channel_core<T>* core_ = nullptr;
};

struct sender_side {
  template <class T>
  static void add(channel_core<T>& core) noexcept { core.add_sender(); }
  template <class T>
  static void drop(channel_core<T>& core) noexcept { core.drop_sender(); }
};
struct receiver_side {
  template <class T>
  static void add(channel_core<T>& core) noexcept { core.add_receiver(); }
  template <class T>
  static void drop(channel_core<T>& core) noexcept { core.drop_receiver(); }
};

/// A task's own send or receive, parked: the operation is its own party and wakes the task
/// directly (a select's operations instead share one party, which they forward their wake to).
/// Constructed only when the task has to park (an operation that completes at once, in
/// await_ready or in await_suspend's locked attempt, never needs it).
struct parked_operation final : channel_waiter {
  parked_operation(std::coroutine_handle<> awaiting, scheduler* runtime, void* value_or_slot) noexcept
      : channel_waiter(&wake_task), handle(awaiting), sched(runtime) {
    slot = value_or_slot;
  }
  std::coroutine_handle<> handle;  // cleared when the task resumes (see the awaiters' destructors)
  scheduler* sched;

 private:
  static void wake_task(waiter* self) noexcept {
    auto* me = static_cast<parked_operation*>(self);
    schedule(*me->sched, me->handle);
  }
};

/// Where a channel awaiter is, for await_resume and the destructor: after the lock-free path
/// (await_ready) nothing is left to do, and after await_resume nothing either, so that both test
/// one byte on their common paths.
enum class channel_await_state : unsigned char {
  settled,  // nothing constructed beyond the awaiter, nothing to undo
  locked,   // await_suspend ran: the registration is constructed (and maybe armed)
  parked,   // ... and parked_state_ is constructed (the task parked, or was stopped before it)
};

/// co_await tx.send_async(value).
template <class T>
class [[nodiscard("co_await the send")]] send_awaiter {
 public:
  send_awaiter(channel_core<T>& core, T value) noexcept(std::is_nothrow_move_constructible_v<T>)
      : core_(core), value_(std::move(value)) {}
  send_awaiter(const send_awaiter&) = delete;
  send_awaiter& operator=(const send_awaiter&) = delete;
  BRIGADE_ALWAYS_INLINE ~send_awaiter() {
    if (state_ != channel_await_state::settled) [[unlikely]]
      leave_unsettled();
  }

  /// The lock-free path of a bounded channel: the value goes into the ring now. Everything else
  /// (a parked receiver, a full ring, a closed channel, other capacities) is one locked attempt
  /// in await_suspend, which suspends only if the task has to wait.
  BRIGADE_ALWAYS_INLINE bool await_ready() noexcept { return core_.fast_send(value_); }
  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> awaiting) {
    worker_hot& worker =
        worker_or_throw("brigade: sender::send_async() awaited outside a runtime (use send() on a thread)");
    ::new (static_cast<void*>(&registration_)) park_registration();
    state_ = channel_await_state::locked;
    const std::uintptr_t scope = scope_word_of(awaiting);
    // A send that will very likely complete at once does not arm its cancellation (it never
    // parks); one that may park arms before it takes the lock, as the park slot requires.
    if (!core_.send_likely_completes() && !registration_.arm(scope, core_.send_cancel_target())) [[unlikely]] {
      cancelled_ = true;
      return false;
    }
    core_.prepare_room();  // an unbounded channel's next block, made before the lock
    spin_lock& lock = core_.lock();
    lock.lock();
    waiter* to_wake = nullptr;
    channel_attempt result = core_.try_send_locked(value_, to_wake);
    if (result == channel_attempt::would_block && !registration_.armed() && scope != 0) [[unlikely]] {
      if (!arm_and_retry(scope, result, to_wake)) return false;  // the guess was wrong
    }
    if (result == channel_attempt::would_block) {
      ::new (static_cast<void*>(&parked_state_)) parked_operation(awaiting, worker.owner, &value_);
      state_ = channel_await_state::parked;
      // Unlocks: from then on a receiver may resume this task, so nothing of it is touched.
      if (core_.park_sender_and_unlock(parked_state_, to_wake, registration_)) return true;
      parked_state_.handle = nullptr;  // stopped before it parked
      cancelled_ = true;
      return false;
    }
    if (result == channel_attempt::closed) failure_ = core_.send_failure_message_locked();
    lock.unlock();
    wait_list::wake_all(to_wake);
    return false;
  }
  BRIGADE_ALWAYS_INLINE void await_resume() {
    if (state_ == channel_await_state::settled) return;  // the lock-free path
    registration_.disarm();
    if (state_ == channel_await_state::parked) {
      parked_state_.handle = nullptr;
      const std::uint32_t outcome = parked_state_.outcome;
      if (outcome == cancelled_outcome) cancelled_ = true;
      if (outcome == channel_waiter::closed) [[unlikely]]
        note_closed();
    }
    state_ = channel_await_state::settled;  // disarmed, no longer parked: nothing to undo
    if (cancelled_ || failure_ != nullptr) [[unlikely]]
      fail();
  }

 private:
  /// Destroyed before await_resume: while parked (runtime shutdown), or after await_suspend threw.
  [[gnu::noinline]] void leave_unsettled() noexcept {
    if (state_ == channel_await_state::parked && parked_state_.handle) {
      std::lock_guard guard(core_.lock());
      core_.unpark_sender_locked(parked_state_);
    }
    registration_.~park_registration();
  }
  [[gnu::noinline]] void note_closed() {
    std::lock_guard guard(core_.lock());
    failure_ = core_.send_failure_message_locked();
  }
  [[noreturn, gnu::noinline]] void fail() {
    if (cancelled_) throw_wait_cancelled("sender::send");
    throw channel_closed(failure_);
  }
  /// Under the lock, a send that did not arm (it guessed it would complete) must park after all:
  /// releases the lock, arms, takes the lock again and tries again into `result`. Returns false
  /// (the lock released, cancelled_ set) when the scope was found stopped.
  [[gnu::noinline]] bool arm_and_retry(std::uintptr_t scope, channel_attempt& result, waiter*& to_wake) {
    core_.lock().unlock();
    wait_list::wake_all(std::exchange(to_wake, nullptr));
    if (!registration_.arm(scope, core_.send_cancel_target())) {
      cancelled_ = true;
      return false;
    }
    core_.lock().lock();
    result = core_.try_send_locked(value_, to_wake);
    return true;
  }

  channel_core<T>& core_;
  T value_;
  const char* failure_ = nullptr;
  channel_await_state state_ = channel_await_state::settled;
  bool cancelled_ = false;
  // Constructed in await_suspend (the lock-free path needs neither).
  union {
    park_registration registration_;
  };
  union {
    parked_operation parked_state_;  // when it parks
  };
};

/// co_await rx.recv_async().
template <class T>
class [[nodiscard("co_await the receive")]] receive_awaiter {
 public:
  explicit receive_awaiter(channel_core<T>& core) noexcept : core_(core) {}
  receive_awaiter(const receive_awaiter&) = delete;
  receive_awaiter& operator=(const receive_awaiter&) = delete;
  BRIGADE_ALWAYS_INLINE ~receive_awaiter() {
    if (state_ != channel_await_state::settled) [[unlikely]]
      leave_unsettled();
  }

  /// The lock-free path of a bounded channel: a value is in the ring. Everything else is one
  /// locked attempt in await_suspend, which suspends only if the task has to wait.
  BRIGADE_ALWAYS_INLINE bool await_ready() noexcept { return core_.fast_receive(value_); }
  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> awaiting) {
    worker_hot& worker =
        worker_or_throw("brigade: receiver::recv_async() awaited outside a runtime (use recv() on a thread)");
    ::new (static_cast<void*>(&registration_)) park_registration();
    state_ = channel_await_state::locked;
    // A receive that got here usually parks (the lock-free path of a bounded channel failed, or
    // a rendezvous or unbounded channel holds nothing): arm before taking the lock, as the park
    // slot requires.
    if (!registration_.arm(scope_word_of(awaiting), core_.receive_cancel_target())) [[unlikely]] {
      cancelled_ = true;
      return false;
    }
    waiter* to_wake = nullptr;
    spin_lock& lock = core_.lock();
    lock.lock();
    if (core_.try_receive_locked(value_, to_wake) == channel_attempt::would_block) {
      ::new (static_cast<void*>(&parked_state_)) parked_operation(awaiting, worker.owner, &value_);
      state_ = channel_await_state::parked;
      // Unlocks: from then on a sender may resume this task, so nothing of it is touched.
      if (core_.park_receiver_and_unlock(parked_state_, to_wake, registration_)) return true;
      parked_state_.handle = nullptr;  // stopped before it parked
      cancelled_ = true;
      return false;
    }
    lock.unlock();
    wait_list::wake_all(to_wake);
    return false;
  }
  /// The value, or empty when the channel is closed and drained.
  BRIGADE_ALWAYS_INLINE std::optional<T> await_resume() {
    if (state_ != channel_await_state::settled) {
      registration_.disarm();
      if (state_ == channel_await_state::parked) {
        parked_state_.handle = nullptr;
        if (parked_state_.outcome == cancelled_outcome) cancelled_ = true;
      }
      state_ = channel_await_state::settled;  // disarmed, no longer parked: nothing to undo
      if (cancelled_) [[unlikely]]
        throw_wait_cancelled("receiver::recv");
    }
    return std::move(value_);
  }

 private:
  /// Destroyed before await_resume: while parked (runtime shutdown), or after await_suspend threw.
  [[gnu::noinline]] void leave_unsettled() noexcept {
    if (state_ == channel_await_state::parked && parked_state_.handle) {
      std::lock_guard guard(core_.lock());
      core_.unpark_receiver_locked(parked_state_);
    }
    registration_.~park_registration();
  }

  channel_core<T>& core_;
  std::optional<T> value_;
  channel_await_state state_ = channel_await_state::settled;
  bool cancelled_ = false;
  // Constructed in await_suspend (the lock-free path needs neither).
  union {
    park_registration registration_;
  };
  union {
    parked_operation parked_state_;  // when it parks
  };
};

template <class T>
bool send_blocking_on(channel_core<T>& core, T& value, std::stop_token token,
                      std::uint64_t deadline = thread_waiter::no_deadline) {
  refuse_blocking_on_worker("sender::send()");
  if (core.fast_send(value)) return true;
  waiter* to_wake = nullptr;
  thread_waiter party;
  channel_waiter operation;
  thread_stop_registration registration(token);
  if (!registration.arm(core.send_cancel_target(), operation, true)) throw_wait_cancelled("sender::send");
  bool stopped = false;
  core.prepare_room();
  {
    std::unique_lock guard(core.lock());
    const channel_attempt attempt = core.try_send_locked(value, to_wake);
    if (attempt == channel_attempt::closed) throw channel_closed(core.send_failure_message_locked());
    if (attempt == channel_attempt::would_block) {
      stopped = !registration.bind_unless_stopped(operation);
      if (!stopped) {
        operation.party = &party;
        operation.slot = &value;
        core.park_sender_locked(operation, to_wake);
      }
    }
  }
  wait_list::wake_all(to_wake);
  bool timed_out = false;
  if (operation.party != nullptr)  // parked
    timed_out = wait_or_withdraw_at(party, operation, core.send_cancel_target(), deadline);
  registration.disarm();
  if (stopped || (operation.outcome == cancelled_outcome && (!timed_out || token.stop_requested())))
    throw_wait_cancelled("sender::send");
  if (timed_out) return false;
  if (operation.outcome == channel_waiter::closed) {
    std::lock_guard guard(core.lock());
    throw channel_closed(core.send_failure_message_locked());
  }
  return true;
}

template <class T>
std::optional<T> receive_blocking_on(channel_core<T>& core, std::stop_token token,
                                     std::uint64_t deadline = thread_waiter::no_deadline,
                                     bool* timed_out_at_deadline = nullptr) {
  refuse_blocking_on_worker("receiver::recv() (and range-for over a receiver)");
  std::optional<T> value;
  if (core.fast_receive(value)) return value;
  waiter* to_wake = nullptr;
  thread_waiter party;
  channel_waiter operation;
  thread_stop_registration registration(token);
  if (!registration.arm(core.receive_cancel_target(), operation, true)) throw_wait_cancelled("receiver::recv");
  bool stopped = false;
  {
    std::lock_guard guard(core.lock());
    if (core.try_receive_locked(value, to_wake) == channel_attempt::would_block) {
      stopped = !registration.bind_unless_stopped(operation);
      if (!stopped) {
        operation.party = &party;
        operation.slot = &value;
        core.park_receiver_locked(operation, to_wake);
      }
    }
  }
  wait_list::wake_all(to_wake);
  bool timed_out = false;
  if (operation.party != nullptr)
    timed_out = wait_or_withdraw_at(party, operation, core.receive_cancel_target(), deadline);
  registration.disarm();
  if (stopped || (operation.outcome == cancelled_outcome && (!timed_out || token.stop_requested())))
    throw_wait_cancelled("receiver::recv");
  if (timed_out_at_deadline != nullptr) *timed_out_at_deadline = timed_out;
  return value;
}

}  // namespace detail

/// What try_send and try_recv report.
enum class channel_status {
  ok,           // sent / received
  would_block,  // the channel is full (try_send) or empty (try_recv)
  closed,       // try_send: closed, or every receiver is gone; try_recv: closed and drained
  timed_out,    // try_send_for / try_recv_for: the timeout passed first (nothing sent or taken)
};

namespace detail {
inline channel_status status_of(channel_attempt attempt) noexcept {
  switch (attempt) {
    case channel_attempt::done: return channel_status::ok;
    case channel_attempt::closed: return channel_status::closed;
    case channel_attempt::would_block: break;
  }
  return channel_status::would_block;
}
}  // namespace detail

/// The sending end of a channel (Go's chan<- T). Copyable; the channel closes when the last
/// sending handle is destroyed.
template <class T>
class sender {
 public:
  /// An empty handle (Go's nil channel; operations throw usage_error).
  sender() noexcept = default;

  /// co_await tx.send_async(value): suspends the task until the value is buffered or taken.
  /// Throws channel_closed if the channel is closed or every receiver is gone.
  [[nodiscard("co_await the send")]] detail::send_awaiter<T> send_async(T value) const {
    return detail::send_awaiter<T>(end_.core("send()"), std::move(value));
  }
  /// On a thread: blocks until the value is buffered or taken. Throws as send(); with a token, a
  /// stop request while it waits throws task_cancelled (the value was not sent).
  void send(T value, std::stop_token token = {}) const {
    detail::send_blocking_on(end_.core("send()"), value, std::move(token));
  }
  /// On a thread: waits at most `timeout` for room (or a receiver): ok, or timed_out (nothing
  /// sent; `value` is left as it was). Throws channel_closed as send(); with a token, a stop
  /// request throws task_cancelled. Moves from `value` only when it returns ok. A task uses
  /// co_await timeout(send_async(v), d).
  template <class Rep, class Period>
  channel_status try_send_for(T&& value, std::chrono::duration<Rep, Period> timeout, std::stop_token token = {}) const {
    return detail::send_blocking_on(end_.core("try_send_for()"), value, std::move(token), detail::deadline_after(timeout))
               ? channel_status::ok
               : channel_status::timed_out;
  }
  /// Sends without waiting. Moves from `value` only when it returns channel_status::ok.
  channel_status try_send(T&& value) const { return try_send_from(value); }
  /// Copies `value` only when it can go now (the copy is made under the channel's lock: for a value
  /// that is expensive to copy, move one in instead).
  channel_status try_send(const T& value) const {
    detail::channel_core<T>& core = end_.core("try_send()");
    detail::waiter* to_wake = nullptr;
    detail::channel_attempt attempt;
    core.prepare_room();
    {
      std::lock_guard guard(core.lock());
      if (core.may_send_now_locked()) {
        T copy(value);
        attempt = core.try_send_locked(copy, to_wake);
      } else {
        attempt = core.send_fails_locked() ? detail::channel_attempt::closed : detail::channel_attempt::would_block;
      }
    }
    detail::wait_list::wake_all(to_wake);
    return detail::status_of(attempt);
  }

  /// Closes the channel (for every handle). Throws usage_error if it is already closed.
  void close() const {
    if (!end_.core("close()").close())
      throw usage_error("brigade: close of a closed channel");
  }

  [[nodiscard]] explicit operator bool() const noexcept { return end_.get() != nullptr; }
  [[nodiscard]] std::size_t capacity() const { return end_.core("capacity()").capacity(); }
  /// Values buffered now (a snapshot), as the receivers see it: how far ahead of them the senders
  /// are (Go's len(ch)). Always 0 for a rendezvous channel.
  [[nodiscard]] std::size_t size() const { return end_.core("size()").size(); }

 private:
  template <class>
  friend class channel;
  template <class U>
  friend std::pair<sender<U>, receiver<U>> make_channel(std::size_t);
  friend struct select_access;
  explicit sender(detail::channel_core<T>* adopted) noexcept : end_(adopted) {}

  channel_status try_send_from(T& value) const {
    detail::channel_core<T>& core = end_.core("try_send()");
    if (core.fast_send(value)) return channel_status::ok;
    detail::waiter* to_wake = nullptr;
    detail::channel_attempt attempt;
    core.prepare_room();
    {
      std::lock_guard guard(core.lock());
      attempt = core.try_send_locked(value, to_wake);
    }
    detail::wait_list::wake_all(to_wake);
    return detail::status_of(attempt);
  }

  detail::channel_end<T, detail::sender_side> end_;
};

/// The receiving end of a channel (Go's <-chan T). Copyable; several receivers share the values
/// (each value goes to one of them).
template <class T>
class receiver {
 public:
  /// An empty handle (Go's nil channel; operations throw usage_error).
  receiver() noexcept = default;

  /// co_await rx.recv_async(): the next value, or an empty optional once the channel is closed and
  /// drained. Suspends the task while the channel is empty.
  [[nodiscard("co_await the receive")]] detail::receive_awaiter<T> recv_async() const {
    return detail::receive_awaiter<T>(end_.core("recv()"));
  }
  /// On a thread: as recv(), blocking; with a token, a stop request while it waits throws
  /// task_cancelled (no value taken).
  std::optional<T> recv(std::stop_token token = {}) const {
    return detail::receive_blocking_on(end_.core("recv()"), std::move(token));
  }
  /// Receives without waiting: ok (into `out`), would_block (empty), or closed (and drained).
  channel_status try_recv(T& out) const {
    std::optional<T> value;
    detail::channel_core<T>& core = end_.core("try_recv()");
    if (core.fast_receive(value)) {
      out = std::move(*value);
      return channel_status::ok;
    }
    detail::waiter* to_wake = nullptr;
    detail::channel_attempt attempt;
    {
      std::lock_guard guard(core.lock());
      attempt = core.try_receive_locked(value, to_wake);
    }
    detail::wait_list::wake_all(to_wake);
    if (attempt == detail::channel_attempt::done) out = std::move(*value);
    return detail::status_of(attempt);
  }

  /// On a thread: waits at most `timeout` for a value: ok (into `out`), closed (and drained),
  /// or timed_out (nothing taken: a value that arrives later goes to the next receive). With a
  /// token, a stop request throws task_cancelled. A task uses co_await timeout(recv_async(), d).
  template <class Rep, class Period>
  channel_status try_recv_for(T& out, std::chrono::duration<Rep, Period> timeout, std::stop_token token = {}) const {
    return try_recv_until_nanoseconds(out, detail::deadline_after(timeout), std::move(token));
  }
  template <class Duration>
  channel_status try_recv_until(T& out, std::chrono::time_point<std::chrono::steady_clock, Duration> deadline,
                                std::stop_token token = {}) const {
    return try_recv_until_nanoseconds(out, detail::deadline_at(deadline), std::move(token));
  }

  /// Range-for on a thread: `for (T& v : rx)` receives until the channel is closed and drained.
  class iterator {
   public:
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(const receiver* source) : source_(source) { advance(); }
    T& operator*() noexcept { return *current_; }
    iterator& operator++() {
      advance();
      return *this;
    }
    void operator++(int) { advance(); }
    friend bool operator==(const iterator& it, std::default_sentinel_t) noexcept { return !it.current_; }

   private:
    void advance() { current_ = source_->recv(); }
    const receiver* source_ = nullptr;
    std::optional<T> current_;
  };
  iterator begin() const { return iterator(this); }
  std::default_sentinel_t end() const noexcept { return {}; }

  [[nodiscard]] explicit operator bool() const noexcept { return end_.get() != nullptr; }
  [[nodiscard]] std::size_t capacity() const { return end_.core("capacity()").capacity(); }
  /// Values buffered now (a snapshot).
  [[nodiscard]] std::size_t size() const { return end_.core("size()").size(); }

 private:
  template <class>
  friend class channel;
  template <class U>
  friend std::pair<sender<U>, receiver<U>> make_channel(std::size_t);
  friend struct select_access;
  explicit receiver(detail::channel_core<T>* adopted) noexcept : end_(adopted) {}

  channel_status try_recv_until_nanoseconds(T& out, std::uint64_t deadline, std::stop_token token) const {
    bool timed_out = false;
    std::optional<T> value = detail::receive_blocking_on(end_.core("try_recv_for()"), std::move(token), deadline, &timed_out);
    if (timed_out) return channel_status::timed_out;
    if (!value) return channel_status::closed;
    out = std::move(*value);
    return channel_status::ok;
  }

  detail::channel_end<T, detail::receiver_side> end_;
};

/// A new channel's two ends.
template <class T>
std::pair<sender<T>, receiver<T>> make_channel(std::size_t capacity = 0) {
  auto* core = detail::channel_core<T>::create(capacity);
  return {sender<T>(core), receiver<T>(core)};
}

/// Both ends in one object (Go's chan T): it counts as a sender and as a receiver, so the channel
/// stays open while it lives unless closed. Hand out the typed ends with as_sender()/as_receiver().
template <class T>
class channel {
 public:
  explicit channel(std::size_t capacity = 0) {
    auto [tx, rx] = make_channel<T>(capacity);
    sender_ = std::move(tx);
    receiver_ = std::move(rx);
  }

  [[nodiscard]] sender<T> as_sender() const noexcept { return sender_; }
  [[nodiscard]] receiver<T> as_receiver() const noexcept { return receiver_; }

  [[nodiscard("co_await the send")]] auto send_async(T value) const { return sender_.send_async(std::move(value)); }
  void send(T value, std::stop_token token = {}) const { sender_.send(std::move(value), std::move(token)); }
  channel_status try_send(T&& value) const { return sender_.try_send(std::move(value)); }
  channel_status try_send(const T& value) const { return sender_.try_send(value); }
  [[nodiscard("co_await the receive")]] auto recv_async() const { return receiver_.recv_async(); }
  std::optional<T> recv(std::stop_token token = {}) const { return receiver_.recv(std::move(token)); }
  channel_status try_recv(T& out) const { return receiver_.try_recv(out); }
  template <class Rep, class Period>
  channel_status try_recv_for(T& out, std::chrono::duration<Rep, Period> timeout, std::stop_token token = {}) const {
    return receiver_.try_recv_for(out, timeout, std::move(token));
  }
  template <class Rep, class Period>
  channel_status try_send_for(T&& value, std::chrono::duration<Rep, Period> timeout, std::stop_token token = {}) const {
    return sender_.try_send_for(std::move(value), timeout, std::move(token));
  }
  void close() const { sender_.close(); }
  auto begin() const { return receiver_.begin(); }
  auto end() const noexcept { return receiver_.end(); }
  [[nodiscard]] std::size_t capacity() const { return sender_.capacity(); }
  [[nodiscard]] std::size_t size() const { return receiver_.size(); }

 private:
  sender<T> sender_;
  receiver<T> receiver_;
};

}  // namespace brigade
