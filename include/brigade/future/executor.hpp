// brigade/future/executor.hpp: where a future's continuation runs.
//
//   std::move(f).then(fn)                          // inline: on the thread that settles f (or in
//                                                  // then() itself, if f is settled already)
//   std::move(f).then(pool, fn)                    // on a thread_pool's threads
//   std::move(f).then(brigade::on(rt), fn)         // as a task on runtime rt's workers
//
// An executor is anything with execute(detail::unique_function<void()>) that runs the function
// once, later or at once, or throws to refuse it (the continuation's future then holds that
// exception: a pool that shut down gives rejected_execution, a runtime that shut down
// runtime_shut_down). It must outlive the continuations queued on it.
//
// Inline continuations run in constant stack whatever the chain's length (detail/future_state.hpp)
// but on the settler's thread: keep them short, and never block in one that a runtime's worker
// may settle (a task's co_return into a promise). Offload heavy ones to a pool.
#pragma once

#include <concepts>
#include <utility>

#include "brigade/detail/unique_function.hpp"
#include "brigade/runtime/runtime.hpp"
#include "brigade/runtime/task.hpp"

namespace brigade {

template <class Executor>
concept executor = requires(Executor& target, detail::unique_function<void()> function) {
  target.execute(std::move(function));
};

/// Runs each function at once, on the calling thread.
struct inline_executor {
  void execute(detail::unique_function<void()> function) { function(); }
};

/// Runs each function as a task on a runtime's workers (spawned and detached).
class runtime_executor {
 public:
  explicit runtime_executor(runtime& target) noexcept : runtime_(&target) {}
  /// Throws runtime_shut_down once the runtime is shutting down.
  void execute(detail::unique_function<void()> function) { runtime_->spawn(run(std::move(function))).detach(); }

 private:
  static task<void> run(detail::unique_function<void()> function) {
    function();
    co_return;
  }
  runtime* runtime_;
};

/// The executor that runs continuations on `target`'s workers.
inline runtime_executor on(runtime& target) noexcept { return runtime_executor(target); }

}  // namespace brigade
