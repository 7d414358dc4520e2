// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// List file format (doc/format/index_part.md, "Deletion lists"):
//   {"version":1,"sequence":N,"tenant":"<tenant_shard>","generation":G|null,
//    "keys":["tenants/...", ...]}

#include "remote/deletion_queue.h"

#include <cstdio>

#include "absl/container/flat_hash_map.h"
#include "base/check.h"
#include "base/status_macros.h"
#include "base/str_cat.h"
#include "remote/json.h"

namespace neon {
namespace {

constexpr uint64_t kDeletionListVersion = 1;
constexpr std::string_view kListSuffix = "-01.list";

std::string EncodeList(uint64_t seq, const TenantShardId& tenant, Generation generation,
                       const std::vector<std::string>& keys) {
  JsonWriter w;
  w.BeginObject();
  w.Key("version").U64(kDeletionListVersion);
  w.Key("sequence").U64(seq);
  w.Key("tenant").String(tenant.ToString());
  w.Key("generation");
  generation.is_none() ? w.Null() : w.U64(generation.value());
  w.Key("keys").BeginArray();
  for (const std::string& k : keys) w.String(k);
  w.EndArray();
  w.EndObject();
  return w.str();
}

// Parses a list; its fields are checked, anything wrong is DataLoss.
absl::Status DecodeList(std::string_view text, uint64_t* seq, TenantShardId* tenant, Generation* generation,
                        std::vector<std::string>* keys) {
  auto inner = [&]() -> absl::Status {
    NEON_ASSIGN_OR_RETURN(JsonValue root, ParseJson(text));
    const JsonValue* version = root.Find("version");
    const JsonValue* sequence = root.Find("sequence");
    const JsonValue* t = root.Find("tenant");
    const JsonValue* g = root.Find("generation");
    const JsonValue* k = root.Find("keys");
    if (!version || !sequence || !t || !g || !k || !k->is_array()) {
      return absl::InvalidArgumentError("missing or mistyped members");
    }
    NEON_ASSIGN_OR_RETURN(uint64_t v, version->GetU64("version"));
    if (v != kDeletionListVersion) return absl::InvalidArgumentError(StrCat("unknown version ", v));
    NEON_ASSIGN_OR_RETURN(*seq, sequence->GetU64("sequence"));
    NEON_ASSIGN_OR_RETURN(std::string tenant_text, t->GetString("tenant"));
    NEON_ASSIGN_OR_RETURN(*tenant, TenantShardId::Parse(tenant_text));
    *generation = Generation::None();
    if (!g->is_null()) {
      NEON_ASSIGN_OR_RETURN(uint64_t gen, g->GetU64("generation"));
      if (gen > UINT32_MAX) return absl::InvalidArgumentError("generation out of range");
      *generation = Generation::Of(static_cast<uint32_t>(gen));
    }
    for (const JsonValue& item : k->items()) {
      NEON_ASSIGN_OR_RETURN(std::string key, item.GetString("key"));
      NEON_RETURN_IF_ERROR(ValidateObjectKey(key));
      keys->push_back(std::move(key));
    }
    return absl::OkStatus();
  }();
  if (!inner.ok()) return absl::DataLossError(StrCat("damaged deletion list: ", inner.message()));
  return absl::OkStatus();
}

}  // namespace

DeletionQueue::DeletionQueue(std::shared_ptr<FileSystem> fs, std::string dir,
                             std::shared_ptr<ObjectStore> store, GenerationValidator validator,
                             Executor* executor)
    : fs_(std::move(fs)),
      dir_(std::move(dir)),
      store_(std::move(store)),
      validator_(std::move(validator)),
      executor_(executor) {}

absl::StatusOr<std::shared_ptr<DeletionQueue>> DeletionQueue::Open(std::shared_ptr<FileSystem> fs,
                                                                   std::string dir,
                                                                   std::shared_ptr<ObjectStore> store,
                                                                   GenerationValidator validator,
                                                                   Executor* executor) {
  auto q = std::make_shared<DeletionQueue>(std::move(fs), std::move(dir), std::move(store),
                                           std::move(validator), executor);
  NEON_RETURN_IF_ERROR(q->Load());
  return q;
}

std::string DeletionQueue::ListPath(uint64_t seq) const {
  char name[32];
  std::snprintf(name, sizeof(name), "%016llx", static_cast<unsigned long long>(seq));
  return JoinPath(dir_, StrCat(name, kListSuffix));
}

absl::Status DeletionQueue::Load() {
  NEON_RETURN_IF_ERROR(fs_->CreateDirs(dir_));
  NEON_ASSIGN_OR_RETURN(auto children, fs_->GetChildren(dir_));
  absl::MutexLock l(&mu_);
  for (const std::string& c : children) {
    std::string path = JoinPath(dir_, c);
    if (c.size() != 16 + kListSuffix.size() || !c.ends_with(kListSuffix)) {
      NEON_RETURN_IF_ERROR(fs_->DeleteFile(path));  // a temp file of an interrupted write
      continue;
    }
    NEON_ASSIGN_OR_RETURN(std::string text, ReadFileToString(*fs_, path));
    uint64_t seq = 0;
    List list;
    NEON_RETURN_IF_ERROR_CTX(DecodeList(text, &seq, &list.tenant, &list.generation, &list.keys), path);
    if (ListPath(seq) != path) return absl::DataLossError(StrCat(path, ": sequence ", seq, " does not match the name"));
    next_seq_ = std::max(next_seq_, seq + 1);
    lists_[seq] = std::move(list);
  }
  stats_.lists_pending = lists_.size();
  return absl::OkStatus();
}

absl::Status DeletionQueue::Enqueue(const TenantShardId& tenant, Generation generation,
                                    const std::vector<std::string>& keys) {
  for (size_t start = 0; start < keys.size(); start += kMaxDeletionListKeys) {
    size_t end = std::min(keys.size(), start + kMaxDeletionListKeys);
    List list{tenant, generation, std::vector<std::string>(keys.begin() + start, keys.begin() + end)};
    uint64_t seq;
    {
      absl::MutexLock l(&mu_);
      seq = next_seq_++;
    }
    NEON_RETURN_IF_ERROR(
        WriteFileAtomic(*fs_, ListPath(seq), EncodeList(seq, tenant, generation, list.keys)));
    absl::MutexLock l(&mu_);
    lists_[seq] = std::move(list);
    stats_.lists_pending = lists_.size();
  }
  ScheduleDrain();
  return absl::OkStatus();
}

void DeletionQueue::ScheduleDrain() {
  if (executor_ == nullptr || shutdown_.load() || drain_scheduled_.exchange(true)) return;
  std::weak_ptr<DeletionQueue> weak = weak_from_this();
  executor_->Schedule([weak] {
    auto self = weak.lock();
    if (!self) return;
    self->drain_scheduled_.store(false);
    if (self->shutdown_.load()) return;
    (void)self->Drain();  // a failure stays queued; the next Enqueue or Drain retries
  });
}

absl::Status DeletionQueue::Drain() {
  absl::MutexLock d(&drain_mu_);
  return DrainLocked();
}

absl::Status DeletionQueue::DrainLocked() {
  std::vector<std::pair<uint64_t, List>> lists;
  {
    absl::MutexLock l(&mu_);
    for (const auto& [seq, list] : lists_) {
      if (lists.size() == kMaxDeletionListsPerDrain) break;
      lists.emplace_back(seq, list);
    }
  }
  if (lists.empty()) return absl::OkStatus();
  // One validation for every distinct (tenant, generation).
  std::vector<TenantGeneration> asks;
  for (const auto& [seq, list] : lists) {
    bool seen = std::any_of(asks.begin(), asks.end(), [&](const TenantGeneration& a) {
      return a.tenant == list.tenant && a.generation == list.generation;
    });
    if (!seen) asks.push_back(TenantGeneration{list.tenant, list.generation});
  }
  std::vector<bool> current(asks.size(), true);
  if (validator_) {
    NEON_ASSIGN_OR_RETURN(current, validator_(asks));
    if (current.size() != asks.size()) {
      return absl::InternalError(StrCat("generation validator answered ", current.size(), " of ",
                                        asks.size(), " requests"));
    }
  }
  std::vector<std::pair<uint64_t, List>> valid;
  for (auto& [seq, list] : lists) {
    size_t i = 0;
    while (!(asks[i].tenant == list.tenant && asks[i].generation == list.generation)) i++;
    if (current[i]) {
      valid.emplace_back(seq, std::move(list));
      continue;
    }
    NEON_RETURN_IF_ERROR(RemoveList(seq));  // stale: another node owns the tenant now
    absl::MutexLock l(&mu_);
    stats_.keys_refused += list.keys.size();
  }
  return DeleteValidated(valid);
}

absl::Status DeletionQueue::DeleteValidated(const std::vector<std::pair<uint64_t, List>>& lists) {
  // All keys in list order; list i is done once ends[i] keys are deleted.
  std::vector<std::string> keys;
  std::vector<size_t> ends;
  for (const auto& [seq, list] : lists) {
    keys.insert(keys.end(), list.keys.begin(), list.keys.end());
    ends.push_back(keys.size());
  }
  size_t deleted = 0, next_list = 0;
  while (next_list < lists.size()) {
    size_t n = std::min(kMaxDeleteBatchKeys, keys.size() - deleted);
    if (n > 0) {
      NEON_RETURN_IF_ERROR(store_->DeleteBatch(std::span<const std::string>(keys.data() + deleted, n)));
    }
    deleted += n;
    {
      absl::MutexLock l(&mu_);
      stats_.keys_deleted += n;
    }
    while (next_list < lists.size() && ends[next_list] <= deleted) {
      NEON_RETURN_IF_ERROR(RemoveList(lists[next_list].first));
      next_list++;
    }
  }
  return absl::OkStatus();
}

absl::Status DeletionQueue::RemoveList(uint64_t seq) {
  // Not synced: a list that comes back after a crash is deleted again.
  NEON_RETURN_IF_ERROR(fs_->DeleteFile(ListPath(seq)));
  absl::MutexLock l(&mu_);
  lists_.erase(seq);
  stats_.lists_pending = lists_.size();
  return absl::OkStatus();
}

DeletionQueue::Stats DeletionQueue::stats() const {
  absl::MutexLock l(&mu_);
  return stats_;
}

void DeletionQueue::Shutdown() {
  shutdown_.store(true);
  absl::MutexLock d(&drain_mu_);
}

}  // namespace neon
