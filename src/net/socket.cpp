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

runtime& current_runtime_for(const char* operation) {
  runtime* current = runtime::current();
  if (current == nullptr)
    throw usage_error(std::string("brigade: ") + operation +
                      " outside a runtime's worker thread: pass the runtime (the overload that takes a runtime&)");
  return *current;
}

}  // namespace brigade::detail
