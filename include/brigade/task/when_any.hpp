// brigade/task/when_any.hpp: when_any, which runs tasks in parallel and yields the first one to
// finish (Promise.race, asyncio.wait(FIRST_COMPLETED), tokio::select! over tasks).
//
//   auto first = co_await brigade::when_any(std::move(mirrors));   // first.index, first.value
//   std::variant<A, B> r = co_await brigade::when_any(a(), b());   // r.index() tells which
//
// "First to finish" counts a failure too: if the first task to finish threw, when_any rethrows
// its error. The others are cancelled (their scope is stopped: those not started never run,
// running ones see it at their next cancellation point) and when_any waits for them to finish
// before it returns (structured concurrency: nothing outlives the call).
// Awaiting: once; only inside a task on a runtime; at least one task (usage_error otherwise).
#pragma once

#include <array>
#include <cstddef>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "brigade/detail/fork_join.hpp"
#include "brigade/runtime/errors.hpp"
#include "brigade/runtime/task.hpp"

namespace brigade {

/// The winner of a when_any over a vector: its position and its value.
template <class T>
struct when_any_result {
  std::size_t index;
  T value;
};
template <>
struct when_any_result<void> {
  std::size_t index;
};

namespace detail {

template <class Container>
class when_any_range final : public range_fork<fork_join_mode::first_wins, Container> {
  using T = typename range_fork<fork_join_mode::first_wins, Container>::value_type;

 public:
  explicit when_any_range(Container&& children)
      : range_fork<fork_join_mode::first_wins, Container>(std::move(children)) {
    if (this->children_.empty()) throw usage_error("brigade: when_any of no tasks has no winner");
  }

  when_any_result<T> await_resume() {
    const std::size_t index = this->index_of(this->first());
    auto& winner = this->children_[index].handle().promise().result_;
    if constexpr (std::is_void_v<T>) {
      winner.take();
      return {index};
    } else {
      return {index, winner.take()};
    }
  }
};

template <class... Ts>
class when_any_tuple final : public tuple_fork<fork_join_mode::first_wins, Ts...> {
 public:
  explicit when_any_tuple(task<Ts>&&... children)
      : tuple_fork<fork_join_mode::first_wins, Ts...>(std::move(children)...) {}

  std::variant<non_void_t<Ts>...> await_resume() {
    return take_winner(this->index_of(this->first()), std::index_sequence_for<Ts...>{});
  }

 private:
  template <std::size_t... I>
  std::variant<non_void_t<Ts>...> take_winner(std::size_t index, std::index_sequence<I...>) {
    std::variant<non_void_t<Ts>...> result;
    ((I == index ? (void)result.template emplace<I>(take_non_void(std::get<I>(this->children_)))
                 : void()),
     ...);
    return result;
  }
};

}  // namespace detail

/// Runs the tasks of the vector or array in parallel; yields the first to finish with its index.
/// An empty array does not compile; an empty vector throws usage_error.
template <detail::task_range Tasks>
  requires(!detail::is_empty_array<Tasks>)
[[nodiscard("co_await the result of when_any")]] detail::when_any_range<Tasks> when_any(Tasks tasks) {
  return detail::when_any_range<Tasks>(std::move(tasks));
}

/// Runs the given tasks in parallel; yields the first to finish as a variant (its index() says
/// which; void results are std::monostate).
template <class... Ts>
  requires(sizeof...(Ts) > 0)
[[nodiscard("co_await the result of when_any")]] detail::when_any_tuple<Ts...> when_any(
    task<Ts>... tasks) {
  return detail::when_any_tuple<Ts...>(std::move(tasks)...);
}

}  // namespace brigade
