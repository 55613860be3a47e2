// Every chapter of the tour, one function per chapter file. The order of the tour is decided in
// tour/registry.cpp, not here.
#pragma once

#include "tour/chapter.hpp"

namespace brigade::tool {

const chapter& million_helpers_chapter();         // chapters/million_helpers.cpp
const chapter& the_chefs_chapter();               // chapters/the_chefs.cpp
const chapter& the_worker_pool_chapter();         // chapters/the_worker_pool.cpp
const chapter& the_race_chapter();                // chapters/the_race.cpp
const chapter& the_ledger_chapter();              // chapters/the_ledger.cpp
const chapter& the_impatient_customer_chapter();  // chapters/the_impatient_customer.cpp
const chapter& the_chef_who_never_waits_chapter();  // chapters/the_chef_who_never_waits.cpp
const chapter& green_threads_chapter();           // chapters/green_threads.cpp
const chapter& the_hybrid_chapter();              // chapters/the_hybrid.cpp

}  // namespace brigade::tool
