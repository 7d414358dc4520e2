// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// The acceptor's persistent state and its control file
// (<dir>/safekeeper.control; grammar in doc/format/consensus-wire.md).
//
// A save writes <dir>/safekeeper.control.tmp, syncs it, renames it over the
// control file and syncs the directory, so a crash leaves either the old or
// the new state. A load verifies magic, version and CRC32C: damage is
// DataLoss, a missing file NotFound.
//
// Thread safety: free functions; concurrent saves to one directory are not
// allowed.

#ifndef NEON_LIB_CONSENSUS_CONTROL_FILE_H_
#define NEON_LIB_CONSENSUS_CONTROL_FILE_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "neon/consensus.h"
#include "neon/file_system.h"

namespace neon::consensus {

inline constexpr uint32_t kControlFileMagic = 0xCAFECEEF;
inline constexpr uint32_t kControlFileVersion = 1;
inline constexpr char kControlFileName[] = "safekeeper.control";

// Everything an acceptor must not forget across restarts. The WAL end is not
// here: it is found again by scanning the WAL (WalStorage::Open).
struct PersistentState {
  TenantId tenant_id;
  TimelineId timeline_id;
  MembershipConfig mconf;
  Term term;             // highest term voted for / observed
  TermHistory history;   // may extend beyond the local WAL
  ServerInfo server;
  Lsn timeline_start_lsn;  // where the timeline's WAL begins globally
  Lsn local_start_lsn;     // where this acceptor's WAL begins
  Lsn commit_lsn;          // persisted copy; the live value runs ahead
  Lsn backup_lsn;
  Lsn peer_horizon_lsn;
  Lsn remote_consistent_lsn;

  // A fresh timeline whose WAL starts at `start_lsn`: history [(0, start)],
  // every LSN field at start (Neon's timeline creation).
  static PersistentState NewTimeline(TenantId tenant, TimelineId timeline, MembershipConfig mconf,
                                     ServerInfo server, Lsn start_lsn);
  friend bool operator==(const PersistentState&, const PersistentState&) = default;
};

std::string EncodeControlFile(const PersistentState& state);
// DataLoss on a bad magic, CRC, length or field; FailedPrecondition for a
// version this code does not know.
absl::StatusOr<PersistentState> DecodeControlFile(std::string_view data);

absl::Status SaveControlFile(FileSystem& fs, const std::string& dir, const PersistentState& state);
absl::StatusOr<PersistentState> LoadControlFile(FileSystem& fs, const std::string& dir);

}  // namespace neon::consensus

#endif  // NEON_LIB_CONSENSUS_CONTROL_FILE_H_
