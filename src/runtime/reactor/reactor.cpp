// See reactor.hpp. The registry of sources and the turn.
#include "reactor.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string_view>
#include <system_error>
#include <vector>

namespace brigade::detail {

// The sources of one reactor, in chunks that never move (the driver's events name a source by
// index, looked up without a lock), reused through a free list. Outlives the reactor while a
// socket object still names one of its sources (the last of them frees it).
struct io_registry {
  static constexpr std::size_t chunk_size = 1024;
  static constexpr std::size_t max_chunks = 16384;  // 16 M descriptors

  seam::mutex mutex;
  std::array<seam::atomic<io_source*>, max_chunks> chunks{};  // written under mutex
  std::size_t chunk_count = 0;                                // guarded by mutex
  std::vector<std::uint32_t> free;                            // guarded by mutex
  io_driver* driver = nullptr;                                // guarded by mutex; null once the reactor is gone
  bool reactor_gone = false;                                  // guarded by mutex
  seam::atomic<std::uint64_t> live{0};                        // registered sources (written under mutex)
  std::uint64_t holders = 0;                                  // guarded by mutex: socket objects naming a source

  /// Under mutex: nothing names the registry any more.
  bool unused_locked() const noexcept {
    return reactor_gone && holders == 0 && live.load(seam::memory_order::relaxed) == 0;
  }

  io_source* find(std::uint32_t index) const noexcept {
    io_source* chunk = chunks[index / chunk_size].load(seam::memory_order::acquire);
    return chunk == nullptr ? nullptr : &chunk[index % chunk_size];
  }
  ~io_registry() {
    for (std::size_t i = 0; i < chunk_count; ++i) delete[] chunks[i].load(seam::memory_order::relaxed);
  }
};

namespace {

std::uint64_t token_of(const io_source& source) noexcept {
  return (static_cast<std::uint64_t>(source.generation) << 32) | source.index;
}

std::unique_ptr<io_driver> start_driver(io_backend choice) {
  if (choice == io_backend::automatic) {
    if (const char* forced = std::getenv("BRIGADE_IO_BACKEND"); forced != nullptr && *forced != '\0') {
      const std::string_view name(forced);
      if (name == "epoll") choice = io_backend::epoll;
      else if (name == "io_uring") choice = io_backend::io_uring;
      else if (name == "prefer_io_uring") choice = io_backend::prefer_io_uring;
      else if (name != "automatic")
        throw std::invalid_argument("brigade: BRIGADE_IO_BACKEND is \"" + std::string(name) +
                                    "\"; expected epoll, io_uring, prefer_io_uring or automatic");
    }
  }
  switch (choice) {
    case io_backend::automatic:  // epoll: measured faster for sockets (runtime.hpp, io_backend)
    case io_backend::epoll:
      return make_epoll_driver();
    case io_backend::io_uring:
      if (!uring_driver_built())
        throw std::system_error(std::make_error_code(std::errc::function_not_supported),
                                "brigade: the io_uring backend was asked for, but this build has no "
                                "liburing (install liburing-dev and rebuild)");
      return make_uring_driver();
    case io_backend::prefer_io_uring:
      break;
  }
  if (uring_driver_built()) {
    try {
      return make_uring_driver();
    } catch (const std::system_error&) {
      // The kernel refuses io_uring (too old, disabled by sysctl or a seccomp filter): epoll.
    }
  }
  return make_epoll_driver();
}

}  // namespace

reactor::reactor(io_backend choice, timer_queue::attention_function attention, void* context)
    : driver_(start_driver(choice)),
      timers_(attention, context),
      registry_(new io_registry),
      registered_(registry_->live) {
  registry_->driver = driver_.get();
}

reactor::~reactor() {
  close_all_sources();
  bool last;
  {
    std::lock_guard lock(registry_->mutex);
    registry_->driver = nullptr;
    registry_->reactor_gone = true;
    last = registry_->unused_locked();
  }
  if (last) delete registry_;
}

io_source& reactor::register_source(int fd) {
  io_source* source;
  {
    std::unique_lock lock(registry_->mutex);
    if (registry_->free.empty()) {
      if (registry_->chunk_count == io_registry::max_chunks) {
        lock.unlock();
        ::close(fd);
        throw std::system_error(std::make_error_code(std::errc::too_many_files_open),
                                "brigade: the reactor holds its maximum of descriptors");
      }
      auto* chunk = new io_source[io_registry::chunk_size];
      const auto base = static_cast<std::uint32_t>(registry_->chunk_count * io_registry::chunk_size);
      for (std::size_t i = 0; i < io_registry::chunk_size; ++i) {
        chunk[i].index = base + static_cast<std::uint32_t>(i);
        chunk[i].registry = registry_;
      }
      registry_->chunks[registry_->chunk_count++].store(chunk, seam::memory_order::release);
      for (std::size_t i = io_registry::chunk_size; i-- > 0;)
        registry_->free.push_back(base + static_cast<std::uint32_t>(i));
    }
    source = registry_->find(registry_->free.back());
    registry_->free.pop_back();
    registry_->live.store(registry_->live.load(seam::memory_order::relaxed) + 1, seam::memory_order::relaxed);
  }
  {
    std::lock_guard guard(source->lock);
    ++source->generation;
    source->closed = false;
    source->hung_up.store(false, seam::memory_order::relaxed);
    source->fd = fd;
  }
  source->uses.store(static_cast<std::uint64_t>(source->generation) << 32, seam::memory_order::release);
  try {
    driver_->add(fd, token_of(*source));
  } catch (...) {
    source->close(source->generation);  // closes fd and gives the source back
    throw;
  }
  return *source;
}

void finish_io_source_close(io_source& source) noexcept {
  auto* registry = static_cast<io_registry*>(source.registry);
  bool last = false;
  {
    std::lock_guard lock(registry->mutex);
    if (registry->driver != nullptr) registry->driver->remove(source.fd, token_of(source));
    ::close(source.fd);
    source.fd = -1;
    registry->free.push_back(source.index);
    registry->live.store(registry->live.load(seam::memory_order::relaxed) - 1, seam::memory_order::relaxed);
    last = registry->unused_locked();
  }
  if (last) delete registry;
}

void retain_io_registry(void* registry) noexcept {
  auto* r = static_cast<io_registry*>(registry);
  std::lock_guard lock(r->mutex);
  ++r->holders;
}

void release_io_registry(void* registry) noexcept {
  auto* r = static_cast<io_registry*>(registry);
  bool last;
  {
    std::lock_guard lock(r->mutex);
    --r->holders;
    last = r->unused_locked();
  }
  if (last) delete r;
}

void reactor::close_all_sources() noexcept {
  std::vector<std::pair<io_source*, std::uint32_t>> open;
  {
    std::lock_guard lock(registry_->mutex);
    for (std::size_t c = 0; c < registry_->chunk_count; ++c) {
      io_source* chunk = registry_->chunks[c].load(seam::memory_order::relaxed);
      for (std::size_t i = 0; i < io_registry::chunk_size; ++i) {
        io_source& source = chunk[i];
        if (source.fd >= 0) open.emplace_back(&source, source.generation);
      }
    }
  }
  for (auto [source, generation] : open) source->close(generation);
}

waiter* reactor::turn(parker* sleeper) {
  std::uint64_t sleep_until = timer_queue::no_tick;
  std::uint64_t now = seam::now_nanoseconds();
  waiter* chain = timers_.take_due(now, sleeper != nullptr, sleep_until);
  std::size_t count = 0;
  try {
    if (sleeper != nullptr && chain == nullptr) {
      const std::uint64_t timeout =
          sleep_until == timer_queue::no_tick ? ~std::uint64_t{0} : (sleep_until > now ? sleep_until - now : 0);
      const bool slept = sleeper->park_elsewhere([&] { count = driver_->wait(timeout, events_.data(), events_.size()); });
      if (!slept) count = driver_->wait(0, events_.data(), events_.size());
      now = seam::now_nanoseconds();
      std::uint64_t ignored;
      waiter* due = timers_.take_due(now, false, ignored);
      while (due != nullptr) {
        waiter* next = due->next;
        due->next = chain;
        chain = due;
        due = next;
      }
    } else {
      count = driver_->wait(0, events_.data(), events_.size());
      if (sleeper != nullptr) timers_.stop_watching();
    }
  } catch (const std::system_error& error) {
    // The driver's descriptors are the reactor's own: a failure here is not the program's doing
    // and leaves no way to wait for I/O.
    std::fprintf(stderr, "brigade: the I/O reactor failed: %s\n", error.what());
    std::abort();
  }
  last_turn_.store(now, seam::memory_order::relaxed);
  for (std::size_t i = 0; i < count; ++i) {
    const io_event& event = events_[i];
    io_source* source = registry_->find(static_cast<std::uint32_t>(event.token));
    if (source != nullptr)
      source->mark_ready(event.readable, event.writable, event.hangup, static_cast<std::uint32_t>(event.token >> 32), chain);
  }
  return chain;
}

}  // namespace brigade::detail
