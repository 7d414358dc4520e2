// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "remote/heatmap.h"

#include <set>

#include "absl/time/time.h"
#include "base/status_macros.h"
#include "base/str_cat.h"
#include "remote/json.h"

namespace neon {
namespace {

absl::Status Bad(std::string_view what) {
  return absl::DataLossError(StrCat("invalid heatmap-v1.json: ", what));
}

absl::Status AsDataLoss(const absl::Status& s) {
  if (s.ok() || absl::IsDataLoss(s)) return s;
  return Bad(std::string(s.message()));
}

std::string FormatTime(int64_t us) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::FromUnixMicros(us), absl::UTCTimeZone());
}

absl::StatusOr<int64_t> ParseTime(const std::string& text) {
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, text, &t, &err)) {
    return Bad(StrCat("access_time \"", text, "\": ", err));
  }
  return absl::ToUnixMicros(t);
}

absl::StatusOr<const JsonValue*> Required(const JsonValue& obj, std::string_view key) {
  const JsonValue* v = obj.Find(key);
  if (v == nullptr) return Bad(StrCat("missing \"", key, "\""));
  return v;
}

absl::StatusOr<HeatmapLayer> ParseLayer(const JsonValue& v) {
  if (!v.is_object()) return Bad("a layer is not an object");
  HeatmapLayer l;
  NEON_ASSIGN_OR_RETURN(const JsonValue* name, Required(v, "name"));
  NEON_ASSIGN_OR_RETURN(l.name, name->GetString("layer name"));
  NEON_ASSIGN_OR_RETURN(const JsonValue* meta, Required(v, "metadata"));
  NEON_ASSIGN_OR_RETURN(l.metadata, ParseIndexLayerMetadata(l.name, *meta));
  NEON_ASSIGN_OR_RETURN(const JsonValue* at, Required(v, "access_time"));
  NEON_ASSIGN_OR_RETURN(std::string at_text, at->GetString("access_time"));
  NEON_ASSIGN_OR_RETURN(l.access_time_us, ParseTime(at_text));
  if (const JsonValue* c = v.Find("cold"); c != nullptr && !c->is_null()) {
    NEON_ASSIGN_OR_RETURN(l.cold, c->GetBool("cold"));
  }
  return l;
}

absl::StatusOr<Heatmap> ParseRoot(const JsonValue& root) {
  if (!root.is_object()) return Bad("not a JSON object");
  Heatmap h;
  NEON_ASSIGN_OR_RETURN(const JsonValue* gen, Required(root, "generation"));
  if (!gen->is_null()) {
    NEON_ASSIGN_OR_RETURN(uint64_t g, gen->GetU64("generation"));
    if (g > UINT32_MAX) return Bad("generation out of range");
    h.generation = Generation::Of(static_cast<uint32_t>(g));
  }
  if (const JsonValue* p = root.Find("upload_period_ms"); p != nullptr && !p->is_null()) {
    NEON_ASSIGN_OR_RETURN(h.upload_period_ms, p->GetU64("upload_period_ms"));
  }
  NEON_ASSIGN_OR_RETURN(const JsonValue* tls, Required(root, "timelines"));
  if (!tls->is_array()) return Bad("\"timelines\" is not an array");
  std::set<TimelineId> seen;
  for (const JsonValue& t : tls->items()) {
    if (!t.is_object()) return Bad("a timeline is not an object");
    HeatmapTimeline ht;
    NEON_ASSIGN_OR_RETURN(const JsonValue* id, Required(t, "timeline_id"));
    NEON_ASSIGN_OR_RETURN(std::string id_text, id->GetString("timeline_id"));
    auto tid = TimelineId::Parse(id_text);
    if (!tid.ok()) return Bad(StrCat("timeline_id \"", id_text, "\": ", tid.status().message()));
    if (!seen.insert(*tid).second) return Bad(StrCat("timeline ", id_text, " listed twice"));
    ht.timeline_id = *tid;
    NEON_ASSIGN_OR_RETURN(const JsonValue* layers, Required(t, "layers"));
    if (!layers->is_array()) return Bad("\"layers\" is not an array");
    std::set<std::string> names;
    for (const JsonValue& l : layers->items()) {
      NEON_ASSIGN_OR_RETURN(HeatmapLayer layer, ParseLayer(l));
      if (!names.insert(layer.name).second) return Bad(StrCat("layer ", layer.name, " listed twice"));
      ht.layers.push_back(std::move(layer));
    }
    h.timelines.push_back(std::move(ht));
  }
  return h;
}

}  // namespace

std::string Heatmap::Serialize() const {
  JsonWriter w;
  w.BeginObject();
  w.Key("generation");
  generation.is_none() ? w.Null() : w.U64(generation.value());
  w.Key("upload_period_ms").U64(upload_period_ms);
  w.Key("timelines").BeginArray();
  for (const HeatmapTimeline& t : timelines) {
    w.BeginObject();
    w.Key("timeline_id").String(t.timeline_id.ToString());
    w.Key("layers").BeginArray();
    for (const HeatmapLayer& l : t.layers) {
      w.BeginObject();
      w.Key("name").String(l.name);
      w.Key("metadata");
      WriteIndexLayerMetadata(w, l.metadata);
      w.Key("access_time").String(FormatTime(l.access_time_us));
      w.Key("cold").Bool(l.cold);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return w.str();
}

absl::StatusOr<Heatmap> Heatmap::Parse(std::string_view json) {
  auto root = ParseJson(json);
  if (!root.ok()) return AsDataLoss(root.status());
  auto h = ParseRoot(*root);
  if (!h.ok()) return AsDataLoss(h.status());
  return h;
}

std::string RemoteHeatmapKey(const TenantShardId& tenant) {
  return StrCat("tenants/", tenant.ToString(), "/heatmap-v1.json");
}

}  // namespace neon
