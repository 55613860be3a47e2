// brigade/task/when_all.hpp: when_all, which runs tasks in parallel and waits for all of them
// (Promise.all, asyncio.gather without return_exceptions, a join of forked work).
//
//   auto [user, orders] = co_await brigade::when_all(fetch_user(id), fetch_orders(id));
//   std::vector<int> sizes = co_await brigade::when_all(std::move(size_tasks));
//   std::array<int, 10> parts = co_await brigade::when_all(std::move(ten_tasks));  // no allocation
//
// The tasks run as children of the awaiting task: all but the first are pushed where idle workers
// can steal them, the first runs at once on this worker. Results come back in argument order
// (void results as std::monostate in the tuple; a vector of void tasks gives void).
// Fail-fast: the first child to fail stops the others' scope (children not started yet do not
// run; running ones see it at their next cancellation point), when_all still waits for every
// child to finish, then rethrows that first error.
// Awaiting: once; only inside a task on a runtime (usage_error otherwise, or if a task is
// empty). Resumes on: the worker where the last child finished.
// Complexity: O(N) to start and to collect; one deque push per child but the first.
// GCC 12 pitfall: build an array of tasks in a named variable, not as a braced temporary inside
// the co_await expression (GCC destroys such temporaries twice; docs/ARCHITECTURE.md).
#pragma once

#include <array>
#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "brigade/detail/fork_join.hpp"
#include "brigade/runtime/task.hpp"

namespace brigade {

namespace detail {

template <class Container>
class when_all_range final : public range_fork<fork_join_mode::fail_fast, Container> {
  using T = typename range_fork<fork_join_mode::fail_fast, Container>::value_type;

 public:
  explicit when_all_range(Container&& children)
      : range_fork<fork_join_mode::fail_fast, Container>(std::move(children)) {}

  BRIGADE_ALWAYS_INLINE auto await_resume() {
    if (promise_base* failed = this->first())
      this->children_[this->index_of(failed)].handle().promise().result_.take();  // rethrows
    if constexpr (std::is_void_v<T>) {
      for (auto& child : this->children_) child.handle().promise().result_.take();
    } else {
      return task_container<Container>::map(
          this->children_, [](task<T>& child) -> T { return child.handle().promise().result_.take(); });
    }
  }
};

template <class... Ts>
class when_all_tuple final : public tuple_fork<fork_join_mode::fail_fast, Ts...> {
 public:
  explicit when_all_tuple(task<Ts>&&... children)
      : tuple_fork<fork_join_mode::fail_fast, Ts...>(std::move(children)...) {}

  BRIGADE_ALWAYS_INLINE std::tuple<non_void_t<Ts>...> await_resume() {
    if (promise_base* failed = this->first()) rethrow_child(failed, std::index_sequence_for<Ts...>{});
    return take_all(std::index_sequence_for<Ts...>{});
  }

 private:
  // Expanded by index rather than through std::apply's lambda, which clang left out of line (a
  // call per fork).
  template <std::size_t... I>
  BRIGADE_ALWAYS_INLINE std::tuple<non_void_t<Ts>...> take_all(std::index_sequence<I...>) {
    return std::tuple<non_void_t<Ts>...>(take_non_void(std::get<I>(this->children_))...);
  }

  template <std::size_t... I>
  void rethrow_child(promise_base* failed, std::index_sequence<I...>) {
    ((&std::get<I>(this->children_).handle().promise() == failed
          ? (void)take_non_void(std::get<I>(this->children_))
          : void()),
     ...);
  }
};

}  // namespace detail

/// Runs every task of the vector or array in parallel; yields their results in order, in a
/// vector or an array like the input (over an array it allocates nothing).
template <detail::task_range Tasks>
[[nodiscard("co_await the result of when_all")]] detail::when_all_range<Tasks> when_all(Tasks tasks) {
  return detail::when_all_range<Tasks>(std::move(tasks));
}

/// Runs the given tasks in parallel; yields a tuple of their results.
template <class... Ts>
[[nodiscard("co_await the result of when_all")]] detail::when_all_tuple<Ts...> when_all(
    task<Ts>... tasks) {
  return detail::when_all_tuple<Ts...>(std::move(tasks)...);
}

}  // namespace brigade
