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
// ::operator new). Each thread has, per class, a singly linked free list, plus one bump region
// carved from 256 KiB chunks. A block freed on another thread goes to that thread's list (memory
// is fungible); a list that grows past its cap gives half of itself to a global, mutex-protected
// transfer stack for that class, from which an empty list takes a batch before carving new memory.
// A thread that exits hands its lists to the transfer stacks.
//
// Guarantees: allocate/deallocate are thread-safe; the fast paths take no lock and make no
// system call. Memory is retained for reuse, never returned to the operating system (the
// high-water mark stays, as in tcmalloc and Go). Under AddressSanitizer the pool is bypassed so
// that use-after-free and leaks of frames are still caught.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>

#include "brigade/detail/seam.hpp"

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

/// A freed block, linked through its first word.
struct pool_free_block {
  pool_free_block* next;
};

/// One thread's cache. Constant-initialised and trivially destructible, so reaching it is a plain
/// thread-local access with no initialisation guard; the flush at thread exit is registered by
/// the slow path (frame_pool.cpp).
struct pool_thread_cache {
  pool_free_block* heads[frame_pool_limits::class_count];
  std::uint32_t counts[frame_pool_limits::class_count];
  char* bump_next;
  char* bump_end;
  bool exit_flush_registered;
};

// Never read directly: use current_pool_cache() (see BRIGADE_THREAD_LOCAL_ACCESSOR in seam.hpp;
// a frame is often allocated inside another coroutine's body, after it may have changed thread).
inline constinit thread_local pool_thread_cache pool_cache_storage{};

BRIGADE_THREAD_LOCAL_ACCESSOR pool_thread_cache& current_pool_cache() noexcept {
  return pool_cache_storage;
}

/// Slow paths, in src/platform/frame_pool.cpp.
void* pool_allocate_slow(std::size_t class_index);
void pool_release_surplus(std::size_t class_index) noexcept;

/// Blocks kept per thread and class before half of them move to the shared transfer stack.
constexpr std::uint32_t pool_class_cap(std::size_t class_index) noexcept {
  const std::size_t block = (class_index + 1) * frame_pool_limits::granule;
  const std::size_t by_bytes = (512u * 1024u) / block;
  return static_cast<std::uint32_t>(by_bytes < 64 ? 64 : by_bytes);
}

/// Allocates `size` bytes aligned to 16. Throws std::bad_alloc when memory is exhausted.
inline void* pool_allocate(std::size_t size) {
#ifdef BRIGADE_FRAME_POOL_BYPASS
  return ::operator new(size);
#else
  if (size > frame_pool_limits::max_pooled_size || size == 0) return ::operator new(size);
  const std::size_t class_index = (size - 1) / frame_pool_limits::granule;
  pool_thread_cache& cache = current_pool_cache();
  if (pool_free_block* block = cache.heads[class_index]) [[likely]] {
    cache.heads[class_index] = block->next;
    --cache.counts[class_index];
    return block;
  }
  return pool_allocate_slow(class_index);
#endif
}

/// Returns a block from pool_allocate; `size` must be the size it was allocated with.
inline void pool_deallocate(void* pointer, std::size_t size) noexcept {
#ifdef BRIGADE_FRAME_POOL_BYPASS
  ::operator delete(pointer);
#else
  if (size > frame_pool_limits::max_pooled_size || size == 0) {
    ::operator delete(pointer);
    return;
  }
  const std::size_t class_index = (size - 1) / frame_pool_limits::granule;
  pool_thread_cache& cache = current_pool_cache();
  auto* block = static_cast<pool_free_block*>(pointer);
  block->next = cache.heads[class_index];
  cache.heads[class_index] = block;
  if (++cache.counts[class_index] > pool_class_cap(class_index)) [[unlikely]]
    pool_release_surplus(class_index);
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
