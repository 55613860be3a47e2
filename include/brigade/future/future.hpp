// brigade/future/future.hpp: future<T>, the consumer's side of a result that arrives later (Java's
// Future and CompletableFuture, JavaScript's Promise as seen by its user). A promise<T>
// (promise.hpp) or a thread_pool job (thread_pool.hpp) fulfils it.
//
//   brigade::future<int> f = pool.submit(count_words, path);
//   int n = f.get();                         // a thread or a fiber: blocks (only the fiber)
//   int n = co_await std::move(f);           // a task: suspends
//   auto g = std::move(f).then([](int n) { return n * 2; })          // continuations
//                        .catch_error<std::runtime_error>([](const std::runtime_error&) { return -1; })
//                        .finally([] { std::puts("done"); });
//
// One consumer: get(), co_await, then(), catch_error() and finally() each take the outcome, once
// (a second get() throws usage_error); share() turns the future into a shared_future for several.
// then(fn): fn(value) runs once the value is there; its result (or, if it returns a future, that
// future's outcome: flattening) fulfils the returned future; an exception skips fn and passes on,
// as in JavaScript. catch_error<E>(fn): fn(e) recovers from an E (catch_error(fn) with fn taking
// std::exception_ptr: from any error). finally(fn): fn() runs either way, the outcome passes on.
// Each takes an executor first to choose where the continuation runs (executor.hpp; the default
// is inline, on the settling thread).
//
// Errors: the producer's exception; broken_promise if the promise was destroyed unfulfilled;
// task_cancelled after cancel(). get() on a future without a state (default-constructed, or moved
// from) throws usage_error.
// Cancellation: cancel() settles the future with task_cancelled, wakes whoever waits, and asks
// the producer to stop (a pool job's stop token; promise::stop_token()); a queued pool job never
// runs. A wait itself is a cancellation point and cancel-safe: a stop request of the waiting task's
// scope (a timeout(), an abort) ends the co_await with task_cancelled and leaves the future as it
// was, still pending, to be awaited again; get(std::stop_token) does the same for a thread.
// Thread safety: the shared state is thread-safe: one thread may get() while another cancel()s
// and the producer fulfils. One future object is used by one party at a time (as any object).
// Complexity: get/co_await O(1) plus the wait; a continuation costs one allocation.
#pragma once

#include <chrono>
#include <coroutine>
#include <exception>
#include <stop_token>
#include <type_traits>
#include <utility>

#include "brigade/detail/deadline_scope.hpp"
#include "brigade/detail/future_chain.hpp"
#include "brigade/detail/future_state.hpp"
#include "brigade/detail/future_wait.hpp"
#include "brigade/detail/gate_wait.hpp"
#include "brigade/future/executor.hpp"
#include "brigade/future/future_errors.hpp"
#include "brigade/runtime/errors.hpp"

namespace brigade {

template <class T>
class shared_future;
template <class T>
class promise;

template <class T>
class [[nodiscard("a future holds a result or an error: get() it, co_await it, or attach then()")]] future {
  using state_type = detail::future_state<T>;
  using access = detail::unique_access<T>;

 public:
  using value_type = T;

  /// A future without a state (valid() is false).
  future() noexcept = default;
  future(future&&) noexcept = default;
  future& operator=(future&&) noexcept = default;
  future(const future&) = delete;
  future& operator=(const future&) = delete;

  /// Whether the future has a state (not default-constructed, moved from or shared).
  [[nodiscard]] bool valid() const noexcept { return static_cast<bool>(state_); }
  /// Whether the outcome is there (get() would not block).
  [[nodiscard]] bool is_ready() const { return checked().is_ready(); }

  /// Blocks the calling thread (or only the fiber) until the outcome is there; returns the value
  /// or rethrows the error. Once: a second get() throws usage_error. With a token, a stop request
  /// ends the wait with task_cancelled and leaves the future pending. On a runtime's worker
  /// thread (in a task), co_await instead: get() of a pending future throws usage_error there.
  T get(std::stop_token token = {}) {
    state_type& state = checked();
    if (state.is_retrieved_hint()) throw usage_error(twice_message);
    detail::wait_for_state(state, std::move(token));
    if (!state.mark_retrieved()) throw usage_error(twice_message);
    return state.result().take();
  }
  /// Blocks until the outcome is there (it stays for get()).
  void wait(std::stop_token token = {}) const {
    state_type& state = checked();
    detail::wait_for_state(state, std::move(token));
  }
  /// Blocks until the outcome is there or `timeout` passed; returns whether it is there.
  template <class Rep, class Period>
  [[nodiscard]] bool wait_for(std::chrono::duration<Rep, Period> timeout, std::stop_token token = {}) const {
    state_type& state = checked();
    return detail::wait_for_state(state, std::move(token), detail::deadline_after(timeout));
  }
  template <class Duration>
  [[nodiscard]] bool wait_until(std::chrono::time_point<std::chrono::steady_clock, Duration> deadline,
                                std::stop_token token = {}) const {
    state_type& state = checked();
    return detail::wait_for_state(state, std::move(token), detail::deadline_at(deadline));
  }

  /// Settles the future with task_cancelled (waking its waiters) and asks its producer to stop.
  /// Returns false if it was settled already (nothing changes).
  bool cancel() { return checked().cancel(); }

  /// Turns this future into a shared_future (this one becomes invalid).
  shared_future<T> share() && { return shared_future<T>(std::move(checked_state())); }

  /// co_await: suspends the task until the outcome is there; the value, or the error rethrown.
  auto operator co_await() && { return awaiter(checked()); }
  auto operator co_await() & { return awaiter(checked()); }

  // ---- Continuations (this future becomes invalid; the returned one stands for the result).
  template <class Function>
    requires detail::accepts_value<Function, T>::value
  auto then(Function function) && {
    return std::move(*this).then(detail::no_executor{}, std::move(function));
  }
  template <class Executor, class Function>
    requires(executor<std::remove_cvref_t<Executor>> || std::is_same_v<std::remove_cvref_t<Executor>, detail::no_executor>)
  auto then(Executor&& where, Function function) && {
    using produced = decltype(detail::call_with_value<access>(function, std::declval<state_type&>()));
    using next = typename detail::flattened<std::remove_cvref_t<produced>>::type;
    auto source = checked_state();
    return future<next>(detail::attach_link<next>(
        source, detail::then_step<access, T, next>(std::move(function)),
        detail::store_executor(std::forward<Executor>(where))));
  }
  /// Recovers from an error of type Exception (or from any, with the default: `function` then
  /// takes the std::exception_ptr). Its result, of type T (or a future<T>), replaces the error.
  template <class Exception = std::exception_ptr, class Function>
  future<T> catch_error(Function function) && {
    return std::move(*this).template catch_error<Exception>(detail::no_executor{}, std::move(function));
  }
  template <class Exception = std::exception_ptr, class Executor, class Function>
    requires(executor<std::remove_cvref_t<Executor>> || std::is_same_v<std::remove_cvref_t<Executor>, detail::no_executor>)
  future<T> catch_error(Executor&& where, Function function) && {
    auto source = checked_state();
    return future<T>(detail::attach_link<T>(
        source, detail::catch_step<access, Exception, T>(std::move(function)),
        detail::store_executor(std::forward<Executor>(where))));
  }
  /// Runs `action()` once the future settles, either way; the outcome passes on (or what action
  /// threw replaces it).
  template <class Action>
  future<T> finally(Action action) && {
    return std::move(*this).finally(detail::no_executor{}, std::move(action));
  }
  template <class Executor, class Action>
    requires(executor<std::remove_cvref_t<Executor>> || std::is_same_v<std::remove_cvref_t<Executor>, detail::no_executor>)
  future<T> finally(Executor&& where, Action action) && {
    auto source = checked_state();
    return future<T>(detail::attach_link<T>(source, detail::finally_step<access, T>(std::move(action)),
                                            detail::store_executor(std::forward<Executor>(where))));
  }

 private:
  template <class>
  friend class future;
  template <class>
  friend class promise;
  friend struct detail::future_access;

  static constexpr const char* twice_message =
      "brigade: get() or co_await on a future whose result was already taken (one consumer per "
      "future; use share() for several)";

  explicit future(detail::state_reference<state_type> state) noexcept : state_(std::move(state)) {}

  state_type& checked() const {
    if (!state_) throw usage_error("brigade: this future has no state (default-constructed, moved from, or shared)");
    return *state_;
  }
  detail::state_reference<state_type> checked_state() {
    checked();
    return std::move(state_);
  }

  class awaiter {
   public:
    explicit awaiter(state_type& state) : state_(state), gate_(state) {
      if (state.is_retrieved_hint()) throw usage_error(twice_message);
    }
    bool await_ready() noexcept { return gate_.await_ready(); }
    template <class Promise>
    bool await_suspend(std::coroutine_handle<Promise> awaiting) {
      return gate_.await_suspend(awaiting);
    }
    T await_resume() {
      gate_.await_resume();  // throws task_cancelled if the wait was stopped (the future unchanged)
      if (!state_.mark_retrieved()) throw usage_error(twice_message);
      return state_.result().take();
    }

   private:
    state_type& state_;
    detail::gate_awaiter<detail::future_state_base> gate_;
  };

  detail::state_reference<state_type> state_;
};

namespace detail {
/// The library's own way into a future's state (combinators, the pool, adapters).
struct future_access {
  template <class T>
  static brigade::future<T> make(state_reference<future_state<T>> state) noexcept {
    return brigade::future<T>(std::move(state));
  }
  template <class T>
  static state_reference<future_state<T>>& state(brigade::future<T>& target) noexcept {
    return target.state_;
  }
};

template <class T>
future_state<T>* state_of(brigade::future<T>& inner) noexcept {
  return future_access::state(inner).get();
}
}  // namespace detail

/// A future that holds `value` already.
template <class T, class... Arguments>
future<T> make_ready_future(Arguments&&... arguments) {
  auto state = detail::make_future_state<T>();
  state->settle_value(std::forward<Arguments>(arguments)...);
  return detail::future_access::make<T>(std::move(state));
}
/// A future that holds `error` already.
template <class T>
future<T> make_failed_future(std::exception_ptr error) {
  auto state = detail::make_future_state<T>();
  state->settle_error(std::move(error));
  return detail::future_access::make<T>(std::move(state));
}

}  // namespace brigade

// share() returns one; included here so that a user of future.hpp has it.
#include "brigade/future/shared_future.hpp"
