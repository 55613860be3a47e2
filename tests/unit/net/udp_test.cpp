#include "brigade/net/udp.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "../until_parked.hpp"
#include "brigade/runtime/runtime.hpp"
#include "brigade/runtime/spawn.hpp"
#include "brigade/time/sleep.hpp"

namespace {

using namespace std::chrono_literals;
using brigade::net::endpoint;
using brigade::net::udp_socket;

std::span<const std::byte> bytes_of(const std::string& text) { return std::as_bytes(std::span(text)); }
std::string text_of(std::span<const std::byte> bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
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

/// A receive that reports the error it ended with (or none).
brigade::task<std::error_code> receive_error(const udp_socket& socket) {
  std::array<std::byte, 64> buffer;
  try {
    (void)co_await socket.recv_from_async(buffer);
  } catch (const std::system_error& error) {
    co_return error.code();
  }
  co_return std::error_code{};
}

TEST(udp, exchanges_datagrams_over_ipv4_and_ipv6_loopback) {
  brigade::runtime rt({.worker_threads = 2});
  for (const endpoint& where : {endpoint::loopback_v4(0), endpoint::loopback_v6(0)}) {
    auto a = udp_socket::bind(rt, where);
    auto b = udp_socket::bind(rt, where);
    EXPECT_NE(a.local_endpoint().port(), 0);
    EXPECT_EQ(a.local_endpoint().family(), where.family());
    // b answers each datagram with "re: " and the datagram.
    auto server = rt.spawn([](const udp_socket& s) -> brigade::task<endpoint> {
      std::array<std::byte, 64> buffer;
      auto [n, from] = co_await s.recv_from_async(buffer);
      const std::string reply = "re: " + text_of(std::span(buffer).first(n));
      EXPECT_EQ(co_await s.send_to_async(bytes_of(reply), from), reply.size());
      co_return from;
    }(b));
    auto reply = rt.block_on([](const udp_socket& s, endpoint to) -> brigade::task<std::pair<std::string, endpoint>> {
      EXPECT_EQ(co_await s.send_to_async(bytes_of("ping"), to), 4u);
      std::array<std::byte, 64> buffer;
      auto [n, from] = co_await s.recv_from_async(buffer);
      co_return std::pair{text_of(std::span(buffer).first(n)), from};
    }(a, b.local_endpoint()));
    EXPECT_EQ(server.join(), a.local_endpoint());
    EXPECT_EQ(reply.first, "re: ping");
    EXPECT_EQ(reply.second, b.local_endpoint());
  }
}

TEST(udp, a_plain_thread_uses_the_blocking_forms) {
  brigade::runtime rt({.worker_threads = 1});
  auto a = udp_socket::bind(rt, endpoint::loopback_v4(0));
  auto b = udp_socket::bind(rt, endpoint::loopback_v4(0));
  std::thread server([&] {
    std::array<std::byte, 16> buffer;
    auto [n, from] = b.recv_from(buffer);
    EXPECT_EQ(from, a.local_endpoint());
    b.send_to(std::span(buffer).first(n), from);
  });
  EXPECT_EQ(a.send_to(bytes_of("hello"), b.local_endpoint()), 5u);
  std::array<std::byte, 16> buffer;
  auto [n, from] = a.recv_from(buffer);
  EXPECT_EQ(text_of(std::span(buffer).first(n)), "hello");
  EXPECT_EQ(from, b.local_endpoint());
  server.join();
  // The connected forms.
  a.connect(b.local_endpoint());
  b.connect(a.local_endpoint());
  EXPECT_EQ(a.peer_endpoint(), b.local_endpoint());
  EXPECT_EQ(a.send(bytes_of("abc")), 3u);
  EXPECT_EQ(b.recv(buffer), 3u);
  EXPECT_EQ(text_of(std::span(buffer).first(3)), "abc");
}

TEST(udp, a_task_binds_on_its_worker_without_naming_the_runtime) {
  brigade::runtime rt({.worker_threads = 1});
  auto echoed = rt.block_on([]() -> brigade::task<std::string> {
    auto a = udp_socket::bind(endpoint::loopback_v6(0));
    auto b = udp_socket::bind(endpoint::loopback_v6(0));
    a.connect(b.local_endpoint());
    b.connect(a.local_endpoint());
    co_await a.send_async(bytes_of("connected"));
    std::array<std::byte, 64> buffer;
    const std::size_t n = co_await b.recv_async(buffer);
    co_return text_of(std::span(buffer).first(n));
  }());
  EXPECT_EQ(echoed, "connected");
  EXPECT_THROW(udp_socket::bind(endpoint::loopback_v4(0)), brigade::usage_error);  // not on a worker
}

TEST(udp, a_connected_socket_receives_from_its_peer_only) {
  brigade::runtime rt({.worker_threads = 1});
  auto a = udp_socket::bind(rt, endpoint::loopback_v4(0));
  auto peer = udp_socket::bind(rt, endpoint::loopback_v4(0));
  auto stranger = udp_socket::bind(rt, endpoint::loopback_v4(0));
  EXPECT_EQ(error_of([&] { (void)a.peer_endpoint(); }), std::errc::not_connected);
  a.connect(peer.local_endpoint());
  stranger.send_to(bytes_of("from a stranger"), a.local_endpoint());
  peer.send_to(bytes_of("from the peer"), a.local_endpoint());
  std::array<std::byte, 64> buffer;
  const std::size_t n = a.recv(buffer);
  EXPECT_EQ(text_of(std::span(buffer).first(n)), "from the peer");
}

TEST(udp, a_connected_socket_reports_a_peer_nobody_listens_on) {
  brigade::runtime rt({.worker_threads = 1});
  endpoint nobody;
  {
    auto gone = udp_socket::bind(rt, endpoint::loopback_v4(0));
    nobody = gone.local_endpoint();
  }
  auto a = udp_socket::bind(rt, endpoint::loopback_v4(0));
  a.connect(nobody);
  auto result = rt.block_on([](const udp_socket& s) -> brigade::task<std::error_code> {
    co_await s.send_async(bytes_of("anyone?"));  // the ICMP "port unreachable" comes back
    std::array<std::byte, 16> buffer;
    try {
      (void)co_await s.recv_async(buffer);
    } catch (const std::system_error& error) {
      co_return error.code();
    }
    co_return std::error_code{};
  }(a));
  EXPECT_EQ(result, std::errc::connection_refused);
}

TEST(udp, a_datagram_longer_than_the_buffer_is_cut_and_an_empty_one_is_received) {
  brigade::runtime rt({.worker_threads = 1});
  auto a = udp_socket::bind(rt, endpoint::loopback_v4(0));
  auto b = udp_socket::bind(rt, endpoint::loopback_v4(0));
  a.send_to(bytes_of("0123456789"), b.local_endpoint());
  a.send_to(std::span<const std::byte>(), b.local_endpoint());
  a.send_to(bytes_of("next"), b.local_endpoint());
  auto received = rt.block_on([](const udp_socket& s) -> brigade::task<std::vector<std::string>> {
    std::vector<std::string> all;
    std::array<std::byte, 4> small;
    for (int i = 0; i < 3; ++i) {
      auto [n, from] = co_await s.recv_from_async(small);
      all.push_back(text_of(std::span(small).first(n)));
    }
    co_return all;
  }(b));
  EXPECT_EQ(received, (std::vector<std::string>{"0123", "", "next"}));  // the rest of the first is gone
}

TEST(udp, a_cancelled_receive_receives_nothing) {
  brigade::runtime rt({.worker_threads = 2});
  auto a = udp_socket::bind(rt, endpoint::loopback_v4(0));
  auto b = udp_socket::bind(rt, endpoint::loopback_v4(0));
  auto receiver = rt.spawn([](const udp_socket& s) -> brigade::task<std::string> {
    std::array<std::byte, 64> buffer;
    auto [n, from] = co_await s.recv_from_async(buffer);
    co_return text_of(std::span(buffer).first(n));
  }(b));
  brigade_test::until_workers_parked(rt, 2);
  receiver.abort();
  EXPECT_THROW(receiver.join(), brigade::task_cancelled);
  a.send_to(bytes_of("first"), b.local_endpoint());
  auto next = rt.block_on([](const udp_socket& s) -> brigade::task<std::string> {
    std::array<std::byte, 64> buffer;
    auto [n, from] = co_await s.recv_from_async(buffer);
    co_return text_of(std::span(buffer).first(n));
  }(b));
  EXPECT_EQ(next, "first");
}

TEST(udp, a_stop_token_ends_a_threads_receive) {
  brigade::runtime rt({.worker_threads = 1});
  auto b = udp_socket::bind(rt, endpoint::loopback_v4(0));
  std::stop_source stop;
  std::atomic<long> receiver_id{0};
  bool cancelled = false;
  std::thread receiver([&] {
    receiver_id = brigade_test::this_thread_id();
    std::array<std::byte, 64> buffer;
    try {
      (void)b.recv_from(buffer, stop.get_token());
    } catch (const brigade::task_cancelled&) {
      cancelled = true;
    }
  });
  brigade_test::until_thread_sleeps(receiver_id);
  stop.request_stop();
  receiver.join();
  EXPECT_TRUE(cancelled);
  // The socket still works: the next datagram goes to the next receive.
  auto a = udp_socket::bind(rt, endpoint::loopback_v4(0));
  a.send_to(bytes_of("after"), b.local_endpoint());
  std::array<std::byte, 64> buffer;
  auto [n, from] = b.recv_from(buffer);
  EXPECT_EQ(text_of(std::span(buffer).first(n)), "after");
}

TEST(udp, closing_the_socket_wakes_its_receivers) {
  brigade::runtime rt({.worker_threads = 2});
  auto b = udp_socket::bind(rt, endpoint::loopback_v4(0));
  auto task_receiver = rt.spawn(receive_error(b));
  std::atomic<long> thread_id{0};
  std::error_code thread_error;
  std::thread thread_receiver([&] {
    thread_id = brigade_test::this_thread_id();
    thread_error = error_of([&] {
      std::array<std::byte, 64> buffer;
      (void)b.recv(buffer);
    });
  });
  brigade_test::until_thread_sleeps(thread_id);
  brigade_test::until_workers_parked(rt, 2);
  b.close();
  EXPECT_EQ(task_receiver.join(), std::errc::bad_file_descriptor);
  thread_receiver.join();
  EXPECT_EQ(thread_error, std::errc::bad_file_descriptor);
  EXPECT_EQ(error_of([&] { (void)b.send_to(bytes_of("x"), endpoint::loopback_v4(9)); }),
            std::errc::bad_file_descriptor);
}

TEST(udp, concurrent_receivers_each_get_whole_datagrams) {
  brigade::runtime rt({.worker_threads = 2});
  auto a = udp_socket::bind(rt, endpoint::loopback_v4(0));
  auto b = udp_socket::bind(rt, endpoint::loopback_v4(0));
  auto receive_one = [](const udp_socket& s) -> brigade::task<std::string> {
    std::array<std::byte, 64> buffer;
    auto [n, from] = co_await s.recv_from_async(buffer);
    co_return text_of(std::span(buffer).first(n));
  };
  auto first = rt.spawn(receive_one(b));
  auto second = rt.spawn(receive_one(b));
  brigade_test::until_workers_parked(rt, 2);
  a.send_to(bytes_of("one"), b.local_endpoint());
  a.send_to(bytes_of("two"), b.local_endpoint());
  std::vector<std::string> got{first.join(), second.join()};
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::string>{"one", "two"}));
}

TEST(udp, many_datagrams_at_a_low_rate_none_lost) {
  brigade::runtime rt({.worker_threads = 2});
  auto sender = udp_socket::bind(rt, endpoint::loopback_v4(0));
  auto receiver = udp_socket::bind(rt, endpoint::loopback_v4(0));
  static constexpr std::uint32_t total = 3000;
  static constexpr std::uint32_t window = 32;  // far below what the receive buffer holds
  std::atomic<std::uint32_t> received{0};
  auto receiving = rt.spawn([](const udp_socket& s, std::atomic<std::uint32_t>& count) -> brigade::task<bool> {
    std::vector<bool> seen(total, false);
    for (std::uint32_t i = 0; i < total; ++i) {
      std::array<std::byte, 64> buffer;
      auto [n, from] = co_await s.recv_from_async(buffer);
      std::uint32_t sequence = 0;
      EXPECT_EQ(n, sizeof sequence);
      std::memcpy(&sequence, buffer.data(), sizeof sequence);
      if (sequence >= total || seen[sequence]) co_return false;
      seen[sequence] = true;
      count.fetch_add(1);
    }
    co_return true;
  }(receiver, received));
  // The sender: a task, sending a window of datagrams, then waiting for the receiver to take them.
  rt.block_on([](const udp_socket& s, endpoint to, std::atomic<std::uint32_t>& count) -> brigade::task<void> {
    for (std::uint32_t sequence = 0; sequence < total; ++sequence) {
      co_await s.send_to_async(std::as_bytes(std::span(&sequence, 1)), to);
      if ((sequence + 1) % window == 0)
        while (count.load() < sequence + 1) co_await brigade::sleep_for_async(1ms);
    }
  }(sender, receiver.local_endpoint(), received));
  EXPECT_TRUE(receiving.join());
  EXPECT_EQ(received.load(), total);
}

TEST(udp, errors_name_the_address) {
  brigade::runtime rt({.worker_threads = 1});
  auto first = udp_socket::bind(rt, endpoint::loopback_v4(0));
  const endpoint taken = first.local_endpoint();
  try {
    (void)udp_socket::bind(rt, taken);
    ADD_FAILURE() << "bound twice";
  } catch (const std::system_error& error) {
    EXPECT_EQ(error.code(), std::errc::address_in_use);
    EXPECT_NE(std::string(error.what()).find(taken.to_string()), std::string::npos) << error.what();
  }
  // An IPv6 destination from an IPv4 socket.
  const endpoint v6 = endpoint::loopback_v6(9);
  try {
    (void)rt.block_on(first.send_to_async(bytes_of("x"), v6));
    ADD_FAILURE() << "sent";
  } catch (const std::system_error& error) {
    EXPECT_EQ(error.code(), std::errc::address_family_not_supported);
    EXPECT_NE(std::string(error.what()).find(v6.to_string()), std::string::npos) << error.what();
  }
  EXPECT_THROW(udp_socket::bind(rt, endpoint::unix_path("/tmp/x")), std::invalid_argument);
}

}  // namespace
