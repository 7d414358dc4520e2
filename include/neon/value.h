// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Value: what the page store holds at one (Key, Lsn). Either a full image of
// the page, or a record that must be applied to an older version:
//   * a raw Postgres WAL record (the whole XLogRecord), applied by Postgres's
//     own redo routines through a RedoManager;
//   * an engine record the engine applies itself (visibility-map bits, CLOG
//     status, multixact offsets/members, a test record).
// The serialized form is Neon's bincode layout (doc/format/value.md), so a
// value's bytes are the same here as in Neon's layer files.
//
// Thread safety: plain value types.

#ifndef NEON_INCLUDE_NEON_VALUE_H_
#define NEON_INCLUDE_NEON_VALUE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"

namespace neon {

// ---- Records ----------------------------------------------------------------

struct PostgresRecord {
  bool will_init = false;  // the record initializes the page (no base image needed)
  std::string rec;         // the entire raw XLogRecord
  friend bool operator==(const PostgresRecord&, const PostgresRecord&) = default;
};

struct ClearVisibilityMapFlags {
  std::optional<uint32_t> new_heap_blkno;
  std::optional<uint32_t> old_heap_blkno;
  uint8_t flags = 0;
  friend bool operator==(const ClearVisibilityMapFlags&, const ClearVisibilityMapFlags&) = default;
};

struct ClogSetCommitted {
  std::vector<uint32_t> xids;
  int64_t timestamp = 0;  // Postgres TimestampTz (microseconds since 2000-01-01)
  friend bool operator==(const ClogSetCommitted&, const ClogSetCommitted&) = default;
};

struct ClogSetAborted {
  std::vector<uint32_t> xids;
  friend bool operator==(const ClogSetAborted&, const ClogSetAborted&) = default;
};

struct MultixactOffsetCreate {
  uint32_t mid = 0;
  uint32_t moff = 0;
  friend bool operator==(const MultixactOffsetCreate&, const MultixactOffsetCreate&) = default;
};

struct MultixactMember {
  uint32_t xid = 0;
  uint32_t status = 0;
  friend bool operator==(const MultixactMember&, const MultixactMember&) = default;
};

struct MultixactMembersCreate {
  uint32_t moff = 0;
  std::vector<MultixactMember> members;
  friend bool operator==(const MultixactMembersCreate&, const MultixactMembersCreate&) = default;
};

struct TruncateVisibilityMap {
  uint64_t trunc_byte = 0;
  uint64_t trunc_offs = 0;
  friend bool operator==(const TruncateVisibilityMap&, const TruncateVisibilityMap&) = default;
};

// For tests: appends `append` to the page (after clearing it if `clear`).
struct TestRecord {
  std::string append;
  bool clear = false;
  bool will_init = false;
  friend bool operator==(const TestRecord&, const TestRecord&) = default;
};

// Discriminants are persistent (Neon's NeonWalRecord numbering): never renumber.
enum class RecordKind : uint32_t {
  kPostgres = 0,
  kClearVisibilityMapFlags = 1,
  kClogSetCommitted = 2,
  kClogSetAborted = 3,
  kMultixactOffsetCreate = 4,
  kMultixactMembersCreate = 5,
  // 6 = AuxFile (legacy in Neon; never written here)
  kTruncateVisibilityMap = 7,
  kTest = 8,
};

using Record = std::variant<PostgresRecord, ClearVisibilityMapFlags, ClogSetCommitted,
                            ClogSetAborted, MultixactOffsetCreate, MultixactMembersCreate,
                            TruncateVisibilityMap, TestRecord>;

RecordKind KindOf(const Record& r);
// True if the record needs no older version of the page to apply.
bool RecordWillInit(const Record& r);

// ---- Value ------------------------------------------------------------------

class Value {
 public:
  static Value Image(std::string page) { return Value(std::move(page)); }
  static Value FromRecord(Record r) { return Value(std::move(r)); }

  bool is_image() const { return std::holds_alternative<std::string>(v_); }
  bool is_record() const { return !is_image(); }
  // REQUIRES: is_image().
  const std::string& image() const { return std::get<std::string>(v_); }
  // Moves the page out, leaving an empty image. REQUIRES: is_image().
  std::string ReleaseImage() { return std::move(std::get<std::string>(v_)); }
  // REQUIRES: is_record().
  const Record& record() const { return std::get<Record>(v_); }

  // Images and will-init records end a reconstruction: nothing older is needed.
  bool will_init() const { return is_image() || RecordWillInit(record()); }

  // Neon's bincode (big-endian) serialization.
  std::string Serialize() const;
  void AppendSerialized(std::string* out) const;
  // DataLoss on malformed input (unknown discriminant, truncated, trailing bytes).
  static absl::StatusOr<Value> Deserialize(std::string_view data);
  // will_init of a serialized value without decoding it (Neon's fast test).
  static bool SerializedWillInit(std::string_view data);

  friend bool operator==(const Value&, const Value&) = default;

 private:
  explicit Value(std::string page) : v_(std::move(page)) {}
  explicit Value(Record r) : v_(std::move(r)) {}
  std::variant<std::string, Record> v_;
};

}  // namespace neon

#endif  // NEON_INCLUDE_NEON_VALUE_H_
