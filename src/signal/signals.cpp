// See brigade/signal/signals.hpp. The process-wide part (the handler, the counters, the table of
// eventfds to wake) and the two kinds of wait.
#include "brigade/signal/signals.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>

#include "brigade/detail/io_source.hpp"
#include "brigade/runtime/errors.hpp"
#include "brigade/runtime/runtime.hpp"
#include "brigade/runtime/waiter.hpp"

namespace brigade::signals {
namespace {

// What the handler touches must be lock-free (async-signal-safe).
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<int>::is_always_lock_free);

constexpr int signal_limit = NSIG;  // signal numbers are 1 .. NSIG - 1

/// Deliveries of each signal since its handler was installed.
constinit std::atomic<std::uint64_t> delivered[signal_limit]{};
/// Handlers between their first and last look at the table (see wake_slot's destructor).
constinit std::atomic<int> handlers_running{0};

/// The eventfds of the waits in progress, for the handler to write to: fixed-size chunks in a
/// list that only grows (never freed: the handler walks it without a lock). A slot holds the
/// descriptor + 1, or 0 when free.
struct wake_chunk {
  static constexpr std::size_t size = 64;
  std::atomic<int> slots[size]{};
  std::atomic<wake_chunk*> next{nullptr};
};
constinit wake_chunk first_chunk;

/// Guards claiming slots, appending chunks and installing handlers (never taken by the handler).
std::mutex table_mutex;
bool installed[signal_limit] = {};  // guarded by table_mutex

void on_signal(int number) {
  const int saved_errno = errno;
  // Counted in before the table is read, counted out after the last write: a wait that took its
  // slot back and then sees no handler running knows none will write to its descriptor.
  handlers_running.fetch_add(1, std::memory_order_seq_cst);
  if (number > 0 && number < signal_limit) delivered[number].fetch_add(1, std::memory_order_seq_cst);
  for (wake_chunk* chunk = &first_chunk; chunk != nullptr; chunk = chunk->next.load(std::memory_order_acquire)) {
    for (auto& slot : chunk->slots) {
      const int value = slot.load(std::memory_order_seq_cst);
      if (value == 0) continue;
      const std::uint64_t one = 1;
      [[maybe_unused]] const ssize_t written = ::write(value - 1, &one, sizeof one);  // EAGAIN: woken already
    }
  }
  handlers_running.fetch_sub(1, std::memory_order_seq_cst);
  errno = saved_errno;
}

[[noreturn]] void reject(int number, const char* why) {
  throw std::invalid_argument("brigade: signals: " + std::to_string(number) + " " + why);
}

void validate(int number) {
  if (number <= 0 || number >= signal_limit) reject(number, "is not a signal number");
  switch (number) {
    case SIGKILL:
    case SIGSTOP:
      reject(number, "(SIGKILL, SIGSTOP) cannot be caught");
    case SIGSEGV:
    case SIGBUS:
    case SIGILL:
    case SIGFPE:
      reject(number, "is a synchronous fault signal (SIGSEGV, SIGBUS, SIGILL, SIGFPE): it cannot be waited for");
    default:
      break;
  }
  if (number > SIGSYS && number < SIGRTMIN) reject(number, "is reserved by the C library");
}

/// Under table_mutex: installs the handler of `number` once for the life of the process.
void install_locked(int number) {
  if (installed[number]) return;
  struct sigaction action {};
  action.sa_handler = &on_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  if (::sigaction(number, &action, nullptr) != 0)
    reject(number, (std::string("cannot be handled: ") + std::strerror(errno)).c_str());
  installed[number] = true;
}

/// Publishes an eventfd to the handler for the length of a wait.
class wake_slot {
 public:
  explicit wake_slot(int fd) {
    std::lock_guard guard(table_mutex);
    wake_chunk* chunk = &first_chunk;
    for (;;) {
      for (auto& slot : chunk->slots) {
        if (slot.load(std::memory_order_relaxed) == 0) {
          slot.store(fd + 1, std::memory_order_seq_cst);
          slot_ = &slot;
          return;
        }
      }
      wake_chunk* next = chunk->next.load(std::memory_order_relaxed);
      if (next == nullptr) break;
      chunk = next;
    }
    auto* fresh = new wake_chunk;  // never freed (see wake_chunk)
    fresh->slots[0].store(fd + 1, std::memory_order_relaxed);
    slot_ = &fresh->slots[0];
    chunk->next.store(fresh, std::memory_order_release);
  }
  wake_slot(const wake_slot&) = delete;
  wake_slot& operator=(const wake_slot&) = delete;
  /// Takes the slot back and waits until no handler can still write to the descriptor (which
  /// is closed next, and its number may be reused at once). Store-load against the handler's
  /// count (both sequentially consistent): either the handler's look at the slot comes after
  /// this store (it finds it free), or its count-in comes before this load (waited for).
  ~wake_slot() {
    slot_->store(0, std::memory_order_seq_cst);
    while (handlers_running.load(std::memory_order_seq_cst) != 0) std::this_thread::yield();
  }

 private:
  std::atomic<int>* slot_ = nullptr;
};

int make_eventfd(const char* operation) {
  const int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) throw std::system_error(errno, std::system_category(), std::string("brigade: ") + operation + ": eventfd");
  return fd;
}

void drain(int fd) noexcept {
  std::uint64_t value;
  while (::read(fd, &value, sizeof value) < 0 && errno == EINTR) {
  }
}

void wake(int fd) noexcept {
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t written = ::write(fd, &one, sizeof one);
}

/// A plain descriptor, closed on destruction.
struct owned_fd {
  int fd;
  explicit owned_fd(int descriptor) noexcept : fd(descriptor) {}
  owned_fd(const owned_fd&) = delete;
  owned_fd& operator=(const owned_fd&) = delete;
  ~owned_fd() { ::close(fd); }
};

/// Closes a reactor registration on destruction (the descriptor closes once unused).
struct registration_closer {
  detail::io_source& source;
  std::uint32_t registration;
  registration_closer(detail::io_source& closed, std::uint32_t generation) noexcept
      : source(closed), registration(generation) {}
  registration_closer(const registration_closer&) = delete;
  registration_closer& operator=(const registration_closer&) = delete;
  ~registration_closer() { source.close(registration); }
};

task<int> wait_with(listener waiting) { co_return co_await waiting.wait_async(); }

}  // namespace

listener::listener(std::span<const int> signals) {
  if (signals.empty()) throw std::invalid_argument("brigade: signals: an empty set of signals to wait for");
  for (int number : signals) validate(number);
  {
    std::lock_guard guard(table_mutex);
    for (int number : signals) install_locked(number);
  }
  // Counted from here on: the handlers are in place.
  watched_.reserve(signals.size());
  for (int number : signals)
    watched_.push_back({number, delivered[number].load(std::memory_order_seq_cst)});
}

int listener::try_take() noexcept {
  for (watched& entry : watched_) {
    const std::uint64_t now = delivered[entry.signal].load(std::memory_order_seq_cst);
    if (now != entry.seen) {
      entry.seen = now;
      return entry.signal;
    }
  }
  return 0;
}

task<int> listener::wait_async() {
  if (const int number = try_take()) co_return number;
  runtime* current = runtime::current();
  if (current == nullptr)
    throw usage_error(
        "brigade: signals::wait_async awaited outside a runtime's worker thread; use signals::wait there");
  const int fd = make_eventfd("signals::wait_async");
  detail::io_source& source = detail::register_io_source(*current, fd);  // owns fd from here on
  const std::uint32_t registration = source.generation;
  // Destroyed in reverse: the handler forgets fd, the registration is closed, then the use ends
  // (the last touch of the source, which may finish the close).
  detail::io_use use(source, registration);
  registration_closer closer{source, registration};
  if (!use) throw task_cancelled("brigade: signals::wait_async: the runtime is shutting down");
  wake_slot slot(fd);
  for (;;) {
    // A signal counted after the look below writes to fd after it, so its edge comes after the
    // snapshot: the wait below returns at once or is woken.
    drain(fd);
    const std::uint64_t seen = source.snapshot(detail::io_direction::read);
    if (const int number = try_take()) co_return number;
    if (!co_await detail::readiness_awaiter(source, detail::io_direction::read, seen))
      throw task_cancelled("brigade: signals::wait_async ended: its runtime shut down");
  }
}

int listener::wait(std::stop_token token) {
  detail::refuse_blocking_on_worker("signals::wait");
  if (const int number = try_take()) return number;
  const owned_fd event{make_eventfd("signals::wait")};
  wake_slot slot(event.fd);
  std::stop_callback on_stop(token, [fd = event.fd] { wake(fd); });
  for (;;) {
    if (const int number = try_take()) return number;
    if (token.stop_requested())
      throw task_cancelled("brigade: signals::wait cancelled (a stop was requested while it waited)");
    pollfd readable{event.fd, POLLIN, 0};
    if (::poll(&readable, 1, -1) < 0 && errno != EINTR)
      throw std::system_error(errno, std::system_category(), "brigade: signals::wait: poll");
    drain(event.fd);
  }
}

task<int> wait_async(std::initializer_list<int> signals) { return wait_with(listener(signals)); }

int wait(std::initializer_list<int> signals, std::stop_token token) {
  detail::refuse_blocking_on_worker("signals::wait");
  return listener(signals).wait(std::move(token));
}

}  // namespace brigade::signals
