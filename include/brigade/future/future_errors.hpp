// brigade/future/future_errors.hpp: the errors of the future layer.
//
//   broken_promise       a future's promise was destroyed before it set a value or an exception
//                        (the producer forgot, or threw past it): get() and co_await throw it.
//   rejected_execution   work was submitted to a thread_pool that is shutting down (Java's
//                        RejectedExecutionException).
//   all_failed           every future given to any() failed; errors() has each one, in order
//                        (JavaScript's AggregateError).
//   deadlock_error       a thread_pool's job would block on a future while every other thread of
//                        the pool blocks too and jobs are queued that nobody could then run.
// Misuse (get() twice on a unique future, set_value twice, get_future twice) is usage_error
// (runtime/errors.hpp); a cancelled future gives task_cancelled.
#pragma once

#include <stdexcept>
#include <exception>
#include <string>
#include <utility>
#include <vector>

namespace brigade {

class broken_promise : public std::runtime_error {
 public:
  explicit broken_promise(const std::string& what) : std::runtime_error(what) {}
};

class rejected_execution : public std::runtime_error {
 public:
  explicit rejected_execution(const std::string& what) : std::runtime_error(what) {}
};

class all_failed : public std::runtime_error {
 public:
  all_failed(const std::string& what, std::vector<std::exception_ptr> errors)
      : std::runtime_error(what), errors_(std::move(errors)) {}
  const std::vector<std::exception_ptr>& errors() const noexcept { return errors_; }

 private:
  std::vector<std::exception_ptr> errors_;
};

class deadlock_error : public std::runtime_error {
 public:
  explicit deadlock_error(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace brigade
