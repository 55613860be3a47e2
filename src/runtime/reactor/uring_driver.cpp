// The io_uring backend of the reactor (built when liburing is found at configure time; without
// it, make_uring_driver() throws and uring_driver_built() says false). See io_driver.hpp for the
// contract, which is the same as epoll_driver's.
//
// Design. Readiness, not completion: every registered descriptor gets one multishot poll request
// (IORING_OP_POLL_ADD with IORING_POLL_ADD_MULTI) for POLLIN | POLLOUT | POLLRDHUP, which posts a
// completion on each wake-up of the descriptor, like an edge-triggered epoll registration. The
// reactor above (registry, generations, waiter lists, timers, the idle worker parked in wait())
// is then the same for both backends, and so are the socket types: they still make their own
// non-blocking system calls and wait for readiness when told EAGAIN. Rejected for now: issuing
// the reads and writes themselves as io_uring requests (completion-based I/O). It needs buffers
// that outlive a cancelled task, a second path through every socket operation, and a way to
// cancel an in-flight request when a task's scope is stopped; it would pay off mostly for files
// and zero-copy sends, which can come later as requests next to these polls.
//
// user_data. A poll request's user_data is the address of its `registration` (8-byte aligned),
// so a completion finds its descriptor without a lookup; the low bits tag the other requests: the
// cancellation that removes a poll carries the registration's address | removal_tag, and its
// completion is ignored without touching the registration. The eventfd behind interrupt() has its
// own registration (interrupt_) watched by its own multishot poll; wait() drains it and reports
// nothing for it.
//
// Lifetime of a registration. Created by add(), indexed by token while registered; remove()
// unindexes it and submits the cancellation of its poll *before returning*: while a poll is
// armed, io_uring holds a reference to the file, so without it a socket closed right after
// remove() would stay open in the kernel and its peer would never see end of file. The
// cancellation is IORING_OP_ASYNC_CANCEL by user_data rather than IORING_OP_POLL_REMOVE: a
// POLL_REMOVE that meets the poll while the kernel is handling one of its wake-ups answers
// -EALREADY and leaves a multishot poll armed for good (seen in the tcp tests: a server's closed
// connection never reached its client); a cancellation marks the request, and whoever handles it
// ends it. The registration itself is freed when the poll's last completion (one without
// IORING_CQE_F_MORE, -ECANCELED here) has been reaped, or at once if no poll was armed.
//
// A last completion for a registration that is still registered means the multishot request
// ended on its own: the completion queue overflowed, or the thread that armed it exited (the
// kernel runs a poll's wake-ups in the context of the thread that submitted it, and cancels the
// poll once that thread is gone). It is re-armed, by the holder. The re-armed poll reports the
// descriptor's current state at once, so no wake-up is lost in between. After give_up_after last
// completions in a row without any IORING_CQE_F_MORE one (the descriptor cannot be polled), it is
// no longer re-armed: the token is reported readable and writable once, so that its waiters
// retry their system calls and see the error.
//
// Thread safety. add, remove and interrupt from any thread while the holder is in wait(): the
// submission queue, the registrations' state and the token index are guarded by mutex_ (a
// std::mutex: these are per-connection operations, not per-read ones). Only the holder (one
// thread at a time) reaps completions; it takes the mutex to submit before it sleeps and, when
// completions are there, once for the whole batch it reaps (never while it sleeps).
// interrupt() only writes to the eventfd: async-signal-safe, never throws. A
// full submission queue is submitted and retried; the completion queue is sized generously
// (completion_entries) and a multishot poll ended by its overflow is re-armed (above).
//
// A kernel that refuses. The constructor throws std::system_error when io_uring_setup fails (a
// kernel before 5.1, io_uring disabled by the kernel.io_uring_disabled sysctl, a seccomp filter
// such as a container runtime's default one), when the ring lacks IORING_FEAT_EXT_ARG (5.11: a
// wait with a timeout that takes no submission entry) or IORING_FEAT_NODROP, and when a multishot
// poll on the eventfd does not post a completion with IORING_CQE_F_MORE (before 5.13 the kernel
// rejects the flag). With io_backend::automatic the reactor then uses epoll; with
// io_backend::io_uring (or BRIGADE_IO_BACKEND=io_uring) the runtime fails to start.
#include "io_driver.hpp"

#include <system_error>

#if BRIGADE_HAVE_LIBURING
#include <liburing.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#endif

namespace brigade::detail {

#if !BRIGADE_HAVE_LIBURING

bool uring_driver_built() noexcept { return false; }
std::unique_ptr<io_driver> make_uring_driver() {
  throw std::system_error(std::make_error_code(std::errc::function_not_supported),
                          "brigade: built without liburing");
}

#else

namespace {

constexpr unsigned submission_entries = 256;
constexpr unsigned completion_entries = 4096;
constexpr unsigned readiness_events = POLLIN | POLLOUT | POLLRDHUP;
constexpr std::uint64_t tag_bits = 7;
constexpr std::uint64_t removal_tag = 1;
// Last completions in a row (no IORING_CQE_F_MORE in between) before a poll is given up.
constexpr int give_up_after = 4;
// How long the constructor waits for the probe's completion (it comes at once where supported).
constexpr long long probe_wait_nanoseconds = 1'000'000'000;

struct alignas(8) registration {
  int fd = -1;
  std::uint64_t token = 0;
  bool registered = true;      // guarded by the driver's mutex
  bool armed = false;          // a poll request is in the kernel (or queued); guarded by the mutex
  int last_in_a_row = 0;       // last completions in a row; guarded by the mutex
};

std::uint64_t user_data_of(const registration& r) noexcept { return reinterpret_cast<std::uintptr_t>(&r); }

[[noreturn]] void throw_errno(int error, const std::string& what) {
  throw std::system_error(error, std::generic_category(), "brigade: " + what);
}

class uring_driver final : public io_driver {
 public:
  uring_driver() {
    io_uring_params params{};
    params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
    params.cq_entries = completion_entries;
    if (const int rc = io_uring_queue_init_params(submission_entries, &ring_, &params); rc < 0)
      throw_errno(-rc, "io_uring_queue_init_params (io_uring_setup)");
    try {
      constexpr unsigned needed = IORING_FEAT_EXT_ARG | IORING_FEAT_NODROP;
      if ((params.features & needed) != needed)
        throw std::system_error(std::make_error_code(std::errc::function_not_supported),
                                "brigade: this kernel's io_uring lacks IORING_FEAT_EXT_ARG or "
                                "IORING_FEAT_NODROP (Linux 5.11 or later is needed)");
      interrupt_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
      if (interrupt_fd_ < 0) throw_errno(errno, "eventfd for the reactor");
      interrupt_.fd = interrupt_fd_;
      probe_multishot_poll();
    } catch (...) {
      if (interrupt_fd_ >= 0) ::close(interrupt_fd_);
      io_uring_queue_exit(&ring_);
      throw;
    }
  }

  ~uring_driver() override {
    // Closing the ring cancels every request still in it and drops their file references.
    io_uring_queue_exit(&ring_);
    ::close(interrupt_fd_);
    for (registration* r : records_) delete r;
  }

  uring_driver(const uring_driver&) = delete;
  uring_driver& operator=(const uring_driver&) = delete;

  void add(int fd, std::uint64_t token) override {
    // epoll refuses these (EPERM); a poll request would complete at once and for ever.
    struct stat status {};
    if (::fstat(fd, &status) == 0 && (S_ISREG(status.st_mode) || S_ISDIR(status.st_mode)))
      throw_errno(EPERM, "io_uring poll of descriptor " + std::to_string(fd) + " (a regular file or directory)");
    auto* r = new registration;
    r->fd = fd;
    r->token = token;
    std::lock_guard lock(mutex_);
    try {
      records_.insert(r);
    } catch (...) {
      delete r;
      throw;
    }
    try {
      if (!registered_.emplace(token, r).second)
        throw_errno(EEXIST, "io_uring poll of descriptor " + std::to_string(fd) + ": token already registered");
    } catch (...) {
      records_.erase(r);
      delete r;
      throw;
    }
    if (const int rc = arm_locked(*r); rc < 0) {
      registered_.erase(token);
      records_.erase(r);
      delete r;
      throw_errno(-rc, "io_uring submission queue (poll of descriptor " + std::to_string(fd) + ")");
    }
    if (const int rc = submit_locked(); rc < 0) {
      // The request is queued (liburing published it) and will go with a later submission: have
      // it removed right behind it, and free the registration when its last completion comes.
      registered_.erase(token);
      r->registered = false;
      queue_removal_locked(*r);
      throw_errno(-rc, "io_uring_submit (poll of descriptor " + std::to_string(fd) + ")");
    }
  }

  void remove(int, std::uint64_t token) noexcept override {
    std::unique_lock lock(mutex_);
    const auto found = registered_.find(token);
    if (found == registered_.end()) return;
    registration* r = found->second;
    registered_.erase(found);
    r->registered = false;
    if (!r->armed) {
      records_.erase(r);
      delete r;
      return;
    }
    // Submitted before returning: the caller closes the descriptor next, and the armed poll
    // holds a reference to its file until the removal has run.
    if (!queue_removal_locked(*r) || submit_locked() < 0) {
      // Left in the queue (or not queued at all: then the poll ends with the ring): the holder
      // submits what is pending before it waits, so make it come round.
      lock.unlock();
      interrupt();
    }
  }

  std::size_t wait(std::uint64_t timeout_nanoseconds, io_event* out, std::size_t capacity) override {
    {
      std::lock_guard lock(mutex_);
      if (io_uring_sq_ready(&ring_) > 0) {
        const int rc = submit_locked();
        // EAGAIN/EBUSY: the kernel is short of memory or its completion queue is full; reaping
        // below makes room, and the next wait submits again.
        if (rc < 0 && rc != -EAGAIN && rc != -EBUSY) throw_errno(-rc, "io_uring_submit");
      }
    }
    io_uring_cqe* first = nullptr;
    int rc;
    if (timeout_nanoseconds == 0) {
      rc = io_uring_peek_cqe(&ring_, &first);  // flushes an overflow, never sleeps
    } else if (timeout_nanoseconds == ~std::uint64_t{0}) {
      rc = io_uring_wait_cqe(&ring_, &first);
    } else {
      __kernel_timespec timeout{};
      timeout.tv_sec = static_cast<long long>(timeout_nanoseconds / 1'000'000'000);
      timeout.tv_nsec = static_cast<long long>(timeout_nanoseconds % 1'000'000'000);
      rc = io_uring_wait_cqe_timeout(&ring_, &first, &timeout);
    }
    if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN) throw_errno(-rc, "io_uring_wait_cqe");
    return reap(out, capacity);
  }

  void interrupt() noexcept override {
    const std::uint64_t one = 1;
    // EAGAIN (the counter is saturated) means an interrupt is pending anyway.
    [[maybe_unused]] ssize_t n = ::write(interrupt_fd_, &one, sizeof one);
  }

  const char* name() const noexcept override { return "io_uring"; }

 private:
  // Arms the eventfd's multishot poll with the eventfd already readable, so that the poll
  // completes on submission: a kernel without multishot poll answers -EINVAL (no F_MORE).
  void probe_multishot_poll() {
    interrupt();
    {
      std::lock_guard lock(mutex_);
      if (const int rc = arm_locked(interrupt_); rc < 0) throw_errno(-rc, "io_uring submission queue");
      if (const int rc = submit_locked(); rc < 0) throw_errno(-rc, "io_uring_submit (multishot poll probe)");
    }
    __kernel_timespec timeout{};
    timeout.tv_sec = probe_wait_nanoseconds / 1'000'000'000;
    timeout.tv_nsec = probe_wait_nanoseconds % 1'000'000'000;
    io_uring_cqe* cqe = nullptr;
    const int rc = io_uring_wait_cqe_timeout(&ring_, &cqe, &timeout);
    if (rc < 0) throw_errno(-rc, "io_uring_wait_cqe_timeout (multishot poll probe)");
    const bool multishot = cqe->user_data == user_data_of(interrupt_) && cqe->res > 0 &&
                           (cqe->res & POLLIN) != 0 && (cqe->flags & IORING_CQE_F_MORE) != 0;
    const int result = cqe->res;
    io_uring_cqe_seen(&ring_, cqe);
    if (!multishot)
      throw std::system_error(result < 0 ? std::error_code(-result, std::generic_category())
                                         : std::make_error_code(std::errc::function_not_supported),
                              "brigade: this kernel's io_uring has no multishot poll (Linux 5.13 or later "
                              "is needed)");
    drain_interrupt();
  }

  void drain_interrupt() noexcept {
    std::uint64_t drained;
    [[maybe_unused]] ssize_t n = ::read(interrupt_fd_, &drained, sizeof drained);
  }

  // A free submission entry, submitting what is queued when the queue is full; null if even
  // that leaves no room.
  io_uring_sqe* next_sqe_locked() noexcept {
    if (io_uring_sqe* sqe = io_uring_get_sqe(&ring_); sqe != nullptr) return sqe;
    if (submit_locked() < 0) return nullptr;
    return io_uring_get_sqe(&ring_);
  }

  // Queues r's multishot poll (submitted by the caller). 0 or -errno.
  int arm_locked(registration& r) noexcept {
    io_uring_sqe* sqe = next_sqe_locked();
    if (sqe == nullptr) return -EBUSY;
    io_uring_prep_poll_multishot(sqe, r.fd, readiness_events);
    io_uring_sqe_set_data64(sqe, user_data_of(r));
    r.armed = true;
    return 0;
  }

  // Queues the cancellation of r's poll (submitted by the caller); false if the queue has no room.
  // IORING_OP_ASYNC_CANCEL, not IORING_OP_POLL_REMOVE: a POLL_REMOVE that meets the poll while a
  // wake-up of it is being handled fails with -EALREADY and leaves a multishot poll armed (for
  // ever: the socket then never really closes); a cancellation marks the request cancelled, and
  // whoever handles it then ends it.
  bool queue_removal_locked(registration& r) noexcept {
    io_uring_sqe* sqe = next_sqe_locked();
    if (sqe == nullptr) return false;
    io_uring_prep_cancel64(sqe, user_data_of(r), 0);
    io_uring_sqe_set_data64(sqe, user_data_of(r) | removal_tag);
    return true;
  }

  // Hands every queued entry to the kernel. 0 or -errno (the entries not taken stay queued).
  int submit_locked() noexcept {
    while (io_uring_sq_ready(&ring_) > 0) {
      const int rc = io_uring_submit(&ring_);
      if (rc == -EINTR) continue;
      if (rc < 0) return rc;
      // The kernel stops a batch at an entry it fails (that entry is consumed, with an error
      // completion); the rest goes on the next round. No progress at all: give up for now.
      if (rc == 0) return -EAGAIN;
    }
    return 0;
  }

  // Under the mutex, though only the holder reaps: a registration's fields were written by the
  // thread that added it, and what orders those writes before these reads is the kernel (the
  // submission, then the completion), which ThreadSanitizer does not see; the mutex it does.
  std::size_t reap(io_event* out, std::size_t capacity) {
    if (io_uring_cq_ready(&ring_) == 0) return 0;
    std::size_t produced = 0;
    unsigned seen = 0;
    unsigned head;
    io_uring_cqe* cqe;
    bool rearmed = false;
    bool interrupted = false;
    int failure = 0;  // -errno of a failed re-arm, thrown once the queue has advanced
    {
      std::lock_guard lock(mutex_);
      io_uring_for_each_cqe(&ring_, head, cqe) {
        if (produced == capacity) break;
        ++seen;
        const std::uint64_t data = cqe->user_data;
        if ((data & tag_bits) != 0) continue;  // a cancellation's own completion
        auto* r = reinterpret_cast<registration*>(static_cast<std::uintptr_t>(data));
        const int res = cqe->res;
        const bool is_interrupt = r == &interrupt_;
        bool readable = false, writable = false, hangup = false;
        if (res > 0) {
          const auto events = static_cast<unsigned>(res);
          const bool failed = (events & (POLLERR | POLLHUP)) != 0;
          readable = failed || (events & (POLLIN | POLLRDHUP | POLLPRI)) != 0;
          writable = failed || (events & POLLOUT) != 0;
          hangup = failed || (events & POLLRDHUP) != 0;
        }
        const std::uint64_t token = r->token;
        if ((cqe->flags & IORING_CQE_F_MORE) != 0) {
          r->last_in_a_row = 0;
        } else {
          r->armed = false;
          if (!r->registered) {
            records_.erase(r);
            delete r;
          } else if (++r->last_in_a_row <= give_up_after) {
            if (const int rc = arm_locked(*r); rc < 0) failure = rc;
            else rearmed = true;
          } else if (is_interrupt) {
            failure = res < 0 ? res : -EIO;
          } else {
            readable = writable = hangup = true;  // its waiters retry their system calls and see the error
          }
        }
        if (is_interrupt) {
          interrupted = interrupted || res > 0;
          continue;
        }
        if (readable || writable) out[produced++] = io_event{token, readable, writable, hangup};
      }
      io_uring_cq_advance(&ring_, seen);
      if (rearmed) {
        const int rc = submit_locked();  // what stays queued goes with the next wait
        if (rc < 0 && rc != -EAGAIN && rc != -EBUSY && failure == 0) failure = rc;
      }
    }
    if (interrupted) drain_interrupt();
    if (failure < 0) throw_errno(-failure, "io_uring re-arming a multishot poll");
    return produced;
  }

  io_uring ring_{};
  int interrupt_fd_ = -1;
  std::mutex mutex_;
  registration interrupt_{};                                      // the eventfd's; never freed
  std::unordered_set<registration*> records_;                     // every live one (owned); guarded by mutex_
  std::unordered_map<std::uint64_t, registration*> registered_;  // by token; guarded by mutex_
};

}  // namespace

bool uring_driver_built() noexcept { return true; }
std::unique_ptr<io_driver> make_uring_driver() { return std::make_unique<uring_driver>(); }

#endif

}  // namespace brigade::detail
