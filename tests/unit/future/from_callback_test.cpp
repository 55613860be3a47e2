// from_callback / denodeify: the callback shapes, calls from another thread, a callback dropped
// without a call, a callback called twice, and a start function that throws.
#include "brigade/future/from_callback.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>

#include "brigade/runtime/runtime.hpp"

namespace {

// A callback-style API of the kind the essays wrap: it answers on another thread.
void read_file(const std::string& path, std::function<void(std::error_code, std::string)> callback) {
  std::thread([path, callback = std::move(callback)] {
    if (path.empty())
      callback(std::make_error_code(std::errc::no_such_file_or_directory), "");
    else
      callback({}, "contents of " + path);
  }).detach();
}

TEST(from_callback, wraps_an_error_code_callback_api_in_one_line) {
  auto f = brigade::from_callback<std::string>([](auto done) { read_file("a.txt", done); });
  EXPECT_EQ(f.get(), "contents of a.txt");
  auto missing = brigade::from_callback<std::string>([](auto done) { read_file("", done); });
  try {
    (void)missing.get();
    FAIL() << "expected std::system_error";
  } catch (const std::system_error& error) {
    EXPECT_EQ(error.code(), std::errc::no_such_file_or_directory);
  }
}

TEST(from_callback, denodeify_makes_a_function_that_returns_futures) {
  auto read_file_async = brigade::denodeify<std::string>(read_file);
  EXPECT_EQ(read_file_async(std::string("b.txt")).get(), "contents of b.txt");
}

brigade::task<std::string> await_a_callback() {
  co_return co_await brigade::from_callback<std::string>([](auto done) { read_file("c.txt", done); });
}

TEST(from_callback, a_task_awaits_the_wrapped_call) {
  brigade::runtime rt({.worker_threads = 1});
  EXPECT_EQ(rt.block_on(await_a_callback()), "contents of c.txt");
}

TEST(from_callback, the_other_callback_shapes) {
  EXPECT_EQ(brigade::from_callback<int>([](auto done) { done(7); }).get(), 7);
  brigade::from_callback<void>([](auto done) { done(); }).get();
  EXPECT_THROW(brigade::from_callback<void>([](auto done) { done(std::make_error_code(std::errc::timed_out)); }).get(),
               std::system_error);
  EXPECT_THROW(brigade::from_callback<int>([](auto done) {
                 done(std::make_exception_ptr(std::invalid_argument("bad")), 0);
               }).get(),
               std::invalid_argument);
  EXPECT_THROW(brigade::from_callback<int>([](auto done) { done.fail(std::make_exception_ptr(std::out_of_range("x"))); })
                   .get(),
               std::out_of_range);
}

TEST(from_callback, a_dropped_callback_breaks_the_promise_and_a_second_call_is_ignored) {
  auto dropped = brigade::from_callback<int>([](auto) {});
  EXPECT_THROW((void)dropped.get(), brigade::broken_promise);
  auto twice = brigade::from_callback<int>([](auto done) {
    done(1);
    done(2);
  });
  EXPECT_EQ(twice.get(), 1);
}

TEST(from_callback, a_start_function_that_throws_fails_the_future) {
  auto f = brigade::from_callback<int>([](auto) { throw std::runtime_error("could not start"); });
  EXPECT_THROW((void)f.get(), std::runtime_error);
}

}  // namespace
