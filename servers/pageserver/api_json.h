// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// JSON forms of the pageserver's management API (Neon's field names): ids and LSNs from
// request text, TenantConfig overrides from a request body, TimelineInfo and TenantInfo
// bodies. Parse errors are InvalidArgument with a message naming the field; the HTTP layer
// turns them into 400 {"msg": ...}.
//
// Thread safety: free functions without shared state.

#ifndef NEON_SERVERS_PAGESERVER_API_JSON_H_
#define NEON_SERVERS_PAGESERVER_API_JSON_H_

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/json_fields.h"
#include "neon/engine.h"
#include "neon/options.h"
#include "neon/types.h"
#include "nlohmann/json.hpp"

namespace neon::pageserver {

// The request-body helpers every server shares (common/json_fields.h).
using server::OptString;
using server::OptUint;
using server::ParseBody;

// "<32 hex>" or "<32 hex>-NNCC", with the field name in the error.
absl::StatusOr<TenantShardId> ParseTenantShardIdField(std::string_view text,
                                                      std::string_view field);
absl::StatusOr<TimelineId> ParseTimelineIdField(std::string_view text, std::string_view field);
// "X/Y" hex.
absl::StatusOr<Lsn> ParseLsnField(std::string_view text, std::string_view field);

// Durations in humantime form ("20s", "10m", "1h 30m", "7days", "300ms") -> microseconds.
absl::StatusOr<int64_t> ParseDurationUs(std::string_view text);

// Applies the TenantConfig members of `obj` (Neon's names: checkpoint_distance,
// checkpoint_timeout, compaction_target_size, compaction_period, compaction_threshold,
// compaction_upper_limit, image_creation_threshold, gc_horizon, gc_period, pitr_interval,
// l0_flush_delay_threshold, l0_flush_stall_threshold, lsn_lease_length) to `config`. Members
// named in `ignore` are skipped; any other member is InvalidArgument (unknown field), as is a
// value of the wrong type or range. A null leaves the field as it is.
absl::Status ApplyTenantConfig(const nlohmann::json& obj,
                               std::initializer_list<std::string_view> ignore,
                               TenantConfig* config);
nlohmann::json TenantConfigJson(const TenantConfig& config);

// Neon's TimelineInfo. `logical_size` is the sum of relation sizes, when known.
nlohmann::json TimelineInfoJson(const TimelineInfo& info, std::optional<uint64_t> logical_size);

}  // namespace neon::pageserver

#endif  // NEON_SERVERS_PAGESERVER_API_JSON_H_
