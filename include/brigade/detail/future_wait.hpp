// brigade/detail/future_wait.hpp: how a thread or a fiber waits for a future's state (get(),
// wait(), wait_for()): a thread pool's queued job runs on the waiting thread of the same pool
// (future_state_base::help_before_waiting), and a pool thread tells its pool that it blocks, so
// that the pool can act when every thread waits while jobs are queued: start an extra thread,
// or end a wait with deadlock_error (future/thread_pool.hpp); then the gate wait of gate_wait.hpp.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <stop_token>
#include <string>

#include "brigade/detail/future_state.hpp"
#include "brigade/detail/gate_wait.hpp"
#include "brigade/detail/seam.hpp"
#include "brigade/future/future_errors.hpp"
#include "brigade/runtime/waiter.hpp"

namespace brigade::detail {

/// Implemented by a thread pool for its own threads.
class pool_thread_hooks {
 public:
  /// A pool thread's untimed wait on a future, known to its pool while it lasts. The pool ends
  /// the wait of a thread it finds deadlocked by setting `deadlocked` and requesting `stop`.
  struct wait_record {
    std::stop_source stop;
    seam::atomic<bool> deadlocked{false};
    wait_record* next = nullptr;  // the pool's list, under its lock
  };
  /// Before a pool thread blocks in an untimed wait on a future. Throws deadlock_error when the
  /// pool can do nothing else (every other thread waits, jobs are queued, no extra thread left).
  virtual void enter_wait(wait_record& record) = 0;
  virtual void leave_wait(wait_record& record) noexcept = 0;
  virtual std::string deadlock_message() const = 0;

 protected:
  ~pool_thread_hooks() = default;
};

// Never read directly: use current_pool_hooks().
inline constinit thread_local pool_thread_hooks* this_thread_pool_hooks_storage = nullptr;
BRIGADE_THREAD_LOCAL_ACCESSOR pool_thread_hooks* current_pool_hooks() noexcept {
  return this_thread_pool_hooks_storage;
}
inline void set_current_pool_hooks(pool_thread_hooks* hooks) noexcept { this_thread_pool_hooks_storage = hooks; }

/// Blocks until `state` settles (or the deadline, or the token's stop: as wait_blocking_on).
/// Returns whether it settled.
inline bool wait_for_state(future_state_base& state, std::stop_token token = {},
                           std::uint64_t deadline = thread_waiter::no_deadline) {
  if (state.is_ready()) return true;
  state.help_before_waiting();
  if (state.is_ready()) return true;
  pool_thread_hooks* pool = current_pool_hooks();
  // A timed wait ends by itself; only untimed waits of a pool's threads can deadlock the pool.
  if (pool == nullptr || deadline != thread_waiter::no_deadline)
    return wait_blocking_on(state, std::move(token), deadline);
  pool_thread_hooks::wait_record record;
  pool->enter_wait(record);
  struct leave_on_exit {
    pool_thread_hooks* pool;
    pool_thread_hooks::wait_record& record;
    ~leave_on_exit() { pool->leave_wait(record); }
  } leave{pool, record};
  // The caller's token stops the wait too. On the heap: see thread_stop_registration.
  std::unique_ptr<std::stop_callback<std::function<void()>>> forward;
  if (token.stop_possible())
    forward = std::make_unique<std::stop_callback<std::function<void()>>>(token, [&record] { record.stop.request_stop(); });
  try {
    return wait_blocking_on(state, record.stop.get_token());
  } catch (const task_cancelled&) {
    if (record.deadlocked.load(seam::memory_order::acquire)) throw deadlock_error(pool->deadlock_message());
    throw;
  }
}

}  // namespace brigade::detail
