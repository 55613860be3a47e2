// The epoll backend of the reactor: one epoll instance; descriptors registered edge-triggered
// for input, output and peer hang-up (EPOLLET | EPOLLIN | EPOLLOUT | EPOLLRDHUP), once, for
// their whole registration; an eventfd registered level-triggered for interrupt(). The timeout
// goes to epoll_pwait2 in nanoseconds (Linux 5.11); where that call is missing (ENOSYS) it falls
// back to epoll_wait, rounding the timeout up to a whole millisecond so that a timer never fires
// early.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <ctime>
#include <system_error>

#include "io_driver.hpp"

namespace brigade::detail {
namespace {

constexpr std::uint64_t interrupt_token = ~std::uint64_t{0};

class epoll_driver final : public io_driver {
 public:
  epoll_driver() {
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) throw std::system_error(errno, std::generic_category(), "brigade: epoll_create1");
    interrupt_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (interrupt_fd_ < 0) {
      const int error = errno;
      ::close(epoll_);
      throw std::system_error(error, std::generic_category(), "brigade: eventfd for the reactor");
    }
    epoll_event interest{};
    interest.events = EPOLLIN;
    interest.data.u64 = interrupt_token;
    if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, interrupt_fd_, &interest) != 0) {
      const int error = errno;
      ::close(interrupt_fd_);
      ::close(epoll_);
      throw std::system_error(error, std::generic_category(), "brigade: epoll_ctl(ADD eventfd)");
    }
  }
  ~epoll_driver() override {
    ::close(interrupt_fd_);
    ::close(epoll_);
  }

  void add(int fd, std::uint64_t token) override {
    epoll_event interest{};
    interest.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    interest.data.u64 = token;
    if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &interest) != 0)
      throw std::system_error(errno, std::generic_category(),
                              "brigade: epoll_ctl(ADD) of descriptor " + std::to_string(fd));
  }

  void remove(int fd, std::uint64_t) noexcept override { ::epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr); }

  std::size_t wait(std::uint64_t timeout_nanoseconds, io_event* out, std::size_t capacity) override {
    std::array<epoll_event, 256> ready;
    const int room = static_cast<int>(std::min(capacity, ready.size()));
    int count = wait_for_events(timeout_nanoseconds, ready.data(), room);
    if (count < 0) {
      if (errno == EINTR) return 0;
      throw std::system_error(errno, std::generic_category(), "brigade: epoll_wait");
    }
    std::size_t produced = 0;
    for (int i = 0; i < count; ++i) {
      const epoll_event& e = ready[static_cast<std::size_t>(i)];
      if (e.data.u64 == interrupt_token) {
        std::uint64_t drained;
        [[maybe_unused]] ssize_t n = ::read(interrupt_fd_, &drained, sizeof drained);
        continue;
      }
      const bool failed = (e.events & (EPOLLERR | EPOLLHUP)) != 0;
      out[produced++] = io_event{e.data.u64, failed || (e.events & (EPOLLIN | EPOLLRDHUP | EPOLLPRI)) != 0,
                                 failed || (e.events & EPOLLOUT) != 0, failed || (e.events & EPOLLRDHUP) != 0};
    }
    return produced;
  }

  void interrupt() noexcept override {
    const std::uint64_t one = 1;
    // EAGAIN (the counter is saturated) means an interrupt is pending anyway.
    [[maybe_unused]] ssize_t n = ::write(interrupt_fd_, &one, sizeof one);
  }

  const char* name() const noexcept override { return "epoll"; }

 private:
  int wait_for_events(std::uint64_t timeout_nanoseconds, epoll_event* ready, int room) {
    if (timeout_nanoseconds == 0 || timeout_nanoseconds == ~std::uint64_t{0} || !has_pwait2_)
      return ::epoll_wait(epoll_, ready, room, milliseconds_rounded_up(timeout_nanoseconds));
    timespec timeout{};
    timeout.tv_sec = static_cast<time_t>(timeout_nanoseconds / 1'000'000'000);
    timeout.tv_nsec = static_cast<long>(timeout_nanoseconds % 1'000'000'000);
    const int count = ::epoll_pwait2(epoll_, ready, room, &timeout, nullptr);
    if (count < 0 && errno == ENOSYS) {
      has_pwait2_ = false;
      return ::epoll_wait(epoll_, ready, room, milliseconds_rounded_up(timeout_nanoseconds));
    }
    return count;
  }
  static int milliseconds_rounded_up(std::uint64_t nanoseconds) noexcept {
    if (nanoseconds == ~std::uint64_t{0}) return -1;
    const std::uint64_t milliseconds = (nanoseconds + 999'999) / 1'000'000;
    return milliseconds > 3'600'000 ? 3'600'000 : static_cast<int>(milliseconds);
  }

  int epoll_ = -1;
  int interrupt_fd_ = -1;
  bool has_pwait2_ = true;  // only the holder reads and writes it
};

}  // namespace

std::unique_ptr<io_driver> make_epoll_driver() { return std::make_unique<epoll_driver>(); }

}  // namespace brigade::detail
