// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// TestCluster: acceptor nodes on one in-memory (fault-injecting) file system
// and proposers, connected by perfect FIFO links that deliver when told to.
// For unit and scenario tests; the randomized simulator is tests/sim.

#ifndef NEON_TESTS_CONSENSUS_TEST_CLUSTER_H_
#define NEON_TESTS_CONSENSUS_TEST_CLUSTER_H_

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/fault_injection_fs.h"
#include "consensus/acceptor_node.h"
#include "consensus/proposer.h"

namespace neon::consensus::testing {

inline constexpr uint64_t kTestSegmentSize = 4096;
inline Lsn TestStartLsn() { return Lsn(0x10000 + 40); }

// Deterministic WAL content: the byte at `lsn` written by the leader of `term`.
inline char WalByte(Term term, uint64_t lsn) {
  uint64_t x = (term.value() * 0x9E3779B97F4A7C15ull) ^ (lsn * 0xC2B2AE3D27D4EB4Full);
  x ^= x >> 29;
  return char(x & 0xff);
}
inline std::string WalBytes(Term term, Lsn begin, size_t n) {
  std::string out(n, '\0');
  for (size_t i = 0; i < n; i++) out[i] = WalByte(term, begin.value() + i);
  return out;
}

class TestCluster {
 public:
  explicit TestCluster(int n_acceptors);

  MembershipConfig mconf() const { return mconf_; }
  ProposerOptions ProposerOpts(ProposerMode mode) const;
  std::string DirOf(int i) const { return "/sk" + std::to_string(i) + "/timeline"; }

  // Proposer slots: p = index.
  int AddProposer(ProposerOptions opts);
  Proposer& proposer(int p) { return *proposers_[p]; }
  int num_proposers() const { return int(proposers_.size()); }
  AcceptorNode& node(int i) { return *nodes_[i]; }
  bool up(int i) const { return nodes_[i] != nullptr; }
  FaultInjectionFileSystem& fs() { return *fs_; }

  void Connect(int p, int i);
  void Disconnect(int p, int i);
  // Crashes acceptor i (drops unsynced data of every node: one shared FS,
  // so only call when the others are idle) and reopens it.
  void CrashAndRestart(int i);

  // Delivers everything queued (both directions) until quiet, flushing the
  // acceptors after each round. Returns the number of messages delivered.
  int DeliverAll(int max_rounds = 10000);
  // Delivers only messages between proposer p and acceptor i (at most max).
  int DeliverBetween(int p, int i, int max = 1 << 30);
  void Propose(int p, size_t n);
  void Tick(int p);
  // Flush an acceptor after each message it receives (else WAL stays
  // written but unsynced until the next flush).
  bool auto_flush = true;
  // A log of errors returned by acceptors/proposers while delivering.
  std::vector<std::string> errors;
  // Every delivered message and error, rendered ("p0->a1 VoteRequest{...}").
  std::vector<std::string> trace;

 private:
  struct Link {
    bool up = false;
    uint64_t conn = 0;
    std::deque<std::string> to_acceptor, to_proposer;
  };
  void Route(int p, ProposerReady& ready);
  void CollectOutbox(int i);
  bool DeliverOne(int p, int i, Link& l);

  std::shared_ptr<FaultInjectionFileSystem> fs_;
  MembershipConfig mconf_;
  TenantId tenant_;
  TimelineId timeline_;
  std::vector<std::unique_ptr<AcceptorNode>> nodes_;
  std::vector<std::unique_ptr<Proposer>> proposers_;
  std::map<std::pair<int, int>, Link> links_;
  uint64_t next_conn_ = 1;
};

}  // namespace neon::consensus::testing

#endif  // NEON_TESTS_CONSENSUS_TEST_CLUSTER_H_
