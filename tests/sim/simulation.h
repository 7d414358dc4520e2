// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Deterministic simulation of the Paxos-replicated WAL: N acceptors (real
// AcceptorNode: state machine + control file + WAL segments, each on its
// own in-memory FaultInjectionFileSystem) and one or two computes (real
// Proposer, run as sync-safekeepers, then as a normal walproposer writing
// WAL) on a simulated network, single-threaded, in virtual time, with every
// random choice drawn from one seed.
//
// A run has a fault phase (message delay; connection breaks; partitions;
// optional datagram mode with loss, duplication and reordering inside a
// connection; acceptor crashes that drop unsynced data, some in the middle
// of an I/O sequence; compute crashes and restarts; two computes racing)
// and then a liveness phase (faults off, everything restarted, one compute)
// that must commit new WAL. The SafetyChecker runs after every event.
// Fault probabilities are chosen per seed (swarm testing).

#ifndef NEON_TESTS_SIM_SIMULATION_H_
#define NEON_TESTS_SIM_SIMULATION_H_

#include <cstdint>
#include <string>

namespace neon::sim {

enum class BrokenVariant {
  kNone,
  kVoteWithoutPersist,  // acceptor grants votes without persisting the term
  kAckBeforeFsync,      // acceptor acknowledges WAL it has not synced
  kCommitPreviousTerm,  // proposer commits earlier-term WAL by counting replicas
};
const char* BrokenVariantName(BrokenVariant v);
bool ParseBrokenVariant(const std::string& s, BrokenVariant* v);

struct SimOptions {
  uint64_t seed = 1;
  int acceptors = 0;  // 3 or 5; 0 = chosen by the seed
  int computes = 0;   // 1 or 2; 0 = chosen by the seed
  BrokenVariant broken = BrokenVariant::kNone;
  bool verbose = false;  // one trace line per event on stderr
  int64_t fault_ms = 12000;
  int64_t liveness_ms = 20000;
};

struct SimResult {
  bool ok = false;
  std::string failure;  // first violation, with the virtual time
  std::string config;   // the swarm parameters chosen by the seed
  int64_t end_ms = 0;
  uint64_t events = 0;
  uint64_t messages = 0;
  uint64_t elections = 0;
  uint64_t acceptor_crashes = 0;
  uint64_t compute_restarts = 0;
  uint64_t committed_bytes = 0;
};

SimResult RunSimulation(const SimOptions& options);

}  // namespace neon::sim

#endif  // NEON_TESTS_SIM_SIMULATION_H_
