// brigade/detail/result_slot.hpp: storage for what a unit of work produced: nothing yet, a value
// of type T (T may be a reference), or an exception; for void, success or an exception.
//
// Used by task promises and spawn records. Not thread-safe by itself: the owner publishes it to
// other threads through an atomic (the join protocol) before they read it.
#pragma once

#include <cassert>
#include <exception>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace brigade::detail {

template <class T>
class result_slot {
  using stored = std::conditional_t<std::is_reference_v<T>,
                                    std::add_pointer_t<std::remove_reference_t<T>>, T>;

 public:
  result_slot() noexcept {}
  result_slot(const result_slot&) = delete;
  result_slot& operator=(const result_slot&) = delete;
  ~result_slot() { reset(); }

  /// Stores the value. Precondition: the slot is empty (work produces its result once).
  template <class U>
  void set_value(U&& value) {
    assert(kind_ == kind::none);
    if constexpr (std::is_reference_v<T>)
      std::construct_at(&value_, std::addressof(value));
    else
      std::construct_at(&value_, std::forward<U>(value));
    kind_ = kind::value;
  }
  void set_error(std::exception_ptr error) noexcept {
    reset();
    std::construct_at(&error_, std::move(error));
    kind_ = kind::error;
  }
  bool has_value() const noexcept { return kind_ == kind::value; }
  bool has_error() const noexcept { return kind_ == kind::error; }
  const std::exception_ptr& error() const noexcept { return error_; }

  /// The value, left in place (for several readers). Precondition: has_value().
  const std::remove_reference_t<T>& value() const noexcept {
    if constexpr (std::is_reference_v<T>)
      return *value_;
    else
      return value_;
  }

  /// Moves the value out, or rethrows the error. Precondition: !empty().
  T take() {
    if (kind_ == kind::error) std::rethrow_exception(error_);
    if constexpr (std::is_reference_v<T>)
      return static_cast<T>(*value_);
    else
      return std::move(value_);
  }

  /// Moves whatever this slot holds into `other`.
  void move_into(result_slot& other) {
    if (kind_ == kind::value) {
      if constexpr (std::is_reference_v<T>)
        other.template set_value<T>(static_cast<T>(*value_));
      else
        other.set_value(std::move(value_));
    } else if (kind_ == kind::error) {
      other.set_error(error_);
    }
  }

 private:
  void reset() noexcept {
    if constexpr (!std::is_trivially_destructible_v<stored>)
      if (kind_ == kind::value) std::destroy_at(&value_);
    if (kind_ == kind::error) std::destroy_at(&error_);
    kind_ = kind::none;
  }
  enum class kind : unsigned char { none, value, error };
  union {
    stored value_;
    std::exception_ptr error_;
  };
  kind kind_ = kind::none;
};

/// void: success or an exception. There is no separate "done" flag: whoever reads the slot
/// already knows the work finished (a task's final suspend, a record's `complete` bit), so a slot
/// without an error is a success. One word, which keeps frames and records of void work small.
template <>
class result_slot<void> {
 public:
  void set_value() noexcept { error_ = nullptr; }
  void set_error(std::exception_ptr error) noexcept { error_ = std::move(error); }
  bool has_value() const noexcept { return !error_; }
  bool has_error() const noexcept { return static_cast<bool>(error_); }
  const std::exception_ptr& error() const noexcept { return error_; }
  void take() {
    if (error_) std::rethrow_exception(error_);
  }
  void move_into(result_slot& other) { other.error_ = error_; }

 private:
  std::exception_ptr error_;
};

}  // namespace brigade::detail
