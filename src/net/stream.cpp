// See brigade/net/stream.hpp and tcp.hpp: the parts that need no template.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <string>
#include <system_error>
#include <thread>

#include "brigade/net/tcp.hpp"
#include "brigade/runtime/runtime.hpp"

namespace brigade::detail {

void throw_stream_ended(const char* operation, std::size_t got, std::size_t wanted) {
  throw std::system_error(std::make_error_code(std::errc::connection_aborted),
                          std::string("brigade: ") + operation + ": the stream ended after " + std::to_string(got) +
                              " of " + std::to_string(wanted) + " bytes");
}

net::endpoint stream_socket_base::name_of(bool peer) const { return socket_name(descriptor_, peer); }

std::pair<socket_descriptor, net::endpoint> accept_blocking(runtime& rt, const socket_descriptor& listener,
                                                            std::stop_token token) {
  auto delay = std::chrono::milliseconds(5);
  for (;;) {
    sockaddr_storage peer{};
    socklen_t length = sizeof peer;
    const std::size_t fd = listener.retry_blocking(
        io_direction::read, [&](int l) { return accept_skipping_aborted(l, peer, length); }, "accept", token);
    if (fd != static_cast<std::size_t>(accept_exhausted)) {
      socket_descriptor connection(register_io_source(rt, static_cast<int>(fd)));
      return {std::move(connection), net::endpoint(reinterpret_cast<sockaddr*>(&peer), length)};
    }
    brigade::sleep_for(delay, token);
    delay = std::min<std::chrono::milliseconds>(delay * 2, std::chrono::seconds(1));
  }
}

namespace {

void set_flag(const socket_descriptor& descriptor, int level, int option, bool on, const char* operation) {
  const int value = on ? 1 : 0;
  const int error = descriptor.with_descriptor(
      [&](int fd) { return ::setsockopt(fd, level, option, &value, sizeof value) == 0 ? 0 : errno; }, operation);
  if (error != 0) throw_socket_error(error, operation, descriptor.native_handle());
}

/// Starts the connect; returns whether it completed at once (false: in progress). Throws on an
/// immediate failure, EAGAIN included: connect(2) gives it to a full Unix backlog and, for IP, to
/// a lack of local ports or routing entries; neither is a connect in progress to wait for.
bool start_connect(const socket_descriptor& descriptor, const net::endpoint& server) {
  const int error = descriptor.with_descriptor(
      [&](int fd) {
        int result;
        do result = ::connect(fd, server.data(), server.size());
        while (result != 0 && errno == EINTR);
        return result == 0 ? 0 : errno;
      },
      "connect");
  if (error == 0) return true;
  if (error != EINPROGRESS) throw_socket_error_at(error, "connect to", server);
  return false;
}

socket_descriptor bound_listener(runtime& rt, const net::endpoint& where, const net::listen_options& options,
                                 int type, const char* what) {
  const int fd = open_socket(where.family(), type, what);
  socket_descriptor descriptor(register_io_source(rt, fd));
  if (where.family() != AF_UNIX) {
    if (options.reuse_address) set_flag(descriptor, SOL_SOCKET, SO_REUSEADDR, true, "setsockopt(SO_REUSEADDR)");
    if (options.reuse_port) set_flag(descriptor, SOL_SOCKET, SO_REUSEPORT, true, "setsockopt(SO_REUSEPORT)");
    if (where.is_v6()) set_flag(descriptor, IPPROTO_IPV6, IPV6_V6ONLY, options.v6_only, "setsockopt(IPV6_V6ONLY)");
  }
  int error = descriptor.with_descriptor([&](int s) { return ::bind(s, where.data(), where.size()) == 0 ? 0 : errno; }, "bind");
  if (error != 0) throw_socket_error_at(error, "bind to", where);
  if (type == SOCK_STREAM) {
    error = descriptor.with_descriptor([&](int s) { return ::listen(s, options.backlog) == 0 ? 0 : errno; }, "listen");
    if (error != 0) throw_socket_error_at(error, "listen on", where);
  }
  return descriptor;
}

}  // namespace

socket_descriptor bind_socket(runtime& rt, const net::endpoint& where, const net::listen_options& options, int type,
                              const char* what) {
  return bound_listener(rt, where, options, type, what);
}

task<socket_descriptor> connect_descriptor_async(net::endpoint server) {
  scheduler& sched = *worker_or_throw("brigade: connect_async() awaited outside a runtime").owner;
  socket_descriptor descriptor(register_io_source(sched, open_socket(server.family(), SOCK_STREAM, "connect")));
  if (!start_connect(descriptor, server))
    co_await descriptor.retry_async(io_direction::write, connect_completion{server}, "connect");
  co_return descriptor;
}

socket_descriptor connect_descriptor(runtime& rt, const net::endpoint& server, std::stop_token token) {
  socket_descriptor descriptor(register_io_source(rt, open_socket(server.family(), SOCK_STREAM, "connect")));
  if (!start_connect(descriptor, server))
    descriptor.retry_blocking(io_direction::write, connect_completion{server}, "connect", std::move(token));
  return descriptor;
}

void set_socket_flag(const socket_descriptor& descriptor, int level, int option, bool on, const char* operation) {
  set_flag(descriptor, level, option, on, operation);
}

}  // namespace brigade::detail

namespace brigade::net {

task<tcp_stream> tcp_stream::connect_async(endpoint server) {
  if (!server.is_v4() && !server.is_v6())
    throw std::invalid_argument("brigade: tcp_stream::connect_async to " + server.to_string() + " (not an IP address)");
  co_return tcp_stream(co_await detail::connect_descriptor_async(server));
}

tcp_stream tcp_stream::connect(runtime& rt, const endpoint& server, std::stop_token token) {
  if (!server.is_v4() && !server.is_v6())
    throw std::invalid_argument("brigade: tcp_stream::connect to " + server.to_string() + " (not an IP address)");
  return tcp_stream(detail::connect_descriptor(rt, server, std::move(token)));
}

void tcp_stream::set_nodelay(bool on) const {
  detail::set_socket_flag(descriptor(), IPPROTO_TCP, TCP_NODELAY, on, "setsockopt(TCP_NODELAY)");
}
void tcp_stream::set_keepalive(bool on) const {
  detail::set_socket_flag(descriptor(), SOL_SOCKET, SO_KEEPALIVE, on, "setsockopt(SO_KEEPALIVE)");
}

tcp_listener tcp_listener::bind(const endpoint& where, listen_options options) {
  return bind(detail::current_runtime_for("tcp_listener::bind"), where, options);
}
tcp_listener tcp_listener::bind(runtime& rt, const endpoint& where, listen_options options) {
  if (!where.is_v4() && !where.is_v6())
    throw std::invalid_argument("brigade: tcp_listener::bind to " + where.to_string() + " (not an IP address)");
  return tcp_listener(detail::bind_socket(rt, where, options, SOCK_STREAM, "tcp_listener::bind"));
}

endpoint tcp_listener::local_endpoint() const { return detail::socket_name(descriptor_, false); }

}  // namespace brigade::net
