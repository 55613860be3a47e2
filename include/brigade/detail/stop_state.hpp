// brigade/detail/stop_state.hpp: a cancellation scope (internal; users see stop_token and
// stop_callback in runtime/stop_token.hpp), and the two ways a stop request reaches a task parked
// in it.
//
// A scope is stopped once (request_stop) and stays stopped. Scopes form a tree: a spawned task's
// scope is a root (root_stop_state, in its spawn record); the scope of a fork-join operation or a
// task group is a child (child_stop_state) of the scope of the task that started it. A stop
// request takes effect at once for every task parked in the scope or below it:
//
//   1. Callbacks (stop_callback_base): functions registered on a scope, run once by the thread
//      that requests the stop, as std::stop_callback's are: a user's stop_callback, the link of a
//      child scope (which stops the child), and the registration of a task parked in a child
//      scope (which wakes it). A callback that is running when its owner removes it is waited
//      for (unless the owner is the callback itself), so whatever it touches outlives it.
//      A child scope links itself into its parent lazily, the first time something registers on
//      it; a fork-join tree whose tasks never park pays nothing for this.
//   2. The park slot of a root scope. A spawned task is one strand of execution, so at most one
//      wait of its own is parked at a time, and registering a callback for every park would
//      cost two locked instructions (~9 ns each here), a third more on a channel ping-pong. The
//      task instead writes two words before it takes the primitive's lock: which primitive
//      (its cancel_target) and which waiter. The protocol, with its invariants, is in
//      detail/cancellable_wait.hpp.
//
// The callback registry lives in one word: the address of the first callback (16-byte aligned)
// and four bits:
//   requested_bit  set once by request_stop, never cleared
//   locked_bit     the registry's spin lock (held for a few stores; never while a callback runs)
//   root_bit       immutable: the scope is a root_stop_state (it has a park slot, no parent)
//   linked_bit     set once (under the lock) when a child scope has linked itself to its parent
//
// Thread safety: every member from any thread. A scope's parent outlives it (structured
// concurrency), so walking up the chain is safe; a parent reaches a child only through the link,
// which the child removes (waiting for a running stop) before it goes away.
// Memory order: request_stop is sequentially consistent (the park slot's argument needs it) and
// releases; requested_here() acquires, so what the canceller wrote before the request is visible
// to a task that sees it.
#pragma once

#include <cstdint>

#include "brigade/detail/cache_line.hpp"
#include "brigade/detail/seam.hpp"

namespace brigade::detail {

struct waiter;
class root_stop_state;

/// A function that runs once, when the scope it is registered on is asked to stop.
/// Invariants: registered on at most one scope; while `state_` is `registered` it is in that
/// scope's list (guarded by the scope's registry lock); once taken off for running it is not
/// touched by the canceller after `state_` becomes `done`.
struct alignas(16) stop_callback_base {
  using function = void (*)(stop_callback_base& self) noexcept;
  explicit stop_callback_base(function on_stop) noexcept : on_stop_(on_stop) {}
  stop_callback_base(const stop_callback_base&) = delete;
  stop_callback_base& operator=(const stop_callback_base&) = delete;

  static constexpr std::uint32_t registered = 0;
  static constexpr std::uint32_t running = 1;
  static constexpr std::uint32_t running_awaited = 2;  // running, and its owner waits for it
  static constexpr std::uint32_t done = 3;

  function on_stop_;
  stop_callback_base* next_ = nullptr;  // guarded by the registry lock
  stop_callback_base* prev_ = nullptr;  // guarded by the registry lock
  // Written by the canceller; the owner reads it to know whether to wait (futex word).
  seam::atomic<std::uint32_t> state_{registered};
  // Written by the canceller under the registry lock before running the callback: the thread
  // that runs it, and a flag on its stack that the callback sets when it removes itself.
  const void* runner_ = nullptr;
  bool* removed_while_running_ = nullptr;
};

/// What a stop request reaches to withdraw a parked waiter: one per wait list of a primitive,
/// naming the function that does it. `cancel_` takes the primitive's lock and, if the waiter the
/// canceller means is still parked there, takes it off, marks it cancelled and wakes it
/// (detail/cancellable_wait.hpp). Which waiter is meant is read under that lock: from the park
/// slot of `slot_owner` (a root scope; the waiter is then looked for by address, as it may be
/// gone), or else from `*registered` (a callback registration's waiter, alive while its
/// registration is; null until the waiter is queued).
struct cancel_target {
  using function = void (*)(cancel_target& self, const root_stop_state* slot_owner,
                            waiter* const* registered) noexcept;
  cancel_target(function cancel, void* owner) noexcept : cancel_(cancel), owner_(owner) {}
  cancel_target(const cancel_target&) = delete;
  cancel_target& operator=(const cancel_target&) = delete;

  template <class Owner>
  Owner& owner() const noexcept { return *static_cast<Owner*>(owner_); }

  function cancel_;
  void* owner_;
};

/// How many stop requests are between reading a park slot and finishing with the primitive it
/// named. A primitive that park slots may name waits for zero before it is destroyed
/// (retire_cancel_targets), so a canceller never touches a destroyed primitive. On a line of its
/// own: written only by cancellers, read by destructors.
struct alignas(cache_line_size) cancellers_counter {
  seam::atomic<std::uint64_t> in_flight{0};
};
inline constinit cancellers_counter cancellers{};

/// Called first in the destructor of every primitive with a cancel_target: waits until no stop
/// request is still using a park slot read before the primitive's last waiter left. The fence
/// pairs with the canceller's increment (the argument is in detail/cancellable_wait.hpp).
/// Costs a fence (~9 ns here) per destruction.
inline void retire_cancel_targets() noexcept {
  seam::full_fence();
  while (cancellers.in_flight.load(seam::memory_order::seq_cst) != 0) seam::spin_pause();
}

/// Set in the low bits of a task promise's scope address (promise_base::scope_word) when the scope
/// is a root_stop_state, so that a wait can use the park slot without first reading the scope.
inline constexpr std::uintptr_t root_scope_tag = 4;

/// A cancellation scope. See the top of this header.
class stop_state {
 public:
  stop_state(const stop_state&) = delete;
  stop_state& operator=(const stop_state&) = delete;

  /// True when this scope itself was stopped (one load: the check a task makes as it starts).
  bool requested_here() const noexcept {
    // Acquire: pairs with request_stop().
    return (word_.load(seam::memory_order::acquire) & requested_bit) != 0;
  }
  /// True when this scope or an enclosing one was stopped.
  bool stop_requested() const noexcept {
    for (const stop_state* scope = this; scope != nullptr; scope = scope->parent())
      if (scope->requested_here()) return true;
    return false;
  }
  /// The enclosing scope, or null (a root).
  stop_state* parent() const noexcept;

  /// Stops the scope: parked tasks in it and below are woken (their waits end with
  /// task_cancelled) and callbacks run, on this thread, before it returns. Returns false if the
  /// scope was already stopped (then nothing happens). Never blocks on a task; may wait for a
  /// registry lock held for a few stores.
  bool request_stop() noexcept;

  /// Registers `callback`, unless the scope was stopped already (returns false; not
  /// registered). For a child scope, links the chain of scopes above it first (may allocate).
  bool add_callback(stop_callback_base& callback);
  /// Removes `callback`. If it is running on another thread, waits until it has returned; if it
  /// is running on this one (it removes itself), returns at once.
  void remove_callback(stop_callback_base& callback) noexcept;

  bool is_root() const noexcept { return (word_.load(seam::memory_order::relaxed) & root_bit) != 0; }

  /// The registry word's bits, for a check of both root_bit and requested_bit in one load
  /// (acquire, as requested_here).
  std::uintptr_t bits() const noexcept { return word_.load(seam::memory_order::acquire); }
  static constexpr std::uintptr_t requested_bit = 1;
  static constexpr std::uintptr_t root_bit = 4;

 protected:
  static constexpr std::uintptr_t locked_bit = 2;
  static constexpr std::uintptr_t linked_bit = 8;
  static constexpr std::uintptr_t flag_bits = 15;
  static_assert(alignof(stop_callback_base) > flag_bits);

  explicit stop_state(std::uintptr_t kind) noexcept : word_(kind) {}
  ~stop_state() = default;

  /// Takes the registry lock (spinning while it is held), setting `extra` bits with it; returns
  /// the word as it was (unlocked).
  std::uintptr_t lock_registry(std::uintptr_t extra) noexcept;
  /// Releases it, storing `word` (the head and the flags; the lock bit clear).
  void unlock_registry(std::uintptr_t word) noexcept { word_.store(word, seam::memory_order::release); }
  static stop_callback_base* head_of(std::uintptr_t word) noexcept {
    return reinterpret_cast<stop_callback_base*>(word & ~flag_bits);
  }

  // The registry word (see the top of this header).
  seam::atomic<std::uintptr_t> word_;

 private:
  void run_callbacks() noexcept;
};

/// The scope of a fork-join operation or a task group: a child of the scope that started it.
class child_stop_state final : public stop_state {
 public:
  child_stop_state() noexcept : stop_state(0) {}
  /// Removes the link to the parent, if it was made (waiting for a stop that runs through it).
  ~child_stop_state() {
    if ((word_.load(seam::memory_order::relaxed) & linked_bit) != 0) [[unlikely]]
      unlink_from_parent();
  }

  /// Removes the link to the parent now, if it was made: when nothing runs in this scope any
  /// more (the children of a fork have all finished), so that the scope may outlive its parent.
  /// A stop of the parent no longer reaches it afterwards. The destructor then has nothing to do.
  void unlink_now() noexcept {
    if (linked()) [[unlikely]]
      unlink_from_parent();
  }
  /// True once the scope is linked to its parent, until it is unlinked. Read by the code that
  /// runs in the scope (or after it), which ordered itself after the linking.
  bool linked() const noexcept { return (word_.load(seam::memory_order::relaxed) & linked_bit) != 0; }

  /// Sets the enclosing scope. Only before the scope is shared (no task runs in it yet).
  void set_parent(stop_state* parent) noexcept { parent_ = parent; }
  stop_state* parent_scope() const noexcept { return parent_; }

  /// Makes a stop of any enclosing scope reach this one: registers a link in the parent (after
  /// linking the parent itself), once. Stops this scope at once if an enclosing one already is.
  void ensure_linked();

 private:
  struct link;
  void unlink_from_parent() noexcept;

  stop_state* parent_ = nullptr;  // immutable once shared
  link* link_;                    // valid once linked_bit is set (under the registry lock)
};

/// The scope of a spawned task or blocking job: no parent, and a park slot (see
/// detail/cancellable_wait.hpp for the protocol).
/// Invariants: parked_target_ is non-null only between the task's arm() before a wait and its
/// disarm() after it (or in the destructor of a frame destroyed at shutdown); both slot words
/// are written only by the task's own strand.
class root_stop_state final : public stop_state {
 public:
  root_stop_state() noexcept : stop_state(root_bit) {}

  /// The task, before it takes the lock of the primitive it may park on.
  void arm_slot(cancel_target& target) noexcept {
    parked_target_.store(&target, seam::memory_order::relaxed);
  }
  /// The task, under that lock, before it queues `parked` (a canceller reads it under the lock).
  void bind_slot(waiter& parked) noexcept { parked_waiter_.store(&parked, seam::memory_order::relaxed); }
  /// The task, once the wait is over (before it could let the primitive be destroyed).
  void disarm_slot() noexcept { parked_target_.store(nullptr, seam::memory_order::release); }

  /// A canceller, under the lock of `target`'s primitive: the waiter the slot names, if the slot
  /// still names `target`; null otherwise. The waiter may be gone: look for it by address.
  waiter* waiter_named_for(const cancel_target& target) const noexcept {
    if (parked_target_.load(seam::memory_order::relaxed) != &target) return nullptr;
    return parked_waiter_.load(seam::memory_order::relaxed);
  }

 private:
  friend class stop_state;
  /// Step 2 of request_stop for a root: withdraws the task's parked wait, if any.
  void cancel_parked() noexcept;

  seam::atomic<cancel_target*> parked_target_{nullptr};
  seam::atomic<waiter*> parked_waiter_{nullptr};
};

inline stop_state* stop_state::parent() const noexcept {
  if (is_root()) return nullptr;
  return static_cast<const child_stop_state*>(this)->parent_scope();
}

}  // namespace brigade::detail
