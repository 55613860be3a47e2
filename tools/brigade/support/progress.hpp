// A progress indication for a step of the tour that takes a while, drawn by a plain thread that
// polls the step's counters. The work is not slowed by it beyond the counters it keeps anyway.
//
//   on a terminal:  one line, redrawn in place with '\r' ten times a second
//                     "  first run: 432,000 of 1,000,000 leaves (43%)"
//   otherwise:      a plain line once a second, so a log shows the step was alive
//                     "  first run: 43%"
// Nothing is drawn for a step that ends within the first interval.
//
// Thread safety: construct and stop() on one thread; nothing else may write to stdout between
// them (the line would be torn).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <thread>

namespace brigade::tool {

class progress {
 public:
  struct status {
    double fraction;   // 0 to 1
    std::string text;  // what is done so far, for the terminal: "432,000 of 1,000,000 leaves"
  };

  // `poll` is called from the progress thread: it must be safe to call concurrently with the
  // work (typically relaxed loads of atomic counters).
  progress(bool interactive, std::string label, std::function<status()> poll);

  // The common case: `done()` of `total` things called `unit`.
  progress(bool interactive, std::string label, std::uint64_t total, std::string unit,
           std::function<std::uint64_t()> done);

  ~progress();
  progress(const progress&) = delete;
  progress& operator=(const progress&) = delete;

  // Stops the thread and, on a terminal, erases the progress line. Idempotent.
  void stop();

 private:
  void draw() const;

  std::string label_;
  std::function<status()> poll_;
  bool interactive_;
  bool drawn_ = false;  // written by the progress thread; read by stop() after join()
  std::jthread thread_;
};

}  // namespace brigade::tool
