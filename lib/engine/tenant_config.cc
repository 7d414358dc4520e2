// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// TenantConfig's persistent text form: "name=value" lines. Unknown names are
// rejected so a typo never silently falls back to a default.

#include <charconv>

#include "absl/strings/str_split.h"
#include "base/str_cat.h"
#include "neon/options.h"

namespace neon {
namespace {

template <typename T>
bool ParseNumber(std::string_view s, T* out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

}  // namespace

std::string TenantConfig::Serialize() const {
  std::string out;
  auto line = [&](std::string_view k, auto v) { out += StrCat(k, "=", v, "\n"); };
  line("checkpoint_distance", checkpoint_distance);
  line("checkpoint_timeout_us", checkpoint_timeout_us);
  line("compaction_target_size", compaction_target_size);
  line("compaction_period_us", compaction_period_us);
  line("compaction_threshold", compaction_threshold);
  line("compaction_upper_limit", compaction_upper_limit);
  line("image_creation_threshold", image_creation_threshold);
  line("gc_horizon", gc_horizon);
  line("gc_period_us", gc_period_us);
  line("pitr_interval_us", pitr_interval_us);
  if (l0_flush_delay_threshold) line("l0_flush_delay_threshold", *l0_flush_delay_threshold);
  if (l0_flush_stall_threshold) line("l0_flush_stall_threshold", *l0_flush_stall_threshold);
  line("lsn_lease_length_us", lsn_lease_length_us);
  if (heatmap_period_us != 0) line("heatmap_period_us", heatmap_period_us);
  return out;
}

absl::StatusOr<TenantConfig> TenantConfig::Parse(std::string_view text) {
  TenantConfig c;
  for (absl::string_view raw : absl::StrSplit(absl::string_view(text.data(), text.size()), '\n')) {
    std::string_view l(raw.data(), raw.size());
    if (l.empty()) continue;
    size_t eq = l.find('=');
    if (eq == std::string_view::npos) {
      return absl::InvalidArgumentError(StrCat("tenant config line \"", l, "\" lacks '='"));
    }
    std::string_view k = l.substr(0, eq), v = l.substr(eq + 1);
    bool ok = false;
    uint32_t u32 = 0;
    if (k == "checkpoint_distance") ok = ParseNumber(v, &c.checkpoint_distance);
    else if (k == "checkpoint_timeout_us") ok = ParseNumber(v, &c.checkpoint_timeout_us);
    else if (k == "compaction_target_size") ok = ParseNumber(v, &c.compaction_target_size);
    else if (k == "compaction_period_us") ok = ParseNumber(v, &c.compaction_period_us);
    else if (k == "compaction_threshold") ok = ParseNumber(v, &c.compaction_threshold);
    else if (k == "compaction_upper_limit") ok = ParseNumber(v, &c.compaction_upper_limit);
    else if (k == "image_creation_threshold") ok = ParseNumber(v, &c.image_creation_threshold);
    else if (k == "gc_horizon") ok = ParseNumber(v, &c.gc_horizon);
    else if (k == "gc_period_us") ok = ParseNumber(v, &c.gc_period_us);
    else if (k == "pitr_interval_us") ok = ParseNumber(v, &c.pitr_interval_us);
    else if (k == "lsn_lease_length_us") ok = ParseNumber(v, &c.lsn_lease_length_us);
    else if (k == "heatmap_period_us") ok = ParseNumber(v, &c.heatmap_period_us);
    else if (k == "l0_flush_delay_threshold") {
      ok = ParseNumber(v, &u32);
      c.l0_flush_delay_threshold = u32;
    } else if (k == "l0_flush_stall_threshold") {
      ok = ParseNumber(v, &u32);
      c.l0_flush_stall_threshold = u32;
    } else {
      return absl::InvalidArgumentError(StrCat("unknown tenant config setting \"", k, "\""));
    }
    if (!ok) return absl::InvalidArgumentError(StrCat("tenant config ", k, ": bad number \"", v, "\""));
  }
  if (c.compaction_threshold == 0 || c.checkpoint_distance == 0 || c.compaction_target_size == 0) {
    return absl::InvalidArgumentError("checkpoint_distance, compaction_threshold and compaction_target_size must be > 0");
  }
  return c;
}

}  // namespace neon
