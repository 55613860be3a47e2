// brigade/detail/fiber_hooks.hpp: what the waiter needs to know about fibers (internal).
//
// A fiber (fiber/go.hpp) runs ordinary blocking code on a worker thread. When that code blocks in
// a thread form (`recv`, `lock`, `join`, ...), the thread_waiter it parks is the fiber's, not the
// thread's: instead of sleeping on a futex it switches back to the task that drives the fiber,
// which suspends until the waiter is woken (detail/fiber_core.hpp). This header is the small
// surface the waiter and the cancellable waits use: which fiber runs on this thread, the states
// of a blocking waiter's word, and the out-of-line park and wake.
//
// The word of a thread_waiter (its only state), written by the waiting party and its waker:
//   waiting          armed, nobody asleep yet
//   thread_sleeping  a plain thread sleeps on the futex (the waker must futex_wake)
//   woken            the waker was here (final)
//   fiber_parked     a fiber is switched out waiting (the waker must schedule it)
//   fiber_timed_out  a fiber's timed wait ran out first (its timer scheduled it)
// A waker exchanges the word to `woken`; only the party that moves it out of `fiber_parked`
// (the waker, or the fiber's timer) resumes the fiber, so it resumes once.
//
// Thread safety: current_fiber() is the calling thread's own; the functions are called on the
// fiber (park) or by its waker (unblock), as documented on each.
#pragma once

#include <cstdint>

#include "brigade/detail/seam.hpp"

namespace brigade::detail {

class fiber_core;

namespace blocking_state {
inline constexpr std::uint32_t waiting = 0;
inline constexpr std::uint32_t thread_sleeping = 1;
inline constexpr std::uint32_t woken = 2;
inline constexpr std::uint32_t fiber_parked = 3;
inline constexpr std::uint32_t fiber_timed_out = 4;
}  // namespace blocking_state

// Never read directly: use current_fiber() (see BRIGADE_THREAD_LOCAL_ACCESSOR in seam.hpp; a
// fiber may resume on another thread, and the accessor's call keeps a compiler from reusing an
// address computed on the thread it left).
inline constinit thread_local fiber_core* this_thread_fiber_storage = nullptr;

/// The fiber running on the calling thread, or null (a plain thread, or a worker running a task).
BRIGADE_THREAD_LOCAL_ACCESSOR fiber_core* current_fiber() noexcept { return this_thread_fiber_storage; }

/// Who is blocking here, for the primitives that remember an owner (a mutex's holder): the fiber
/// on a fiber (fibers share threads, and move between them), else the thread.
inline const void* this_party_identity() noexcept {
  fiber_core* fiber = current_fiber();
  return fiber != nullptr ? static_cast<const void*>(fiber) : seam::this_thread_identity();
}

/// On the fiber: parks it until `word` leaves `waiting` (a waker's exchange to `woken`), or until
/// `deadline` (seam::now_nanoseconds()'s clock; ~0: none). Returns whether it was woken.
/// src/fiber/fiber_core.cpp.
bool fiber_block_until(fiber_core& fiber, seam::atomic<std::uint32_t>& word, std::uint64_t deadline) noexcept;
/// By the waker that moved a word out of `fiber_parked`: makes the fiber runnable again.
void fiber_unblock(fiber_core& fiber) noexcept;
/// The cancellation scope of the task that drives `fiber` (a task promise's scope word).
std::uintptr_t fiber_scope_word(const fiber_core& fiber) noexcept;

}  // namespace brigade::detail
