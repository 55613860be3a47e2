// See brigade/net/unix.hpp.
#include "brigade/net/unix.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

#include "brigade/runtime/runtime.hpp"

namespace brigade::net {
namespace {

void require_path(const endpoint& where, const char* operation) {
  if (!where.is_unix())
    throw std::invalid_argument(std::string("brigade: ") + operation + " to " + where.to_string() +
                                " (not a Unix socket path)");
}

}  // namespace

// A Unix stream socket connects (or fails) at once: a full backlog is EAGAIN, an error (as in Go
// and Tokio: no readiness of the connecting socket says when the listener has room), which is
// what detail::connect_descriptor's start does with EAGAIN for every family.
task<unix_stream> unix_stream::connect_async(endpoint server) {
  require_path(server, "unix_stream::connect_async");
  co_return unix_stream(co_await detail::connect_descriptor_async(server));
}

unix_stream unix_stream::connect(runtime& rt, const endpoint& server, std::stop_token token) {
  require_path(server, "unix_stream::connect");
  return unix_stream(detail::connect_descriptor(rt, server, std::move(token)));
}

unix_listener::unix_listener(unix_listener&& other) noexcept
    : descriptor_(std::move(other.descriptor_)),
      created_(std::exchange(other.created_, std::string())),
      device_(other.device_),
      inode_(other.inode_),
      unlink_on_close_(other.unlink_on_close_) {}

unix_listener& unix_listener::operator=(unix_listener&& other) noexcept {
  if (this != &other) {
    close();
    descriptor_ = std::move(other.descriptor_);
    created_ = std::exchange(other.created_, std::string());
    device_ = other.device_;
    inode_ = other.inode_;
    unlink_on_close_ = other.unlink_on_close_;
  }
  return *this;
}

unix_listener unix_listener::bind(const endpoint& where, listen_options options) {
  return bind(detail::current_runtime_for("unix_listener::bind"), where, options);
}

unix_listener unix_listener::bind(runtime& rt, const endpoint& where, listen_options options) {
  require_path(where, "unix_listener::bind");
  detail::socket_descriptor descriptor = detail::bind_socket(rt, where, options, SOCK_STREAM, "unix_listener::bind");
  // Remember which file bind created (by absolute path, device and inode), to remove that file
  // and no other at close.
  const std::string path = where.path();
  struct stat created {};
  if (::stat(path.c_str(), &created) != 0) return unix_listener(std::move(descriptor), std::string(), 0, 0);
  std::error_code ignored;
  std::string absolute = std::filesystem::absolute(path, ignored).string();
  if (absolute.empty()) absolute = path;
  return unix_listener(std::move(descriptor), std::move(absolute), static_cast<std::uint64_t>(created.st_dev),
                       static_cast<std::uint64_t>(created.st_ino));
}

void unix_listener::close() noexcept {
  if (!created_.empty()) {
    const std::string path = std::exchange(created_, std::string());
    struct stat now {};
    if (unlink_on_close_ && ::lstat(path.c_str(), &now) == 0 && S_ISSOCK(now.st_mode) &&
        static_cast<std::uint64_t>(now.st_dev) == device_ && static_cast<std::uint64_t>(now.st_ino) == inode_)
      ::unlink(path.c_str());
  }
  descriptor_.close();
}

endpoint unix_listener::local_endpoint() const { return detail::socket_name(descriptor_, false); }

}  // namespace brigade::net
