// brigade/net/endpoint.hpp: a socket address: IPv4 or IPv6 address and port, or a Unix-domain
// socket path.
//
//   auto ep = brigade::net::endpoint::parse("127.0.0.1:8080");   // or "[::1]:8080", "0.0.0.0:0"
//   auto any = brigade::net::endpoint::loopback_v4(0);            // 127.0.0.1, port chosen at bind
//   auto path = brigade::net::endpoint::unix_path("/tmp/app.sock");
//   ep.to_string();  // "127.0.0.1:8080", "[::1]:8080", "unix:/tmp/app.sock"
//
// parse() takes numeric addresses only (no name lookup: that is resolve_async, which may block
// and goes to the blocking pool); bad input throws std::invalid_argument naming what was wrong.
// A value type: copyable, comparable, 128 bytes (a sockaddr_storage).
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace brigade::net {

class endpoint {
 public:
  endpoint() noexcept = default;
  /// From a system address (`length` bytes at `address`). Throws std::invalid_argument when the
  /// family is not AF_INET, AF_INET6 or AF_UNIX, or the length does not fit.
  endpoint(const sockaddr* address, socklen_t length);

  /// "a.b.c.d:port" or "[ipv6]:port". Throws std::invalid_argument.
  static endpoint parse(std::string_view text);
  /// An address ("127.0.0.1", "::1") and a port. Throws std::invalid_argument.
  static endpoint from(std::string_view address, std::uint16_t port);
  static endpoint loopback_v4(std::uint16_t port);
  static endpoint loopback_v6(std::uint16_t port);
  static endpoint any_v4(std::uint16_t port);
  static endpoint any_v6(std::uint16_t port);
  /// A Unix-domain socket path (at most 107 bytes). Throws std::invalid_argument.
  static endpoint unix_path(std::string_view path);

  /// AF_INET, AF_INET6, AF_UNIX, or AF_UNSPEC for a default-constructed endpoint.
  [[nodiscard]] int family() const noexcept { return storage_.ss_family; }
  [[nodiscard]] bool is_v4() const noexcept { return family() == AF_INET; }
  [[nodiscard]] bool is_v6() const noexcept { return family() == AF_INET6; }
  [[nodiscard]] bool is_unix() const noexcept { return family() == AF_UNIX; }
  /// The port (0 for a Unix endpoint).
  [[nodiscard]] std::uint16_t port() const noexcept;
  /// The path of a Unix endpoint (empty otherwise).
  [[nodiscard]] std::string path() const;
  [[nodiscard]] std::string to_string() const;

  [[nodiscard]] const sockaddr* data() const noexcept { return reinterpret_cast<const sockaddr*>(&storage_); }
  [[nodiscard]] socklen_t size() const noexcept { return length_; }

  friend bool operator==(const endpoint& a, const endpoint& b) noexcept;

 private:
  sockaddr_storage storage_{};
  socklen_t length_ = 0;
};

}  // namespace brigade::net
