// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "safekeeper/timeline_registry.h"

#include "base/status_macros.h"
#include "base/str_cat.h"
#include "common/log.h"
#include "consensus/acceptor_node.h"

namespace neon::safekeeper {

std::string TimelineRegistry::DirOf(const TenantId& tenant, const TimelineId& timeline) const {
  return JoinPath(JoinPath(ctx_->config.workdir, tenant.ToString()), timeline.ToString());
}

absl::StatusOr<int> TimelineRegistry::LoadAll() {
  FileSystem& fs = *ctx_->fs;
  NEON_ASSIGN_OR_RETURN(std::vector<std::string> tenants, fs.GetChildren(ctx_->config.workdir));
  int loaded = 0;
  for (const std::string& tenant_name : tenants) {
    absl::StatusOr<TenantId> tenant = TenantId::Parse(tenant_name);
    const std::string tenant_dir = JoinPath(ctx_->config.workdir, tenant_name);
    if (!tenant.ok() || !fs.IsDirectory(tenant_dir)) continue;
    NEON_ASSIGN_OR_RETURN(std::vector<std::string> timelines, fs.GetChildren(tenant_dir));
    for (const std::string& timeline_name : timelines) {
      absl::StatusOr<TimelineId> timeline = TimelineId::Parse(timeline_name);
      const std::string dir = JoinPath(tenant_dir, timeline_name);
      if (!timeline.ok() || !fs.FileExists(JoinPath(dir, consensus::kControlFileName))) continue;
      absl::StatusOr<std::shared_ptr<Timeline>> tl = Timeline::Open(ctx_, dir);
      if (!tl.ok() || (*tl)->tenant_id() != *tenant || (*tl)->timeline_id() != *timeline) {
        server::LogError("timeline_load_failed",
                         {{"dir", dir},
                          {"error", tl.ok() ? std::string("control file names another timeline")
                                            : std::string(tl.status().message())}});
        continue;
      }
      absl::MutexLock l(&mu_);
      timelines_[{*tenant, *timeline}] = *tl;
      loaded++;
    }
  }
  ctx_->metrics->timelines->Set(int64_t(size()));
  return loaded;
}

absl::StatusOr<std::shared_ptr<Timeline>> TimelineRegistry::Get(const TenantId& tenant,
                                                                const TimelineId& timeline) const {
  absl::MutexLock l(&mu_);
  auto it = timelines_.find({tenant, timeline});
  if (it == timelines_.end()) {
    return absl::NotFoundError(
        StrCat("timeline ", tenant.ToString(), "/", timeline.ToString(), " not found"));
  }
  return it->second;
}

absl::StatusOr<std::shared_ptr<Timeline>> TimelineRegistry::Create(
    const consensus::PersistentState& initial, bool* created) {
  const TimelineKey key{initial.tenant_id, initial.timeline_id};
  {
    absl::MutexLock l(&mu_);
    if (auto it = timelines_.find(key); it != timelines_.end()) {
      *created = false;
      return it->second;
    }
    if (busy_.count(key)) {
      return absl::FailedPreconditionError("the timeline is being created or deleted");
    }
    busy_.insert(key);
  }
  const std::string dir = DirOf(key.first, key.second);
  absl::StatusOr<std::shared_ptr<Timeline>> tl = [&]() -> absl::StatusOr<std::shared_ptr<Timeline>> {
    absl::Status s = consensus::AcceptorNode::CreateTimeline(*ctx_->fs, dir, initial);
    if (absl::IsAlreadyExists(s)) {
      return absl::FailedPreconditionError(
          StrCat("the directory ", dir, " holds a timeline that could not be loaded (see the "
                 "start-up log); remove or repair it first"));
    }
    NEON_RETURN_IF_ERROR(s);
    // The tenant directory's own entry in the work directory.
    NEON_RETURN_IF_ERROR(ctx_->fs->SyncDir(ctx_->config.workdir));
    return Timeline::Open(ctx_, dir);
  }();
  absl::MutexLock l(&mu_);
  busy_.erase(key);
  if (!tl.ok()) return tl.status();
  timelines_[key] = *tl;
  ctx_->metrics->timelines->Set(int64_t(timelines_.size()));
  *created = true;
  server::LogInfo("timeline_created", {{"tenant_id", key.first.ToString()},
                                       {"timeline_id", key.second.ToString()},
                                       {"start_lsn", initial.timeline_start_lsn.ToString()}});
  return tl;
}

absl::Status TimelineRegistry::Delete(const TenantId& tenant, const TimelineId& timeline,
                                      bool only_local, bool* dir_existed) {
  const TimelineKey key{tenant, timeline};
  std::shared_ptr<Timeline> tl;
  {
    absl::MutexLock l(&mu_);
    if (busy_.count(key)) {
      return absl::FailedPreconditionError("the timeline is being created or deleted");
    }
    if (auto it = timelines_.find(key); it != timelines_.end()) tl = it->second;
    busy_.insert(key);
  }
  absl::Status result = [&]() -> absl::Status {
    if (tl != nullptr) tl->Cancel(absl::NotFoundError("the timeline was deleted"));
    {
      absl::MutexLock l(&mu_);
      timelines_.erase(key);
      ctx_->metrics->timelines->Set(int64_t(timelines_.size()));
    }
    FileSystem& fs = *ctx_->fs;
    const std::string dir = DirOf(tenant, timeline);
    *dir_existed = fs.IsDirectory(dir);
    if (*dir_existed) {
      NEON_RETURN_IF_ERROR(DeleteRecursively(fs, dir));
      const std::string tenant_dir = DirName(dir);
      NEON_RETURN_IF_ERROR(fs.SyncDir(tenant_dir));
      NEON_ASSIGN_OR_RETURN(std::vector<std::string> left, fs.GetChildren(tenant_dir));
      // (A timeline of the same tenant created meanwhile makes the removal fail: keep it.)
      if (left.empty() && fs.DeleteDir(tenant_dir).ok()) {
        NEON_RETURN_IF_ERROR(fs.SyncDir(ctx_->config.workdir));
      }
    }
    if (!only_local) NEON_RETURN_IF_ERROR(DeleteRemote(tenant, timeline));
    return absl::OkStatus();
  }();
  {
    absl::MutexLock l(&mu_);
    busy_.erase(key);
  }
  if (result.ok()) {
    server::LogInfo("timeline_deleted", {{"tenant_id", tenant.ToString()},
                                         {"timeline_id", timeline.ToString()},
                                         {"dir_existed", *dir_existed},
                                         {"only_local", only_local}});
  }
  return result;
}

absl::Status TimelineRegistry::DeleteRemote(const TenantId& tenant, const TimelineId& timeline) {
  if (ctx_->store == nullptr) return absl::OkStatus();
  const std::string prefix =
      StrCat(kWalBackupPrefix, tenant.ToString(), "/", timeline.ToString(), "/");
  NEON_ASSIGN_OR_RETURN(ListResult list, ListAll(*ctx_->store, prefix));
  std::vector<std::string> keys;
  for (const ObjectInfo& o : list.objects) keys.push_back(o.key);
  return DeleteKeys(*ctx_->store, keys);
}

std::vector<std::shared_ptr<Timeline>> TimelineRegistry::All() const {
  absl::MutexLock l(&mu_);
  std::vector<std::shared_ptr<Timeline>> out;
  for (const auto& [key, tl] : timelines_) out.push_back(tl);
  return out;
}

std::vector<TimelineId> TimelineRegistry::TimelinesOf(const TenantId& tenant) const {
  absl::MutexLock l(&mu_);
  std::vector<TimelineId> out;
  for (const auto& [key, tl] : timelines_) {
    if (key.first == tenant) out.push_back(key.second);
  }
  return out;
}

size_t TimelineRegistry::size() const {
  absl::MutexLock l(&mu_);
  return timelines_.size();
}

void TimelineRegistry::CancelAll() {
  for (const auto& tl : All()) {
    // The live commit LSN (ahead of the persisted one) survives a clean restart.
    tl->WithNode([](consensus::AcceptorNode& n) { return n.Checkpoint(); }).IgnoreError();
    tl->Cancel(absl::UnavailableError("the safekeeper is shutting down"));
  }
}

}  // namespace neon::safekeeper
