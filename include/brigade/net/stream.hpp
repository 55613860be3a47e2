// brigade/net/stream.hpp: the byte-stream operations and the accept loop that TCP and
// Unix-domain sockets share (internal to brigade/net/; users name tcp_stream, unix_stream,
// tcp_listener, unix_listener).
//
// Reads: read_some_async(buffer) returns how many bytes arrived (at least 1), or 0 at the end of
// the stream (the peer shut down its side or closed); read_exact_async(buffer) fills the buffer
// or throws std::system_error(std::errc::connection_aborted, "... ended after N of M bytes").
// Writes: write_all_async(buffer) writes everything (waiting while the peer's window and our
// send buffer are full: a slow reader makes the writer wait, memory does not grow); a peer that
// is gone makes it throw (EPIPE or ECONNRESET; SIGPIPE is never raised). shutdown(how) ends one
// direction (the peer reads end of stream); close() ends both and frees the descriptor.
// Each has a thread form without _async (read_some, read_exact, write_all, accept) taking an
// optional std::stop_token.
//
// The accept loop: accept_async() waits for a connection; when the process runs out of
// descriptors (EMFILE, ENFILE) or memory (ENOBUFS, ENOMEM), it backs off (5 ms, doubling up to
// 1 s, as Go's net/http server does) and tries again, so a server under descriptor exhaustion
// keeps serving the connections it has and accepts again once some close, without spinning. A
// connection aborted before it was accepted is skipped.
#pragma once

#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <span>
#include <stop_token>
#include <system_error>
#include <thread>
#include <utility>

#include "brigade/detail/scheduler_hooks.hpp"
#include "brigade/net/endpoint.hpp"
#include "brigade/net/socket.hpp"
#include "brigade/runtime/task.hpp"
#include "brigade/time/sleep.hpp"

namespace brigade::net {

/// Which direction shutdown() ends.
enum class shutdown_how { read = SHUT_RD, write = SHUT_WR, both = SHUT_RDWR };

}  // namespace brigade::net

namespace brigade::detail {

/// The system error for a stream that ended before a read_exact was satisfied.
[[noreturn]] void throw_stream_ended(const char* operation, std::size_t got, std::size_t wanted);
/// An accept error after which the loop backs off and tries again. The categories are compared
/// by address: a member call on libstdc++'s category object trips UndefinedBehaviorSanitizer's
/// vptr check (libstdc++ is not instrumented).
inline bool accept_should_back_off(int error) noexcept {
  return error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM;
}
/// What accept_skipping_aborted returns when the loop must back off (no descriptor is free): a
/// value no descriptor has, so that the back-off costs no exception (and needs no descriptor,
/// which a sanitizer's own checks may want in that moment).
inline constexpr ssize_t accept_exhausted = ssize_t{1} << 40;
/// accept4 that skips connections aborted before they were accepted, and reports exhaustion as
/// accept_exhausted.
inline ssize_t accept_skipping_aborted(int listener, sockaddr_storage& peer, socklen_t& length) noexcept {
  for (;;) {
    length = sizeof peer;
    const int fd = ::accept4(listener, reinterpret_cast<sockaddr*>(&peer), &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) return fd;
    if (accept_should_back_off(errno)) return accept_exhausted;
    if (errno != ECONNABORTED && errno != EPROTO) return -1;
  }
}

/// The system calls of a socket's reads and writes (MSG_NOSIGNAL: a write to a closed peer
/// fails with EPIPE instead of raising SIGPIPE).
struct receive_into {
  std::span<std::byte> buffer;
  ssize_t operator()(int fd) const noexcept { return ::recv(fd, buffer.data(), buffer.size(), 0); }
};
struct send_from {
  std::span<const std::byte> buffer;
  ssize_t operator()(int fd) const noexcept { return ::send(fd, buffer.data(), buffer.size(), MSG_NOSIGNAL); }
};
/// The same on a byte stream, where a short transfer means drained (socket.hpp's
/// stream_transfer); not for datagrams, where each call takes one datagram.
struct stream_receive_into : receive_into {
  std::size_t requested() const noexcept { return buffer.size(); }
};
struct stream_send_from : send_from {
  std::size_t requested() const noexcept { return buffer.size(); }
};

class stream_socket_base {
 public:
  stream_socket_base() noexcept = default;
  explicit stream_socket_base(socket_descriptor descriptor) noexcept : descriptor_(std::move(descriptor)) {}

  [[nodiscard]] bool is_open() const noexcept { return descriptor_.is_open(); }
  void close() noexcept { descriptor_.close(); }
  [[nodiscard]] int native_handle() const noexcept { return descriptor_.native_handle(); }

  /// co_await: at least one byte into `buffer`, or 0 at the end of the stream (or for an empty
  /// buffer).
  [[nodiscard("co_await the read")]] task<std::size_t> read_some_async(std::span<std::byte> buffer) const {
    return descriptor_.retry_async(io_direction::read, stream_receive_into{{buffer}}, "read");
  }
  std::size_t read_some(std::span<std::byte> buffer, std::stop_token token = {}) const {
    return descriptor_.retry_blocking(io_direction::read, stream_receive_into{{buffer}}, "read", std::move(token));
  }

  /// co_await: fills `buffer`, or throws (the stream ended first: errc::connection_aborted).
  [[nodiscard("co_await the read")]] task<void> read_exact_async(std::span<std::byte> buffer) const {
    std::size_t done = 0;
    while (done < buffer.size()) {
      const std::size_t got = co_await read_some_async(buffer.subspan(done));
      if (got == 0) throw_stream_ended("read_exact", done, buffer.size());
      done += got;
    }
  }
  void read_exact(std::span<std::byte> buffer, std::stop_token token = {}) const {
    std::size_t done = 0;
    while (done < buffer.size()) {
      const std::size_t got = read_some(buffer.subspan(done), token);
      if (got == 0) throw_stream_ended("read_exact", done, buffer.size());
      done += got;
    }
  }

  /// co_await: writes all of `buffer`.
  [[nodiscard("co_await the write")]] task<void> write_all_async(std::span<const std::byte> buffer) const {
    std::size_t done = 0;
    while (done < buffer.size())
      done += co_await descriptor_.retry_async(io_direction::write, stream_send_from{{buffer.subspan(done)}}, "write");
  }
  void write_all(std::span<const std::byte> buffer, std::stop_token token = {}) const {
    std::size_t done = 0;
    while (done < buffer.size())
      done += descriptor_.retry_blocking(io_direction::write, stream_send_from{{buffer.subspan(done)}}, "write", token);
  }

  /// Ends one direction (or both): after shutdown(write) the peer reads end of stream.
  void shutdown(net::shutdown_how how) const {
    const int result = descriptor_.with_descriptor(
        [how](int fd) { return ::shutdown(fd, static_cast<int>(how)) == 0 || errno == ENOTCONN ? 0 : errno; },
        "shutdown");
    if (result != 0) throw_socket_error(result, "shutdown", descriptor_.native_handle());
  }

  [[nodiscard]] net::endpoint local_endpoint() const { return name_of(false); }
  [[nodiscard]] net::endpoint peer_endpoint() const { return name_of(true); }

 protected:
  net::endpoint name_of(bool peer) const;
  const socket_descriptor& descriptor() const noexcept { return descriptor_; }

 private:

  socket_descriptor descriptor_;
};

/// The accept loop of a listener (see the top of this header). Yields the connection's
/// descriptor, registered with the runtime that runs the awaiting task, and the peer's address.
inline task<std::pair<socket_descriptor, net::endpoint>> accept_async(const socket_descriptor& listener) {
  auto delay = std::chrono::milliseconds(5);
  for (;;) {
    sockaddr_storage peer{};
    socklen_t length = sizeof peer;
    const std::size_t fd = co_await listener.retry_async(
        io_direction::read, [&](int l) { return accept_skipping_aborted(l, peer, length); }, "accept");
    if (fd != static_cast<std::size_t>(accept_exhausted)) {
      scheduler& sched = *worker_or_throw("brigade: accept_async() awaited outside a runtime").owner;
      socket_descriptor connection(register_io_source(sched, static_cast<int>(fd)));
      co_return std::pair{std::move(connection), net::endpoint(reinterpret_cast<sockaddr*>(&peer), length)};
    }
    co_await sleep_for_async(delay);
    delay = std::min<std::chrono::milliseconds>(delay * 2, std::chrono::seconds(1));
  }
}

/// The thread form: registers the connection with `rt`.
std::pair<socket_descriptor, net::endpoint> accept_blocking(runtime& rt, const socket_descriptor& listener,
                                                            std::stop_token token);

}  // namespace brigade::detail
