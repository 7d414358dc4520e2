// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "engine/layer_handle.h"

#include <algorithm>

#include "base/status_macros.h"
#include "base/str_cat.h"

namespace neon {

LayerHandle::LayerHandle(const LayerHandleContext& ctx, std::string name, std::string path,
                         uint64_t size)
    : ctx_(ctx), name_(std::move(name)), path_(std::move(path)), size_(size) {}

std::shared_ptr<LayerHandle> LayerHandle::Resident(const LayerHandleContext& ctx, std::string name,
                                                   std::string path, uint64_t size,
                                                   std::shared_ptr<LayerReader> reader) {
  auto h = std::make_shared<LayerHandle>(ctx, std::move(name), std::move(path), size);
  {
    absl::MutexLock l(&h->mu_);
    h->reader_ = std::move(reader);
  }
  h->Touch();
  if (ctx.residence != nullptr) ctx.residence->Add(h);
  return h;
}

std::shared_ptr<LayerHandle> LayerHandle::Remote(const LayerHandleContext& ctx, std::string name,
                                                 std::string path, uint64_t size) {
  return std::make_shared<LayerHandle>(ctx, std::move(name), std::move(path), size);
}

LayerHandle::~LayerHandle() {
  if (ctx_.residence != nullptr) ctx_.residence->Remove(this);
}

void LayerHandle::Touch() {
  if (ctx_.residence != nullptr) last_used_.store(ctx_.residence->NextStamp(), std::memory_order_relaxed);
}

bool LayerHandle::resident() const {
  absl::ReaderMutexLock l(&mu_);
  return reader_ != nullptr;
}

absl::Status LayerHandle::Download() {
  if (ctx_.remote == nullptr || ctx_.store == nullptr) {
    return absl::DataLossError(StrCat("layer file ", path_, " is missing and there is no remote storage"));
  }
  NEON_ASSIGN_OR_RETURN(std::string key, ctx_.remote->LayerKey(name_));
  NEON_ASSIGN_OR_RETURN(ObjectInfo info, GetFile(*ctx_.store, key, *ctx_.fs, path_));
  if (info.size_bytes != size_) {
    (void)ctx_.fs->DeleteFile(path_);
    return absl::DataLossError(StrCat("downloaded ", key, ": ", info.size_bytes, " bytes, the index says ", size_));
  }
  NEON_ASSIGN_OR_RETURN(reader_, LayerReader::Open(ctx_.fs, path_, ctx_.cache));
  if (ctx_.residence != nullptr) ctx_.residence->CountDownload();
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<LayerReader>> LayerHandle::Reader() {
  Touch();
  {
    absl::ReaderMutexLock l(&mu_);
    if (reader_ != nullptr) return reader_;
  }
  std::shared_ptr<LayerReader> reader;
  bool track = false;
  {
    absl::MutexLock l(&mu_);
    if (reader_ == nullptr) {
      NEON_RETURN_IF_ERROR_CTX(Download(), StrCat("on-demand download of layer ", name_));
      track = !removed_;
      // A reader of an older layer map reached a layer that has left the
      // timeline: keep the file open but not in the directory.
      if (removed_) NEON_RETURN_IF_ERROR(ctx_.fs->DeleteFile(path_));
    }
    reader = reader_;
  }
  if (track && ctx_.residence != nullptr) {
    ctx_.residence->Add(shared_from_this());
    NEON_RETURN_IF_ERROR(ctx_.residence->EnforceBudget());
  }
  return reader;
}

absl::StatusOr<uint64_t> LayerHandle::Evict() {
  if (ctx_.remote == nullptr || !ctx_.remote->IsUploaded(name_)) return uint64_t{0};
  {
    absl::MutexLock l(&mu_);
    if (reader_ == nullptr || removed_) return uint64_t{0};
    reader_.reset();
    absl::Status s = ctx_.fs->DeleteFile(path_);
    if (!s.ok() && !absl::IsNotFound(s)) return s;
  }
  if (ctx_.residence != nullptr) ctx_.residence->Remove(this);
  return size_;
}

absl::Status LayerHandle::RemoveLocal() {
  {
    absl::MutexLock l(&mu_);
    if (removed_) return absl::OkStatus();
    removed_ = true;
    if (reader_ != nullptr) {
      absl::Status s = ctx_.fs->DeleteFile(path_);
      if (!s.ok() && !absl::IsNotFound(s)) return s;
    }
  }
  if (ctx_.residence != nullptr) ctx_.residence->Remove(this);
  return absl::OkStatus();
}

}  // namespace neon
