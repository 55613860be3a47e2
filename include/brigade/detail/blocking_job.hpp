// brigade/detail/blocking_job.hpp: a call handed to the runtime's blocking pool
// (spawn_blocking), and its record, which a join_handle<T> observes like a spawned task's.
//
// Thread safety: a job is run or cancelled exactly once, by the pool; the join protocol in
// spawn_record.hpp publishes its result.
#pragma once

#include <exception>
#include <functional>
#include <type_traits>
#include <utility>

#include "brigade/detail/spawn_record.hpp"

namespace brigade::detail {

/// What the blocking pool queues. Intrusive: no allocation beyond the job itself.
struct blocking_job {
  using job_function = void (*)(blocking_job*) noexcept;
  job_function run;     // runs the call, publishes the result
  job_function cancel;  // publishes task_cancelled without running (pool shutting down)
};

void submit_blocking(scheduler& sched, blocking_job& job);

template <class T, class Function>
struct blocking_record final : spawn_record<T>, blocking_job, pool_allocated {
  blocking_record(std::uint32_t runtime_serial, Function&& call)
      : spawn_record<T>(runtime_serial, &operate),
        blocking_job{&run_job, &cancel_job},
        function_(std::move(call)) {}

 private:
  static void run_job(blocking_job* job) noexcept {
    auto* record = static_cast<blocking_record*>(job);
    if (record->stop_.stop_requested()) {
      record->store_cancelled("brigade: blocking call cancelled before it started");
    } else {
      try {
        if constexpr (std::is_void_v<T>) {
          std::invoke(record->function_);
          record->result_.set_value();
        } else {
          record->result_.set_value(std::invoke(record->function_));
        }
      } catch (...) {
        record->result_.set_error(std::current_exception());
        record->failed_ = !is_cancellation(record->result_.error());
      }
    }
    record->finish();
  }
  static void cancel_job(blocking_job* job) noexcept { static_cast<blocking_record*>(job)->join_state::cancel(); }
  // The record's hook (join_state): only its two requests reach it, as no promise points here.
  static std::coroutine_handle<> operate(task_completion* self, promise_base& request) noexcept {
    auto* record = static_cast<blocking_record*>(static_cast<join_state*>(self));
    if (&request == &destroy_record_request) {
      spawn_record<T>::destroy(record);
    } else {
      record->store_cancelled("brigade: blocking call cancelled by runtime shutdown");
      record->finish();
    }
    return std::noop_coroutine();
  }

  Function function_;
};

}  // namespace brigade::detail
