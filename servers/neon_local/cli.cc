// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "neon_local/cli.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "absl/strings/cord.h"
#include "base/str_cat.h"

namespace neon::neon_local {
namespace {

constexpr char kUsagePayload[] = "neon_local/usage";
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

const std::vector<FlagSpec>& GlobalFlags() {
  static const std::vector<FlagSpec> flags = {
      {"repo-dir", "DIR", "repository directory (default: $NEON_REPO_DIR, else ./.neon)"},
      {"help", "", "print this help and exit"},
  };
  return flags;
}

const FlagSpec* FindFlag(const CommandSpec& spec, const std::string& name) {
  for (const FlagSpec& f : spec.flags) {
    if (f.name == name) return &f;
  }
  for (const FlagSpec& f : GlobalFlags()) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

std::string FlagLine(const FlagSpec& f) {
  std::string left = StrCat("  --", f.name, f.value_name.empty() ? "" : " ", f.value_name);
  if (left.size() < 32)
    left.resize(32, ' ');
  else
    left += "\n" + std::string(32, ' ');
  return StrCat(left, f.help, "\n");
}

std::string CommandHelp(const CommandSpec& spec) {
  std::string out = StrCat("usage: neon_local ", spec.path, " [OPTIONS]\n\n", spec.summary, "\n");
  if (!spec.details.empty()) out += StrCat("\n", spec.details, "\n");
  out += "\noptions:\n";
  for (const FlagSpec& f : spec.flags) out += FlagLine(f);
  for (const FlagSpec& f : GlobalFlags()) out += FlagLine(f);
  return out;
}

// The list of commands whose path starts with `prefix` (all when empty).
std::string CommandList(const std::vector<CommandSpec>& commands, const std::string& prefix) {
  std::string out =
      "usage: neon_local COMMAND [OPTIONS]   (neon_local COMMAND --help for its options)\n\n"
      "Runs a neonstore cluster on this machine: a storage broker, a pageserver and three\n"
      "safekeepers, with their state, logs and pid files in the repository directory.\n\n"
      "commands:\n";
  for (const CommandSpec& c : commands) {
    if (!prefix.empty() && c.path.rfind(prefix + " ", 0) != 0) continue;
    std::string left = "  " + c.path;
    if (left.size() < 24)
      left.resize(24, ' ');
    else
      left += "  ";
    out += StrCat(left, c.summary, "\n");
  }
  return out;
}

std::string DefaultRepoDir(const std::optional<std::string>& flag) {
  std::string dir;
  if (flag) {
    dir = *flag;
  } else if (const char* env = std::getenv("NEON_REPO_DIR"); env != nullptr && *env != '\0') {
    dir = env;
  } else {
    dir = ".neon";
  }
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(dir, ec);
  return ec ? dir : abs.lexically_normal().string();
}

}  // namespace

std::optional<std::string> Invocation::Get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::string Invocation::GetOr(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

absl::Status UsageError(const std::string& message) {
  absl::Status s = absl::InvalidArgumentError(message);
  s.SetPayload(kUsagePayload, absl::Cord("1"));
  return s;
}

bool IsUsageError(const absl::Status& status) {
  return status.GetPayload(kUsagePayload).has_value();
}

namespace {

// Parses the flags in argv[first..] for `spec`. Words that are not flags are errors.
absl::Status ParseFlags(const CommandSpec& spec, const std::vector<std::string>& args,
                        std::map<std::string, std::string>* values) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("--", 0) != 0 || a.size() == 2) {
      return UsageError(StrCat("unexpected argument '", a, "'"));
    }
    std::string name = a.substr(2);
    std::optional<std::string> value;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    }
    const FlagSpec* f = FindFlag(spec, name);
    if (f == nullptr) return UsageError(StrCat("unknown option --", name));
    if (f->value_name.empty()) {
      if (value && *value != "true" && *value != "false") {
        return UsageError(StrCat("--", name, " takes no value"));
      }
      if (!value || *value == "true") (*values)[name] = "true";
      continue;
    }
    if (!value) {
      if (i + 1 >= args.size()) {
        return UsageError(StrCat("--", name, " needs a value (", f->value_name, ")"));
      }
      value = args[++i];
    }
    if (values->count(name) > 0) return UsageError(StrCat("--", name, " given twice"));
    (*values)[name] = *value;
  }
  return absl::OkStatus();
}

}  // namespace

int RunCli(const std::vector<CommandSpec>& commands, int argc, char** argv) {
  // --repo-dir may come anywhere; command words come first, everything from the first
  // other "-" token on is flags.
  std::vector<std::string> words;
  std::vector<std::string> rest;
  std::optional<std::string> repo_flag;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--repo-dir" && i + 1 < argc) {
      repo_flag = argv[++i];
    } else if (a.rfind("--repo-dir=", 0) == 0) {
      repo_flag = a.substr(11);
    } else if (rest.empty() && a.rfind("-", 0) != 0) {
      words.push_back(a);
    } else {
      rest.push_back(a);
    }
  }
  // The longest command path that the words start with.
  const CommandSpec* spec = nullptr;
  size_t used = 0;
  for (const CommandSpec& c : commands) {
    std::vector<std::string> parts;
    size_t start = 0;
    while (start <= c.path.size()) {
      size_t sp = c.path.find(' ', start);
      if (sp == std::string::npos) sp = c.path.size();
      parts.push_back(c.path.substr(start, sp - start));
      start = sp + 1;
    }
    if (parts.size() > words.size() || parts.size() <= used) continue;
    bool match = true;
    for (size_t i = 0; i < parts.size(); ++i) match &= parts[i] == words[i];
    if (match) {
      spec = &c;
      used = parts.size();
    }
  }
  const bool wants_help = [&] {
    for (const std::string& a : rest) {
      if (a == "--help" || a == "-h") return true;
    }
    return false;
  }();
  if (spec == nullptr) {
    // A known first word ("timeline frob") lists that group's commands only.
    std::string prefix;
    for (const CommandSpec& c : commands) {
      if (!words.empty() && c.path.rfind(words[0] + " ", 0) == 0) prefix = words[0];
    }
    const std::string list = CommandList(commands, prefix);
    const bool group_only = words.size() == 1 && !prefix.empty();
    if ((words.empty() || group_only) && wants_help) {
      std::fputs(list.c_str(), stdout);
      return 0;
    }
    if (words.empty() || group_only) {
      std::fprintf(
          stderr, "%sneon_local: error: %s\n", list.c_str(),
          group_only ? ("'" + prefix + "' needs a subcommand").c_str() : "no command given");
    } else {
      std::string given = words[0];
      if (!prefix.empty() && words.size() > 1) given += " " + words[1];
      std::fprintf(stderr, "%sneon_local: error: unknown command '%s'\n", list.c_str(),
                   given.c_str());
    }
    return kExitUsage;
  }
  if (wants_help) {
    std::fputs(CommandHelp(*spec).c_str(), stdout);
    return 0;
  }
  std::vector<std::string> flag_args(words.begin() + static_cast<long>(used), words.end());
  flag_args.insert(flag_args.end(), rest.begin(), rest.end());
  std::map<std::string, std::string> values;
  absl::Status s = ParseFlags(*spec, flag_args, &values);
  if (s.ok()) {
    Invocation inv(spec, values, DefaultRepoDir(repo_flag));
    s = spec->run(inv);
    if (s.ok()) return 0;
  }
  if (IsUsageError(s)) {
    std::fprintf(stderr, "neon_local %s: error: %s\n(see neon_local %s --help)\n",
                 spec->path.c_str(), std::string(s.message()).c_str(), spec->path.c_str());
    return kExitUsage;
  }
  std::fprintf(stderr, "neon_local %s: error: %s\n", spec->path.c_str(),
               std::string(s.message()).c_str());
  return kExitFailed;
}

}  // namespace neon::neon_local
