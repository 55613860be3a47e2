// See idle.hpp. The memory orders are all seq_cst: these paths run when a worker runs out of
// work or wakes up, not per task, and the lost-wake-up argument (docs/ARCHITECTURE.md, protocol
// "park") relies on a single total order of the word's updates and the fences around them.
#include "idle.hpp"

#include <algorithm>
#include <mutex>

namespace brigade::detail {

idle::idle(std::uint32_t workers)
    : word_(workers << idle_word::unparked_shift), workers_(workers), sleeping_(workers, false) {
  sleepers_.reserve(workers);
}

bool idle::transition_to_searching() noexcept {
  const std::uint32_t word = word_.load();
  if (2 * idle_word::searching(word) >= workers_) return false;
  word_.fetch_add(1);
  return true;
}

bool idle::transition_from_searching() noexcept {
  const std::uint32_t previous = word_.fetch_sub(1);
  return idle_word::searching(previous) == 1;
}

bool idle::transition_to_parked(std::uint32_t index, bool was_searching) {
  std::lock_guard lock(mutex_);
  const std::uint32_t decrement = (1u << idle_word::unparked_shift) + (was_searching ? 1u : 0u);
  const std::uint32_t previous = word_.fetch_sub(decrement);
  sleepers_.push_back(index);
  sleeping_[index] = true;
  return was_searching && idle_word::searching(previous) == 1;
}

std::optional<std::uint32_t> idle::worker_to_notify() {
  // Cheap check without the lock first; the caller already issued the fence.
  std::uint32_t word = word_.load();
  if (!idle_word::wants_wake(word, workers_)) return std::nullopt;
  std::lock_guard lock(mutex_);
  word = word_.load();
  if (idle_word::searching(word) != 0 || sleepers_.empty()) return std::nullopt;
  // The woken worker starts out searching, so a burst of notifications wakes one worker, not
  // all of them: the next producer sees searching != 0 and leaves the others asleep.
  word_.fetch_add((1u << idle_word::unparked_shift) + 1u);
  const std::uint32_t index = sleepers_.back();
  sleepers_.pop_back();
  sleeping_[index] = false;
  return index;
}

bool idle::unpark_self(std::uint32_t index) {
  std::lock_guard lock(mutex_);
  if (!sleeping_[index]) return false;
  sleepers_.erase(std::find(sleepers_.begin(), sleepers_.end(), index));
  sleeping_[index] = false;
  word_.fetch_add((1u << idle_word::unparked_shift) + 1u);
  return true;
}

std::optional<std::uint32_t> idle::any_sleeper_except(std::uint32_t index) {
  std::lock_guard lock(mutex_);
  for (auto it = sleepers_.rbegin(); it != sleepers_.rend(); ++it)
    if (*it != index) return *it;
  return std::nullopt;
}

bool idle::is_sleeping(std::uint32_t index) {
  std::lock_guard lock(mutex_);
  return sleeping_[index];
}

std::vector<std::uint32_t> idle::take_all_sleepers() {
  std::lock_guard lock(mutex_);
  std::vector<std::uint32_t> taken;
  taken.swap(sleepers_);
  for (std::uint32_t index : taken) sleeping_[index] = false;
  word_.fetch_add(static_cast<std::uint32_t>(taken.size()) << idle_word::unparked_shift);
  return taken;
}

std::size_t idle::sleeper_count() const {
  std::lock_guard lock(mutex_);
  return sleepers_.size();
}

}  // namespace brigade::detail
