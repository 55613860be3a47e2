// Idle bookkeeping of the scheduler: which workers are parked, how many are searching for work,
// and the choice of which worker to wake. Modelled on Tokio's `idle.rs`.
//
// The packed word (detail::idle_word): bits 0-15 = workers searching, bits 16-31 = workers not
// parked. It is read without the lock by every producer of work (offer_work), so waking is
// decided without a lock in the common case "everyone is busy".
//
// Invariants:
//   - unparked(word) == workers - sleepers_.size(), except transiently inside a locked section.
//   - Every index in sleepers_ has sleeping_[index] == true, and only those.
//   - searching(word) <= unparked(word).
//   - unparked is changed only under mutex_; searching is changed by atomic RMW, also outside it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "brigade/detail/scheduler_hooks.hpp"
#include "brigade/detail/seam.hpp"

namespace brigade::detail {

class idle {
 public:
  explicit idle(std::uint32_t workers);

  const seam::atomic<std::uint32_t>& word() const noexcept { return word_; }

  /// A worker with no local work wants to search (steal). Refused when half the workers are
  /// already searching: more searchers would only contend on the same victims.
  bool transition_to_searching() noexcept;

  /// A searching worker found work (or gives up searching). Returns true if it was the last
  /// searcher: then the caller must wake another worker, since nobody else looks for work now.
  bool transition_from_searching() noexcept;

  /// A worker goes to sleep: it is recorded as a sleeper. Returns true if it was the last
  /// searcher.
  bool transition_to_parked(std::uint32_t index, bool was_searching);

  /// If a worker should be woken (nobody searching, somebody asleep), takes a sleeper off the
  /// list, counts it as unparked and searching, and returns its index.
  std::optional<std::uint32_t> worker_to_notify();

  /// A parked worker that found work on its own (a turn of the reactor): if it is still on the
  /// sleeper list, takes it off and counts it as unparked and searching, as worker_to_notify
  /// would have. Returns whether it did (false: a notifier took it off first).
  bool unpark_self(std::uint32_t index);

  /// Some worker on the sleeper list, left on it (the driver's hand-off wakes it to look at the
  /// driver, not to run), or nothing.
  std::optional<std::uint32_t> any_sleeper_except(std::uint32_t index);

  /// True while `index` is on the sleeper list (a woken worker checks this to tell a real wake
  /// from a spurious one).
  bool is_sleeping(std::uint32_t index);

  /// How many workers are on the sleeper list now (a snapshot, for statistics).
  std::size_t sleeper_count() const;

  /// Takes every sleeper off the list (shutdown) and returns their indices.
  std::vector<std::uint32_t> take_all_sleepers();

 private:
  seam::atomic<std::uint32_t> word_;
  const std::uint32_t workers_;
  mutable seam::mutex mutex_;
  std::vector<std::uint32_t> sleepers_;  // guarded by mutex_
  std::vector<bool> sleeping_;           // guarded by mutex_
};

}  // namespace brigade::detail
