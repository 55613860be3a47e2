// The registry of root tasks that have started and not finished, so that shutdown can find and
// destroy every one of them (suspended, or queued for a later step). A root spawned on a worker
// is not registered until it first runs: until then, its only trace is its entry in a run queue,
// which shutdown finds there (scheduler.cpp, P7).
//
// Layout: one table per worker (core and compensating), touched only by that worker's thread (no
// lock, no locked instruction), plus one table under a mutex for roots spawned from outside the
// workers. A table is an array of entries; an entry holds a record's address, or, when free, the
// index of the next free entry (a free list threaded through the entries). A record keeps its
// owner and its index (registry_owner_, registry_index_).
//   - A worker registers a root in its own table when it starts it (takes the first free entry),
//     and frees that entry when it finishes on the same worker: the common case costs a few plain
//     loads and stores to the table, which stays in the worker's cache, and none to other records.
//   - A root that finishes on another worker (it was suspended and resumed elsewhere) cannot be
//     removed there. The finishing worker pushes it on the owner's remote-removal stack (a
//     lock-free stack: one compare-exchange); the owner removes what is on it when it next looks
//     (every few dozen tasks, and before it parks), then sets the record's `unregistered` bit
//     (spawn_record.hpp, step 4). Until then the finished record stays allocated. A compensating
//     worker's stack is drained by the monitor while no thread runs that worker.
//   - Roots spawned from outside (block_on, runtime::spawn from main) are registered at once in
//     the outsiders' table, under its lock, which also refuses them once shutdown began.
// Why a table and not an intrusive list through the records: a list needs two links per record,
// and a root_record<void> must stay a 64-byte block (spawn_record.hpp); and linking or unlinking
// touches the neighbouring records, which are cold, or hot in another core's cache.
//
// Invariants:
//   - A record is in at most one table; registry_owner_ names it, registry_index_ its entry. A
//     worker's table is only touched by its thread, or by the monitor while no thread runs that
//     (compensating) worker, or by shutdown after every worker thread has been joined.
//   - remote_removals[w] holds only finished records that are still in worker w's table, linked
//     through their remote_next(); pushed by any worker, emptied by worker w (or as above).
//   - Once `accepting` is false it stays false.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <new>
#include <vector>

#include "brigade/detail/cache_line.hpp"
#include "brigade/detail/seam.hpp"
#include "brigade/detail/spawn_record.hpp"
#include "brigade/runtime/errors.hpp"

namespace brigade::detail {

/// The records one owner has registered. Not thread-safe: one owner at a time (see above).
class root_table {
 public:
  /// Registers `record` under `owner`. Without memory for the table to grow nothing can go on
  /// safely (shutdown would not find the task): ends the process with a message. The common
  /// path (a free entry) makes no call, so that a caller saves no registers for it.
  void add(join_state& record, std::uint16_t owner) noexcept {
    const std::uint32_t index = free_head_;
    if (index == no_entry) [[unlikely]]
      return add_at_end(record, owner);
    free_head_ = static_cast<std::uint32_t>(entries_[index] >> 1);
    entries_[index] = reinterpret_cast<std::uintptr_t>(&record);
    record.registry_owner_ = owner;
    record.registry_index_ = index;
  }

  /// Makes sure that the next add() cannot fail: throws std::bad_alloc instead.
  void make_room() {
    if (free_head_ != no_entry || entries_.size() < entries_.capacity()) return;
    if (entries_.size() >= no_entry) throw std::bad_alloc();
    entries_.reserve(std::max<std::size_t>(16, 2 * entries_.size()));
  }

  void remove(join_state& record) noexcept {
    const std::uint32_t index = record.registry_index_;
    entries_[index] = (std::uintptr_t{free_head_} << 1) | free_bit;
    free_head_ = index;
  }

  /// Removes and returns some registered record, or nullptr when none is left. For shutdown:
  /// nothing is added meanwhile, so the entries already passed stay free.
  join_state* take_any() noexcept {
    for (; scanned_ < entries_.size(); ++scanned_) {
      const std::uintptr_t value = entries_[scanned_];
      if ((value & free_bit) == 0) {
        auto* record = reinterpret_cast<join_state*>(value);
        remove(*record);
        return record;
      }
    }
    return nullptr;
  }

 private:
  static constexpr std::uint32_t no_entry = 0xFFFFFFFF;
  static constexpr std::uintptr_t free_bit = 1;  // records are aligned: their addresses have it clear
  static_assert(alignof(join_state) > free_bit);

  [[gnu::noinline]] void add_at_end(join_state& record, std::uint16_t owner) noexcept {
    try {
      if (entries_.size() >= no_entry) throw std::bad_alloc();  // 4 billion live roots in one table
      entries_.push_back(reinterpret_cast<std::uintptr_t>(&record));
    } catch (...) {
      std::fputs("brigade: out of memory registering a started task\n", stderr);
      std::abort();
    }
    record.registry_owner_ = owner;
    record.registry_index_ = static_cast<std::uint32_t>(entries_.size() - 1);
  }

  // A record's address, or a free entry: (the next free entry's index << 1) | free_bit. Only the
  // owner touches it, so growing (which moves it) needs no care.
  std::vector<std::uintptr_t> entries_;
  std::uint32_t free_head_ = no_entry;  // the most recently freed entry: still in cache
  std::size_t scanned_ = 0;             // take_any's position
};

class root_registry {
 public:
  /// `workers`: the core and compensating workers; `runtime_serial`: the runtime's, for the
  /// records this registry completes (spawn_record.hpp).
  root_registry(std::size_t workers, std::uint32_t runtime_serial)
      : workers_(new worker_part[workers]), count_(workers), runtime_serial_(runtime_serial) {}

  // ---- Worker tables: called on worker `index`'s own thread.

  /// A root starts on worker `index` (root_table::add).
  void add_started(join_state& record, std::uint16_t index) noexcept { workers_[index].table.add(record, index); }

  /// A root finished on worker `here` (its result is stored): unregisters it and publishes it.
  /// A root resumes only on its own runtime's workers, so `here` is always one of ours.
  void finish(join_state& record, std::uint16_t here) noexcept {
    const std::uint16_t owner = record.registry_owner_;
    if (owner == here) {
      workers_[here].table.remove(record);
      record.finish(runtime_serial_, join_state::complete | join_state::unregistered);
    } else if (owner == join_state::outsider_list) {
      {
        std::lock_guard lock(outsiders_.mutex);
        outsiders_.table.remove(record);
      }
      record.finish(runtime_serial_, join_state::complete | join_state::unregistered);
    } else {
      record.finish(runtime_serial_, join_state::complete);
      // The record stays allocated until its owner sets `unregistered`, so this is safe.
      push_remote_removal(workers_[owner], record);
    }
  }

  /// Worker `index` removes the records that finished on other workers.
  void drain_remote_removals(std::uint16_t index) noexcept {
    worker_part& part = workers_[index];
    if (part.remote_removals.load(seam::memory_order::relaxed) == nullptr) return;
    // Acquire: pairs with the release in push_remote_removal, so the links are visible.
    join_state* record = part.remote_removals.exchange(nullptr, seam::memory_order::acquire);
    while (record != nullptr) {
      join_state* next = record->remote_next();
      part.table.remove(*record);
      record->mark_unregistered(runtime_serial_);  // may free the record
      record = next;
    }
  }

  // ---- The outsiders' list: any thread.

  /// Registers a root spawned outside the workers; throws runtime_shut_down once closed (or
  /// std::bad_alloc).
  void add_outsider(join_state& record) {
    std::lock_guard lock(outsiders_.mutex);
    if (!accepting_.load(seam::memory_order::relaxed))
      throw runtime_shut_down("brigade: spawn on a runtime that is shut down");
    outsiders_.table.make_room();
    outsiders_.table.add(record, join_state::outsider_list);
  }

  // ---- Shutdown.

  /// True until close(). Read without ordering by spawns on workers: a spawn that misses the
  /// close is still found by shutdown, which looks at the run queues after joining the workers.
  bool accepting() const noexcept { return accepting_.load(seam::memory_order::relaxed); }

  /// Refuses every later add_outsider() (and, through accepting(), spawns on workers).
  void close() {
    std::lock_guard lock(outsiders_.mutex);
    accepting_.store(false, seam::memory_order::relaxed);
  }

  /// After every worker thread has been joined (nothing pushes remote removals any more):
  /// unlinks the records that finished elsewhere.
  void drain_all_remote_removals_after_workers_stopped() noexcept {
    for (std::size_t i = 0; i < count_; ++i) drain_remote_removals(static_cast<std::uint16_t>(i));
  }

  /// After drain_all_remote_removals_after_workers_stopped(): removes and returns some
  /// registered record, or nullptr when none is left.
  join_state* take_any_after_workers_stopped() noexcept {
    for (std::size_t i = 0; i < count_; ++i)
      if (join_state* record = workers_[i].table.take_any()) return record;
    std::lock_guard lock(outsiders_.mutex);
    return outsiders_.table.take_any();
  }

 private:
  struct alignas(cache_line_size) worker_part {
    root_table table;  // owner thread only
    // Records that finished elsewhere; any worker pushes, the owner takes all.
    alignas(cache_line_size) seam::atomic<join_state*> remote_removals{nullptr};
  };
  struct outsider_part {
    seam::mutex mutex;
    root_table table;  // guarded by mutex
  };

  static void push_remote_removal(worker_part& owner, join_state& record) noexcept {
    join_state* head = owner.remote_removals.load(seam::memory_order::relaxed);
    do {
      record.set_remote_next(head);
      // Release: the owner that takes the stack sees the link and the finished record.
    } while (!owner.remote_removals.compare_exchange_weak(head, &record, seam::memory_order::release,
                                                          seam::memory_order::relaxed));
  }

  std::unique_ptr<worker_part[]> workers_;
  const std::size_t count_;
  const std::uint32_t runtime_serial_;
  outsider_part outsiders_;
  seam::atomic<bool> accepting_{true};
};

}  // namespace brigade::detail
