#include "tour/context.hpp"

#include <cstdio>
#include <fmt/format.h>
#include <string>
#include <unistd.h>

namespace brigade::tool {

namespace {
constexpr std::size_t text_width = 78;
constexpr std::string_view indent = "  ";
}  // namespace

tour_context::tour_context(tour_options options)
    : options_(options), interactive_(::isatty(STDOUT_FILENO) == 1) {}

void tour_context::paragraph(std::string_view text) const {
  std::string line{indent};
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t start = text.find_first_not_of(' ', pos);
    if (start == std::string_view::npos) break;
    std::size_t end = text.find(' ', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view word = text.substr(start, end - start);
    if (line.size() > indent.size() && line.size() + 1 + word.size() > text_width) {
      fmt::print("{}\n", line);
      line = indent;
    }
    if (line.size() > indent.size()) line.push_back(' ');
    line.append(word);
    pos = end;
  }
  if (line.size() > indent.size()) fmt::print("{}\n", line);
}

void tour_context::fact(std::string_view label, std::string_view value) const {
  fmt::print("{}{:<18}{}\n", indent, label, value);
}

void tour_context::gap() const { std::fputc('\n', stdout); }

chapter_result tour_context::verdict(const std::vector<std::string>& failures) const {
  if (failures.empty()) return chapter_result::passed;
  gap();
  for (const std::string& failure : failures) paragraph(fmt::format("FAILED: {}.", failure));
  return chapter_result::failed;
}

}  // namespace brigade::tool
