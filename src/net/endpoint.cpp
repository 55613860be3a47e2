// See brigade/net/endpoint.hpp.
#include "brigade/net/endpoint.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <charconv>
#include <cstring>
#include <stdexcept>

namespace brigade::net {

endpoint::endpoint(const sockaddr* address, socklen_t length) {
  if (address == nullptr || length < static_cast<socklen_t>(sizeof(sa_family_t)) ||
      length > static_cast<socklen_t>(sizeof storage_))
    throw std::invalid_argument("brigade: a socket address of " + std::to_string(length) + " bytes");
  const int kind = address->sa_family;
  if (kind != AF_INET && kind != AF_INET6 && kind != AF_UNIX)
    throw std::invalid_argument("brigade: a socket address of family " + std::to_string(kind) +
                                " (expected IPv4, IPv6 or Unix)");
  std::memcpy(&storage_, address, length);
  length_ = length;
}

endpoint endpoint::from(std::string_view address, std::uint16_t port) {
  const std::string text(address);
  endpoint result;
  sockaddr_in v4{};
  if (::inet_pton(AF_INET, text.c_str(), &v4.sin_addr) == 1) {
    v4.sin_family = AF_INET;
    v4.sin_port = htons(port);
    std::memcpy(&result.storage_, &v4, sizeof v4);
    result.length_ = sizeof v4;
    return result;
  }
  sockaddr_in6 v6{};
  if (::inet_pton(AF_INET6, text.c_str(), &v6.sin6_addr) == 1) {
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(port);
    std::memcpy(&result.storage_, &v6, sizeof v6);
    result.length_ = sizeof v6;
    return result;
  }
  throw std::invalid_argument("brigade: \"" + text + "\" is not a numeric IPv4 or IPv6 address");
}

endpoint endpoint::parse(std::string_view text) {
  std::string_view host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      throw std::invalid_argument("brigade: \"" + std::string(text) + "\" is not \"[ipv6]:port\"");
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon)
      throw std::invalid_argument("brigade: \"" + std::string(text) +
                                  "\" is not \"address:port\" (write an IPv6 address as \"[::1]:port\")");
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  unsigned port = 0;
  const auto [end, error] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || error != std::errc{} || end != port_text.data() + port_text.size() || port > 65535)
    throw std::invalid_argument("brigade: \"" + std::string(port_text) + "\" in \"" + std::string(text) +
                                "\" is not a port number (0-65535)");
  return from(host, static_cast<std::uint16_t>(port));
}

endpoint endpoint::loopback_v4(std::uint16_t port) { return from("127.0.0.1", port); }
endpoint endpoint::loopback_v6(std::uint16_t port) { return from("::1", port); }
endpoint endpoint::any_v4(std::uint16_t port) { return from("0.0.0.0", port); }
endpoint endpoint::any_v6(std::uint16_t port) { return from("::", port); }

endpoint endpoint::unix_path(std::string_view path) {
  sockaddr_un address{};
  if (path.empty() || path.size() >= sizeof address.sun_path || path.find('\0') != std::string_view::npos)
    throw std::invalid_argument("brigade: \"" + std::string(path) + "\" is not a Unix socket path (1-" +
                                std::to_string(sizeof address.sun_path - 1) + " bytes, no NUL)");
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.data(), path.size());
  endpoint result;
  std::memcpy(&result.storage_, &address, sizeof address);
  result.length_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  return result;
}

std::uint16_t endpoint::port() const noexcept {
  if (is_v4()) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
  if (is_v6()) return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  return 0;
}

std::string endpoint::path() const {
  if (!is_unix() || length_ <= offsetof(sockaddr_un, sun_path)) return {};
  const auto* address = reinterpret_cast<const sockaddr_un*>(&storage_);
  return std::string(address->sun_path, ::strnlen(address->sun_path, length_ - offsetof(sockaddr_un, sun_path)));
}

std::string endpoint::to_string() const {
  char text[INET6_ADDRSTRLEN] = {};
  if (is_v4()) {
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, text, sizeof text);
    return std::string(text) + ":" + std::to_string(port());
  }
  if (is_v6()) {
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, text, sizeof text);
    return "[" + std::string(text) + "]:" + std::to_string(port());
  }
  if (is_unix()) return "unix:" + path();
  return "(no address)";
}

bool operator==(const endpoint& a, const endpoint& b) noexcept {
  return a.length_ == b.length_ && std::memcmp(&a.storage_, &b.storage_, a.length_) == 0;
}

}  // namespace brigade::net
