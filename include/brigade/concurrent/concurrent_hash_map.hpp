// brigade/concurrent/concurrent_hash_map.hpp: concurrent_hash_map<K, V>, a hash map that any
// number of threads and tasks use at once (Java's ConcurrentHashMap, oneTBB's
// concurrent_hash_map, libcuckoo).
//
//   brigade::concurrent_hash_map<std::string, page> cache;
//   cache.insert(url, p);                       // false if the key is there (nothing changes)
//   std::optional<page> hit = cache.find(url);  // a copy, or empty
//   cache.update(url, [](page& p) { ++p.hits; });   // in place, under the key's lock
//   page p = cache.get_or_compute(url, [&] { return fetch(url); });
//       // Java's computeIfAbsent: for each key the function runs at most once, however many
//       // parties ask at once; the others wait for its result. The one-line fix for the essays'
//       // racy lazily filled cache.
//   cache.erase(url);
//   hits.upsert(url, [] { return 1; }, [](int& n) { ++n; });   // insert, or change in place
//   totals.merge(day, amount, [](long a, long b) { return a + b; });   // Java's merge
//   cache.erase_if([](const std::string&, const page& p) { return p.stale(); });
//
// Structure: the keys are split by hash over a fixed number of shards (a power of two, by
// default 64, or 8 per hardware thread if more), each an open-addressing table (linear probing,
// at most half full, deletion by backward shift so no tombstones accumulate) under its own
// brigade::rw_mutex: finds in a shard share it, writes take it alone. Two operations contend only
// when their keys fall in the same shard.
// Guarantees: every operation is linearizable (it takes effect at one instant, under its shard's
// lock; erase_if and for_each take one shard at a time). find returns a copy, so a value is
// never read while another party changes it; visit, update, upsert, merge and erase_if run a
// function on values in place, under the shard's read or write lock: keep them
// short, and do not use the same map from inside them: an operation on the shard whose lock
// the function holds throws usage_error (it would wait for itself); other shards are fine.
// get_or_compute runs its function outside every lock: while it runs, the key is marked as being
// computed in its shard. Reads (find, contains, visit, size, for_each) never wait for a
// computation, as Java's get never does: they see the key absent until the value is inserted.
// Other get_or_compute calls for the same key wait for its result, and writes to the same key
// (insert, insert_or_assign, erase, update) wait until it is inserted; other keys, of the same
// shard too, do not wait. From inside the function the map may be used freely, except for the key
// being computed (usage_error: it would wait for itself). If the function throws, nothing is
// inserted, the exception reaches its caller, and one of the parties waiting for that key (if
// any) computes it in turn.
// Iteration (for_each) visits the shards one after another, each under its read lock: an element
// present during the whole iteration is visited exactly once; one inserted or erased meanwhile
// may or may not be; nothing is visited twice; writers to the shard being visited wait.
// Threads and tasks: the operations are synchronous; a task that calls them may block its worker
// thread for as long as a shard's lock is held elsewhere (short, by the rules above).
// Complexity: O(1) expected per operation; a shard doubles when it is half full (O(shard size),
// under its write lock). Memory: about 2x the entries' size, plus the shards' locks.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <thread>
#include <utility>
#include <vector>

#include "brigade/detail/seam.hpp"
#include "brigade/detail/wait_list.hpp"
#include "brigade/runtime/errors.hpp"
#include "brigade/runtime/waiter.hpp"
#include "brigade/sync/rw_mutex.hpp"

namespace brigade {

template <class K, class V, class Hash = std::hash<K>, class Equal = std::equal_to<K>>
class concurrent_hash_map {
 public:
  /// A map of `shards` shards (rounded up to a power of two; 0 chooses the default).
  explicit concurrent_hash_map(std::size_t shards = 0, Hash hash = Hash(), Equal equal = Equal())
      : hash_(std::move(hash)), equal_(std::move(equal)) {
    if (shards == 0) shards = default_shard_count();
    shards = std::bit_ceil(shards);
    shard_bits_ = static_cast<unsigned>(std::countr_zero(shards));
    shards_ = std::make_unique<shard[]>(shards);
    shard_count_ = shards;
  }
  concurrent_hash_map(const concurrent_hash_map&) = delete;
  concurrent_hash_map& operator=(const concurrent_hash_map&) = delete;

  /// A copy of the value for `key`, or empty.
  [[nodiscard]] std::optional<V> find(const K& key) const {
    const std::uint64_t h = mixed_hash(key);
    const shard& s = checked_shard_for(h);
    std::shared_lock lock(s.lock);
    const entry* found = s.entries.find(key, h, equal_);
    if (found == nullptr) return std::nullopt;
    return found->value;
  }
  [[nodiscard]] bool contains(const K& key) const {
    return visit(key, [](const V&) {});
  }
  /// Runs `reader(const V&)` on the value for `key` under the shard's read lock; false if absent.
  template <class Reader>
  bool visit(const K& key, Reader&& reader) const {
    const std::uint64_t h = mixed_hash(key);
    const shard& s = checked_shard_for(h);
    std::shared_lock lock(s.lock);
    const entry* found = s.entries.find(key, h, equal_);
    if (found == nullptr) return false;
    inside_callback marker(s);
    std::forward<Reader>(reader)(found->value);
    return true;
  }

  /// Inserts if `key` is absent; returns whether it inserted (an existing value is kept).
  bool insert(K key, V value) {
    const std::uint64_t h = mixed_hash(key);
    shard& s = checked_shard_for(h);
    std::unique_lock lock(s.lock);
    wait_while_computed(s, key, h, lock);
    if (s.entries.find(key, h, equal_) != nullptr) return false;
    s.entries.insert_new(std::move(key), std::move(value), h);
    return true;
  }
  /// Inserts, or replaces the value; returns whether it inserted.
  bool insert_or_assign(K key, V value) {
    const std::uint64_t h = mixed_hash(key);
    shard& s = checked_shard_for(h);
    std::unique_lock lock(s.lock);
    wait_while_computed(s, key, h, lock);
    if (entry* found = s.entries.find(key, h, equal_)) {
      found->value = std::move(value);
      return false;
    }
    s.entries.insert_new(std::move(key), std::move(value), h);
    return true;
  }
  /// Removes `key`; returns whether it was there.
  bool erase(const K& key) {
    const std::uint64_t h = mixed_hash(key);
    shard& s = checked_shard_for(h);
    std::unique_lock lock(s.lock);
    wait_while_computed(s, key, h, lock);
    return s.entries.erase(key, h, equal_);
  }
  /// Runs `writer(V&)` on the value for `key` under the shard's write lock; false if absent.
  template <class Writer>
  bool update(const K& key, Writer&& writer) {
    const std::uint64_t h = mixed_hash(key);
    shard& s = checked_shard_for(h);
    std::unique_lock lock(s.lock);
    wait_while_computed(s, key, h, lock);
    entry* found = s.entries.find(key, h, equal_);
    if (found == nullptr) return false;
    inside_callback marker(s);
    std::forward<Writer>(writer)(found->value);
    return true;
  }

  /// Inserts `make()` if `key` is absent, or runs `change(V&)` on its value, under the shard's write
  /// lock (keep both short). Returns whether it inserted. The counter's idiom:
  /// `hits.upsert(url, [] { return 1; }, [](int& n) { ++n; })`.
  template <class Make, class Change>
  bool upsert(const K& key, Make&& make, Change&& change) {
    const std::uint64_t h = mixed_hash(key);
    shard& s = checked_shard_for(h);
    std::unique_lock lock(s.lock);
    wait_while_computed(s, key, h, lock);
    inside_callback marker(s);
    if (entry* found = s.entries.find(key, h, equal_)) {
      std::forward<Change>(change)(found->value);
      return false;
    }
    s.entries.insert_new(K(key), V(std::forward<Make>(make)()), h);
    return true;
  }

  /// Java's merge: inserts `value` if `key` is absent, else replaces the value with
  /// `combine(old value, value)`; returns (a copy of) the value now stored.
  template <class Combine>
  V merge(const K& key, V value, Combine&& combine) {
    std::optional<V> stored;
    upsert(
        key,
        [&] {
          stored.emplace(value);
          return std::move(value);
        },
        [&](V& old) {
          old = std::forward<Combine>(combine)(static_cast<const V&>(old), std::move(value));
          stored.emplace(old);
        });
    return std::move(*stored);
  }

  /// Erases every entry for which `predicate(const K&, const V&)` is true, shard by shard, each
  /// under its write lock (like for_each, weakly consistent across shards); returns how many.
  template <class Predicate>
  std::size_t erase_if(Predicate&& predicate) {
    std::size_t erased = 0;
    for (std::size_t i = 0; i < shard_count_; ++i) {
      shard& s = shards_[i];
      std::lock_guard lock(s.lock);
      inside_callback marker(s);
      erased += s.entries.erase_if(predicate, equal_);  // (keys being computed are not in it yet)
    }
    return erased;
  }

  /// The value for `key`; if absent, `compute()` makes it, at most once per key however many
  /// parties ask at once (the others wait for it), outside the shard's lock. Returns a copy.
  template <class Compute>
  V get_or_compute(const K& key, Compute&& compute) {
    const std::uint64_t h = mixed_hash(key);
    shard& s = checked_shard_for(h);
    {
      std::shared_lock lock(s.lock);
      if (const entry* found = s.entries.find(key, h, equal_)) return found->value;
    }
    computation mine(key, h, detail::this_party_identity());
    {
      std::unique_lock lock(s.lock);
      while (true) {
        if (const entry* found = s.entries.find(key, h, equal_)) return found->value;  // computed meanwhile
        computation* running = s.find_computation(key, h, equal_);
        if (running == nullptr) break;
        if (running->computing_thread == mine.computing_thread)
          throw usage_error(
              "brigade: concurrent_hash_map::get_or_compute of a key from inside the function that computes "
              "that same key (it would wait for itself)");
        wait_for(*running, lock);
      }
      mine.next = s.computing;
      s.computing = &mine;
    }
    std::optional<V> value;
    try {
      value.emplace(std::forward<Compute>(compute)());
    } catch (...) {
      finish_computation(s, mine, nullptr, h);
      throw;
    }
    finish_computation(s, mine, &*value, h);
    return std::move(*value);
  }

  /// The number of entries (exact when no write runs meanwhile).
  [[nodiscard]] std::size_t size() const {
    std::size_t total = 0;
    for (std::size_t i = 0; i < shard_count_; ++i) {
      std::shared_lock lock(shards_[i].lock);
      total += shards_[i].entries.size();
    }
    return total;
  }
  [[nodiscard]] bool empty() const { return size() == 0; }
  void clear() {
    for (std::size_t i = 0; i < shard_count_; ++i) {
      std::lock_guard lock(shards_[i].lock);
      shards_[i].entries.clear();
    }
  }
  /// Calls `visitor(const K&, const V&)` on every entry, shard by shard (see the header's note).
  template <class Visitor>
  void for_each(Visitor&& visitor) const {
    for (std::size_t i = 0; i < shard_count_; ++i) {
      std::shared_lock lock(shards_[i].lock);
      shards_[i].entries.for_each(visitor);
    }
  }
  [[nodiscard]] std::size_t shard_count() const noexcept { return shard_count_; }

 private:
  struct entry {
    K key;
    V value;
    std::uint64_t hash;
  };

  /// One shard's table: open addressing with linear probing, never more than half full.
  class table {
   public:
    [[nodiscard]] std::size_t size() const noexcept { return size_; }

    entry* find(const K& key, std::uint64_t h, const Equal& equal) noexcept {
      if (size_ == 0) return nullptr;
      for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
        std::optional<entry>& slot = slots_[i];
        if (!slot) return nullptr;
        if (slot->hash == h && equal(slot->key, key)) return &*slot;
      }
    }
    const entry* find(const K& key, std::uint64_t h, const Equal& equal) const noexcept {
      return const_cast<table*>(this)->find(key, h, equal);
    }
    /// `key` must be absent.
    void insert_new(K&& key, V&& value, std::uint64_t h) {
      if ((size_ + 1) * 2 > slots_.size()) grow();
      std::size_t i = h & mask_;
      while (slots_[i]) i = (i + 1) & mask_;
      slots_[i].emplace(entry{std::move(key), std::move(value), h});
      ++size_;
    }
    bool erase(const K& key, std::uint64_t h, const Equal& equal) {
      if (size_ == 0) return false;
      std::size_t i = h & mask_;
      while (true) {
        if (!slots_[i]) return false;
        if (slots_[i]->hash == h && equal(slots_[i]->key, key)) break;
        i = (i + 1) & mask_;
      }
      // Backward shift: move later entries of the probe run into the hole when their home slot
      // does not lie strictly between the hole and their position (cyclically).
      std::size_t hole = i;
      for (std::size_t j = (i + 1) & mask_; slots_[j]; j = (j + 1) & mask_) {
        const std::size_t home = slots_[j]->hash & mask_;
        const bool home_between = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
        if (!home_between) {
          slots_[hole] = std::move(slots_[j]);
          hole = j;
        }
      }
      slots_[hole].reset();
      --size_;
      return true;
    }
    void clear() noexcept {
      for (auto& slot : slots_) slot.reset();
      size_ = 0;
    }
    /// Erases the entries `predicate` accepts; returns how many. Rescans a slot after an erase
    /// (the backward shift may move a later entry into it).
    /// An entry that an erase shifts back from a wrapped-around run into a slot already passed
    /// is not missed (only passed entries move there); one shifted ahead is looked at twice.
    template <class Predicate>
    std::size_t erase_if(Predicate& predicate, const Equal& equal) {
      std::size_t erased = 0;
      for (std::size_t i = 0; i < slots_.size();) {
        std::optional<entry>& slot = slots_[i];
        if (slot && predicate(static_cast<const K&>(slot->key), static_cast<const V&>(slot->value))) {
          const K key = slot->key;
          erase(key, slot->hash, equal);
          ++erased;
          continue;  // slot i may now hold an entry shifted back into it
        }
        ++i;
      }
      return erased;
    }
    template <class Visitor>
    void for_each(Visitor& visitor) const {
      for (const auto& slot : slots_)
        if (slot) visitor(static_cast<const K&>(slot->key), static_cast<const V&>(slot->value));
    }

   private:
    void grow() {
      std::vector<std::optional<entry>> old = std::move(slots_);
      const std::size_t capacity = old.empty() ? 8 : old.size() * 2;
      slots_ = std::vector<std::optional<entry>>(capacity);
      mask_ = capacity - 1;
      for (auto& slot : old) {
        if (!slot) continue;
        std::size_t i = slot->hash & mask_;
        while (slots_[i]) i = (i + 1) & mask_;
        slots_[i] = std::move(slot);
      }
    }
    std::vector<std::optional<entry>> slots_;
    std::size_t mask_ = 0;
    std::size_t size_ = 0;
  };

  /// A get_or_compute running its function for `key`: listed in its shard (under the shard's
  /// lock) from the moment it finds the key absent until its value is inserted (or its function
  /// threw). It lives on the computing thread's stack; the parties in `waiting` (under the
  /// shard's lock) wait for it to leave the list, and touch it no more after they are woken.
  struct computation {
    computation(const K& computed, std::uint64_t h, const void* thread) noexcept
        : key(&computed), hash(h), computing_thread(thread) {}
    const K* key;
    std::uint64_t hash;
    const void* computing_thread;
    computation* next = nullptr;
    detail::wait_list waiting;
  };

  struct alignas(64) shard {
    mutable rw_mutex lock;
    table entries;
    computation* computing = nullptr;  // under `lock`: the computations running, usually none

    computation* find_computation(const K& key, std::uint64_t h, const Equal& equal) const noexcept {
      for (computation* c = computing; c != nullptr; c = c->next)
        if (c->hash == h && equal(*c->key, key)) return c;
      return nullptr;
    }
  };

  /// Under the shard's write lock (`lock`): waits until no get_or_compute runs for `key`. The
  /// common case (no computation in the shard) is one load.
  void wait_while_computed(shard& s, const K& key, std::uint64_t h, std::unique_lock<rw_mutex>& lock) const {
    while (s.computing != nullptr) [[unlikely]] {
      computation* running = s.find_computation(key, h, equal_);
      if (running == nullptr) return;
      if (running->computing_thread == detail::this_party_identity())
        throw usage_error(
            "brigade: concurrent_hash_map written, for the key being computed, from inside its get_or_compute "
            "function (it would wait for itself)");
      wait_for(*running, lock);
    }
  }

  /// Under the shard's write lock: releases it, waits until `running` has finished, takes it again.
  /// A worker thread waiting here hands its queued tasks to the others first (thread_waiter).
  static void wait_for(computation& running, std::unique_lock<rw_mutex>& lock) {
    detail::thread_waiter me;
    running.waiting.push_back(me);
    lock.unlock();
    me.wait();
    lock.lock();
  }

  /// Ends `mine`: inserts `value` (null when the function threw) and wakes whoever waits for it.
  /// If the insertion fails (out of memory), the waiters are still woken (one of them computes
  /// the key in turn) and the exception reaches this caller.
  void finish_computation(shard& s, computation& mine, const V* value, std::uint64_t h) {
    detail::waiter* to_wake;
    std::exception_ptr failed;
    {
      std::lock_guard lock(s.lock);
      computation** link = &s.computing;
      while (*link != &mine) link = &(*link)->next;
      *link = mine.next;
      to_wake = mine.waiting.take_all();
      if (value != nullptr) {
        try {
          s.entries.insert_new(K(*mine.key), V(*value), h);
        } catch (...) {
          failed = std::current_exception();
        }
      }
    }
    detail::wait_list::wake_all(to_wake);
    if (failed) std::rethrow_exception(failed);
  }

  /// The shard whose lock this thread holds while it runs a caller's function (visit, update,
  /// get_or_compute), or null: an operation on that shard from inside the function would wait
  /// for the lock its own thread holds.
  BRIGADE_THREAD_LOCAL_ACCESSOR static const void*& shard_in_callback() noexcept {
    static thread_local const void* shard_held = nullptr;
    return shard_held;
  }
  struct inside_callback {
    const void* previous;
    explicit inside_callback(const shard& held) noexcept : previous(shard_in_callback()) { shard_in_callback() = &held; }
    ~inside_callback() { shard_in_callback() = previous; }
    inside_callback(const inside_callback&) = delete;
    inside_callback& operator=(const inside_callback&) = delete;
  };
  shard& checked_shard_for(std::uint64_t h) const {
    shard& s = shard_for(h);
    if (shard_in_callback() == &s) [[unlikely]]
      throw usage_error(
          "brigade: concurrent_hash_map used from inside a visit/update/get_or_compute function, on the "
          "shard whose lock that function holds (it would wait for itself)");
    return s;
  }

  static std::size_t default_shard_count() {
    const std::size_t threads = std::max<std::size_t>(1, std::thread::hardware_concurrency());
    return std::max<std::size_t>(64, threads * 8);
  }

  /// The user's hash, mixed (std::hash of an integer is the identity): the low bits pick the
  /// slot, the high bits the shard.
  std::uint64_t mixed_hash(const K& key) const {
    std::uint64_t h = static_cast<std::uint64_t>(hash_(key));
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
  }
  shard& shard_for(std::uint64_t h) const noexcept {
    return shards_[shard_bits_ == 0 ? 0 : h >> (64 - shard_bits_)];
  }

  Hash hash_;
  Equal equal_;
  std::unique_ptr<shard[]> shards_;
  std::size_t shard_count_ = 0;
  unsigned shard_bits_ = 0;
};

}  // namespace brigade
