// brigade/sync/once_cell.hpp: once_cell<T>, a value computed once, on first use, by whichever
// party asks first, while every concurrent asker waits for that result (tokio::sync::OnceCell,
// Go's sync.OnceValue, Java's lazy holder). The fix for the essays' racy lazily initialised cache:
//
//   brigade::once_cell<config> settings;
//   const config& c = co_await settings.get_or_init_async([]() -> brigade::task<config> {
//     co_return co_await load_config();           // runs once, however many tasks ask at once
//   });
//   const config& d = settings.get_or_init([] { return read_config_file(); });  // thread
//
// The initialiser may return T, or (for get_or_init) a brigade::task<T> that is awaited. If it
// throws, the exception reaches the party that ran it, the cell stays empty, and the next waiting
// party runs its own initialiser (as std::call_once does); nobody sees a half-built value.
// Cancellation: a caller waiting for another party's initialiser is at a cancellation point: a
// stop request of its scope ends its wait with task_cancelled (the initialiser runs on). An
// initialiser that ends with task_cancelled has failed: the next caller runs its own.
// Thread safety: every member from any thread. Memory order: whoever gets the value sees
// everything the initialiser wrote. The value is never changed once set (const access only,
// unless T's own members are thread safe).
// Lifetime: the cell must outlive its waiters; the value lives as long as the cell.
// Complexity: after initialisation, get() and get_or_init are one acquire load.
#pragma once

#include <concepts>
#include <new>
#include <optional>
#include <stop_token>
#include <type_traits>
#include <utility>

#include "brigade/detail/gate_wait.hpp"
#include "brigade/detail/once_core.hpp"
#include "brigade/runtime/task.hpp"

namespace brigade {

template <class T>
class once_cell {
 public:
  once_cell() = default;
  once_cell(const once_cell&) = delete;
  once_cell& operator=(const once_cell&) = delete;
  ~once_cell() = default;

  /// The value, if it has been set.
  [[nodiscard]] const T* get() const noexcept { return core_.is_done() ? &*value_ : nullptr; }
  [[nodiscard]] bool is_initialized() const noexcept { return core_.is_done(); }

  /// co_await cell.get_or_init_async(init): the value, computed by `init` if nobody has yet; suspends
  /// while another party computes it. `init` returns T or brigade::task<T>.
  template <class Initializer>
  task<const T&> get_or_init_async(Initializer init) {
    while (!core_.is_done()) {
      if (core_.claim()) {
        try {
          if constexpr (detail::is_task_v<std::invoke_result_t<Initializer&>>)
            value_.emplace(co_await init());
          else
            value_.emplace(init());
        } catch (...) {
          core_.finish(false);
          throw;
        }
        core_.finish(true);
        break;
      }
      co_await detail::gate_awaiter<detail::once_core>(core_);
    }
    co_return *value_;
  }

  /// On a thread: the value, computed by `init` (which returns T) if nobody has yet; blocks while
  /// another party computes it.
  /// With a token, a stop request while it waits throws task_cancelled.
  template <class Initializer>
  const T& get_or_init(Initializer&& init, std::stop_token token = {}) {
    while (!core_.is_done()) {
      if (core_.claim()) {
        try {
          value_.emplace(std::forward<Initializer>(init)());
        } catch (...) {
          core_.finish(false);
          throw;
        }
        core_.finish(true);
        break;
      }
      detail::wait_blocking_on(core_, token);
    }
    return *value_;
  }

 private:
  detail::once_core core_{"brigade: once_cell::get_or_init_async() awaited outside a runtime (use get_or_init() on a thread)"};
  std::optional<T> value_;  // written once by the initialiser, before core_ is done
};

}  // namespace brigade
