// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "safekeeper/peer_recovery.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <tuple>

#include "base/status_macros.h"
#include "base/str_cat.h"
#include "common/http_server.h"
#include "common/log.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "safekeeper.grpc.pb.h"

namespace neon::safekeeper {
namespace {

namespace pb = ::safekeeper;
using consensus::AcceptorNode;
using consensus::Term;
using consensus::TermHistory;
using nlohmann::json;

// The donor's term and term history, from its HTTP status.
absl::Status FetchDonorHistory(const Timeline& tl, const PeerInfo& donor, const std::string& token,
                               Term* term, TermHistory* history) {
  std::string host;
  int port = 0;
  NEON_RETURN_IF_ERROR(server::ParseHostPort(donor.http_connstr, &host, &port));
  httplib::Client c(host, port);
  c.set_connection_timeout(5);
  c.set_read_timeout(10);
  httplib::Headers headers;
  if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
  const std::string path = StrCat("/v1/tenant/", tl.tenant_id().ToString(), "/timeline/",
                                  tl.timeline_id().ToString());
  httplib::Result res = c.Get(path.c_str(), headers);
  if (!res) return absl::UnavailableError(StrCat("donor ", donor.http_connstr, " unreachable"));
  if (res->status != 200) {
    return absl::UnavailableError(
        StrCat("donor ", donor.http_connstr, " answered ", res->status, ": ", res->body));
  }
  const json j = json::parse(res->body, nullptr, /*allow_exceptions=*/false);
  const absl::Status bad = absl::DataLossError("donor status has no valid acceptor_state");
  if (!j.is_object() || !j.contains("acceptor_state")) return bad;
  const json& a = j["acceptor_state"];
  if (!a.is_object() || !a.contains("term") || !a["term"].is_number_unsigned() ||
      !a.contains("term_history") || !a["term_history"].is_array()) {
    return bad;
  }
  *term = Term(a["term"].get<uint64_t>());
  std::vector<consensus::TermSwitch> entries;
  for (const json& e : a["term_history"]) {
    if (!e.is_object() || !e.contains("term") || !e["term"].is_number_unsigned() ||
        !e.contains("lsn") || !e["lsn"].is_string()) {
      return bad;
    }
    absl::StatusOr<Lsn> lsn = Lsn::Parse(e["lsn"].get<std::string>());
    if (!lsn.ok()) return bad;
    entries.push_back({Term(e["term"].get<uint64_t>()), *lsn});
  }
  *history = TermHistory(std::move(entries));
  return history->Validate();
}

}  // namespace

std::optional<PeerInfo> ChooseDonor(const Positions& mine, int proposers,
                                    const std::vector<PeerInfo>& peers) {
  if (proposers > 0) return std::nullopt;
  std::optional<PeerInfo> best;
  for (const PeerInfo& p : peers) {
    if (p.commit_lsn <= mine.flush_lsn || p.term != p.last_log_term || p.term < mine.term ||
        p.pg_connstr.empty() || p.http_connstr.empty()) {
      continue;
    }
    if (!best || std::tie(p.last_log_term, p.commit_lsn) > std::tie(best->last_log_term, best->commit_lsn)) {
      best = p;
    }
  }
  return best;
}

void PeerRecovery::MaybeStart(const std::shared_ptr<Timeline>& tl, int64_t now_us) {
  if (!ctx_->config.peer_recovery) return;
  const TimelineKey key{tl->tenant_id(), tl->timeline_id()};
  {
    absl::MutexLock l(&mu_);
    if (running_.count(key)) return;
    int64_t& last = last_check_us_[key];
    if (last != 0 && now_us - last < kRecoveryCheckIntervalUs) return;
    last = now_us;
  }
  std::optional<PeerInfo> donor =
      ChooseDonor(tl->positions(), tl->proposer_count(), tl->LivePeers(now_us));
  if (!donor) return;
  {
    absl::MutexLock l(&mu_);
    if (!running_.insert(key).second) return;
  }
  executor_->Schedule([this, tl, d = *donor] { Run(tl, d); });
}

void PeerRecovery::Run(std::shared_ptr<Timeline> tl, PeerInfo donor) {
  const TimelineKey key{tl->tenant_id(), tl->timeline_id()};
  if (tl->EnterTask()) {
    // Shared with the cancel hook, which may run after this function returned.
    auto call = std::make_shared<grpc::ClientContext>();
    const uint64_t hook = tl->AddCancelHook([call] { call->TryCancel(); });
    server::LogInfo("peer_recovery_started", {{"tenant_id", key.first.ToString()},
                                              {"timeline_id", key.second.ToString()},
                                              {"donor", donor.sk_id},
                                              {"donor_commit_lsn", donor.commit_lsn.ToString()}});
    const absl::Status s = Recover(*tl, donor, call.get());
    tl->RemoveCancelHook(hook);
    server::Log(s.ok() ? server::LogLevel::kInfo : server::LogLevel::kWarn, "peer_recovery_ended",
                {{"tenant_id", key.first.ToString()},
                 {"timeline_id", key.second.ToString()},
                 {"donor", donor.sk_id},
                 {"flush_lsn", tl->positions().flush_lsn.ToString()},
                 {"result", s.ok() ? std::string("ok") : std::string(s.message())}});
    tl->LeaveTask();
  }
  absl::MutexLock l(&mu_);
  running_.erase(key);
}

absl::Status PeerRecovery::Recover(Timeline& tl, const PeerInfo& donor, grpc::ClientContext* call) {
  const Term term = donor.term;
  Term donor_term;
  TermHistory history;
  NEON_RETURN_IF_ERROR(
      FetchDonorHistory(tl, donor, ctx_->config.auth_token, &donor_term, &history));
  if (donor_term != term || history.empty() || history.back().term != term) {
    return absl::AbortedError("the donor's term moved on");
  }
  // Become an acceptor of the donor's term, truncated at the divergence point.
  Lsn next;
  NEON_RETURN_IF_ERROR(tl.WithNode([&](AcceptorNode& n) -> absl::Status {
    if (tl.proposer_count() > 0) return absl::AbortedError("a proposer connected");
    consensus::Acceptor& a = n.acceptor();
    const Generation gen = a.state().mconf.generation;
    if (a.term() < term) NEON_RETURN_IF_ERROR(n.Step(kInternalConn, consensus::VoteRequest{gen, term}));
    if (a.term() != term) return absl::AbortedError("our term is above the donor's");
    std::optional<consensus::TermSwitch> lcp =
        FindHighestCommonPoint(history, a.history().UpTo(a.write_lsn()), a.write_lsn());
    if (!lcp) return absl::FailedPreconditionError("no common point with the donor's history");
    NEON_RETURN_IF_ERROR(
        n.Step(kInternalConn, consensus::ProposerElected{gen, term, lcp->lsn, history}));
    if (a.history().LastTerm() != term) return absl::AbortedError("the donor's history was not adopted");
    next = a.write_lsn();
    return absl::OkStatus();
  }));

  auto stub = pb::SafekeeperService::NewStub(
      grpc::CreateChannel(donor.pg_connstr, grpc::InsecureChannelCredentials()));
  call->AddMetadata("neon-tenant-id", tl.tenant_id().ToString());
  call->AddMetadata("neon-timeline-id", tl.timeline_id().ToString());
  if (!ctx_->config.auth_token.empty()) {
    call->AddMetadata("authorization", "Bearer " + ctx_->config.auth_token);
  }
  auto stream = stub->StreamWal(call);
  pb::StreamWalRequest start;
  start.mutable_start()->set_start_lsn(next.value());
  start.mutable_start()->set_reader_node_id(ctx_->config.node_id.value());
  start.mutable_start()->set_include_uncommitted(false);
  absl::Status result = absl::OkStatus();
  int64_t last_data_us = MonotonicMicros();
  pb::StreamWalResponse resp;
  bool done = !stream->Write(start);
  while (!done && result.ok() && stream->Read(&resp)) {
    if (tl.cancelled() || tl.proposer_count() > 0) break;
    if (resp.has_keepalive()) {
      done = tl.positions().flush_lsn >= Lsn(resp.keepalive().commit_lsn()) ||
             MonotonicMicros() - last_data_us > kRecoveryNoDataTimeoutUs;
      continue;
    }
    const pb::WalData& w = resp.wal();
    if (Lsn(w.start_lsn()) != next || w.data().empty() || w.data().size() > consensus::kMaxSendSize) {
      result = absl::DataLossError(StrCat("the donor sent WAL at ", Lsn(w.start_lsn()).ToString(),
                                          " (", w.data().size(), " bytes), expected ",
                                          next.ToString()));
      break;
    }
    const Lsn end = next.Plus(w.data().size());
    result = tl.WithNode([&](AcceptorNode& n) -> absl::Status {
      consensus::Acceptor& a = n.acceptor();
      if (tl.proposer_count() > 0) return absl::AbortedError("a proposer connected");
      if (a.term() != term || a.history().LastTerm() != term || a.write_lsn() != next) {
        return absl::AbortedError("the term or the WAL moved during recovery");
      }
      NEON_RETURN_IF_ERROR(n.Step(kInternalConn, consensus::AppendRequest{
                                                     a.state().mconf.generation, term, next, end,
                                                     Lsn(w.commit_lsn()), Lsn(0), w.data()}));
      return n.Flush();
    });
    if (!result.ok()) break;
    ctx_->metrics->recovery_bytes->Increment(w.data().size());
    next = end;
    last_data_us = MonotonicMicros();
    done = next >= Lsn(w.commit_lsn());  // everything the donor had committed
  }
  call->TryCancel();
  grpc::Status fin = stream->Finish();
  if (result.ok() && !done && !fin.ok() && fin.error_code() != grpc::StatusCode::CANCELLED) {
    result = absl::UnavailableError(StrCat("StreamWal from ", donor.pg_connstr, ": ",
                                           fin.error_message()));
  }
  return result;
}

}  // namespace neon::safekeeper
