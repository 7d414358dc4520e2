// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// neon_local: runs a whole neonstore cluster (storage broker, pageserver, three safekeepers,
// optionally a walpump) on one machine from a repository directory. See servers/README.md.

#include <vector>

#include "neon_local/cli.h"
#include "neon_local/cluster.h"

int main(int argc, char** argv) {
  using namespace neon::neon_local;
  std::vector<CommandSpec> commands;
  for (auto table : {ClusterCommands, TenantCommands, ExportCommands, WalpumpCommands}) {
    std::vector<CommandSpec> part = table();
    commands.insert(commands.end(), part.begin(), part.end());
  }
  return RunCli(commands, argc, argv);
}
