// See brigade/net/socket.hpp: the system calls that need no waiting, and the errors.
#include "brigade/net/socket.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <system_error>

#include "brigade/runtime/errors.hpp"
#include "brigade/runtime/runtime.hpp"

namespace brigade::detail {

int open_socket(int family, int type, const char* operation) {
  const int fd = ::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::system_error(errno, std::system_category(), std::string("brigade: ") + operation + ": socket");
  return fd;
}

namespace {
std::string addresses_of(int fd) {
  sockaddr_storage storage{};
  socklen_t length = sizeof storage;
  std::string text;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length) == 0 && length > sizeof(sa_family_t)) {
    try {
      text += " on " + net::endpoint(reinterpret_cast<sockaddr*>(&storage), length).to_string();
    } catch (...) {
    }
  }
  length = sizeof storage;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&storage), &length) == 0 && length > sizeof(sa_family_t)) {
    try {
      text += " with " + net::endpoint(reinterpret_cast<sockaddr*>(&storage), length).to_string();
    } catch (...) {
    }
  }
  return text;
}
}  // namespace

void throw_socket_error(int error, const char* operation, int fd) {
  throw std::system_error(error, std::system_category(), std::string("brigade: ") + operation + addresses_of(fd));
}

void throw_socket_error_at(int error, const char* operation, const net::endpoint& where) {
  throw std::system_error(error, std::system_category(),
                          std::string("brigade: ") + operation + " " + where.to_string());
}

void throw_socket_closed(const char* operation) {
  throw std::system_error(std::make_error_code(std::errc::bad_file_descriptor),
                          std::string("brigade: ") + operation + ": the socket is closed");
}

net::endpoint socket_name(const socket_descriptor& descriptor, bool peer) {
  return descriptor.with_descriptor(
      [&](int fd) {
        sockaddr_storage storage{};
        socklen_t length = sizeof storage;
        const int result = peer ? ::getpeername(fd, reinterpret_cast<sockaddr*>(&storage), &length)
                                : ::getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length);
        if (result != 0) throw_socket_error(errno, peer ? "getpeername" : "getsockname", fd);
        return net::endpoint(reinterpret_cast<sockaddr*>(&storage), length);
      },
      peer ? "peer_endpoint" : "local_endpoint");
}

ssize_t connect_completion::operator()(int fd) const {
  int error = 0;
  socklen_t length = sizeof error;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
  if (error != 0) throw_socket_error_at(error, "connect to", server);
  sockaddr_storage peer{};
  socklen_t peer_length = sizeof peer;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_length) == 0) return 0;
  errno = EAGAIN;
  return -1;
}

runtime& current_runtime_for(const char* operation) {
  runtime* current = runtime::current();
  if (current == nullptr)
    throw usage_error(std::string("brigade: ") + operation +
                      " outside a runtime's worker thread: pass the runtime (the overload that takes a runtime&)");
  return *current;
}

}  // namespace brigade::detail
