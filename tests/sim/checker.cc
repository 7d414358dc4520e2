// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "sim/checker.h"

#include <set>

#include "base/str_cat.h"

namespace neon::sim {

char WalByte(Term term, uint64_t lsn) {
  uint64_t x = (term.value() * 0x9E3779B97F4A7C15ull) ^ (lsn * 0xC2B2AE3D27D4EB4Full);
  x ^= x >> 29;
  x *= 0xBF58476D1CE4E5B9ull;
  return char(x >> 56);
}

std::string WalBytes(Term term, Lsn begin, size_t n) {
  std::string out(n, '\0');
  for (size_t i = 0; i < n; i++) out[i] = WalByte(term, begin.value() + i);
  return out;
}

void SafetyChecker::Fail(std::string what) {
  if (failure_.empty()) failure_ = std::move(what);
}

bool SafetyChecker::Agree(const TermHistory& a, const TermHistory& b, Lsn from, Lsn to) {
  if (from >= to) return true;
  std::set<Lsn> points = {from};
  for (const auto* h : {&a, &b}) {
    for (const auto& e : h->entries()) {
      if (e.lsn > from && e.lsn < to) points.insert(e.lsn);
    }
  }
  for (Lsn p : points) {
    if (a.TermAt(p) != b.TermAt(p)) return false;
  }
  return true;
}

void SafetyChecker::OnWalProduced(Term term, Lsn end) {
  Lsn& e = produced_[term];
  e = std::max(e, end);
}

void SafetyChecker::OnElected(uint64_t proposer_id, Term term, const TermHistory& history,
                              Lsn start) {
  auto [it, inserted] = elected_.emplace(term, proposer_id);
  if (!inserted && it->second != proposer_id) {
    return Fail(StrCat("two leaders in term ", term.value(), ": proposers ", it->second, " and ",
                       proposer_id));
  }
  Committed before;  // the highest commit of any earlier term
  for (auto c = committed_by_term_.begin(); c != committed_by_term_.lower_bound(term); ++c) {
    if (c->second.lsn > before.lsn) before = c->second;
  }
  if (start < before.lsn) {
    return Fail(StrCat("leader of term ", term.value(), " starts at ", start.ToString(),
                       " below the LSN ", before.lsn.ToString(),
                       " committed in an earlier term: committed WAL lost"));
  }
  if (!Agree(history, before.history, Lsn(0), before.lsn)) {
    return Fail(StrCat("leader of term ", term.value(), " has history ", history.ToString(),
                       " which contradicts the log ", before.history.ToString(),
                       " committed in an earlier term below ", before.lsn.ToString()));
  }
  const auto& e = history.entries();
  for (size_t i = 0; i + 1 < e.size(); i++) {
    if (e[i + 1].lsn > e[i].lsn && produced_[e[i].term] < e[i + 1].lsn) {
      return Fail(StrCat("leader of term ", term.value(), " claims WAL of term ",
                         e[i].term.value(), " up to ", e[i + 1].lsn.ToString(),
                         " that was never written"));
    }
  }
}

void SafetyChecker::OnProposerCommit(uint64_t proposer_id, const TermHistory& history,
                                     Lsn commit) {
  Lsn& prev = proposer_commit_[proposer_id];
  if (commit < prev) {
    return Fail(StrCat("proposer ", proposer_id, " commit LSN moved back from ", prev.ToString(),
                       " to ", commit.ToString()));
  }
  prev = commit;
  if (!Agree(history, committed_history_, Lsn(0), std::min(commit, committed_lsn_))) {
    return Fail(StrCat("two different committed logs: ", history.ToString(), " up to ",
                       commit.ToString(), " vs ", committed_history_.ToString(), " up to ",
                       committed_lsn_.ToString()));
  }
  if (commit > committed_lsn_) {
    committed_history_ = history;
    committed_lsn_ = commit;
  }
  Term term = history.LastTerm();
  Committed& c = committed_by_term_[term];
  if (commit > c.lsn) c = Committed{history, commit};
}

void SafetyChecker::CheckAcceptor(int node, uint64_t incarnation, const consensus::Acceptor& a) {
  if (absl::Status s = a.history().Validate(); !s.ok()) {
    return Fail(StrCat("acceptor ", node, ": ", s.ToString()));
  }
  AcceptorSeen& seen = acceptors_[node];
  Lsn persisted = a.persisted().commit_lsn;
  if (persisted < seen.persisted_commit) {
    return Fail(StrCat("acceptor ", node, " persisted commit LSN moved back to ",
                       persisted.ToString()));
  }
  if (seen.incarnation == incarnation && (a.commit_lsn() < seen.commit || a.term() < seen.term)) {
    return Fail(StrCat("acceptor ", node, " commit LSN or term moved back"));
  }
  seen = AcceptorSeen{incarnation, a.commit_lsn(), persisted, a.term()};
  if (a.commit_lsn() > committed_lsn_) {
    return Fail(StrCat("acceptor ", node, " commit LSN ", a.commit_lsn().ToString(),
                       " beyond anything a proposer committed (", committed_lsn_.ToString(), ")"));
  }
  if (!Agree(a.history(), committed_history_, Lsn(0), a.commit_lsn())) {
    return Fail(StrCat("acceptor ", node, " history ", a.history().ToString(),
                       " contradicts the committed log ", committed_history_.ToString(),
                       " below its commit LSN ", a.commit_lsn().ToString()));
  }
}

void SafetyChecker::CheckAcceptorWal(int node, const TermHistory& history, Lsn begin,
                                     const std::string& wal) {
  for (size_t i = 0; i < wal.size(); i++) {
    uint64_t lsn = begin.value() + i;
    Term t = history.TermAt(Lsn(lsn));
    if (t == Term(0) || produced_[t] <= Lsn(lsn)) {
      return Fail(StrCat("acceptor ", node, " holds WAL at ", Lsn(lsn).ToString(),
                         " that no leader wrote (term ", t.value(), ")"));
    }
    if (wal[i] != WalByte(t, lsn)) {
      return Fail(StrCat("acceptor ", node, " WAL byte at ", Lsn(lsn).ToString(),
                         " differs from what the leader of term ", t.value(), " wrote"));
    }
  }
}

}  // namespace neon::sim
