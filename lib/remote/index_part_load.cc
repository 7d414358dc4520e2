// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Generation-aware loading of index_part.json (RFC 025): own generation, else
// the previous one, else the highest older one found by listing.

#include <algorithm>
#include <optional>

#include "base/status_macros.h"
#include "base/str_cat.h"
#include "remote/index_part.h"

namespace neon {
namespace {

// The parsed index at `key`; NotFound passes through.
absl::StatusOr<IndexPart> Fetch(ObjectStore& store, const std::string& key) {
  NEON_ASSIGN_OR_RETURN(std::string text, GetString(store, key, {}, kMaxIndexPartBytes));
  auto index = IndexPart::Parse(text);
  if (!index.ok()) return Annotate(index.status(), key);
  return index;
}

absl::StatusOr<DownloadedIndex> TryGeneration(ObjectStore& store, const TenantShardId& tenant,
                                              const TimelineId& timeline, Generation g) {
  NEON_ASSIGN_OR_RETURN(IndexPart index, Fetch(store, RemoteIndexKey(tenant, timeline, g)));
  return DownloadedIndex{std::move(index), g};
}

}  // namespace

absl::StatusOr<DownloadedIndex> DownloadIndexPart(ObjectStore& store, const TenantShardId& tenant,
                                                  const TimelineId& timeline, Generation generation) {
  auto own = TryGeneration(store, tenant, timeline, generation);
  if (!absl::IsNotFound(own.status()) || generation.is_none()) return own;
  if (generation.value() > 0) {
    auto previous = TryGeneration(store, tenant, timeline, Generation::Of(generation.value() - 1));
    if (!absl::IsNotFound(previous.status())) return previous;
  }
  std::string prefix = RemoteTimelinePrefix(tenant, timeline);
  NEON_ASSIGN_OR_RETURN(ListResult list, ListAll(store, StrCat(prefix, kIndexPartName)));
  std::optional<Generation> best;
  for (const ObjectInfo& o : list.objects) {
    auto g = ParseIndexGeneration(std::string_view(o.key).substr(prefix.size()));
    if (!g.ok() || *g >= generation) continue;  // not an index, or not older than ours
    if (!best || *g > *best) best = *g;
  }
  if (!best) {
    return absl::NotFoundError(StrCat("no index_part.json of a generation up to ", generation.Suffix(),
                                      " under ", prefix));
  }
  return TryGeneration(store, tenant, timeline, *best);
}

absl::StatusOr<std::vector<TimelineId>> ListRemoteTimelines(ObjectStore& store,
                                                            const TenantShardId& tenant) {
  std::string prefix = RemoteTimelinesPrefix(tenant);
  NEON_ASSIGN_OR_RETURN(ListResult list, ListAll(store, prefix, "/"));
  std::vector<TimelineId> out;
  for (const std::string& p : list.common_prefixes) {
    std::string_view name = std::string_view(p).substr(prefix.size());
    if (!name.empty() && name.back() == '/') name.remove_suffix(1);
    auto id = TimelineId::Parse(name);
    if (id.ok()) out.push_back(*id);
  }
  std::sort(out.begin(), out.end());
  return out;
}

absl::Status DeleteRemotePrefix(ObjectStore& store, std::string_view prefix) {
  NEON_ASSIGN_OR_RETURN(ListResult list, ListAll(store, prefix));
  std::vector<std::string> indexes, others;
  for (const ObjectInfo& o : list.objects) {
    std::string_view base = std::string_view(o.key).substr(o.key.rfind('/') + 1);
    (ParseIndexGeneration(base).ok() ? indexes : others).push_back(o.key);
  }
  NEON_RETURN_IF_ERROR(DeleteKeys(store, indexes));
  return DeleteKeys(store, others);
}

absl::Status DeleteRemoteTimeline(ObjectStore& store, const TenantShardId& tenant,
                                  const TimelineId& timeline) {
  return DeleteRemotePrefix(store, RemoteTimelinePrefix(tenant, timeline));
}

}  // namespace neon
