// brigade/signal/signals.hpp: waiting for POSIX signals (SIGINT, SIGTERM, SIGHUP, ...) from a
// task or a thread, for graceful shutdown and reloads.
//
//   brigade::task<void> serve_until_stopped() {
//     auto server = brigade::spawn(serve());
//     int which = co_await brigade::signals::wait_async({SIGINT, SIGTERM});   // which one came
//     server.abort();
//   }
//
//   brigade::signals::listener hangups({SIGHUP});        // counts from here on
//   while (true) {
//     co_await hangups.wait_async();                     // a SIGHUP during reload() is not lost
//     reload();
//   }
//
//   int which = brigade::signals::wait({SIGTERM}, token);  // a plain thread; token: std::stop_token
//
// Naming, as for every brigade wait (docs/ARCHITECTURE.md, "One naming rule"): wait_async is
// awaited by a task (usage_error off a runtime's worker), wait blocks a plain thread
// (usage_error on a worker thread).
//
// How: the first wait on a signal installs, with sigaction (SA_RESTART), a process-wide handler
// for it that only does async-signal-safe work: it increments the signal's counter (an atomic)
// and writes to the eventfd of every wait in progress. A task's wait registers its eventfd with
// its runtime's reactor and parks on its readiness; a thread's wait polls it. A waiter compares
// the counters with what it saw when it started (a listener: when it was made, then after each
// signal it returned), so a signal that arrives before the waiter parks, or between two waits of
// one listener, is not lost, and every waiter, in any runtime or thread, sees every signal.
//
// Guarantees: a wait returns one signal of its set delivered after its start (the free
// functions: after the call; a listener: after it was made or after the signal it returned
// last). Deliveries are coalesced: a signal that arrived three times since the last look is
// returned once (the kernel coalesces a pending standard signal too). When several signals of
// the set arrived, the first in the set's order is returned and a listener's next wait returns
// the next one at once. A signal that is blocked (sigprocmask) in every thread is never
// delivered, so never seen: leave the signals waited on unblocked in at least one thread.
//
// Process-wide effect: once a signal has been waited on, its handler stays installed for the
// life of the process (as in Tokio): its previous disposition, the default action (SIGINT and
// SIGTERM terminate) included, does not come back after the wait, even while nobody waits. A
// program that wants the default back installs it itself (sigaction) when it no longer waits.
//
// Errors: std::invalid_argument for an empty set, a number that is not a signal, SIGKILL and
// SIGSTOP (they cannot be caught), the synchronous fault signals SIGSEGV, SIGBUS, SIGILL and
// SIGFPE (returning from their handler would run the fault again), and the real-time signals
// the C library keeps for itself (below SIGRTMIN). std::system_error when the kernel refuses a
// descriptor (eventfd, EMFILE).
//
// Cancellation: waiting is a cancellation point. A stop request of the waiting task's scope
// ends wait_async with task_cancelled; a thread's wait ends with task_cancelled on its token's
// stop. Cancel-safe: a cancelled wait consumed nothing (a listener's next wait still returns a
// signal that arrived meanwhile). A wait that can complete at once (a signal already arrived)
// completes, stopped or not. A task's wait whose runtime shuts down ends with task_cancelled.
//
// Thread safety: the free functions may be called from any number of tasks and threads at
// once. A listener is used by one waiter at a time (it records what it returned); make one per
// waiter. Cost: a wait that parks makes an eventfd and registers it (a few system calls);
// signals are rare events.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <stop_token>
#include <utility>
#include <vector>

#include "brigade/runtime/task.hpp"

namespace brigade::signals {

/// Counts the deliveries of a set of signals from the moment it is made; each wait returns one
/// that arrived since (see the top of this header).
class listener {
 public:
  /// Installs the handlers of `signals` (see "Process-wide effect") and records their counts.
  /// Throws std::invalid_argument for a bad set (see "Errors").
  explicit listener(std::initializer_list<int> signals) : listener(std::span<const int>(signals.begin(), signals.size())) {}
  explicit listener(std::span<const int> signals);

  /// co_await: the next signal of the set (its number). The listener must outlive the wait.
  [[nodiscard("co_await the wait")]] task<int> wait_async();
  /// The thread form: blocks until the next signal of the set, or throws task_cancelled on the
  /// token's stop.
  int wait(std::stop_token token = {});

  /// The next signal of the set that arrived, without waiting; 0 when none did.
  int try_take() noexcept;

 private:
  struct watched {
    int signal;
    std::uint64_t seen;  // the signal's counter when last looked at
  };
  std::vector<watched> watched_;
};

/// co_await: the first signal of `signals` delivered after this call (its number).
[[nodiscard("co_await the wait")]] task<int> wait_async(std::initializer_list<int> signals);
/// The thread form: blocks until a signal of `signals` is delivered after this call, or throws
/// task_cancelled on the token's stop.
int wait(std::initializer_list<int> signals, std::stop_token token = {});

}  // namespace brigade::signals
