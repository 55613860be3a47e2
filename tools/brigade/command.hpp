// A subcommand of `brigade`: it declares its options on a CLI11 subcommand, and `run` is called
// after parsing when that subcommand was chosen. `run` returns the process exit status:
//   0  success
//   1  the command ran and something failed (a chapter's check, an exception)
//   2  usage error (unknown name, bad option)
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace brigade::tool {

inline constexpr int exit_success = 0;
inline constexpr int exit_failure = 1;
inline constexpr int exit_usage = 2;

struct subcommand {
  CLI::App* app;
  std::function<int()> run;
};

// tour/tour_command.cpp
subcommand add_tour_command(CLI::App& parent);

}  // namespace brigade::tool
