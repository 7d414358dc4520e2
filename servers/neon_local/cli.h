// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// neon_local's command line: a tree of commands ("timeline branch"), each with its own flags
// and --help. Flags are `--name=value` or `--name value`; switches are a bare `--name`.
// `--repo-dir DIR` and `--help` are accepted by every command, before or after its words.
//
// Exit codes: 0 done, 1 the operation failed, 2 bad command line (unknown command or flag,
// missing or malformed value). A command reports a bad flag value by returning UsageError()
// before it changes anything; every other failure is exit 1.
//
// Thread safety: single-threaded, as neon_local is.

#ifndef NEON_SERVERS_NEON_LOCAL_CLI_H_
#define NEON_SERVERS_NEON_LOCAL_CLI_H_

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace neon::neon_local {

struct FlagSpec {
  std::string name;        // without the dashes
  std::string value_name;  // "" for a switch
  std::string help;
};

class Invocation;

struct CommandSpec {
  std::string path;  // command words, "timeline branch"
  std::string summary;
  std::string details;  // more lines for --help; may be empty
  std::vector<FlagSpec> flags;
  std::function<absl::Status(const Invocation&)> run;
};

// A parsed command line for one command.
class Invocation {
 public:
  Invocation(const CommandSpec* spec, std::map<std::string, std::string> values,
             std::string repo_dir)
      : spec_(spec), values_(std::move(values)), repo_dir_(std::move(repo_dir)) {}

  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  std::optional<std::string> Get(const std::string& name) const;
  std::string GetOr(const std::string& name, const std::string& fallback) const;
  // The absolute repository directory (--repo-dir, $NEON_REPO_DIR or ./.neon).
  const std::string& repo_dir() const { return repo_dir_; }
  const CommandSpec& spec() const { return *spec_; }

 private:
  const CommandSpec* spec_;
  std::map<std::string, std::string> values_;
  std::string repo_dir_;
};

// InvalidArgument marked as a bad command line (exit 2), worded for the user.
absl::Status UsageError(const std::string& message);
bool IsUsageError(const absl::Status& status);

// Parses argv against `commands` and runs the chosen command; returns the exit code.
int RunCli(const std::vector<CommandSpec>& commands, int argc, char** argv);

}  // namespace neon::neon_local

#endif  // NEON_SERVERS_NEON_LOCAL_CLI_H_
