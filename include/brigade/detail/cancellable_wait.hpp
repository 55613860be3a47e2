// brigade/detail/cancellable_wait.hpp: how a parked task is reached by a stop request, written
// once for every primitive (internal).
//
// A task that is about to park on a primitive arms a park_registration with its scope and the
// primitive's cancel_target (one per wait list), before it takes the primitive's lock; under the
// lock, the primitive asks the registration whether a stop was requested (if so it does not park
// the waiter), else binds the waiter to it and queues it (park_locked); after the wait, the task
// disarms. The waiter is bound under the lock, not before, so that an awaiter may construct its
// waiter only once it knows it parks. A stop request
// reaches the parked waiter through cancel_target::cancel_, which takes the primitive's lock,
// takes the waiter off its list (so the primitive can no longer complete it: a cancelled receive
// was handed no value, a cancelled lock no lock), marks it `cancelled` and wakes it. If the
// primitive completed the waiter first, the canceller finds it gone and does nothing: the wait
// ends normally, and the task sees the stop at its next cancellation point. Exactly one of the
// two takes the waiter off the list, under the primitive's lock, so the task is woken once.
//
// Two ways to arm, by the kind of scope (detail/stop_state.hpp):
//
// Callback registration (child scopes: fork-join children, task groups; and the waits that ask
// for it, select and join). A stop_callback_base node (pooled) holding the target goes into the
// scope's registry before the primitive's lock is taken, gets the waiter under the lock, and is
// removed after the wait. The registry keeps the node, and so the waiter and the primitive,
// alive while its callback runs, so the callback may read them. Costs two locked instructions
// per park.
//
// The park slot (root scopes: a spawned task, parking on a primitive of its own). No locked
// instruction: the task writes the target into its root scope's slot before it takes the
// primitive's lock and the waiter under it, and clears the target after the wait. A canceller:
//   C1. sets the scope's requested bit (a sequentially consistent read-modify-write);
//   C2. increments `cancellers.in_flight` (likewise);
//   C3. reads the slot's target T; if null, it is done (C6);
//   C4. calls T's cancel function, which takes the primitive's lock and reads the slot again:
//       if it still names T, it looks for the named waiter *by address* on T's list, and only
//       if it is there withdraws, marks and wakes it;
//   C5. (the lock is released inside C4);
//   C6. decrements `cancellers.in_flight`.
// The task (P) and the primitive's destructor (D, retire_cancel_targets):
//   P1. writes the slot's target;
//   P2. takes the primitive's lock (a locked instruction);
//   P3. under the lock, reads the requested bit (stop_requested_locked, behind a store-load fence
//       that the locked instruction of P2 already provides on x86-64): if set, it does not park;
//       else it writes the slot's waiter and queues it;
//   P4. after the wait, clears the slot's target, before the wait returns (so before anyone may
//       destroy the primitive);
//   D1. a full fence, then waits until `cancellers.in_flight` is zero.
// Why nothing is missed: P1-P3 against C1-C3 is the store-buffering pattern with a full fence on
// each side: either the task sees the request at P3 (and does not park), or the canceller sees
// the target at C3 (and C4 finds the waiter queued, or, if C4 got the lock before P2, finds it
// not queued yet, and then P3, which comes after C4 released the lock, sees the request). The
// waiter word C4 reads under the lock is this park's if P3 queued it before; else it is stale or
// null, and not on the list (this task parks nowhere else meanwhile).
// Why the canceller never touches a destroyed primitive: P4 happens before D1 (the primitive's
// owner destroys it only after the wait returned). P4-D1 against C2-C3 is again store-buffering
// with fences: either D1 sees the increment of C2 and waits for C6, or C3 sees the cleared slot.
// Why the canceller never touches a gone waiter: it reads the waiter only once found on the list
// (a queued waiter is alive). Why it never withdraws another task's waiter that happens to sit at
// the same address: for another task to park at that address, this task's frame must have been
// freed, after P4, and that task's queuing on the primitive happens before the canceller's lock,
// so the canceller's second read of the slot (under the lock) sees P4's clearing.
//
// Thread safety: a registration belongs to one awaiter; cancel functions run on the canceller's
// thread. Lifetime: a primitive with cancel targets calls retire_cancel_targets() first in its
// destructor (one fence).
#pragma once

#include <cstdint>
#include <memory>
#include <stop_token>
#include <string>
#include <type_traits>
#include <utility>

#include "brigade/detail/frame_pool.hpp"
#include "brigade/detail/seam.hpp"
#include "brigade/detail/stop_state.hpp"
#include "brigade/detail/wait_list.hpp"
#include "brigade/runtime/errors.hpp"
#include "brigade/runtime/waiter.hpp"

namespace brigade::detail {

/// The `outcome` of a waiter that a stop request withdrew (every primitive's own outcomes are
/// small numbers).
inline constexpr std::uint32_t cancelled_outcome = 0xCA9CE11Eu;

/// What a primitive's enqueue did with a waiter, under its lock.
enum class park_result : unsigned char {
  parked,      // queued: the waiter will be woken
  not_needed,  // the wait is over already (the gate is open, the grant was taken): not queued
  cancelled,   // a stop was requested: not queued; the wait ends with task_cancelled
};

/// The callback registration of one parked wait (a child scope's task; select; join).
struct parked_registration final : stop_callback_base, pool_allocated {
  parked_registration(stop_state& scope, cancel_target& target) noexcept
      : stop_callback_base(&withdraw), scope_(&scope), target_(&target) {}
  static void withdraw(stop_callback_base& self) noexcept {
    auto& registration = static_cast<parked_registration&>(self);
    registration.target_->cancel_(*registration.target_, nullptr, &registration.parked_);
  }
  stop_state* scope_;
  cancel_target* target_;
  waiter* parked_ = nullptr;  // under the primitive's lock: the queued waiter
};

/// A task's link between one wait and its cancellation scope (see the top of this header).
/// The park slot's steps are a few inline instructions (a park costs them on every channel
/// ping-pong); the callback registration's are out of line.
class park_registration {
 public:
  park_registration() noexcept = default;
  park_registration(const park_registration&) = delete;
  park_registration& operator=(const park_registration&) = delete;
  BRIGADE_ALWAYS_INLINE ~park_registration() {
    if (armed_ != 0) [[unlikely]]
      disarm_slowly();
  }

  /// Before taking the primitive's lock. `scope_word` is the waiting task's scope as
  /// scope_word_of(handle) gives it (0: a coroutine that is not a brigade task, which cannot be
  /// cancelled). Returns false, arming nothing, when a callback registration finds the scope
  /// stopped already (a park slot is armed regardless: the check under the lock sees the stop).
  /// `use_slot` lets a root scope's task use its park slot (the target must then belong to a
  /// primitive that calls retire_cancel_targets when destroyed). May throw std::bad_alloc (a
  /// callback registration). `known`: the waiter, when it exists before the lock is taken (it is
  /// then named to a canceller at once, and bind_locked need not be called).
  BRIGADE_ALWAYS_INLINE bool arm(std::uintptr_t scope_word, cancel_target& target, bool use_slot = true,
                                 waiter* known = nullptr) {
    if (scope_word == 0) return true;
    if (use_slot && (scope_word & root_scope_tag) != 0) [[likely]] {
      auto* root = reinterpret_cast<root_stop_state*>(scope_word & ~root_scope_tag);
      root->arm_slot(target);
      armed_ = reinterpret_cast<std::uintptr_t>(root);
      return true;
    }
    return arm_registration(*reinterpret_cast<stop_state*>(scope_word & ~root_scope_tag), target, known);
  }
  /// Whether arm() made a registration (a later one must not).
  [[nodiscard]] bool armed() const noexcept { return armed_ != 0; }

  /// Under the primitive's lock, before queuing: whether a stop was requested (the caller then
  /// does not park).
  BRIGADE_ALWAYS_INLINE bool stop_requested_locked() const noexcept {
    if (armed_ == 0) return false;
    // The park slot's store-load fence (step P3): the lock's locked instruction is one on x86-64.
    seam::fence_after_locked_instruction();
    if ((armed_ & registration_tag) != 0) [[unlikely]]
      return reinterpret_cast<parked_registration*>(armed_ & ~registration_tag)->scope_->stop_requested();
    return reinterpret_cast<root_stop_state*>(armed_)->requested_here();
  }

  /// Under the primitive's lock, right before queuing `parked`: false when a stop was requested
  /// (the caller does not park); else names `parked` to a canceller (stop_requested_locked and
  /// bind_locked in one).
  BRIGADE_ALWAYS_INLINE bool bind_unless_stopped(waiter& parked) noexcept {
    if (armed_ == 0) return true;
    seam::fence_after_locked_instruction();
    if ((armed_ & registration_tag) != 0) [[unlikely]] {
      auto* registration = reinterpret_cast<parked_registration*>(armed_ & ~registration_tag);
      if (registration->scope_->stop_requested()) return false;
      registration->parked_ = &parked;
      return true;
    }
    auto* root = reinterpret_cast<root_stop_state*>(armed_);
    if (root->requested_here()) return false;
    root->bind_slot(parked);
    return true;
  }

  /// Under the primitive's lock, right before queuing `parked`: names it to a canceller.
  BRIGADE_ALWAYS_INLINE void bind_locked(waiter& parked) noexcept {
    if (armed_ == 0) return;
    if ((armed_ & registration_tag) != 0) [[unlikely]]
      reinterpret_cast<parked_registration*>(armed_ & ~registration_tag)->parked_ = &parked;
    else
      reinterpret_cast<root_stop_state*>(armed_)->bind_slot(parked);
  }

  /// After the wait (also when the task did not park after all). Idempotent. A callback
  /// registration that is running now (a stop is withdrawing this waiter) is waited for.
  BRIGADE_ALWAYS_INLINE void disarm() noexcept {
    if ((armed_ & registration_tag) == 0) [[likely]] {
      if (armed_ != 0) reinterpret_cast<root_stop_state*>(armed_)->disarm_slot();
      armed_ = 0;
      return;
    }
    disarm_slowly();
  }

 private:
  static constexpr std::uintptr_t registration_tag = 1;

  [[gnu::noinline]] bool arm_registration(stop_state& scope, cancel_target& target, waiter* known) {
    auto* registration = new parked_registration(scope, target);
    registration->parked_ = known;
    bool added;
    try {
      added = scope.add_callback(*registration);
    } catch (...) {
      delete registration;
      throw;
    }
    if (!added) {
      delete registration;
      return false;
    }
    armed_ = reinterpret_cast<std::uintptr_t>(registration) | registration_tag;
    return true;
  }

  [[gnu::noinline]] void disarm_slowly() noexcept {
    if ((armed_ & registration_tag) != 0) {
      auto* registration = reinterpret_cast<parked_registration*>(armed_ & ~registration_tag);
      registration->scope_->remove_callback(*registration);
      delete registration;
    } else if (armed_ != 0) {
      reinterpret_cast<root_stop_state*>(armed_)->disarm_slot();
    }
    armed_ = 0;
  }

  std::uintptr_t armed_ = 0;  // 0, a root_stop_state*, or a parked_registration* | 1
};

/// The thread side of a wait's cancellation: a plain thread's blocking form that was given a
/// std::stop_token (as std::condition_variable_any's waits are). Armed before the primitive's
/// lock is taken: a std::stop_callback withdraws the parked waiter through the target, as a
/// task's registration does; the thread stays inside the primitive until disarm(), which waits
/// for a running callback, so the callback may touch the waiter and the primitive.
/// On a fiber it also registers the wait with the scope of the task that drives the fiber, as
/// that task's own wait would (park_registration): aborting a fiber, a timeout around it, and
/// runtime shutdown end its blocking waits with task_cancelled.
class thread_stop_registration {
 public:
  thread_stop_registration() noexcept = default;
  explicit thread_stop_registration(std::stop_token token) noexcept : token_(std::move(token)) {}
  thread_stop_registration(const thread_stop_registration&) = delete;
  thread_stop_registration& operator=(const thread_stop_registration&) = delete;
  ~thread_stop_registration() { disarm(); }

  /// Before the primitive's lock; `parked` is the thread's waiter (alive until disarm()).
  /// Returns false when a stop was requested already (nothing armed). `binds_under_lock`: the
  /// primitive calls bind_unless_stopped(parked) under its lock right before it queues `parked`
  /// on the list of `target`, and `target`'s primitive calls retire_cancel_targets when
  /// destroyed; a fiber's wait may then use its driver's park slot (no locked instruction).
  bool arm(cancel_target& target, waiter& parked, bool binds_under_lock = false) {
    if (fiber_core* fiber = current_fiber()) [[unlikely]] {
      // Otherwise a callback registration that names `parked` at once: join and select park
      // where the slot cannot name them, and some thread forms do not bind under the lock.
      if (!fiber_.arm(fiber_scope_word(*fiber), target, binds_under_lock, &parked)) return false;
    }
    if (!token_.stop_possible()) return true;
    if (token_.stop_requested()) return false;
    parked_ = &parked;
    callback_ = std::make_unique<std::stop_callback<withdraw>>(token_, withdraw{&target, &parked_});
    return true;
  }
  bool stop_requested_locked() const noexcept { return token_.stop_requested() || fiber_.stop_requested_locked(); }
  void bind_locked(waiter& parked) noexcept { fiber_.bind_locked(parked); }
  bool bind_unless_stopped(waiter& parked) noexcept {
    return !token_.stop_requested() && fiber_.bind_unless_stopped(parked);
  }
  void disarm() noexcept {
    callback_.reset();
    fiber_.disarm();
  }

 private:
  struct withdraw {
    cancel_target* target;
    waiter* const* parked;
    void operator()() const noexcept { target->cancel_(*target, nullptr, parked); }
  };
  std::stop_token token_;
  park_registration fiber_;  // armed on a fiber only
  waiter* parked_ = nullptr;
  // On the heap: std::optional<std::stop_callback> trips GCC 12's -Wmaybe-uninitialized, and a
  // blocking wait given a token can afford one allocation.
  std::unique_ptr<std::stop_callback<withdraw>> callback_;
};

/// Under the primitive's lock, the common end of every enqueue: unless a stop was requested
/// (cancelled), names `entry` to the registration and queues it on `list` (parked).
template <class Registration>
park_result park_locked(Registration& registration, wait_list& list, waiter& entry) noexcept {
  if (!registration.bind_unless_stopped(entry)) return park_result::cancelled;
  list.push_back(entry);
  return park_result::parked;
}

/// A thread's timed wait: waits for `party`'s wake until `deadline` (thread_waiter::no_deadline:
/// no limit). At the deadline, withdraws the parked operation `parked` through its primitive's
/// `target`, exactly as a stop request would (a primitive that completed the operation first
/// keeps it completed: a value received is returned, a lock granted is held), then waits for the
/// one wake that follows (the withdrawal's, or the completion's, which is imminent). Returns
/// whether the deadline withdrew it (`parked.outcome` is then cancelled_outcome).
inline bool wait_or_withdraw_at(thread_waiter& party, waiter& parked, cancel_target& target,
                                std::uint64_t deadline) noexcept {
  if (party.wait_until(deadline)) return false;
  waiter* registered = &parked;
  target.cancel_(target, nullptr, &registered);
  party.wait();
  return parked.outcome == cancelled_outcome;
}

[[noreturn, gnu::cold, gnu::noinline]] inline void throw_wait_cancelled(const char* what) {
  throw task_cancelled(std::string("brigade: ") + what + " cancelled (a stop was requested while it waited)");
}

/// A canceller, under the primitive's lock: the waiter it means, if that waiter is parked on
/// `list`; null otherwise. Slot mode (`slot_owner` set): the waiter the slot names now, looked for
/// by address (it may be gone; it is read only once found). Registration mode: `*registered`,
/// alive once set (a registered waiter is queued only on the list of its target).
inline waiter* meant_and_parked(const wait_list& list, const cancel_target& self,
                                const root_stop_state* slot_owner, waiter* const* registered) noexcept {
  if (slot_owner == nullptr) {
    waiter* parked = *registered;
    return parked != nullptr && parked->is_linked() ? parked : nullptr;
  }
  waiter* named = slot_owner->waiter_named_for(self);
  return named != nullptr && list.contains(named) ? named : nullptr;
}

/// The cancel function of a primitive whose wait list `List` (a member of `Owner`) is guarded by
/// the lock `Lock`: takes the meant waiter off, marks it cancelled (under the lock, so that a
/// frame destroyed at shutdown can tell a withdrawn waiter from a granted one), and wakes it
/// after unlocking. `OnWithdrawn(owner)`, if given, runs under the lock after the waiter left and
/// undoes what its queuing did (clears a "waiting" bit, withdraws a barrier arrival); it returns a
/// chain of other waiters that may go on now (wait_list::wake_all), or null.
template <class Owner, auto Lock, auto List, auto OnWithdrawn = nullptr>
void cancel_from_list(cancel_target& self, const root_stop_state* slot_owner, waiter* const* registered) noexcept {
  Owner& owner = self.owner<Owner>();
  waiter* withdrawn;
  waiter* others = nullptr;
  {
    std::lock_guard lock(owner.*Lock);
    withdrawn = meant_and_parked(owner.*List, self, slot_owner, registered);
    if (withdrawn == nullptr) return;
    (owner.*List).unlink(*withdrawn);
    withdrawn->outcome = cancelled_outcome;
    if constexpr (!std::is_null_pointer_v<decltype(OnWithdrawn)>) others = OnWithdrawn(owner);
  }
  withdrawn->wake();
  wait_list::wake_all(others);
}

}  // namespace brigade::detail
