// brigade/net/socket.hpp: what every brigade socket is made of (internal to brigade/net/): a
// non-blocking descriptor registered with a runtime's reactor, and the loop that runs a system
// call until it stops saying "would block", parking the task (or thread) on the descriptor's
// readiness in between (detail/io_source.hpp).
//
// Errors: std::system_error with the errno, the operation and the addresses in the message
// ("brigade: read from 127.0.0.1:4000: Connection reset by peer"). An operation on a closed
// socket, or one that waited while the socket was closed, throws std::system_error with
// std::errc::bad_file_descriptor ("... the socket is closed").
//
// Cancellation: every wait for readiness is a cancellation point. A cancelled read read nothing;
// a cancelled accept accepted nothing; a cancelled write_all may have written a prefix of its
// buffer (as Tokio's write_all: it is not cancel-safe; the count is lost with the exception).
//
// Lifetime: an operation keeps the descriptor open while it runs (a close from another task
// wakes it with the "closed" error and the descriptor closes when it has left). A socket object
// must outlive the operations it started (as for any object a coroutine refers to).
// Thread safety: operations may run concurrently from several tasks and threads (two reads at
// once each get some of the bytes, in no defined split, as with the system calls).
#pragma once

#include <sys/socket.h>

#include <cerrno>
#include <cstddef>
#include <concepts>
#include <cstdint>
#include <span>
#include <stop_token>
#include <utility>

#include "brigade/detail/io_source.hpp"
#include "brigade/net/endpoint.hpp"
#include "brigade/runtime/task.hpp"

namespace brigade {
class runtime;
}

namespace brigade::detail {

/// A call on a byte stream that says how much it asked for: a shorter transfer (but not 0, the
/// end of the stream) means the socket is drained in that direction (io_source::mark_drained).
template <class Call>
concept stream_transfer = requires(const Call& call) {
  { call.requested() } -> std::convertible_to<std::size_t>;
};

/// Registers `fd` with the runtime's reactor (io_source.hpp's register_io_source, for a
/// runtime rather than a scheduler). src/runtime/runtime.cpp.
io_source& register_io_source(runtime& rt, int fd);

// src/net/socket.cpp: the system calls that need no waiting, and the errors.
/// A non-blocking, close-on-exec socket. Throws std::system_error.
int open_socket(int family, int type, const char* operation);
[[noreturn]] void throw_socket_error(int error, const char* operation, int fd);
[[noreturn]] void throw_socket_error_at(int error, const char* operation, const net::endpoint& where);
[[noreturn]] void throw_socket_closed(const char* operation);
/// The runtime that runs the calling worker thread; usage_error elsewhere.
runtime& current_runtime_for(const char* operation);

class socket_descriptor;
/// The socket's own address (getsockname) or its peer's (getpeername). Throws std::system_error.
net::endpoint socket_name(const socket_descriptor& descriptor, bool peer);

/// The call that ends a non-blocking connect in progress (to retry_async/retry_blocking in the
/// write direction): done (0) when SO_ERROR is 0 and the socket has a peer (a socket registered
/// before it connects may report writable early: then "would block"); throws the connect's
/// error, naming `server`, when SO_ERROR has one.
struct connect_completion {
  const net::endpoint& server;
  ssize_t operator()(int fd) const;
};

/// A descriptor registered with a reactor, owned: closed by close() or the destructor.
class socket_descriptor {
 public:
  socket_descriptor() noexcept = default;
  explicit socket_descriptor(io_source& source) noexcept
      : source_(&source), registry_(source.registry), registration_(source.generation) {
    retain_io_registry(registry_);
  }
  // Moving is not synchronised with use (as for any object); close() is (see close()).
  socket_descriptor(socket_descriptor&& other) noexcept
      : source_(other.source_.exchange(nullptr, seam::memory_order::relaxed)),
        registry_(std::exchange(other.registry_, nullptr)),
        registration_(other.registration_) {}
  socket_descriptor& operator=(socket_descriptor&& other) noexcept {
    if (this != &other) {
      close();
      if (registry_ != nullptr) release_io_registry(registry_);
      source_.store(other.source_.exchange(nullptr, seam::memory_order::relaxed), seam::memory_order::relaxed);
      registry_ = std::exchange(other.registry_, nullptr);
      registration_ = other.registration_;
    }
    return *this;
  }
  ~socket_descriptor() {
    close();
    if (registry_ != nullptr) release_io_registry(registry_);
  }

  [[nodiscard]] bool is_open() const noexcept { return current() != nullptr; }
  /// Closes now: operations waiting on it end with the "closed" error. Idempotent. May be called
  /// while other threads and tasks use the socket (Go allows a Close during a Read): the pointer
  /// is atomic, and an operation that read it before holds a use of the source (or finds the
  /// registration closed), never a freed or reused one.
  void close() noexcept {
    if (io_source* source = source_.exchange(nullptr, seam::memory_order::relaxed)) source->close(registration_);
  }

  /// Runs `call(fd)` (a non-blocking system call: >= 0 done, -1 with errno) once, holding a use
  /// of the descriptor. Throws the "closed" error if it is closed.
  template <class Call>
  auto with_descriptor(Call call, const char* operation) const {
    io_source& source = checked(operation);
    io_use use(source, registration_);
    if (!use) throw_socket_closed(operation);
    return call(source.fd);
  }

  /// co_await: runs `call(fd)` until it does not say EAGAIN, waiting for readiness in
  /// `direction` in between; returns its result; throws std::system_error for other errors.
  template <class Call>
  task<std::size_t> retry_async(io_direction direction, Call call, const char* operation) const {
    return retry_loop_async(&checked(operation), registration_, direction, std::move(call), operation);
  }
  /// The same, blocking the calling thread.
  template <class Call>
  std::size_t retry_blocking(io_direction direction, Call call, const char* operation, std::stop_token token) const {
    io_source& source = checked(operation);
    io_use use(source, registration_);
    if (!use) throw_socket_closed(operation);
    for (;;) {
      const std::uint64_t seen = source.snapshot(direction);
      if constexpr (stream_transfer<Call>) {
        if (source.drained(direction, seen)) {
          if (!wait_readiness_blocking(source, direction, seen, token)) throw_socket_closed(operation);
          continue;
        }
      }
      const auto result = call(source.fd);
      if (result >= 0) {
        note_transfer(source, direction, seen, call, result);
        return static_cast<std::size_t>(result);
      }
      const int error = errno;
      if (error == EINTR) continue;
      if (error != EAGAIN && error != EWOULDBLOCK) throw_socket_error(error, operation, source.fd);
      if (!wait_readiness_blocking(source, direction, seen, token)) throw_socket_closed(operation);
    }
  }

  /// The descriptor (for options; -1 when closed). Not protected from a concurrent close.
  [[nodiscard]] int native_handle() const noexcept {
    io_source* source = current();
    return source != nullptr ? source->fd : -1;
  }
  [[nodiscard]] io_source* source() const noexcept { return current(); }
  [[nodiscard]] std::uint32_t registration() const noexcept { return registration_; }

 private:
  io_source& checked(const char* operation) const {
    io_source* source = current();
    if (source == nullptr) throw_socket_closed(operation);
    return *source;
  }

  template <class Call>
  static task<std::size_t> retry_loop_async(io_source* source, std::uint32_t registration, io_direction direction,
                                            Call call, const char* operation) {
    io_use use(*source, registration);
    if (!use) throw_socket_closed(operation);
    for (;;) {
      const std::uint64_t seen = source->snapshot(direction);
      if constexpr (stream_transfer<Call>) {
        if (source->drained(direction, seen)) {
          if (!co_await readiness_awaiter(*source, direction, seen)) throw_socket_closed(operation);
          continue;
        }
      }
      const auto result = call(source->fd);
      if (result >= 0) {
        note_transfer(*source, direction, seen, call, result);
        co_return static_cast<std::size_t>(result);
      }
      const int error = errno;
      if (error == EINTR) continue;
      if (error != EAGAIN && error != EWOULDBLOCK) throw_socket_error(error, operation, source->fd);
      if (!co_await readiness_awaiter(*source, direction, seen)) throw_socket_closed(operation);
    }
  }

  template <class Call, class Result>
  static void note_transfer(io_source& source, io_direction direction, std::uint64_t seen, const Call& call,
                            Result result) noexcept {
    if constexpr (stream_transfer<Call>) {
      const auto transferred = static_cast<std::size_t>(result);
      if (transferred > 0 && transferred < call.requested()) source.mark_drained(direction, seen);
    }
  }

  io_source* current() const noexcept { return source_.load(seam::memory_order::relaxed); }

  // The registration this object names, or null once closed. Sources are never freed while the
  // registry lives (they are reused, under a new generation, which registration_ tells apart),
  // and the registry lives while an object names it (registry_, even after the runtime is gone).
  seam::atomic<io_source*> source_{nullptr};
  void* registry_ = nullptr;
  std::uint32_t registration_ = 0;
};

}  // namespace brigade::detail
