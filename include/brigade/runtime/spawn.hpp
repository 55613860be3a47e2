// brigade/runtime/spawn.hpp: spawn() and spawn_blocking() on the runtime that runs the calling
// task, so that code inside a task need not carry a runtime reference around (as tokio::spawn).
//
//   brigade::task<void> serve() {
//     auto handle = brigade::spawn(work());                          // runs concurrently
//     auto bytes = co_await brigade::spawn_blocking([] { return read_file(); });
//     co_await handle;
//   }
//
// Called on a thread that is not a worker of a runtime, both throw usage_error (use
// runtime::spawn there). Thread safety and shutdown: as runtime::spawn.
#pragma once

#include <type_traits>
#include <utility>

#include "brigade/runtime/errors.hpp"
#include "brigade/runtime/join_handle.hpp"
#include "brigade/runtime/runtime.hpp"
#include "brigade/runtime/task.hpp"

namespace brigade {

namespace detail {
inline runtime& current_runtime_or_throw(const char* what) {
  runtime* current = runtime::current();
  if (current == nullptr) throw_outside_runtime(what);
  return *current;
}
}  // namespace detail

/// Spawns `work` on the current runtime. The same as runtime::spawn on that runtime, found from
/// the calling worker in the submission itself (one out-of-line call per spawn).
template <class T>
join_handle<T> spawn(task<T> work) {
  return detail::spawn_root(work, [](detail::join_state& record) {
    return detail::submit_root_on_this_worker(record, "spawn");
  });
}

/// Runs `function()` on the current runtime's blocking pool.
template <class Function>
auto spawn_blocking(Function function) -> join_handle<detail::blocking_result_t<Function>> {
  return detail::current_runtime_or_throw("spawn_blocking").spawn_blocking(std::move(function));
}

}  // namespace brigade
