// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// JSON forms of the safekeeper's HTTP API (Neon's field names): the timeline creation
// request, membership configurations, and the timeline status. LSNs are "X/Y" strings, ids
// 32 hex characters. Parse errors are InvalidArgument naming the field; the HTTP layer turns
// them into 400 {"msg": ...}.
//
// Thread safety: free functions without shared state.

#ifndef NEON_SERVERS_SAFEKEEPER_API_JSON_H_
#define NEON_SERVERS_SAFEKEEPER_API_JSON_H_

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/json_fields.h"
#include "consensus/control_file.h"
#include "nlohmann/json.hpp"
#include "safekeeper/timeline.h"

namespace neon::safekeeper {

// The request-body helpers every server shares (common/json_fields.h).
using server::OptString;
using server::OptUint;
using server::ParseBody;

// InvalidArgument naming `field` unless every member of `obj` is in `known`.
absl::Status CheckKnownFields(const nlohmann::json& obj,
                              std::initializer_list<std::string_view> known);
absl::StatusOr<TenantId> ParseTenantIdField(std::string_view text, std::string_view field);
absl::StatusOr<TimelineId> ParseTimelineIdField(std::string_view text, std::string_view field);
// An optional "X/Y" member (null = absent); InvalidArgument when malformed.
absl::StatusOr<std::optional<Lsn>> OptLsn(const nlohmann::json& obj, const std::string& name);

// POST /v1/tenant/timeline:
//   {tenant_id, timeline_id, pg_version, start_lsn | commit_lsn, mconf? | peer_ids?,
//    system_id?, wal_seg_size? (16 MiB), commit_lsn?, local_start_lsn?}
// pg_version is Postgres's PG_VERSION_NUM (150004) or a major version (15). A new timeline
// has no WAL, so commit_lsn and local_start_lsn, when given, must equal start_lsn (Neon's
// older requests name the start commit_lsn). wal_seg_size is a power of two from 1 MiB to
// 1 GiB, as Postgres allows.
absl::StatusOr<consensus::PersistentState> ParseCreateRequest(const nlohmann::json& body);

// {"generation": N, "members": [{"id", "host", "pg_port"}], "new_members": null | [...]}
// (generation 0 = none).
absl::StatusOr<consensus::MembershipConfig> ParseMembership(const nlohmann::json& j);
nlohmann::json MembershipJson(const consensus::MembershipConfig& m);

// Neon's TimelineStatus, plus the top-level "term" and "last_log_term", "wal_start_lsn"
// (oldest WAL kept here), "proposer_connections", "persisted" (the control file's LSNs) and
// "error" (null unless the timeline failed).
nlohmann::json TimelineStatusJson(const TimelineStatus& s);

}  // namespace neon::safekeeper

#endif  // NEON_SERVERS_SAFEKEEPER_API_JSON_H_
