// runtime_net.cpp: brigade's TCP servers for the reactor's benchmarks (issue 16). Peers: Go's net
// package (bench/peers/go_net.go, the same two modes) and a hand-written single-threaded epoll
// server in C (bench/peers/epoll_echo_server.cpp, echo only). The load comes from
// bench/peers/echo_load_client.cpp, the same for every server.
//
//   brigade_net --workload tcp_echo_server [--port 0] [--host 127.0.0.1] [--threads 2]
//               [--bufsize 65536]
//       A runtime with --threads workers; a tcp_listener; one task per accepted connection:
//       set_nodelay(true) (as the peers: Go sets it by default), then read_some_async into its
//       own --bufsize buffer and write_all_async back what was read, until the peer closes. Prints
//       {"listening":PORT} once listening and serves until SIGTERM/SIGINT, then shuts the runtime
//       down and exits 0.
//
//   brigade_net --workload idle_connections_server [--port 0] [--expect N] [--threads 2]
//               [--round R] [--bufsize 65536]
//       The same server. Once --expect N connections have been accepted (and their tasks have
//       reached read_some_async), prints
//         {"impl":"brigade","workload":"idle_connections","threads":2,"round":0,"iter":0,
//          "connections":N,"rss_before":..,"rss_bytes":..,"bytes_per_connection":..,
//          "buffer_bytes":65536,"check":"ok"}
//       and keeps the connections until SIGTERM/SIGINT. Measured exactly as go_net's idle mode:
//       rss_before is read from /proc/self/statm once the runtime is up and the listener bound,
//       before the first accept; at the measurement, it waits (at most 1000 x 1 ms) until every
//       accepted connection's task has reached its read, sleeps 100 ms, reads the RSS
//       (rss_bytes) and reports bytes_per_connection = (rss_bytes - rss_before) / connections
//       accepted. check is FAIL when fewer than --expect were accepted.
//
// The per-connection buffer is allocated uninitialised (make_unique_for_overwrite), as Go's
// make([]byte, 64 KiB) takes zeroed pages from the OS without touching them: an idle
// connection's buffer costs address space, and the pages malloc writes its chunk headers on.
//
// The reactor's backend is the runtime's default (io_backend::automatic: io_uring where the
// kernel allows it, else epoll; BRIGADE_IO_BACKEND=epoll|io_uring overrides it); it is named on
// standard error at start and in the idle_connections line (io_backend).
//
// Signals: SIGTERM and SIGINT are blocked in main before the runtime starts (its threads inherit
// the mask), and main waits for them with sigwait (sigtimedwait while it polls for the idle
// measurement), so no worker's system call is ever interrupted.
//
// How bench/run_benchmarks.py runs it: start the server, wait for its {"listening":PORT} line,
// run echo_load_client against PORT (or `echo_load_client --hold N` against
// `--workload idle_connections_server --expect N`, then read the server's line), SIGTERM the
// server, expect exit status 0. Exit status 2 on bad arguments, 1 on a setup error or a failed
// check.
#include <signal.h>
#include <sys/resource.h>

#include <brigade/brigade.hpp>
#include <brigade/net/tcp.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <system_error>
#include <thread>

#include "bench_util.hpp"

namespace {

const char* prog = "brigade_net";

struct config {
  std::string workload;
  std::string host = "127.0.0.1";
  int port = 0;
  std::size_t threads = 2;
  int round = 0;
  long long expect = 0;
  std::size_t bufsize = 64 * 1024;
};

[[noreturn]] void bad_args(const std::string& what) {
  std::fprintf(stderr,
               "%s: %s\nusage: %s --workload tcp_echo_server|idle_connections_server [--port 0] "
               "[--host 127.0.0.1] [--threads 2] [--round R] [--expect N] [--bufsize 65536]\n",
               prog, what.c_str(), prog);
  std::exit(2);
}

long long parse_int(const char* flag, const char* s, long long lo, long long hi) {
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
    bad_args(std::string(flag) + ": expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
             "], got '" + s + "'");
  return v;
}

config parse_args(int argc, char** argv) {
  config c;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) bad_args("missing value after " + std::string(a));
      return argv[++i];
    };
    if (a == "--workload") {
      c.workload = value();
    } else if (a == "--host") {
      c.host = value();
    } else if (a == "--port") {
      c.port = static_cast<int>(parse_int("--port", value(), 0, 65535));
    } else if (a == "--threads") {
      c.threads = static_cast<std::size_t>(parse_int("--threads", value(), 1, 1024));
    } else if (a == "--round") {
      c.round = static_cast<int>(parse_int("--round", value(), 0, 1 << 30));
    } else if (a == "--expect") {
      c.expect = parse_int("--expect", value(), 0, 10'000'000);
    } else if (a == "--bufsize") {
      c.bufsize = static_cast<std::size_t>(parse_int("--bufsize", value(), 1, 1 << 30));
    } else if (a == "--iters" || a == "--max-ms" || a == "--idle-ms" || a == "--n") {
      (void)value();  // the runner's common flags: ignored
    } else {
      bad_args("unknown flag '" + std::string(a) + "'");
    }
  }
  if (c.workload != "tcp_echo_server" && c.workload != "idle_connections_server")
    bad_args("--workload must be tcp_echo_server or idle_connections_server");
  return c;
}

std::atomic<long long> accepted{0};  // connections accepted
std::atomic<long long> reading{0};   // connection tasks that have reached their first read

// One connection: echo what arrives until the peer closes (or resets).
brigade::task<void> serve(brigade::net::tcp_stream stream, std::size_t bufsize) {
  try {
    stream.set_nodelay(true);
    const auto buffer = std::make_unique_for_overwrite<std::byte[]>(bufsize);
    const std::span<std::byte> whole(buffer.get(), bufsize);
    reading.fetch_add(1, std::memory_order_relaxed);
    while (const std::size_t n = co_await stream.read_some_async(whole))
      co_await stream.write_all_async(whole.first(n));
  } catch (const std::system_error&) {
    // ECONNRESET, EPIPE: the client went away; the connection ends.
  }
}

brigade::task<void> accept_loop(const brigade::net::tcp_listener& listener, std::size_t bufsize) {
  for (;;) {
    auto [stream, peer] = co_await listener.accept_async();
    accepted.fetch_add(1, std::memory_order_relaxed);
    brigade::spawn(serve(std::move(stream), bufsize)).detach();
  }
}

brigade::task<int> warm_up() { co_return 1; }

// As go_net's measureIdle: let every accepted connection's task reach its read, settle 100 ms,
// read the RSS.
bool measure_idle(const config& c, long long rss_before, const char* backend) {
  for (int i = 0; i < 1000 && reading.load(std::memory_order_relaxed) < accepted.load(std::memory_order_relaxed);
       ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const long long n = accepted.load(std::memory_order_relaxed);
  const long long rss = bench::rss_bytes();
  const double per_connection = n > 0 ? static_cast<double>(rss - rss_before) / static_cast<double>(n) : 0.0;
  const bool ok = n > 0 && (c.expect == 0 || n >= c.expect);
  bench::options o;
  o.workload = "idle_connections";
  o.threads = c.threads;
  o.round = c.round;
  bench::json_line("brigade", o, 0)
      .num("connections", n)
      .num("rss_before", rss_before)
      .num("rss_bytes", rss)
      .num("bytes_per_connection", per_connection)
      .num("buffer_bytes", static_cast<unsigned long long>(c.bufsize))
      .num("tasks_reading", reading.load(std::memory_order_relaxed))
      .str("io_backend", backend)
      .str("check", ok ? "ok" : "FAIL")
      .print();
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 0 && argv[0] != nullptr) prog = argv[0];
  const config c = parse_args(argc, argv);

  // As many descriptors as allowed (the idle-connection measurement holds 10,000).
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur != r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &r);
  }

  // Blocked before the runtime starts: every thread it makes inherits the mask, and the signal
  // is taken only by main's sigwait.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  if (::pthread_sigmask(SIG_BLOCK, &sigs, nullptr) != 0) {
    std::fprintf(stderr, "%s: pthread_sigmask failed\n", prog);
    return 1;
  }

  brigade::runtime rt({.worker_threads = c.threads});
  if (rt.block_on(warm_up()) != 1) return 1;
  brigade::net::tcp_listener listener;
  try {
    listener = brigade::net::tcp_listener::bind(rt, brigade::net::endpoint::from(c.host, static_cast<std::uint16_t>(c.port)));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: listen on %s:%d: %s\n", prog, c.host.c_str(), c.port, e.what());
    return 1;
  }
  const long long rss_before = bench::rss_bytes();  // as go_net: after listen, before any accept
  std::printf("{\"listening\":%u}\n", static_cast<unsigned>(listener.local_endpoint().port()));
  std::fflush(stdout);
  std::fprintf(stderr, "%s: io backend %s, %zu workers\n", prog, rt.io_backend_name(), c.threads);

  rt.spawn(accept_loop(listener, c.bufsize)).detach();

  bool ok = true;
  if (c.workload == "idle_connections_server" && c.expect > 0) {
    // Poll the count every 5 ms (as go_net), taking a signal that comes first.
    const timespec five_ms{0, 5'000'000};
    for (;;) {
      if (accepted.load(std::memory_order_relaxed) >= c.expect) {
        ok = measure_idle(c, rss_before, rt.io_backend_name());
        break;
      }
      if (::sigtimedwait(&sigs, nullptr, &five_ms) > 0) {
        std::fprintf(stderr, "%s: signalled after %lld of %lld connections\n", prog,
                     accepted.load(std::memory_order_relaxed), c.expect);
        rt.shutdown();
        return 1;
      }
    }
  }
  int signal_number = 0;
  while (::sigwait(&sigs, &signal_number) != 0) {
  }
  rt.shutdown();  // destroys the accept loop and every connection task (closing their sockets)
  return ok ? 0 : 1;
}
