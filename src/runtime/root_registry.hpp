// The registry of spawned root tasks that have not finished, so that shutdown can find and
// destroy every one of them (queued or suspended). Sharded: one shard per worker plus one for
// spawns from outside the workers, each with its own lock, so that two workers spawning and
// finishing tasks do not contend on (or bounce) one lock. A record remembers its shard.
//
// Invariants (per shard, guarded by its mutex):
//   - `head` lists exactly the records registered in this shard and not yet removed;
//     `count` is their number.
//   - Once `accepting` is false it stays false, and no record is added afterwards.
// Closing: close() clears `accepting` in every shard under that shard's lock, so a concurrent
// add() either linked its record before (and shutdown will find it) or throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

#include "brigade/detail/cache_line.hpp"
#include "brigade/detail/spawn_record.hpp"
#include "brigade/runtime/errors.hpp"

namespace brigade::detail {

class root_registry {
 public:
  explicit root_registry(std::size_t shards) : shards_(new shard[shards]), count_(shards) {}

  /// Links `record` into shard `index`; throws runtime_shut_down once closed.
  void add(join_state& record, std::size_t index) {
    shard& s = shards_[index];
    std::lock_guard lock(s.mutex);
    if (!s.accepting) throw runtime_shut_down("brigade: spawn on a runtime that is shut down");
    record.registry_shard_ = static_cast<std::uint16_t>(index);
    record.registry_next_ = s.head;
    if (s.head != nullptr) s.head->registry_prev_ = &record;
    s.head = &record;
    ++s.count;
  }

  void remove(join_state& record) noexcept {
    shard& s = shards_[record.registry_shard_];
    std::lock_guard lock(s.mutex);
    unlink(s, record);
  }

  /// Refuses every later add().
  void close() {
    for (std::size_t i = 0; i < count_; ++i) {
      std::lock_guard lock(shards_[i].mutex);
      shards_[i].accepting = false;
    }
  }

  /// Removes and returns some registered record, or nullptr when none is left.
  join_state* take_any() noexcept {
    for (std::size_t i = 0; i < count_; ++i) {
      shard& s = shards_[i];
      std::lock_guard lock(s.mutex);
      if (join_state* record = s.head) {
        unlink(s, *record);
        return record;
      }
    }
    return nullptr;
  }

  std::size_t size() const {
    std::size_t total = 0;
    for (std::size_t i = 0; i < count_; ++i) {
      std::lock_guard lock(shards_[i].mutex);
      total += shards_[i].count;
    }
    return total;
  }

 private:
  struct alignas(cache_line_size) shard {
    mutable std::mutex mutex;
    join_state* head = nullptr;
    std::size_t count = 0;
    bool accepting = true;
  };

  static void unlink(shard& s, join_state& record) noexcept {
    if (record.registry_prev_ != nullptr)
      record.registry_prev_->registry_next_ = record.registry_next_;
    else
      s.head = record.registry_next_;
    if (record.registry_next_ != nullptr) record.registry_next_->registry_prev_ = record.registry_prev_;
    record.registry_prev_ = record.registry_next_ = nullptr;
    --s.count;
  }

  std::unique_ptr<shard[]> shards_;
  const std::size_t count_;
};

}  // namespace brigade::detail
