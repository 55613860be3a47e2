// brigade/net/tcp.hpp: TCP for tasks and threads: tcp_listener (bind, listen, accept) and
// tcp_stream (connect, read, write, shutdown, close), IPv4 and IPv6.
//
//   auto listener = brigade::net::tcp_listener::bind(brigade::net::endpoint::parse("127.0.0.1:0"));
//   auto port = listener.local_endpoint().port();
//   while (true) {
//     auto [stream, peer] = co_await listener.accept_async();
//     brigade::spawn(serve(std::move(stream)));                  // a task per connection
//   }
//
//   auto stream = co_await brigade::net::tcp_stream::connect_async(server, 2s);  // with a timeout
//   co_await stream.write_all_async(std::as_bytes(std::span(request)));
//   std::size_t n = co_await stream.read_some_async(std::as_writable_bytes(std::span(buffer)));
//
// Sockets are registered with the runtime of the task that creates them (the worker it runs
// on); the thread forms take that runtime: tcp_listener::bind(rt, ep), tcp_stream::connect(rt, ep),
// and the blocking read_some / read_exact / write_all / accept. The reactor wakes a parked task
// or thread when its socket is ready (detail/io_source.hpp). Errors, cancellation and lifetime:
// brigade/net/socket.hpp and stream.hpp. A listener binds with SO_REUSEADDR (a restarted server
// does not wait out TIME_WAIT) unless told otherwise; a port in use throws std::system_error
// (errc::address_in_use) naming the address. Options: set_nodelay (disables Nagle: small
// writes go out at once) and set_keepalive.
// Thread safety: a socket's operations may be used from several tasks and threads at once; the
// object itself (moving, close) is not synchronised against its own use beyond what
// socket.hpp says.
#pragma once

#include <chrono>
#include <stop_token>
#include <utility>

#include "brigade/net/endpoint.hpp"
#include "brigade/net/socket.hpp"
#include "brigade/net/stream.hpp"
#include "brigade/runtime/task.hpp"
#include "brigade/time/timeout.hpp"

namespace brigade::net {

/// How a listener binds (TCP, Unix).
struct listen_options {
  int backlog = 1024;          ///< the kernel's queue of connections not yet accepted
  bool reuse_address = true;   ///< SO_REUSEADDR
  bool reuse_port = false;     ///< SO_REUSEPORT
  bool v6_only = false;        ///< IPV6_V6ONLY for an IPv6 listener (false: also IPv4-mapped)
};

}  // namespace brigade::net

namespace brigade::detail {
// src/net/stream.cpp.
socket_descriptor bind_socket(runtime& rt, const net::endpoint& where, const net::listen_options& options, int type,
                              const char* what);
task<socket_descriptor> connect_descriptor_async(net::endpoint server);
socket_descriptor connect_descriptor(runtime& rt, const net::endpoint& server, std::stop_token token);
void set_socket_flag(const socket_descriptor& descriptor, int level, int option, bool on, const char* operation);
}  // namespace brigade::detail

namespace brigade::net {

class tcp_stream : public detail::stream_socket_base {
 public:
  tcp_stream() noexcept = default;
  explicit tcp_stream(detail::socket_descriptor descriptor) noexcept
      : stream_socket_base(std::move(descriptor)) {}

  /// co_await: a connection to `server`, registered with the awaiting task's runtime. Throws
  /// std::system_error (errc::connection_refused, network_unreachable, ...).
  [[nodiscard("co_await the connect")]] static task<tcp_stream> connect_async(endpoint server);
  /// The same, ended by timeout_error after `limit` (an unreachable host, a full backlog).
  template <class Rep, class Period>
  [[nodiscard("co_await the connect")]] static task<tcp_stream> connect_async(endpoint server,
                                                                            std::chrono::duration<Rep, Period> limit) {
    co_return co_await brigade::timeout(connect_async(server), limit);
  }
  /// The thread form: blocks the calling thread; the stream is registered with `rt`.
  static tcp_stream connect(runtime& rt, const endpoint& server, std::stop_token token = {});

  /// TCP_NODELAY: on (true) sends small writes at once instead of coalescing them (Nagle).
  void set_nodelay(bool on) const;
  /// SO_KEEPALIVE: probes an idle connection so that a vanished peer is noticed.
  void set_keepalive(bool on) const;
};

class tcp_listener {
 public:
  tcp_listener() noexcept = default;

  /// Binds and listens on `where` (port 0: the kernel picks one; see local_endpoint()),
  /// registered with the runtime that runs the calling worker thread (usage_error elsewhere).
  static tcp_listener bind(const endpoint& where, listen_options options = {});
  /// The same, registered with `rt` (from any thread).
  static tcp_listener bind(runtime& rt, const endpoint& where, listen_options options = {});

  /// co_await: the next connection and its peer's address (see stream.hpp for the loop's
  /// behaviour under descriptor exhaustion).
  [[nodiscard("co_await the accept")]] task<std::pair<tcp_stream, endpoint>> accept_async() const {
    auto [descriptor, peer] = co_await detail::accept_async(descriptor_);
    co_return std::pair{tcp_stream(std::move(descriptor)), peer};
  }
  /// The thread form; the connection is registered with the listener's runtime `rt`.
  std::pair<tcp_stream, endpoint> accept(runtime& rt, std::stop_token token = {}) const {
    auto [descriptor, peer] = detail::accept_blocking(rt, descriptor_, std::move(token));
    return {tcp_stream(std::move(descriptor)), peer};
  }

  [[nodiscard]] endpoint local_endpoint() const;
  [[nodiscard]] bool is_open() const noexcept { return descriptor_.is_open(); }
  /// Stops listening: a pending accept_async ends with the "closed" error.
  void close() noexcept { descriptor_.close(); }
  [[nodiscard]] int native_handle() const noexcept { return descriptor_.native_handle(); }

 private:
  explicit tcp_listener(detail::socket_descriptor descriptor) noexcept : descriptor_(std::move(descriptor)) {}
  detail::socket_descriptor descriptor_;
};

}  // namespace brigade::net
