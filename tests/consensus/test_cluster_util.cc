// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "consensus/test_cluster.h"

#include "base/check.h"
#include "base/str_cat.h"

namespace neon::consensus::testing {

TestCluster::TestCluster(int n) {
  fs_ = std::make_shared<FaultInjectionFileSystem>(NewMemFileSystem());
  tenant_ = *TenantId::Parse("11111111111111111111111111111111");
  timeline_ = *TimelineId::Parse("22222222222222222222222222222222");
  for (int i = 0; i < n; i++) mconf_.members.push_back({NodeId(i + 1), StrCat("sk", i), 5454});
  for (int i = 0; i < n; i++) {
    PersistentState st = PersistentState::NewTimeline(
        tenant_, timeline_, mconf_, {170004, 0, uint32_t(kTestSegmentSize)}, TestStartLsn());
    NEON_CHECK_OK(AcceptorNode::CreateTimeline(*fs_, DirOf(i), st));
    auto node = AcceptorNode::Open(fs_.get(), {NodeId(i + 1), DirOf(i), {}});
    NEON_CHECK_OK(node.status());
    nodes_.push_back(std::move(*node));
  }
}

ProposerOptions TestCluster::ProposerOpts(ProposerMode mode) const {
  ProposerOptions o;
  o.tenant_id = tenant_;
  o.timeline_id = timeline_;
  o.mconf = mconf_;
  o.server = {170004, 0, uint32_t(kTestSegmentSize)};
  o.mode = mode;
  return o;
}

int TestCluster::AddProposer(ProposerOptions opts) {
  proposers_.push_back(std::make_unique<Proposer>(std::move(opts)));
  return int(proposers_.size()) - 1;
}

void TestCluster::Route(int p, ProposerReady& ready) {
  for (Outgoing& o : ready.messages) {
    int i = int(o.to.value()) - 1;
    Link& l = links_[{p, i}];
    if (l.up) l.to_acceptor.push_back(EncodeProposerMessage(o.msg));
  }
  ready.messages.clear();
}

void TestCluster::Connect(int p, int i) {
  Link& l = links_[{p, i}];
  NEON_CHECK(!l.up);
  l = Link{true, next_conn_++, {}, {}};
  ProposerReady ready;
  proposers_[p]->OnConnected(NodeId(i + 1), &ready);
  Route(p, ready);
}

void TestCluster::Disconnect(int p, int i) {
  Link& l = links_[{p, i}];
  if (!l.up) return;
  if (nodes_[i]) nodes_[i]->OnDisconnect(ConnId(l.conn));
  proposers_[p]->OnDisconnected(NodeId(i + 1));
  l = Link{};
}

void TestCluster::CrashAndRestart(int i) {
  for (int p = 0; p < int(proposers_.size()); p++) Disconnect(p, i);
  nodes_[i].reset();
  NEON_CHECK_OK(fs_->SimulateCrash());
  auto node = AcceptorNode::Open(fs_.get(), {NodeId(i + 1), DirOf(i), {}});
  NEON_CHECK_OK(node.status());
  nodes_[i] = std::move(*node);
}

void TestCluster::CollectOutbox(int i) {
  for (auto& [conn, bytes] : nodes_[i]->TakeOutbox()) {
    for (auto& [key, l] : links_) {
      if (l.up && l.conn == conn.value()) l.to_proposer.push_back(bytes);
    }
  }
}

bool TestCluster::DeliverOne(int p, int i, Link& l) {
  if (!l.up) return false;
  if (!l.to_acceptor.empty()) {
    std::string m = std::move(l.to_acceptor.front());
    l.to_acceptor.pop_front();
    trace.push_back(StrCat("p", p, "->a", i, " ", DebugString(*DecodeProposerMessage(m))));
    absl::Status s = nodes_[i]->Receive(ConnId(l.conn), m);
    if (s.ok() && auto_flush) s = nodes_[i]->Flush();
    if (!s.ok()) {
      errors.push_back(StrCat("acceptor ", i, ": ", s.ToString()));
      trace.push_back(StrCat("  a", i, " refuses: ", s.message()));
      Disconnect(p, i);
      return true;
    }
    CollectOutbox(i);
    return true;
  }
  if (!l.to_proposer.empty()) {
    auto msg = DecodeAcceptorMessage(l.to_proposer.front());
    l.to_proposer.pop_front();
    NEON_CHECK_OK(msg.status());
    trace.push_back(StrCat("a", i, "->p", p, " ", DebugString(*msg)));
    ProposerReady ready;
    absl::Status s = proposers_[p]->Step(NodeId(i + 1), *msg, &ready);
    Route(p, ready);
    if (!s.ok()) {
      errors.push_back(StrCat("proposer ", p, ": ", s.ToString()));
      trace.push_back(StrCat("  p", p, " drops the connection: ", s.message()));
      Disconnect(p, i);
    }
    return true;
  }
  return false;
}

int TestCluster::DeliverBetween(int p, int i, int max) {
  int n = 0;
  while (n < max && DeliverOne(p, i, links_[{p, i}])) n++;
  return n;
}

int TestCluster::DeliverAll(int max_rounds) {
  int total = 0;
  for (int round = 0; round < max_rounds; round++) {
    int n = 0;
    for (auto& [key, l] : links_) n += DeliverOne(key.first, key.second, l) ? 1 : 0;
    total += n;
    if (n == 0) break;
  }
  return total;
}

void TestCluster::Propose(int p, size_t n) {
  ProposerReady ready;
  Proposer& prop = *proposers_[p];
  NEON_CHECK_OK(prop.Propose(WalBytes(prop.term(), prop.available_lsn(), n), &ready));
  Route(p, ready);
}

void TestCluster::Tick(int p) {
  ProposerReady ready;
  proposers_[p]->Tick(&ready);
  Route(p, ready);
}

}  // namespace neon::consensus::testing
