// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// The consensus wire codec; the grammar is doc/format/consensus-wire.md.

#include "base/check.h"
#include "base/status_macros.h"
#include "consensus/wire_reader.h"
#include "neon/consensus.h"

namespace neon::consensus {
namespace internal {

void PutGeneration(WireWriter& w, Generation g) { w.U32(g.is_none() ? 0 : g.value()); }

Generation GetGeneration(WireReader& r) {
  uint32_t v = r.U32();
  return v == 0 ? Generation::None() : Generation::Of(v);
}

namespace {
void PutMembers(WireWriter& w, const std::vector<SafekeeperId>& set) {
  NEON_CHECK(set.size() <= kMaxMembers);
  w.U32(uint32_t(set.size()));
  for (const SafekeeperId& m : set) {
    NEON_CHECK(m.host.size() <= kMaxHostLength);
    w.U64(m.id.value());
    w.U8(uint8_t(m.host.size()));
    w.Bytes(m.host);
    w.U16(m.pg_port);
  }
}

std::vector<SafekeeperId> GetMembers(WireReader& r) {
  uint32_t n = r.Count(kMaxMembers, 11, "members");
  std::vector<SafekeeperId> out;
  for (uint32_t i = 0; i < n && r.ok(); i++) {
    SafekeeperId m;
    m.id = NodeId(r.U64());
    m.host = std::string(r.Bytes(r.U8()));
    m.pg_port = r.U16();
    out.push_back(std::move(m));
  }
  return out;
}
}  // namespace

void PutMembership(WireWriter& w, const MembershipConfig& m) {
  PutGeneration(w, m.generation);
  PutMembers(w, m.members);
  PutMembers(w, m.new_members);
}

MembershipConfig GetMembership(WireReader& r) {
  MembershipConfig m;
  m.generation = GetGeneration(r);
  m.members = GetMembers(r);
  m.new_members = GetMembers(r);
  if (r.ok() && !m.generation.is_none() && m.members.empty()) {
    r.Fail("membership with a generation but no members");
  }
  return m;
}

void PutHistory(WireWriter& w, const TermHistory& h) {
  NEON_CHECK(h.size() <= kMaxTermHistoryEntries);
  w.U32(uint32_t(h.size()));
  for (const TermSwitch& e : h.entries()) {
    w.U64(e.term.value());
    w.U64(e.lsn.value());
  }
}

TermHistory GetHistory(WireReader& r) {
  uint32_t n = r.Count(kMaxTermHistoryEntries, 16, "term history");
  std::vector<TermSwitch> entries;
  entries.reserve(n);
  for (uint32_t i = 0; i < n && r.ok(); i++) {
    Term t(r.U64());
    entries.push_back(TermSwitch{t, Lsn(r.U64())});
  }
  TermHistory h(std::move(entries));
  if (r.ok()) {
    absl::Status s = h.Validate();
    if (!s.ok()) r.Fail(std::string(s.message()));
  }
  return h;
}

void PutServerInfo(WireWriter& w, const ServerInfo& s) {
  w.U32(s.pg_version);
  w.U64(s.system_id);
  w.U32(s.wal_seg_size);
}

ServerInfo GetServerInfo(WireReader& r) {
  ServerInfo s;
  s.pg_version = r.U32();
  s.system_id = r.U64();
  s.wal_seg_size = r.U32();
  return s;
}

}  // namespace internal

namespace {

using internal::WireReader;
using internal::WireWriter;

// Tags (persistent: never renumber).
constexpr uint8_t kTagGreeting = 'g';
constexpr uint8_t kTagVote = 'v';
constexpr uint8_t kTagElected = 'e';
constexpr uint8_t kTagAppend = 'a';
constexpr uint8_t kTagWalRead = 'r';

void PutTerm(WireWriter& w, Term t) { w.U64(t.value()); }
void PutLsn(WireWriter& w, Lsn l) { w.U64(l.value()); }
Term GetTerm(WireReader& r) { return Term(r.U64()); }
Lsn GetLsn(WireReader& r) { return Lsn(r.U64()); }

// ---- proposer -> acceptor ----

void Encode(WireWriter& w, const ProposerGreeting& m) {
  w.U8(kTagGreeting);
  internal::PutId(w, m.tenant_id);
  internal::PutId(w, m.timeline_id);
  internal::PutMembership(w, m.mconf);
  internal::PutServerInfo(w, m.server);
}
void Encode(WireWriter& w, const VoteRequest& m) {
  w.U8(kTagVote);
  internal::PutGeneration(w, m.generation);
  PutTerm(w, m.term);
}
void Encode(WireWriter& w, const ProposerElected& m) {
  w.U8(kTagElected);
  internal::PutGeneration(w, m.generation);
  PutTerm(w, m.term);
  PutLsn(w, m.start_streaming_at);
  internal::PutHistory(w, m.history);
}
void Encode(WireWriter& w, const AppendRequest& m) {
  NEON_CHECK(m.end_lsn >= m.begin_lsn);
  NEON_CHECK(m.end_lsn.Minus(m.begin_lsn) == m.wal.size());
  NEON_CHECK(m.wal.size() <= kMaxSendSize);
  w.U8(kTagAppend);
  internal::PutGeneration(w, m.generation);
  PutTerm(w, m.term);
  PutLsn(w, m.begin_lsn);
  PutLsn(w, m.end_lsn);
  PutLsn(w, m.commit_lsn);
  PutLsn(w, m.truncate_lsn);
  w.Bytes(m.wal);
}
void Encode(WireWriter& w, const WalReadRequest& m) {
  NEON_CHECK(m.end_lsn >= m.begin_lsn && m.end_lsn.Minus(m.begin_lsn) <= kMaxSendSize);
  w.U8(kTagWalRead);
  PutTerm(w, m.term);
  PutLsn(w, m.begin_lsn);
  PutLsn(w, m.end_lsn);
}

ProposerGreeting DecodeGreeting(WireReader& r) {
  ProposerGreeting m;
  m.tenant_id = internal::GetId<TenantId>(r);
  m.timeline_id = internal::GetId<TimelineId>(r);
  m.mconf = internal::GetMembership(r);
  m.server = internal::GetServerInfo(r);
  return m;
}
VoteRequest DecodeVoteRequest(WireReader& r) {
  VoteRequest m;
  m.generation = internal::GetGeneration(r);
  m.term = GetTerm(r);
  return m;
}
ProposerElected DecodeElected(WireReader& r) {
  ProposerElected m;
  m.generation = internal::GetGeneration(r);
  m.term = GetTerm(r);
  m.start_streaming_at = GetLsn(r);
  m.history = internal::GetHistory(r);
  return m;
}
AppendRequest DecodeAppendRequest(WireReader& r) {
  AppendRequest m;
  m.generation = internal::GetGeneration(r);
  m.term = GetTerm(r);
  m.begin_lsn = GetLsn(r);
  m.end_lsn = GetLsn(r);
  m.commit_lsn = GetLsn(r);
  m.truncate_lsn = GetLsn(r);
  if (!r.ok()) return m;
  if (m.end_lsn < m.begin_lsn || m.end_lsn.Minus(m.begin_lsn) > kMaxSendSize) {
    r.Fail("append request LSN range out of bounds");
  } else if (r.remaining() != m.end_lsn.Minus(m.begin_lsn)) {
    r.Fail(StrCat("append request carries ", r.remaining(), " WAL bytes for a range of ",
                  m.end_lsn.Minus(m.begin_lsn)));
  } else {
    m.wal = std::string(r.Rest());
  }
  return m;
}
WalReadRequest DecodeWalReadRequest(WireReader& r) {
  WalReadRequest m;
  m.term = GetTerm(r);
  m.begin_lsn = GetLsn(r);
  m.end_lsn = GetLsn(r);
  if (r.ok() && (m.end_lsn < m.begin_lsn || m.end_lsn.Minus(m.begin_lsn) > kMaxSendSize)) {
    r.Fail("WAL read request range out of bounds");
  }
  return m;
}

// ---- acceptor -> proposer ----

void Encode(WireWriter& w, const AcceptorGreeting& m) {
  w.U8(kTagGreeting);
  w.U64(m.node_id.value());
  internal::PutMembership(w, m.mconf);
  PutTerm(w, m.term);
}
void Encode(WireWriter& w, const VoteResponse& m) {
  w.U8(kTagVote);
  internal::PutGeneration(w, m.generation);
  PutTerm(w, m.term);
  w.U8(m.vote_given ? 1 : 0);
  PutLsn(w, m.flush_lsn);
  PutLsn(w, m.truncate_lsn);
  internal::PutHistory(w, m.history);
}
void Encode(WireWriter& w, const AppendResponse& m) {
  w.U8(kTagAppend);
  internal::PutGeneration(w, m.generation);
  PutTerm(w, m.term);
  PutLsn(w, m.flush_lsn);
  PutLsn(w, m.commit_lsn);
  w.U64(uint64_t(m.hs_feedback.ts));
  w.U64(m.hs_feedback.xmin);
  w.U64(m.hs_feedback.catalog_xmin);
  w.U8(m.ps_feedback ? 1 : 0);
  if (!m.ps_feedback) return;
  const PageserverFeedback& ps = *m.ps_feedback;
  w.U64(ps.current_timeline_size);
  PutLsn(w, ps.last_received_lsn);
  PutLsn(w, ps.disk_consistent_lsn);
  PutLsn(w, ps.remote_consistent_lsn);
  w.U64(uint64_t(ps.replytime_us));
  w.U32(ps.shard_number);
}
void Encode(WireWriter& w, const WalReadResponse& m) {
  NEON_CHECK(m.wal.size() <= kMaxSendSize);
  w.U8(kTagWalRead);
  PutTerm(w, m.term);
  PutLsn(w, m.begin_lsn);
  PutLsn(w, m.begin_lsn.Plus(m.wal.size()));
  w.Bytes(m.wal);
}

AcceptorGreeting DecodeAcceptorGreeting(WireReader& r) {
  AcceptorGreeting m;
  m.node_id = NodeId(r.U64());
  m.mconf = internal::GetMembership(r);
  m.term = GetTerm(r);
  return m;
}
VoteResponse DecodeVoteResponse(WireReader& r) {
  VoteResponse m;
  m.generation = internal::GetGeneration(r);
  m.term = GetTerm(r);
  uint8_t given = r.U8();
  if (given > 1) r.Fail("vote_given must be 0 or 1");
  m.vote_given = given == 1;
  m.flush_lsn = GetLsn(r);
  m.truncate_lsn = GetLsn(r);
  m.history = internal::GetHistory(r);
  return m;
}
PageserverFeedback DecodePsFeedback(WireReader& r) {
  PageserverFeedback ps;
  ps.current_timeline_size = r.U64();
  ps.last_received_lsn = GetLsn(r);
  ps.disk_consistent_lsn = GetLsn(r);
  ps.remote_consistent_lsn = GetLsn(r);
  ps.replytime_us = int64_t(r.U64());
  ps.shard_number = r.U32();
  return ps;
}
AppendResponse DecodeAppendResponse(WireReader& r) {
  AppendResponse m;
  m.generation = internal::GetGeneration(r);
  m.term = GetTerm(r);
  m.flush_lsn = GetLsn(r);
  m.commit_lsn = GetLsn(r);
  m.hs_feedback.ts = int64_t(r.U64());
  m.hs_feedback.xmin = r.U64();
  m.hs_feedback.catalog_xmin = r.U64();
  uint8_t has_ps = r.U8();
  if (has_ps > 1) r.Fail("pageserver feedback flag must be 0 or 1");
  if (has_ps == 1) m.ps_feedback = DecodePsFeedback(r);
  return m;
}
WalReadResponse DecodeWalReadResponse(WireReader& r) {
  WalReadResponse m;
  m.term = GetTerm(r);
  m.begin_lsn = GetLsn(r);
  Lsn end = GetLsn(r);
  if (!r.ok()) return m;
  if (end < m.begin_lsn || end.Minus(m.begin_lsn) > kMaxSendSize) {
    r.Fail("WAL read response LSN range out of bounds");
  } else if (r.remaining() != end.Minus(m.begin_lsn)) {
    r.Fail("WAL read response payload does not match its range");
  } else {
    m.wal = std::string(r.Rest());
  }
  return m;
}

// Checks version and size, returns the tag.
absl::StatusOr<uint8_t> DecodeHeader(WireReader& r, std::string_view data, std::string_view who) {
  if (data.size() > kMaxMessageSize) {
    return absl::InvalidArgumentError(StrCat("decode ", who, " message: ", data.size(),
                                             " bytes exceeds the limit of ", kMaxMessageSize));
  }
  uint8_t version = r.U8();
  uint8_t tag = r.U8();
  if (!r.ok()) return absl::InvalidArgumentError(StrCat("decode ", who, " message: truncated"));
  if (version != kWireVersion) {
    return absl::InvalidArgumentError(
        StrCat("decode ", who, " message: unsupported wire version ", int(version)));
  }
  return tag;
}

template <typename Msg>
std::string EncodeWith(const Msg& msg) {
  WireWriter w;
  w.U8(kWireVersion);
  std::visit([&](const auto& m) { Encode(w, m); }, msg);
  NEON_CHECK(w.out().size() <= kMaxMessageSize);
  return w.Take();
}

}  // namespace

std::string EncodeProposerMessage(const ProposerMessage& msg) { return EncodeWith(msg); }
std::string EncodeAcceptorMessage(const AcceptorMessage& msg) { return EncodeWith(msg); }

absl::StatusOr<ProposerMessage> DecodeProposerMessage(std::string_view data) {
  WireReader r(data);
  NEON_ASSIGN_OR_RETURN(uint8_t tag, DecodeHeader(r, data, "proposer"));
  auto finish = [&](auto msg) -> absl::StatusOr<ProposerMessage> {
    NEON_RETURN_IF_ERROR(r.Finish(StrCat("proposer message '", char(tag), "'")));
    return ProposerMessage(std::move(msg));
  };
  switch (tag) {
    case kTagGreeting: return finish(DecodeGreeting(r));
    case kTagVote: return finish(DecodeVoteRequest(r));
    case kTagElected: return finish(DecodeElected(r));
    case kTagAppend: return finish(DecodeAppendRequest(r));
    case kTagWalRead: return finish(DecodeWalReadRequest(r));
    default:
      return absl::InvalidArgumentError(StrCat("decode proposer message: unknown tag ", int(tag)));
  }
}

absl::StatusOr<AcceptorMessage> DecodeAcceptorMessage(std::string_view data) {
  WireReader r(data);
  NEON_ASSIGN_OR_RETURN(uint8_t tag, DecodeHeader(r, data, "acceptor"));
  auto finish = [&](auto msg) -> absl::StatusOr<AcceptorMessage> {
    NEON_RETURN_IF_ERROR(r.Finish(StrCat("acceptor message '", char(tag), "'")));
    return AcceptorMessage(std::move(msg));
  };
  switch (tag) {
    case kTagGreeting: return finish(DecodeAcceptorGreeting(r));
    case kTagVote: return finish(DecodeVoteResponse(r));
    case kTagAppend: return finish(DecodeAppendResponse(r));
    case kTagWalRead: return finish(DecodeWalReadResponse(r));
    default:
      return absl::InvalidArgumentError(StrCat("decode acceptor message: unknown tag ", int(tag)));
  }
}

}  // namespace neon::consensus
