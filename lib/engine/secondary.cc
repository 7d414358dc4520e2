// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "engine/secondary.h"

#include <map>
#include <set>

#include "base/status_macros.h"
#include "base/str_cat.h"
#include "remote/heatmap.h"

namespace neon {

SecondaryLocation::SecondaryLocation(const TimelineDeps& deps, SecondaryInfo info, std::string dir)
    : deps_(deps), dir_(std::move(dir)), info_(std::move(info)) {}

SecondaryLocation::~SecondaryLocation() { Stop(); }

SecondaryInfo SecondaryLocation::info() const {
  absl::MutexLock l(&mu_);
  return info_;
}

void SecondaryLocation::set_warm(bool warm) {
  absl::MutexLock l(&mu_);
  info_.warm = warm;
}

bool SecondaryLocation::stopped() const {
  absl::MutexLock l(&mu_);
  return stopped_;
}

void SecondaryLocation::Start() {
  std::thread finished;
  {
    absl::MutexLock l(&mu_);
    if (stopped_ || thread_running_) return;
    finished = std::move(thread_);
    thread_running_ = true;
    progress_.in_progress = true;
    thread_ = std::thread([this] {
      (void)RunPass();
      absl::MutexLock l(&mu_);
      thread_running_ = false;
    });
  }
  if (finished.joinable()) finished.join();
}

void SecondaryLocation::Stop() {
  std::thread t;
  {
    absl::MutexLock l(&mu_);
    stopped_ = true;
    t = std::move(thread_);
  }
  if (t.joinable()) t.join();
  absl::MutexLock wait_for_pass(&run_mu_);
}

SecondaryProgress SecondaryLocation::progress() const {
  absl::MutexLock l(&mu_);
  return progress_;
}

bool SecondaryLocation::DueForRefresh(int64_t now_us) const {
  absl::MutexLock l(&mu_);
  if (!info_.warm || stopped_ || thread_running_) return false;
  int64_t period = kDefaultRefreshUs;
  if (upload_period_ms_ > 0) {
    period = static_cast<int64_t>(upload_period_ms_) * 1000;
  } else if (info_.config.heatmap_period_us > 0) {
    period = info_.config.heatmap_period_us;
  }
  return progress_.last_pass_end_us == 0 || now_us - progress_.last_pass_end_us >= period;
}

absl::Status SecondaryLocation::RunPass() {
  absl::MutexLock run(&run_mu_);
  {
    absl::MutexLock l(&mu_);
    if (stopped_) return absl::CancelledError(StrCat("secondary location ", info_.id.ToString(), " is stopped"));
    progress_.in_progress = true;
    progress_.last_pass_start_us = deps_.clock->NowMicros();
  }
  absl::Status s = Pass();
  absl::MutexLock l(&mu_);
  progress_.in_progress = false;
  progress_.last_error = s;
  progress_.last_pass_end_us = deps_.clock->NowMicros();
  return s;
}

absl::Status SecondaryLocation::Pass() {
  ObjectStore& store = *deps_.remote_store;
  FileSystem& fs = *deps_.fs;
  const TenantShardId id = info().id;
  auto text = GetString(store, RemoteHeatmapKey(id), {}, kMaxHeatmapBytes);
  if (absl::IsNotFound(text.status())) {
    return absl::FailedPreconditionError(
        StrCat("tenant ", id.ToString(), " has no heatmap in remote storage yet: the attached location "
               "uploads it every heatmap_period or on POST /v1/tenant/", id.ToString(), "/heatmap_upload"));
  }
  NEON_RETURN_IF_ERROR(text.status());
  NEON_ASSIGN_OR_RETURN(Heatmap heatmap, Heatmap::Parse(*text));
  {
    absl::MutexLock l(&mu_);
    if (*text != heatmap_text_) {
      heatmap_text_ = *text;
      progress_.heatmap_mtime_us = deps_.clock->NowMicros();
    }
    progress_.heatmap_generation = heatmap.generation;
    upload_period_ms_ = heatmap.upload_period_ms;
    progress_.layers_total = progress_.bytes_total = 0;
    progress_.layers_downloaded = progress_.bytes_downloaded = progress_.layers_fetched = 0;
    for (const HeatmapTimeline& t : heatmap.timelines) {
      for (const HeatmapLayer& layer : t.layers) {
        ++progress_.layers_total;
        progress_.bytes_total += layer.metadata.file_size;
      }
    }
  }
  std::map<TimelineId, std::set<std::string>> listed;
  const std::string tl_root = JoinPath(dir_, "timelines");
  NEON_RETURN_IF_ERROR(fs.CreateDirs(tl_root));
  for (const HeatmapTimeline& t : heatmap.timelines) {
    const std::string tl_dir = JoinPath(tl_root, t.timeline_id.ToString());
    NEON_RETURN_IF_ERROR(fs.CreateDirs(tl_dir));
    std::set<std::string>& names = listed[t.timeline_id];
    for (const HeatmapLayer& layer : t.layers) {
      names.insert(layer.name);
      if (stopped()) return absl::CancelledError(StrCat("secondary location ", id.ToString(), " stopped"));
      const std::string path = JoinPath(tl_dir, layer.name);
      auto size = fs.GetFileSize(path);
      bool fetched = false;
      if (!size.ok() || *size != layer.metadata.file_size) {
        const std::string key =
            RemoteLayerKey(id, layer.metadata.shard, t.timeline_id, layer.name, layer.metadata.generation);
        NEON_ASSIGN_OR_RETURN(ObjectInfo got, GetFile(store, key, fs, path));
        if (got.size_bytes != layer.metadata.file_size) {
          (void)fs.DeleteFile(path);
          return absl::DataLossError(StrCat("downloaded ", key, ": ", got.size_bytes,
                                            " bytes, the heatmap says ", layer.metadata.file_size));
        }
        fetched = true;
      }
      absl::MutexLock l(&mu_);
      ++progress_.layers_downloaded;
      progress_.bytes_downloaded += layer.metadata.file_size;
      if (fetched) ++progress_.layers_fetched;
    }
  }
  return RemoveUnlisted(listed);
}

absl::Status SecondaryLocation::RemoveUnlisted(const std::map<TimelineId, std::set<std::string>>& listed) {
  FileSystem& fs = *deps_.fs;
  const std::string tl_root = JoinPath(dir_, "timelines");
  NEON_ASSIGN_OR_RETURN(auto timelines, fs.GetChildren(tl_root));
  for (const std::string& c : timelines) {
    auto tid = TimelineId::Parse(c);
    auto it = tid.ok() ? listed.find(*tid) : listed.end();
    if (it == listed.end()) {
      NEON_RETURN_IF_ERROR(DeleteRecursively(fs, JoinPath(tl_root, c)));
      continue;
    }
    const std::string tl_dir = JoinPath(tl_root, c);
    NEON_ASSIGN_OR_RETURN(auto files, fs.GetChildren(tl_dir));
    for (const std::string& f : files) {
      if (!it->second.contains(f)) NEON_RETURN_IF_ERROR(fs.DeleteFile(JoinPath(tl_dir, f)));
    }
  }
  return fs.SyncDir(tl_root);
}

}  // namespace neon
