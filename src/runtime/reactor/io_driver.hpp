// The operating system's side of the reactor: a backend that waits for readiness of registered
// descriptors, with a timeout, and that another thread can interrupt. Two implementations:
// epoll_driver (epoll + eventfd) and uring_driver (io_uring: multishot poll requests + eventfd);
// the reactor (reactor.hpp) picks one at start (runtime_options::io_backend) and everything
// above this interface is the same for both.
//
// Thread safety: add/remove and interrupt from any thread; wait only by the reactor's holder
// (one thread at a time).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace brigade::detail {

/// What the driver tells its holder: descriptor `token` (the reactor's, opaque here) became
/// ready. `readable` also covers end of file, hang-up and error (the next system call says
/// which); `writable` likewise. `hangup`: the peer closed its side or the descriptor failed
/// (EPOLLRDHUP, EPOLLHUP, EPOLLERR): reading no longer waits for more data, so the source stops
/// skipping system calls after short reads (io_source::mark_drained).
struct io_event {
  std::uint64_t token;
  bool readable;
  bool writable;
  bool hangup = false;
};

class io_driver {
 public:
  virtual ~io_driver() = default;
  /// Registers `fd` for edge-triggered readiness in both directions. Throws std::system_error.
  virtual void add(int fd, std::uint64_t token) = 0;
  /// Deregisters `fd` (before it is closed). Never throws; errors are ignored (the descriptor
  /// is about to be closed, which ends its registration in any case under epoll).
  virtual void remove(int fd, std::uint64_t token) noexcept = 0;
  /// Waits until an event, `timeout_nanoseconds` (0: do not wait; ~0: no timeout) or
  /// interrupt(), and appends at most `capacity` events to `out`. Returns how many.
  virtual std::size_t wait(std::uint64_t timeout_nanoseconds, io_event* out, std::size_t capacity) = 0;
  /// Makes the current or next wait() return soon. Async-signal-safe, never throws.
  virtual void interrupt() noexcept = 0;
  /// "epoll" or "io_uring".
  virtual const char* name() const noexcept = 0;
};

/// Throw std::system_error when the kernel refuses (the reactor falls back to epoll when the
/// choice was automatic).
std::unique_ptr<io_driver> make_epoll_driver();
std::unique_ptr<io_driver> make_uring_driver();
/// Whether this build has the io_uring backend (liburing found at configure time).
bool uring_driver_built() noexcept;

}  // namespace brigade::detail
