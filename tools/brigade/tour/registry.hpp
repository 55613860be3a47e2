// The chapters of the tour, in order, and lookup by slug or number.
#pragma once

#include <span>
#include <string_view>

#include "tour/chapter.hpp"

namespace brigade::tool {

// Every chapter in tour order; chapter n (1-based) is chapters()[n - 1].
std::span<const chapter* const> chapters();

// The 1-based number of `c` in the tour.
std::size_t chapter_number(const chapter& c);

// The chapter named by `slug_or_number` ("million-helpers" or "1"), or nullptr.
const chapter* find_chapter(std::string_view slug_or_number);

}  // namespace brigade::tool
