// brigade/future/offload.hpp: the essays' hybrid, an async front end with a CPU pool behind it:
// run a CPU-heavy function on a thread_pool and wait for it where you are, without holding a
// runtime's worker.
//
//   report r = co_await brigade::offload_async(pool, analyse, bytes);   // in a task: suspends,
//                                                                       // resumes on the runtime
//   report r = brigade::offload(pool, analyse, bytes);                  // on a fiber (only the
//                                                                       // fiber waits) or a thread
//
// Both submit function(arguments...) (or function(stop_token, arguments...)) to the pool and wait
// for its future. The difference from waiting on pool.submit(...) yourself: the job belongs to the
// wait. When the wait is cancelled (a timeout() around it, the task or fiber aborted, runtime
// shutdown), the job is cancelled too: if still queued it never runs; if running, its stop token
// is requested. A job's exception is rethrown to the waiter; a pool that is shut down refuses
// with rejected_execution.
// Thread safety: the pool's. The pool must outlive the call.
#pragma once

#include <stop_token>
#include <type_traits>
#include <utility>

#include "brigade/future/thread_pool.hpp"
#include "brigade/runtime/errors.hpp"
#include "brigade/runtime/task.hpp"
#include "brigade/runtime/waiter.hpp"

namespace brigade {

template <class Function, class... Arguments>
using offload_result_t = typename detail::job_result<std::decay_t<Function>, std::decay_t<Arguments>...>::type;

/// co_await in a task: runs function(arguments...) on `pool`; the task resumes on its runtime.
template <class Function, class... Arguments>
task<offload_result_t<Function, Arguments...>> offload_async(thread_pool& pool, Function function,
                                                             Arguments... arguments) {
  // By value: the task is lazy, and the caller's temporaries are gone when it starts.
  auto job = pool.submit(std::move(function), std::move(arguments)...);
  try {
    co_return co_await std::move(job);
  } catch (const task_cancelled&) {
    job.cancel();  // nothing if the job itself settled the future (then its own error goes on)
    throw;
  }
}

/// On a fiber (only the fiber waits) or a plain thread: runs function(arguments...) on `pool`
/// and returns its result. On a runtime's worker thread outside a fiber, use offload_async.
template <class Function, class... Arguments>
offload_result_t<Function, Arguments...> offload(thread_pool& pool, Function&& function, Arguments&&... arguments) {
  // Refused before anything is submitted, whether or not the job would finish in time.
  detail::refuse_blocking_on_worker("brigade::offload() (use co_await offload_async() in a task)");
  auto job = pool.submit(std::forward<Function>(function), std::forward<Arguments>(arguments)...);
  try {
    job.wait();
  } catch (...) {
    job.cancel();  // the wait was stopped (fiber aborted, runtime shutting down)
    throw;
  }
  return job.get();
}

}  // namespace brigade
