// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "remote/index_part.h"

#include <algorithm>

#include "base/status_macros.h"
#include "base/str_cat.h"
#include "remote/json.h"

namespace neon {
namespace {

absl::Status Bad(std::string_view what) {
  return absl::DataLossError(StrCat("invalid index_part.json: ", what));
}

// Re-codes a parse/accessor error as DataLoss (the object is damaged).
absl::Status AsDataLoss(const absl::Status& s) {
  if (s.ok() || absl::IsDataLoss(s)) return s;
  return Bad(std::string(s.message()));
}

void WriteLsn(JsonWriter& w, std::string_view key, Lsn lsn) { w.Key(key).String(lsn.ToString()); }

absl::StatusOr<const JsonValue*> Required(const JsonValue& obj, std::string_view key) {
  const JsonValue* v = obj.Find(key);
  if (v == nullptr) return Bad(StrCat("missing \"", key, "\""));
  return v;
}

absl::StatusOr<Lsn> ReadLsn(const JsonValue& obj, std::string_view key) {
  NEON_ASSIGN_OR_RETURN(const JsonValue* v, Required(obj, key));
  NEON_ASSIGN_OR_RETURN(std::string text, v->GetString(key));
  auto lsn = Lsn::Parse(text);
  if (!lsn.ok()) return Bad(StrCat("\"", key, "\": ", lsn.status().message()));
  return *lsn;
}

absl::StatusOr<uint32_t> ReadU32(const JsonValue& v, std::string_view what) {
  NEON_ASSIGN_OR_RETURN(uint64_t n, v.GetU64(what));
  if (n > UINT32_MAX) return Bad(StrCat(what, " out of range"));
  return static_cast<uint32_t>(n);
}

void WriteMetadata(JsonWriter& w, const IndexMetadata& m) {
  w.BeginObject();
  WriteLsn(w, "disk_consistent_lsn", m.disk_consistent_lsn);
  w.Key("prev_record_lsn");
  m.prev_record_lsn.valid() ? w.String(m.prev_record_lsn.ToString()) : w.Null();
  w.Key("ancestor_timeline");
  m.ancestor_timeline ? w.String(m.ancestor_timeline->ToString()) : w.Null();
  WriteLsn(w, "ancestor_lsn", m.ancestor_lsn);
  WriteLsn(w, "latest_gc_cutoff_lsn", m.latest_gc_cutoff_lsn);
  WriteLsn(w, "initdb_lsn", m.initdb_lsn);
  w.Key("pg_version").U64(m.pg_version);
  w.EndObject();
}

absl::StatusOr<IndexMetadata> ParseMetadata(const JsonValue& v) {
  if (!v.is_object()) return Bad("\"metadata\" is not an object");
  IndexMetadata m;
  NEON_ASSIGN_OR_RETURN(m.disk_consistent_lsn, ReadLsn(v, "disk_consistent_lsn"));
  if (const JsonValue* p = v.Find("prev_record_lsn"); p != nullptr && !p->is_null()) {
    NEON_ASSIGN_OR_RETURN(m.prev_record_lsn, ReadLsn(v, "prev_record_lsn"));
  }
  if (const JsonValue* a = v.Find("ancestor_timeline"); a != nullptr && !a->is_null()) {
    NEON_ASSIGN_OR_RETURN(std::string text, a->GetString("ancestor_timeline"));
    auto id = TimelineId::Parse(text);
    if (!id.ok()) return Bad(StrCat("\"ancestor_timeline\": ", id.status().message()));
    m.ancestor_timeline = *id;
  }
  NEON_ASSIGN_OR_RETURN(m.ancestor_lsn, ReadLsn(v, "ancestor_lsn"));
  NEON_ASSIGN_OR_RETURN(m.latest_gc_cutoff_lsn, ReadLsn(v, "latest_gc_cutoff_lsn"));
  NEON_ASSIGN_OR_RETURN(m.initdb_lsn, ReadLsn(v, "initdb_lsn"));
  NEON_ASSIGN_OR_RETURN(const JsonValue* pg, Required(v, "pg_version"));
  NEON_ASSIGN_OR_RETURN(m.pg_version, ReadU32(*pg, "\"pg_version\""));
  if (!m.ancestor_timeline && m.ancestor_lsn.valid()) return Bad("ancestor_lsn without ancestor_timeline");
  return m;
}

}  // namespace

absl::StatusOr<IndexLayerMetadata> ParseIndexLayerMetadata(const std::string& name, const JsonValue& v) {
  NEON_RETURN_IF_ERROR(ValidateLayerName(name));
  if (!v.is_object()) return Bad(StrCat("layer ", name, ": not an object"));
  IndexLayerMetadata l;
  NEON_ASSIGN_OR_RETURN(const JsonValue* size, Required(v, "file_size"));
  NEON_ASSIGN_OR_RETURN(l.file_size, size->GetU64(StrCat("layer ", name, " file_size")));
  if (const JsonValue* g = v.Find("generation"); g != nullptr && !g->is_null()) {
    NEON_ASSIGN_OR_RETURN(uint32_t gen, ReadU32(*g, StrCat("layer ", name, " generation")));
    l.generation = Generation::Of(gen);
  }
  if (const JsonValue* s = v.Find("shard"); s != nullptr && !s->is_null()) {
    NEON_ASSIGN_OR_RETURN(std::string text, s->GetString(StrCat("layer ", name, " shard")));
    auto shard = ShardIndex::Parse(text);
    if (!shard.ok() || shard->IsUnsharded()) return Bad(StrCat("layer ", name, ": bad shard \"", text, "\""));
    l.shard = *shard;
  }
  return l;
}

void WriteIndexLayerMetadata(JsonWriter& w, const IndexLayerMetadata& l) {
  w.BeginObject();
  w.Key("file_size").U64(l.file_size);
  if (!l.generation.is_none()) w.Key("generation").U64(l.generation.value());
  if (!l.shard.IsUnsharded()) w.Key("shard").String(l.shard.ToString());
  w.EndObject();
}

namespace {

absl::StatusOr<IndexPart> ParseIndex(const JsonValue& root) {
  if (!root.is_object()) return Bad("not a JSON object");
  IndexPart p;
  NEON_ASSIGN_OR_RETURN(const JsonValue* version, Required(root, "version"));
  NEON_ASSIGN_OR_RETURN(p.version, ReadU32(*version, "\"version\""));
  if (p.version < kMinIndexPartVersion || p.version > kIndexPartVersion) {
    return Bad(StrCat("unsupported version ", p.version));
  }
  NEON_ASSIGN_OR_RETURN(const JsonValue* layers, Required(root, "layer_metadata"));
  if (!layers->is_object()) return Bad("\"layer_metadata\" is not an object");
  for (const auto& [name, v] : layers->members()) {
    NEON_ASSIGN_OR_RETURN(p.layer_metadata[name], ParseIndexLayerMetadata(name, v));
  }
  const JsonValue* meta = root.Find("metadata");
  if (meta == nullptr) meta = root.Find("metadata_bytes");
  if (meta == nullptr) return Bad("missing \"metadata\"");
  NEON_ASSIGN_OR_RETURN(p.metadata, ParseMetadata(*meta));
  NEON_ASSIGN_OR_RETURN(Lsn dcl, ReadLsn(root, "disk_consistent_lsn"));
  if (dcl != p.metadata.disk_consistent_lsn) {
    return Bad(StrCat("disk_consistent_lsn ", dcl.ToString(), " differs from the metadata's ",
                      p.metadata.disk_consistent_lsn.ToString()));
  }
  if (const JsonValue* d = root.Find("deleted_at"); d != nullptr && !d->is_null()) {
    NEON_ASSIGN_OR_RETURN(p.deleted_at, d->GetString("\"deleted_at\""));
  }
  return p;
}

}  // namespace

std::string IndexPart::Serialize() const {
  JsonWriter w;
  w.BeginObject();
  w.Key("version").U64(version);
  w.Key("layer_metadata").BeginObject();
  for (const auto& [name, l] : layer_metadata) {
    w.Key(name);
    WriteIndexLayerMetadata(w, l);
  }
  w.EndObject();
  WriteLsn(w, "disk_consistent_lsn", metadata.disk_consistent_lsn);
  w.Key("metadata");
  WriteMetadata(w, metadata);
  if (!deleted_at.empty()) w.Key("deleted_at").String(deleted_at);
  w.EndObject();
  return w.str();
}

absl::StatusOr<IndexPart> IndexPart::Parse(std::string_view json) {
  auto root = ParseJson(json);
  if (!root.ok()) return AsDataLoss(root.status());
  auto index = ParseIndex(*root);
  if (!index.ok()) return AsDataLoss(index.status());
  return index;
}

std::string RemoteTimelinesPrefix(const TenantShardId& tenant) {
  return StrCat("tenants/", tenant.ToString(), "/timelines/");
}

std::string RemoteTimelinePrefix(const TenantShardId& tenant, const TimelineId& timeline) {
  return StrCat(RemoteTimelinesPrefix(tenant), timeline.ToString(), "/");
}

std::string RemoteIndexKey(const TenantShardId& tenant, const TimelineId& timeline,
                           Generation generation) {
  return StrCat(RemoteTimelinePrefix(tenant, timeline), kIndexPartName, generation.Suffix());
}

std::string RemoteLayerKey(const TenantShardId& tenant, ShardIndex layer_shard,
                           const TimelineId& timeline, std::string_view layer_name,
                           Generation generation) {
  TenantShardId owner{tenant.tenant_id, layer_shard};
  return StrCat(RemoteTimelinePrefix(owner, timeline), layer_name, generation.Suffix());
}

absl::StatusOr<Generation> ParseIndexGeneration(std::string_view base_name) {
  if (base_name == kIndexPartName) return Generation::None();
  if (base_name.size() != kIndexPartName.size() + 9 || base_name.substr(0, kIndexPartName.size()) != kIndexPartName ||
      base_name[kIndexPartName.size()] != '-') {
    return absl::InvalidArgumentError(StrCat("\"", base_name, "\" is not an index_part object name"));
  }
  return Generation::Parse(base_name.substr(kIndexPartName.size() + 1));
}

absl::Status ValidateLayerName(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 255 &&
            std::all_of(name.begin(), name.end(), [](char c) {
              return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                     c == '_' || c == '-';
            });
  if (!ok) return Bad(StrCat("\"", name, "\" is not a layer name"));
  return absl::OkStatus();
}

}  // namespace neon
