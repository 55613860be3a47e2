// brigade/detail/blocking_job.hpp: a call handed to the runtime's blocking pool
// (spawn_blocking), and its record, which a join_handle<T> observes like a spawned task's.
//
// A call may take a std::stop_token as its only argument (spawn_blocking([](std::stop_token st)
// {...})): the token is stopped by join_handle::abort() and by runtime shutdown, so a call that
// waits in a blocking form given that token (recv(st), mutex::lock(st), ...) or polls it
// can end early. A call that takes no token cannot be interrupted: abort() only keeps it from
// starting.
//
// Thread safety: the pool runs or cancels a job exactly once; a running job's result is stored by
// `execute` and published (join_state::finish) by `publish`, which the pool calls under its
// publish gate (blocking_pool.hpp: shutdown destroys tasks meanwhile, and a publish must not wake
// one that is being destroyed). `request_stop` may come from any thread at any time.
#pragma once

#include <exception>
#include <functional>
#include <stop_token>
#include <type_traits>
#include <utility>

#include "brigade/detail/spawn_record.hpp"

namespace brigade::detail {

/// What the blocking pool queues and runs. Intrusive: no allocation beyond the job itself.
struct blocking_job {
  enum class operation : unsigned char {
    execute,       // run the call and store its result (not published yet)
    publish,       // publish the stored result (wakes the joiner)
    cancel,        // publish task_cancelled without running (the pool is shutting down)
    request_stop,  // ask a running call to stop (its std::stop_token, if it takes one)
  };
  using dispatch_function = void (*)(blocking_job*, operation) noexcept;
  explicit blocking_job(dispatch_function dispatch) noexcept : dispatch_(dispatch) {}
  void operate(operation what) noexcept { dispatch_(this, what); }

  // Guarded by the pool's mutex: the list of running jobs (shutdown asks each to stop).
  blocking_job* prev_running = nullptr;
  blocking_job* next_running = nullptr;

 private:
  dispatch_function dispatch_;
};

void submit_blocking(scheduler& sched, blocking_job& job);

/// Whether a blocking call takes a std::stop_token.
template <class Function>
inline constexpr bool takes_stop_token_v = std::is_invocable_v<Function&, std::stop_token>;

/// The result type of a blocking call (with or without its token).
template <class Function>
using blocking_result_t =
    typename std::conditional_t<takes_stop_token_v<Function>, std::invoke_result<Function&, std::stop_token>,
                                std::invoke_result<Function&>>::type;

/// The part of a blocking record that exists only for a call taking a std::stop_token: the
/// source of its token, requested by a stop of the record's scope (abort, shutdown).
template <bool TakesToken>
struct blocking_stop {
  explicit blocking_stop(root_stop_state&) noexcept {}
  void detach(root_stop_state&) noexcept {}
};
template <>
struct blocking_stop<true> : stop_callback_base {
  explicit blocking_stop(root_stop_state& scope) noexcept : stop_callback_base(&forward) {
    (void)scope.add_callback(*this);  // a fresh root scope: never stopped yet, never allocates
  }
  void detach(root_stop_state& scope) noexcept { scope.remove_callback(*this); }
  std::stop_token token() const noexcept { return source_.get_token(); }

 private:
  static void forward(stop_callback_base& self) noexcept { static_cast<blocking_stop&>(self).source_.request_stop(); }
  std::stop_source source_;
};

template <class T, class Function>
struct blocking_record final : spawn_record<T>, blocking_job, pool_allocated {
  blocking_record(std::uint32_t runtime_serial, Function&& call)
      : spawn_record<T>(&operate_record),
        blocking_job(&dispatch),
        token_source_(this->stop_),
        function_(std::move(call)),
        runtime_serial_(runtime_serial) {}
  ~blocking_record() { token_source_.detach(this->stop_); }

 private:
  static void dispatch(blocking_job* job, blocking_job::operation what) noexcept {
    auto* record = static_cast<blocking_record*>(job);
    switch (what) {
      case blocking_job::operation::execute:
        record->execute();
        break;
      case blocking_job::operation::publish:
        record->finish(record->runtime_serial_);
        break;
      case blocking_job::operation::cancel:
        record->join_state::cancel(record->runtime_serial_);
        break;
      case blocking_job::operation::request_stop:
        record->join_state::stop_.request_stop();
        break;
    }
  }

  void execute() noexcept {
    if (this->stop_.stop_requested()) {
      this->store_cancelled("brigade: blocking call cancelled before it started");
      return;
    }
    try {
      if constexpr (std::is_void_v<T>) {
        call();
        this->result_.set_value();
      } else {
        this->result_.set_value(call());
      }
    } catch (...) {
      this->result_.set_error(std::current_exception());
      this->failed_ = !is_cancellation(this->result_.error());
    }
  }
  decltype(auto) call() {
    if constexpr (takes_stop_token_v<Function>)
      return std::invoke(function_, token_source_.token());
    else
      return std::invoke(function_);
  }

  // The record's hook (join_state): only its two requests reach it, as no promise points here.
  static std::coroutine_handle<> operate_record(task_completion* self, promise_base& stand_in) noexcept {
    auto* record = static_cast<blocking_record*>(static_cast<join_state*>(self));
    const auto& request = static_cast<const record_request&>(stand_in);
    if (request.what == record_request::kind::destroy) {
      spawn_record<T>::destroy(record, request.runtime_serial);
    } else {
      record->store_cancelled("brigade: blocking call cancelled by runtime shutdown");
      record->finish(request.runtime_serial);
    }
    return std::noop_coroutine();
  }

  blocking_stop<takes_stop_token_v<Function>> token_source_;
  Function function_;
  const std::uint32_t runtime_serial_;  // the runtime whose pool runs the call
};

}  // namespace brigade::detail
