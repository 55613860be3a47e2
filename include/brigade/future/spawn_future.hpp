// brigade/future/spawn_future.hpp: a task as a future, so that tasks join futures in the
// combinators (all, all_settled, any, race), in then() chains and in a thread's get().
//
//   brigade::future<int> price = brigade::spawn_future(rt, fetch_price("bread"));
//   auto [bread, milk] = brigade::all(std::move(price), spawn_future(rt, fetch_price("milk"))).get();
//   auto first = brigade::race(spawn_future(rt, mirror_a()), spawn_future(rt, mirror_b()));
//
// spawn_future(rt, work) spawns `work` on `rt` at once, as rt.spawn does, and returns a future
// that settles with the task's value or rethrows its exception. Cancellation: cancel() on the
// future aborts the task (join_handle::abort: a parked wait of the task ends with
// task_cancelled; a task that has not started never runs), and the future holds task_cancelled.
// A task aborted or destroyed by runtime shutdown settles the future with task_cancelled, or with
// broken_promise if the runtime was destroyed before the task could report.
// Cost: the task and a small task that waits for it and settles the future (two spawns).
// Thread safety: the future's (any thread may wait on it or cancel it).
#pragma once

#include <exception>
#include <stop_token>
#include <utility>

#include "brigade/future/future.hpp"
#include "brigade/future/promise.hpp"
#include "brigade/runtime/join_handle.hpp"
#include "brigade/runtime/runtime.hpp"
#include "brigade/runtime/spawn.hpp"
#include "brigade/runtime/task.hpp"

namespace brigade {

namespace detail {
/// Spawned beside the task: waits for it and settles `settle` with its outcome. A cancel() of the
/// future aborts the task while this waits (the callback and the handle live in this frame; the
/// callback is declared after the handle, so it is gone before the handle is).
template <class T>
task<void> settle_with_task(task<T> work, promise<T> settle) {
  join_handle<T> handle = spawn(std::move(work));
  std::stop_callback abort_on_cancel(settle.stop_token(), [&handle] { handle.abort(); });
  try {
    if constexpr (std::is_void_v<T>) {
      co_await handle;
      settle.set_value();
    } else {
      settle.set_value(co_await handle);
    }
  } catch (...) {
    settle.set_exception(std::current_exception());  // nothing if the future was cancelled
  }
}
}  // namespace detail

/// Spawns `work` on `rt` and returns a future of its outcome. See the top of this header.
template <class T>
[[nodiscard("the future is the task's only outcome; a dropped one loses it")]] future<T> spawn_future(runtime& rt,
                                                                                                    task<T> work) {
  promise<T> settle;
  future<T> outcome = settle.get_future();
  rt.spawn(detail::settle_with_task(std::move(work), std::move(settle))).detach();
  return outcome;
}

}  // namespace brigade
