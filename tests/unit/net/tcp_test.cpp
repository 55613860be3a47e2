#include "brigade/net/tcp.hpp"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
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
using brigade::net::tcp_listener;
using brigade::net::tcp_stream;

std::span<const std::byte> bytes_of(const std::string& text) { return std::as_bytes(std::span(text)); }

std::size_t open_descriptors() {
  std::size_t count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) ++count;
  return count;
}

/// Echoes one connection until the peer shuts down its side.
brigade::task<void> echo(tcp_stream stream) {
  std::array<std::byte, 4096> buffer;
  while (std::size_t n = co_await stream.read_some_async(buffer))
    co_await stream.write_all_async(std::span(buffer).first(n));
}

brigade::task<void> echo_server(const tcp_listener& listener, int connections) {
  for (int i = 0; i < connections; ++i) {
    auto accepted = co_await listener.accept_async();
    brigade::spawn(echo(std::move(accepted.first))).detach();
  }
}

brigade::task<std::string> round_trip(endpoint server, std::string message) {
  auto stream = co_await tcp_stream::connect_async(server);
  stream.set_nodelay(true);
  co_await stream.write_all_async(bytes_of(message));
  std::string reply(message.size(), '\0');
  co_await stream.read_exact_async(std::as_writable_bytes(std::span(reply)));
  stream.shutdown(brigade::net::shutdown_how::write);
  std::array<std::byte, 16> rest;
  EXPECT_EQ(co_await stream.read_some_async(rest), 0u);  // the server saw our end and closed
  co_return reply;
}

TEST(tcp, echoes_over_ipv4_and_ipv6_loopback) {
  brigade::runtime rt({.worker_threads = 2});
  for (const endpoint& where : {endpoint::loopback_v4(0), endpoint::loopback_v6(0)}) {
    auto listener = tcp_listener::bind(rt, where);
    const endpoint server = listener.local_endpoint();
    EXPECT_NE(server.port(), 0);
    auto serving = rt.spawn(echo_server(listener, 20));
    std::vector<brigade::join_handle<std::string>> clients;
    for (int i = 0; i < 20; ++i) clients.push_back(rt.spawn(round_trip(server, "hello " + std::to_string(i))));
    for (int i = 0; i < 20; ++i) EXPECT_EQ(clients[static_cast<std::size_t>(i)].join(), "hello " + std::to_string(i));
    serving.join();
  }
}

TEST(tcp, a_plain_thread_uses_the_blocking_forms) {
  brigade::runtime rt({.worker_threads = 1});
  auto listener = tcp_listener::bind(rt, endpoint::loopback_v4(0));
  std::thread server([&] {
    auto [stream, peer] = listener.accept(rt);
    EXPECT_TRUE(peer.is_v4());
    std::array<std::byte, 5> buffer;
    stream.read_exact(buffer);
    stream.write_all(buffer);
  });
  auto client = tcp_stream::connect(rt, listener.local_endpoint());
  client.write_all(bytes_of("12345"));
  std::string reply(5, '\0');
  client.read_exact(std::as_writable_bytes(std::span(reply)));
  EXPECT_EQ(reply, "12345");
  server.join();
}

TEST(tcp, connection_refused_names_the_address) {
  brigade::runtime rt({.worker_threads = 1});
  endpoint nobody;
  {
    auto listener = tcp_listener::bind(rt, endpoint::loopback_v4(0));
    nobody = listener.local_endpoint();
  }  // closed: nobody listens there now
  try {
    (void)rt.block_on(tcp_stream::connect_async(nobody));
    ADD_FAILURE() << "connected";
  } catch (const std::system_error& error) {
    EXPECT_EQ(error.code(), std::errc::connection_refused);
    EXPECT_NE(std::string(error.what()).find(nobody.to_string()), std::string::npos) << error.what();
  }
  EXPECT_THROW(tcp_stream::connect(rt, nobody), std::system_error);
}

TEST(tcp, a_port_in_use_is_an_error_naming_the_address) {
  brigade::runtime rt({.worker_threads = 1});
  auto first = tcp_listener::bind(rt, endpoint::loopback_v4(0));
  const endpoint taken = first.local_endpoint();
  try {
    (void)tcp_listener::bind(rt, taken);
    ADD_FAILURE() << "bound twice";
  } catch (const std::system_error& error) {
    EXPECT_EQ(error.code(), std::errc::address_in_use);
    EXPECT_NE(std::string(error.what()).find(taken.to_string()), std::string::npos) << error.what();
  }
}

TEST(tcp, a_reset_in_the_middle_of_a_read_is_an_error) {
  brigade::runtime rt({.worker_threads = 2});
  auto listener = tcp_listener::bind(rt, endpoint::loopback_v4(0));
  auto server = rt.spawn([](const tcp_listener& l) -> brigade::task<void> {
    auto [stream, peer] = co_await l.accept_async();
    std::array<std::byte, 1> one;
    co_await stream.read_exact_async(one);
    const linger abort_on_close{1, 0};  // close sends RST
    ::setsockopt(stream.native_handle(), SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close);
    stream.close();
  }(listener));
  auto client = rt.block_on([](endpoint where) -> brigade::task<std::error_code> {
    auto stream = co_await tcp_stream::connect_async(where);
    co_await stream.write_all_async(bytes_of("x"));
    std::array<std::byte, 8> buffer;
    try {
      while (co_await stream.read_some_async(buffer) != 0) {
      }
    } catch (const std::system_error& error) {
      co_return error.code();
    }
    co_return std::error_code{};
  }(listener.local_endpoint()));
  server.join();
  EXPECT_EQ(client, std::errc::connection_reset);
}

TEST(tcp, a_half_closed_peer_can_still_receive) {
  brigade::runtime rt({.worker_threads = 2});
  auto listener = tcp_listener::bind(rt, endpoint::loopback_v6(0));
  auto server = rt.spawn([](const tcp_listener& l) -> brigade::task<std::string> {
    auto [stream, peer] = co_await l.accept_async();
    std::string received;
    std::array<std::byte, 64> buffer;
    while (std::size_t n = co_await stream.read_some_async(buffer))
      received.append(reinterpret_cast<const char*>(buffer.data()), n);
    co_await stream.write_all_async(bytes_of("got " + received));  // after the client's end
    co_return received;
  }(listener));
  std::string reply = rt.block_on([](endpoint where) -> brigade::task<std::string> {
    auto stream = co_await tcp_stream::connect_async(where);
    co_await stream.write_all_async(bytes_of("request"));
    stream.shutdown(brigade::net::shutdown_how::write);
    std::string all;
    std::array<std::byte, 64> buffer;
    while (std::size_t n = co_await stream.read_some_async(buffer)) all.append(reinterpret_cast<const char*>(buffer.data()), n);
    co_return all;
  }(listener.local_endpoint()));
  EXPECT_EQ(server.join(), "request");
  EXPECT_EQ(reply, "got request");
}

TEST(tcp, a_slow_reader_makes_the_writer_wait) {
  brigade::runtime rt({.worker_threads = 2});
  auto listener = tcp_listener::bind(rt, endpoint::loopback_v4(0));
  static constexpr std::size_t total = 32u << 20;  // far more than the socket buffers hold
  std::atomic<bool> written{false};
  auto writer = rt.spawn([](const tcp_listener& l, std::atomic<bool>& done) -> brigade::task<void> {
    auto [stream, peer] = co_await l.accept_async();
    std::vector<std::byte> data(total, std::byte{7});
    co_await stream.write_all_async(data);
    done = true;
    stream.shutdown(brigade::net::shutdown_how::write);
  }(listener, written));
  auto reader = tcp_stream::connect(rt, listener.local_endpoint());
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(written.load());  // parked: the kernel's buffers are full, nothing grows
  std::size_t received = 0;
  std::array<std::byte, 65536> buffer;
  while (std::size_t n = reader.read_some(buffer)) received += n;
  writer.join();
  EXPECT_EQ(received, total);
}

TEST(tcp, closing_a_socket_wakes_the_task_waiting_on_it) {
  brigade::runtime rt({.worker_threads = 2});
  auto listener = tcp_listener::bind(rt, endpoint::loopback_v4(0));
  auto client = tcp_stream::connect(rt, listener.local_endpoint());
  auto [server_side, peer] = listener.accept(rt);
  std::atomic<bool> reading{false};
  auto reader = rt.spawn([](const tcp_stream& s, std::atomic<bool>& started) -> brigade::task<std::error_code> {
    std::array<std::byte, 8> buffer;
    started = true;
    try {
      (void)co_await s.read_some_async(buffer);
    } catch (const std::system_error& error) {
      co_return error.code();
    }
    co_return std::error_code{};
  }(server_side, reading));
  while (!reading.load()) std::this_thread::yield();
  brigade_test::until_workers_parked(rt, 2);
  server_side.close();
  EXPECT_EQ(reader.join(), std::errc::bad_file_descriptor);
  // Operations on the closed socket fail the same way, at once.
  std::array<std::byte, 8> buffer;
  EXPECT_THROW((void)server_side.read_some(buffer), std::system_error);
}

TEST(tcp, a_cancelled_read_reads_nothing) {
  brigade::runtime rt({.worker_threads = 2});
  auto listener = tcp_listener::bind(rt, endpoint::loopback_v4(0));
  auto client = tcp_stream::connect(rt, listener.local_endpoint());
  auto [server_side, peer] = listener.accept(rt);
  auto reader = rt.spawn([](const tcp_stream& s) -> brigade::task<std::size_t> {
    std::array<std::byte, 8> buffer;
    co_return co_await s.read_some_async(buffer);
  }(server_side));
  brigade_test::until_workers_parked(rt, 2);
  reader.abort();
  EXPECT_THROW(reader.join(), brigade::task_cancelled);
  client.write_all(bytes_of("abc"));
  std::string got(3, '\0');
  server_side.read_exact(std::as_writable_bytes(std::span(got)));
  EXPECT_EQ(got, "abc");
}

TEST(tcp, a_full_accept_queue_delays_connects_until_a_timeout_ends_them) {
  brigade::runtime rt({.worker_threads = 2});
  // Nobody accepts: once the queue is full the kernel drops SYNs, and a connect waits for its
  // timeout (the way an unreachable host is ended).
  auto listener = tcp_listener::bind(rt, endpoint::loopback_v4(0), {.backlog = 1});
  const endpoint server = listener.local_endpoint();
  int timed_out = 0;
  std::vector<tcp_stream> connected;
  for (int i = 0; i < 8 && timed_out == 0; ++i) {
    try {
      connected.push_back(rt.block_on(tcp_stream::connect_async(server, 200ms)));
    } catch (const brigade::timeout_error& error) {
      EXPECT_EQ(error.code(), std::errc::timed_out);
      ++timed_out;
    }
  }
  EXPECT_EQ(timed_out, 1);
  // The server then accepts what queued, and serves again.
  auto serving = rt.spawn(echo_server(listener, static_cast<int>(connected.size()) + 1));
  for (auto& stream : connected) stream.close();
  EXPECT_EQ(rt.block_on(round_trip(server, "after")), "after");
  serving.join();
}

TEST(tcp, the_accept_loop_backs_off_when_descriptors_run_out_and_serves_again) {
  brigade::runtime rt({.worker_threads = 2});
  auto listener = tcp_listener::bind(rt, endpoint::loopback_v4(0));
  const endpoint server = listener.local_endpoint();
  std::atomic<int> accepted{0};
  auto serving = rt.spawn([](const tcp_listener& l, std::atomic<int>& count) -> brigade::task<void> {
    for (int i = 0; i < 2; ++i) {
      auto connection = co_await l.accept_async();
      ++count;
      brigade::spawn(echo(std::move(connection.first))).detach();
    }
  }(listener, accepted));
  // The client's descriptor exists before the limit drops; the server's accept then fails with
  // EMFILE until the limit is raised again.
  auto client = tcp_stream::connect(rt, server);
  // Every runtime thread must have run before the descriptors run out: the sanitizers check a
  // thread's first virtual call (std::thread's entry) through a pipe, and without a free
  // descriptor they report a false "invalid vptr".
  while (true) {
    const auto stats = rt.stats();
    bool running = stats.monitor_looks > 0 || stats.monitor_asleep;
    for (const auto& worker : stats.workers) running = running && (worker.parks > 0 || worker.tasks_run > 0);
    if (running) break;
    std::this_thread::sleep_for(1ms);
  }
  rlimit original{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &original), 0);
  // Wait for the first accept, then leave no room for another descriptor.
  while (accepted.load() < 1) std::this_thread::sleep_for(1ms);
  // Fill every descriptor number below a tight limit, then free one for the client's socket:
  // the server's accept has none left.
  rlimit tight = original;
  tight.rlim_cur = static_cast<rlim_t>(open_descriptors() + 16);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &tight), 0);
  std::vector<int> fillers;
  while (true) {
    const int fd = ::dup(0);
    if (fd < 0) break;
    fillers.push_back(fd);
  }
  ASSERT_FALSE(fillers.empty());
  ::close(fillers.back());
  fillers.pop_back();
  auto second = tcp_stream::connect(rt, server);
  rusage before{};
  ::getrusage(RUSAGE_SELF, &before);
  std::this_thread::sleep_for(300ms);
  rusage after{};
  ::getrusage(RUSAGE_SELF, &after);
  const auto cpu = [](const rusage& r) {
    return r.ru_utime.tv_sec * 1'000'000 + r.ru_utime.tv_usec + r.ru_stime.tv_sec * 1'000'000 + r.ru_stime.tv_usec;
  };
  EXPECT_EQ(accepted.load(), 1);
  EXPECT_LT(cpu(after) - cpu(before), 150'000) << "the accept loop spins";
  for (int fd : fillers) ::close(fd);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &original), 0);
  serving.join();
  EXPECT_EQ(accepted.load(), 2);
  second.write_all(bytes_of("ok"));
  std::string reply(2, '\0');
  second.read_exact(std::as_writable_bytes(std::span(reply)));
  EXPECT_EQ(reply, "ok");
}

TEST(tcp, shutdown_with_open_connections_closes_everything) {
  const std::size_t before = open_descriptors();
  {
    brigade::runtime rt({.worker_threads = 2});
    auto listener = tcp_listener::bind(rt, endpoint::loopback_v4(0));
    auto serving = rt.spawn(echo_server(listener, 10));
    std::vector<brigade::join_handle<void>> clients;
    for (int i = 0; i < 10; ++i)
      clients.push_back(rt.spawn([](endpoint where) -> brigade::task<void> {
        auto stream = co_await tcp_stream::connect_async(where);
        std::array<std::byte, 8> buffer;
        (void)co_await stream.read_some_async(buffer);  // waits forever: nobody writes
      }(listener.local_endpoint())));
    serving.join();
    // A stream held outside any task, and a thread blocked reading on it.
    auto outside = tcp_stream::connect(rt, listener.local_endpoint());
    std::thread blocked([&] {
      std::array<std::byte, 8> buffer;
      EXPECT_THROW((void)outside.read_some(buffer), std::system_error);
    });
    brigade_test::until_workers_parked(rt, 2);
    rt.shutdown();
    blocked.join();
    for (auto& c : clients) EXPECT_THROW(c.join(), brigade::task_cancelled);
    // listener and outside are closed objects now; their destructors run after the runtime's.
  }
  EXPECT_EQ(open_descriptors(), before);
}

TEST(tcp, sockets_that_outlive_their_runtime_are_closed_and_safe_to_use) {
  auto rt = std::make_unique<brigade::runtime>(brigade::runtime_options{.worker_threads = 1});
  auto listener = tcp_listener::bind(*rt, endpoint::loopback_v4(0));
  auto client = tcp_stream::connect(*rt, listener.local_endpoint());
  auto [server_side, peer] = listener.accept(*rt);
  rt.reset();  // the reactor is gone; the objects above still name its sources
  std::array<std::byte, 8> buffer;
  EXPECT_THROW((void)client.read_some(buffer), std::system_error);
  EXPECT_THROW(client.write_all(bytes_of("x")), std::system_error);
  client.close();
  server_side.close();
}

TEST(tcp, endpoints_parse_and_reject_bad_input) {
  EXPECT_EQ(endpoint::parse("127.0.0.1:80").to_string(), "127.0.0.1:80");
  EXPECT_EQ(endpoint::parse("[::1]:443").to_string(), "[::1]:443");
  EXPECT_EQ(endpoint::parse("[::1]:443").port(), 443);
  EXPECT_THROW(endpoint::parse("localhost:80"), std::invalid_argument);
  EXPECT_THROW(endpoint::parse("127.0.0.1"), std::invalid_argument);
  EXPECT_THROW(endpoint::parse("127.0.0.1:65536"), std::invalid_argument);
  EXPECT_THROW(endpoint::parse("::1:80"), std::invalid_argument);
  EXPECT_THROW(endpoint::parse("[::1]80"), std::invalid_argument);
  EXPECT_THROW(endpoint::unix_path(std::string(200, 'x')), std::invalid_argument);
  brigade::runtime rt({.worker_threads = 1});
  EXPECT_THROW(tcp_listener::bind(endpoint::loopback_v4(0)), brigade::usage_error);  // not on a worker
  EXPECT_THROW(tcp_listener::bind(rt, endpoint::unix_path("/tmp/x")), std::invalid_argument);
}

}  // namespace
