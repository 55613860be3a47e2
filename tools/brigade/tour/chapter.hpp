// The tour is a sequence of chapters, each one a program from the two essays on concurrency run
// on brigade, with what it shows measured and checked.
//
// A chapter is a constant description plus a function that runs it. To add one:
//   1. write tools/brigade/chapters/<slug>.cpp defining `const chapter& <name>_chapter()`
//      (see chapters/million_helpers.cpp for the shape);
//   2. declare it in chapters/chapters.hpp, list it in tour/registry.cpp where it belongs in the
//      order, and add the file to tools/brigade/CMakeLists.txt.
// Numbers come from the position in the registry; slugs are the stable names.
#pragma once

#include <string_view>

namespace brigade::tool {

class tour_context;

enum class chapter_result {
  passed,  // ran, and every check of its results held
  failed,  // ran, but a check failed (the chapter has said which and why)
};

struct chapter {
  std::string_view slug;     // command-line name, lowercase with dashes: "million-helpers"
  std::string_view title;    // "a million helpers"
  std::string_view summary;  // one line for `brigade tour --list`
  std::string_view essay;    // opening paragraph: where the chapter sits in the essays' kitchen

  // Runs the chapter, writing through `ctx`. Throws on unexpected errors (the tour reports them
  // as a failed chapter and goes on with the next one).
  chapter_result (*run)(tour_context& ctx);
};

}  // namespace brigade::tool
