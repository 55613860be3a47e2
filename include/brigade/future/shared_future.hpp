// brigade/future/shared_future.hpp: shared_future<T>, a future that several consumers read
// (std::shared_future; a JavaScript Promise, which any number of then() calls observe).
//
//   brigade::shared_future<Config> config = load_config().share();
//   const Config& c = config.get();               // any number of times, from any thread
//   const Config& c = co_await config;            // from tasks
//   config.then([](const Config& c) { ... });     // any number of continuations
//
// Copies share one state. get() and co_await return a const reference to the value, which lives
// as long as some copy (or continuation) does; errors are rethrown to every consumer. Waits,
// continuations, cancel() and cancellation behave as future<T>'s (future.hpp), except that
// nothing is taken: continuations receive `const T&`, and a then() leaves this object valid.
// Thread safety: as future<T>; distinct copies may be used by distinct threads at once.
#pragma once

#include <chrono>
#include <coroutine>
#include <exception>
#include <stop_token>
#include <type_traits>
#include <utility>

#include "brigade/future/future.hpp"

namespace brigade {

template <class T>
class shared_future {
  using state_type = detail::future_state<T>;
  using access = detail::shared_access<T>;
  using reference = std::conditional_t<std::is_void_v<T>, void, std::add_lvalue_reference_t<const T>>;

 public:
  using value_type = T;

  shared_future() noexcept = default;

  [[nodiscard]] bool valid() const noexcept { return static_cast<bool>(state_); }
  [[nodiscard]] bool is_ready() const { return checked().is_ready(); }

  /// Blocks the calling thread (or only the fiber) until the outcome is there; returns a
  /// reference to the value or rethrows the error. Any number of times.
  reference get(std::stop_token token = {}) const {
    state_type& state = checked();
    detail::wait_for_state(state, std::move(token));
    return read(state);
  }
  void wait(std::stop_token token = {}) const {
    state_type& state = checked();
    detail::wait_for_state(state, std::move(token));
  }
  template <class Rep, class Period>
  [[nodiscard]] bool wait_for(std::chrono::duration<Rep, Period> timeout, std::stop_token token = {}) const {
    state_type& state = checked();
    return detail::wait_for_state(state, std::move(token), detail::deadline_after(timeout));
  }
  bool cancel() const { return checked().cancel(); }

  auto operator co_await() const { return awaiter(checked()); }

  template <class Function>
    requires(std::is_void_v<T> ? std::is_invocable_v<Function&> : std::is_invocable_v<Function&, reference>)
  auto then(Function function) const {
    return then(detail::no_executor{}, std::move(function));
  }
  template <class Executor, class Function>
  auto then(Executor&& where, Function function) const {
    using produced = decltype(detail::call_with_value<access>(function, std::declval<state_type&>()));
    using next = typename detail::flattened<std::remove_cvref_t<produced>>::type;
    return detail::future_access::make<next>(detail::attach_link<next>(
        state_reference(), detail::then_step<access, T, next>(std::move(function)),
        detail::store_executor(std::forward<Executor>(where))));
  }
  template <class Exception = std::exception_ptr, class Function>
  future<T> catch_error(Function function) const {
    return detail::future_access::make<T>(detail::attach_link<T>(
        state_reference(), detail::catch_step<access, Exception, T>(std::move(function)), detail::no_executor{}));
  }
  template <class Action>
  future<T> finally(Action action) const {
    return detail::future_access::make<T>(
        detail::attach_link<T>(state_reference(), detail::finally_step<access, T>(std::move(action)), detail::no_executor{}));
  }

 private:
  template <class>
  friend class future;
  explicit shared_future(detail::state_reference<state_type> state) noexcept : state_(std::move(state)) {}

  state_type& checked() const {
    if (!state_) throw usage_error("brigade: this shared_future has no state (default-constructed or moved from)");
    return *state_;
  }
  const detail::state_reference<state_type>& state_reference() const {
    checked();
    return state_;
  }
  static reference read(state_type& state) {
    if (state.result().has_error()) std::rethrow_exception(state.result().error());
    if constexpr (!std::is_void_v<T>) return state.result().value();
  }

  class awaiter {
   public:
    explicit awaiter(state_type& state) : state_(state), gate_(state) {}
    bool await_ready() noexcept { return gate_.await_ready(); }
    template <class Promise>
    bool await_suspend(std::coroutine_handle<Promise> awaiting) {
      return gate_.await_suspend(awaiting);
    }
    reference await_resume() {
      gate_.await_resume();
      return read(state_);
    }

   private:
    state_type& state_;
    detail::gate_awaiter<detail::future_state_base> gate_;
  };

  detail::state_reference<state_type> state_;
};

}  // namespace brigade
