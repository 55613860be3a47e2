// brigade/future/combinators.hpp: JavaScript's Promise combinators over futures.
//
//   future<std::vector<int>> sizes = brigade::all(std::move(size_futures));     // Promise.all
//   auto [user, cart] = brigade::all(std::move(f_user), std::move(f_cart)).get();
//   future<std::vector<outcome<int>>> every = brigade::all_settled(std::move(fs));  // allSettled
//   future<int> first_good = brigade::any(std::move(mirrors));                   // Promise.any
//   future<int> first_done = brigade::race(std::move(mirrors));                  // Promise.race
//
// all: the values in argument order (a void future gives std::monostate in a tuple; a vector of
//      void futures gives future<void>); the first error settles it at once (fail fast).
// all_settled: every outcome (value or error, task/outcome.hpp), in order, once all settled.
// any: the first value; if every input fails, all_failed with each error in order.
// race: the first input to settle, value or error.
// The inputs are taken (moved in); inputs still pending when the result settles are not
// cancelled (as in JavaScript): cancel them yourself if their work should stop. A task joins in
// with spawn_future (future/spawn_future.hpp). Empty inputs: all and all_settled are ready at
// once; any fails with all_failed; race fails with usage_error (it would never settle).
// Complexity: one allocation for the combination and one continuation per input; each input's
// settling costs O(1) (all and all_settled build the result once, at the end).
// Thread safety: the inputs may settle on any threads at once.
#pragma once

#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "brigade/detail/future_state.hpp"
#include "brigade/detail/seam.hpp"
#include "brigade/future/future.hpp"
#include "brigade/future/future_errors.hpp"
#include "brigade/task/outcome.hpp"

namespace brigade {

namespace detail {

/// Runs `on_settled(source, more)` once `input` settles (taking the future's reference).
template <class T, class OnSettled>
void watch(brigade::future<T>& input, OnSettled on_settled) {
  struct node final : future_continuation {
    node(state_reference<future_state<T>> watched, OnSettled callback)
        : future_continuation(&fire_this), source(std::move(watched)), on_settled(std::move(callback)) {}
    static future_continuation* fire_this(future_continuation* self) noexcept {
      auto* me = static_cast<node*>(self);
      future_continuation* more = nullptr;
      me->on_settled(*me->source, more);
      delete me;
      return more;
    }
    state_reference<future_state<T>> source;
    OnSettled on_settled;
  };
  state_reference<future_state<T>> source = std::move(future_access::state(input));
  if (!source) throw usage_error("brigade: a combinator was given a future without a state");
  future_state<T>& watched = *source;
  auto* link = new node(std::move(source), std::move(on_settled));
  if (!watched.attach(*link)) run_continuations(link);
}

template <class T>
using value_or_monostate = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

template <class T>
outcome<T> outcome_of(future_state<T>& settled) {
  if (settled.result().has_error()) return outcome<T>::failure(settled.result().error());
  if constexpr (std::is_void_v<T>)
    return outcome<T>::success();
  else
    return outcome<T>::success(settled.result().take());
}

}  // namespace detail

/// Promise.all over a vector: the values in order, or the first error.
template <class T>
auto all(std::vector<future<T>> inputs) -> future<std::conditional_t<std::is_void_v<T>, void, std::vector<T>>> {
  using result = std::conditional_t<std::is_void_v<T>, void, std::vector<T>>;
  struct combination {
    std::vector<std::optional<detail::value_or_monostate<T>>> values;
    detail::seam::atomic<std::size_t> remaining;
    detail::state_reference<detail::future_state<result>> target;
  };
  auto target = detail::make_future_state<result>();
  auto shared = std::make_shared<combination>();
  shared->values.resize(inputs.size());
  shared->remaining.store(inputs.size());
  shared->target = target;
  if (inputs.empty()) target->settle_value();
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    detail::watch(inputs[i], [shared, i](detail::future_state<T>& source, detail::future_continuation*& more) noexcept {
      if (source.result().has_error()) {
        shared->target->settle_error_taking(source.result().error(), more);  // the first error wins
        return;
      }
      try {
        if constexpr (std::is_void_v<T>)
          shared->values[i].emplace();
        else
          shared->values[i].emplace(source.result().take());
      } catch (...) {
        shared->target->settle_error_taking(std::current_exception(), more);
        return;
      }
      if (shared->remaining.fetch_sub(1, detail::seam::memory_order::acq_rel) != 1) return;
      try {
        if constexpr (std::is_void_v<T>) {
          shared->target->settle_value_taking(more);
        } else {
          std::vector<T> values;
          values.reserve(shared->values.size());
          for (auto& value : shared->values) values.push_back(std::move(*value));
          shared->target->settle_value_taking(more, std::move(values));
        }
      } catch (...) {
        shared->target->settle_error_taking(std::current_exception(), more);
      }
    });
  }
  return detail::future_access::make<result>(std::move(target));
}

/// Promise.all over futures of different types: a tuple of their values, or the first error.
template <class... T>
  requires(sizeof...(T) >= 1)
auto all(future<T>... inputs) -> future<std::tuple<detail::value_or_monostate<T>...>> {
  using result = std::tuple<detail::value_or_monostate<T>...>;
  struct combination {
    std::tuple<std::optional<detail::value_or_monostate<T>>...> values;
    detail::seam::atomic<std::size_t> remaining{sizeof...(T)};
    detail::state_reference<detail::future_state<result>> target;
  };
  auto target = detail::make_future_state<result>();
  auto shared = std::make_shared<combination>();
  shared->target = target;
  auto watch_one = [&]<std::size_t I, class U>(std::integral_constant<std::size_t, I>, future<U>& input) {
    detail::watch(input, [shared](detail::future_state<U>& source, detail::future_continuation*& more) noexcept {
      if (source.result().has_error()) {
        shared->target->settle_error_taking(source.result().error(), more);
        return;
      }
      try {
        if constexpr (std::is_void_v<U>)
          std::get<I>(shared->values).emplace();
        else
          std::get<I>(shared->values).emplace(source.result().take());
      } catch (...) {
        shared->target->settle_error_taking(std::current_exception(), more);
        return;
      }
      if (shared->remaining.fetch_sub(1, detail::seam::memory_order::acq_rel) != 1) return;
      try {
        shared->target->settle_value_taking(
            more, std::apply([](auto&... values) { return result(std::move(*values)...); }, shared->values));
      } catch (...) {
        shared->target->settle_error_taking(std::current_exception(), more);
      }
    });
  };
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (watch_one(std::integral_constant<std::size_t, I>{}, inputs), ...);
  }(std::index_sequence_for<T...>{});
  return detail::future_access::make<result>(std::move(target));
}

/// Promise.allSettled over a vector: every outcome, in order.
template <class T>
future<std::vector<outcome<T>>> all_settled(std::vector<future<T>> inputs) {
  using result = std::vector<outcome<T>>;
  struct combination {
    std::vector<std::optional<outcome<T>>> outcomes;
    detail::seam::atomic<std::size_t> remaining;
    detail::state_reference<detail::future_state<result>> target;
  };
  auto target = detail::make_future_state<result>();
  auto shared = std::make_shared<combination>();
  shared->outcomes.resize(inputs.size());
  shared->remaining.store(inputs.size());
  shared->target = target;
  if (inputs.empty()) target->settle_value();
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    detail::watch(inputs[i], [shared, i](detail::future_state<T>& source, detail::future_continuation*& more) noexcept {
      try {
        shared->outcomes[i].emplace(detail::outcome_of(source));
      } catch (...) {
        shared->outcomes[i].emplace(outcome<T>::failure(std::current_exception()));  // the value's move threw
      }
      if (shared->remaining.fetch_sub(1, detail::seam::memory_order::acq_rel) != 1) return;
      try {
        result outcomes;
        outcomes.reserve(shared->outcomes.size());
        for (auto& each : shared->outcomes) outcomes.push_back(std::move(*each));
        shared->target->settle_value_taking(more, std::move(outcomes));
      } catch (...) {
        shared->target->settle_error_taking(std::current_exception(), more);
      }
    });
  }
  return detail::future_access::make<result>(std::move(target));
}

/// Promise.allSettled over futures of different types.
template <class... T>
  requires(sizeof...(T) >= 1)
auto all_settled(future<T>... inputs) -> future<std::tuple<outcome<T>...>> {
  // Each input becomes a future of its outcome, which cannot fail; all() then combines them.
  auto settled = []<class U>(future<U> input) {
    return std::move(input)
        .then([](auto&&... value) { return outcome<U>::success(std::forward<decltype(value)>(value)...); })
        .template catch_error<std::exception_ptr>([](std::exception_ptr error) { return outcome<U>::failure(error); });
  };
  return all(settled(std::move(inputs))...);
}

/// Promise.any: the first value; all_failed (with every error, in order) if every input fails.
template <class T>
future<T> any(std::vector<future<T>> inputs) {
  struct combination {
    std::vector<std::exception_ptr> errors;
    detail::seam::atomic<std::size_t> remaining;
    detail::state_reference<detail::future_state<T>> target;
  };
  auto target = detail::make_future_state<T>();
  if (inputs.empty()) {
    target->settle_error(std::make_exception_ptr(all_failed("brigade: any() of no futures", {})));
    return detail::future_access::make<T>(std::move(target));
  }
  auto shared = std::make_shared<combination>();
  shared->errors.resize(inputs.size());
  shared->remaining.store(inputs.size());
  shared->target = target;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    detail::watch(inputs[i], [shared, i](detail::future_state<T>& source, detail::future_continuation*& more) noexcept {
      if (!source.result().has_error()) {
        shared->target->settle_from_taking(source, more);  // the first value wins
        return;
      }
      shared->errors[i] = source.result().error();
      if (shared->remaining.fetch_sub(1, detail::seam::memory_order::acq_rel) != 1) return;
      shared->target->settle_error_taking(
          std::make_exception_ptr(all_failed("brigade: any(): every future failed", std::move(shared->errors))), more);
    });
  }
  return detail::future_access::make<T>(std::move(target));
}

/// Promise.race: the first input to settle, value or error.
template <class T>
future<T> race(std::vector<future<T>> inputs) {
  auto target = detail::make_future_state<T>();
  if (inputs.empty()) {
    target->settle_error(std::make_exception_ptr(usage_error("brigade: race() of no futures would never settle")));
    return detail::future_access::make<T>(std::move(target));
  }
  for (auto& input : inputs) {
    detail::watch(input, [target](detail::future_state<T>& source, detail::future_continuation*& more) noexcept {
      try {
        target->settle_from_taking(source, more);
      } catch (...) {
        target->settle_error_taking(std::current_exception(), more);
      }
    });
  }
  return detail::future_access::make<T>(std::move(target));
}

/// any and race over futures of one type, as arguments.
template <class T, class... More>
  requires(std::is_same_v<future<T>, More> && ...)
future<T> any(future<T> first, More... more) {
  std::vector<future<T>> inputs;
  inputs.push_back(std::move(first));
  (inputs.push_back(std::move(more)), ...);
  return any(std::move(inputs));
}
template <class T, class... More>
  requires(std::is_same_v<future<T>, More> && ...)
future<T> race(future<T> first, More... more) {
  std::vector<future<T>> inputs;
  inputs.push_back(std::move(first));
  (inputs.push_back(std::move(more)), ...);
  return race(std::move(inputs));
}

}  // namespace brigade
