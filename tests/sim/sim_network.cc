// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// SimWorld: TCP-like connections between computes and acceptors. Each
// direction is FIFO with a random per-message delay; a connection can break
// (both ends are told, later messages are dropped) or be cut by a partition.
// In datagram mode (fault phase only) messages inside a connection may also
// be lost, duplicated and reordered.

#include "base/check.h"
#include "base/str_cat.h"
#include "sim/sim_world.h"

namespace neon::sim {

void SimWorld::Connect(int c, uint64_t inc, int i) {
  ComputeHost& ch = computes_[c];
  if (ch.incarnation != inc || !ch.proposer || ch.conn_of[i] != 0) return;
  if (!acceptors_[i].node || Partitioned(c, i)) {
    ScheduleReconnect(c, i);
    return;
  }
  Conn conn;
  conn.id = next_conn_++;
  conn.compute = c;
  conn.compute_inc = inc;
  conn.acceptor = i;
  conn.acceptor_inc = acceptors_[i].incarnation;
  conns_[conn.id] = conn;
  ch.conn_of[i] = conn.id;
  Log(StrCat("compute ", c, " connects to acceptor ", i, " (conn ", conn.id, ")"));
  ProposerReady ready;
  ch.proposer->OnConnected(NodeId(i + 1), &ready);
  Route(c, ready);
  AfterProposerStep(c);
}

void SimWorld::ScheduleReconnect(int c, int i) {
  uint64_t inc = computes_[c].incarnation;
  At(rng_.Range(50, 500), [this, c, inc, i] { Connect(c, inc, i); });
}

bool SimWorld::Partitioned(int c, int i) const {
  auto it = acceptors_[i].partitioned_until.find(c);
  return it != acceptors_[i].partitioned_until.end() && now_ < it->second;
}

void SimWorld::Partition() {
  int c = int(rng_.Below(uint64_t(swarm_.computes)));
  int64_t until = now_ + rng_.Range(200, 3000);
  std::string cut;
  for (int i = 0; i < swarm_.acceptors; i++) {
    if (!rng_.Chance(0.5)) continue;
    acceptors_[i].partitioned_until[c] = until;
    cut += StrCat(" ", i);
    if (computes_[c].conn_of[i] != 0) CloseConn(computes_[c].conn_of[i], "partition");
  }
  Log(StrCat("partition: compute ", c, " cut from acceptors", cut, " until ", until));
}

void SimWorld::Route(int c, ProposerReady& ready) {
  for (consensus::Outgoing& o : ready.messages) {
    int i = int(o.to.value()) - 1;
    NEON_CHECK(i >= 0 && i < swarm_.acceptors);
    uint64_t conn = computes_[c].conn_of[i];
    if (conn == 0) continue;
    Log(StrCat("compute ", c, " -> acceptor ", i, ": ", consensus::DebugString(o.msg)));
    Send(conn, kToAcceptor, consensus::EncodeProposerMessage(o.msg));
  }
  ready.messages.clear();
}

void SimWorld::Send(uint64_t id, int dir, std::string bytes) {
  auto it = conns_.find(id);
  if (it == conns_.end() || !it->second.open) return;
  Conn& conn = it->second;
  result_.messages++;
  if (!liveness_ && rng_.Chance(swarm_.p_break)) return CloseConn(id, "injected break");
  if (Partitioned(conn.compute, conn.acceptor)) return CloseConn(id, "partitioned");
  int64_t at = now_ + rng_.Range(swarm_.delay_min_ms, swarm_.delay_max_ms);
  if (swarm_.datagram && !liveness_) {
    if (rng_.Chance(swarm_.p_drop)) return;
    if (rng_.Chance(swarm_.p_dup)) {
      int64_t dup_at = rng_.Range(swarm_.delay_min_ms, swarm_.delay_max_ms);
      At(dup_at, [this, id, dir, bytes] { Deliver(id, dir, bytes); });
    }
  } else {
    at = std::max(at, conn.fifo_at[dir]);
    conn.fifo_at[dir] = at;
  }
  At(at - now_, [this, id, dir, b = std::move(bytes)] { Deliver(id, dir, b); });
}

void SimWorld::Deliver(uint64_t id, int dir, const std::string& bytes) {
  auto it = conns_.find(id);
  if (it == conns_.end() || !it->second.open) return;
  if (dir == kToAcceptor) {
    DeliverToAcceptor(it->second, bytes);
  } else {
    DeliverToProposer(it->second, bytes);
  }
}

void SimWorld::CloseConn(uint64_t id, const std::string& why) {
  auto it = conns_.find(id);
  if (it == conns_.end() || !it->second.open) return;
  Conn conn = it->second;
  conns_.erase(it);  // nothing more is delivered on it
  Log(StrCat("conn ", id, " (compute ", conn.compute, ", acceptor ", conn.acceptor,
             ") closed: ", why));
  AcceptorHost& ah = acceptors_[conn.acceptor];
  if (ah.node && ah.incarnation == conn.acceptor_inc) ah.node->OnDisconnect(ConnId(id));
  ComputeHost& ch = computes_[conn.compute];
  if (ch.proposer && ch.incarnation == conn.compute_inc && ch.conn_of[conn.acceptor] == id) {
    ch.conn_of[conn.acceptor] = 0;
    ch.proposer->OnDisconnected(NodeId(conn.acceptor + 1));
    ScheduleReconnect(conn.compute, conn.acceptor);
  }
}

void SimWorld::CloseAllOf(int acceptor) {
  std::vector<uint64_t> ids;
  for (const auto& [id, conn] : conns_) {
    if (conn.acceptor == acceptor) ids.push_back(id);
  }
  for (uint64_t id : ids) CloseConn(id, "acceptor down");
}

}  // namespace neon::sim
