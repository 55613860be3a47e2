// What a running chapter gets from the tour: the user's options and a few ways to write its
// report so that every chapter reads alike.
//
// Thread safety: use from the thread that runs the chapter only.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "tour/chapter.hpp"

namespace brigade::tool {

struct tour_options {
  std::size_t workers = 0;  // worker threads for each chapter's runtime; 0 = one per hardware thread
};

class tour_context {
 public:
  explicit tour_context(tour_options options);

  // Worker threads to give the runtime (0 = hardware, as runtime_options::worker_threads).
  std::size_t workers() const noexcept { return options_.workers; }

  // True when stdout is a terminal: progress lines may redraw themselves with '\r'.
  bool interactive() const noexcept { return interactive_; }

  // A paragraph of prose, word-wrapped and indented.
  void paragraph(std::string_view text) const;

  // One result line, label and value in aligned columns: "  answer            499999500000".
  void fact(std::string_view label, std::string_view value) const;

  // A blank line.
  void gap() const;

  // The chapter's verdict from the checks that failed (each a phrase, "FAILED: <phrase>." is
  // printed): passed when there are none.
  chapter_result verdict(const std::vector<std::string>& failures) const;

 private:
  tour_options options_;
  bool interactive_;
};

}  // namespace brigade::tool
