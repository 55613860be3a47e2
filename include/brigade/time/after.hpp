// brigade/time/after.hpp: a channel that receives the time once a duration has passed (Go's
// time.After), so that a deadline is one more case of a select.
//
//   std::optional<job> next;  std::optional<std::chrono::steady_clock::time_point> expired;
//   auto deadline = brigade::after(100ms);            // from a task on a runtime
//   switch (co_await brigade::select_async(brigade::recv_case(jobs, next),
//                                          brigade::recv_case(deadline, expired))) {
//     case 0: ...; break;                             // a job came first
//     case 1: ...; break;                             // 100 ms passed first
//   }
//   auto limit = brigade::after(rt, 2s);               // from a plain thread: name the runtime
//
// after(d) returns the receiving end of a channel of capacity 1; a timer of the runtime's wheel
// sends steady_clock::now() on it once `d` has passed (at once for a duration that has passed),
// then drops the sending end: the receiver gets the one time point, then sees the channel closed.
// after_at(t) does the same at a steady_clock time point. A select that takes another case leaves
// the timer running, as Go's does: it fires into the buffer (nobody waits for it) and frees
// itself; dropping the receiver does not stop it either. For a wait that should end at a deadline
// and leave nothing behind, prefer brigade::timeout (time/timeout.hpp).
// Shutdown: a runtime destroyed before the timer fired closes the channel without a value.
// Precision: the wheel's (time/sleep.hpp). Cost: one allocation for the timer and one for the
// channel. Thread safety: the receiver is an ordinary channel end.
#pragma once

#include <chrono>
#include <utility>

#include "brigade/chan/channel.hpp"
#include "brigade/detail/scheduler_hooks.hpp"
#include "brigade/detail/timer_queue.hpp"
#include "brigade/runtime/errors.hpp"
#include "brigade/runtime/runtime.hpp"
#include "brigade/runtime/waiter.hpp"

namespace brigade {
namespace detail {

/// The timer behind after(): owns itself from the moment it is parked; its wake (the deadline,
/// or the runtime's end) sends the time if the deadline passed, drops the sender and frees it.
class after_timer final : public waiter {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  after_timer(timer_queue& queue, sender<time_point> tx) noexcept
      : waiter(&fire), entry_(*this, queue), tx_(std::move(tx)) {}

  /// Parks the timer until `deadline` (seam's clock), or fires it at once if that has passed.
  static void start(timer_queue& queue, sender<time_point> tx, std::uint64_t deadline) {
    auto* timer = new after_timer(queue, std::move(tx));
    struct never_stopped {
      bool bind_unless_stopped(waiter&) noexcept { return true; }
    } registration;
    if (queue.park(timer->entry_, deadline, registration) == park_result::not_needed) {
      timer->outcome = timer_fired_outcome;
      fire(timer);
    }
  }

 private:
  static void fire(waiter* self) noexcept {
    auto* me = static_cast<after_timer*>(self);
    if (me->outcome == timer_fired_outcome) (void)me->tx_.try_send(std::chrono::steady_clock::now());
    delete me;  // drops the sender: the channel closes after its one value
  }

  timer_entry entry_;
  sender<time_point> tx_;
};

inline receiver<std::chrono::steady_clock::time_point> after_on(timer_queue& queue, std::uint64_t deadline) {
  auto [tx, rx] = make_channel<std::chrono::steady_clock::time_point>(1);
  after_timer::start(queue, std::move(tx), deadline);
  return std::move(rx);
}

inline timer_queue& timers_of_current(const char* operation) {
  worker_hot* worker = current_worker();
  if (worker == nullptr)
    throw usage_error(std::string("brigade: ") + operation +
                      " outside a runtime's worker thread: pass the runtime (after(rt, d))");
  return timers_of(*worker->owner);
}

}  // namespace detail

/// A channel that receives steady_clock::now() once `duration` has passed, on the runtime that
/// runs the calling worker thread (usage_error elsewhere).
template <class Rep, class Period>
[[nodiscard]] receiver<std::chrono::steady_clock::time_point> after(std::chrono::duration<Rep, Period> duration) {
  return detail::after_on(detail::timers_of_current("after()"), detail::deadline_after(duration));
}
/// The same on `rt`, from any thread.
template <class Rep, class Period>
[[nodiscard]] receiver<std::chrono::steady_clock::time_point> after(runtime& rt, std::chrono::duration<Rep, Period> duration) {
  return detail::after_on(detail::timers_of(rt), detail::deadline_after(duration));
}
/// A channel that receives steady_clock::now() at `when`.
template <class Duration>
[[nodiscard]] receiver<std::chrono::steady_clock::time_point> after_at(
    std::chrono::time_point<std::chrono::steady_clock, Duration> when) {
  return detail::after_on(detail::timers_of_current("after_at()"), detail::deadline_at(when));
}

}  // namespace brigade
