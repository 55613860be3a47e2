// brigade/task/outcome.hpp: outcome<T>, a value or the exception that took its place, as
// returned by gather() (asyncio.gather(..., return_exceptions=True)).
//
//   for (auto& o : co_await brigade::gather(std::move(fetches)))
//     if (o.has_value()) use(o.value()); else log(o.error());
//
// value() on a failed outcome rethrows its exception; error() on a successful one is null.
// Thread safety: a plain value type.
#pragma once

#include <exception>
#include <optional>
#include <utility>

namespace brigade {

template <class T>
class outcome {
 public:
  static outcome success(T value) { return outcome(std::move(value)); }
  static outcome failure(std::exception_ptr error) { return outcome(std::move(error)); }

  [[nodiscard]] bool has_value() const noexcept { return value_.has_value(); }
  [[nodiscard]] bool has_error() const noexcept { return !value_.has_value(); }
  explicit operator bool() const noexcept { return has_value(); }

  /// The value; rethrows the error if there is none.
  T& value() & {
    if (!value_) std::rethrow_exception(error_);
    return *value_;
  }
  T&& value() && {
    if (!value_) std::rethrow_exception(error_);
    return std::move(*value_);
  }
  /// The error, or null for a success.
  [[nodiscard]] const std::exception_ptr& error() const noexcept { return error_; }

 private:
  explicit outcome(T value) : value_(std::move(value)) {}
  explicit outcome(std::exception_ptr error) : error_(std::move(error)) {}
  std::optional<T> value_;
  std::exception_ptr error_;
};

template <>
class outcome<void> {
 public:
  static outcome success() { return outcome(nullptr); }
  static outcome failure(std::exception_ptr error) { return outcome(std::move(error)); }
  [[nodiscard]] bool has_value() const noexcept { return !error_; }
  [[nodiscard]] bool has_error() const noexcept { return static_cast<bool>(error_); }
  explicit operator bool() const noexcept { return has_value(); }
  void value() const {
    if (error_) std::rethrow_exception(error_);
  }
  [[nodiscard]] const std::exception_ptr& error() const noexcept { return error_; }

 private:
  explicit outcome(std::exception_ptr error) : error_(std::move(error)) {}
  std::exception_ptr error_;
};

}  // namespace brigade
