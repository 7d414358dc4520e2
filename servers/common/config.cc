// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "common/config.h"

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "base/status_macros.h"
#include "base/str_cat.h"
#include "common/log.h"
#include "toml.hpp"

namespace neon::server {
namespace {

std::string Normalize(std::string key) {
  for (char& c : key) {
    if (c == '_') c = '-';
  }
  return key;
}

const char* TypeName(int type) {
  static const char* kNames[] = {"string", "integer", "boolean"};
  return kNames[type];
}

}  // namespace

OptionSet::OptionSet(std::string program, std::string summary)
    : program_(std::move(program)), summary_(std::move(summary)) {}

void OptionSet::AddString(const std::string& name, const std::string& default_value,
                          const std::string& help) {
  Option o{Type::kString, help, default_value.empty() ? "\"\"" : default_value};
  o.string_value = default_value;
  options_[name] = std::move(o);
  order_.push_back(name);
}

void OptionSet::AddInt(const std::string& name, int64_t default_value, const std::string& help) {
  Option o{Type::kInt, help, std::to_string(default_value)};
  o.int_value = default_value;
  options_[name] = std::move(o);
  order_.push_back(name);
}

void OptionSet::AddBool(const std::string& name, bool default_value, const std::string& help) {
  Option o{Type::kBool, help, default_value ? "true" : "false"};
  o.bool_value = default_value;
  options_[name] = std::move(o);
  order_.push_back(name);
}

OptionSet::Option* OptionSet::Find(const std::string& name) {
  auto it = options_.find(name);
  return it == options_.end() ? nullptr : &it->second;
}

const OptionSet::Option& OptionSet::Get(const std::string& name, Type type) const {
  auto it = options_.find(name);
  if (it == options_.end() || it->second.type != type) {
    LogError("option_misuse", {{"name", name}});
    std::abort();
  }
  return it->second;
}

const std::string& OptionSet::GetString(const std::string& name) const {
  return Get(name, Type::kString).string_value;
}
int64_t OptionSet::GetInt(const std::string& name) const { return Get(name, Type::kInt).int_value; }
bool OptionSet::GetBool(const std::string& name) const { return Get(name, Type::kBool).bool_value; }

absl::Status OptionSet::SetFromText(const std::string& name, Option* opt, const std::string& text) {
  switch (opt->type) {
    case Type::kString:
      opt->string_value = text;
      return absl::OkStatus();
    case Type::kInt: {
      int64_t v = 0;
      auto r = std::from_chars(text.data(), text.data() + text.size(), v);
      if (r.ec != std::errc() || r.ptr != text.data() + text.size()) {
        return absl::InvalidArgumentError(StrCat("--", name, ": '", text, "' is not an integer"));
      }
      opt->int_value = v;
      return absl::OkStatus();
    }
    case Type::kBool:
      if (text == "true" || text == "1") {
        opt->bool_value = true;
      } else if (text == "false" || text == "0") {
        opt->bool_value = false;
      } else {
        return absl::InvalidArgumentError(
            StrCat("--", name, ": '", text, "' is not true or false"));
      }
      return absl::OkStatus();
  }
  return absl::OkStatus();
}

absl::StatusOr<OptionSet::Outcome> OptionSet::Parse(int argc, const char* const* argv) {
  std::vector<std::pair<std::string, std::string>> overrides;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") return Outcome::kHelp;
    if (arg.size() < 3 || arg.substr(0, 2) != "--") {
      return absl::InvalidArgumentError(StrCat("unexpected argument '", arg, "' (see --help)"));
    }
    std::string name = arg.substr(2);
    std::string value;
    bool has_value = false;
    if (const size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    if (name == "config") {
      if (!has_value) {
        if (i + 1 >= argc) return absl::InvalidArgumentError("--config needs a file name");
        value = argv[++i];
      }
      config_file_ = value;
      continue;
    }
    Option* opt = Find(name);
    if (opt == nullptr) {
      return absl::InvalidArgumentError(StrCat("unknown option '--", name, "' (see --help)"));
    }
    if (!has_value) {
      if (opt->type == Type::kBool) {
        value = "true";
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        return absl::InvalidArgumentError(StrCat("--", name, " needs a value"));
      }
    }
    overrides.emplace_back(name, value);
  }
  if (!config_file_.empty()) NEON_RETURN_IF_ERROR(LoadFile(config_file_));
  for (const auto& [name, value] : overrides) {
    NEON_RETURN_IF_ERROR(SetFromText(name, Find(name), value));
  }
  return Outcome::kRun;
}

absl::Status OptionSet::LoadFile(const std::string& path) {
  toml::value root;
  try {
    root = toml::parse(path);
  } catch (const toml::syntax_error& e) {
    return absl::InvalidArgumentError(StrCat("config file '", path, "': ", e.what()));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(StrCat("config file '", path, "': ", e.what()));
  }
  if (!root.is_table())
    return absl::InvalidArgumentError(StrCat("config file '", path, "' is not a table"));
  for (const auto& [key, v] : root.as_table()) {
    const std::string name = Normalize(key);
    Option* opt = Find(name);
    if (opt == nullptr) {
      return absl::InvalidArgumentError(
          StrCat("config file '", path, "': unknown key '", key, "'"));
    }
    const bool type_ok = (opt->type == Type::kString && v.is_string()) ||
                         (opt->type == Type::kInt && v.is_integer()) ||
                         (opt->type == Type::kBool && v.is_boolean());
    if (!type_ok) {
      return absl::InvalidArgumentError(StrCat("config file '", path, "': key '", key,
                                               "' must be a ",
                                               TypeName(static_cast<int>(opt->type))));
    }
    if (v.is_string()) opt->string_value = v.as_string().str;
    if (v.is_integer()) opt->int_value = v.as_integer();
    if (v.is_boolean()) opt->bool_value = v.as_boolean();
  }
  return absl::OkStatus();
}

std::string OptionSet::Help() const {
  std::string out =
      StrCat("usage: ", program_, " [--config FILE] [--OPTION=VALUE ...]\n\n", summary_,
             "\n\noptions (also settable as `option_name = value` in the TOML config "
             "file; the command line wins):\n");
  auto line = [&out](const std::string& flag, const std::string& help) {
    out += "  " + flag;
    out += flag.size() < 30 ? std::string(30 - flag.size(), ' ')
                            : std::string("\n") + std::string(32, ' ');
    out += help + "\n";
  };
  line("--config FILE", "TOML configuration file");
  line("--help", "print this help and exit");
  for (const std::string& name : order_) {
    const Option& o = options_.at(name);
    line(StrCat("--", name,
                o.type == Type::kBool ? "[=BOOL]" : (o.type == Type::kInt ? " INT" : " STRING")),
         StrCat(o.help, " (default: ", o.default_text, ")"));
  }
  return out;
}

std::optional<int> OptionSet::ParseForMain(int argc, const char* const* argv) {
  absl::StatusOr<Outcome> parsed = Parse(argc, argv);
  if (!parsed.ok()) {
    std::fprintf(stderr, "%s: %s\n", program_.c_str(), std::string(parsed.status().message()).c_str());
    return 2;
  }
  if (*parsed == Outcome::kHelp) {
    std::fputs(Help().c_str(), stdout);
    return 0;
  }
  LogLevel level;
  if (!ParseLogLevel(GetString("log-level"), &level)) {
    std::fprintf(stderr, "%s: --log-level must be debug, info, warn or error\n", program_.c_str());
    return 2;
  }
  SetMinLogLevel(level);
  return std::nullopt;
}

}  // namespace neon::server
