// brigade/detail/future_chain.hpp: the continuations behind future::then / catch_error / finally
// (internal; future/future.hpp and future/shared_future.hpp are the public side).
//
// A link is a future_continuation attached to the source state. When the source settles, the
// link runs its step, inline (executor none) or through an executor, and the step settles the
// link's target state, the future that then() returned. A step that returns a future (flattening)
// attaches a forwarder to that inner future instead, which settles the target when it settles.
// Whatever the step throws settles the target with that exception; an executor that refuses the
// step (it throws) settles the target with the refusal.
//
// The source's outcome is read through an Access policy: unique_access moves the value out (a
// unique future has one consumer: its one continuation), shared_access passes a const reference.
#pragma once

#include <exception>
#include <functional>
#include <type_traits>
#include <utility>

#include "brigade/detail/future_state.hpp"
#include "brigade/detail/unique_function.hpp"

namespace brigade {
template <class T>
class future;
}  // namespace brigade

namespace brigade::detail {

struct future_access;

/// Whether then(function) can take a T (for void: whether it takes nothing).
template <class Function, class T>
struct accepts_value : std::bool_constant<std::is_invocable_v<Function&, T&&>> {};
template <class Function>
struct accepts_value<Function, void> : std::bool_constant<std::is_invocable_v<Function&>> {};

template <class T>
struct is_future : std::false_type {};
template <class T>
struct is_future<brigade::future<T>> : std::true_type {};

template <class T>
struct unique_access {
  static decltype(auto) value(future_state<T>& state) {
    if constexpr (!std::is_void_v<T>) return state.result().take();
  }
};
template <class T>
struct shared_access {
  static decltype(auto) value(future_state<T>& state) {
    if constexpr (!std::is_void_v<T>) return state.result().value();
  }
};

/// Calls `function` with the source's value (none for void).
template <class Access, class T, class Function>
decltype(auto) call_with_value(Function& function, future_state<T>& source) {
  if constexpr (std::is_void_v<T>)
    return std::invoke(function);
  else
    return std::invoke(function, Access::value(source));
}

/// The state a future<T> returned by a step would be forwarded from (see future.hpp's friend).
template <class T>
future_state<T>* state_of(brigade::future<T>& inner) noexcept;

/// Settles `target` from the inner future's state once that settles.
template <class T>
struct forwarder final : future_continuation {
  forwarder(state_reference<future_state<T>> inner_state, state_reference<future_state<T>> target_state) noexcept
      : future_continuation(&fire_this), inner(std::move(inner_state)), target(std::move(target_state)) {}
  static future_continuation* fire_this(future_continuation* self) noexcept {
    auto* me = static_cast<forwarder*>(self);
    future_continuation* more = nullptr;
    try {
      me->target->settle_from_taking(*me->inner, more);
    } catch (...) {
      me->target->settle_error_taking(std::current_exception(), more);
    }
    delete me;
    return more;
  }
  state_reference<future_state<T>> inner;
  state_reference<future_state<T>> target;
};

/// Settles `target` with what `produce()` returns (a value, nothing, or a future to follow), or
/// with what it throws. Hands the target's continuations to `more`.
template <class Target, class Produce>
void settle_with(state_reference<future_state<Target>>& target, Produce&& produce, future_continuation*& more) noexcept {
  try {
    using produced = std::invoke_result_t<Produce&>;
    if constexpr (is_future<produced>::value) {
      produced inner = produce();
      future_state<Target>* inner_state = state_of(inner);
      if (inner_state == nullptr) throw usage_error("brigade: a continuation returned an empty future");
      inner_state->add_reference();
      auto* link = new forwarder<Target>(state_reference<future_state<Target>>(inner_state), target);
      if (!inner_state->attach(*link)) more = forwarder<Target>::fire_this(link);
    } else if constexpr (std::is_void_v<produced>) {
      produce();
      target->settle_value_taking(more);
    } else {
      target->settle_value_taking(more, produce());
    }
  } catch (...) {
    target->settle_error_taking(std::current_exception(), more);
  }
}

/// How a link holds its executor: a pointer to one passed by lvalue (a pool), a copy of one
/// passed by value (brigade::on(rt)), nothing for inline.
template <class Executor>
using stored_executor = std::conditional_t<std::is_lvalue_reference_v<Executor>, std::remove_reference_t<Executor>*,
                                           std::decay_t<Executor>>;
template <class Executor>
stored_executor<Executor&&> store_executor(Executor&& where) noexcept {
  if constexpr (std::is_lvalue_reference_v<Executor&&>)
    return &where;
  else
    return std::move(where);
}
template <class Stored>
auto& executor_of(Stored& stored) noexcept {
  if constexpr (std::is_pointer_v<Stored>)
    return *stored;
  else
    return stored;
}
struct no_executor {};

/// One link: Step is `void(future_state<Source>&, state_reference<future_state<Target>>&,
/// future_continuation*& more) noexcept`, which must settle the target (or arrange it).
template <class Source, class Target, class Step, class Executor>
struct chain_link final : future_continuation {
  chain_link(state_reference<future_state<Source>> source_state, state_reference<future_state<Target>> target_state,
             Step step_function, Executor executor_value)
      : future_continuation(&fire_this), source(std::move(source_state)), target(std::move(target_state)),
        step(std::move(step_function)), executor(std::move(executor_value)) {}

  static future_continuation* fire_this(future_continuation* self) noexcept {
    auto* me = static_cast<chain_link*>(self);
    if constexpr (std::is_same_v<Executor, no_executor>) {
      return me->run_step();
    } else {
      try {
        executor_of(me->executor).execute(unique_function<void()>([me] { run_continuations(me->run_step()); }));
        return nullptr;
      } catch (...) {
        // Refused (a pool or runtime shutting down): the target gets the refusal. If execute
        // threw after it took the function, the function was destroyed unrun (a unique_function
        // owns nothing of the link), so the link is still ours to free.
        future_continuation* more = nullptr;
        me->target->settle_error_taking(std::current_exception(), more);
        delete me;
        return more;
      }
    }
  }
  future_continuation* run_step() noexcept {
    future_continuation* more = nullptr;
    step(*source, target, more);
    delete this;
    return more;
  }

  state_reference<future_state<Source>> source;
  state_reference<future_state<Target>> target;
  Step step;
  Executor executor;
};

/// Attaches a link running `step` from `source` to a new state, and returns that state.
template <class Target, class Source, class Step, class Executor>
state_reference<future_state<Target>> attach_link(const state_reference<future_state<Source>>& source, Step step,
                                                  Executor executor) {
  auto target = make_future_state<Target>();
  source->add_reference();
  auto* link = new chain_link<Source, Target, Step, Executor>(state_reference<future_state<Source>>(source.get()),
                                                               target, std::move(step), std::move(executor));
  if (!source->attach(*link)) run_continuations(link);
  return target;
}

/// The value type of the future that then(fn) returns: fn's result, flattened if it is a future.
template <class Result>
struct flattened {
  using type = Result;
};
template <class Inner>
struct flattened<brigade::future<Inner>> {
  using type = Inner;
};

/// then(fn)'s step: on a value, settle the target with fn(value); on an error, pass it on.
template <class Access, class Source, class Target, class Function>
auto then_step(Function function) {
  return [function = std::move(function)](future_state<Source>& source, state_reference<future_state<Target>>& target,
                                          future_continuation*& more) mutable noexcept {
    if (source.result().has_error()) {
      target->settle_error_taking(source.result().error(), more);
      return;
    }
    settle_with(target, [&]() -> decltype(auto) { return call_with_value<Access>(function, source); }, more);
  };
}

/// Passes the source's outcome on to the target unchanged.
template <class Access, class T>
void pass_on(future_state<T>& source, state_reference<future_state<T>>& target, future_continuation*& more) noexcept {
  if (source.result().has_error()) {
    target->settle_error_taking(source.result().error(), more);
    return;
  }
  try {
    if constexpr (std::is_void_v<T>)
      target->settle_value_taking(more);
    else
      target->settle_value_taking(more, Access::value(source));
  } catch (...) {
    target->settle_error_taking(std::current_exception(), more);  // the copy threw
  }
}

/// catch_error's step: on an error that is an Exception (any error, for std::exception_ptr), the
/// target gets handler(error) (a value, or a future to follow); otherwise the outcome passes on.
template <class Access, class Exception, class T, class Handler>
auto catch_step(Handler handler) {
  return [handler = std::move(handler)](future_state<T>& source, state_reference<future_state<T>>& target,
                                        future_continuation*& more) mutable noexcept {
    if (!source.result().has_error()) {
      pass_on<Access>(source, target, more);
      return;
    }
    const std::exception_ptr error = source.result().error();
    if constexpr (std::is_same_v<Exception, std::exception_ptr>) {
      settle_with(target, [&]() -> decltype(auto) { return std::invoke(handler, error); }, more);
    } else {
      try {
        std::rethrow_exception(error);
      } catch (Exception& matched) {
        settle_with(target, [&]() -> decltype(auto) { return std::invoke(handler, matched); }, more);
        return;
      } catch (...) {
      }
      target->settle_error_taking(error, more);
    }
  };
}

/// finally's step: runs action(), then passes the outcome on (or action's exception, if it threw).
template <class Access, class T, class Action>
auto finally_step(Action action) {
  return [action = std::move(action)](future_state<T>& source, state_reference<future_state<T>>& target,
                                      future_continuation*& more) mutable noexcept {
    try {
      std::invoke(action);
    } catch (...) {
      target->settle_error_taking(std::current_exception(), more);
      return;
    }
    pass_on<Access>(source, target, more);
  };
}

}  // namespace brigade::detail
