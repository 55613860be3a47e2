// brigade/task/gather.hpp: gather, which runs tasks in parallel and yields every outcome, value
// or error, without cancelling anything (asyncio.gather(..., return_exceptions=True),
// Promise.allSettled).
//
//   auto outcomes = co_await brigade::gather(std::move(downloads));   // vector<outcome<T>>
//   auto [a, b] = co_await brigade::gather(task_a(), task_b());       // tuple<outcome<A>, ...>
//
// A failure in one task does not affect the others. Results come back in argument order.
// Awaiting: once; only inside a task on a runtime (usage_error otherwise).
#pragma once

#include <array>
#include <cstddef>
#include <exception>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "brigade/detail/fork_join.hpp"
#include "brigade/runtime/task.hpp"
#include "brigade/task/outcome.hpp"

namespace brigade {

namespace detail {

template <class T>
outcome<T> settle(task<T>& child) {
  auto& result = child.handle().promise().result_;
  if (result.has_error()) return outcome<T>::failure(result.error());
  if constexpr (std::is_void_v<T>) {
    return outcome<void>::success();
  } else {
    return outcome<T>::success(result.take());
  }
}

template <class Container>
class gather_range final : public range_fork<fork_join_mode::settle, Container> {
  using T = typename range_fork<fork_join_mode::settle, Container>::value_type;

 public:
  explicit gather_range(Container&& children)
      : range_fork<fork_join_mode::settle, Container>(std::move(children)) {}

  auto await_resume() {
    return task_container<Container>::map(this->children_, [](task<T>& child) { return settle(child); });
  }
};

template <class... Ts>
class gather_tuple final : public tuple_fork<fork_join_mode::settle, Ts...> {
 public:
  explicit gather_tuple(task<Ts>&&... children)
      : tuple_fork<fork_join_mode::settle, Ts...>(std::move(children)...) {}

  std::tuple<outcome<Ts>...> await_resume() {
    return std::apply([](auto&... child) { return std::tuple<outcome<Ts>...>(settle(child)...); },
                      this->children_);
  }
};

}  // namespace detail

/// Runs every task of the vector or array in parallel; yields each one's outcome, in order, in a
/// vector or an array like the input.
template <detail::task_range Tasks>
[[nodiscard("co_await the result of gather")]] detail::gather_range<Tasks> gather(Tasks tasks) {
  return detail::gather_range<Tasks>(std::move(tasks));
}

/// Runs the given tasks in parallel; yields a tuple of their outcomes.
template <class... Ts>
[[nodiscard("co_await the result of gather")]] detail::gather_tuple<Ts...> gather(
    task<Ts>... tasks) {
  return detail::gather_tuple<Ts...>(std::move(tasks)...);
}

}  // namespace brigade
