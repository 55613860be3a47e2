// The fiber stack pool: see include/brigade/detail/fiber_stack.hpp.
#include "brigade/detail/fiber_stack.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <new>
#include <system_error>
#include <unordered_map>
#include <vector>

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102  // Linux 6.13 (include/uapi/asm-generic/mman-common.h)
#endif

namespace brigade::detail {

namespace {

constexpr std::size_t guard_size = fiber_stack_page;
/// Stacks per chunk (one mapping): 256 default stacks are 17 MiB of address space.
constexpr std::size_t stacks_per_chunk = 256;
constexpr std::uint64_t canary_seed = 0xB81CADE5'AC5AFE17ull;

std::uint64_t canary_for(const std::byte* lowest) noexcept {
  return canary_seed ^ reinterpret_cast<std::uintptr_t>(lowest);
}

std::size_t read_max_map_count() noexcept {
  std::ifstream in("/proc/sys/vm/max_map_count");
  std::size_t value = 0;
  if (in >> value) return value;
  return 65530;
}

struct stack_pools {
  std::mutex mutex;
  std::unordered_map<std::size_t, std::vector<fiber_stack>> free;  // by usable size
  // Whether the kernel takes MADV_GUARD_INSTALL (unknown until the first chunk).
  enum class regions : unsigned char { unknown, supported, unsupported } guard_regions = regions::unknown;
  std::size_t guard_pages_left = read_max_map_count() / 4;  // for the mprotect fallback
};

stack_pools& pools() {
  static stack_pools* instance = new stack_pools;  // never destroyed: stacks outlive statics
  return *instance;
}

// Under the pools' lock: guards the stack whose usable part starts at `lowest`.
stack_guard install_guard(stack_pools& p, std::byte* lowest) noexcept {
  std::byte* guard = lowest - guard_size;
  if (p.guard_regions != stack_pools::regions::unsupported) {
    if (::madvise(guard, guard_size, MADV_GUARD_INSTALL) == 0) {
      p.guard_regions = stack_pools::regions::supported;
      return stack_guard::guard_region;
    }
    if (p.guard_regions == stack_pools::regions::unknown) p.guard_regions = stack_pools::regions::unsupported;
  }
  if (p.guard_pages_left > 0 && ::mprotect(guard, guard_size, PROT_NONE) == 0) {
    --p.guard_pages_left;
    return stack_guard::guard_page;
  }
  return stack_guard::canary;
}

// Under the pools' lock: maps a chunk of stacks of `size` and adds them to the free list.
void add_chunk(stack_pools& p, std::size_t size, std::vector<fiber_stack>& free) {
  const std::size_t slot = size + guard_size;
  const std::size_t count = std::max<std::size_t>(1, stacks_per_chunk * default_fiber_stack_size / size);
  void* chunk = ::mmap(nullptr, slot * count, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (chunk == MAP_FAILED) {
    if (errno == ENOMEM) throw std::bad_alloc();
    throw std::system_error(errno, std::generic_category(), "brigade: mmap of fiber stacks");
  }
  free.reserve(free.size() + count);
  // Pushed highest first, so that the lowest addresses are handed out first.
  for (std::size_t i = count; i-- > 0;) {
    auto* lowest = static_cast<std::byte*>(chunk) + i * slot + guard_size;
    fiber_stack stack{lowest, size, install_guard(p, lowest)};
    if (stack.guard == stack_guard::canary) {
      const std::uint64_t canary = canary_for(lowest);
      std::memcpy(lowest, &canary, sizeof canary);
    }
    free.push_back(stack);
  }
}

fiber_stack take_from_pool(std::size_t size) {
  stack_pools& p = pools();
  std::lock_guard lock(p.mutex);
  auto& free = p.free[size];
  if (free.empty()) add_chunk(p, size, free);
  const fiber_stack stack = free.back();
  free.pop_back();
  return stack;
}

void give_to_pool(const fiber_stack& stack) noexcept {
  stack_pools& p = pools();
  std::lock_guard lock(p.mutex);
  try {
    p.free[stack.size].push_back(stack);
  } catch (...) {
    // Out of memory for the free list: the stack stays mapped, unused.
  }
}

// The calling thread's few default-size stacks: most fibers start and end on the same worker
// (skynet starts a million), and the pool's lock is then not taken.
struct thread_cache {
  static constexpr std::size_t capacity = 32;
  std::array<fiber_stack, capacity> stacks{};
  std::size_t count = 0;
  ~thread_cache() {
    for (std::size_t i = 0; i < count; ++i) give_to_pool(stacks[i]);
  }
};
thread_local thread_cache cache;

}  // namespace

bool fiber_stack::in_guard(const void* address) const noexcept {
  if (guard == stack_guard::canary) return false;
  const auto* byte = static_cast<const std::byte*>(address);
  return byte >= lowest - guard_size && byte < lowest;
}

bool fiber_stack::canary_intact() const noexcept {
  if (guard != stack_guard::canary) return true;
  std::uint64_t word;
  std::memcpy(&word, lowest, sizeof word);
  return word == canary_for(lowest);
}

fiber_stack allocate_fiber_stack(std::size_t size) {
  size = std::max(size, minimum_fiber_stack_size);
  size = (size + fiber_stack_page - 1) / fiber_stack_page * fiber_stack_page;
  if (size == default_fiber_stack_size && cache.count > 0) return cache.stacks[--cache.count];
  return take_from_pool(size);
}

void release_fiber_stack(const fiber_stack& stack) noexcept {
  if (stack.size == default_fiber_stack_size && cache.count < thread_cache::capacity) {
    cache.stacks[cache.count++] = stack;
    return;
  }
  give_to_pool(stack);
}

}  // namespace brigade::detail
