// See brigade/net/resolve.hpp.
#include "brigade/net/resolve.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <utility>

#include "brigade/runtime/errors.hpp"
#include "brigade/runtime/runtime.hpp"
#include "brigade/runtime/spawn.hpp"
#include "brigade/runtime/waiter.hpp"

namespace brigade::net {
namespace {

class resolve_category_type final : public std::error_category {
 public:
  const char* name() const noexcept override { return "brigade.resolve"; }
  std::string message(int code) const override { return ::gai_strerror(code); }
  std::error_condition default_error_condition(int code) const noexcept override {
    if (code == EAI_MEMORY) return std::make_error_condition(std::errc::not_enough_memory);
    return std::error_condition(code, *this);
  }
};

/// What a lookup found, or why not (computed on the blocking pool, thrown by the caller: a
/// lookup whose awaiting task was cancelled must not report a failure nobody will see).
struct lookup_result {
  std::vector<endpoint> endpoints;
  int eai = 0;           // getaddrinfo's error (0: none)
  int system_error = 0;  // errno, for EAI_SYSTEM
};

void check_host(const std::string& host, const char* operation) {
  if (host.empty()) throw std::invalid_argument(std::string("brigade: ") + operation + " of an empty host name");
  if (host.find('\0') != std::string::npos)
    throw std::invalid_argument(std::string("brigade: ") + operation + " of a host name with a NUL byte");
}

std::optional<endpoint> numeric(const std::string& host, std::uint16_t port) {
  in6_addr scratch{};
  if (::inet_pton(AF_INET, host.c_str(), &scratch) == 1 || ::inet_pton(AF_INET6, host.c_str(), &scratch) == 1)
    return endpoint::from(host, port);
  return std::nullopt;
}

lookup_result look_up(const std::string& host, std::uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;  // one entry per address (not one per socket type)
  addrinfo* list = nullptr;
  lookup_result found;
  const int error = ::getaddrinfo(host.c_str(), nullptr, &hints, &list);
  if (error != 0) {
    found.eai = error;
    found.system_error = error == EAI_SYSTEM ? errno : 0;
    return found;
  }
  for (const addrinfo* entry = list; entry != nullptr; entry = entry->ai_next) {
    if (entry->ai_family == AF_INET && entry->ai_addrlen >= sizeof(sockaddr_in)) {
      sockaddr_in address{};
      std::memcpy(&address, entry->ai_addr, sizeof address);
      address.sin_port = htons(port);
      found.endpoints.emplace_back(reinterpret_cast<const sockaddr*>(&address), socklen_t{sizeof address});
    } else if (entry->ai_family == AF_INET6 && entry->ai_addrlen >= sizeof(sockaddr_in6)) {
      sockaddr_in6 address{};
      std::memcpy(&address, entry->ai_addr, sizeof address);
      address.sin6_port = htons(port);
      found.endpoints.emplace_back(reinterpret_cast<const sockaddr*>(&address), socklen_t{sizeof address});
    } else {
      continue;
    }
    const endpoint& added = found.endpoints.back();
    if (std::find(found.endpoints.begin(), found.endpoints.end() - 1, added) != found.endpoints.end() - 1)
      found.endpoints.pop_back();  // a duplicate (getaddrinfo repeats an address /etc/hosts lists twice)
  }
  ::freeaddrinfo(list);
  if (found.endpoints.empty()) found.eai = EAI_NONAME;
  return found;
}

std::vector<endpoint> take(lookup_result found, const std::string& host) {
  const std::string what = "brigade: resolve \"" + host + "\"";
  if (found.eai == EAI_SYSTEM) throw std::system_error(found.system_error, std::system_category(), what);
  if (found.eai != 0) throw std::system_error(found.eai, resolve_category(), what);
  return std::move(found.endpoints);
}

}  // namespace

const std::error_category& resolve_category() noexcept {
  static const resolve_category_type category;
  return category;
}

task<std::vector<endpoint>> resolve_async(std::string host, std::uint16_t port) {
  check_host(host, "resolve_async");
  if (auto address = numeric(host, port)) co_return std::vector<endpoint>{*address};
  if (runtime::current() == nullptr)
    throw usage_error("brigade: resolve_async() awaited outside a runtime (on a plain thread, call resolve())");
  lookup_result found = co_await brigade::spawn_blocking([host, port] { return look_up(host, port); });
  co_return take(std::move(found), host);
}

std::vector<endpoint> resolve(const std::string& host, std::uint16_t port) {
  check_host(host, "resolve");
  detail::refuse_blocking_on_worker("resolve()");
  if (auto address = numeric(host, port)) return {*address};
  return take(look_up(host, port), host);
}

}  // namespace brigade::net
