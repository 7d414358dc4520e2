// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "consensus/control_file.h"

#include "base/check.h"
#include "base/crc32c.h"
#include "base/status_macros.h"
#include "consensus/wire_reader.h"

namespace neon::consensus {

using internal::WireReader;
using internal::WireWriter;

PersistentState PersistentState::NewTimeline(TenantId tenant, TimelineId timeline,
                                             MembershipConfig mconf, ServerInfo server,
                                             Lsn start_lsn) {
  NEON_CHECK(start_lsn.valid());
  NEON_CHECK(server.wal_seg_size != 0);
  PersistentState s;
  s.tenant_id = tenant;
  s.timeline_id = timeline;
  s.mconf = std::move(mconf);
  s.term = Term(0);
  s.history = TermHistory({{Term(0), start_lsn}});
  s.server = server;
  s.timeline_start_lsn = s.local_start_lsn = s.commit_lsn = start_lsn;
  s.backup_lsn = s.peer_horizon_lsn = start_lsn;
  s.remote_consistent_lsn = start_lsn;
  return s;
}

std::string EncodeControlFile(const PersistentState& s) {
  WireWriter w(/*little_endian=*/true);
  w.U32(kControlFileMagic);
  w.U32(kControlFileVersion);
  internal::PutId(w, s.tenant_id);
  internal::PutId(w, s.timeline_id);
  internal::PutMembership(w, s.mconf);
  w.U64(s.term.value());
  internal::PutHistory(w, s.history);
  internal::PutServerInfo(w, s.server);
  for (Lsn l : {s.timeline_start_lsn, s.local_start_lsn, s.commit_lsn, s.backup_lsn,
                s.peer_horizon_lsn, s.remote_consistent_lsn}) {
    w.U64(l.value());
  }
  uint32_t crc = crc32c::Value(w.out());
  w.U32(crc);
  return w.Take();
}

namespace {

PersistentState DecodeBody(WireReader& r) {
  PersistentState s;
  s.tenant_id = internal::GetId<TenantId>(r);
  s.timeline_id = internal::GetId<TimelineId>(r);
  s.mconf = internal::GetMembership(r);
  s.term = Term(r.U64());
  s.history = internal::GetHistory(r);
  s.server = internal::GetServerInfo(r);
  for (Lsn* l : {&s.timeline_start_lsn, &s.local_start_lsn, &s.commit_lsn, &s.backup_lsn,
                 &s.peer_horizon_lsn, &s.remote_consistent_lsn}) {
    *l = Lsn(r.U64());
  }
  return s;
}

absl::Status CheckInvariants(const PersistentState& s) {
  if (s.history.LastTerm() > s.term) return absl::DataLossError("history term above current term");
  if (s.server.wal_seg_size == 0 || (s.server.wal_seg_size & (s.server.wal_seg_size - 1)) != 0) {
    return absl::DataLossError(StrCat("bad WAL segment size ", s.server.wal_seg_size));
  }
  if (s.commit_lsn < s.local_start_lsn) return absl::DataLossError("commit LSN below local start");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<PersistentState> DecodeControlFile(std::string_view data) {
  if (data.size() < 12) return absl::DataLossError(StrCat("control file too short: ", data.size()));
  WireReader head(data, /*little_endian=*/true);
  uint32_t magic = head.U32();
  uint32_t version = head.U32();
  if (magic != kControlFileMagic) return absl::DataLossError("control file: bad magic");
  WireReader tail(data.substr(data.size() - 4), true);
  uint32_t stored_crc = tail.U32();
  if (crc32c::Value(data.substr(0, data.size() - 4)) != stored_crc) {
    return absl::DataLossError("control file: checksum mismatch");
  }
  if (version != kControlFileVersion) {
    return absl::FailedPreconditionError(StrCat("control file: unsupported version ", version));
  }
  WireReader r(data.substr(8, data.size() - 12), true);
  PersistentState s = DecodeBody(r);
  if (absl::Status st = r.Finish("control file"); !st.ok()) {
    return absl::DataLossError(st.message());
  }
  NEON_RETURN_IF_ERROR(CheckInvariants(s));
  return s;
}

absl::Status SaveControlFile(FileSystem& fs, const std::string& dir, const PersistentState& state) {
  NEON_CHECK_OK(CheckInvariants(state));
  std::string data = EncodeControlFile(state);
  return Annotate(WriteFileAtomic(fs, JoinPath(dir, kControlFileName), data),
                  StrCat("saving control file in ", dir));
}

absl::StatusOr<PersistentState> LoadControlFile(FileSystem& fs, const std::string& dir) {
  std::string path = JoinPath(dir, kControlFileName);
  NEON_ASSIGN_OR_RETURN(std::string data, ReadFileToString(fs, path));
  absl::StatusOr<PersistentState> s = DecodeControlFile(data);
  if (!s.ok()) return Annotate(s.status(), path);
  return s;
}

}  // namespace neon::consensus
