#include "support/progress.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fmt/format.h>
#include <mutex>

#include "support/format.hpp"

namespace brigade::tool {

namespace {
constexpr std::chrono::milliseconds terminal_interval{100};
constexpr std::chrono::milliseconds log_interval{1000};
}  // namespace

progress::progress(bool interactive, std::string label, std::function<status()> poll)
    : label_(std::move(label)), poll_(std::move(poll)), interactive_(interactive) {
  thread_ = std::jthread([this](std::stop_token stop) {
    const auto interval = interactive_ ? terminal_interval : log_interval;
    std::mutex m;
    std::condition_variable_any cv;
    std::unique_lock lock(m);
    // wait_for returns early when stop is requested (the stop token wakes the wait).
    while (!cv.wait_for(lock, stop, interval, [] { return false; }) && !stop.stop_requested()) {
      draw();
      drawn_ = true;
    }
  });
}

progress::progress(bool interactive, std::string label, std::uint64_t total, std::string unit,
                   std::function<std::uint64_t()> done)
    : progress(interactive, std::move(label),
               [total, unit = std::move(unit), done = std::move(done)] {
                 const std::uint64_t n = done();
                 return status{total == 0 ? 1.0 : static_cast<double>(n) / static_cast<double>(total),
                               fmt::format("{} of {} {}", group_digits(n), group_digits(total), unit)};
               }) {}

progress::~progress() { stop(); }

void progress::stop() {
  if (!thread_.joinable()) return;
  thread_.request_stop();
  thread_.join();
  if (interactive_ && drawn_) {
    std::fputs("\r\033[K", stdout);  // carriage return, erase to the end of the line
    std::fflush(stdout);
  }
}

void progress::draw() const {
  const status s = poll_();
  if (interactive_) {
    fmt::print("\r  {}: {} ({:.0f}%)\033[K", label_, s.text, 100.0 * s.fraction);
  } else {
    fmt::print("  {}: {:.0f}%\n", label_, 100.0 * s.fraction);
  }
  std::fflush(stdout);
}

}  // namespace brigade::tool
