// `brigade tour`: runs the chapters of the tour (all in order, or one), or lists them.
#include <chrono>
#include <cstdio>
#include <exception>
#include <fmt/format.h>
#include <memory>
#include <string>
#include <vector>

#include "command.hpp"
#include "support/format.hpp"
#include "tour/context.hpp"
#include "tour/registry.hpp"

namespace brigade::tool {

namespace {

struct tour_arguments {
  bool list = false;
  std::string chapter;  // slug or number; empty = every chapter
  tour_options options;
};

void print_list(std::FILE* out) {
  std::size_t slug_width = 4;
  std::size_t title_width = 5;
  for (const chapter* c : chapters()) {
    slug_width = std::max(slug_width, c->slug.size());
    title_width = std::max(title_width, c->title.size());
  }
  for (const chapter* c : chapters()) {
    fmt::print(out, "  {:>2}  {:<{}}  {:<{}}  {}\n", chapter_number(*c), c->slug, slug_width,
               c->title, title_width, c->summary);
  }
}

chapter_result run_one(const chapter& c, tour_context& ctx) {
  const std::string heading = fmt::format("== {}. {} ({}) ", chapter_number(c), c.title, c.slug);
  fmt::print("{}{}\n\n", heading, std::string(heading.size() < 78 ? 78 - heading.size() : 2, '='));
  ctx.paragraph(c.essay);
  ctx.gap();
  std::fflush(stdout);

  const auto start = std::chrono::steady_clock::now();
  chapter_result result = chapter_result::failed;
  try {
    result = c.run(ctx);
  } catch (const std::exception& e) {
    std::fflush(stdout);
    fmt::print(stderr, "brigade tour: chapter {} ({}) threw: {}\n", chapter_number(c), c.slug, e.what());
  } catch (...) {
    std::fflush(stdout);
    fmt::print(stderr, "brigade tour: chapter {} ({}) threw an unknown exception\n", chapter_number(c),
               c.slug);
  }
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  fmt::print("\n  -- {} in {}\n\n", result == chapter_result::passed ? "passed" : "FAILED",
             format_duration(took));
  std::fflush(stdout);
  return result;
}

int run_tour(const tour_arguments& args) {
  if (args.list) {
    print_list(stdout);
    return exit_success;
  }

  std::vector<const chapter*> selected;
  if (args.chapter.empty()) {
    selected.assign(chapters().begin(), chapters().end());
  } else if (const chapter* c = find_chapter(args.chapter)) {
    selected.push_back(c);
  } else {
    fmt::print(stderr, "brigade tour: no chapter '{}'. The chapters are:\n", args.chapter);
    print_list(stderr);
    return exit_usage;
  }

  tour_context ctx{args.options};
  std::vector<const chapter*> failed;
  for (const chapter* c : selected) {
    if (run_one(*c, ctx) != chapter_result::passed) failed.push_back(c);
  }

  if (selected.size() > 1) {
    if (failed.empty()) {
      fmt::print("tour: all {} chapters passed\n", selected.size());
    } else {
      fmt::print("tour: {} of {} chapters FAILED:", failed.size(), selected.size());
      for (const chapter* c : failed) fmt::print(" {}", c->slug);
      fmt::print("\n");
    }
  }
  return failed.empty() ? exit_success : exit_failure;
}

}  // namespace

subcommand add_tour_command(CLI::App& parent) {
  auto args = std::make_shared<tour_arguments>();
  CLI::App* tour = parent.add_subcommand(
      "tour", "Run the essays' programs on brigade, chapter by chapter (all of them, or one)");
  tour->add_flag("-l,--list", args->list, "List the chapters: number, name, title, summary");
  tour->add_option("chapter", args->chapter, "The chapter to run, by name or number (default: all)")
      ->type_name("CHAPTER");
  tour->add_option("-w,--workers", args->options.workers,
                   "Worker threads of the runtime (default: one per hardware thread)")
      ->type_name("N")
      ->check(CLI::Range(1, 4096));
  tour->footer("Chapters:\n" + [] {
    std::string s;
    for (const chapter* c : chapters()) {
      s += fmt::format("  {:>2}  {}  ({})\n", chapter_number(*c), c->slug, c->title);
    }
    return s;
  }());
  return {tour, [args] { return run_tour(*args); }};
}

}  // namespace brigade::tool
