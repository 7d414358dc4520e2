// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "remote/retrying_object_store.h"

#include <algorithm>

#include "base/status_macros.h"
#include "base/str_cat.h"

namespace neon {

RetryingObjectStore::RetryingObjectStore(std::shared_ptr<ObjectStore> inner, RetryPolicy policy,
                                         std::shared_ptr<Clock> clock, uint64_t seed)
    : inner_(std::move(inner)), policy_(policy), clock_(std::move(clock)), seed_(seed) {}

absl::Status RetryingObjectStore::Put(std::string_view key, ObjectSource& source) {
  Retrier retrier = NewRetrier();
  while (true) {
    absl::Status s = inner_->Put(key, source);
    if (!retrier.ShouldRetry(s)) return s;
    if (!source.Rewind().ok()) return s;
  }
}

absl::StatusOr<ObjectInfo> RetryingObjectStore::Get(std::string_view key, const ByteRange& range,
                                                    const ObjectSink& sink) {
  Retrier retrier = NewRetrier();
  uint64_t delivered = 0;
  bool sink_failed = false;
  auto counting = [&](std::string_view chunk) {
    absl::Status s = sink(chunk);
    if (!s.ok()) {
      sink_failed = true;
      return s;
    }
    delivered += chunk.size();
    return absl::OkStatus();
  };
  while (true) {
    absl::StatusOr<ObjectInfo> r;
    if (delivered == 0) {
      r = inner_->Get(key, range, counting);
    } else {
      // Resume: the object's size tells whether anything is left.
      r = inner_->Head(key);
      if (r.ok()) {
        uint64_t end = range.length ? std::min(r->size_bytes, range.offset + *range.length) : r->size_bytes;
        uint64_t from = range.offset + delivered;
        if (from < end) {
          ObjectInfo whole = *r;
          r = inner_->Get(key, ByteRange{from, end - from}, counting);
          if (r.ok()) r = whole;
        }
      }
    }
    if (r.ok() || sink_failed || !retrier.ShouldRetry(r.status())) return r;
  }
}

absl::StatusOr<ObjectInfo> RetryingObjectStore::Head(std::string_view key) {
  Retrier retrier = NewRetrier();
  while (true) {
    auto r = inner_->Head(key);
    if (!retrier.ShouldRetry(r.status())) return r;
  }
}

absl::StatusOr<ListResult> RetryingObjectStore::List(const ListRequest& request) {
  Retrier retrier = NewRetrier();
  while (true) {
    auto r = inner_->List(request);
    if (!retrier.ShouldRetry(r.status())) return r;
  }
}

absl::Status RetryingObjectStore::DeleteBatch(std::span<const std::string> keys) {
  Retrier retrier = NewRetrier();
  while (true) {
    absl::Status s = inner_->DeleteBatch(keys);
    if (!retrier.ShouldRetry(s)) return s;
  }
}

absl::Status RetryingObjectStore::Copy(std::string_view from, std::string_view to) {
  Retrier retrier = NewRetrier();
  while (true) {
    absl::Status s = inner_->Copy(from, to);
    if (!retrier.ShouldRetry(s)) return s;
  }
}

}  // namespace neon
