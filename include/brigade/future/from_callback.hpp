// brigade/future/from_callback.hpp: turning a callback-style API into a future (JavaScript's
// Promise.denodeify / util.promisify), so that it can be awaited, chained and combined.
//
//   // an API that reports through a callback: read_file(path, callback(std::error_code, std::string))
//   brigade::future<std::string> f =
//       brigade::from_callback<std::string>([&](auto done) { read_file(path, done); });
//   std::string text = co_await std::move(f);                     // or f.get() on a thread
//
//   auto read_file_async = brigade::denodeify<std::string>(read_file);   // the same, as a function
//   brigade::future<std::string> g = read_file_async(path);   // read_file(path, callback)
//
// The callback (a `completion<T>`) accepts the common shapes, whichever the API uses:
//   done(value)                            success (done() for T = void)
//   done(std::error_code, value)           Node's (err, data), Asio's handlers: a set error code
//                                          fails the future with std::system_error(code)
//   done(std::exception_ptr, value)        a non-null exception fails the future with it
//   done.fail(std::exception_ptr)          an explicit failure
// It is copyable (APIs often store std::function); copies complete one future, and the first call
// wins: later calls are ignored (an API that calls back twice does not break the consumer). If
// every copy is destroyed without a call (the API dropped the callback), the future gets
// broken_promise, never a wait that cannot end. If `start` throws, the future holds that exception.
// Thread safety: the callback may be called from any thread.
#pragma once

#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <system_error>
#include <type_traits>
#include <utility>

#include "brigade/future/future.hpp"
#include "brigade/future/promise.hpp"

namespace brigade {

/// The callback handed to a callback-style API by from_callback (see the top of this header).
template <class T>
class completion {
  struct shared {
    std::mutex mutex;
    bool done = false;
    promise<T> producer;
  };

 public:
  void operator()()
    requires std::is_void_v<T>
  {
    settle([](promise<T>& p) { p.set_value(); });
  }
  template <class U = T>
    requires(!std::is_void_v<T> && std::is_constructible_v<T, U &&>)
  void operator()(U&& value) {
    settle([&](promise<T>& p) { p.set_value(std::forward<U>(value)); });
  }
  void operator()(std::error_code error)
    requires std::is_void_v<T>
  {
    if (error) return fail(std::make_exception_ptr(std::system_error(error)));
    (*this)();
  }
  template <class U = T>
    requires(!std::is_void_v<T> && std::is_constructible_v<T, U &&>)
  void operator()(std::error_code error, U&& value) {
    if (error) return fail(std::make_exception_ptr(std::system_error(error)));
    (*this)(std::forward<U>(value));
  }
  void operator()(std::exception_ptr error)
    requires std::is_void_v<T>
  {
    if (error) return fail(std::move(error));
    (*this)();
  }
  template <class U = T>
    requires(!std::is_void_v<T> && std::is_constructible_v<T, U &&>)
  void operator()(std::exception_ptr error, U&& value) {
    if (error) return fail(std::move(error));
    (*this)(std::forward<U>(value));
  }
  /// Fails the future with `error` (a null one is a usage_error in the future).
  void fail(std::exception_ptr error) {
    if (!error) error = std::make_exception_ptr(usage_error("brigade: completion::fail() given a null exception_ptr"));
    settle([&](promise<T>& p) { p.set_exception(std::move(error)); });
  }

 private:
  template <class U>
  friend future<U> make_completion(completion<U>& out);
  template <class Settle>
  void settle(Settle&& action) {
    std::lock_guard lock(shared_->mutex);
    if (shared_->done) return;  // the first call wins
    shared_->done = true;
    action(shared_->producer);
  }
  std::shared_ptr<shared> shared_ = std::make_shared<shared>();
};

template <class T>
future<T> make_completion(completion<T>& out) {
  return out.shared_->producer.get_future();
}

/// Calls start(done) with a fresh completion<T> and returns the future that `done` settles.
template <class T, class Start>
  requires std::invocable<Start&, completion<T>>
future<T> from_callback(Start&& start) {
  completion<T> done;
  future<T> result = make_completion(done);
  try {
    std::invoke(start, done);
  } catch (...) {
    done.fail(std::current_exception());
  }
  return result;
}

/// Turns `api(arguments..., callback)` into a function `(arguments...) -> future<T>`.
template <class T, class Api>
auto denodeify(Api api) {
  return [api = std::move(api)](auto&&... arguments) mutable -> future<T> {
    return from_callback<T>(
        [&](completion<T> done) { std::invoke(api, std::forward<decltype(arguments)>(arguments)..., std::move(done)); });
  };
}

}  // namespace brigade
