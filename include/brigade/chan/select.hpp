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
//   co_await brigade::select_async(std::move(cases))   // a std::vector of cases built at run
//                                                      // time (Go's reflect.Select; fan-in)
//   auto deadline = brigade::after(100ms);             // a deadline case (Go's time.After):
//   brigade::recv_case(deadline, expired)              // see time/after.hpp
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
#include <memory>
#include <optional>
#include <stop_token>
#include <tuple>
#include <utility>
#include <vector>

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

/// A fixed array of `U`, one per case, allocated once (a run-time case list's storage).
template <class U>
class per_case_buffer {
 public:
  explicit per_case_buffer(std::size_t size) : items_(size == 0 ? nullptr : new U[size]()), size_(size) {}
  U& operator[](std::size_t index) noexcept { return items_[index]; }
  const U& operator[](std::size_t index) const noexcept { return items_[index]; }
  U* begin() noexcept { return items_.get(); }
  U* end() noexcept { return items_.get() + size_; }
  const U* begin() const noexcept { return items_.get(); }
  const U* end() const noexcept { return items_.get() + size_; }

 private:
  std::unique_ptr<U[]> items_;
  std::size_t size_;
};

/// The cases of a select written out in the code: any mix of types, a count known at compile
/// time, per-case storage in std::arrays (no allocation).
template <class... Cases>
class fixed_cases {
 public:
  template <class U>
  using per_case = std::array<U, sizeof...(Cases)>;

  explicit fixed_cases(Cases&&... cases) : cases_(std::move(cases)...) {}
  [[nodiscard]] static constexpr std::size_t size() noexcept { return sizeof...(Cases); }
  template <class U>
  static per_case<U> make_per_case(std::size_t) noexcept { return {}; }
  template <class F>
  void for_each(F&& f) {
    std::apply([&](auto&... c) { (f(c), ...); }, cases_);
  }
  template <class F>
  void with(std::size_t index, F&& f) {
    with_at(index, f, std::make_index_sequence<sizeof...(Cases)>{});
  }

 private:
  template <class F, std::size_t... Is>
  void with_at(std::size_t index, F& f, std::index_sequence<Is...>) {
    ((index == Is ? (f(std::get<Is>(cases_)), 0) : 0), ...);
  }
  std::tuple<Cases...> cases_;
};

/// The cases of a select built at run time (Go's reflect.Select): a vector of one case type,
/// per-case storage allocated when the select is made.
template <class Case>
class case_list {
 public:
  template <class U>
  using per_case = per_case_buffer<U>;

  explicit case_list(std::vector<Case>&& cases) : cases_(std::move(cases)) {
    if (cases_.size() >= channel_waiter::unselected - 1)
      throw usage_error("brigade: a select of more cases than it can number");
  }
  [[nodiscard]] std::size_t size() const noexcept { return cases_.size(); }
  template <class U>
  per_case<U> make_per_case(std::size_t count) const {
    return per_case<U>(count);
  }
  template <class F>
  void for_each(F&& f) {
    for (Case& c : cases_) f(c);
  }
  template <class F>
  void with(std::size_t index, F&& f) {
    f(cases_[index]);
  }

 private:
  std::vector<Case> cases_;
};

/// The work of one select, shared by its task, thread and non-blocking forms, over a case set
/// (fixed_cases or case_list).
template <class CaseSet>
class select_engine {
 public:
  static constexpr std::size_t none = static_cast<std::size_t>(-1);
  /// The winner word's value once a stop request claimed the select.
  static constexpr std::uint32_t cancelled_case = channel_waiter::unselected - 1;
  using core_list = typename CaseSet::template per_case<channel_core_base*>;

  template <class... Arguments>
  explicit select_engine(Arguments&&... cases)
      : cases_(std::forward<Arguments>(cases)...),
        count_(cases_.size()),
        cores_(cases_.template make_per_case<channel_core_base*>(count_)),
        unlock_list_(cases_.template make_per_case<channel_core_base*>(count_)),
        order_(cases_.template make_per_case<std::uint32_t>(count_)),
        frozen_(cases_.template make_per_case<bool>(count_)),
        operations_(cases_.template make_per_case<channel_waiter>(count_)) {
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
    for (std::size_t i = 0; i < count_; ++i) order_[i] = static_cast<std::uint32_t>(i);
    for (std::size_t i = count_; i > 1; --i) std::swap(order_[i - 1], order_[select_random() % i]);
    bool left_one_unfrozen = false;
    for (std::size_t i = 0; i < distinct_; ++i) {  // frozen_ is by position in cores_
      frozen_[i] = false;
      if (!left_one_unfrozen && cores_[i]->is_bounded()) {
        left_one_unfrozen = true;
        continue;
      }
      frozen_[i] = cores_[i]->freeze_locked();
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
      if (frozen_[i]) cores_[i]->thaw_locked();
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
    // A copy of the list on this thread's stack (for a run-time list: its buffer, made when the
    // select was, taken out of the engine without allocating).
    std::copy(cores_.begin(), cores_.end(), unlock_list_.begin());
    const core_list cores = std::move(unlock_list_);
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
    cases_.for_each(std::forward<F>(f));
  }
  template <class F>
  void with_case(std::size_t index, F&& f) {
    cases_.with(index, std::forward<F>(f));
  }

  CaseSet cases_;
  std::size_t count_;
  core_list cores_;
  core_list unlock_list_;  // park_all_and_unlock's copy of cores_ (moved out there)
  typename CaseSet::template per_case<std::uint32_t> order_;  // the poll's random order of the cases
  typename CaseSet::template per_case<bool> frozen_;           // try_all_locked's, by position in cores_
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

  typename CaseSet::template per_case<channel_waiter> operations_;
  seam::atomic<std::uint32_t> selection_{channel_waiter::unselected};
  bool parked_ = false;  // under every channel's lock: the cases are queued
  detail::cancel_target cancel_target_{&cancel_parked, this};
};

template <class CaseSet>
class [[nodiscard("co_await the select")]] select_awaiter {
 public:
  using engine_type = select_engine<CaseSet>;
  template <class... Arguments>
  explicit select_awaiter(Arguments&&... cases) : engine_(std::forward<Arguments>(cases)...) {
    engine_.check_can_wait();
  }
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
    if (chosen_ != engine_type::none || registration_.stop_requested_locked()) {
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
    if (chosen_ == engine_type::none) [[unlikely]]
      throw_wait_cancelled("select");
    engine_.finish(chosen_, outcome_);
    return chosen_;
  }

 private:
  engine_type engine_;
  coroutine_waiter party_;
  park_registration registration_;
  std::size_t chosen_ = engine_type::none;
  std::uint32_t outcome_ = 0;
};

template <class CaseSet>
std::size_t select_blocking_with(select_engine<CaseSet>& engine, std::stop_token token) {
  using engine_type = select_engine<CaseSet>;
  engine.check_can_wait();
  waiter* to_wake = nullptr;
  std::uint32_t outcome = 0;
  thread_waiter party;
  thread_stop_registration registration(std::move(token));
  if (!registration.arm(engine.cancel_target(), party)) throw_wait_cancelled("select");
  engine.prepare_all();
  engine.lock_all();
  std::size_t chosen = engine.try_all_locked(to_wake, outcome);
  const bool stopped = chosen == engine_type::none && registration.stop_requested_locked();
  if (chosen == engine_type::none && !stopped) {
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
  if (chosen == engine_type::none) throw_wait_cancelled("select");
  engine.finish(chosen, outcome);
  return chosen;
}

template <class CaseSet>
std::optional<std::size_t> try_select_with(select_engine<CaseSet>& engine) {
  waiter* to_wake = nullptr;
  std::uint32_t outcome = 0;
  engine.prepare_all();
  engine.lock_all();
  const std::size_t chosen = engine.try_all_locked(to_wake, outcome);
  engine.unlock_all();
  wait_list::wake_all(to_wake);
  if (chosen == select_engine<CaseSet>::none) return std::nullopt;
  engine.finish(chosen, outcome);
  return chosen;
}

}  // namespace detail

// ---- Cases written in the code ---------------------------------------------------------------

/// co_await select_async(cases...): waits until one case can run, runs it, and yields its index.
template <class... Cases>
[[nodiscard("co_await the select")]] detail::select_awaiter<detail::fixed_cases<Cases...>> select_async(Cases... cases) {
  static_assert(sizeof...(Cases) > 0, "brigade::select needs at least one case (an empty select would wait forever)");
  return detail::select_awaiter<detail::fixed_cases<Cases...>>(std::move(cases)...);
}

/// On a thread: blocks until one case can run, runs it, and returns its index.
template <class... Cases>
std::size_t select(Cases... cases) {
  static_assert(sizeof...(Cases) > 0, "brigade::select needs at least one case (an empty select would wait forever)");
  detail::refuse_blocking_on_worker("select()");
  detail::select_engine<detail::fixed_cases<Cases...>> engine(std::move(cases)...);
  return detail::select_blocking_with(engine, std::stop_token{});
}
/// As select(cases...); a stop request of `token` while it waits throws task_cancelled
/// (no case completed).
template <class... Cases>
std::size_t select(std::stop_token token, Cases... cases) {
  static_assert(sizeof...(Cases) > 0, "brigade::select needs at least one case (an empty select would wait forever)");
  detail::refuse_blocking_on_worker("select()");
  detail::select_engine<detail::fixed_cases<Cases...>> engine(std::move(cases)...);
  return detail::select_blocking_with(engine, std::move(token));
}

/// Go's select with a `default:` branch, from a task or a thread: runs one ready case and returns
/// its index, or returns an empty optional at once when none is ready.
template <class... Cases>
std::optional<std::size_t> try_select(Cases... cases) {
  static_assert(sizeof...(Cases) > 0, "brigade::try_select needs at least one case");
  detail::select_engine<detail::fixed_cases<Cases...>> engine(std::move(cases)...);
  return detail::try_select_with(engine);
}

// ---- Cases built at run time (Go's reflect.Select) --------------------------------------------
// A vector of cases of one type, e.g. a receive from each of N channels (fan-in); the result is
// the index of the case that ran, in the vector. Fairness, cancellation and the snapshot are those
// of the forms above. An empty vector: select waits forever, so it throws usage_error (as a select
// whose handles are all empty does); try_select returns an empty optional.

/// co_await select_async(std::move(cases)): as select_async(cases...).
template <class Case>
[[nodiscard("co_await the select")]] detail::select_awaiter<detail::case_list<Case>> select_async(std::vector<Case> cases) {
  return detail::select_awaiter<detail::case_list<Case>>(std::move(cases));
}
/// On a thread: as select(cases...).
template <class Case>
std::size_t select(std::vector<Case> cases, std::stop_token token = {}) {
  detail::refuse_blocking_on_worker("select()");
  detail::select_engine<detail::case_list<Case>> engine(std::move(cases));
  return detail::select_blocking_with(engine, std::move(token));
}
/// As try_select(cases...).
template <class Case>
std::optional<std::size_t> try_select(std::vector<Case> cases) {
  detail::select_engine<detail::case_list<Case>> engine(std::move(cases));
  return detail::try_select_with(engine);
}

}  // namespace brigade
