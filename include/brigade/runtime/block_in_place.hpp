// brigade/runtime/block_in_place.hpp: block_in_place(f), for a task that must make a blocking
// call right where it is (Tokio's block_in_place).
//
//   brigade::task<std::string> handler() {
//     auto config = brigade::block_in_place([] { return read_config_the_blocking_way(); });
//     ...
//   }
//
// Runs `f()` on the calling thread and returns its result (or lets its exception through). On a
// worker of a runtime, first hands the worker's queued tasks (the one it just woke, the ones it
// forked) to the other workers, wakes one if they sleep, and marks the worker blocked until `f`
// returns: if every worker is blocked while tasks are ready, the runtime's liveness monitor starts
// a compensating worker at once (runtime_options::max_compensating_workers). The task itself does
// not move: it goes on, on this thread, when `f` returns. Prefer spawn_blocking (which runs `f`
// on the blocking pool and frees the worker at once) where the code can await; block_in_place is
// for code that cannot (a callback, a library's synchronous interface called from a task).
// Off a runtime's worker (a plain thread), it only runs `f()`.
// Thread safety: as `f`. Blocks the calling thread for as long as `f` does.
#pragma once

#include <functional>
#include <utility>

#include "brigade/detail/scheduler_hooks.hpp"

namespace brigade {

template <class Function>
decltype(auto) block_in_place(Function&& function) {
  detail::worker_hot* worker = detail::current_worker();
  if (worker == nullptr) return std::invoke(std::forward<Function>(function));
  struct blocked_while_running {
    detail::worker_hot& worker;
    explicit blocked_while_running(detail::worker_hot& on) noexcept : worker(on) { detail::begin_blocking(worker); }
    ~blocked_while_running() { detail::end_blocking(worker); }
    blocked_while_running(const blocked_while_running&) = delete;
    blocked_while_running& operator=(const blocked_while_running&) = delete;
  } blocked(*worker);
  return std::invoke(std::forward<Function>(function));
}

}  // namespace brigade
