// The registry of root tasks that have started and not finished, so that shutdown can find and
// destroy every one of them (suspended, or queued for a later step). A root spawned on a worker
// is not registered until it first runs: until then, its only trace is its entry in a run queue,
// which shutdown finds there (scheduler.cpp, P7).
//
// Layout: one list per worker, touched only by that worker's thread (no lock, no locked
// instruction), plus one list under a mutex for roots spawned from outside the workers.
//   - A worker registers a root in its own list when it starts it, and unlinks it there when it
//     finishes on the same worker: the common case costs a few plain stores.
//   - A root that finishes on another worker (it was suspended and resumed elsewhere) cannot be
//     unlinked there. The finishing worker pushes it on the owner's remote-removal stack (a
//     lock-free stack: one compare-exchange); the owner unlinks what is on it when it next looks
//     (every few dozen tasks, and before it parks), then sets the record's `unregistered` bit
//     (spawn_record.hpp, step 4). Until then the finished record stays allocated.
//   - Roots spawned from outside (block_on, runtime::spawn from main) are registered at once in
//     the outsiders' list, under its lock, which also refuses them once shutdown began.
//
// Invariants:
//   - A record is in at most one list; registry_owner_ names it. Worker lists are only touched
//     by their worker's thread, or by shutdown after every worker thread has been joined.
//   - remote_removals[w] holds only finished records that are still in worker w's list, linked
//     through their remote_next(); pushed by any worker, emptied by worker w (or shutdown).
//   - Once `accepting` is false it stays false.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

#include "brigade/detail/cache_line.hpp"
#include "brigade/detail/seam.hpp"
#include "brigade/detail/spawn_record.hpp"
#include "brigade/runtime/errors.hpp"

namespace brigade::detail {

/// An intrusive doubly linked list of records through registry_prev_/registry_next_.
struct root_list {
  join_state* head = nullptr;

  void push_front(join_state& record) noexcept {
    record.registry_prev_ = nullptr;
    record.registry_next_ = head;
    if (head != nullptr) head->registry_prev_ = &record;
    head = &record;
  }

  void unlink(join_state& record) noexcept {
    if (record.registry_prev_ != nullptr)
      record.registry_prev_->registry_next_ = record.registry_next_;
    else
      head = record.registry_next_;
    if (record.registry_next_ != nullptr) record.registry_next_->registry_prev_ = record.registry_prev_;
    record.registry_prev_ = record.registry_next_ = nullptr;
  }
};

class root_registry {
 public:
  explicit root_registry(std::size_t workers) : workers_(new worker_part[workers]), count_(workers) {}

  // ---- Worker lists: called on worker `index`'s own thread.

  /// A root starts on worker `index`.
  void add_started(join_state& record, std::uint16_t index) noexcept {
    record.registry_owner_ = index;
    workers_[index].list.push_front(record);
  }

  /// A root finished on worker `here` (its result is stored): unregisters it and publishes it.
  /// A root resumes only on its own runtime's workers, so `here` is always one of ours.
  void finish(join_state& record, std::uint16_t here) noexcept {
    const std::uint16_t owner = record.registry_owner_;
    if (owner == here) {
      workers_[here].list.unlink(record);
      record.finish(join_state::complete | join_state::unregistered);
    } else if (owner == join_state::outsider_list) {
      {
        std::lock_guard lock(outsiders_.mutex);
        outsiders_.list.unlink(record);
      }
      record.finish(join_state::complete | join_state::unregistered);
    } else {
      record.finish(join_state::complete);
      // The record stays allocated until its owner sets `unregistered`, so this is safe.
      push_remote_removal(workers_[owner], record);
    }
  }

  /// Worker `index` unlinks the records that finished on other workers.
  void drain_remote_removals(std::uint16_t index) noexcept {
    worker_part& part = workers_[index];
    if (part.remote_removals.load(seam::memory_order::relaxed) == nullptr) return;
    // Acquire: pairs with the release in push_remote_removal, so the links are visible.
    join_state* record = part.remote_removals.exchange(nullptr, seam::memory_order::acquire);
    while (record != nullptr) {
      join_state* next = record->remote_next();
      part.list.unlink(*record);
      record->mark_unregistered();  // may free the record
      record = next;
    }
  }

  // ---- The outsiders' list: any thread.

  /// Registers a root spawned outside the workers; throws runtime_shut_down once closed.
  void add_outsider(join_state& record) {
    std::lock_guard lock(outsiders_.mutex);
    if (!accepting_.load(seam::memory_order::relaxed))
      throw runtime_shut_down("brigade: spawn on a runtime that is shut down");
    record.registry_owner_ = join_state::outsider_list;
    outsiders_.list.push_front(record);
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
    for (std::size_t i = 0; i < count_; ++i) {
      root_list& list = workers_[i].list;
      if (join_state* record = list.head) {
        list.unlink(*record);
        return record;
      }
    }
    std::lock_guard lock(outsiders_.mutex);
    if (join_state* record = outsiders_.list.head) {
      outsiders_.list.unlink(*record);
      return record;
    }
    return nullptr;
  }

 private:
  struct alignas(cache_line_size) worker_part {
    root_list list;  // owner thread only
    // Records that finished elsewhere; any worker pushes, the owner takes all.
    alignas(cache_line_size) seam::atomic<join_state*> remote_removals{nullptr};
  };
  struct outsider_part {
    seam::mutex mutex;
    root_list list;  // guarded by mutex
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
  outsider_part outsiders_;
  seam::atomic<bool> accepting_{true};
};

}  // namespace brigade::detail
