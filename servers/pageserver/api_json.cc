// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "pageserver/api_json.h"

#include <cctype>
#include <cstdint>
#include <limits>
#include <string>

#include "base/str_cat.h"

namespace neon::pageserver {
namespace {

using nlohmann::json;
using server::FieldError;

// A field of TenantConfig: its JSON name and how to set it.
enum class Kind { kBytes, kCount, kDuration, kOptCount };
struct ConfigField {
  const char* name;
  Kind kind;
  uint64_t TenantConfig::*u64 = nullptr;
  uint32_t TenantConfig::*u32 = nullptr;
  int64_t TenantConfig::*us = nullptr;
  std::optional<uint32_t> TenantConfig::*opt = nullptr;
};

const ConfigField kConfigFields[] = {
    {"checkpoint_distance", Kind::kBytes, &TenantConfig::checkpoint_distance},
    {"checkpoint_timeout", Kind::kDuration, nullptr, nullptr, &TenantConfig::checkpoint_timeout_us},
    {"compaction_target_size", Kind::kBytes, &TenantConfig::compaction_target_size},
    {"compaction_period", Kind::kDuration, nullptr, nullptr, &TenantConfig::compaction_period_us},
    {"compaction_threshold", Kind::kCount, nullptr, &TenantConfig::compaction_threshold},
    {"compaction_upper_limit", Kind::kCount, nullptr, &TenantConfig::compaction_upper_limit},
    {"image_creation_threshold", Kind::kCount, nullptr, &TenantConfig::image_creation_threshold},
    {"gc_horizon", Kind::kBytes, &TenantConfig::gc_horizon},
    {"gc_period", Kind::kDuration, nullptr, nullptr, &TenantConfig::gc_period_us},
    {"pitr_interval", Kind::kDuration, nullptr, nullptr, &TenantConfig::pitr_interval_us},
    {"l0_flush_delay_threshold", Kind::kOptCount, nullptr, nullptr, nullptr,
     &TenantConfig::l0_flush_delay_threshold},
    {"l0_flush_stall_threshold", Kind::kOptCount, nullptr, nullptr, nullptr,
     &TenantConfig::l0_flush_stall_threshold},
    {"lsn_lease_length", Kind::kDuration, nullptr, nullptr, &TenantConfig::lsn_lease_length_us},
    {"heatmap_period", Kind::kDuration, nullptr, nullptr, &TenantConfig::heatmap_period_us},
};

std::string FormatDuration(int64_t us) {
  if (us % kMicrosPerSecond != 0) return StrCat(us / 1000, "ms");
  return StrCat(us / kMicrosPerSecond, "s");
}

absl::Status ApplyField(const ConfigField& f, const json& v, TenantConfig* config) {
  if (f.kind == Kind::kDuration) {
    if (!v.is_string()) return FieldError(f.name, "must be a duration string such as \"10m\"");
    absl::StatusOr<int64_t> us = ParseDurationUs(v.get<std::string>());
    if (!us.ok()) return FieldError(f.name, std::string(us.status().message()));
    config->*f.us = *us;
    return absl::OkStatus();
  }
  if (!v.is_number_unsigned()) return FieldError(f.name, "must be a non-negative integer");
  const uint64_t n = v.get<uint64_t>();
  if (f.kind == Kind::kBytes) {
    if (n == 0) return FieldError(f.name, "must be positive");
    config->*f.u64 = n;
    return absl::OkStatus();
  }
  if (n == 0 || n > std::numeric_limits<uint32_t>::max()) {
    return FieldError(f.name, "must be between 1 and 4294967295");
  }
  if (f.kind == Kind::kCount) {
    config->*f.u32 = static_cast<uint32_t>(n);
  } else {
    config->*f.opt = static_cast<uint32_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TenantShardId> ParseTenantShardIdField(std::string_view text,
                                                      std::string_view field) {
  absl::StatusOr<TenantShardId> id = TenantShardId::Parse(text);
  if (!id.ok()) {
    return FieldError(field, StrCat("bad tenant (shard) id '", text,
                                    "': expected 32 hex characters, optionally -NNCC"));
  }
  return id;
}

absl::StatusOr<TimelineId> ParseTimelineIdField(std::string_view text, std::string_view field) {
  absl::StatusOr<TimelineId> id = TimelineId::Parse(text);
  if (!id.ok()) {
    return FieldError(field, StrCat("bad timeline id '", text, "': expected 32 hex characters"));
  }
  return id;
}

absl::StatusOr<Lsn> ParseLsnField(std::string_view text, std::string_view field) {
  absl::StatusOr<Lsn> lsn = Lsn::Parse(text);
  if (!lsn.ok()) return FieldError(field, StrCat("bad LSN '", text, "': expected X/Y in hex"));
  return lsn;
}

absl::StatusOr<int64_t> ParseDurationUs(std::string_view text) {
  int64_t total = 0;
  size_t i = 0;
  bool any = false;
  constexpr int64_t kMaxUs = int64_t{1} << 60;
  while (i < text.size()) {
    if (text[i] == ' ') {
      ++i;
      continue;
    }
    uint64_t n = 0;
    size_t digits = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) && digits < 15) {
      n = n * 10 + static_cast<uint64_t>(text[i++] - '0');
      ++digits;
    }
    size_t unit_start = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    const std::string_view unit = text.substr(unit_start, i - unit_start);
    int64_t scale = 0;
    if (unit == "ms" || unit == "msec") scale = 1000;
    if (unit == "s" || unit == "sec" || unit == "secs" || unit == "second" || unit == "seconds") {
      scale = kMicrosPerSecond;
    }
    if (unit == "m" || unit == "min" || unit == "mins" || unit == "minute" || unit == "minutes") {
      scale = 60 * kMicrosPerSecond;
    }
    if (unit == "h" || unit == "hr" || unit == "hour" || unit == "hours") {
      scale = 3600 * kMicrosPerSecond;
    }
    if (unit == "d" || unit == "day" || unit == "days") scale = 86400 * kMicrosPerSecond;
    if (digits == 0 || scale == 0) {
      return absl::InvalidArgumentError(
          StrCat("bad duration '", text, "': expected e.g. \"300ms\", \"20s\", \"10m\", \"1h\""));
    }
    if (n > static_cast<uint64_t>(kMaxUs / scale)) {
      return absl::InvalidArgumentError(StrCat("duration '", text, "' is too long"));
    }
    total += static_cast<int64_t>(n) * scale;
    if (total > kMaxUs) return absl::InvalidArgumentError(StrCat("duration '", text, "' too long"));
    any = true;
  }
  if (!any) return absl::InvalidArgumentError("empty duration");
  return total;
}

absl::Status ApplyTenantConfig(const json& obj, std::initializer_list<std::string_view> ignore,
                               TenantConfig* config) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    bool skip = false;
    for (std::string_view name : ignore) skip = skip || it.key() == name;
    if (skip) continue;
    const ConfigField* field = nullptr;
    for (const ConfigField& f : kConfigFields) {
      if (it.key() == f.name) field = &f;
    }
    if (field == nullptr) return FieldError(it.key(), "unknown field");
    if (it.value().is_null()) continue;
    if (absl::Status s = ApplyField(*field, it.value(), config); !s.ok()) return s;
  }
  return absl::OkStatus();
}

json TenantConfigJson(const TenantConfig& c) {
  json j = json::object();
  for (const ConfigField& f : kConfigFields) {
    switch (f.kind) {
      case Kind::kBytes:
        j[f.name] = c.*f.u64;
        break;
      case Kind::kCount:
        j[f.name] = c.*f.u32;
        break;
      case Kind::kDuration:
        j[f.name] = FormatDuration(c.*f.us);
        break;
      case Kind::kOptCount:
        j[f.name] = (c.*f.opt).has_value() ? json(*(c.*f.opt)) : json(nullptr);
        break;
    }
  }
  return j;
}

json TimelineInfoJson(const TimelineInfo& info, std::optional<uint64_t> logical_size) {
  const bool has_ancestor = info.ancestor_timeline_id.has_value();
  const Lsn min_readable = std::max(info.applied_gc_cutoff_lsn, info.initdb_lsn);
  return json{
      {"tenant_id", info.tenant_id.ToString()},
      {"timeline_id", info.timeline_id.ToString()},
      {"ancestor_timeline_id",
       has_ancestor ? json(info.ancestor_timeline_id->ToString()) : json(nullptr)},
      {"ancestor_lsn", has_ancestor ? json(info.ancestor_lsn.ToString()) : json(nullptr)},
      {"last_record_lsn", info.last_record_lsn.ToString()},
      {"prev_record_lsn", info.prev_record_lsn.ToString()},
      {"applied_gc_cutoff_lsn", info.applied_gc_cutoff_lsn.ToString()},
      {"latest_gc_cutoff_lsn", info.applied_gc_cutoff_lsn.ToString()},
      {"min_readable_lsn", min_readable.ToString()},
      {"disk_consistent_lsn", info.disk_consistent_lsn.ToString()},
      {"remote_consistent_lsn", info.remote_consistent_lsn.ToString()},
      {"remote_consistent_lsn_visible", info.remote_consistent_lsn.ToString()},
      {"initdb_lsn", info.initdb_lsn.ToString()},
      {"current_logical_size", logical_size.value_or(0)},
      {"current_logical_size_is_accurate", logical_size.has_value()},
      {"current_physical_size", info.historic_layer_bytes},
      {"timeline_dir_layer_file_size_sum", info.resident_layer_bytes},
      {"directory_entries_counts", json::array()},
      {"pitr_history_size", 0},
      {"within_ancestor_pitr", false},
      {"pg_version", info.pg_version},
      {"state", "Active"},
      {"walreceiver_status", "disconnected"},
      {"num_l0_layers", info.num_l0_layers},
      {"num_historic_layers", info.num_historic_layers},
  };
}

}  // namespace neon::pageserver
