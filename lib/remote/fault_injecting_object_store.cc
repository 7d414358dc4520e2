// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "remote/fault_injecting_object_store.h"

#include <string>

#include "base/str_cat.h"

namespace neon {
namespace {

absl::Status Injected(std::string_view op, std::string_view key) {
  return absl::UnavailableError(StrCat("injected fault: ", op, " '", key, "'"));
}

}  // namespace

FaultInjectingObjectStore::FaultInjectingObjectStore(std::shared_ptr<ObjectStore> inner,
                                                     ObjectFaultOptions options)
    : inner_(std::move(inner)), options_(options), rng_(options.seed) {}

void FaultInjectingObjectStore::SetOptions(const ObjectFaultOptions& options) {
  absl::MutexLock l(&mu_);
  options_ = options;
}

int64_t FaultInjectingObjectStore::injected_failures() const {
  absl::MutexLock l(&mu_);
  return injected_;
}

int64_t FaultInjectingObjectStore::calls() const {
  absl::MutexLock l(&mu_);
  return calls_;
}

bool FaultInjectingObjectStore::ShouldFail(std::string_view op, std::span<const std::string> keys) {
  absl::MutexLock l(&mu_);
  ++calls_;
  bool fail = false;
  for (const std::string& key : keys) {
    int& n = attempts_[StrCat(op, " ", key)];
    if (n++ < options_.fail_first_attempts) fail = true;
  }
  if (options_.failure_probability > 0 &&
      std::uniform_real_distribution<double>(0, 1)(rng_) < options_.failure_probability) {
    fail = true;
  }
  if (fail) ++injected_;
  return fail;
}

bool FaultInjectingObjectStore::ShouldFail(std::string_view op, std::string_view key) {
  std::string k(key);
  return ShouldFail(op, std::span<const std::string>(&k, 1));
}

absl::Status FaultInjectingObjectStore::Put(std::string_view key, ObjectSource& source) {
  if (ShouldFail("put", key)) {
    bool consume;
    {
      absl::MutexLock l(&mu_);
      consume = options_.consume_source_before_failing;
    }
    if (consume) {
      std::string buf(4096, '\0');
      source.Read(buf.data(), buf.size()).IgnoreError();
    }
    return Injected("put", key);
  }
  return inner_->Put(key, source);
}

absl::StatusOr<ObjectInfo> FaultInjectingObjectStore::Get(std::string_view key, const ByteRange& range,
                                                          const ObjectSink& sink) {
  if (!ShouldFail("get", key)) return inner_->Get(key, range, sink);
  uint64_t budget;
  {
    absl::MutexLock l(&mu_);
    budget = options_.midstream_bytes;
  }
  if (budget > 0) {
    // Deliver a prefix, then break the stream.
    auto partial = inner_->Get(key, range, [&](std::string_view chunk) {
      if (budget == 0) return Injected("get (midstream)", key);
      std::string_view part = chunk.substr(0, std::min<uint64_t>(budget, chunk.size()));
      budget -= part.size();
      absl::Status s = sink(part);
      if (!s.ok()) return s;
      return part.size() < chunk.size() ? Injected("get (midstream)", key) : absl::OkStatus();
    });
    if (!partial.ok()) return partial.status();
  }
  return Injected("get", key);
}

absl::StatusOr<ObjectInfo> FaultInjectingObjectStore::Head(std::string_view key) {
  if (ShouldFail("head", key)) return Injected("head", key);
  return inner_->Head(key);
}

absl::StatusOr<ListResult> FaultInjectingObjectStore::List(const ListRequest& request) {
  if (ShouldFail("list", StrCat(request.prefix, "|", request.continuation_token))) {
    return Injected("list", request.prefix);
  }
  return inner_->List(request);
}

absl::Status FaultInjectingObjectStore::DeleteBatch(std::span<const std::string> keys) {
  if (ShouldFail("delete", keys)) return Injected("delete", keys.empty() ? "" : keys.front());
  return inner_->DeleteBatch(keys);
}

absl::Status FaultInjectingObjectStore::Copy(std::string_view from, std::string_view to) {
  if (ShouldFail("copy", StrCat(from, "->", to))) return Injected("copy", from);
  return inner_->Copy(from, to);
}

}  // namespace neon
