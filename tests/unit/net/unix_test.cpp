#include "brigade/net/unix.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "../until_parked.hpp"
#include "brigade/runtime/runtime.hpp"
#include "brigade/runtime/spawn.hpp"

namespace {

using namespace std::chrono_literals;
using brigade::net::endpoint;
using brigade::net::unix_listener;
using brigade::net::unix_stream;

std::span<const std::byte> bytes_of(const std::string& text) { return std::as_bytes(std::span(text)); }

/// A fresh directory under the system's temporary directory, removed with what it holds.
class temp_dir {
 public:
  temp_dir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "brigade-unix-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp");
    path_ = pattern;
  }
  ~temp_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  endpoint socket(const std::string& name) const { return endpoint::unix_path((path_ / name).string()); }

 private:
  std::filesystem::path path_;
};

bool exists(const endpoint& where) {
  struct stat status {};
  return ::lstat(where.path().c_str(), &status) == 0;
}

brigade::task<void> echo(unix_stream stream) {
  std::array<std::byte, 4096> buffer;
  while (std::size_t n = co_await stream.read_some_async(buffer))
    co_await stream.write_all_async(std::span(buffer).first(n));
}

brigade::task<void> echo_server(const unix_listener& listener, int connections) {
  for (int i = 0; i < connections; ++i) {
    auto [stream, peer] = co_await listener.accept_async();
    EXPECT_TRUE(peer.is_unix());
    EXPECT_EQ(peer.path(), "");  // the client did not bind: unnamed
    brigade::spawn(echo(std::move(stream))).detach();
  }
}

brigade::task<std::string> round_trip(endpoint server, std::string message) {
  auto stream = co_await unix_stream::connect_async(server);
  EXPECT_EQ(stream.peer_endpoint(), server);
  co_await stream.write_all_async(bytes_of(message));
  std::string reply(message.size(), '\0');
  co_await stream.read_exact_async(std::as_writable_bytes(std::span(reply)));
  stream.shutdown(brigade::net::shutdown_how::write);
  std::array<std::byte, 16> rest;
  EXPECT_EQ(co_await stream.read_some_async(rest), 0u);
  co_return reply;
}

template <class Function>
std::error_code error_of(Function function) {
  try {
    function();
  } catch (const std::system_error& error) {
    return error.code();
  }
  return {};
}

template <class Function>
std::string message_of(Function function) {
  try {
    function();
  } catch (const std::exception& error) {
    return error.what();
  }
  return "(no error)";
}

TEST(unix_socket, echoes_between_tasks) {
  temp_dir dir;
  brigade::runtime rt({.worker_threads = 2});
  const endpoint path = dir.socket("echo.sock");
  auto listener = unix_listener::bind(rt, path);
  EXPECT_EQ(listener.local_endpoint(), path);
  EXPECT_TRUE(exists(path));
  auto serving = rt.spawn(echo_server(listener, 20));
  std::vector<brigade::join_handle<std::string>> clients;
  for (int i = 0; i < 20; ++i) clients.push_back(rt.spawn(round_trip(path, "hello " + std::to_string(i))));
  for (int i = 0; i < 20; ++i) EXPECT_EQ(clients[static_cast<std::size_t>(i)].join(), "hello " + std::to_string(i));
  serving.join();
}

TEST(unix_socket, a_plain_thread_uses_the_blocking_forms) {
  temp_dir dir;
  brigade::runtime rt({.worker_threads = 1});
  const endpoint path = dir.socket("thread.sock");
  auto listener = unix_listener::bind(rt, path);
  std::thread server([&] {
    auto [stream, peer] = listener.accept(rt);
    EXPECT_TRUE(peer.is_unix());
    std::array<std::byte, 5> buffer;
    stream.read_exact(buffer);
    stream.write_all(buffer);
  });
  auto client = unix_stream::connect(rt, path);
  client.write_all(bytes_of("12345"));
  std::string reply(5, '\0');
  client.read_exact(std::as_writable_bytes(std::span(reply)));
  EXPECT_EQ(reply, "12345");
  server.join();
  std::array<std::byte, 1> rest;
  EXPECT_EQ(client.read_some(rest), 0u);  // the server's stream closed
}

TEST(unix_socket, a_task_can_bind_on_its_worker_without_naming_the_runtime) {
  temp_dir dir;
  brigade::runtime rt({.worker_threads = 1});
  const endpoint path = dir.socket("worker.sock");
  auto reply = rt.block_on([](endpoint where) -> brigade::task<std::string> {
    auto listener = unix_listener::bind(where);
    auto serving = brigade::spawn(echo_server(listener, 1));
    auto result = co_await round_trip(where, "from a worker");
    co_await std::move(serving);
    co_return result;
  }(path));
  EXPECT_EQ(reply, "from a worker");
  EXPECT_FALSE(exists(path));  // the listener, gone with the task, removed its file
}

TEST(unix_socket, connecting_where_nobody_listens_names_the_path) {
  temp_dir dir;
  brigade::runtime rt({.worker_threads = 1});
  // No file at all.
  const endpoint missing = dir.socket("missing.sock");
  EXPECT_EQ(error_of([&] { (void)rt.block_on(unix_stream::connect_async(missing)); }),
            std::errc::no_such_file_or_directory);
  EXPECT_EQ(error_of([&] { (void)unix_stream::connect(rt, missing); }), std::errc::no_such_file_or_directory);
  const std::string message = message_of([&] { (void)unix_stream::connect(rt, missing); });
  EXPECT_NE(message.find(missing.path()), std::string::npos) << message;
  // A stale socket file: its listener closed without removing it.
  const endpoint stale = dir.socket("stale.sock");
  {
    auto listener = unix_listener::bind(rt, stale);
    listener.set_unlink_on_close(false);
  }
  ASSERT_TRUE(exists(stale));
  EXPECT_EQ(error_of([&] { (void)rt.block_on(unix_stream::connect_async(stale)); }), std::errc::connection_refused);
  EXPECT_EQ(error_of([&] { (void)unix_stream::connect(rt, stale); }), std::errc::connection_refused);
}

TEST(unix_socket, a_path_in_use_is_an_error_naming_the_path_and_close_removes_the_file) {
  temp_dir dir;
  brigade::runtime rt({.worker_threads = 1});
  const endpoint path = dir.socket("busy.sock");
  auto first = unix_listener::bind(rt, path);
  // A live listener's path.
  EXPECT_EQ(error_of([&] { (void)unix_listener::bind(rt, path); }), std::errc::address_in_use);
  const std::string message = message_of([&] { (void)unix_listener::bind(rt, path); });
  EXPECT_NE(message.find(path.path()), std::string::npos) << message;
  // The failed binds did not remove the live listener's file.
  ASSERT_TRUE(exists(path));
  EXPECT_NO_THROW(unix_stream::connect(rt, path));
  // close removes the file: the path can be bound again at once.
  first.close();
  EXPECT_FALSE(exists(path));
  auto second = unix_listener::bind(rt, path);
  // A stale file (unlink on close turned off) keeps the path in use until it is removed.
  second.set_unlink_on_close(false);
  second.close();
  ASSERT_TRUE(exists(path));
  EXPECT_EQ(error_of([&] { (void)unix_listener::bind(rt, path); }), std::errc::address_in_use);
  std::filesystem::remove(path.path());
  auto third = unix_listener::bind(rt, path);
  EXPECT_TRUE(exists(path));
}

TEST(unix_socket, a_listener_removes_only_the_file_it_created) {
  temp_dir dir;
  brigade::runtime rt({.worker_threads = 1});
  const endpoint path = dir.socket("replaced.sock");
  auto old_listener = unix_listener::bind(rt, path);
  // Someone removes the file and another listener binds the path.
  std::filesystem::remove(path.path());
  auto new_listener = unix_listener::bind(rt, path);
  old_listener.close();
  EXPECT_TRUE(exists(path));  // the new listener's file stays
  EXPECT_NO_THROW(unix_stream::connect(rt, path));
  // Moving a listener moves the duty to remove the file.
  unix_listener moved = std::move(new_listener);
  new_listener = unix_listener();  // the moved-from object removes nothing
  EXPECT_TRUE(exists(path));
  moved = unix_listener();  // the assignment closed it
  EXPECT_FALSE(exists(path));
}

TEST(unix_socket, closing_the_listener_wakes_the_accept) {
  temp_dir dir;
  brigade::runtime rt({.worker_threads = 2});
  const endpoint path = dir.socket("close.sock");
  auto listener = unix_listener::bind(rt, path);
  auto acceptor = rt.spawn([](const unix_listener& l) -> brigade::task<std::error_code> {
    try {
      (void)co_await l.accept_async();
    } catch (const std::system_error& error) {
      co_return error.code();
    }
    co_return std::error_code{};
  }(listener));
  brigade_test::until_workers_parked(rt, 2);
  listener.close();
  EXPECT_EQ(acceptor.join(), std::errc::bad_file_descriptor);
  EXPECT_FALSE(exists(path));
  EXPECT_THROW((void)listener.accept(rt), std::system_error);
}

TEST(unix_socket, closing_a_stream_wakes_the_thread_reading_it) {
  temp_dir dir;
  brigade::runtime rt({.worker_threads = 1});
  const endpoint path = dir.socket("reader.sock");
  auto listener = unix_listener::bind(rt, path);
  auto client = unix_stream::connect(rt, path);
  auto [server_side, peer] = listener.accept(rt);
  std::atomic<long> reader_id{0};
  std::error_code seen;
  std::thread reader([&] {
    reader_id = brigade_test::this_thread_id();
    seen = error_of([&] {
      std::array<std::byte, 8> buffer;
      (void)server_side.read_some(buffer);
    });
  });
  brigade_test::until_thread_sleeps(reader_id);
  server_side.close();
  reader.join();
  EXPECT_EQ(seen, std::errc::bad_file_descriptor);
}

TEST(unix_socket, a_full_backlog_is_an_error_not_a_hang) {
  temp_dir dir;
  brigade::runtime rt({.worker_threads = 1});
  const endpoint path = dir.socket("full.sock");
  auto listener = unix_listener::bind(rt, path, {.backlog = 1});  // nobody accepts
  std::vector<unix_stream> queued;
  std::error_code refused;
  for (int i = 0; i < 16 && !refused; ++i) {
    refused = error_of([&] { queued.push_back(rt.block_on(unix_stream::connect_async(path))); });
  }
  EXPECT_EQ(refused, std::errc::resource_unavailable_try_again);
  EXPECT_FALSE(queued.empty());
  // Accepting one makes room again.
  auto [accepted, peer] = listener.accept(rt);
  EXPECT_NO_THROW(unix_stream::connect(rt, path));
}

TEST(unix_socket, ip_endpoints_are_refused) {
  brigade::runtime rt({.worker_threads = 1});
  EXPECT_THROW(unix_listener::bind(rt, endpoint::loopback_v4(0)), std::invalid_argument);
  EXPECT_THROW(unix_stream::connect(rt, endpoint::loopback_v4(80)), std::invalid_argument);
  EXPECT_THROW((void)rt.block_on(unix_stream::connect_async(endpoint::loopback_v6(80))), std::invalid_argument);
  EXPECT_THROW(unix_listener::bind(endpoint::unix_path("/tmp/x")), brigade::usage_error);  // not on a worker
}

}  // namespace
