// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// SimWorld: event loop, swarm parameters, phases, periodic faults.

#include <cstdio>

#include "base/check.h"
#include "base/str_cat.h"
#include "sim/sim_world.h"

namespace neon::sim {

const char* BrokenVariantName(BrokenVariant v) {
  switch (v) {
    case BrokenVariant::kNone: return "none";
    case BrokenVariant::kVoteWithoutPersist: return "vote-without-persist";
    case BrokenVariant::kAckBeforeFsync: return "ack-before-fsync";
    case BrokenVariant::kCommitPreviousTerm: return "commit-previous-term";
  }
  return "?";
}

bool ParseBrokenVariant(const std::string& s, BrokenVariant* v) {
  for (BrokenVariant b : {BrokenVariant::kNone, BrokenVariant::kVoteWithoutPersist,
                          BrokenVariant::kAckBeforeFsync, BrokenVariant::kCommitPreviousTerm}) {
    if (s == BrokenVariantName(b)) {
      *v = b;
      return true;
    }
  }
  return false;
}

std::string Swarm::ToString() const {
  char buf[512];
  std::snprintf(buf, sizeof(buf),
                "acceptors=%d computes=%d seg=%llu delay=%lld..%lldms p_break=%.4f "
                "datagram=%d(drop=%.3f dup=%.3f) crash_every=%lldms mid_io=%.2f "
                "partition_every=%lldms compute_crash_every=%lldms wal_every=%lldms window=%llu chunk=%llu",
                acceptors, computes, (unsigned long long)segment_size, (long long)delay_min_ms,
                (long long)delay_max_ms, p_break, int(datagram), p_drop, p_dup,
                (long long)acceptor_crash_every_ms, p_crash_mid_io,
                (long long)partition_every_ms, (long long)compute_crash_every_ms,
                (long long)wal_every_ms, (unsigned long long)max_inflight_bytes,
                (unsigned long long)max_append_bytes);
  return buf;
}

SimWorld::SimWorld(const SimOptions& options) : opts_(options), rng_(options.seed) {}

void SimWorld::At(int64_t delay_ms, std::function<void()> fn) {
  NEON_CHECK(delay_ms >= 0);
  events_.push(Event{now_ + delay_ms, next_seq_++, std::move(fn)});
}

void SimWorld::Log(const std::string& line) {
  if (opts_.verbose) std::fprintf(stderr, "[%6lld ms] %s\n", (long long)now_, line.c_str());
}

void SimWorld::ChooseSwarm() {
  Swarm& s = swarm_;
  s.acceptors = opts_.acceptors ? opts_.acceptors : (rng_.Chance(0.5) ? 3 : 5);
  s.computes = opts_.computes ? opts_.computes : (rng_.Chance(0.5) ? 1 : 2);
  static constexpr uint64_t kSegments[] = {1024, 4096, 65536};
  s.segment_size = kSegments[rng_.Below(3)];
  s.delay_min_ms = rng_.Range(0, 5);
  s.delay_max_ms = s.delay_min_ms + rng_.Range(1, 60);
  s.p_break = rng_.Chance(0.7) ? rng_.Uniform(0, 0.02) : 0;
  s.datagram = rng_.Chance(0.15);
  if (s.datagram) {
    s.p_drop = rng_.Uniform(0, 0.05);
    s.p_dup = rng_.Uniform(0, 0.05);
  }
  s.acceptor_crash_every_ms = rng_.Chance(0.8) ? rng_.Range(300, 5000) : 0;
  s.p_crash_mid_io = rng_.Uniform(0, 0.6);
  s.partition_every_ms = rng_.Chance(0.5) ? rng_.Range(500, 5000) : 0;
  s.compute_crash_every_ms = rng_.Chance(0.6) ? rng_.Range(500, 6000) : 0;
  s.wal_every_ms = rng_.Range(5, 50);
  s.wal_max_bytes = rng_.Range(1, 3000);
  static constexpr uint64_t kWindows[] = {256, 4096, 65536};
  s.max_inflight_bytes = kWindows[rng_.Below(3)];
  static constexpr uint64_t kChunks[] = {256, 4096, consensus::kMaxSendSize};
  s.max_append_bytes = kChunks[rng_.Below(3)];
}

void SimWorld::Setup() {
  tenant_ = *TenantId::Parse("3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a");
  timeline_ = *TimelineId::Parse("5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b");
  for (int i = 0; i < swarm_.acceptors; i++) {
    mconf_.members.push_back({NodeId(i + 1), StrCat("sk", i), 5454});
  }
  // The timeline starts mid-segment, as after a real basebackup.
  Lsn start(swarm_.segment_size * 3 + 40);
  timeline_start_ = start;
  consensus::ServerInfo server{170004, 1234, uint32_t(swarm_.segment_size)};
  // Everything below the timeline start counts as committed from the outset.
  checker_.OnProposerCommit(0, TermHistory({{Term(0), start}}), start);
  acceptors_.resize(swarm_.acceptors);
  for (int i = 0; i < swarm_.acceptors; i++) {
    AcceptorHost& h = acceptors_[i];
    h.fs = std::make_shared<FaultInjectionFileSystem>(NewMemFileSystem());
    auto st = consensus::PersistentState::NewTimeline(tenant_, timeline_, mconf_, server, start);
    NEON_CHECK_OK(AcceptorNode::CreateTimeline(*h.fs, "/sk/timeline", st));
    RestartAcceptor(i);
  }
  computes_.resize(swarm_.computes);
  for (int c = 0; c < swarm_.computes; c++) {
    computes_[c].conn_of.assign(swarm_.acceptors, 0);
    At(rng_.Range(0, 100), [this, c] { StartCompute(c, /*sync=*/true, Lsn()); });
  }
  At(kTickMs, [this] { TickComputes(); });
  for (int i = 0; i < swarm_.acceptors; i++) At(kMaintenanceMs, [this, i] { Maintain(i); });
  ScheduleFaults();
  At(opts_.fault_ms, [this] { EnterLiveness(); });
}

// Crash, partition and compute-crash timers, each re-arming itself.
void SimWorld::ScheduleFaults() {
  if (swarm_.acceptor_crash_every_ms > 0) {
    for (int i = 0; i < swarm_.acceptors; i++) ArmAcceptorCrash(i);
  }
  if (swarm_.compute_crash_every_ms > 0) {
    for (int c = 0; c < swarm_.computes; c++) ArmComputeCrash(c);
  }
  if (swarm_.partition_every_ms > 0) ArmPartition();
}

void SimWorld::ArmAcceptorCrash(int i) {
  At(rng_.Range(1, 2 * swarm_.acceptor_crash_every_ms), [this, i] {
    if (liveness_) return;
    if (acceptors_[i].node) {
      if (rng_.Chance(swarm_.p_crash_mid_io)) {
        acceptors_[i].fs->CrashAfterOps(rng_.Range(0, 30));  // dies inside some I/O sequence
      } else {
        CrashAcceptor(i, "random crash");
      }
    }
    ArmAcceptorCrash(i);
  });
}

void SimWorld::ArmComputeCrash(int c) {
  At(rng_.Range(1, 2 * swarm_.compute_crash_every_ms), [this, c] {
    if (liveness_) return;
    if (computes_[c].proposer) {
      Log(StrCat("compute ", c, " crashes"));
      KillCompute(c);
      result_.compute_restarts++;
      uint64_t inc = computes_[c].incarnation;
      At(rng_.Range(100, 1500), [this, c, inc] {
        if (!liveness_ && computes_[c].incarnation == inc) StartCompute(c, true, Lsn());
      });
    }
    ArmComputeCrash(c);
  });
}

void SimWorld::ArmPartition() {
  At(rng_.Range(1, 2 * swarm_.partition_every_ms), [this] {
    if (liveness_) return;
    Partition();
    ArmPartition();
  });
}

void SimWorld::EnterLiveness() {
  Log("=== liveness phase: faults off ===");
  liveness_ = true;
  for (int i = 0; i < swarm_.acceptors; i++) {
    acceptors_[i].fs->SetErrorRate(0, 0);
    acceptors_[i].partitioned_until.clear();
    if (!acceptors_[i].node) {
      RestartAcceptor(i);
    } else {
      acceptors_[i].fs->SetActive(true);  // disarm a pending mid-I/O crash
    }
  }
  for (int c = 0; c < swarm_.computes; c++) KillCompute(c);
  At(10, [this] { StartCompute(0, /*sync=*/true, Lsn()); });
  At(opts_.liveness_ms, [this] {
    if (!done_) checker_.Fail(StrCat("liveness: no new commit within ", opts_.liveness_ms,
                                     " ms after faults stopped (committed ",
                                     checker_.committed_lsn().ToString(), ")"));
  });
}

void SimWorld::FinalChecks() {
  for (int i = 0; i < swarm_.acceptors && checker_.ok(); i++) {
    if (acceptors_[i].node) CheckAcceptorWal(i);
  }
}

SimResult SimWorld::Run() {
  ChooseSwarm();
  result_.config = swarm_.ToString();
  Setup();
  while (!events_.empty() && checker_.ok() && !done_) {
    Event e = events_.top();
    events_.pop();
    now_ = e.at;
    e.fn();
    if (++result_.events > kMaxEvents) checker_.Fail("event budget exceeded (livelock?)");
  }
  if (checker_.ok()) FinalChecks();
  if (checker_.ok() && !done_) checker_.Fail("simulation ran out of events before liveness");
  result_.ok = checker_.ok();
  if (!result_.ok) result_.failure = StrCat("at ", now_, " ms: ", checker_.failure());
  result_.end_ms = now_;
  result_.elections = checker_.elections();
  result_.committed_bytes = checker_.committed_lsn().Minus(timeline_start_);
  return result_;
}

SimResult RunSimulation(const SimOptions& options) {
  SimWorld world(options);
  return world.Run();
}

}  // namespace neon::sim
