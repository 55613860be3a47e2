// The reactor of one runtime: the I/O driver (epoll or io_uring), the registry of descriptors
// registered with it, and the runtime's timers. It has no thread of its own: one worker at a
// time holds it and "turns" it (docs/ARCHITECTURE.md, "The reactor"):
//   - a worker with nothing to do parks *in* the driver (epoll_wait with the nearest timer as
//     timeout) instead of on its futex; unparking it interrupts the driver (an eventfd);
//   - a busy worker turns it without waiting every 61 tasks when something may be ready;
//   - the liveness monitor turns it when every worker is busy and nobody did for a while.
// A turn takes the due timers out of the wheel and the ready descriptors' waiters off their
// lists, and returns those waiters, to be woken by the caller after it updated its own state.
//
// Thread safety: try_hold/release decide the holder; turn only by the holder; everything else
// from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "brigade/detail/io_source.hpp"
#include "brigade/detail/parker.hpp"
#include "brigade/detail/seam.hpp"
#include "brigade/detail/timer_queue.hpp"
#include "brigade/runtime/runtime.hpp"
#include "io_driver.hpp"

namespace brigade::detail {

struct io_registry;

class reactor {
 public:
  /// Picks the backend (`choice`; automatic: epoll; prefer_io_uring: io_uring where the kernel
  /// allows it, else epoll; the environment variable BRIGADE_IO_BACKEND=epoll|io_uring|
  /// prefer_io_uring overrides automatic). Throws
  /// std::system_error when the forced backend cannot start. `attention` is the timer queue's
  /// (see timer_queue.hpp).
  reactor(io_backend choice, timer_queue::attention_function attention, void* context);
  ~reactor();
  reactor(const reactor&) = delete;
  reactor& operator=(const reactor&) = delete;

  timer_queue& timers() noexcept { return timers_; }
  const char* backend_name() const noexcept { return driver_->name(); }

  /// Becomes the holder unless someone is; `who` (a worker's index, or -1) is recorded for
  /// holder().
  bool try_hold(std::int64_t who) noexcept {
    if (held_.load(seam::memory_order::relaxed) || held_.exchange(true, seam::memory_order::acquire)) return false;
    holder_.store(who, seam::memory_order::relaxed);
    return true;
  }
  void release() noexcept {
    holder_.store(-1, seam::memory_order::relaxed);
    held_.store(false, seam::memory_order::release);
  }
  bool held() const noexcept { return held_.load(seam::memory_order::relaxed); }
  /// The holder's `who`, or -1 (a hint).
  std::int64_t holder() const noexcept { return holder_.load(seam::memory_order::relaxed); }

  /// The holder: takes due timers and ready descriptors' waiters and returns them chained
  /// (wait_list::wake_all). With `sleeper`, waits in the driver (through the parker, so that
  /// unparking it ends the wait) until an event, the nearest timer, or an unpark; without, only
  /// looks.
  waiter* turn(parker* sleeper);
  /// Ends the holder's wait in the driver soon (the parker's interrupt).
  void interrupt() noexcept { driver_->interrupt(); }

  /// Whether there is anything to watch: descriptors registered or timers parked (one or two
  /// relaxed loads).
  bool has_work() const noexcept {
    return registered_.load(seam::memory_order::relaxed) != 0 || timers_.earliest_tick() != timer_queue::no_tick;
  }
  /// Whether a turn without waiting may find something at `now` (a timer due, or descriptors
  /// registered and no turn for `io_poll_interval_nanoseconds`).
  bool maybe_ready(std::uint64_t now) const noexcept {
    if (timers_.maybe_due(now)) return true;
    return registered_.load(seam::memory_order::relaxed) != 0 &&
           now - last_turn_.load(seam::memory_order::relaxed) >= io_poll_interval_nanoseconds;
  }
  static constexpr std::uint64_t io_poll_interval_nanoseconds = 100'000;
  /// Descriptors registered now (one relaxed load).
  std::uint64_t registered_sources() const noexcept { return registered_.load(seam::memory_order::relaxed); }

  io_source& register_source(int fd);
  /// Closes every source still open (shutdown: waiters wake with io_closed_outcome).
  void close_all_sources() noexcept;

 private:
  std::unique_ptr<io_driver> driver_;
  timer_queue timers_;
  io_registry* registry_;  // shared with the sources; freed by the last of them and us
  seam::atomic<bool> held_{false};
  seam::atomic<std::int64_t> holder_{-1};
  seam::atomic<std::uint64_t> last_turn_{0};
  seam::atomic<std::uint64_t>& registered_;  // the registry's count of live sources
  std::array<io_event, 256> events_;         // the holder's
};

}  // namespace brigade::detail
