// The process's resident memory, read from /proc/self/statm, and a sampler that records its peak
// while some work runs.
//
// Resident set size (RSS) counts the pages of this process that are in RAM: touched heap, stacks,
// mapped code. It is what the kernel charges the process for, so "RSS growth over a run" is the
// honest answer to "how much memory did these tasks cost", allocator and pool overheads included.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <thread>

namespace brigade::tool {

// The resident set size in bytes (second field of /proc/self/statm, times the page size),
// or 0 if it cannot be read.
std::size_t resident_bytes() noexcept;

// Samples resident_bytes() on a plain thread every `interval` from construction until stop()
// (or destruction), keeping the largest value seen.
//
// Thread safety: peak() may be called from any thread at any time.
class peak_rss_sampler {
 public:
  explicit peak_rss_sampler(std::chrono::milliseconds interval = std::chrono::milliseconds{2});
  ~peak_rss_sampler();
  peak_rss_sampler(const peak_rss_sampler&) = delete;
  peak_rss_sampler& operator=(const peak_rss_sampler&) = delete;

  // Takes a last sample and stops the sampling thread; returns the peak.
  std::size_t stop();
  std::size_t peak() const noexcept { return peak_.load(std::memory_order_relaxed); }

 private:
  void sample() noexcept;

  // Written by the sampling thread and by stop() (a max, so order does not matter); read by
  // anyone. Relaxed: the value is a statistic, it publishes no other memory.
  std::atomic<std::size_t> peak_{0};
  std::jthread thread_;
};

}  // namespace brigade::tool
