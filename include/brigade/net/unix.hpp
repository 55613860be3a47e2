// brigade/net/unix.hpp: Unix-domain stream sockets for tasks and threads: unix_listener (bind
// to a filesystem path, listen, accept) and unix_stream (connect, read, write, shutdown, close),
// the same operations as TCP's (brigade/net/tcp.hpp) on a socket file instead of an address.
//
//   auto path = brigade::net::endpoint::unix_path("/run/app/app.sock");
//   auto listener = brigade::net::unix_listener::bind(path);
//   while (true) {
//     auto [stream, peer] = co_await listener.accept_async();   // peer: usually unnamed
//     brigade::spawn(serve(std::move(stream)));
//   }
//
//   auto stream = co_await brigade::net::unix_stream::connect_async(path);
//   co_await stream.write_all_async(std::as_bytes(std::span(request)));
//
// Sockets are registered with the runtime of the task that creates them; the thread forms take
// that runtime: unix_listener::bind(rt, ep), unix_stream::connect(rt, ep), and the blocking
// read_some / read_exact / write_all / accept. Reads, writes, shutdown, the accept loop's back-off,
// cancellation and lifetime: brigade/net/stream.hpp and socket.hpp.
//
// The socket file, as Go's net.UnixListener does it:
//   - bind creates the file; a path that exists already (a live server's socket, or a stale one
//     left by a process that died) is not touched: bind throws std::system_error
//     (errc::address_in_use) naming the path. brigade cannot tell a stale socket from a live one
//     without connecting to it: remove a stale file yourself (std::filesystem::remove) before
//     bind when you know no server uses it.
//   - the listener that created the file removes it when it closes (close() or its destructor),
//     if the path still names the file it created (a file put there by someone else since is
//     left alone). set_unlink_on_close(false) keeps it (Go's SetUnlinkOnClose; Tokio never
//     removes it). A process that dies without closing leaves the file behind.
// Abstract socket names (Linux's leading NUL) are not supported (endpoint::unix_path refuses
// them).
//
// Errors: std::system_error naming the path ("brigade: connect to unix:/run/app.sock: No such
// file or directory"): connecting where no file exists is errc::no_such_file_or_directory, to a
// file nobody listens on (a stale socket) errc::connection_refused, to a listener whose backlog
// is full errc::resource_unavailable_try_again (at once, as Go and Tokio report it: the kernel
// offers no readiness to wait for). An endpoint that is not a Unix path is std::invalid_argument.
// Cancellation: connect completes or fails at once (nothing to cancel); accept and reads as
// stream.hpp says.
// Thread safety: a socket's operations may be used from several tasks and threads at once; the
// object itself (moving, close, set_unlink_on_close) is not synchronised against its own use
// beyond what socket.hpp says.
#pragma once

#include <cstdint>
#include <stop_token>
#include <string>
#include <utility>

#include "brigade/net/endpoint.hpp"
#include "brigade/net/socket.hpp"
#include "brigade/net/stream.hpp"
#include "brigade/net/tcp.hpp"
#include "brigade/runtime/task.hpp"

namespace brigade::net {

class unix_stream : public detail::stream_socket_base {
 public:
  unix_stream() noexcept = default;
  explicit unix_stream(detail::socket_descriptor descriptor) noexcept : stream_socket_base(std::move(descriptor)) {}

  /// co_await: a connection to the listener at `server` (a Unix path), registered with the
  /// awaiting task's runtime. Throws std::system_error (see the top of this header).
  [[nodiscard("co_await the connect")]] static task<unix_stream> connect_async(endpoint server);
  /// The thread form; the stream is registered with `rt`.
  static unix_stream connect(runtime& rt, const endpoint& server, std::stop_token token = {});
};

class unix_listener {
 public:
  unix_listener() noexcept = default;
  unix_listener(unix_listener&& other) noexcept;
  unix_listener& operator=(unix_listener&& other) noexcept;
  unix_listener(const unix_listener&) = delete;
  unix_listener& operator=(const unix_listener&) = delete;
  /// Closes (and removes the socket file, see the top of this header).
  ~unix_listener() { close(); }

  /// Creates the socket file at `where` and listens on it, registered with the runtime that
  /// runs the calling worker thread (usage_error elsewhere). Only `backlog` of the options
  /// applies. A path that exists already: errc::address_in_use.
  static unix_listener bind(const endpoint& where, listen_options options = {});
  /// The same, registered with `rt` (from any thread).
  static unix_listener bind(runtime& rt, const endpoint& where, listen_options options = {});

  /// co_await: the next connection and its peer's address (a client that did not bind has an
  /// unnamed address: is_unix(), empty path()).
  [[nodiscard("co_await the accept")]] task<std::pair<unix_stream, endpoint>> accept_async() const {
    auto [descriptor, peer] = co_await detail::accept_async(descriptor_);
    co_return std::pair{unix_stream(std::move(descriptor)), peer};
  }
  /// The thread form; the connection is registered with the listener's runtime `rt`.
  std::pair<unix_stream, endpoint> accept(runtime& rt, std::stop_token token = {}) const {
    auto [descriptor, peer] = detail::accept_blocking(rt, descriptor_, std::move(token));
    return {unix_stream(std::move(descriptor)), peer};
  }

  [[nodiscard]] endpoint local_endpoint() const;
  [[nodiscard]] bool is_open() const noexcept { return descriptor_.is_open(); }
  /// Removes the socket file (when this listener created it and unlink-on-close is on), then
  /// stops listening: a pending accept_async ends with the "closed" error. Idempotent.
  void close() noexcept;
  /// Whether close() removes the socket file (default: true).
  void set_unlink_on_close(bool unlink) noexcept { unlink_on_close_ = unlink; }
  [[nodiscard]] int native_handle() const noexcept { return descriptor_.native_handle(); }

 private:
  unix_listener(detail::socket_descriptor descriptor, std::string created, std::uint64_t device,
                std::uint64_t inode) noexcept
      : descriptor_(std::move(descriptor)), created_(std::move(created)), device_(device), inode_(inode) {}

  detail::socket_descriptor descriptor_;
  std::string created_;  // the socket file this listener created (absolute); empty once removed
  std::uint64_t device_ = 0;
  std::uint64_t inode_ = 0;
  bool unlink_on_close_ = true;
};

}  // namespace brigade::net
