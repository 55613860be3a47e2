// brigade/future/promise.hpp: promise<T>, the producer's side of a future (std::promise; the
// resolve and reject of a JavaScript Promise).
//
//   brigade::promise<std::string> p;
//   brigade::future<std::string> f = p.get_future();
//   std::thread([p = std::move(p)]() mutable { p.set_value(read_all(path)); }).detach();
//
// set_value / set_exception settle the future once: waiters wake, continuations run (inline ones
// on this thread, before set_value returns). A promise destroyed before either settles its
// future with broken_promise, so no consumer waits forever for a producer that is gone.
// If the consumer cancelled the future first, set_value and set_exception do nothing (the
// producer may check is_cancelled(), or watch stop_token(), to stop early).
// Misuse: get_future() twice, set_value / set_exception twice, or any call on a moved-from
// promise throws usage_error.
// Thread safety: one producer uses a promise (it is movable, not copyable); its future may be
// consumed on any thread at the same time.
#pragma once

#include <exception>
#include <stop_token>
#include <utility>

#include "brigade/detail/future_state.hpp"
#include "brigade/future/future.hpp"
#include "brigade/future/future_errors.hpp"
#include "brigade/runtime/errors.hpp"

namespace brigade {

template <class T>
class promise {
  using state_type = detail::future_state<T>;

 public:
  promise() : state_(detail::make_future_state<T>()) {}
  promise(promise&& other) noexcept
      : state_(std::move(other.state_)), future_taken_(other.future_taken_), satisfied_(other.satisfied_) {}
  promise& operator=(promise&& other) noexcept {
    if (this != &other) {
      abandon();
      state_ = std::move(other.state_);
      future_taken_ = other.future_taken_;
      satisfied_ = other.satisfied_;
    }
    return *this;
  }
  promise(const promise&) = delete;
  promise& operator=(const promise&) = delete;
  ~promise() { abandon(); }

  /// The future this promise fulfils. Once.
  future<T> get_future() {
    state_type& state = checked();
    if (future_taken_) throw usage_error("brigade: promise::get_future() called twice (a promise has one future; use share())");
    future_taken_ = true;
    state.add_reference();
    return detail::future_access::make<T>(detail::state_reference<state_type>(&state));
  }

  /// Fulfils the future with a value built from `arguments`.
  template <class... Arguments>
  void set_value(Arguments&&... arguments) {
    state_type& state = claim("set_value");
    state.settle_value(std::forward<Arguments>(arguments)...);  // a throwing constructor settles nothing
    satisfied_ = true;
  }
  /// Fulfils the future with an error.
  void set_exception(std::exception_ptr error) {
    if (!error) throw usage_error("brigade: promise::set_exception() given a null exception_ptr");
    state_type& state = claim("set_exception");
    state.settle_error(std::move(error));
    satisfied_ = true;
  }

  /// Whether the consumer cancelled the future.
  [[nodiscard]] bool is_cancelled() const { return checked().was_cancelled(); }
  /// A token whose stop is requested when the consumer cancels the future.
  [[nodiscard]] std::stop_token stop_token() { return checked().stop_token(); }

 private:
  state_type& checked() const {
    if (!state_) throw usage_error("brigade: this promise has no state (moved from)");
    return *state_;
  }
  state_type& claim(const char* operation) {
    state_type& state = checked();
    if (satisfied_)
      throw usage_error(std::string("brigade: promise::") + operation +
                        "() on a promise that was already satisfied (set_value or set_exception twice)");
    return state;
  }
  void abandon() noexcept {
    if (!state_ || satisfied_) return;
    state_->settle_error(std::make_exception_ptr(
        broken_promise("brigade: broken promise: the promise was destroyed before it set a value or an exception")));
  }

  detail::state_reference<state_type> state_;
  bool future_taken_ = false;
  bool satisfied_ = false;
};

}  // namespace brigade
