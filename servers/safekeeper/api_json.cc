// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "safekeeper/api_json.h"

#include <cctype>

#include "base/status_macros.h"
#include "base/str_cat.h"

namespace neon::safekeeper {
namespace {

using nlohmann::json;
using server::FieldError;
using consensus::MembershipConfig;
using consensus::SafekeeperId;

json LsnJson(Lsn lsn) { return lsn.ToString(); }

absl::StatusOr<std::vector<SafekeeperId>> ParseMembers(const json& j, std::string_view field) {
  if (!j.is_array()) return FieldError(field, "must be an array");
  if (j.size() > consensus::kMaxMembers) {
    return FieldError(field, StrCat("at most ", consensus::kMaxMembers, " members"));
  }
  std::vector<SafekeeperId> out;
  for (const json& m : j) {
    if (!m.is_object()) return FieldError(field, "members must be objects");
    NEON_RETURN_IF_ERROR(CheckKnownFields(m, {"id", "host", "pg_port"}));
    NEON_ASSIGN_OR_RETURN(std::optional<uint64_t> id, OptUint(m, "id", UINT64_MAX));
    NEON_ASSIGN_OR_RETURN(std::optional<std::string> host, OptString(m, "host"));
    NEON_ASSIGN_OR_RETURN(std::optional<uint64_t> port, OptUint(m, "pg_port", 65535));
    if (!id) return FieldError(field, "a member has no id");
    if (host && host->size() > consensus::kMaxHostLength) {
      return FieldError(field, "a member's host is too long");
    }
    for (const SafekeeperId& prev : out) {
      if (prev.id.value() == *id) return FieldError(field, StrCat("member ", *id, " is listed twice"));
    }
    out.push_back({consensus::NodeId(*id), host.value_or(""), uint16_t(port.value_or(0))});
  }
  return out;
}

json MembersJson(const std::vector<SafekeeperId>& members) {
  json out = json::array();
  for (const SafekeeperId& m : members) {
    out.push_back({{"id", m.id.value()}, {"host", m.host}, {"pg_port", m.pg_port}});
  }
  return out;
}

json FeedbackJson(const consensus::PageserverFeedback& f) {
  return {{"current_timeline_size", f.current_timeline_size},
          {"last_received_lsn", LsnJson(f.last_received_lsn)},
          {"disk_consistent_lsn", LsnJson(f.disk_consistent_lsn)},
          {"remote_consistent_lsn", LsnJson(f.remote_consistent_lsn)},
          {"replytime_us", f.replytime_us},
          {"shard_number", f.shard_number}};
}

}  // namespace

absl::Status CheckKnownFields(const json& obj, std::initializer_list<std::string_view> known) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    bool ok = false;
    for (std::string_view k : known) ok = ok || it.key() == k;
    if (!ok) return FieldError(it.key(), "unknown field");
  }
  return absl::OkStatus();
}

absl::StatusOr<TenantId> ParseTenantIdField(std::string_view text, std::string_view field) {
  absl::StatusOr<TenantId> id = TenantId::Parse(text);
  if (!id.ok()) return FieldError(field, "expected 32 hex characters");
  return id;
}

absl::StatusOr<TimelineId> ParseTimelineIdField(std::string_view text, std::string_view field) {
  absl::StatusOr<TimelineId> id = TimelineId::Parse(text);
  if (!id.ok()) return FieldError(field, "expected 32 hex characters");
  return id;
}

absl::StatusOr<std::optional<Lsn>> OptLsn(const json& obj, const std::string& name) {
  NEON_ASSIGN_OR_RETURN(std::optional<std::string> text, OptString(obj, name));
  if (!text) return std::optional<Lsn>();
  absl::StatusOr<Lsn> lsn = Lsn::Parse(*text);
  if (!lsn.ok()) return FieldError(name, "expected an LSN such as \"0/16B3748\"");
  return std::optional<Lsn>(*lsn);
}

absl::StatusOr<MembershipConfig> ParseMembership(const json& j) {
  if (!j.is_object()) return FieldError("mconf", "must be an object");
  NEON_RETURN_IF_ERROR(CheckKnownFields(j, {"generation", "members", "new_members"}));
  NEON_ASSIGN_OR_RETURN(std::optional<uint64_t> gen, OptUint(j, "generation", UINT32_MAX));
  MembershipConfig m;
  if (gen && *gen != 0) m.generation = Generation::Of(uint32_t(*gen));
  if (auto it = j.find("members"); it != j.end() && !it->is_null()) {
    NEON_ASSIGN_OR_RETURN(m.members, ParseMembers(*it, "mconf.members"));
  }
  if (auto it = j.find("new_members"); it != j.end() && !it->is_null()) {
    NEON_ASSIGN_OR_RETURN(m.new_members, ParseMembers(*it, "mconf.new_members"));
  }
  if (!m.generation.is_none() && m.members.empty()) {
    return FieldError("mconf", "a configuration with a generation needs members");
  }
  return m;
}

json MembershipJson(const MembershipConfig& m) {
  return {{"generation", m.generation.is_none() ? 0 : m.generation.value()},
          {"members", MembersJson(m.members)},
          {"new_members", m.IsJoint() ? MembersJson(m.new_members) : json(nullptr)}};
}

absl::StatusOr<consensus::PersistentState> ParseCreateRequest(const json& body) {
  NEON_RETURN_IF_ERROR(CheckKnownFields(
      body, {"tenant_id", "timeline_id", "mconf", "peer_ids", "pg_version", "system_id",
             "wal_seg_size", "start_lsn", "commit_lsn", "local_start_lsn"}));
  NEON_ASSIGN_OR_RETURN(std::optional<std::string> tenant_text, OptString(body, "tenant_id"));
  NEON_ASSIGN_OR_RETURN(std::optional<std::string> timeline_text, OptString(body, "timeline_id"));
  if (!tenant_text) return FieldError("tenant_id", "missing");
  if (!timeline_text) return FieldError("timeline_id", "missing");
  NEON_ASSIGN_OR_RETURN(TenantId tenant, ParseTenantIdField(*tenant_text, "tenant_id"));
  NEON_ASSIGN_OR_RETURN(TimelineId timeline, ParseTimelineIdField(*timeline_text, "timeline_id"));

  NEON_ASSIGN_OR_RETURN(std::optional<uint64_t> pg_version, OptUint(body, "pg_version", UINT32_MAX));
  if (!pg_version || *pg_version == 0) return FieldError("pg_version", "missing");
  consensus::ServerInfo server;
  server.pg_version = uint32_t(*pg_version < 10000 ? *pg_version * 10000 : *pg_version);
  NEON_ASSIGN_OR_RETURN(std::optional<uint64_t> system_id, OptUint(body, "system_id", UINT64_MAX));
  server.system_id = system_id.value_or(0);
  NEON_ASSIGN_OR_RETURN(std::optional<uint64_t> seg, OptUint(body, "wal_seg_size", 1ull << 30));
  server.wal_seg_size = uint32_t(seg.value_or(consensus::kDefaultWalSegmentSize));
  if (server.wal_seg_size < (1u << 20) || (server.wal_seg_size & (server.wal_seg_size - 1)) != 0) {
    return FieldError("wal_seg_size", "must be a power of two from 1 MiB to 1 GiB");
  }

  NEON_ASSIGN_OR_RETURN(std::optional<Lsn> start, OptLsn(body, "start_lsn"));
  NEON_ASSIGN_OR_RETURN(std::optional<Lsn> commit, OptLsn(body, "commit_lsn"));
  NEON_ASSIGN_OR_RETURN(std::optional<Lsn> local_start, OptLsn(body, "local_start_lsn"));
  if (!start) start = commit;
  if (!start || !start->valid()) return FieldError("start_lsn", "missing or 0/0");
  if (commit && *commit != *start) {
    return FieldError("commit_lsn", "a new timeline has no WAL: it must equal start_lsn");
  }
  if (local_start && *local_start != *start) {
    return FieldError("local_start_lsn", "must equal start_lsn");
  }

  MembershipConfig mconf;
  const bool has_mconf = body.contains("mconf") && !body["mconf"].is_null();
  const bool has_peers = body.contains("peer_ids") && !body["peer_ids"].is_null();
  if (has_mconf && has_peers) return FieldError("peer_ids", "give either mconf or peer_ids");
  if (has_mconf) {
    NEON_ASSIGN_OR_RETURN(mconf, ParseMembership(body["mconf"]));
  } else if (has_peers) {
    const json& ids = body["peer_ids"];
    if (!ids.is_array() || ids.size() > consensus::kMaxMembers) {
      return FieldError("peer_ids", StrCat("must be an array of at most ", consensus::kMaxMembers,
                                           " node ids"));
    }
    json members = json::array();
    for (const json& id : ids) {
      if (!id.is_number_integer() || (!id.is_number_unsigned() && id.get<int64_t>() < 0)) {
        return FieldError("peer_ids", "node ids are non-negative integers");
      }
      members.push_back({{"id", id}});
    }
    NEON_ASSIGN_OR_RETURN(mconf.members, ParseMembers(members, "peer_ids"));
  }
  return consensus::PersistentState::NewTimeline(tenant, timeline, std::move(mconf), server,
                                                 *start);
}

json TimelineStatusJson(const TimelineStatus& s) {
  const consensus::PersistentState& st = s.state;
  json history = json::array();
  for (const consensus::TermSwitch& e : st.history.entries()) {
    history.push_back({{"term", e.term.value()}, {"lsn", LsnJson(e.lsn)}});
  }
  json peers = json::array();
  for (const PeerInfo& p : s.peers) {
    peers.push_back({{"sk_id", p.sk_id},
                     {"term", p.term.value()},
                     {"last_log_term", p.last_log_term.value()},
                     {"flush_lsn", LsnJson(p.flush_lsn)},
                     {"commit_lsn", LsnJson(p.commit_lsn)},
                     {"backup_lsn", LsnJson(p.backup_lsn)},
                     {"remote_consistent_lsn", LsnJson(p.remote_consistent_lsn)},
                     {"local_start_lsn", LsnJson(p.local_start_lsn)},
                     {"pg_connstr", p.pg_connstr},
                     {"http_connstr", p.http_connstr},
                     {"https_connstr", nullptr},
                     {"availability_zone", p.availability_zone ? json(*p.availability_zone)
                                                               : json(nullptr)}});
  }
  json senders = json::array();
  for (const ReaderInfo& r : s.readers) {
    senders.push_back({{"conn_id", r.id},
                       {"reader_node_id", r.reader_node_id},
                       {"shard_number", r.shard_number},
                       {"shard_count", r.shard_count},
                       {"include_uncommitted", r.include_uncommitted},
                       {"start_lsn", LsnJson(r.start_lsn)},
                       {"sent_lsn", LsnJson(r.sent_lsn)},
                       {"feedback", r.feedback ? FeedbackJson(*r.feedback) : json(nullptr)}});
  }
  const consensus::PersistentState& p = s.persisted;
  return {
      {"tenant_id", st.tenant_id.ToString()},
      {"timeline_id", st.timeline_id.ToString()},
      {"mconf", MembershipJson(st.mconf)},
      {"acceptor_state",
       {{"term", st.term.value()},
        {"epoch", s.pos.last_log_term.value()},
        {"term_history", history}}},
      {"pg_info",
       {{"pg_version", st.server.pg_version},
        {"system_id", st.server.system_id},
        {"wal_seg_size", st.server.wal_seg_size}}},
      {"term", st.term.value()},
      {"last_log_term", s.pos.last_log_term.value()},
      {"flush_lsn", LsnJson(s.pos.flush_lsn)},
      {"timeline_start_lsn", LsnJson(st.timeline_start_lsn)},
      {"local_start_lsn", LsnJson(st.local_start_lsn)},
      {"wal_start_lsn", LsnJson(s.pos.wal_start_lsn)},
      {"commit_lsn", LsnJson(st.commit_lsn)},
      {"backup_lsn", LsnJson(st.backup_lsn)},
      {"peer_horizon_lsn", LsnJson(st.peer_horizon_lsn)},
      {"remote_consistent_lsn", LsnJson(st.remote_consistent_lsn)},
      {"persisted",
       {{"term", p.term.value()},
        {"commit_lsn", LsnJson(p.commit_lsn)},
        {"backup_lsn", LsnJson(p.backup_lsn)},
        {"peer_horizon_lsn", LsnJson(p.peer_horizon_lsn)},
        {"remote_consistent_lsn", LsnJson(p.remote_consistent_lsn)}}},
      {"peers", peers},
      {"walsenders", senders},
      {"proposer_connections", s.proposers},
      {"error", s.error.ok() ? json(nullptr) : json(std::string(s.error.message()))},
  };
}

}  // namespace neon::safekeeper
