// echo_load_client.cpp: the load generator of the tcp_echo benchmark, shared by every echo server
// (brigade's, Go's net package in peers/go_net.go, the plain C epoll server in
// peers/epoll_echo_server.cpp), so that only the server differs from one implementation to the
// next. It does not depend on brigade.
//
// What it measures (echo mode, the default): --connections N (default 100) TCP connections to
// --host:--port, each with exactly one --size-byte message (default 64) in flight: write the
// message, wait until all of it has come back, compare it byte for byte with what was sent (every
// message has its own content), write the next one. One thread, level-triggered epoll; a socket
// is watched for EPOLLOUT only while a write is incomplete (never, in practice, for 64 bytes).
// After --warmup-seconds (default 1) it counts, for --seconds (default 10), the round trips that
// complete and the latency of each (from the write to the last byte read back, steady_clock: a
// vDSO clock_gettime, ~20 ns, against the ~1 µs system calls of a round trip), and prints ONE
// JSON line:
//
//   {"impl":"go","workload":"tcp_echo","threads":2,"round":0,"iter":0,"ms":10000.1,
//    "round_trips_per_s":..,"p50_us":..,"p99_us":..,"max_us":..,"round_trips":..,
//    "connections":100,"size":64,"client_cpu_ms":..,"check":"ok"}
//
// impl, threads and round are the --impl, --threads, --round given (the server's name and thread
// count), echoed. ms is the measured window. client_cpu_ms is this process's CPU time over the
// window: client and server share this machine's cores, so it tells how much of them the
// client took. "check":"FAIL" and exit status 1 on a content mismatch, a connection error or
// close, or zero round trips in the window. Connecting is retried for up to 5 s (while the
// server starts).
//
// Hold mode (--hold [N], N default 10000): opens N connections (raising RLIMIT_NOFILE's soft
// limit to the hard one), keeps them open and idle, prints {"held":N} on stdout once all N are
// connected, then waits until stdin reaches end of file (stdin /dev/null: at once; give it a
// pipe) or SIGTERM/SIGINT arrives, closes them and exits 0. "Connected" means the kernel
// completed the handshake: the server may not have accept()ed the last ones yet, so the runner
// lets the server settle (or uses the server's own count) before it reads its RSS.
//
// How bench/run_benchmarks.py runs it: it starts the server first (e.g. `epoll_echo_server
// --port 0`), waits for its {"listening":PORT} line, runs
//
//   echo_load_client --impl NAME --threads T --round R --port PORT [--connections 100]
//                    [--size 64] [--seconds 10] [--warmup-seconds 1]
//
// reads the one JSON line, then sends the server SIGTERM. For the idle-connection figure it runs
// `echo_load_client --hold 10000 --port PORT` with stdin a pipe, waits for {"held":10000},
// measures the server's RSS, then closes the pipe (or sends SIGTERM) and SIGTERMs the server.
//
// Exit status: 0 ok, 1 failed check or connection error, 2 bad arguments.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>

#include "../bench_util.hpp"

namespace {

const char* prog = "echo_load_client";

[[noreturn]] void bad_args(const std::string& what) {
  std::fprintf(stderr, "%s: %s\n", prog, what.c_str());
  std::fprintf(stderr,
               "usage: %s --port P [--host 127.0.0.1] --impl NAME [--threads T] [--round R]\n"
               "          [--connections 100] [--size 64] [--seconds 10] [--warmup-seconds 1]\n"
               "       %s --port P [--host 127.0.0.1] --hold [N (default 10000)]\n",
               prog, prog);
  std::exit(2);
}

long long parse_int(const char* flag, const char* s, long long lo, long long hi) {
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
    bad_args(std::string(flag) + ": expected an integer in [" + std::to_string(lo) + ", " +
             std::to_string(hi) + "], got '" + s + "'");
  return v;
}

double parse_seconds(const char* flag, const char* s, double lo) {
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(s, &end);
  if (errno != 0 || end == s || *end != '\0' || !(v >= lo) || v > 1e6)
    bad_args(std::string(flag) + ": expected a number of seconds >= " + std::to_string(lo) +
             ", got '" + s + "'");
  return v;
}

struct config {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string impl;
  long long threads = 2;
  int round = 0;
  long long connections = 100;
  long long size = 64;
  double seconds = 10;
  double warmup_seconds = 1;
  long long hold = 0;  // 0: echo mode
};

config parse_args(int argc, char** argv) {
  config c;
  bool port_given = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) bad_args(std::string("missing value after ") + argv[i]);
      return argv[++i];
    };
    if (a == "--host") {
      c.host = value();
    } else if (a == "--port") {
      c.port = static_cast<int>(parse_int("--port", value(), 1, 65535));
      port_given = true;
    } else if (a == "--impl") {
      c.impl = value();
    } else if (a == "--threads") {
      c.threads = parse_int("--threads", value(), 1, 1 << 20);
    } else if (a == "--round") {
      c.round = static_cast<int>(parse_int("--round", value(), 0, 1 << 30));
    } else if (a == "--connections") {
      c.connections = parse_int("--connections", value(), 1, 1'000'000);
    } else if (a == "--size") {
      c.size = parse_int("--size", value(), 1, 1 << 20);
    } else if (a == "--seconds") {
      c.seconds = parse_seconds("--seconds", value(), 0.001);
    } else if (a == "--warmup-seconds") {
      c.warmup_seconds = parse_seconds("--warmup-seconds", value(), 0);
    } else if (a == "--hold") {
      // --hold alone (last, or followed by another flag) holds 10,000 connections.
      if (i + 1 < argc && std::string_view(argv[i + 1]).substr(0, 2) != "--")
        c.hold = parse_int("--hold", argv[++i], 1, 1'000'000);
      else
        c.hold = 10'000;
    } else {
      bad_args("unknown flag '" + std::string(a) + "'");
    }
  }
  if (!port_given) bad_args("--port is required");
  if (c.hold == 0 && c.impl.empty()) bad_args("--impl NAME is required (the server's name, echoed)");
  return c;
}

[[noreturn]] void die(const char* what, int err) {
  std::fprintf(stderr, "%s: %s: %s\n", prog, what, std::strerror(err));
  std::exit(1);
}

// Raises RLIMIT_NOFILE's soft limit to the hard one; fails if even that is below `needed`.
void raise_fd_limit(long long needed) {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) != 0) die("getrlimit(RLIMIT_NOFILE)", errno);
  if (r.rlim_cur != r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &r) != 0) die("setrlimit(RLIMIT_NOFILE)", errno);
  }
  if (r.rlim_cur != RLIM_INFINITY && static_cast<long long>(r.rlim_cur) < needed) {
    std::fprintf(stderr, "%s: RLIMIT_NOFILE hard limit %llu is below the %lld descriptors needed\n",
                 prog, static_cast<unsigned long long>(r.rlim_max), needed);
    std::exit(1);
  }
}

sockaddr_storage resolve(const config& c, socklen_t& len) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(c.port);
  if (int rc = ::getaddrinfo(c.host.c_str(), port.c_str(), &hints, &res); rc != 0 || res == nullptr) {
    std::fprintf(stderr, "%s: cannot resolve --host '%s': %s\n", prog, c.host.c_str(), ::gai_strerror(rc));
    std::exit(2);
  }
  sockaddr_storage ss{};
  std::memcpy(&ss, res->ai_addr, res->ai_addrlen);
  len = res->ai_addrlen;
  ::freeaddrinfo(res);
  return ss;
}

// Opens one connection (blocking connect, then non-blocking), TCP_NODELAY. A refused connection
// is retried until `deadline` (the server may still be starting). Exits on any other error.
int connect_one(const sockaddr_storage& addr, socklen_t len, bench::steady::time_point deadline) {
  for (;;) {
    const int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket", errno);
    int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), len);
    int err = rc == 0 ? 0 : errno;
    if (err == EINTR) {
      // The connection goes on in the background: wait for it, then read its outcome.
      pollfd p{fd, POLLOUT, 0};
      while ((rc = ::poll(&p, 1, -1)) < 0 && errno == EINTR) {
      }
      socklen_t el = sizeof err;
      if (rc < 0 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0) err = errno;
    }
    if (err == 0) {
      const int one = 1;
      if (::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) die("setsockopt(TCP_NODELAY)", errno);
      const int flags = ::fcntl(fd, F_GETFL);
      if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) die("fcntl(O_NONBLOCK)", errno);
      return fd;
    }
    ::close(fd);
    if ((err == ECONNREFUSED || err == ETIMEDOUT || err == ECONNRESET) &&
        bench::steady::now() < deadline) {
      ::usleep(20'000);
      continue;
    }
    die("connect", err);
  }
}

std::vector<int> connect_all(const config& c, long long n) {
  socklen_t len = 0;
  const sockaddr_storage addr = resolve(c, len);
  const auto deadline = bench::steady::now() + std::chrono::seconds(5);
  std::vector<int> fds;
  fds.reserve(static_cast<std::size_t>(n));
  for (long long i = 0; i < n; ++i) fds.push_back(connect_one(addr, len, deadline));
  return fds;
}

// --- hold mode ----------------------------------------------------------------------------------

int run_hold(const config& c) {
  // SIGTERM and SIGINT are blocked (before connecting, so no system call is interrupted) and
  // read from a signalfd, polled together with stdin.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  if (::sigprocmask(SIG_BLOCK, &sigs, nullptr) != 0) die("sigprocmask", errno);
  const int sfd = ::signalfd(-1, &sigs, SFD_CLOEXEC);
  if (sfd < 0) die("signalfd", errno);

  raise_fd_limit(c.hold + 16);
  std::vector<int> fds = connect_all(c, c.hold);
  std::printf("{\"held\":%lld}\n", c.hold);
  std::fflush(stdout);

  pollfd p[2] = {{STDIN_FILENO, POLLIN, 0}, {sfd, POLLIN, 0}};
  bool done = false;
  while (!done) {
    if (::poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      die("poll", errno);
    }
    if (p[1].revents & POLLIN) break;  // SIGTERM or SIGINT
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) {
      char buf[256];
      const ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
      if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) done = true;  // end of file
      if (p[0].revents & POLLNVAL) done = true;  // no stdin at all
    }
  }
  for (int fd : fds) ::close(fd);
  ::close(sfd);
  return 0;
}

// --- echo mode ----------------------------------------------------------------------------------

struct connection {
  int fd = -1;
  std::uint32_t id = 0;
  std::uint32_t seq = 0;       // messages sent so far on this connection
  std::size_t sent = 0;        // bytes of the current message written
  std::size_t got = 0;         // bytes of the current message read back
  bool watching_out = false;   // EPOLLOUT registered (a write is incomplete)
  std::int64_t t_send_ns = 0;  // when the current message's first write was issued
  unsigned char* tx = nullptr;
  unsigned char* rx = nullptr;
};

// Every message has its own content (connection id, sequence number), so a stale, reordered or
// crossed byte is caught by the comparison.
void fill_message(connection& c, std::size_t size) {
  std::uint64_t x = (static_cast<std::uint64_t>(c.id) << 32 | c.seq) * 0x9E3779B97F4A7C15ULL;
  for (std::size_t i = 0; i < size; ++i) {
    if ((i & 7) == 0) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    c.tx[i] = static_cast<unsigned char>(x >> ((i & 7) * 8));
  }
}

class echo_load {
 public:
  explicit echo_load(const config& cfg) : cfg_(cfg), size_(static_cast<std::size_t>(cfg.size)) {}

  ~echo_load() {
    for (auto& c : conns_)
      if (c.fd >= 0) ::close(c.fd);
    if (ep_ >= 0) ::close(ep_);
  }
  echo_load(const echo_load&) = delete;
  echo_load& operator=(const echo_load&) = delete;

  int run() {
    raise_fd_limit(cfg_.connections + 16);
    std::vector<int> fds = connect_all(cfg_, cfg_.connections);
    ep_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) die("epoll_create1", errno);
    buffers_.assign(fds.size() * size_ * 2, 0);
    conns_.resize(fds.size());
    for (std::size_t i = 0; i < fds.size(); ++i) {
      connection& c = conns_[i];
      c.fd = fds[i];
      c.id = static_cast<std::uint32_t>(i);
      c.tx = buffers_.data() + i * size_ * 2;
      c.rx = c.tx + size_;
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u32 = c.id;
      if (::epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev) != 0) die("epoll_ctl(ADD)", errno);
    }
    latencies_ns_.reserve(1 << 20);

    const auto start = bench::steady::now();
    const auto measure_from = start + std::chrono::duration_cast<bench::steady::duration>(
                                          std::chrono::duration<double>(cfg_.warmup_seconds));
    const auto measure_until = measure_from + std::chrono::duration_cast<bench::steady::duration>(
                                                  std::chrono::duration<double>(cfg_.seconds));
    for (auto& c : conns_)
      if (!start_message(c)) return report(0, {});

    bench::steady::time_point window_start{};
    bench::cpu_usage cpu_start{};
    std::vector<epoll_event> events(256);
    auto now = bench::steady::now();
    while (now < measure_until) {
      if (!measuring_ && now >= measure_from) {
        measuring_ = true;
        window_start = now;
        cpu_start = bench::process_cpu();
      }
      const auto next = measuring_ ? measure_until : measure_from;
      const auto left_ms = std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count() + 1;
      const int n = ::epoll_wait(ep_, events.data(), static_cast<int>(events.size()),
                                 static_cast<int>(std::min<long long>(left_ms, 100)));
      if (n < 0 && errno != EINTR) die("epoll_wait", errno);
      for (int i = 0; i < n && !failed_; ++i) {
        connection& c = conns_[events[static_cast<std::size_t>(i)].data.u32];
        const std::uint32_t e = events[static_cast<std::size_t>(i)].events;
        if ((e & EPOLLOUT) && !flush(c)) break;
        if ((e & (EPOLLIN | EPOLLERR | EPOLLHUP)) && !on_readable(c)) break;
      }
      if (failed_) break;
      now = bench::steady::now();
    }
    if (!measuring_) {  // failed during the warm-up
      window_start = now;
      cpu_start = bench::process_cpu();
    }
    const double ms = std::chrono::duration<double, std::milli>(now - window_start).count();
    const auto cpu_end = bench::process_cpu();
    return report(ms, {(cpu_end.user_ms + cpu_end.sys_ms) - (cpu_start.user_ms + cpu_start.sys_ms)});
  }

 private:
  struct cpu_ms {
    double v = 0;
  };

  bool fail(const connection& c, const char* what, int err = 0) {
    if (!failed_) {
      if (err != 0)
        std::fprintf(stderr, "%s: connection %u: %s: %s\n", prog, c.id, what, std::strerror(err));
      else
        std::fprintf(stderr, "%s: connection %u: %s\n", prog, c.id, what);
    }
    failed_ = true;
    return false;
  }

  bool start_message(connection& c) {
    fill_message(c, size_);
    c.sent = 0;
    c.got = 0;
    c.t_send_ns = bench::now_ns();
    return flush(c);
  }

  // Writes what is left of the current message; watches EPOLLOUT while some is left.
  bool flush(connection& c) {
    while (c.sent < size_) {
      const ssize_t n = ::send(c.fd, c.tx + c.sent, size_ - c.sent, MSG_NOSIGNAL);
      if (n > 0) {
        c.sent += static_cast<std::size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return watch_out(c, true);
      } else {
        return fail(c, "send", n < 0 ? errno : EPIPE);
      }
    }
    return watch_out(c, false);
  }

  bool watch_out(connection& c, bool on) {
    if (c.watching_out == on) return true;
    epoll_event ev{};
    ev.events = on ? (EPOLLIN | EPOLLOUT) : EPOLLIN;
    ev.data.u32 = c.id;
    if (::epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev) != 0) return fail(c, "epoll_ctl(MOD)", errno);
    c.watching_out = on;
    return true;
  }

  // Reads what has come back of the current message (never past its end: a server that sends
  // more than it received shows as a mismatch in the next message); when all of it is back,
  // checks it, records the latency and sends the next one.
  bool on_readable(connection& c) {
    for (;;) {
      const ssize_t n = ::recv(c.fd, c.rx + c.got, size_ - c.got, 0);
      if (n > 0) {
        c.got += static_cast<std::size_t>(n);
        if (c.got > c.sent) return fail(c, "the server sent bytes that were not sent to it");
        if (c.got < size_) continue;
        if (std::memcmp(c.rx, c.tx, size_) != 0) return fail(c, "echoed content differs from what was sent");
        if (measuring_) {
          const std::int64_t ns = bench::now_ns() - c.t_send_ns;
          latencies_ns_.push_back(static_cast<std::uint32_t>(
              std::min<std::int64_t>(ns, std::numeric_limits<std::uint32_t>::max())));
        }
        ++c.seq;
        return start_message(c);
      }
      if (n == 0) return fail(c, "the server closed the connection");
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
      return fail(c, "recv", errno);
    }
  }

  double percentile_us(double p) const {
    // sorted_ is sorted once in report()
    if (sorted_.empty()) return 0;
    auto idx = static_cast<std::size_t>(p * static_cast<double>(sorted_.size() - 1) + 0.5);
    return static_cast<double>(sorted_[std::min(idx, sorted_.size() - 1)]) / 1e3;
  }

  int report(double ms, cpu_ms client_cpu) {
    sorted_ = latencies_ns_;
    std::sort(sorted_.begin(), sorted_.end());
    const auto round_trips = static_cast<long long>(sorted_.size());
    const bool ok = !failed_ && round_trips > 0;
    if (!failed_ && round_trips == 0) std::fprintf(stderr, "%s: no round trip completed in the window\n", prog);
    bench::options o;
    o.workload = "tcp_echo";
    o.threads = static_cast<std::size_t>(cfg_.threads);
    o.round = cfg_.round;
    bench::json_line(cfg_.impl, o, 0)
        .num("ms", ms)
        .num("round_trips_per_s", ms > 0 ? static_cast<double>(round_trips) / (ms / 1e3) : 0.0)
        .num("p50_us", percentile_us(0.5))
        .num("p99_us", percentile_us(0.99))
        .num("max_us", percentile_us(1.0))
        .num("round_trips", round_trips)
        .num("connections", cfg_.connections)
        .num("size", cfg_.size)
        .num("client_cpu_ms", client_cpu.v)
        .str("check", ok ? "ok" : "FAIL")
        .print();
    return ok ? 0 : 1;
  }

  const config& cfg_;
  const std::size_t size_;
  int ep_ = -1;
  std::vector<connection> conns_;
  std::vector<unsigned char> buffers_;
  std::vector<std::uint32_t> latencies_ns_, sorted_;
  bool measuring_ = false;
  bool failed_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc > 0 && argv[0] != nullptr) prog = argv[0];
  const config cfg = parse_args(argc, argv);
  if (cfg.hold > 0) return run_hold(cfg);
  echo_load load(cfg);
  return load.run();
}
