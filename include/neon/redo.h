// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// RedoManager: turns a base image plus records into a page. The engine applies
// its own records (visibility map, CLOG, multixact, test) itself; Postgres WAL
// records go to a RedoManager given in EngineOptions (the WAL-redo process).
//
// Thread safety: Apply may be called concurrently from many readers.

#ifndef NEON_INCLUDE_NEON_REDO_H_
#define NEON_INCLUDE_NEON_REDO_H_

#include <optional>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "neon/key.h"
#include "neon/types.h"
#include "neon/value.h"

namespace neon {

struct RedoRecord {
  Lsn lsn;  // end LSN of the WAL record (the value's LSN)
  const Record* record;
};

class RedoManager {
 public:
  virtual ~RedoManager() = default;
  // Applies `records` (oldest first) to `base` (absent when the first record
  // initializes the page) and returns the page as of `lsn`.
  // Errors: InvalidArgument for records this manager cannot apply, Internal or
  // Unavailable when the redo process fails.
  virtual absl::StatusOr<std::string> Apply(const Key& key, Lsn lsn,
                                            const std::optional<std::string>& base,
                                            std::span<const RedoRecord> records) = 0;
};

}  // namespace neon

#endif  // NEON_INCLUDE_NEON_REDO_H_
