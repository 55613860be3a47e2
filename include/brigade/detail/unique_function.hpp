// brigade/detail/unique_function.hpp: a move-only std::function (C++23's std::move_only_function,
// which GCC 12's C++20 lacks): holds any callable with the signature, including one that owns
// move-only state (a promise, a unique_ptr), and calls it.
//
//   unique_function<void()> job = [p = std::move(promise)]() mutable { p.set_value(); };
//   job();
//
// Callables of up to three pointers that are nothrow-movable live inside the object (no
// allocation: a lambda that captures a pointer or two, as the thread pool's jobs do); larger
// ones are allocated. Calling an empty unique_function is undefined (check with operator bool).
// Thread safety: none of its own (as std::function).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace brigade::detail {

template <class Signature>
class unique_function;

template <class Result, class... Arguments>
class unique_function<Result(Arguments...)> {
  static constexpr std::size_t inline_size = 3 * sizeof(void*);
  template <class F>
  static constexpr bool fits_inline = sizeof(F) <= inline_size && alignof(F) <= alignof(std::max_align_t) &&
                                      std::is_nothrow_move_constructible_v<F>;

 public:
  unique_function() noexcept = default;
  unique_function(std::nullptr_t) noexcept {}
  template <class F>
    requires(!std::is_same_v<std::decay_t<F>, unique_function> &&
             std::is_invocable_r_v<Result, std::decay_t<F>&, Arguments...>)
  unique_function(F&& function) {  // NOLINT: implicit, as std::function's
    using stored = std::decay_t<F>;
    if constexpr (fits_inline<stored>) {
      ::new (static_cast<void*>(storage_)) stored(std::forward<F>(function));
      operations_ = &inline_operations<stored>;
    } else {
      *reinterpret_cast<stored**>(storage_) = new stored(std::forward<F>(function));
      operations_ = &heap_operations<stored>;
    }
  }
  unique_function(unique_function&& other) noexcept { take(other); }
  unique_function& operator=(unique_function&& other) noexcept {
    if (this != &other) {
      reset();
      take(other);
    }
    return *this;
  }
  unique_function(const unique_function&) = delete;
  unique_function& operator=(const unique_function&) = delete;
  ~unique_function() { reset(); }

  explicit operator bool() const noexcept { return operations_ != nullptr; }
  Result operator()(Arguments... arguments) {
    return operations_->call(storage_, std::forward<Arguments>(arguments)...);
  }

 private:
  struct operations {
    Result (*call)(void* storage, Arguments&&... arguments);
    void (*move)(void* from, void* to) noexcept;  // move-constructs at `to`, destroys `from`
    void (*destroy)(void* storage) noexcept;
  };
  template <class F>
  static constexpr operations inline_operations{
      [](void* storage, Arguments&&... arguments) -> Result {
        return std::invoke(*std::launder(static_cast<F*>(storage)), std::forward<Arguments>(arguments)...);
      },
      [](void* from, void* to) noexcept {
        F* source = std::launder(static_cast<F*>(from));
        ::new (to) F(std::move(*source));
        source->~F();
      },
      [](void* storage) noexcept { std::launder(static_cast<F*>(storage))->~F(); }};
  template <class F>
  static constexpr operations heap_operations{
      [](void* storage, Arguments&&... arguments) -> Result {
        return std::invoke(**static_cast<F**>(storage), std::forward<Arguments>(arguments)...);
      },
      [](void* from, void* to) noexcept { *static_cast<F**>(to) = *static_cast<F**>(from); },
      [](void* storage) noexcept { delete *static_cast<F**>(storage); }};

  void take(unique_function& other) noexcept {
    operations_ = std::exchange(other.operations_, nullptr);
    if (operations_ != nullptr) operations_->move(other.storage_, storage_);
  }
  void reset() noexcept {
    if (operations_ != nullptr) std::exchange(operations_, nullptr)->destroy(storage_);
  }

  alignas(std::max_align_t) unsigned char storage_[inline_size];
  const operations* operations_ = nullptr;
};

}  // namespace brigade::detail
