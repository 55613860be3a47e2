// The slow paths of the frame pool (include/brigade/detail/frame_pool.hpp): carving new blocks,
// the shared transfer stacks, and the flush when a thread exits.
//
// Invariants:
//   - A block is in at most one place: one thread's free list, one transfer batch, or in use.
//   - transfer_stacks[c] holds only blocks of class c, linked into batches through their first
//     word; `batches` records each batch's head and length. Guarded by `mutex`.
//   - Chunks are never freed; `chunks` keeps them reachable so leak checkers see no leak.
#include "brigade/detail/frame_pool.hpp"

#include <cstdlib>
#include <mutex>
#include <vector>

namespace brigade::detail {
namespace {

constexpr std::size_t chunk_size = 256 * 1024;

struct transfer_batch {
  pool_free_block* head;
  std::uint32_t count;
};

struct pool_global_state {
  std::mutex mutex;
  std::vector<transfer_batch> batches[frame_pool_limits::class_count];
  std::vector<void*> chunks;
};

pool_global_state& global_state() {
  // Never destroyed: threads may free blocks during static destruction.
  static auto* state = new pool_global_state;
  return *state;
}

void flush_thread_cache() noexcept {
  pool_thread_cache& cache = current_pool_cache();
  pool_global_state& global = global_state();
  std::lock_guard lock(global.mutex);
  for (std::size_t c = 0; c < frame_pool_limits::class_count; ++c) {
    if (cache.heads[c] == nullptr) continue;
    global.batches[c].push_back({cache.heads[c], cache.counts[c]});
    cache.heads[c] = nullptr;
    cache.counts[c] = 0;
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

}  // namespace

void* pool_allocate_slow(std::size_t class_index) {
  pool_thread_cache& cache = current_pool_cache();
  if (!cache.exit_flush_registered) register_exit_flush();
  const std::size_t block_size = (class_index + 1) * frame_pool_limits::granule;

  // 1. A batch that another thread gave back.
  {
    pool_global_state& global = global_state();
    std::lock_guard lock(global.mutex);
    auto& batches = global.batches[class_index];
    if (!batches.empty()) {
      transfer_batch batch = batches.back();
      batches.pop_back();
      pool_free_block* block = batch.head;
      cache.heads[class_index] = block->next;
      cache.counts[class_index] = batch.count - 1;
      return block;
    }
  }
  // 2. Bump-allocate from this thread's chunk, taking a new chunk when it is used up.
  if (cache.bump_next == nullptr ||
      static_cast<std::size_t>(cache.bump_end - cache.bump_next) < block_size) {
    void* chunk = ::operator new(chunk_size, std::align_val_t{64});
    {
      pool_global_state& global = global_state();
      std::lock_guard lock(global.mutex);
      global.chunks.push_back(chunk);
    }
    cache.bump_next = static_cast<char*>(chunk);
    cache.bump_end = cache.bump_next + chunk_size;
  }
  void* block = cache.bump_next;
  cache.bump_next += block_size;
  return block;
}

void pool_release_surplus(std::size_t class_index) noexcept {
  pool_thread_cache& cache = current_pool_cache();
  const std::uint32_t keep = cache.counts[class_index] / 2;
  const std::uint32_t give = cache.counts[class_index] - keep;
  // Walk past the blocks we keep; the rest form the batch.
  pool_free_block* last_kept = cache.heads[class_index];
  for (std::uint32_t i = 1; i < keep; ++i) last_kept = last_kept->next;
  pool_free_block* batch_head = last_kept->next;
  last_kept->next = nullptr;
  cache.counts[class_index] = keep;
  pool_global_state& global = global_state();
  std::lock_guard lock(global.mutex);
  try {
    global.batches[class_index].push_back({batch_head, give});
  } catch (...) {
    // Out of memory for the bookkeeping: keep the blocks rather than lose them.
    last_kept->next = batch_head;
    cache.counts[class_index] = keep + give;
  }
}

}  // namespace brigade::detail
