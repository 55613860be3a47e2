// brigade/chan/select.hpp: select, Go's select statement over sends and receives on several
// channels of any element types, for tasks and threads.
//
//   std::optional<job> next;  std::optional<int> stop;
//   switch (co_await brigade::select_async(brigade::recv_case(jobs, next),
//                                          brigade::recv_case(quit, stop),
//                                          brigade::send_case(results, 42))) {
//     case 0: if (next) run(*next); else /* jobs closed */; break;
//     case 1: ...; break;
//     case 2: /* 42 was sent */ break;
//   }
//   brigade::select(...)              // the same on a thread (it blocks)
//   brigade::try_select(...)          // Go's `default:`: an empty optional when no case is ready
//
// The result is the index of the case that ran. A receive case writes the value into its
// optional, or leaves it empty when the channel is closed and drained (Go's `v, ok := <-ch` with
// ok == false). A send case moves its value into the channel only if it is the one chosen; a send
// case chosen on a closed channel throws channel_closed, as a plain send does.
// Fairness: when several cases are ready, one is chosen uniformly at random (Go's rule), so no
// channel starves the others. A case on an empty handle (Go's nil channel) is never ready; a
// select whose cases are all on empty handles would wait forever, and throws usage_error instead
// (try_select takes its default branch); a select of no cases does not compile.
// How (Go's algorithm): lock every channel involved, in address order; poll the cases in a random
// order; if none is ready, park one waiter per case, in that same random order (two cases on one
// channel are then completed by a later partner with equal chance), all tied to one party and one
// winner word (whoever completes a case first claims the word, so exactly one case completes),
// unlock, sleep; when woken, take the other waiters off their queues.
// Linearizable: the poll sees every channel at one instant, although a bounded channel's sends and
// receives may run without its lock (on its lock-free ring): while it polls, the select freezes
// every bounded channel but one, sending their lock-free operations to the lock it holds (see
// select_engine::try_all_locked). So try_select takes its default only if, at one moment, no
// case could run.
// Cancellation: a task's select is a cancellation point. A stop request of its scope while it is
// parked claims the select for no case (under every channel's lock, so no case can complete
// after that) and the co_await throws task_cancelled: a cancelled select completed no case (a
// receive case's optional stays empty, a send case's value was not sent). A select that
// completed a case before the stop returns that case. select(token, cases...) does the
// same for a thread given a std::stop_token.
// Lifetime: the handles and the receive cases' optionals must outlive the select.
// Complexity: O(cases) per select, plus sorting the channels (O(cases log cases)).
#pragma once

#include <algorithm>
#include <array>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stop_token>
#include <tuple>
#include <utility>

#include "brigade/chan/channel.hpp"
#include "brigade/chan/channel_core.hpp"
#include "brigade/detail/cancellable_wait.hpp"
#include "brigade/detail/scheduler_hooks.hpp"
#include "brigade/detail/seam.hpp"
#include "brigade/runtime/errors.hpp"
#include "brigade/runtime/waiter.hpp"

namespace brigade {

/// Reaches a handle's core for select's cases.
struct select_access {
  template <class T>
  static detail::channel_core<T>* core(const sender<T>& handle) noexcept { return handle.end_.get(); }
  template <class T>
  static detail::channel_core<T>* core(const receiver<T>& handle) noexcept { return handle.end_.get(); }
};

/// A receive in a select: the value lands in `out` (empty when the channel is closed and drained).
template <class T>
class recv_case {
 public:
  recv_case(const receiver<T>& from, std::optional<T>& out) noexcept
      : core_(select_access::core(from)), out_(out) {}
  recv_case(const channel<T>& from, std::optional<T>& out) noexcept
      : core_(select_access::core(from.as_receiver())), out_(out) {}

  // The case protocol of detail::select_engine.
  detail::channel_core_base* core() const noexcept { return core_; }
  detail::channel_attempt try_locked(detail::waiter*& to_wake) noexcept {
    out_.reset();
    return core_->try_receive_locked(out_, to_wake);
  }
  void park_locked(detail::channel_waiter& operation, detail::waiter*& to_wake) noexcept {
    out_.reset();
    operation.slot = &out_;
    core_->park_receiver_locked(operation, to_wake);
  }
  void unpark_locked(detail::channel_waiter& operation) noexcept { core_->unpark_receiver_locked(operation); }
  void prepare() const noexcept {}
  void finish(std::uint32_t) const noexcept {}

 private:
  detail::channel_core<T>* core_;
  std::optional<T>& out_;
};

/// A send in a select: `value` goes into the channel only if this case is chosen.
template <class T>
class send_case {
 public:
  send_case(const sender<T>& to, T value) noexcept(std::is_nothrow_move_constructible_v<T>)
      : core_(select_access::core(to)), value_(std::move(value)) {}
  send_case(const channel<T>& to, T value) noexcept(std::is_nothrow_move_constructible_v<T>)
      : core_(select_access::core(to.as_sender())), value_(std::move(value)) {}

  // The case protocol of detail::select_engine.
  detail::channel_core_base* core() const noexcept { return core_; }
  detail::channel_attempt try_locked(detail::waiter*& to_wake) noexcept {
    return core_->try_send_locked(value_, to_wake);
  }
  void park_locked(detail::channel_waiter& operation, detail::waiter*& to_wake) noexcept {
    operation.slot = &value_;
    core_->park_sender_locked(operation, to_wake);
  }
  void unpark_locked(detail::channel_waiter& operation) noexcept { core_->unpark_sender_locked(operation); }
  /// Before the locks: an unbounded channel's next block (channel_core::prepare_room).
  void prepare() const {
    if (core_ != nullptr) core_->prepare_room();
  }
  void finish(std::uint32_t outcome) const {
    if (outcome != detail::channel_waiter::closed) return;
    std::lock_guard guard(core_->lock());
    throw channel_closed(core_->send_failure_message_locked());
  }

 private:
  detail::channel_core<T>* core_;
  T value_;
};

template <class T>
recv_case(const receiver<T>&, std::optional<T>&) -> recv_case<T>;
template <class T>
recv_case(const channel<T>&, std::optional<T>&) -> recv_case<T>;
template <class T, class U>
send_case(const sender<T>&, U&&) -> send_case<T>;
template <class T, class U>
send_case(const channel<T>&, U&&) -> send_case<T>;

namespace detail {

/// A random number per call, from a per-thread generator (xorshift64*): the order in which a
/// select polls its cases.
BRIGADE_THREAD_LOCAL_ACCESSOR std::uint64_t select_random() noexcept {
  static thread_local std::uint64_t state =
      seam::now_nanoseconds() ^ reinterpret_cast<std::uintptr_t>(&state) ^ 0x9E3779B97F4A7C15ull;
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return state * 0x2545F4914F6CDD1Dull;
}

/// The work of one select, shared by its task, thread and non-blocking forms.
template <class... Cases>
class select_engine {
 public:
  static constexpr std::size_t count = sizeof...(Cases);
  static constexpr std::size_t none = static_cast<std::size_t>(-1);
  /// The winner word's value once a stop request claimed the select.
  static constexpr std::uint32_t cancelled_case = channel_waiter::unselected - 1;
  using core_list = std::array<channel_core_base*, count>;

  explicit select_engine(Cases&&... cases) : cases_(std::move(cases)...) {
    std::size_t index = 0;
    for_each_case([&](auto& c) { cores_[index++] = c.core(); });
    std::sort(cores_.begin(), cores_.end());
    distinct_ = static_cast<std::size_t>(std::unique(cores_.begin(), cores_.end()) - cores_.begin());
    if (distinct_ > 0 && cores_[0] == nullptr) {  // null sorts first: drop it
      std::move(cores_.begin() + 1, cores_.begin() + static_cast<std::ptrdiff_t>(distinct_), cores_.begin());
      --distinct_;
    }
  }
  /// A select that would wait (not try_select) with no channel at all would wait forever.
  void check_can_wait() const {
    if (distinct_ == 0)
      throw usage_error("brigade: select over channel handles that are all empty would wait forever");
  }
  select_engine(const select_engine&) = delete;
  select_engine& operator=(const select_engine&) = delete;

  /// What a stop request reaches: claims a parked select for no case, then wakes its party.
  detail::cancel_target& cancel_target() noexcept { return cancel_target_; }

  void lock_all() noexcept {
    for (std::size_t i = 0; i < distinct_; ++i) cores_[i]->lock().lock();
  }
  /// Before lock_all for a poll: what the cases need made outside the locks.
  void prepare_all() {
    for_each_case([](auto& c) { c.prepare(); });
  }
  /// Unlocks from a copy of the list, so that nothing of this engine is touched once the first
  /// lock is released (a parked task may be resumed, and this engine destroyed, at that moment).
  static void unlock_all(const core_list& cores, std::size_t distinct) noexcept {
    for (std::size_t i = 0; i < distinct; ++i) cores[i]->lock().unlock();
  }
  void unlock_all() noexcept { unlock_all(cores_, distinct_); }

  /// Under every lock: completes the first ready case in a random order (kept in order_ for
  /// park_all_locked); returns its index (its outcome in `outcome`) or `none`.
  ///
  /// The poll is one snapshot. The locks stop every locked operation, but a bounded channel's
  /// sends and receives also run without its lock, on its ring; so every bounded channel but one
  /// is frozen (its ring's flags send its fast operations to the lock, which this select holds)
  /// while the cases are polled. Every channel but the unfrozen one then keeps one state from
  /// before the first poll to after the last, so the select's view is the state of all of them
  /// at the moment it polled the unfrozen one (Go's TestNonblockSelectRace: a select never takes
  /// its default while one of its channels held a value at every moment).
  std::size_t try_all_locked(waiter*& to_wake, std::uint32_t& outcome) noexcept {
    for (std::size_t i = 0; i < count; ++i) order_[i] = static_cast<std::uint32_t>(i);
    for (std::size_t i = count; i > 1; --i) std::swap(order_[i - 1], order_[select_random() % i]);
    bool left_one_unfrozen = false;
    std::array<bool, count> frozen{};  // by position in cores_
    for (std::size_t i = 0; i < distinct_; ++i) {
      if (!left_one_unfrozen && cores_[i]->is_bounded()) {
        left_one_unfrozen = true;
        continue;
      }
      frozen[i] = cores_[i]->freeze_locked();
    }
    std::size_t chosen = none;
    for (std::uint32_t index : order_) {
      channel_attempt attempt = channel_attempt::would_block;
      with_case(index, [&](auto& c) {
        if (c.core() != nullptr) attempt = c.try_locked(to_wake);
      });
      if (attempt != channel_attempt::would_block) {
        outcome = attempt == channel_attempt::closed ? channel_waiter::closed : channel_waiter::delivered;
        chosen = index;
        break;
      }
    }
    for (std::size_t i = 0; i < distinct_; ++i)
      if (frozen[i]) cores_[i]->thaw_locked();
    return chosen;
  }

  /// Under every lock, after try_all_locked found no case ready: parks one waiter per case, all
  /// waking `party`, in the random order of the poll (Go's: two cases on one channel are queued
  /// in a random order, so a partner that arrives later completes either with equal chance). A
  /// bounded channel may complete a case at once (it changed since it was polled): the waiters
  /// to wake are added to `to_wake`, and that case has claimed the selection.
  void park_all_locked(waiter& party, waiter*& to_wake) noexcept {
    parked_ = true;
    for (std::uint32_t index : order_) {
      channel_waiter& operation = operations_[index];
      operation.party = &party;
      operation.selection = &selection_;
      operation.case_index = index;
      with_case(index, [&](auto& c) {
        if (c.core() != nullptr) c.park_locked(operation, to_wake);
      });
    }
  }

  /// Parks as park_all_locked does, releases every lock and wakes the chain `to_wake` and what
  /// parking completed, without touching this engine after the first unlock (a parked task may be
  /// resumed, and this engine destroyed, at that moment). Not inlined, so that what it needs after
  /// the unlock is on this thread's stack, not in the task's frame (where a compiler may keep an
  /// inlined await_suspend's locals).
  [[gnu::noinline]] void park_all_and_unlock(waiter& party, waiter* to_wake) noexcept {
    park_all_locked(party, to_wake);
    const core_list cores = cores_;
    const std::size_t distinct = distinct_;
    unlock_all(cores, distinct);
    wait_list::wake_all(to_wake);
  }

  /// After the party was woken: which case won, and its outcome; takes the others off their
  /// queues. `none` when a stop request claimed the select.
  std::size_t collect_after_wake(std::uint32_t& outcome) noexcept {
    const std::uint32_t winner = selection_.load(seam::memory_order::acquire);
    lock_all();
    unpark_all_locked();
    unlock_all();
    if (winner == cancelled_case) return none;
    outcome = operations_[winner].outcome;
    return winner;
  }

  /// The party is destroyed while parked: leaves every queue.
  void abandon() noexcept {
    lock_all();
    unpark_all_locked();
    unlock_all();
  }

  /// Reports a chosen case's outcome (a send on a closed channel throws).
  void finish(std::size_t index, std::uint32_t outcome) {
    with_case(index, [&](auto& c) { c.finish(outcome); });
  }

 private:
  void unpark_all_locked() noexcept {
    std::size_t index = 0;
    for_each_case([&](auto& c) {
      if (c.core() != nullptr) c.unpark_locked(operations_[index]);
      ++index;
    });
  }
  template <class F>
  void for_each_case(F&& f) {
    std::apply([&](auto&... c) { (f(c), ...); }, cases_);
  }
  template <class F>
  void with_case(std::size_t index, F&& f) {
    with_case_at(index, f, std::make_index_sequence<count>{});
  }
  template <class F, std::size_t... Is>
  void with_case_at(std::size_t index, F& f, std::index_sequence<Is...>) {
    ((index == Is ? (f(std::get<Is>(cases_)), 0) : 0), ...);
  }

  std::tuple<Cases...> cases_;
  core_list cores_{};
  std::size_t distinct_ = 0;
  /// The cancel function: under every channel's lock (so the select is either not parked yet,
  /// and will see the stop request under those locks, or fully parked), claims the winner word
  /// for no case; if that succeeds no case can complete any more, and the party is woken.
  static void cancel_parked(detail::cancel_target& self, const root_stop_state*, waiter* const* registered) noexcept {
    select_engine& engine = self.owner<select_engine>();
    waiter* party = *registered;
    engine.lock_all();
    std::uint32_t expected = channel_waiter::unselected;
    const bool claimed = engine.parked_ && engine.selection_.compare_exchange_strong(
                                               expected, cancelled_case, seam::memory_order::acq_rel,
                                               seam::memory_order::acquire);
    engine.unlock_all();  // the party stays parked until the wake below
    if (claimed) party->wake();
  }

  std::array<std::uint32_t, count> order_{};  // the poll's random order of the cases
  std::array<channel_waiter, count> operations_;
  seam::atomic<std::uint32_t> selection_{channel_waiter::unselected};
  bool parked_ = false;  // under every channel's lock: the cases are queued
  detail::cancel_target cancel_target_{&cancel_parked, this};
};

template <class... Cases>
class [[nodiscard("co_await the select")]] select_awaiter {
 public:
  explicit select_awaiter(Cases&&... cases) : engine_(std::move(cases)...) { engine_.check_can_wait(); }
  select_awaiter(const select_awaiter&) = delete;
  select_awaiter& operator=(const select_awaiter&) = delete;
  ~select_awaiter() {
    if (party_.handle) engine_.abandon();  // destroyed while parked (runtime shutdown)
  }

  bool await_ready() const noexcept { return false; }
  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> awaiting) {
    worker_hot& worker = worker_or_throw("brigade: select_async() awaited outside a runtime (use select() on a thread)");
    // A callback registration, not the park slot: the select parks on several channels.
    if (!registration_.arm(scope_word_of(awaiting), engine_.cancel_target(), false, &party_)) return false;
    waiter* to_wake = nullptr;
    engine_.prepare_all();
    engine_.lock_all();
    chosen_ = engine_.try_all_locked(to_wake, outcome_);
    if (chosen_ != select_engine<Cases...>::none || registration_.stop_requested_locked()) {
      engine_.unlock_all();
      wait_list::wake_all(to_wake);
      return false;  // a case completed, or stopped (chosen_ is none)
    }
    party_.handle = awaiting;
    party_.sched = worker.owner;
    engine_.park_all_and_unlock(party_, to_wake);  // touches nothing of this task after the unlock
    return true;
  }
  std::size_t await_resume() {
    if (party_.handle) {
      party_.handle = nullptr;
      chosen_ = engine_.collect_after_wake(outcome_);
    }
    registration_.disarm();
    if (chosen_ == select_engine<Cases...>::none) [[unlikely]]
      throw_wait_cancelled("select");
    engine_.finish(chosen_, outcome_);
    return chosen_;
  }

 private:
  select_engine<Cases...> engine_;
  coroutine_waiter party_;
  park_registration registration_;
  std::size_t chosen_ = select_engine<Cases...>::none;
  std::uint32_t outcome_ = 0;
};

}  // namespace detail

/// co_await select_async(cases...): waits until one case can run, runs it, and yields its index.
template <class... Cases>
[[nodiscard("co_await the select")]] detail::select_awaiter<Cases...> select_async(Cases... cases) {
  static_assert(sizeof...(Cases) > 0, "brigade::select needs at least one case (an empty select would wait forever)");
  return detail::select_awaiter<Cases...>(std::move(cases)...);
}

namespace detail {
template <class... Cases>
std::size_t select_blocking_with(std::stop_token token, Cases... cases) {
  refuse_blocking_on_worker("select()");
  select_engine<Cases...> engine(std::move(cases)...);
  engine.check_can_wait();
  waiter* to_wake = nullptr;
  std::uint32_t outcome = 0;
  thread_waiter party;
  thread_stop_registration registration(std::move(token));
  if (!registration.arm(engine.cancel_target(), party)) throw_wait_cancelled("select");
  engine.prepare_all();
  engine.lock_all();
  std::size_t chosen = engine.try_all_locked(to_wake, outcome);
  const bool stopped = chosen == select_engine<Cases...>::none && registration.stop_requested_locked();
  if (chosen == select_engine<Cases...>::none && !stopped) {
    engine.park_all_locked(party, to_wake);
    engine.unlock_all();
    wait_list::wake_all(to_wake);
    party.wait();
    chosen = engine.collect_after_wake(outcome);
  } else {
    engine.unlock_all();
    wait_list::wake_all(to_wake);
  }
  registration.disarm();
  if (chosen == select_engine<Cases...>::none) throw_wait_cancelled("select");
  engine.finish(chosen, outcome);
  return chosen;
}
}  // namespace detail

/// On a thread: blocks until one case can run, runs it, and returns its index.
template <class... Cases>
std::size_t select(Cases... cases) {
  static_assert(sizeof...(Cases) > 0, "brigade::select needs at least one case (an empty select would wait forever)");
  return detail::select_blocking_with(std::stop_token{}, std::move(cases)...);
}
/// As select(cases...); a stop request of `token` while it waits throws task_cancelled
/// (no case completed).
template <class... Cases>
std::size_t select(std::stop_token token, Cases... cases) {
  static_assert(sizeof...(Cases) > 0, "brigade::select needs at least one case (an empty select would wait forever)");
  return detail::select_blocking_with(std::move(token), std::move(cases)...);
}

/// Go's select with a `default:` branch, from a task or a thread: runs one ready case and returns
/// its index, or returns an empty optional at once when none is ready.
template <class... Cases>
std::optional<std::size_t> try_select(Cases... cases) {
  static_assert(sizeof...(Cases) > 0, "brigade::try_select needs at least one case");
  detail::select_engine<Cases...> engine(std::move(cases)...);
  detail::waiter* to_wake = nullptr;
  std::uint32_t outcome = 0;
  engine.prepare_all();
  engine.lock_all();
  const std::size_t chosen = engine.try_all_locked(to_wake, outcome);
  engine.unlock_all();
  detail::wait_list::wake_all(to_wake);
  if (chosen == detail::select_engine<Cases...>::none) return std::nullopt;
  engine.finish(chosen, outcome);
  return chosen;
}

}  // namespace brigade
