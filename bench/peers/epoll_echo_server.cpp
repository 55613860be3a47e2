// epoll_echo_server.cpp: the "plain single-threaded C epoll server" peer of brigade's TCP echo
// server (benchmark tcp_echo, and the idle-connection RSS measured with echo_load_client --hold).
// It does not depend on brigade. It is what a careful C programmer writes by hand: one thread,
// no framework, the floor that a runtime's echo server is compared with.
//
//   epoll_echo_server [--port P] [--host 127.0.0.1]
//
// Listens on --host:--port (port 0: the kernel picks one), prints {"listening":PORT} on stdout
// (flushed) once listening, and echoes back whatever every connection sends until SIGTERM or
// SIGINT, then closes everything and exits 0. Exit status 2 on bad arguments, 1 on a setup error.
//
// Design: one edge-triggered epoll set holding the listening socket, a signalfd (SIGTERM/SIGINT,
// so that no system call is ever interrupted) and every connection, each registered once for
// EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET (no epoll_ctl per message). Accepted sockets are
// non-blocking with TCP_NODELAY (as Go's net package sets by default). A readable connection is
// read into one shared 64 KiB buffer and written straight back; a read shorter than the buffer
// means the socket was drained (with edge triggering, data that arrives later raises a new
// event), so the usual extra read that fails with EAGAIN is skipped, except after EPOLLRDHUP.
// When the socket buffer is full, what was not written is kept in the connection's own buffer
// (allocated only then) and the connection is not read any more until an EPOLLOUT edge lets it
// be flushed: no data is lost and no buffer grows without bound. An idle connection costs one
// 24-byte record. accept() failing with EMFILE/ENFILE is handled with a spare descriptor (closed,
// the pending connection accepted and closed, reopened), so an edge-triggered listener never
// stalls with connections left in its backlog.
//
// How bench/run_benchmarks.py runs it: it starts `epoll_echo_server --port 0`, waits for the
// {"listening":PORT} line, runs echo_load_client against PORT (or echo_load_client --hold N and
// then reads this process's RSS), then sends SIGTERM and waits for exit status 0.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

const char* prog = "epoll_echo_server";

[[noreturn]] void bad_args(const std::string& what) {
  std::fprintf(stderr, "%s: %s\nusage: %s [--port P (0: any)] [--host 127.0.0.1]\n", prog, what.c_str(), prog);
  std::exit(2);
}

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "%s: %s: %s\n", prog, what, std::strerror(errno));
  std::exit(1);
}

// One connection. `pending` holds what could not be written yet (nullptr when all was written);
// while it is non-empty the connection is not read.
struct connection {
  int fd;
  unsigned pending_off;
  unsigned pending_len;
  char* pending;
};

// The listening socket and the signalfd are told apart from connections by these two markers in
// epoll_event.data.ptr.
char listener_tag, signal_tag;

constexpr std::size_t read_buffer_size = 64 * 1024;
char read_buffer[read_buffer_size];

int epfd = -1;
int listen_fd = -1;
int spare_fd = -1;  // a descriptor kept open to be given up when accept() fails with EMFILE
std::vector<connection*> by_fd;  // the open connections, indexed by descriptor

void close_connection(connection* c) {
  ::close(c->fd);  // also removes it from the epoll set
  by_fd[static_cast<std::size_t>(c->fd)] = nullptr;
  std::free(c->pending);
  delete c;
}

// Writes buf[0, len) to c; what the socket does not take goes to c->pending. Returns false if the
// connection failed (the caller closes it).
bool write_or_keep(connection* c, const char* buf, std::size_t len) {
  std::size_t off = 0;
  while (off < len) {
    const ssize_t n = ::send(c->fd, buf + off, len - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += static_cast<std::size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      const std::size_t left = len - off;
      c->pending = static_cast<char*>(std::malloc(left));
      if (c->pending == nullptr) return false;
      std::memcpy(c->pending, buf + off, left);
      c->pending_off = 0;
      c->pending_len = static_cast<unsigned>(left);
      return true;
    } else {
      return false;  // EPIPE, ECONNRESET, ...
    }
  }
  return true;
}

// Writes out c->pending. Returns false if the connection failed; on return, c->pending is nullptr
// when all was written.
bool flush_pending(connection* c) {
  while (c->pending_off < c->pending_len) {
    const ssize_t n = ::send(c->fd, c->pending + c->pending_off, c->pending_len - c->pending_off, MSG_NOSIGNAL);
    if (n > 0) {
      c->pending_off += static_cast<unsigned>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return true;  // still full: the next EPOLLOUT edge resumes
    } else {
      return false;
    }
  }
  std::free(c->pending);
  c->pending = nullptr;
  c->pending_off = c->pending_len = 0;
  return true;
}

// Reads and echoes until the socket is drained or full. Returns false when the connection is to
// be closed (end of stream or error).
bool echo(connection* c, bool peer_shut_down) {
  for (;;) {
    const ssize_t n = ::read(c->fd, read_buffer, read_buffer_size);
    if (n > 0) {
      if (!write_or_keep(c, read_buffer, static_cast<std::size_t>(n))) return false;
      if (c->pending != nullptr) return true;  // full: stop reading until EPOLLOUT
      if (static_cast<std::size_t>(n) < read_buffer_size && !peer_shut_down) return true;  // drained
    } else if (n == 0) {
      return false;  // the peer closed
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return true;
    } else {
      return false;
    }
  }
}

void on_connection_event(connection* c, std::uint32_t events) {
  if (events & EPOLLERR) {
    close_connection(c);
    return;
  }
  bool may_read = (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) != 0;
  if (c->pending != nullptr) {
    if (!(events & EPOLLOUT)) return;  // not read while something waits to be written
    if (!flush_pending(c)) {
      close_connection(c);
      return;
    }
    if (c->pending != nullptr) return;
    may_read = true;  // read edges that came while it was blocked were not acted upon
  }
  if (may_read && !echo(c, (events & (EPOLLRDHUP | EPOLLHUP)) != 0)) close_connection(c);
}

// Accepts every pending connection (edge-triggered: until EAGAIN).
void on_listener() {
  for (;;) {
    const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if ((errno == EMFILE || errno == ENFILE) && spare_fd >= 0) {
        // Out of descriptors: refuse the connection (accept and close it) so that the listener's
        // backlog does not keep it forever; warn once.
        static bool warned = false;
        if (!warned) {
          std::fprintf(stderr, "%s: accept: %s: refusing connections\n", prog, std::strerror(errno));
          warned = true;
        }
        ::close(spare_fd);
        const int refused = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (refused >= 0) ::close(refused);
        spare_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (refused < 0) return;
        continue;
      }
      std::fprintf(stderr, "%s: accept: %s\n", prog, std::strerror(errno));
      return;
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto* c = new connection{fd, 0, 0, nullptr};
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = c;
    if (::epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
      std::fprintf(stderr, "%s: epoll_ctl(ADD): %s\n", prog, std::strerror(errno));
      ::close(fd);
      delete c;
      continue;
    }
    if (by_fd.size() <= static_cast<std::size_t>(fd)) by_fd.resize(static_cast<std::size_t>(fd) * 2 + 64, nullptr);
    by_fd[static_cast<std::size_t>(fd)] = c;
  }
}

int open_listener(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
  addrinfo* res = nullptr;
  const std::string port_s = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), port_s.c_str(), &hints, &res); rc != 0 || res == nullptr) {
    std::fprintf(stderr, "%s: cannot resolve --host '%s': %s\n", prog, host.c_str(), ::gai_strerror(rc));
    std::exit(2);
  }
  const int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  const int one = 1;
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) die("setsockopt(SO_REUSEADDR)");
  if (::bind(fd, res->ai_addr, res->ai_addrlen) != 0) die("bind");
  ::freeaddrinfo(res);
  if (::listen(fd, SOMAXCONN) != 0) die("listen");
  return fd;
}

int bound_port(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) die("getsockname");
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 0 && argv[0] != nullptr) prog = argv[0];
  int port = 0;
  std::string host = "127.0.0.1";
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (i + 1 >= argc && (a == "--port" || a == "--host")) bad_args("missing value after " + std::string(a));
    if (a == "--port") {
      const char* s = argv[++i];
      char* end = nullptr;
      errno = 0;
      const long v = std::strtol(s, &end, 10);
      if (errno != 0 || end == s || *end != '\0' || v < 0 || v > 65535)
        bad_args("--port: expected 0..65535, got '" + std::string(s) + "'");
      port = static_cast<int>(v);
    } else if (a == "--host") {
      host = argv[++i];
    } else {
      bad_args("unknown flag '" + std::string(a) + "'");
    }
  }

  // As many descriptors as allowed (the idle-connection measurement holds 10,000).
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur != r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &r);
  }

  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  if (::sigprocmask(SIG_BLOCK, &sigs, nullptr) != 0) die("sigprocmask");
  const int sfd = ::signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sfd < 0) die("signalfd");

  listen_fd = open_listener(host, port);
  spare_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  epfd = ::epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) die("epoll_create1");
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLET;
  ev.data.ptr = &listener_tag;
  if (::epoll_ctl(epfd, EPOLL_CTL_ADD, listen_fd, &ev) != 0) die("epoll_ctl(ADD listener)");
  ev.events = EPOLLIN;
  ev.data.ptr = &signal_tag;
  if (::epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &ev) != 0) die("epoll_ctl(ADD signalfd)");

  std::printf("{\"listening\":%d}\n", bound_port(listen_fd));
  std::fflush(stdout);

  epoll_event events[256];
  bool running = true;
  while (running) {
    const int n = ::epoll_wait(epfd, events, 256, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int i = 0; i < n; ++i) {
      void* p = events[i].data.ptr;
      if (p == &listener_tag) {
        on_listener();
      } else if (p == &signal_tag) {
        running = false;
      } else {
        on_connection_event(static_cast<connection*>(p), events[i].events);
      }
    }
    // A connection closed above may still have an event later in this batch: that cannot
    // happen, because each connection appears at most once per epoll_wait.
  }

  for (connection* c : by_fd)
    if (c != nullptr) close_connection(c);
  ::close(listen_fd);
  if (spare_fd >= 0) ::close(spare_fd);
  ::close(sfd);
  ::close(epfd);
  return 0;
}
