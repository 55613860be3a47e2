#include "tour/registry.hpp"

#include <algorithm>
#include <charconv>

#include "chapters/chapters.hpp"

namespace brigade::tool {

std::span<const chapter* const> chapters() {
  // The tour's order: the essays' own, from cheap helpers to the tools that catch races.
  static const chapter* const all[] = {
      &million_helpers_chapter(),
      &the_chefs_chapter(),
      &the_worker_pool_chapter(),
      &the_race_chapter(),
      &the_ledger_chapter(),
      &the_impatient_customer_chapter(),
      &the_chef_who_never_waits_chapter(),
      &green_threads_chapter(),
      &the_hybrid_chapter(),
  };
  return all;
}

std::size_t chapter_number(const chapter& c) {
  const auto all = chapters();
  return static_cast<std::size_t>(std::find(all.begin(), all.end(), &c) - all.begin()) + 1;
}

const chapter* find_chapter(std::string_view slug_or_number) {
  const auto all = chapters();
  std::size_t number = 0;
  const char* first = slug_or_number.data();
  const char* last = first + slug_or_number.size();
  if (auto [end, error] = std::from_chars(first, last, number); error == std::errc{} && end == last) {
    return number >= 1 && number <= all.size() ? all[number - 1] : nullptr;
  }
  const auto it = std::find_if(all.begin(), all.end(),
                               [&](const chapter* c) { return c->slug == slug_or_number; });
  return it == all.end() ? nullptr : *it;
}

}  // namespace brigade::tool
