// brigade/detail/awaitable_traits.hpp: what `co_await x` resolves to, for operations that take
// any awaitable (timeout): the awaiter (x's member operator co_await, a free operator co_await,
// or x itself) and the type of the co_await expression.
#pragma once

#include <coroutine>
#include <type_traits>
#include <utility>

namespace brigade::detail {

template <class T>
concept has_member_co_await = requires(T&& value) { std::forward<T>(value).operator co_await(); };
template <class T>
concept has_free_co_await = requires(T&& value) { operator co_await(std::forward<T>(value)); };

/// The awaiter of `value`, as co_await finds it (without an await_transform).
template <class T>
decltype(auto) awaiter_of(T&& value) {
  if constexpr (has_member_co_await<T>)
    return std::forward<T>(value).operator co_await();
  else if constexpr (has_free_co_await<T>)
    return operator co_await(std::forward<T>(value));
  else
    return std::forward<T>(value);
}

/// The type of `co_await std::declval<T>()`.
template <class T>
using await_result_t = decltype(std::declval<decltype(awaiter_of(std::declval<T>()))&>().await_resume());

}  // namespace brigade::detail
