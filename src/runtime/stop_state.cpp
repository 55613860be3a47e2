// Cancellation scopes: stopping one, and its registry of callbacks (detail/stop_state.hpp).
//
// The registry is std::stop_callback's design on one word: a spin lock bit guards an intrusive
// list of callbacks; request_stop takes them off one at a time and runs each with the lock
// released, so a callback may register or remove callbacks (on this scope or others) and take
// other locks; its owner, removing it meanwhile, waits for it to return (or, if the callback is
// removing itself, does not wait). Lock order: a scope's registry lock is never held while
// another lock is taken, so it nests with nothing.
#include <climits>
#include <thread>

#include "brigade/detail/frame_pool.hpp"
#include "brigade/detail/stop_state.hpp"

namespace brigade::detail {

namespace {
// Spins before a remover sleeps on a running callback: the runtime's callbacks (waking a parked
// task, stopping a child scope) finish within a microsecond or two.
constexpr std::uint64_t callback_spin_nanoseconds = 2'000;
// A holder of the registry lock that was preempted keeps it for a time slice: yield after this
// many looks.
constexpr int registry_spins_before_yield = 64;
}  // namespace

std::uintptr_t stop_state::lock_registry(std::uintptr_t extra) noexcept {
  std::uintptr_t word = word_.load(seam::memory_order::relaxed);
  int spins = 0;
  while (true) {
    if ((word & locked_bit) != 0) {
      if (++spins == registry_spins_before_yield) {
        spins = 0;
        seam::yield();
      } else {
        seam::spin_pause();
      }
      word = word_.load(seam::memory_order::relaxed);
      continue;
    }
    // Sequentially consistent: with `extra` = requested_bit this is the stop request itself,
    // which must come before the canceller reads a park slot (detail/cancellable_wait.hpp).
    if (word_.compare_exchange_weak(word, word | locked_bit | extra, seam::memory_order::seq_cst,
                                    seam::memory_order::relaxed))
      return word;
  }
}

bool stop_state::request_stop() noexcept {
  const std::uintptr_t before = lock_registry(requested_bit);
  unlock_registry(before | requested_bit);
  if ((before & requested_bit) != 0) return false;
  // 1. The parked wait of a root's own task (its park slot), then 2. every callback: the
  //    registrations of tasks parked in this scope and the links of child scopes, which stop
  //    those scopes in turn (depth first).
  if ((before & root_bit) != 0) static_cast<root_stop_state*>(this)->cancel_parked();
  run_callbacks();
  return true;
}

void stop_state::run_callbacks() noexcept {
  std::uintptr_t word = lock_registry(0);
  while (stop_callback_base* callback = head_of(word)) {
    stop_callback_base* next = callback->next_;
    if (next != nullptr) next->prev_ = nullptr;
    word = reinterpret_cast<std::uintptr_t>(next) | (word & flag_bits);
    bool removed = false;
    callback->runner_ = seam::this_thread_identity();
    callback->removed_while_running_ = &removed;
    callback->state_.store(stop_callback_base::running, seam::memory_order::relaxed);
    unlock_registry(word);
    callback->on_stop_(*callback);
    if (!removed) {
      // Release: an owner that sees `done` sees what the callback did; from this store on it may
      // free the callback (futex_wake uses the address only as a key, harmless even then).
      seam::atomic<std::uint32_t>* state = &callback->state_;
      if (state->exchange(stop_callback_base::done, seam::memory_order::release) ==
          stop_callback_base::running_awaited)
        seam::futex_wake(state, INT_MAX);
    }
    word = lock_registry(0);
  }
  unlock_registry(word);
}

bool stop_state::add_callback(stop_callback_base& callback) {
  if (!is_root()) static_cast<child_stop_state*>(this)->ensure_linked();
  const std::uintptr_t word = lock_registry(0);
  if ((word & requested_bit) != 0) {
    unlock_registry(word);
    return false;
  }
  stop_callback_base* head = head_of(word);
  callback.prev_ = nullptr;
  callback.next_ = head;
  callback.state_.store(stop_callback_base::registered, seam::memory_order::relaxed);
  if (head != nullptr) head->prev_ = &callback;
  unlock_registry(reinterpret_cast<std::uintptr_t>(&callback) | (word & flag_bits));
  return true;
}

void stop_state::remove_callback(stop_callback_base& callback) noexcept {
  const std::uintptr_t word = lock_registry(0);
  if (callback.state_.load(seam::memory_order::relaxed) == stop_callback_base::registered) {
    std::uintptr_t updated = word;
    if (callback.prev_ != nullptr)
      callback.prev_->next_ = callback.next_;
    else
      updated = reinterpret_cast<std::uintptr_t>(callback.next_) | (word & flag_bits);
    if (callback.next_ != nullptr) callback.next_->prev_ = callback.prev_;
    unlock_registry(updated);
    return;
  }
  unlock_registry(word);
  // Taken off by a stop request: running, or done. Acquire: pairs with the release of `done`.
  if (callback.state_.load(seam::memory_order::acquire) == stop_callback_base::done) return;
  // runner_ was written under the registry lock before the callback started.
  if (callback.runner_ == seam::this_thread_identity()) {  // the callback removes itself
    *callback.removed_while_running_ = true;
    return;
  }
  if (seam::spin_until(callback_spin_nanoseconds, [&] {
        return callback.state_.load(seam::memory_order::acquire) == stop_callback_base::done;
      }))
    return;
  std::uint32_t expected = stop_callback_base::running;
  callback.state_.compare_exchange_strong(expected, stop_callback_base::running_awaited,
                                          seam::memory_order::acquire);
  while (callback.state_.load(seam::memory_order::acquire) != stop_callback_base::done)
    seam::futex_wait(&callback.state_, stop_callback_base::running_awaited);
}

/// A child scope's registration in its parent: stopping the parent stops the child.
struct child_stop_state::link final : stop_callback_base, pool_allocated {
  explicit link(child_stop_state& child) noexcept : stop_callback_base(&stop_child), child_(&child) {}
  static void stop_child(stop_callback_base& self) noexcept { static_cast<link&>(self).child_->request_stop(); }
  child_stop_state* child_;
};

void child_stop_state::ensure_linked() {
  if ((word_.load(seam::memory_order::acquire) & linked_bit) != 0) return;
  link* made = nullptr;
  bool parent_running = false;
  if (parent_ != nullptr) {
    made = new link(*this);
    // Links the parent's own chain first (add_callback on a child scope does).
    try {
      parent_running = parent_->add_callback(*made);
    } catch (...) {
      delete made;
      throw;
    }
  }
  std::uintptr_t word = lock_registry(0);
  if ((word & linked_bit) != 0) {  // another task of this scope linked it meanwhile
    unlock_registry(word);
    if (parent_running) parent_->remove_callback(*made);
    delete made;
    return;
  }
  link_ = parent_running ? made : nullptr;
  unlock_registry(word | linked_bit);
  if (!parent_running) {
    delete made;
    // The parent was stopped before the link could be made: so is this scope.
    if (parent_ != nullptr) request_stop();
  }
}

void child_stop_state::unlink_from_parent() noexcept {
  if (link_ == nullptr) return;
  parent_->remove_callback(*link_);  // waits for a stop that is running through the link
  delete link_;
  link_ = nullptr;  // unlink_now() and then the destructor: the second finds nothing to do
}

void root_stop_state::cancel_parked() noexcept {
  // Sequentially consistent: the increment comes before the slot is read, and pairs with the
  // fence of retire_cancel_targets (detail/cancellable_wait.hpp gives the argument).
  cancellers.in_flight.fetch_add(1, seam::memory_order::seq_cst);
  if (cancel_target* target = parked_target_.load(seam::memory_order::seq_cst))
    target->cancel_(*target, this, nullptr);
  // Release: a destructor that sees the count drop sees our last touch of its primitive.
  cancellers.in_flight.fetch_sub(1, seam::memory_order::release);
}

}  // namespace brigade::detail
