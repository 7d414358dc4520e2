// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "engine/tenant.h"

#include "absl/container/flat_hash_set.h"
#include "base/check.h"
#include "base/status_macros.h"
#include "base/str_cat.h"
#include "remote/index_part.h"

namespace neon {
namespace {

TimelineDeps WithTenantRedo(TimelineDeps deps, RedoManager* redo) {
  if (redo != nullptr) deps.postgres_redo = redo;
  return deps;
}

}  // namespace

TenantImpl::TenantImpl(TimelineDeps deps, TenantShardId id, TenantConfig config, std::string dir,
                       Generation generation)
    : redo_(deps.postgres_redo_factory ? deps.postgres_redo_factory(id) : nullptr),
      deps_(WithTenantRedo(deps, redo_.get())),
      id_(id),
      config_(std::make_shared<const TenantConfig>(std::move(config))),
      dir_(std::move(dir)),
      generation_(generation) {}

std::string TenantImpl::TimelineDir(const TimelineId& id) const {
  return JoinPath(JoinPath(dir_, "timelines"), id.ToString());
}

absl::StatusOr<std::shared_ptr<TimelineImpl>> TenantImpl::Register(
    const TimelineMeta& meta, std::shared_ptr<TimelineImpl> ancestor,
    const std::vector<LayerRecord>& layers, IndexPart uploaded) {
  std::shared_ptr<RemoteTimelineClient> remote;
  if (remote_enabled()) {
    RemoteTimelineClientOptions o{id_, meta.id, generation_, deps_.max_inflight_uploads};
    remote = RemoteTimelineClient::Create(deps_.remote_store, deps_.fs, deps_.remote_executor,
                                          deps_.deletions, o, std::move(uploaded));
  }
  auto tl = std::make_shared<TimelineImpl>(deps_, id_, config_, meta, ancestor, TimelineDir(meta.id),
                                           std::move(remote));
  NEON_RETURN_IF_ERROR(tl->LoadLayers(layers));
  if (ancestor) ancestor->AddChildBranchPoint(meta.ancestor_lsn);
  timelines_[meta.id] = tl;
  return tl;
}

absl::Status TenantImpl::Load(std::vector<TimelineMeta> metas) {
  absl::MutexLock l(&mu_);
  std::map<TimelineId, std::vector<LayerRecord>> layers;
  for (const TimelineMeta& m : metas) {
    NEON_ASSIGN_OR_RETURN(layers[m.id], deps_.catalog->ListLayers(id_, m.id));
  }
  return LoadTimelines(std::move(metas), std::move(layers), {});
}

absl::Status TenantImpl::LoadFromRemote() {
  NEON_CHECK(remote_enabled());
  ObjectStore& store = *deps_.remote_store;
  NEON_ASSIGN_OR_RETURN(std::vector<TimelineId> ids, ListRemoteTimelines(store, id_));
  std::vector<TimelineMeta> metas;
  std::map<TimelineId, std::vector<LayerRecord>> layers;
  std::map<TimelineId, IndexPart> indexes;
  for (const TimelineId& tid : ids) {
    auto d = DownloadIndexPart(store, id_, tid, generation_);
    if (absl::IsNotFound(d.status())) continue;  // no index of ours or older: not a timeline for us
    NEON_RETURN_IF_ERROR(d.status());
    if (!d->index.deleted_at.empty()) continue;
    metas.push_back(FromIndexMetadata(tid, d->index.metadata));
    for (const auto& [name, m] : d->index.layer_metadata) layers[tid].push_back(LayerRecord{name, m.file_size});
    indexes[tid] = std::move(d->index);
  }
  // The catalog is a cache of object storage: replace this tenant's part.
  NEON_ASSIGN_OR_RETURN(auto local, deps_.catalog->ListTimelines(id_));
  CatalogBatch batch;
  for (const TimelineMeta& m : local) batch.DeleteTimeline(id_, m.id);
  for (const TimelineMeta& m : metas) {
    batch.PutTimeline(id_, m);
    for (const LayerRecord& r : layers[m.id]) batch.AddLayer(id_, m.id, r);
  }
  NEON_RETURN_IF_ERROR(deps_.catalog->Commit(batch));
  absl::MutexLock l(&mu_);
  return LoadTimelines(std::move(metas), std::move(layers), std::move(indexes));
}

absl::Status TenantImpl::LoadTimelines(std::vector<TimelineMeta> metas,
                                       std::map<TimelineId, std::vector<LayerRecord>> layers,
                                       std::map<TimelineId, IndexPart> indexes) {
  // Place ancestors before their children.
  while (!metas.empty()) {
    size_t before = metas.size();
    for (auto it = metas.begin(); it != metas.end();) {
      std::shared_ptr<TimelineImpl> ancestor;
      if (it->ancestor) {
        auto a = timelines_.find(*it->ancestor);
        if (a == timelines_.end()) {
          ++it;
          continue;
        }
        ancestor = a->second;
      }
      NEON_RETURN_IF_ERROR(Register(*it, ancestor, layers[it->id], std::move(indexes[it->id])).status());
      it = metas.erase(it);
    }
    if (metas.size() == before) {
      return absl::DataLossError(StrCat("tenant ", id_.ToString(), ": timeline ",
                                        metas.front().id.ToString(), " has a missing ancestor"));
    }
  }
  // Timeline directories not listed are leftovers.
  std::string tl_root = JoinPath(dir_, "timelines");
  NEON_RETURN_IF_ERROR(deps_.fs->CreateDirs(tl_root));
  NEON_ASSIGN_OR_RETURN(auto children, deps_.fs->GetChildren(tl_root));
  for (const std::string& c : children) {
    auto tid = TimelineId::Parse(c);
    if (tid.ok() && timelines_.count(*tid)) continue;
    NEON_RETURN_IF_ERROR(DeleteRecursively(*deps_.fs, JoinPath(tl_root, c)));
  }
  return absl::OkStatus();
}

void TenantImpl::UploadInitialIndex(const std::shared_ptr<TimelineImpl>& tl, const TimelineMeta& meta) {
  if (tl->remote() == nullptr) return;
  // A failure leaves the upload queued (retried by later work); until it
  // succeeds the timeline exists only on this node.
  if (tl->remote()->ScheduleUpdate({}, {}, ToIndexMetadata(meta)).ok()) (void)tl->remote()->Drain();
}

absl::StatusOr<std::shared_ptr<Timeline>> TenantImpl::CreateTimeline(const TimelineId& id,
                                                                     uint32_t pg_version) {
  absl::MutexLock l(&mu_);
  if (timelines_.count(id)) {
    return absl::AlreadyExistsError(StrCat("timeline ", id.ToString(), " already exists"));
  }
  TimelineMeta meta;
  meta.id = id;
  meta.pg_version = pg_version;
  NEON_RETURN_IF_ERROR(deps_.fs->CreateDirs(TimelineDir(id)));  // synced with its first layer
  CatalogBatch batch;
  batch.PutTimeline(id_, meta);
  NEON_RETURN_IF_ERROR(deps_.catalog->Commit(batch));
  NEON_ASSIGN_OR_RETURN(auto tl, Register(meta, nullptr, {}));
  UploadInitialIndex(tl, meta);
  return std::shared_ptr<Timeline>(tl);
}

absl::StatusOr<std::shared_ptr<Timeline>> TenantImpl::CreateBranch(const TimelineId& id,
                                                                   const TimelineId& ancestor_id,
                                                                   Lsn lsn) {
  std::shared_ptr<TimelineImpl> ancestor;
  {
    absl::MutexLock l(&mu_);
    if (timelines_.count(id)) {
      return absl::AlreadyExistsError(StrCat("timeline ", id.ToString(), " already exists"));
    }
    auto it = timelines_.find(ancestor_id);
    if (it == timelines_.end()) {
      return absl::NotFoundError(StrCat("ancestor timeline ", ancestor_id.ToString(), " not found"));
    }
    ancestor = it->second;
  }
  if (!lsn.valid()) lsn = ancestor->last_record_lsn();
  if (!lsn.valid()) return absl::FailedPreconditionError("cannot branch from a timeline with no data");
  if (lsn < ancestor->ancestor_lsn()) {
    return absl::FailedPreconditionError(StrCat("branch point ", lsn.ToString(),
                                                " is below the ancestor's own branch point ",
                                                ancestor->ancestor_lsn().ToString()));
  }
  NEON_RETURN_IF_ERROR(ancestor->WaitLsn(lsn, deps_.wait_lsn_timeout_us));
  // Register the branch point first, then check the cutoff: GC either sees
  // the point or has already raised the cutoff past it (and we refuse).
  ancestor->AddChildBranchPoint(lsn);
  absl::Status s = [&]() -> absl::Status {
    if (!ancestor->IsReadable(lsn)) {
      return absl::FailedPreconditionError(StrCat("branch point ", lsn.ToString(),
                                                  " is below the ancestor's GC cutoff"));
    }
    TimelineInfo ai = ancestor->Info();
    TimelineMeta meta;
    meta.id = id;
    meta.ancestor = ancestor_id;
    meta.ancestor_lsn = lsn;
    meta.disk_consistent_lsn = lsn;
    meta.prev_record_lsn = lsn == ai.last_record_lsn ? ai.prev_record_lsn : Lsn::Invalid();
    meta.gc_cutoff = std::min(ai.applied_gc_cutoff_lsn, lsn);
    meta.initdb_lsn = ai.initdb_lsn;
    meta.pg_version = ai.pg_version;
    absl::MutexLock l(&mu_);
    if (timelines_.count(id)) return absl::AlreadyExistsError(StrCat("timeline ", id.ToString(), " already exists"));
    // No directory sync: the catalog commit below is what makes the timeline
    // exist, and loading re-creates a missing directory.
    NEON_RETURN_IF_ERROR(deps_.fs->CreateDirs(TimelineDir(id)));
    CatalogBatch batch;
    batch.PutTimeline(id_, meta);
    NEON_RETURN_IF_ERROR(deps_.catalog->Commit(batch));
    NEON_ASSIGN_OR_RETURN(auto tl, Register(meta, ancestor, {}));
    UploadInitialIndex(tl, meta);
    return absl::OkStatus();
  }();
  ancestor->RemoveChildBranchPoint(lsn);  // Register added the durable one
  if (!s.ok()) return s;
  return GetTimeline(id);
}

absl::StatusOr<std::shared_ptr<Timeline>> TenantImpl::GetTimeline(const TimelineId& id) {
  absl::MutexLock l(&mu_);
  auto it = timelines_.find(id);
  if (it == timelines_.end()) return absl::NotFoundError(StrCat("timeline ", id.ToString(), " not found"));
  return std::shared_ptr<Timeline>(it->second);
}

std::vector<std::shared_ptr<TimelineImpl>> TenantImpl::Timelines() {
  absl::MutexLock l(&mu_);
  std::vector<std::shared_ptr<TimelineImpl>> out;
  for (const auto& [id, tl] : timelines_) out.push_back(tl);
  return out;
}

std::vector<TimelineInfo> TenantImpl::ListTimelines() {
  std::vector<TimelineInfo> out;
  for (const auto& tl : Timelines()) out.push_back(tl->Info());
  return out;
}

absl::Status TenantImpl::DeleteTimeline(const TimelineId& id) {
  absl::MutexLock l(&mu_);
  auto it = timelines_.find(id);
  if (it == timelines_.end()) return absl::NotFoundError(StrCat("timeline ", id.ToString(), " not found"));
  for (const auto& [other_id, other] : timelines_) {
    if (other->ancestor() == it->second) {
      return absl::FailedPreconditionError(StrCat("timeline ", id.ToString(), " has child timeline ",
                                                  other_id.ToString()));
    }
  }
  // A stale attachment must not delete what the tenant's current node still uses.
  if (deps_.remote_store != nullptr) {
    NEON_RETURN_IF_ERROR(CheckGenerationCurrent(deps_, id_, generation_));
  }
  NEON_RETURN_IF_ERROR(it->second->Delete());
  if (it->second->ancestor()) it->second->ancestor()->RemoveChildBranchPoint(it->second->ancestor_lsn());
  timelines_.erase(it);
  return absl::OkStatus();
}

void TenantImpl::Shutdown() {
  for (const auto& tl : Timelines()) tl->Shutdown();
}

}  // namespace neon
