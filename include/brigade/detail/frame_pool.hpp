// brigade/detail/frame_pool.hpp: the pooled allocator behind coroutine frames and the runtime's
// small per-task records.
//
// Why: a task's frame is allocated when the coroutine is called and freed when it finishes, often
// on another worker. A fresh page costs ~15 µs to touch on a virtual machine, and even glibc's
// tcache only keeps 7 blocks per size, so a burst of a million spawns falls through to the slow
// path. This pool keeps freed blocks for reuse, so a warm runtime allocates frames at the cost of
// a thread-local list pop.
//
// How: sizes are rounded up to 16-byte classes up to `max_pooled_size` (larger requests go to
// ::operator new). Each thread keeps, per class, two magazines (arrays of free block addresses,
// J. Bonwick and J. Adams, "Magazines and Vmem", USENIX 2001): the loaded one serves allocations
// and takes frees; the previous one is full or empty and swaps in when the loaded one runs dry
// or fills up. Only when both are exhausted does a thread go to the global depot, under a lock,
// to trade a whole magazine: a full one for allocating, an empty one for freeing. A block freed
// on another thread goes to that thread's magazine (memory is fungible). New blocks are carved
// from 256 KiB chunks, a magazine's worth of addresses at a time.
//
// Why arrays rather than lists threaded through the free blocks: a block freed on another core
// is not in this core's cache, and popping a list reads the block (a cache miss per allocation,
// one after another). Popping a magazine reads only this thread's array; the block is first
// touched by the stores that initialise it, which the core does not wait for.
//
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <utility>

#include "brigade/detail/seam.hpp"
#include "brigade/detail/thread_local_slot.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define BRIGADE_FRAME_POOL_BYPASS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BRIGADE_FRAME_POOL_BYPASS 1
#endif
#endif

namespace brigade::detail {

struct frame_pool_limits {
  static constexpr std::size_t granule = 16;
  static constexpr std::size_t max_pooled_size = 1024;
  static constexpr std::size_t class_count = max_pooled_size / granule;
};

/// An array of free blocks of one class. `capacity` is 0 in the shared empty placeholder that a
/// thread's cache points to before its first allocation, so the fast paths need no null check.
struct pool_magazine {
  static constexpr std::uint32_t slot_count = 256;
  std::uint32_t count;
  std::uint32_t capacity;
  pool_magazine* next_in_depot;
  void* slots[slot_count];
};

/// The placeholder magazine: no blocks, no room.
inline constinit pool_magazine empty_pool_magazine{0, 0, nullptr, {}};

/// One thread's cache. Constant-initialised and trivially destructible, so reaching it is a plain
/// thread-local access with no initialisation guard; the flush at thread exit is registered by
/// the slow path (frame_pool.cpp).
struct pool_thread_cache {
  pool_magazine* loaded[frame_pool_limits::class_count];
  pool_magazine* previous[frame_pool_limits::class_count];
  char* bump_next;
  char* bump_end;
  bool exit_flush_registered;
};

namespace pool_detail {
template <std::size_t... I>
constexpr pool_thread_cache initial_cache(std::index_sequence<I...>) noexcept {
  return pool_thread_cache{{((void)I, &empty_pool_magazine)...},
                           {((void)I, &empty_pool_magazine)...},
                           nullptr,
                           nullptr,
                           false};
}
}  // namespace pool_detail

// Never read directly: use current_pool_cache() (see thread_local_slot.hpp; a frame is often
// allocated inside another coroutine's body, after it may have changed thread).
inline constinit thread_local pool_thread_cache pool_cache_storage
    BRIGADE_HOT_THREAD_LOCAL("brigade_detail_pool_cache") =
        pool_detail::initial_cache(std::make_index_sequence<frame_pool_limits::class_count>{});

BRIGADE_THREAD_LOCAL_ACCESSOR pool_thread_cache& pool_cache_reference() noexcept {
  return pool_cache_storage;
}

/// The calling thread's cache.
BRIGADE_ALWAYS_INLINE pool_thread_cache& current_pool_cache() noexcept {
  return *BRIGADE_HOT_THREAD_LOCAL_ADDRESS(pool_thread_cache, "brigade_detail_pool_cache",
                                           pool_cache_reference);
}

/// Slow paths, in src/platform/frame_pool.cpp: the loaded magazine is empty (allocate) or full
/// (deallocate).
void* pool_allocate_slow(std::size_t class_index);
void pool_deallocate_slow(void* pointer, std::size_t class_index) noexcept;

/// Allocates `size` bytes aligned to 16. Throws std::bad_alloc when memory is exhausted.
inline void* pool_allocate(std::size_t size) {
#ifdef BRIGADE_FRAME_POOL_BYPASS
  return ::operator new(size);
#else
  if (size > frame_pool_limits::max_pooled_size || size == 0) return ::operator new(size);
  const std::size_t class_index = (size - 1) / frame_pool_limits::granule;
  pool_magazine* magazine = current_pool_cache().loaded[class_index];
  if (magazine->count != 0) [[likely]]
    return magazine->slots[--magazine->count];
  return pool_allocate_slow(class_index);
#endif
}

/// Returns a block from pool_allocate; `size` must be the size it was allocated with.
inline void pool_deallocate(void* pointer, [[maybe_unused]] std::size_t size) noexcept {
#ifdef BRIGADE_FRAME_POOL_BYPASS
  ::operator delete(pointer);
#else
  if (size > frame_pool_limits::max_pooled_size || size == 0) {
    ::operator delete(pointer);
    return;
  }
  const std::size_t class_index = (size - 1) / frame_pool_limits::granule;
  pool_magazine* magazine = current_pool_cache().loaded[class_index];
  if (magazine->count < magazine->capacity) [[likely]] {
    magazine->slots[magazine->count++] = pointer;
    return;
  }
  pool_deallocate_slow(pointer, class_index);
#endif
}

/// Mix-in that gives a class pooled operator new/delete (used by promise types and records).
struct pool_allocated {
  static void* operator new(std::size_t size) { return pool_allocate(size); }
  static void operator delete(void* pointer, std::size_t size) noexcept {
    pool_deallocate(pointer, size);
  }
};

}  // namespace brigade::detail
