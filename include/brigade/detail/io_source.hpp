// brigade/detail/io_source.hpp: one file descriptor registered with a runtime's reactor, and how
// a task or a thread waits until it is readable or writable (internal; the sockets of
// brigade/net/ are built on it).
//
// Readiness, edge-triggered: the descriptor is registered once (epoll EPOLLET, or a multishot
// poll under io_uring) for both directions. Each direction has an event counter and a wait list.
// When the driver reports the descriptor ready in a direction, its holder bumps that counter and
// wakes every waiter of that direction (mark_ready). An operation:
//   1. reads the counter (the snapshot);
//   2. tries the system call (non-blocking); done unless it says EAGAIN;
//   3. under the source's lock: if the counter moved since the snapshot, an edge came after step
//      1, so it goes back to 1; else it parks on the direction's list, to be woken by the next
//      edge.
// Nothing is lost: an edge reported before step 2's call found the data (or room) there; one
// reported after it bumps the counter either before step 3's look (retry) or after the waiter
// is queued (wake).
//
// Closing (close_source): the descriptor may be closed while other tasks use it (Go allows a
// close while a read waits; the read then fails). A use count with a closing bit keeps the
// descriptor number from being closed (and reused by the kernel for another file) while an
// operation is between its steps: begin_use fails once closing; close marks the source closed
// and wakes every waiter with io_closed_outcome; whichever of close and the last end_use comes
// second finishes the close (deregisters, closes the descriptor, frees the source for reuse).
//
// Cancellation: a parked readiness wait is a cancellation point (detail/cancellable_wait.hpp):
// a stop request takes the waiter off the list and the wait throws task_cancelled. Nothing was
// read or written by the step that parked, so an operation cancelled there transferred nothing
// (an operation that already transferred part of its buffer reports what it did, see net/).
//
// Thread safety: every member may be called from any thread.
#pragma once

#include <cstdint>
#include <mutex>

#include "brigade/detail/cancellable_wait.hpp"
#include "brigade/detail/seam.hpp"
#include "brigade/detail/spin_lock.hpp"
#include "brigade/detail/wait_list.hpp"
#include "brigade/runtime/task.hpp"
#include "brigade/runtime/waiter.hpp"

namespace brigade::detail {

class scheduler;
struct io_source;

enum class io_direction : unsigned char { read = 0, write = 1 };

/// The outcome of a waiter woken because the source was closed.
inline constexpr std::uint32_t io_closed_outcome = 0x10C105EDu;
/// The outcome of a waiter woken by an edge.
inline constexpr std::uint32_t io_ready_outcome = 0x10AEADE1u;

/// Registers `fd` (non-blocking, owned by the source from now on) with the reactor of `sched`.
/// Throws std::system_error (the descriptor is closed then). src/runtime/reactor.cpp.
io_source& register_io_source(scheduler& sched, int fd);
/// Keep the registry of sources (and so every source's memory) alive while an object names one
/// of its sources, even after its runtime is gone. src/runtime/reactor/reactor.cpp.
void retain_io_registry(void* registry) noexcept;
void release_io_registry(void* registry) noexcept;
/// The second of close and the last end_use: deregisters and closes the descriptor, and gives
/// the source back to its registry. src/runtime/reactor.cpp.
void finish_io_source_close(io_source& source) noexcept;

struct io_source {
  io_source() noexcept = default;
  io_source(const io_source&) = delete;
  io_source& operator=(const io_source&) = delete;
  ~io_source() { retire_cancel_targets(); }

  // The use word: bits 0-30 count the operations in progress, bit 31 says closing, bits 32-63
  // are the registration's generation. A source is reused for another descriptor after its
  // close finished, with the next generation: an object that still names the old registration
  // (a socket closed by another task meanwhile) then fails begin_use instead of operating on
  // someone else's descriptor.
  static constexpr std::uint64_t closing_bit = std::uint64_t{1} << 31;
  static constexpr std::uint64_t count_mask = closing_bit - 1;

  /// Before an operation on registration `registration` (its generation): false once it is closing or closed (the
  /// caller reports "closed").
  bool begin_use(std::uint32_t registration) noexcept {
    std::uint64_t current = uses.load(seam::memory_order::relaxed);
    do {
      if ((current >> 32) != registration || (current & closing_bit) != 0) return false;
    } while (!uses.compare_exchange_weak(current, current + 1, seam::memory_order::acquire,
                                         seam::memory_order::relaxed));
    return true;
  }
  /// After the operation.
  void end_use() noexcept {
    const std::uint64_t previous = uses.fetch_sub(1, seam::memory_order::acq_rel);
    if ((previous & (closing_bit | count_mask)) == (closing_bit | 1)) finish_io_source_close(*this);
  }
  /// Closes registration `registration` (a generation): waiters wake with io_closed_outcome, later begin_use
  /// fails, and the descriptor is closed once no operation uses it. Idempotent.
  void close(std::uint32_t registration) noexcept {
    std::uint64_t previous = uses.load(seam::memory_order::relaxed);
    do {
      if ((previous >> 32) != registration || (previous & closing_bit) != 0) return;
    } while (!uses.compare_exchange_weak(previous, previous | closing_bit, seam::memory_order::acq_rel,
                                         seam::memory_order::relaxed));
    waiter* woken = nullptr;
    {
      std::lock_guard guard(lock);
      closed = true;  // events still queued in the driver for this registration are ignored
      for (wait_list* list : {&readers, &writers}) {
        waiter* chain = list->take_all();
        while (chain != nullptr) {
          waiter* next = chain->next;
          chain->outcome = io_closed_outcome;
          chain->next = woken;
          woken = chain;
          chain = next;
        }
      }
    }
    wait_list::wake_all(woken);
    if ((previous & count_mask) == 0) finish_io_source_close(*this);
  }

  std::uint64_t snapshot(io_direction direction) const noexcept {
    // Acquire: pairs with mark_ready's release (what the edge means is visible).
    return events[static_cast<int>(direction)].load(seam::memory_order::acquire);
  }

  /// A byte stream's transfer shorter than asked emptied the receive queue (or filled the send
  /// buffer) as of the snapshot `seen` taken before it: until the next edge, the next operation
  /// in that direction parks at once instead of making a system call that would say EAGAIN
  /// (Tokio clears readiness on a short read for the same reason). Safe by the counter: data
  /// that arrives after that call, or during it, brings an edge that moves the counter past
  /// `seen`. Relaxed: a stale value only costs or saves one system call.
  void mark_drained(io_direction direction, std::uint64_t seen) noexcept {
    drained_at[static_cast<int>(direction)].store(seen, seam::memory_order::relaxed);
  }
  /// Whether the next operation may park without trying: drained as of `seen`, and no hang-up
  /// reported (the end of the stream, or an error, is pending, and its edge may have come before
  /// the short transfer: the system call must report it).
  bool drained(io_direction direction, std::uint64_t seen) const noexcept {
    return drained_at[static_cast<int>(direction)].load(seam::memory_order::relaxed) == seen &&
           !hung_up.load(seam::memory_order::relaxed);
  }

  /// The driver's holder: an edge in the given directions for the registration `tag` (a stale
  /// tag is ignored). Appends the woken waiters to `chain` (to wake after every lock).
  void mark_ready(bool readable, bool writable, bool hangup, std::uint32_t tag, waiter*& chain) noexcept {
    std::lock_guard guard(lock);
    if (tag != generation || closed) return;
    // Before the counters move (release): an operation that sees the new count sees this too.
    if (hangup) hung_up.store(true, seam::memory_order::relaxed);
    auto bump = [&](io_direction direction, wait_list& list) {
      auto& counter = events[static_cast<int>(direction)];
      counter.store(counter.load(seam::memory_order::relaxed) + 1, seam::memory_order::release);
      waiter* first = list.take_all();
      while (first != nullptr) {
        waiter* next = first->next;
        first->outcome = io_ready_outcome;
        first->next = chain;
        chain = first;
        first = next;
      }
    };
    if (readable) bump(io_direction::read, readers);
    if (writable) bump(io_direction::write, writers);
  }

  /// Under no lock: parks `entry` for the next edge in `direction` after `seen` (the snapshot),
  /// unless one came already (not_needed), the source is closed (entry.outcome =
  /// io_closed_outcome, not_needed) or a stop was requested (cancelled).
  template <class Registration>
  park_result park(waiter& entry, io_direction direction, std::uint64_t seen, Registration& registration) noexcept {
    std::lock_guard guard(lock);
    if (closed) {
      entry.outcome = io_closed_outcome;
      return park_result::not_needed;
    }
    if (events[static_cast<int>(direction)].load(seam::memory_order::relaxed) != seen) return park_result::not_needed;
    return park_locked(registration, list_of(direction), entry);
  }
  void unlink(waiter& entry, io_direction direction) noexcept {
    std::lock_guard guard(lock);
    list_of(direction).unlink(entry);
  }
  wait_list& list_of(io_direction direction) noexcept {
    return direction == io_direction::read ? readers : writers;
  }
  cancel_target& cancel_target_of(io_direction direction) noexcept {
    return direction == io_direction::read ? cancel_readers : cancel_writers;
  }

  // Set by the registry while the source is registered (before any operation may use it).
  int fd = -1;
  std::uint32_t index = 0;   // in the registry (the driver's events carry it)
  void* registry = nullptr;  // the io_registry that owns the source
  // The lock guards the lists, `closed` and `generation`; the counters are written under it.
  spin_lock lock;
  wait_list readers;
  wait_list writers;
  bool closed = false;
  std::uint32_t generation = 0;  // of the registration (also in `uses`), set before publishing
  seam::atomic<std::uint64_t> events[2] = {0, 0};
  seam::atomic<std::uint64_t> drained_at[2] = {~std::uint64_t{0}, ~std::uint64_t{0}};  // see mark_drained
  seam::atomic<bool> hung_up{false};  // sticky for the registration: the driver saw a hang-up
  seam::atomic<std::uint64_t> uses{0};  // see begin_use
  cancel_target cancel_readers{&cancel_from_list<io_source, &io_source::lock, &io_source::readers>, this};
  cancel_target cancel_writers{&cancel_from_list<io_source, &io_source::lock, &io_source::writers>, this};
};

/// co_await readiness_awaiter{source, direction, snapshot}: suspends the task until the next
/// edge after `snapshot` (at once if one came). Returns false when the source was closed.
class [[nodiscard("co_await the wait")]] readiness_awaiter {
 public:
  readiness_awaiter(io_source& source, io_direction direction, std::uint64_t seen) noexcept
      : source_(source), direction_(direction), seen_(seen) {}
  readiness_awaiter(const readiness_awaiter&) = delete;
  readiness_awaiter& operator=(const readiness_awaiter&) = delete;
  ~readiness_awaiter() {
    if (waiter_.handle) source_.unlink(waiter_, direction_);  // destroyed while suspended
  }
  bool await_ready() const noexcept { return false; }
  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> awaiting) {
    waiter_.arm(awaiting, "brigade: an I/O operation awaited outside a runtime");
    park_result result = park_result::cancelled;
    if (registration_.arm(scope_word_of(awaiting), source_.cancel_target_of(direction_)))
      result = source_.park(waiter_, direction_, seen_, registration_);
    if (result == park_result::parked) return true;
    waiter_.handle = nullptr;
    if (result == park_result::cancelled) waiter_.outcome = cancelled_outcome;
    return false;
  }
  /// False: the source was closed while (or before) it waited.
  bool await_resume() {
    waiter_.handle = nullptr;
    registration_.disarm();
    if (waiter_.outcome == cancelled_outcome) [[unlikely]]
      throw_wait_cancelled("an I/O wait");
    return waiter_.outcome != io_closed_outcome;
  }

 private:
  io_source& source_;
  io_direction direction_;
  std::uint64_t seen_;
  coroutine_waiter waiter_;
  park_registration registration_;
};

/// The thread form: blocks until the next edge after `seen`. Returns false when the source was
/// closed; throws task_cancelled on the token's stop.
inline bool wait_readiness_blocking(io_source& source, io_direction direction, std::uint64_t seen,
                                    std::stop_token token = {}) {
  refuse_blocking_on_worker("a blocking I/O operation");
  thread_waiter waiter;
  thread_stop_registration registration(std::move(token));
  park_result result = park_result::cancelled;
  if (registration.arm(source.cancel_target_of(direction), waiter))
    result = source.park(waiter, direction, seen, registration);
  if (result == park_result::parked) waiter.wait();
  registration.disarm();
  if (result == park_result::cancelled || waiter.outcome == cancelled_outcome)
    throw_wait_cancelled("a blocking I/O wait");
  return waiter.outcome != io_closed_outcome;
}

/// Holds one use of a source for the length of an operation (begin_use / end_use).
class io_use {
 public:
  io_use(io_source& source, std::uint32_t generation) noexcept
      : source_(source.begin_use(generation) ? &source : nullptr) {}
  io_use(const io_use&) = delete;
  io_use& operator=(const io_use&) = delete;
  ~io_use() {
    if (source_ != nullptr) source_->end_use();
  }
  /// False when the source was closing already (nothing is held).
  explicit operator bool() const noexcept { return source_ != nullptr; }

 private:
  io_source* source_;
};

}  // namespace brigade::detail
