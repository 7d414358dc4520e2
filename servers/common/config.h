// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Server configuration: declared options, read from a TOML file (`--config FILE`) and
// overridden by command-line flags. An option `listen-addr` is `--listen-addr=V` or
// `--listen-addr V` on the command line and `listen_addr = V` (or `"listen-addr" = V`) at the
// top level of the file. Booleans may be given as a bare `--flag`. Unknown flags, unknown file
// keys, values of the wrong type and TOML syntax errors are InvalidArgument with a message that
// names the culprit. `--help` prints every option (Help()).
//
// Precedence: command line > file > default.
//
// Thread safety: configure and parse on one thread; afterwards the getters may be called from
// any thread.

#ifndef NEON_SERVERS_COMMON_CONFIG_H_
#define NEON_SERVERS_COMMON_CONFIG_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace neon::server {

class OptionSet {
 public:
  OptionSet(std::string program, std::string summary);

  // Declares an option. `name` is lowercase words joined by '-'.
  void AddString(const std::string& name, const std::string& default_value,
                 const std::string& help);
  void AddInt(const std::string& name, int64_t default_value, const std::string& help);
  void AddBool(const std::string& name, bool default_value, const std::string& help);

  enum class Outcome { kRun, kHelp };
  // Parses argv (and the file named by --config). kHelp when --help was given (nothing else
  // is checked then).
  absl::StatusOr<Outcome> Parse(int argc, const char* const* argv);

  // A server's main(): Parse, then print --help to stdout (exit 0) or the
  // error to stderr as "<program>: ..." (exit 2), and apply --log-level (an
  // option the server must declare). Returns the exit code to end with, or
  // nullopt to go on.
  std::optional<int> ParseForMain(int argc, const char* const* argv);

  // Usage text listing every option with its type, default and help.
  std::string Help() const;

  // The option's value. Crashes on an undeclared name or wrong type (a bug).
  const std::string& GetString(const std::string& name) const;
  int64_t GetInt(const std::string& name) const;
  bool GetBool(const std::string& name) const;
  // The config file given with --config, or "".
  const std::string& config_file() const { return config_file_; }

 private:
  enum class Type { kString, kInt, kBool };
  struct Option {
    Type type;
    std::string help;
    std::string default_text;
    std::string string_value;
    int64_t int_value = 0;
    bool bool_value = false;
  };
  Option* Find(const std::string& name);
  const Option& Get(const std::string& name, Type type) const;
  absl::Status SetFromText(const std::string& name, Option* opt, const std::string& text);
  absl::Status LoadFile(const std::string& path);

  std::string program_;
  std::string summary_;
  std::map<std::string, Option> options_;
  std::vector<std::string> order_;
  std::string config_file_;
};

}  // namespace neon::server

#endif  // NEON_SERVERS_COMMON_CONFIG_H_
