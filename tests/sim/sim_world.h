// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// SimWorld: the simulation's internals (see simulation.h). Split over
// simulation.cc (event loop, phases, swarm), sim_network.cc (connections and
// message delivery) and sim_hosts.cc (acceptor and compute lifecycles).

#ifndef NEON_TESTS_SIM_SIM_WORLD_H_
#define NEON_TESTS_SIM_SIM_WORLD_H_

#include <functional>
#include <map>
#include <memory>
#include <queue>
#include <string>
#include <vector>

#include "base/fault_injection_fs.h"
#include "consensus/acceptor_node.h"
#include "consensus/proposer.h"
#include "sim/checker.h"
#include "sim/sim_rng.h"
#include "sim/simulation.h"

namespace neon::sim {

using consensus::AcceptorNode;
using consensus::ConnId;
using consensus::NodeId;
using consensus::Proposer;
using consensus::ProposerReady;

// Per-seed fault parameters.
struct Swarm {
  int acceptors = 3;
  int computes = 1;
  uint64_t segment_size = 4096;
  int64_t delay_min_ms = 0, delay_max_ms = 10;
  double p_break = 0;  // per message
  bool datagram = false;
  double p_drop = 0, p_dup = 0;
  int64_t acceptor_crash_every_ms = 0;  // mean gap per acceptor; 0 = never
  double p_crash_mid_io = 0;
  int64_t partition_every_ms = 0;
  int64_t compute_crash_every_ms = 0;
  int64_t wal_every_ms = 20;
  int64_t wal_max_bytes = 2000;
  uint64_t max_inflight_bytes = 65536;  // proposer window per acceptor
  uint64_t max_append_bytes = 131072;   // proposer chunk size (scaled-down MAX_SEND_SIZE)
  std::string ToString() const;
};

constexpr int kToAcceptor = 0;
constexpr int kToProposer = 1;
constexpr uint64_t kMaxEvents = 3'000'000;
constexpr int64_t kSyncTimeoutMs = 6000;
constexpr int64_t kTickMs = 100;
constexpr int64_t kMaintenanceMs = 500;
constexpr uint64_t kLivenessWrites = 20;

struct Conn {
  uint64_t id = 0;
  int compute = 0;
  uint64_t compute_inc = 0;
  int acceptor = 0;
  uint64_t acceptor_inc = 0;
  bool open = true;
  int64_t fifo_at[2] = {0, 0};
};

struct AcceptorHost {
  std::shared_ptr<FaultInjectionFileSystem> fs;
  std::unique_ptr<AcceptorNode> node;
  uint64_t incarnation = 0;
  bool flush_scheduled = false;
  std::map<int, int64_t> partitioned_until;  // compute -> time
};

struct ComputeHost {
  uint64_t incarnation = 0;
  uint64_t proposer_id = 0;
  std::unique_ptr<Proposer> proposer;
  std::vector<uint64_t> conn_of;  // per acceptor, 0 = none
  Lsn last_commit;
  bool elected_reported = false;
};

class SimWorld {
 public:
  explicit SimWorld(const SimOptions& options);
  SimResult Run();

  // simulation.cc
  void At(int64_t delay_ms, std::function<void()> fn);
  void Log(const std::string& line);
  void ChooseSwarm();
  void Setup();
  void EnterLiveness();
  void ScheduleFaults();
  void ArmAcceptorCrash(int i);
  void ArmComputeCrash(int c);
  void ArmPartition();
  void FinalChecks();

  // sim_network.cc
  void Connect(int c, uint64_t inc, int i);
  void ScheduleReconnect(int c, int i);
  void Send(uint64_t conn, int dir, std::string bytes);
  void Deliver(uint64_t conn, int dir, const std::string& bytes);
  void CloseConn(uint64_t conn, const std::string& why);
  void CloseAllOf(int acceptor);
  void Partition();
  bool Partitioned(int c, int i) const;
  void Route(int c, ProposerReady& ready);

  // sim_hosts.cc
  void DeliverToAcceptor(Conn& conn, const std::string& bytes);
  void FlushAcceptor(int i);
  void SendOutbox(int i);
  void CrashAcceptor(int i, const std::string& why);
  void RestartAcceptor(int i);
  void Maintain(int i);
  void CheckAcceptor(int i);
  void CheckAcceptorWal(int i);
  void StartCompute(int c, bool sync, Lsn start);
  void KillCompute(int c);
  void DeliverToProposer(Conn& conn, const std::string& bytes);
  void AfterProposerStep(int c);
  void TickComputes();
  void WriteWal(int c, uint64_t inc);

  SimOptions opts_;
  Swarm swarm_;
  SimRng rng_;
  SafetyChecker checker_;
  SimResult result_;
  int64_t now_ = 0;
  bool liveness_ = false;
  bool done_ = false;
  Lsn liveness_target_;
  Lsn timeline_start_;
  uint64_t liveness_writes_ = 0;
  uint64_t next_seq_ = 0;
  uint64_t next_conn_ = 1;
  uint64_t next_proposer_id_ = 1;
  consensus::MembershipConfig mconf_;
  TenantId tenant_;
  TimelineId timeline_;
  std::vector<AcceptorHost> acceptors_;
  std::vector<ComputeHost> computes_;
  std::map<uint64_t, Conn> conns_;

  struct Event {
    int64_t at;
    uint64_t seq;
    std::function<void()> fn;
    bool operator>(const Event& o) const { return at != o.at ? at > o.at : seq > o.seq; }
  };
  std::priority_queue<Event, std::vector<Event>, std::greater<Event>> events_;
};

}  // namespace neon::sim

#endif  // NEON_TESTS_SIM_SIM_WORLD_H_
