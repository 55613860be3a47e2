// brigade: the command-line tool of the brigade runtime.
//
//   brigade tour [--list] [--workers N] [chapter]
//
// Each subcommand lives in its own *_command.cpp and registers itself with add_<name>_command.
#include <CLI/CLI.hpp>
#include <vector>

#include "command.hpp"

int main(int argc, char** argv) {
  using namespace brigade::tool;

  CLI::App app{"brigade: every concurrency model of the essays in one C++ runtime", "brigade"};
  app.require_subcommand(1);
  const std::vector<subcommand> commands{
      add_tour_command(app),
  };

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int status = app.exit(e);  // prints help, or the error with a hint
    return status == 0 ? exit_success : exit_usage;
  }
  for (const subcommand& c : commands) {
    if (c.app->parsed()) return c.run();
  }
  return exit_usage;  // unreachable: require_subcommand(1)
}
