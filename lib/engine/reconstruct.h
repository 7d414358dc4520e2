// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Page reconstruction: turns the versions collected by a read (newest first,
// ending at an image or a will_init record) into the page. Engine records
// (visibility map, CLOG, multixact, test) are applied here, following Neon's
// rules (doc/architecture.md); runs of Postgres records go to the Postgres
// RedoManager.

#ifndef NEON_LIB_ENGINE_RECONSTRUCT_H_
#define NEON_LIB_ENGINE_RECONSTRUCT_H_

#include <optional>
#include <string>
#include <vector>

#include "engine/layer_file.h"
#include "neon/redo.h"

namespace neon {

// Applies one engine record to `page` (which may be resized, e.g. the CLOG
// timestamp trailer). InvalidArgument for Postgres records or records that do
// not fit the page/key (wrong block, out-of-range offsets).
absl::Status ApplyEngineRecord(const Key& key, Lsn lsn, const Record& record, std::string* page);

// `versions` newest first, as collected. `complete` says whether the oldest
// one is an image or a will_init record; if not, the page has no base and
// reconstruction fails with NotFound (no base image). `postgres_redo` may be
// null (then Postgres records fail with FailedPrecondition).
// The contents of `versions` are consumed (moved from).
absl::StatusOr<std::string> Reconstruct(const Key& key, Lsn lsn, std::vector<LayerValue>& versions,
                                        RedoManager* postgres_redo);

// Built-in redo as a RedoManager (engine records only).
class EngineRedoManager final : public RedoManager {
 public:
  absl::StatusOr<std::string> Apply(const Key& key, Lsn lsn, const std::optional<std::string>& base,
                                    std::span<const RedoRecord> records) override;
};

}  // namespace neon

#endif  // NEON_LIB_ENGINE_RECONSTRUCT_H_
