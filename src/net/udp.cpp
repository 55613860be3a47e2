// See brigade/net/udp.hpp.
#include "brigade/net/udp.hpp"

#include <sys/socket.h>

#include <stdexcept>
#include <string>
#include <system_error>

#include "brigade/net/tcp.hpp"
#include "brigade/runtime/runtime.hpp"

namespace brigade::net {
namespace {

/// sendto, one datagram to `to`. An error other than "would block" names the destination.
struct send_datagram_to {
  std::span<const std::byte> buffer;
  endpoint to;
  ssize_t operator()(int fd) const {
    const ssize_t sent = ::sendto(fd, buffer.data(), buffer.size(), MSG_NOSIGNAL, to.data(), to.size());
    if (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
      detail::throw_socket_error_at(errno, "send to", to);
    return sent;
  }
};

/// recvfrom, one datagram (cut to the buffer) and its sender into `from`.
struct receive_datagram_from {
  std::span<std::byte> buffer;
  sockaddr_storage* from;
  socklen_t* length;
  ssize_t operator()(int fd) const noexcept {
    *length = sizeof *from;
    return ::recvfrom(fd, buffer.data(), buffer.size(), 0, reinterpret_cast<sockaddr*>(from), length);
  }
};

endpoint sender_of(const sockaddr_storage& from, socklen_t length) {
  if (length < static_cast<socklen_t>(sizeof(sa_family_t))) return endpoint();
  return endpoint(reinterpret_cast<const sockaddr*>(&from), length);
}

}  // namespace

udp_socket udp_socket::bind(const endpoint& where, udp_options options) {
  return bind(detail::current_runtime_for("udp_socket::bind"), where, options);
}

udp_socket udp_socket::bind(runtime& rt, const endpoint& where, udp_options options) {
  if (!where.is_v4() && !where.is_v6())
    throw std::invalid_argument("brigade: udp_socket::bind to " + where.to_string() + " (not an IP address)");
  const listen_options bind_options{
      .reuse_address = options.reuse_address, .reuse_port = options.reuse_port, .v6_only = options.v6_only};
  return udp_socket(detail::bind_socket(rt, where, bind_options, SOCK_DGRAM, "udp_socket::bind"));
}

task<std::size_t> udp_socket::send_to_async(std::span<const std::byte> buffer, endpoint to) const {
  return descriptor_.retry_async(detail::io_direction::write, send_datagram_to{buffer, std::move(to)}, "send_to");
}

std::size_t udp_socket::send_to(std::span<const std::byte> buffer, const endpoint& to, std::stop_token token) const {
  return descriptor_.retry_blocking(detail::io_direction::write, send_datagram_to{buffer, to}, "send_to",
                                    std::move(token));
}

task<std::pair<std::size_t, endpoint>> udp_socket::recv_from_async(std::span<std::byte> buffer) const {
  sockaddr_storage from{};
  socklen_t length = sizeof from;
  const std::size_t got = co_await descriptor_.retry_async(detail::io_direction::read,
                                                           receive_datagram_from{buffer, &from, &length}, "recv_from");
  co_return std::pair{got, sender_of(from, length)};
}

std::pair<std::size_t, endpoint> udp_socket::recv_from(std::span<std::byte> buffer, std::stop_token token) const {
  sockaddr_storage from{};
  socklen_t length = sizeof from;
  const std::size_t got = descriptor_.retry_blocking(
      detail::io_direction::read, receive_datagram_from{buffer, &from, &length}, "recv_from", std::move(token));
  return {got, sender_of(from, length)};
}

void udp_socket::connect(const endpoint& peer) const {
  const int error = descriptor_.with_descriptor(
      [&](int fd) {
        int result;
        do result = ::connect(fd, peer.data(), peer.size());
        while (result != 0 && errno == EINTR);
        return result == 0 ? 0 : errno;
      },
      "connect");
  if (error != 0) detail::throw_socket_error_at(error, "connect to", peer);
}

task<std::size_t> udp_socket::send_async(std::span<const std::byte> buffer) const {
  return descriptor_.retry_async(detail::io_direction::write, detail::send_from{buffer}, "send");
}

task<std::size_t> udp_socket::recv_async(std::span<std::byte> buffer) const {
  return descriptor_.retry_async(detail::io_direction::read, detail::receive_into{buffer}, "recv");
}

std::size_t udp_socket::send(std::span<const std::byte> buffer, std::stop_token token) const {
  return descriptor_.retry_blocking(detail::io_direction::write, detail::send_from{buffer}, "send", std::move(token));
}

std::size_t udp_socket::recv(std::span<std::byte> buffer, std::stop_token token) const {
  return descriptor_.retry_blocking(detail::io_direction::read, detail::receive_into{buffer}, "recv",
                                    std::move(token));
}

void udp_socket::set_broadcast(bool on) const {
  detail::set_socket_flag(descriptor_, SOL_SOCKET, SO_BROADCAST, on, "setsockopt(SO_BROADCAST)");
}

endpoint udp_socket::name_of(bool peer) const { return detail::socket_name(descriptor_, peer); }

endpoint udp_socket::local_endpoint() const { return name_of(false); }
endpoint udp_socket::peer_endpoint() const { return name_of(true); }

}  // namespace brigade::net
