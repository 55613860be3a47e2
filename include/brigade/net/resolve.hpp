// brigade/net/resolve.hpp: name lookup: the endpoints of a host name (or a numeric address) and
// a port, for connecting.
//
//   auto addresses = co_await brigade::net::resolve_async("example.com", 443);  // in a task
//   auto stream = co_await brigade::net::tcp_stream::connect_async(addresses.front());
//   auto same = brigade::net::resolve("example.com", 443);                       // on a plain thread
//
// How: getaddrinfo(3) (so /etc/hosts, nsswitch.conf and the system's DNS settings apply, as for
// every program on the machine). It blocks, possibly for seconds, so resolve_async runs it on
// the runtime's blocking pool (brigade::spawn_blocking) and the awaiting task's worker runs
// other tasks meanwhile; resolve runs it on the calling thread.
//
// Guarantees: the result is not empty; it holds IPv4 and IPv6 endpoints in getaddrinfo's order
// (RFC 6724's preference: try them in turn), each once, each with `port`. A numeric address
// ("127.0.0.1", "::1") resolves to itself without a lookup. `host` is a name or a numeric
// address, without brackets or a port ("[::1]:80" is for endpoint::parse).
//
// Errors: an empty host, or one with a NUL, is std::invalid_argument. A failed lookup throws
// std::system_error naming the host ("brigade: resolve \"nonexistent.invalid\": Name or service
// not known"), its code an EAI_* value of <netdb.h> in resolve_category() (messages from
// gai_strerror): EAI_NONAME (no such host), EAI_AGAIN (temporary: the DNS server did not answer;
// try again later), EAI_FAIL, ...; compare with std::error_code(EAI_NONAME,
// brigade::net::resolve_category()). EAI_SYSTEM is reported as the errno it stands for, in
// std::system_category().
// Cancellation: a stop request (abort, a timeout) ends resolve_async at once with
// task_cancelled; getaddrinfo cannot be interrupted, so the lookup itself runs to its end on the
// blocking pool and its result is dropped (runtime shutdown waits for it: use shutdown_timeout
// where that matters). resolve has no stop token for the same reason.
// Thread safety: each call is independent (getaddrinfo is thread-safe). resolve on a worker
// thread throws usage_error (it would stall the worker: co_await resolve_async there);
// resolve_async awaited off a runtime throws usage_error.
#pragma once

#include <cstdint>
#include <string>
#include <system_error>
#include <vector>

#include "brigade/net/endpoint.hpp"
#include "brigade/runtime/task.hpp"

namespace brigade::net {

/// The category of a lookup's EAI_* codes (negative numbers in glibc); name "brigade.resolve".
const std::error_category& resolve_category() noexcept;

/// co_await: the endpoints of `host` with `port` (see the top of this header).
[[nodiscard("co_await the lookup")]] task<std::vector<endpoint>> resolve_async(std::string host, std::uint16_t port);

/// The thread form: blocks the calling thread for the lookup.
std::vector<endpoint> resolve(const std::string& host, std::uint16_t port);

}  // namespace brigade::net
