// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// ObjectStore: the seam to durable object storage (S3 or a local directory).
// Pageservers keep only a cache on local disk; objects written here are the
// truth. Keys are UTF-8 strings such as
// "tenants/<tenant_shard>/timelines/<timeline>/<layer>-<generation:08x>".
//
// Implementations: NewLocalObjectStore() (a directory through a FileSystem,
// atomic publish by rename) and NewS3ObjectStore() (the S3 REST API over
// libcurl, AWS Signature V4). lib/remote also has test doubles: a
// fault-injecting wrapper and a retrying wrapper.
//
// Semantics (S3's): a Put publishes the whole object atomically (readers see
// the old object or the new one, never a mix); a key lists once it is
// published; Delete of a missing key succeeds; List returns keys in ascending
// byte order.
//
// Keys: 1..kMaxObjectKeyBytes bytes; no leading '/', no empty, "." or ".."
// path components, no control characters. Others are InvalidArgument.
//
// Errors: NotFound for a missing object; InvalidArgument for a bad key, range
// or request; PermissionDenied for refused credentials (HTTP 403); Unavailable
// for transient failures (network, HTTP 5xx, throttling) that remained after
// the store's own retries; DataLoss when bytes fail an integrity check;
// OutOfRange for a byte range starting past the end of the object.
//
// Thread safety: every ObjectStore method may be called concurrently. An
// ObjectSource or sink is used by one call at a time.

#ifndef NEON_INCLUDE_NEON_OBJECT_STORE_H_
#define NEON_INCLUDE_NEON_OBJECT_STORE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "neon/clock.h"
#include "neon/file_system.h"

namespace neon {

// ---- Bounds ---------------------------------------------------------------
inline constexpr size_t kMaxObjectKeyBytes = 1024;       // S3's limit
inline constexpr size_t kMaxDeleteBatchKeys = 1000;      // S3 DeleteObjects' limit
inline constexpr int kMaxListKeys = 1000;                // S3 ListObjectsV2's page limit
inline constexpr uint64_t kMinMultipartPartBytes = 5ull << 20;   // S3: all parts but the last
inline constexpr uint64_t kMaxMultipartPartBytes = 512ull << 20;  // our bound on one buffered part
inline constexpr int kMaxMultipartParts = 10000;         // S3's limit
// Streams move through buffers of this size (file reads, downloads).
inline constexpr size_t kObjectStreamChunkBytes = 1ull << 20;

// What Head, Get and List report about an object.
struct ObjectInfo {
  std::string key;
  uint64_t size_bytes = 0;
  // Opaque, quoted or not as the store returns it; changes when the content
  // changes. For objects written in one part both stores return the hex MD5
  // of the content (LocalObjectStore computes it; S3 reports it).
  // LocalObjectStore leaves it empty in List results and ranged Gets.
  std::string etag;
};

// Bytes to upload, read once front to back. Read fills up to `n` bytes of
// `buf` and returns how many; 0 means the end. Rewind restarts from the first
// byte (a retrying caller uses it); sources that cannot return
// FailedPrecondition.
class ObjectSource {
 public:
  virtual ~ObjectSource() = default;
  virtual absl::StatusOr<size_t> Read(char* buf, size_t n) = 0;
  virtual absl::Status Rewind() { return absl::FailedPreconditionError("source cannot rewind"); }
};

// A reader callback with ObjectSource::Read's contract.
using ObjectReader = std::function<absl::StatusOr<size_t>(char* buf, size_t n)>;
// Receives downloaded bytes in order, in chunks of at most
// kObjectStreamChunkBytes. An error stops the download and is returned.
using ObjectSink = std::function<absl::Status(std::string_view chunk)>;

// Sources. The string source does not copy: `data` must outlive it.
std::unique_ptr<ObjectSource> NewStringSource(std::string_view data);
std::unique_ptr<ObjectSource> NewReaderSource(ObjectReader reader);  // cannot rewind
absl::StatusOr<std::unique_ptr<ObjectSource>> NewFileSource(FileSystem& fs, const std::string& path);

struct ByteRange {
  uint64_t offset = 0;
  // Bytes wanted from `offset`; nullopt = to the end; 0 is InvalidArgument.
  // A range running past the end is cut at the end; one starting at or past
  // the end is OutOfRange (except the whole-object range {0, nullopt}).
  std::optional<uint64_t> length;
};

struct ListRequest {
  std::string prefix;
  // Empty: no grouping. Otherwise keys with `delimiter` after the prefix are
  // rolled up into common prefixes (prefix up to and including the delimiter).
  std::string delimiter;
  // From the previous page's next_continuation_token; empty for the first page.
  std::string continuation_token;
  int max_keys = kMaxListKeys;  // 1..kMaxListKeys; counts keys and common prefixes
};

struct ListResult {
  std::vector<ObjectInfo> objects;          // ascending by key
  std::vector<std::string> common_prefixes; // ascending
  std::string next_continuation_token;      // empty when this was the last page
};

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  // Uploads the source's bytes as `key`, replacing any object there. The
  // object appears atomically once complete; on failure nothing new is
  // visible (a multipart upload is aborted). Memory use is bounded by the
  // store's part size, whatever the object size.
  virtual absl::Status Put(std::string_view key, ObjectSource& source) = 0;

  // Streams the object's bytes (or `range` of them) into `sink` and returns
  // the object's info (size_bytes is the whole object's size). On error the
  // sink may have received a prefix of the bytes.
  virtual absl::StatusOr<ObjectInfo> Get(std::string_view key, const ByteRange& range,
                                         const ObjectSink& sink) = 0;

  virtual absl::StatusOr<ObjectInfo> Head(std::string_view key) = 0;

  // One page of keys under request.prefix (see ListRequest). ListAll pages.
  virtual absl::StatusOr<ListResult> List(const ListRequest& request) = 0;

  // Deletes up to kMaxDeleteBatchKeys keys; missing keys are not errors.
  // Either every key is deleted or an error is returned (some may be gone).
  virtual absl::Status DeleteBatch(std::span<const std::string> keys) = 0;

  // Server-side copy of `from` to `to` (NotFound if `from` is missing).
  virtual absl::Status Copy(std::string_view from, std::string_view to) = 0;
};

// ---- Helpers over any store ----------------------------------------------
absl::Status PutString(ObjectStore& store, std::string_view key, std::string_view data);
// Uploads a local file, streaming it in bounded chunks.
absl::Status PutFile(ObjectStore& store, std::string_view key, FileSystem& fs, const std::string& path);
// Downloads into a string. Refuses (ResourceExhausted) objects over max_bytes.
absl::StatusOr<std::string> GetString(ObjectStore& store, std::string_view key,
                                      const ByteRange& range = {}, uint64_t max_bytes = 64ull << 20);
// Downloads into `path` atomically (temp file, sync, rename, sync directory).
absl::StatusOr<ObjectInfo> GetFile(ObjectStore& store, std::string_view key, FileSystem& fs,
                                   const std::string& path);
// Every page of a listing, at most max_pages pages (ResourceExhausted beyond).
absl::StatusOr<ListResult> ListAll(ObjectStore& store, std::string_view prefix,
                                   std::string_view delimiter = "", int max_pages = 10000);
// Deletes any number of keys in batches of kMaxDeleteBatchKeys.
absl::Status DeleteKeys(ObjectStore& store, std::span<const std::string> keys);
// OK for a valid key, InvalidArgument (with the reason) otherwise.
absl::Status ValidateObjectKey(std::string_view key);

// ---- The local-directory store -------------------------------------------
// Objects are files under `root` (key "a/b" is root/a/b); published by writing
// a hidden temp file, syncing it, renaming it into place and syncing the
// directory. `root` is created if missing. A key that is also a "directory"
// of another key ("a" and "a/b") cannot exist in this store
// (FailedPrecondition).
absl::StatusOr<std::shared_ptr<ObjectStore>> NewLocalObjectStore(std::shared_ptr<FileSystem> fs,
                                                                 std::string root);

// ---- The S3 store ---------------------------------------------------------
struct S3Options {
  std::string bucket;
  std::string region = "us-east-1";
  // Empty: https://s3.<region>.amazonaws.com. Otherwise a URL such as
  // "http://127.0.0.1:4568" (an S3-compatible server).
  std::string endpoint;
  // Path-style (endpoint/bucket/key) or virtual-hosted (bucket.endpoint/key).
  bool path_style = false;
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty: none
  // Every object key is stored under this prefix (e.g. "pageserver/").
  std::string key_prefix;

  // Objects above this size are uploaded in parts of multipart_part_bytes.
  uint64_t multipart_threshold_bytes = 16ull << 20;
  uint64_t multipart_part_bytes = 8ull << 20;  // kMinMultipartPartBytes..kMaxMultipartPartBytes

  // Timeouts and retries (5xx, 429/throttling and network errors; never other 4xx).
  int64_t connect_timeout_ms = 10'000;
  // A transfer slower than 1 KiB/s for this long is abandoned (and retried).
  int64_t low_speed_timeout_ms = 30'000;
  int max_attempts = 8;               // per request, >= 1
  int64_t base_backoff_ms = 100;      // doubled per attempt, with full jitter
  int64_t max_backoff_ms = 10'000;    // cap of one sleep
  int64_t retry_deadline_ms = 120'000;  // no new attempt after this long
  int max_idle_connections = 8;       // pooled curl handles kept for reuse

  std::shared_ptr<Clock> clock;       // null: the real clock
  uint64_t jitter_seed = 0;           // 0: seeded from the clock
};

// Fills credentials, region and endpoint from AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION (or
// AWS_DEFAULT_REGION) and AWS_ENDPOINT_URL when set; other fields unchanged.
S3Options S3OptionsFromEnvironment(S3Options base = {});

// InvalidArgument for inconsistent options (no bucket, bad part size...).
absl::StatusOr<std::shared_ptr<ObjectStore>> NewS3ObjectStore(S3Options options);

}  // namespace neon

#endif  // NEON_INCLUDE_NEON_OBJECT_STORE_H_
