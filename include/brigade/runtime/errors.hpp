// brigade/runtime/errors.hpp: the exceptions through which the runtime reports cancellation and
// misuse.
//
//   task_cancelled     a task did not run to completion because it was cancelled: aborted through
//                      its join_handle, cancelled by its scope (when_all's fail-fast, when_any's
//                      losers, a task_group whose sibling failed) or destroyed by runtime shutdown.
//                      A joiner receives it instead of a value; inside a task it is thrown at a
//                      cancellation point.
//   runtime_shut_down  work was submitted to a runtime that is shutting down or shut down.
//   usage_error        the API was misused in a way the runtime detects: awaiting an empty
//                      (moved-from) task, joining a handle twice, blocking a worker thread in
//                      join() or block_on(), ... The message says what was wrong.
//   channel_closed     (a usage_error) a send on a channel that was closed, or whose receivers
//                      are all gone: the value cannot be delivered.
//
// Thread safety: exception objects are immutable once thrown.
#pragma once

#include <exception>
#include <stdexcept>
#include <string>
#include <cerrno>
#include <system_error>

namespace brigade {

/// A task was cancelled before it could produce its result.
class task_cancelled : public std::runtime_error {
 public:
  explicit task_cancelled(const std::string& why = "brigade: task cancelled")
      : std::runtime_error(why) {}
};

namespace detail {
/// The category of timeout_error's code: its message is "timed out" (the generic category's
/// "Connection timed out" would mislead for a channel or a lock), and it compares equal to
/// std::errc::timed_out.
class timeout_category_type final : public std::error_category {
 public:
  const char* name() const noexcept override { return "brigade.timeout"; }
  std::string message(int) const override { return "timed out"; }
  std::error_condition default_error_condition(int) const noexcept override {
    return std::make_error_condition(std::errc::timed_out);
  }
};
inline const std::error_category& timeout_category() noexcept {
  static const timeout_category_type category;
  return category;
}
}  // namespace detail

/// An operation did not complete before its deadline (brigade::timeout, the timed waits, a
/// connect with a timeout). A std::system_error whose code compares equal to
/// std::errc::timed_out, so that code that handles the errors of I/O handles it too; distinct
/// from task_cancelled, which a stop request of an enclosing scope raises.
class timeout_error : public std::system_error {
 public:
  explicit timeout_error(const std::string& what = "brigade: timed out")
      : std::system_error(std::error_code(ETIMEDOUT, detail::timeout_category()), what) {}
};

/// Work was submitted to a runtime that is shutting down.
class runtime_shut_down : public std::runtime_error {
 public:
  explicit runtime_shut_down(const std::string& why = "brigade: the runtime is shut down")
      : std::runtime_error(why) {}
};

/// The API was used in a way that cannot work; the message says how.
class usage_error : public std::logic_error {
 public:
  explicit usage_error(const std::string& why) : std::logic_error(why) {}
};

/// A value was sent on a channel that is closed or that nobody can receive from any more.
class channel_closed : public usage_error {
 public:
  explicit channel_closed(const std::string& why) : usage_error(why) {}
};

namespace detail {
/// True when `error` holds a task_cancelled: cancellation is an outcome, not a failure to report.
inline bool is_cancellation(const std::exception_ptr& error) noexcept {
  if (!error) return false;
  try {
    std::rethrow_exception(error);
  } catch (const task_cancelled&) {
    return true;
  } catch (...) {
    return false;
  }
}
}  // namespace detail

}  // namespace brigade
