// brigade/net/udp.hpp: UDP for tasks and threads: udp_socket sends and receives datagrams,
// IPv4 and IPv6, to and from any peer or (after connect) one default peer.
//
//   auto socket = brigade::net::udp_socket::bind(brigade::net::endpoint::any_v4(0));  // port 0: any
//   std::array<std::byte, 65536> buffer;
//   auto [n, from] = co_await socket.recv_from_async(buffer);
//   co_await socket.send_to_async(std::span(buffer).first(n), from);              // echo it back
//
//   auto client = brigade::net::udp_socket::bind(brigade::net::endpoint::any_v4(0));
//   client.connect(server);                                                         // the default peer
//   co_await client.send_async(request);
//   std::size_t got = co_await client.recv_async(buffer);
//
// Sockets are registered with the runtime of the task that creates them (bind(ep) on a worker);
// the thread forms take that runtime: udp_socket::bind(rt, ep), and the blocking send_to /
// recv_from / send / recv, each with an optional std::stop_token.
//
// Datagrams: each send sends one datagram, whole or not at all (it returns the buffer's size);
// each receive takes one datagram. A datagram longer than the receive buffer is cut: the buffer
// is filled, the returned count is the buffer's size and the rest of that datagram is discarded
// (as Go's ReadFrom and Tokio's recv_from; pass a buffer one byte larger than the largest
// datagram you expect to notice: a full buffer then means it was cut; 65536 bytes holds any
// UDP datagram). An empty datagram is received as a count of 0 (not an end: UDP has none).
// UDP is unreliable: datagrams may be lost when the receiver's socket buffer is full (a sender
// that outpaces the receiver loses datagrams rather than waiting), reordered or duplicated by
// the network; brigade adds no delivery guarantee. A send waits only while the socket's send
// buffer is full.
//
// A bound socket does not set SO_REUSEADDR unless told (udp_options): binding a port in use
// throws std::system_error (errc::address_in_use) naming the address. connect(peer) sets the
// default peer of send_async / recv_async (it sends nothing and never waits): the socket then
// receives only from that peer, and an ICMP "port unreachable" from it (nobody listens there)
// makes a later send or receive throw errc::connection_refused.
//
// Errors: std::system_error with the errno and the addresses ("brigade: send to 127.0.0.1:53:
// Network is unreachable"); a closed socket, or one closed while an operation waits on it,
// errc::bad_file_descriptor ("... the socket is closed"), as socket.hpp says.
// Cancellation: every wait is a cancellation point. A cancelled receive received nothing (the
// next datagram goes to the next receive); a cancelled send sent nothing.
// Thread safety: operations may run concurrently from several tasks and threads (two receives
// each get whole datagrams, in no defined split); the object itself (moving, close, connect) is
// not synchronised against its own use beyond what socket.hpp says.
#pragma once

#include <cstddef>
#include <span>
#include <stop_token>
#include <utility>

#include "brigade/net/endpoint.hpp"
#include "brigade/net/socket.hpp"
#include "brigade/runtime/task.hpp"

namespace brigade::net {

/// How a UDP socket binds.
struct udp_options {
  bool reuse_address = false;  ///< SO_REUSEADDR (several sockets on one port: multicast)
  bool reuse_port = false;     ///< SO_REUSEPORT (the kernel spreads datagrams across sockets)
  bool v6_only = false;        ///< IPV6_V6ONLY for an IPv6 socket (false: also IPv4-mapped)
};

class udp_socket {
 public:
  udp_socket() noexcept = default;

  /// A socket bound to `where` (port 0: the kernel picks one; see local_endpoint()), registered
  /// with the runtime that runs the calling worker thread (usage_error elsewhere).
  static udp_socket bind(const endpoint& where, udp_options options = {});
  /// The same, registered with `rt` (from any thread).
  static udp_socket bind(runtime& rt, const endpoint& where, udp_options options = {});

  /// co_await: sends `buffer` as one datagram to `to`; returns its size.
  [[nodiscard("co_await the send")]] task<std::size_t> send_to_async(std::span<const std::byte> buffer,
                                                                     endpoint to) const;
  /// co_await: the next datagram into `buffer` (cut to its size, see above) and its sender.
  [[nodiscard("co_await the receive")]] task<std::pair<std::size_t, endpoint>> recv_from_async(
      std::span<std::byte> buffer) const;
  /// The thread forms.
  std::size_t send_to(std::span<const std::byte> buffer, const endpoint& to, std::stop_token token = {}) const;
  std::pair<std::size_t, endpoint> recv_from(std::span<std::byte> buffer, std::stop_token token = {}) const;

  /// Sets the default peer (never waits): send_async / recv_async talk to it, and only its
  /// datagrams are received.
  void connect(const endpoint& peer) const;
  /// co_await: sends `buffer` as one datagram to the default peer; returns its size.
  [[nodiscard("co_await the send")]] task<std::size_t> send_async(std::span<const std::byte> buffer) const;
  /// co_await: the next datagram from the default peer into `buffer` (cut to its size).
  [[nodiscard("co_await the receive")]] task<std::size_t> recv_async(std::span<std::byte> buffer) const;
  /// The thread forms.
  std::size_t send(std::span<const std::byte> buffer, std::stop_token token = {}) const;
  std::size_t recv(std::span<std::byte> buffer, std::stop_token token = {}) const;

  /// SO_BROADCAST: on (true) allows sends to a broadcast address.
  void set_broadcast(bool on) const;

  [[nodiscard]] endpoint local_endpoint() const;
  /// The default peer (std::system_error errc::not_connected before connect).
  [[nodiscard]] endpoint peer_endpoint() const;
  [[nodiscard]] bool is_open() const noexcept { return descriptor_.is_open(); }
  /// Closes now: operations waiting on it end with the "closed" error. Idempotent.
  void close() noexcept { descriptor_.close(); }
  [[nodiscard]] int native_handle() const noexcept { return descriptor_.native_handle(); }

 private:
  explicit udp_socket(detail::socket_descriptor descriptor) noexcept : descriptor_(std::move(descriptor)) {}
  endpoint name_of(bool peer) const;

  detail::socket_descriptor descriptor_;
};

}  // namespace brigade::net
