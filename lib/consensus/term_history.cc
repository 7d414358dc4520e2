// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// TermHistory, the divergence point and membership quorums.

#include <algorithm>

#include "base/check.h"
#include "base/str_cat.h"
#include "neon/consensus.h"

namespace neon::consensus {

TermHistory TermHistory::UpTo(Lsn flush) const {
  std::vector<TermSwitch> out;
  for (const TermSwitch& e : entries_) {
    if (e.lsn > flush) break;
    out.push_back(e);
  }
  return TermHistory(std::move(out));
}

Term TermHistory::LastTerm() const { return entries_.empty() ? Term(0) : entries_.back().term; }

Term TermHistory::TermAt(Lsn lsn) const {
  Term t(0);
  for (const TermSwitch& e : entries_) {
    if (e.lsn > lsn) break;
    t = e.term;  // a later entry at the same LSN owns the bytes from there on
  }
  return t;
}

absl::Status TermHistory::Validate() const {
  for (size_t i = 1; i < entries_.size(); i++) {
    if (entries_[i].term <= entries_[i - 1].term) {
      return absl::InvalidArgumentError(StrCat("term history: terms not increasing at entry ", i,
                                               ": ", ToString()));
    }
    if (entries_[i].lsn < entries_[i - 1].lsn) {
      return absl::InvalidArgumentError(StrCat("term history: LSNs decreasing at entry ", i, ": ",
                                               ToString()));
    }
  }
  return absl::OkStatus();
}

std::string TermHistory::ToString() const {
  std::string out = "[";
  for (size_t i = 0; i < entries_.size(); i++) {
    if (i > 0) out += ", ";
    out += StrCat("(", entries_[i].term.value(), ", ", entries_[i].lsn.ToString(), ")");
  }
  return out + "]";
}

// Walk both histories while the terms agree; the last shared entry i is where
// the logs are known identical. If the proposer has nothing after i, the
// acceptor is in the proposer's own term and everything it flushed is good;
// otherwise the common part ends where either side's next term begins.
// Entries with the same term but different LSNs cannot come from a correct
// peer (a term has one leader); they are treated as the divergence, which only
// ever truncates more.
std::optional<TermSwitch> FindHighestCommonPoint(const TermHistory& prop, const TermHistory& acc,
                                                 Lsn acc_flush) {
  const auto& p = prop.entries();
  const auto& a = acc.entries();
  std::optional<size_t> last;
  for (size_t i = 0; i < std::min(p.size(), a.size()); i++) {
    if (p[i].term != a[i].term || p[i].lsn != a[i].lsn) break;
    last = i;
  }
  if (!last) return std::nullopt;
  size_t i = *last;
  if (i + 1 == p.size()) return TermSwitch{p[i].term, acc_flush};
  Lsn prop_end = p[i + 1].lsn;
  Lsn acc_end = i + 1 < a.size() ? a[i + 1].lsn : acc_flush;
  return TermSwitch{p[i].term, std::min(prop_end, acc_end)};
}

bool MembershipConfig::Contains(NodeId id) const {
  for (const auto& m : members) {
    if (m.id == id) return true;
  }
  for (const auto& m : new_members) {
    if (m.id == id) return true;
  }
  return false;
}

std::vector<NodeId> MembershipConfig::AllNodes() const {
  std::vector<NodeId> out;
  for (const auto* set : {&members, &new_members}) {
    for (const auto& m : *set) {
      if (std::find(out.begin(), out.end(), m.id) == out.end()) out.push_back(m.id);
    }
  }
  return out;
}

namespace {
bool IsMajority(const std::vector<SafekeeperId>& set, const std::vector<NodeId>& voters) {
  size_t n = 0;
  for (const auto& m : set) {
    if (std::find(voters.begin(), voters.end(), m.id) != voters.end()) n++;
  }
  return n >= set.size() / 2 + 1;
}
}  // namespace

bool MembershipConfig::IsQuorum(const std::vector<NodeId>& voters) const {
  NEON_CHECK(!members.empty());
  if (!IsMajority(members, voters)) return false;
  return new_members.empty() || IsMajority(new_members, voters);
}

}  // namespace neon::consensus
