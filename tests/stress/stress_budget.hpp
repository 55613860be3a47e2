// stress_budget.hpp: how long each randomized stress test runs, shared by the stress tests.
// BRIGADE_STRESS_SECONDS (default 4) is one test's budget; CI sets it (.ci/run).
#pragma once

#include <cstdlib>

namespace brigade_stress {

inline double stress_seconds() {
  if (const char* env = std::getenv("BRIGADE_STRESS_SECONDS")) return std::atof(env);
  return 4.0;
}

}  // namespace brigade_stress
