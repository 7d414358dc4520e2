// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// One-line renderings of messages for logs, simulation traces and scenario
// tests. The format is for humans; nothing parses it.

#include "base/str_cat.h"
#include "neon/consensus.h"

namespace neon::consensus {
namespace {

std::string Gen(Generation g) { return g.is_none() ? "none" : std::to_string(g.value()); }

std::string Render(const ProposerGreeting& m) {
  return StrCat("ProposerGreeting{gen=", Gen(m.mconf.generation),
                " members=", m.mconf.members.size(), " seg=", m.server.wal_seg_size, "}");
}
std::string Render(const VoteRequest& m) {
  return StrCat("VoteRequest{term=", m.term.value(), "}");
}
std::string Render(const ProposerElected& m) {
  return StrCat("ProposerElected{term=", m.term.value(), " start=", m.start_streaming_at.ToString(),
                " history=", m.history.ToString(), "}");
}
std::string Render(const AppendRequest& m) {
  return StrCat("AppendRequest{term=", m.term.value(), " ", m.begin_lsn.ToString(), "..",
                m.end_lsn.ToString(), " commit=", m.commit_lsn.ToString(),
                " truncate=", m.truncate_lsn.ToString(), "}");
}
std::string Render(const WalReadRequest& m) {
  return StrCat("WalReadRequest{term=", m.term.value(), " ", m.begin_lsn.ToString(), "..",
                m.end_lsn.ToString(), "}");
}
std::string Render(const AcceptorGreeting& m) {
  return StrCat("AcceptorGreeting{node=", m.node_id.value(), " term=", m.term.value(), "}");
}
std::string Render(const VoteResponse& m) {
  return StrCat("VoteResponse{term=", m.term.value(), " given=", m.vote_given,
                " flush=", m.flush_lsn.ToString(), " truncate=", m.truncate_lsn.ToString(),
                " history=", m.history.ToString(), "}");
}
std::string Render(const AppendResponse& m) {
  return StrCat("AppendResponse{term=", m.term.value(), " flush=", m.flush_lsn.ToString(),
                " commit=", m.commit_lsn.ToString(), "}");
}
std::string Render(const WalReadResponse& m) {
  return StrCat("WalReadResponse{term=", m.term.value(), " ", m.begin_lsn.ToString(), "+",
                m.wal.size(), "}");
}

}  // namespace

std::string DebugString(const ProposerMessage& msg) {
  return std::visit([](const auto& m) { return Render(m); }, msg);
}
std::string DebugString(const AcceptorMessage& msg) {
  return std::visit([](const auto& m) { return Render(m); }, msg);
}

}  // namespace neon::consensus
