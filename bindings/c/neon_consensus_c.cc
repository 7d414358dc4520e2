// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// The C API over the consensus Proposer (see neon_consensus_c.h).

#include "neon_consensus_c.h"

#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <utility>

#include "base/str_cat.h"
#include "consensus/proposer.h"
#include "neon/consensus.h"

namespace nc = neon::consensus;

struct neon_proposer_t {
  std::unique_ptr<nc::Proposer> rep;
  nc::MembershipConfig mconf;
  // Encoded outgoing messages, oldest first.
  std::deque<std::pair<uint64_t, std::string>> outbox;
};

namespace {

char* CopyBytes(std::string_view s) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (out == nullptr) return nullptr;
  if (!s.empty()) std::memcpy(out, s.data(), s.size());
  out[s.size()] = '\0';
  return out;
}

int SaveError(const absl::Status& s, char** errptr) {
  if (s.ok()) return NEON_OK;
  if (errptr != nullptr) {
    std::free(*errptr);
    *errptr = CopyBytes(s.ToString());
  }
  return static_cast<int>(s.code());
}

// Encodes what the proposer queued into the outbox.
void Enqueue(neon_proposer_t* p, nc::ProposerReady& ready) {
  for (nc::Outgoing& o : ready.messages) {
    p->outbox.emplace_back(o.to.value(), nc::EncodeProposerMessage(o.msg));
  }
  ready.messages.clear();
}

template <typename Id>
absl::StatusOr<Id> ParseId(const char* hex) {
  if (hex == nullptr) return Id();
  return Id::Parse(hex);
}

absl::Status CheckMember(const neon_proposer_t* p, uint64_t id) {
  if (p == nullptr) return absl::InvalidArgumentError("null proposer");
  if (!p->mconf.Contains(nc::NodeId(id))) {
    return absl::InvalidArgumentError(neon::StrCat("acceptor ", id, " is not a member"));
  }
  return absl::OkStatus();
}

}  // namespace

extern "C" {

neon_proposer_t* neon_proposer_create(const char* tenant_id, const char* timeline_id,
                                      const uint64_t* acceptor_ids, size_t num_acceptors,
                                      uint32_t pg_version, uint64_t system_id,
                                      uint32_t wal_seg_size, int mode, uint64_t start_lsn,
                                      char** errptr) {
  auto fail = [&](absl::Status s) -> neon_proposer_t* {
    SaveError(s, errptr);
    return nullptr;
  };
  nc::ProposerOptions o;
  auto tenant = ParseId<neon::TenantId>(tenant_id);
  if (!tenant.ok()) return fail(tenant.status());
  auto timeline = ParseId<neon::TimelineId>(timeline_id);
  if (!timeline.ok()) return fail(timeline.status());
  o.tenant_id = *tenant;
  o.timeline_id = *timeline;
  if (acceptor_ids == nullptr || num_acceptors == 0 || num_acceptors > nc::kMaxMembers) {
    return fail(absl::InvalidArgumentError(
        neon::StrCat("need 1..", nc::kMaxMembers, " acceptor ids, got ", num_acceptors)));
  }
  for (size_t i = 0; i < num_acceptors; i++) {
    nc::NodeId id(acceptor_ids[i]);
    if (id.value() == 0 || o.mconf.Contains(id)) {
      return fail(absl::InvalidArgumentError(
          neon::StrCat("acceptor id ", id.value(), " is zero or repeated")));
    }
    o.mconf.members.push_back({id, "", 0});
  }
  if (mode != NEON_PROPOSER_NORMAL && mode != NEON_PROPOSER_SYNC_SAFEKEEPERS) {
    return fail(absl::InvalidArgumentError(neon::StrCat("unknown proposer mode ", mode)));
  }
  if (wal_seg_size == 0) wal_seg_size = uint32_t(nc::kDefaultWalSegmentSize);
  if ((wal_seg_size & (wal_seg_size - 1)) != 0) {
    return fail(absl::InvalidArgumentError(
        neon::StrCat("WAL segment size ", wal_seg_size, " is not a power of two")));
  }
  o.server = {pg_version, system_id, wal_seg_size};
  o.mode = mode == NEON_PROPOSER_NORMAL ? nc::ProposerMode::kNormal
                                        : nc::ProposerMode::kSyncSafekeepers;
  if (o.mode == nc::ProposerMode::kNormal) o.expected_start_lsn = neon::Lsn(start_lsn);
  auto* p = new neon_proposer_t;
  p->mconf = o.mconf;
  p->rep = std::make_unique<nc::Proposer>(std::move(o));
  return p;
}

void neon_proposer_destroy(neon_proposer_t* p) { delete p; }

int neon_proposer_connected(neon_proposer_t* p, uint64_t acceptor_id, char** errptr) {
  absl::Status s = CheckMember(p, acceptor_id);
  if (!s.ok()) return SaveError(s, errptr);
  nc::ProposerReady ready;
  p->rep->OnConnected(nc::NodeId(acceptor_id), &ready);
  Enqueue(p, ready);
  return NEON_OK;
}

int neon_proposer_disconnected(neon_proposer_t* p, uint64_t acceptor_id, char** errptr) {
  absl::Status s = CheckMember(p, acceptor_id);
  if (!s.ok()) return SaveError(s, errptr);
  p->rep->OnDisconnected(nc::NodeId(acceptor_id));
  // Messages queued for the broken connection must not go out on the next.
  std::erase_if(p->outbox, [&](const auto& m) { return m.first == acceptor_id; });
  return NEON_OK;
}

int neon_proposer_step(neon_proposer_t* p, uint64_t acceptor_id, const char* msg, size_t len,
                       char** errptr) {
  absl::Status s = CheckMember(p, acceptor_id);
  if (!s.ok()) return SaveError(s, errptr);
  if (msg == nullptr && len != 0) {
    return SaveError(absl::InvalidArgumentError("null message"), errptr);
  }
  auto decoded = nc::DecodeAcceptorMessage(std::string_view(msg == nullptr ? "" : msg, len));
  if (!decoded.ok()) return SaveError(decoded.status(), errptr);
  nc::ProposerReady ready;
  s = p->rep->Step(nc::NodeId(acceptor_id), *decoded, &ready);
  Enqueue(p, ready);
  return SaveError(s, errptr);
}

int neon_proposer_propose(neon_proposer_t* p, const char* wal, size_t len, char** errptr) {
  if (p == nullptr || (wal == nullptr && len != 0)) {
    return SaveError(absl::InvalidArgumentError("null argument"), errptr);
  }
  nc::ProposerReady ready;
  absl::Status s = p->rep->Propose(std::string_view(wal == nullptr ? "" : wal, len), &ready);
  Enqueue(p, ready);
  return SaveError(s, errptr);
}

void neon_proposer_tick(neon_proposer_t* p) {
  if (p == nullptr) return;
  nc::ProposerReady ready;
  p->rep->Tick(&ready);
  Enqueue(p, ready);
}

char* neon_proposer_next_message(neon_proposer_t* p, uint64_t* to, size_t* len) {
  if (p == nullptr || p->outbox.empty()) return nullptr;
  auto& [dest, bytes] = p->outbox.front();
  char* out = CopyBytes(bytes);
  if (out == nullptr) return nullptr;
  if (to != nullptr) *to = dest;
  if (len != nullptr) *len = bytes.size();
  p->outbox.pop_front();
  return out;
}

size_t neon_proposer_pending_messages(const neon_proposer_t* p) {
  return p == nullptr ? 0 : p->outbox.size();
}

int neon_proposer_phase(const neon_proposer_t* p) {
  switch (p->rep->phase()) {
    case nc::ProposerPhase::kCollectingTerms: return NEON_PROPOSER_COLLECTING_TERMS;
    case nc::ProposerPhase::kCampaign: return NEON_PROPOSER_CAMPAIGN;
    case nc::ProposerPhase::kElected: return NEON_PROPOSER_ELECTED;
    case nc::ProposerPhase::kSynced: return NEON_PROPOSER_SYNCED;
    case nc::ProposerPhase::kStopped: return NEON_PROPOSER_STOPPED;
  }
  return NEON_PROPOSER_STOPPED;
}

uint64_t neon_proposer_term(const neon_proposer_t* p) { return p->rep->term().value(); }
uint64_t neon_proposer_commit_lsn(const neon_proposer_t* p) {
  return p->rep->commit_lsn().value();
}
uint64_t neon_proposer_available_lsn(const neon_proposer_t* p) {
  return p->rep->available_lsn().value();
}
uint64_t neon_proposer_sync_lsn(const neon_proposer_t* p) { return p->rep->sync_lsn().value(); }

char* neon_proposer_stop_reason(const neon_proposer_t* p) {
  if (p->rep->phase() != nc::ProposerPhase::kStopped) return nullptr;
  return CopyBytes(p->rep->stop_reason().ToString());
}

}  // extern "C"
