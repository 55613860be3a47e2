// Every chapter of the tour, one function per chapter file. The order of the tour is decided in
// tour/registry.cpp, not here.
#pragma once

#include "tour/chapter.hpp"

namespace brigade::tool {

const chapter& million_helpers_chapter();  // chapters/million_helpers.cpp

}  // namespace brigade::tool
