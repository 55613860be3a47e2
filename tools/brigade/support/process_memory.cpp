#include "support/process_memory.hpp"

#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <unistd.h>

namespace brigade::tool {

std::size_t resident_bytes() noexcept {
  // statm: size resident shared text lib data dt, all in pages.
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long size_pages = 0;
  unsigned long resident_pages = 0;
  const int fields = std::fscanf(f, "%lu %lu", &size_pages, &resident_pages);
  std::fclose(f);
  if (fields != 2) return 0;
  const long page = ::sysconf(_SC_PAGESIZE);
  return static_cast<std::size_t>(resident_pages) * static_cast<std::size_t>(page > 0 ? page : 4096);
}

peak_rss_sampler::peak_rss_sampler(std::chrono::milliseconds interval) {
  sample();
  thread_ = std::jthread([this, interval](std::stop_token stop) {
    std::mutex m;
    std::condition_variable_any cv;
    std::unique_lock lock(m);
    // wait_for returns early when stop is requested (the stop token wakes the wait).
    while (!cv.wait_for(lock, stop, interval, [] { return false; }) && !stop.stop_requested()) {
      sample();
    }
  });
}

peak_rss_sampler::~peak_rss_sampler() { stop(); }

std::size_t peak_rss_sampler::stop() {
  if (thread_.joinable()) {
    thread_.request_stop();
    thread_.join();
  }
  sample();
  return peak();
}

void peak_rss_sampler::sample() noexcept {
  const std::size_t now = resident_bytes();
  std::size_t seen = peak_.load(std::memory_order_relaxed);
  while (now > seen && !peak_.compare_exchange_weak(seen, now, std::memory_order_relaxed)) {
  }
}

}  // namespace brigade::tool
