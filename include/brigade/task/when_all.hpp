// brigade/task/when_all.hpp: when_all, which runs tasks in parallel and waits for all of them
// (Promise.all, asyncio.gather without return_exceptions, a join of forked work).
//
//   auto [user, orders] = co_await brigade::when_all(fetch_user(id), fetch_orders(id));
//   std::vector<int> sizes = co_await brigade::when_all(std::move(size_tasks));
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
#pragma once

#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "brigade/detail/fork_join.hpp"
#include "brigade/runtime/task.hpp"

namespace brigade {

namespace detail {

template <class T>
class when_all_range final : public range_fork<T> {
 public:
  explicit when_all_range(std::vector<task<T>> children)
      : range_fork<T>(std::move(children), fork_join_mode::fail_fast, "when_all") {}

  auto await_resume() {
    if (promise_base* failed = this->first())
      this->children_[this->index_of(failed)].handle().promise().result_.take();  // rethrows
    if constexpr (std::is_void_v<T>) {
      for (auto& child : this->children_) child.handle().promise().result_.take();
    } else {
      std::vector<T> results;
      results.reserve(this->children_.size());
      for (auto& child : this->children_) results.push_back(child.handle().promise().result_.take());
      return results;
    }
  }
};

template <class... Ts>
class when_all_tuple final : public tuple_fork<Ts...> {
 public:
  explicit when_all_tuple(task<Ts>... children)
      : tuple_fork<Ts...>(fork_join_mode::fail_fast, "when_all", std::move(children)...) {}

  std::tuple<non_void_t<Ts>...> await_resume() {
    if (promise_base* failed = this->first()) rethrow_child(failed, std::index_sequence_for<Ts...>{});
    return std::apply([](auto&... child) { return std::tuple<non_void_t<Ts>...>(take_non_void(child)...); },
                      this->children_);
  }

 private:
  template <std::size_t... I>
  void rethrow_child(promise_base* failed, std::index_sequence<I...>) {
    ((&std::get<I>(this->children_).handle().promise() == failed
          ? (void)take_non_void(std::get<I>(this->children_))
          : void()),
     ...);
  }
};

}  // namespace detail

/// Runs every task of the vector in parallel; yields their results in order.
template <class T>
[[nodiscard("co_await the result of when_all")]] detail::when_all_range<T> when_all(
    std::vector<task<T>> tasks) {
  static_assert(!std::is_reference_v<T>, "when_all over a vector needs tasks of non-reference type");
  return detail::when_all_range<T>(std::move(tasks));
}

/// Runs the given tasks in parallel; yields a tuple of their results.
template <class... Ts>
[[nodiscard("co_await the result of when_all")]] detail::when_all_tuple<Ts...> when_all(
    task<Ts>... tasks) {
  return detail::when_all_tuple<Ts...>(std::move(tasks)...);
}

}  // namespace brigade
