// The slow paths of the frame pool (include/brigade/detail/frame_pool.hpp): trading magazines
// with the depot, carving new blocks, and the flush when a thread exits.
//
// Invariants:
//   - A block is in at most one place: one magazine slot, one overflow list, or in use.
//   - depot.stocked[c] lists magazines of class c holding at least one block; depot.empties lists
//     magazines holding none (of any class: a magazine is only addresses). Both are linked
//     through next_in_depot and guarded by depot.mutex, as is overflow[c].
//   - stocked_count[c] equals the length of stocked[c] plus that of overflow[c] whenever the
//     mutex is free; it is read without the lock as a hint, to skip locking an empty depot.
//   - A thread's loaded and previous magazines are either the shared placeholder (capacity 0)
//     or magazines owned by that thread alone.
//   - Chunks are never freed; `chunks` keeps them reachable so leak checkers see no leak.
#include "brigade/detail/frame_pool.hpp"

#include <mutex>
#include <new>
#include <utility>
#include <vector>

namespace brigade::detail {
namespace {

constexpr std::size_t chunk_size = 256 * 1024;
// Addresses carved into an empty magazine at a time: enough to amortise the slow path, few
// enough that a thread that needs a handful of frames does not reserve a whole magazine's worth.
constexpr std::uint32_t carve_batch = 32;

/// A block kept outside any magazine, when no memory was left for a magazine to hold it.
struct overflow_block {
  overflow_block* next;
};

struct pool_depot {
  seam::mutex mutex;
  // LIFO: the most recently returned magazine is the likeliest to be in a cache (measured: a
  // FIFO depot shuffled the blocks over a long run and made a single worker 30% slower).
  pool_magazine* stocked[frame_pool_limits::class_count] = {};
  overflow_block* overflow[frame_pool_limits::class_count] = {};
  seam::atomic<std::uint32_t> stocked_count[frame_pool_limits::class_count] = {};
  pool_magazine* empties = nullptr;
  std::vector<void*> chunks;
};

pool_depot& depot() {
  // Never destroyed: threads may free blocks during static destruction.
  static auto* state = new pool_depot;
  return *state;
}

bool is_placeholder(const pool_magazine* magazine) noexcept { return magazine->capacity == 0; }

void bump_count(pool_depot& d, std::size_t c, int by) noexcept {
  d.stocked_count[c].store(d.stocked_count[c].load(seam::memory_order::relaxed) + by,
                           seam::memory_order::relaxed);
}

/// Puts `magazine` (owned by the caller) into the depot; the depot's mutex is held.
void return_to_depot_locked(pool_depot& d, std::size_t c, pool_magazine* magazine) noexcept {
  if (is_placeholder(magazine)) return;
  if (magazine->count != 0) {
    magazine->next_in_depot = d.stocked[c];
    d.stocked[c] = magazine;
    bump_count(d, c, 1);
  } else {
    magazine->next_in_depot = d.empties;
    d.empties = magazine;
  }
}

/// An empty magazine from the depot, or a new one; nullptr when memory is exhausted.
pool_magazine* take_empty_magazine() noexcept {
  pool_depot& d = depot();
  {
    std::lock_guard lock(d.mutex);
    if (pool_magazine* magazine = d.empties) {
      d.empties = magazine->next_in_depot;
      return magazine;
    }
  }
  auto* magazine = static_cast<pool_magazine*>(::operator new(sizeof(pool_magazine), std::nothrow));
  if (magazine == nullptr) return nullptr;
  magazine->count = 0;
  magazine->capacity = pool_magazine::slot_count;
  magazine->next_in_depot = nullptr;
  return magazine;
}

void flush_thread_cache() noexcept {
  pool_thread_cache& cache = current_pool_cache();
  pool_depot& d = depot();
  std::lock_guard lock(d.mutex);
  for (std::size_t c = 0; c < frame_pool_limits::class_count; ++c) {
    return_to_depot_locked(d, c, std::exchange(cache.loaded[c], &empty_pool_magazine));
    return_to_depot_locked(d, c, std::exchange(cache.previous[c], &empty_pool_magazine));
  }
}

struct exit_flush {
  ~exit_flush() { flush_thread_cache(); }
};

void register_exit_flush() {
  static thread_local exit_flush flush_at_exit;
  (void)&flush_at_exit;  // odr-use: constructs it, which registers its destructor
  current_pool_cache().exit_flush_registered = true;
}

/// Fills the (empty, real) loaded magazine of class c from the depot: a stocked magazine is
/// swapped in, or up to a batch of overflow blocks is moved in. Returns false if the depot had
/// nothing.
bool restock_from_depot(pool_thread_cache& cache, std::size_t c) noexcept {
  pool_depot& d = depot();
  if (d.stocked_count[c].load(seam::memory_order::relaxed) == 0) return false;
  std::lock_guard lock(d.mutex);
  if (pool_magazine* full = d.stocked[c]) {
    d.stocked[c] = full->next_in_depot;
    bump_count(d, c, -1);
    // Keep the current loaded (empty) one as previous; the old previous (empty too, since the
    // caller found nothing in it) goes back to the depot.
    return_to_depot_locked(d, c, std::exchange(cache.previous[c], cache.loaded[c]));
    cache.loaded[c] = full;
    return true;
  }
  pool_magazine* loaded = cache.loaded[c];
  while (d.overflow[c] != nullptr && loaded->count < loaded->capacity) {
    overflow_block* block = d.overflow[c];
    d.overflow[c] = block->next;
    bump_count(d, c, -1);
    loaded->slots[loaded->count++] = block;
  }
  return loaded->count != 0;
}

/// Carves up to carve_batch new blocks of class c, from the current chunk (or a new one when
/// it has no room for one block), into the (empty, real) loaded magazine.
void carve(pool_thread_cache& cache, std::size_t c) {
  const std::size_t block_size = (c + 1) * frame_pool_limits::granule;
  std::size_t room = cache.bump_next == nullptr
                         ? 0
                         : static_cast<std::size_t>(cache.bump_end - cache.bump_next) / block_size;
  if (room == 0) {
    void* chunk = ::operator new(chunk_size, std::align_val_t{64});
    {
      pool_depot& d = depot();
      std::lock_guard lock(d.mutex);
      d.chunks.push_back(chunk);
    }
    cache.bump_next = static_cast<char*>(chunk);
    cache.bump_end = cache.bump_next + chunk_size;
    room = chunk_size / block_size;
  }
  const auto count = static_cast<std::uint32_t>(room < carve_batch ? room : carve_batch);
  pool_magazine* loaded = cache.loaded[c];
  // The magazine pops from the end: the lowest address goes last, so blocks go out in address
  // order and the first touches walk the chunk forwards.
  for (std::uint32_t i = 0; i < count; ++i) loaded->slots[count - 1 - i] = cache.bump_next + i * block_size;
  loaded->count = count;
  cache.bump_next += count * block_size;
}

}  // namespace

void* pool_allocate_slow(std::size_t class_index) {
  pool_thread_cache& cache = current_pool_cache();
  if (!cache.exit_flush_registered) register_exit_flush();
  // 1. The previous magazine still has blocks: swap it in.
  if (cache.previous[class_index]->count != 0) {
    std::swap(cache.loaded[class_index], cache.previous[class_index]);
  } else {
    // 2. Make sure the loaded magazine is a real one we can fill.
    if (is_placeholder(cache.loaded[class_index])) {
      pool_magazine* magazine = take_empty_magazine();
      if (magazine == nullptr) throw std::bad_alloc();
      cache.loaded[class_index] = magazine;
    }
    // 3. A stocked magazine from the depot, else new blocks.
    if (!restock_from_depot(cache, class_index)) carve(cache, class_index);
  }
  pool_magazine* loaded = cache.loaded[class_index];
  return loaded->slots[--loaded->count];
}

void pool_deallocate_slow(void* pointer, std::size_t class_index) noexcept {
  pool_thread_cache& cache = current_pool_cache();
  if (!cache.exit_flush_registered) {
    try {
      register_exit_flush();
    } catch (...) {
      // Could not register: the magazines of this thread will not be flushed at its exit (their
      // blocks stay allocated, nothing is freed twice).
    }
  }
  pool_magazine*& loaded = cache.loaded[class_index];
  pool_magazine*& previous = cache.previous[class_index];
  // 1. The previous magazine is empty: swap it in.
  if (!is_placeholder(previous) && previous->count == 0) {
    std::swap(loaded, previous);
  } else {
    // 2. Send the full previous one to the depot, keep the full loaded one as previous, and load
    //    an empty one.
    pool_magazine* empty = take_empty_magazine();
    if (empty == nullptr) {
      // No memory for a magazine: keep the block on the depot's overflow list.
      pool_depot& d = depot();
      std::lock_guard lock(d.mutex);
      auto* block = static_cast<overflow_block*>(pointer);
      block->next = d.overflow[class_index];
      d.overflow[class_index] = block;
      bump_count(d, class_index, 1);
      return;
    }
    {
      pool_depot& d = depot();
      std::lock_guard lock(d.mutex);
      return_to_depot_locked(d, class_index, previous);
    }
    previous = loaded;
    loaded = empty;
  }
  loaded->slots[loaded->count++] = pointer;
}

}  // namespace brigade::detail
