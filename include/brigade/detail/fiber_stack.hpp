// brigade/detail/fiber_stack.hpp: the stacks fibers run on (internal): allocated in chunks, each
// stack with a guard page below it, pooled and reused.
//
// Why chunks and guard regions: a million idle fibers must fit in a default Linux, whose
// vm.max_map_count is 65530. One mapping per stack, or a guard page made by mprotect (which
// splits the mapping), costs one or two of those per fiber. So stacks are carved from chunks of
// one mapping each (MAP_NORESERVE: only the pages a fiber touches cost memory), and the guard
// page of each is a guard region (madvise MADV_GUARD_INSTALL, Linux 6.13 and later), which
// splits nothing. On an older kernel the guard is an mprotect'ed page, as long as the process
// stays below half of vm.max_map_count; past that, stacks come without a guard page, and a
// canary at the stack's lowest word is checked every time the fiber switches out and when its
// stack is returned (a clear report instead of silence, but after the fact: the guarantee is
// weaker, and `guard()` says which kind a stack has).
//
// Reuse: a returned stack goes to the calling thread's cache (a few stacks of the default size),
// else to the process-wide pool of its size; its touched pages stay (a reused stack costs no
// page faults). Stacks are never unmapped.
//
// Thread safety: allocate and release from any thread. Complexity: O(1) from a cache or the
// pool; a new chunk is one mmap and a madvise per stack in it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace brigade::detail {

enum class stack_guard : unsigned char {
  guard_region,  // MADV_GUARD_INSTALL page below the stack
  guard_page,    // an mprotect'ed PROT_NONE page below the stack
  canary,        // no guard page: a canary word checked at switches
};

struct fiber_stack {
  std::byte* lowest = nullptr;  // the usable stack is [lowest, lowest + size); the guard is below
  std::size_t size = 0;
  stack_guard guard = stack_guard::guard_region;

  std::byte* top() const noexcept { return lowest + size; }
  /// Whether `address` lies in the guard page below the stack.
  bool in_guard(const void* address) const noexcept;
  /// For stack_guard::canary: whether the canary is intact (always true for the others).
  bool canary_intact() const noexcept;
};

inline constexpr std::size_t fiber_stack_page = 4096;
/// The usable size of a fiber's stack when fiber_options::stack_size is not given.
inline constexpr std::size_t default_fiber_stack_size = 64 * 1024;
/// The smallest usable size allocate_fiber_stack gives (a smaller request is rounded up).
inline constexpr std::size_t minimum_fiber_stack_size = 16 * 1024;

/// A stack of at least `size` usable bytes (rounded up to pages). Throws std::bad_alloc (or
/// std::system_error from mmap) when the address space or memory runs out.
fiber_stack allocate_fiber_stack(std::size_t size);
/// Returns `stack` for reuse.
void release_fiber_stack(const fiber_stack& stack) noexcept;

}  // namespace brigade::detail
