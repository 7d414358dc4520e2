// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "remote/remote_timeline_client.h"

#include <algorithm>

#include "base/check.h"
#include "base/status_macros.h"
#include "base/str_cat.h"

namespace neon {
namespace {

// Ops examined per scheduling decision (the queue may be longer).
constexpr size_t kMaxOpsScanned = 256;

// Reads an open file front to back; rewinds for retries.
class OpenFileSource final : public ObjectSource {
 public:
  OpenFileSource(std::shared_ptr<RandomAccessFile> file, uint64_t size)
      : file_(std::move(file)), size_(size) {}
  absl::StatusOr<size_t> Read(char* buf, size_t n) override {
    n = static_cast<size_t>(std::min<uint64_t>(n, size_ - pos_));
    if (n == 0) return size_t{0};
    NEON_ASSIGN_OR_RETURN(size_t got, file_->Read(pos_, n, buf));
    if (got == 0) return absl::DataLossError(StrCat("layer file shorter than its ", size_, " bytes"));
    pos_ += got;
    return got;
  }
  absl::Status Rewind() override {
    pos_ = 0;
    return absl::OkStatus();
  }

 private:
  std::shared_ptr<RandomAccessFile> file_;
  const uint64_t size_;
  uint64_t pos_ = 0;
};

}  // namespace

RemoteTimelineClient::RemoteTimelineClient(std::shared_ptr<ObjectStore> store,
                                           FileSystem* fs, Executor* executor,
                                           std::shared_ptr<DeletionQueue> deletions,
                                           RemoteTimelineClientOptions options, IndexPart uploaded)
    : store_(std::move(store)),
      fs_(fs),
      executor_(executor),
      deletions_(std::move(deletions)),
      options_(std::move(options)),
      dirty_(uploaded),
      uploaded_(std::make_shared<const IndexPart>(std::move(uploaded))) {
  NEON_CHECK(options_.max_inflight >= 1);
  remote_consistent_lsn_ = uploaded_->metadata.disk_consistent_lsn;
}

std::shared_ptr<RemoteTimelineClient> RemoteTimelineClient::Create(
    std::shared_ptr<ObjectStore> store, FileSystem* fs, Executor* executor,
    std::shared_ptr<DeletionQueue> deletions, RemoteTimelineClientOptions options, IndexPart uploaded) {
  return std::make_shared<RemoteTimelineClient>(std::move(store), fs, executor,
                                                std::move(deletions), std::move(options),
                                                std::move(uploaded));
}

std::string RemoteTimelineClient::KeyOf(const std::string& name, const IndexLayerMetadata& m) const {
  return RemoteLayerKey(options_.tenant, m.shard, options_.timeline, name, m.generation);
}

absl::Status RemoteTimelineClient::ScheduleUpdate(const std::vector<LocalLayer>& add,
                                                  const std::vector<std::string>& remove,
                                                  const std::optional<IndexMetadata>& metadata) {
  std::vector<Op> uploads;
  for (const LocalLayer& l : add) {
    NEON_RETURN_IF_ERROR(ValidateLayerName(l.name));
    Op op;
    op.kind = OpKind::kUploadLayer;
    op.key = KeyOf(l.name, IndexLayerMetadata{l.file_size, options_.generation, options_.tenant.shard});
    NEON_ASSIGN_OR_RETURN(auto file, fs_->NewRandomAccessFile(l.path));
    op.file = std::move(file);
    op.file_size = l.file_size;
    uploads.push_back(std::move(op));
  }
  absl::MutexLock lock(&mu_);
  if (shutdown_) return absl::CancelledError("remote timeline client is shut down");
  if (ops_.size() + uploads.size() + 2 > kMaxQueuedRemoteOps) {
    return absl::ResourceExhaustedError(StrCat("upload queue of timeline ", options_.timeline.ToString(),
                                               " is full (", ops_.size(), " operations)"));
  }
  for (const LocalLayer& l : add) {
    dirty_.layer_metadata[l.name] = IndexLayerMetadata{l.file_size, options_.generation, options_.tenant.shard};
  }
  std::vector<std::string> removed_keys;
  for (const std::string& name : remove) {
    auto it = dirty_.layer_metadata.find(name);
    if (it == dirty_.layer_metadata.end()) continue;
    removed_keys.push_back(KeyOf(name, it->second));
    dirty_.layer_metadata.erase(it);
  }
  if (metadata) dirty_.metadata = *metadata;
  for (Op& op : uploads) {
    op.id = next_op_id_++;
    ops_.push_back(std::move(op));
  }
  Op index;
  index.id = next_op_id_++;
  index.kind = OpKind::kUploadIndex;
  index.index = std::make_shared<const IndexPart>(dirty_);
  ops_.push_back(std::move(index));
  if (!removed_keys.empty()) {
    Op del;
    del.id = next_op_id_++;
    del.kind = OpKind::kDelete;
    del.delete_keys = std::move(removed_keys);
    ops_.push_back(std::move(del));
  }
  stalled_ = false;
  PumpLocked();
  return absl::OkStatus();
}

bool RemoteTimelineClient::ReadyLocked(size_t pos) const {
  const Op& op = ops_[pos];
  if (op.running || running_ >= options_.max_inflight) return false;
  if (op.kind != OpKind::kUploadLayer) return pos == 0;  // everything before it has finished
  for (size_t i = 0; i < pos; i++) {
    const Op& before = ops_[i];
    if (before.kind == OpKind::kUploadLayer && before.key == op.key) return false;
    if (before.kind == OpKind::kDelete &&
        std::find(before.delete_keys.begin(), before.delete_keys.end(), op.key) != before.delete_keys.end()) {
      return false;
    }
  }
  return true;
}

RemoteTimelineClient::Op* RemoteTimelineClient::ClaimLocked() {
  if (shutdown_) return nullptr;
  // Coalesce: an index upload directly followed by another is redundant.
  while (ops_.size() > 1 && ops_[0].kind == OpKind::kUploadIndex && !ops_[0].running &&
         ops_[1].kind == OpKind::kUploadIndex) {
    ops_.pop_front();
  }
  for (size_t pos = 0; pos < ops_.size() && pos < kMaxOpsScanned; pos++) {
    if (!ReadyLocked(pos)) continue;
    ops_[pos].running = true;
    running_++;
    return &ops_[pos];
  }
  return nullptr;
}

absl::Status RemoteTimelineClient::UploadLayer(const Op& op) {
  OpenFileSource source(op.file, op.file_size);
  return Annotate(store_->Put(op.key, source), StrCat("uploading ", op.key));
}

absl::Status RemoteTimelineClient::Execute(const Op& op) {
  switch (op.kind) {
    case OpKind::kUploadLayer:
      return UploadLayer(op);
    case OpKind::kUploadIndex: {
      std::string key = RemoteIndexKey(options_.tenant, options_.timeline, options_.generation);
      return Annotate(PutString(*store_, key, op.index->Serialize()), StrCat("uploading ", key));
    }
    case OpKind::kDelete:
      if (deletions_ == nullptr) return absl::OkStatus();  // leaked: no deletion queue
      return deletions_->Enqueue(options_.tenant, options_.generation, op.delete_keys);
  }
  return absl::InternalError("unknown remote operation");
}

void RemoteTimelineClient::FinishLocked(uint64_t id, const absl::Status& s) {
  running_--;
  op_done_.SignalAll();
  auto it = std::find_if(ops_.begin(), ops_.end(), [&](const Op& op) { return op.id == id; });
  NEON_CHECK(it != ops_.end());
  it->running = false;
  if (!s.ok()) {
    last_error_ = s;
    stalled_ = true;
    return;
  }
  if (it->kind == OpKind::kUploadIndex) {
    uploaded_ = it->index;
    remote_consistent_lsn_ = std::max(remote_consistent_lsn_, uploaded_->metadata.disk_consistent_lsn);
  }
  ops_.erase(it);
}

bool RemoteTimelineClient::RunOne(absl::Status* result) {
  Op op;
  {
    absl::MutexLock lock(&mu_);
    Op* claimed = ClaimLocked();
    if (claimed == nullptr) return false;
    op = *claimed;
  }
  absl::Status s = Execute(op);
  absl::MutexLock lock(&mu_);
  FinishLocked(op.id, s);
  PumpLocked();
  *result = s;
  return true;
}

void RemoteTimelineClient::PumpLocked() {
  if (executor_ == nullptr || shutdown_ || stalled_) return;
  int ready = 0;
  for (size_t pos = 0; pos < ops_.size() && pos < kMaxOpsScanned; pos++) {
    if (ReadyLocked(pos)) ready++;
  }
  int wanted = std::min(ready, options_.max_inflight - running_) - tasks_scheduled_;
  std::weak_ptr<RemoteTimelineClient> weak = weak_from_this();
  for (int i = 0; i < wanted; i++) {
    tasks_scheduled_++;
    executor_->Schedule([weak] {
      auto self = weak.lock();
      if (!self) return;
      {
        absl::MutexLock lock(&self->mu_);
        self->tasks_scheduled_--;
      }
      absl::Status ignored;  // failures are kept in last_error_ and retried later
      self->RunOne(&ignored);
    });
  }
}

absl::Status RemoteTimelineClient::Drain() {
  for (;;) {
    absl::Status s;
    if (RunOne(&s)) {
      if (!s.ok()) return s;
      continue;
    }
    absl::MutexLock lock(&mu_);
    if (shutdown_) return absl::CancelledError("remote timeline client is shut down");
    if (ops_.empty()) return absl::OkStatus();
    if (running_ == 0) return absl::InternalError("upload queue is stuck");  // a bug
    op_done_.Wait(&mu_);
  }
}

void RemoteTimelineClient::Retry() {
  absl::MutexLock lock(&mu_);
  stalled_ = false;
  PumpLocked();
}

void RemoteTimelineClient::Shutdown() {
  absl::MutexLock lock(&mu_);
  shutdown_ = true;
  while (running_ > 0) op_done_.Wait(&mu_);
}

Lsn RemoteTimelineClient::remote_consistent_lsn() const {
  absl::MutexLock lock(&mu_);
  return remote_consistent_lsn_;
}

IndexPart RemoteTimelineClient::dirty_index() const {
  absl::MutexLock lock(&mu_);
  return dirty_;
}

IndexPart RemoteTimelineClient::uploaded_index() const {
  absl::MutexLock lock(&mu_);
  return *uploaded_;
}

absl::StatusOr<std::string> RemoteTimelineClient::LayerKey(const std::string& name) const {
  absl::MutexLock lock(&mu_);
  auto it = dirty_.layer_metadata.find(name);
  if (it == dirty_.layer_metadata.end()) {
    return absl::NotFoundError(StrCat("layer ", name, " is not in timeline ", options_.timeline.ToString()));
  }
  return KeyOf(name, it->second);
}

bool RemoteTimelineClient::IsUploaded(const std::string& name) const {
  absl::MutexLock lock(&mu_);
  return uploaded_->layer_metadata.count(name) > 0;
}

size_t RemoteTimelineClient::queued_ops() const {
  absl::MutexLock lock(&mu_);
  return ops_.size();
}

absl::Status RemoteTimelineClient::last_error() const {
  absl::MutexLock lock(&mu_);
  return last_error_;
}

}  // namespace neon
