// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// SafetyChecker: the simulator's model of what must never happen. It keeps
// the longest committed log seen (as a term history up to an LSN: WAL bytes
// are a pure function of (term, lsn), so the history says what every byte
// is) and checks, after every event:
//   * at most one leader per term;
//   * a new leader of term T contains every commit reported by leaders of
//     terms below T (its start is at or past the highest such commit LSN,
//     and its history agrees below it). A leader of a lower term may still
//     finish its election after a higher term committed: it can never get
//     a quorum to accept anything, so it is not required to hold that WAL;
//   * no two committed logs differ (whatever the terms);
//   * commit LSNs reported by one proposer never go back; an acceptor's
//     commit never goes back within an incarnation, its persisted commit
//     never goes back across restarts;
//   * every acceptor's history is well-formed (terms increase along the
//     log) and agrees with the committed log up to its commit LSN;
//   * every WAL byte an acceptor holds is the byte its history attributes to
//     it, written by that term's leader (no invented or corrupted WAL).
// The first violation is kept; the run stops there.

#ifndef NEON_TESTS_SIM_CHECKER_H_
#define NEON_TESTS_SIM_CHECKER_H_

#include <map>
#include <string>

#include "consensus/acceptor.h"
#include "neon/consensus.h"

namespace neon::sim {

using consensus::Term;
using consensus::TermHistory;

// Byte at `lsn` as written by the leader of `term` (term >= 1).
char WalByte(Term term, uint64_t lsn);
std::string WalBytes(Term term, Lsn begin, size_t n);

class SafetyChecker {
 public:
  bool ok() const { return failure_.empty(); }
  const std::string& failure() const { return failure_; }
  Lsn committed_lsn() const { return committed_lsn_; }
  uint64_t elections() const { return elected_.size(); }

  // A proposer (unique id across restarts) produced WAL up to `end` in `term`.
  void OnWalProduced(Term term, Lsn end);
  void OnElected(uint64_t proposer_id, Term term, const TermHistory& history, Lsn start);
  void OnProposerCommit(uint64_t proposer_id, const TermHistory& history, Lsn commit);
  // After any event that touched the acceptor; `incarnation` changes on restart.
  void CheckAcceptor(int node, uint64_t incarnation, const consensus::Acceptor& a);
  // WAL bytes [begin, begin + wal.size()) read from the acceptor's disk.
  void CheckAcceptorWal(int node, const TermHistory& history, Lsn begin, const std::string& wal);
  void Fail(std::string what);

 private:
  // True if a and b attribute the same term to every byte in [from, to).
  static bool Agree(const TermHistory& a, const TermHistory& b, Lsn from, Lsn to);
  struct AcceptorSeen {
    uint64_t incarnation = 0;
    Lsn commit;
    Lsn persisted_commit;
    Term term;
  };

  std::string failure_;
  std::map<Term, uint64_t> elected_;  // term -> proposer id
  std::map<Term, Lsn> produced_;      // term -> highest LSN its leader wrote
  std::map<uint64_t, Lsn> proposer_commit_;
  TermHistory committed_history_;  // the longest committed log
  Lsn committed_lsn_;
  struct Committed {
    TermHistory history;
    Lsn lsn;
  };
  std::map<Term, Committed> committed_by_term_;  // highest commit made in each term
  std::map<int, AcceptorSeen> acceptors_;
};

}  // namespace neon::sim

#endif  // NEON_TESTS_SIM_CHECKER_H_
