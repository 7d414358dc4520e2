// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Test helper: the consensus library's Proposer (lib/consensus/proposer.h) driven over real
// gRPC ProposerStream connections to safekeeper processes, on the test's thread (a reader
// thread per connection only queues what arrives). Also deterministic WAL content, and a
// StreamWal reader.

#ifndef NEON_TESTS_SERVERS_SAFEKEEPER_PROPOSER_UTIL_H_
#define NEON_TESTS_SERVERS_SAFEKEEPER_PROPOSER_UTIL_H_

#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "consensus/proposer.h"
#include "safekeeper.grpc.pb.h"

namespace neon::testing {

// The WAL byte at `lsn` as the leader of `term` writes it in these tests.
char SkWalByte(uint64_t term, uint64_t lsn);
std::string SkWalBytes(uint64_t term, uint64_t begin, size_t n);

class GrpcProposer {
 public:
  // targets[i] is the gRPC address of node i + 1 (the ids of options.mconf).
  GrpcProposer(consensus::ProposerOptions options, std::vector<std::string> targets,
               std::string token = "");
  ~GrpcProposer();
  GrpcProposer(const GrpcProposer&) = delete;
  GrpcProposer& operator=(const GrpcProposer&) = delete;

  void Connect(int i);
  void Disconnect(int i);
  bool connected(int i) const { return conns_[i].up; }
  // Node i moved (restarted on another port); takes effect at the next Connect.
  void SetTarget(int i, const std::string& target);
  // Processes whatever has arrived, without waiting.
  void Poll();
  // Processes what arrives (and ticks the proposer every 100 ms) until `pred` holds; false
  // on timeout.
  bool RunUntil(const std::function<bool()>& pred, int timeout_ms = 30000);
  // Proposes `n` bytes of SkWalBytes(term, available_lsn) in chunks, processing replies while
  // the proposer pushes back. False if the proposer is not elected (or stops).
  bool ProposeBytes(size_t n, int timeout_ms = 60000);
  consensus::Proposer& proposer() { return *proposer_; }

  // Connections that ended: node index and the stream's final status.
  std::vector<std::pair<int, grpc::Status>> closed;
  // Errors of Proposer::Step (an acceptor broke the protocol).
  std::vector<std::string> step_errors;

 private:
  using Stream = grpc::ClientReaderWriter<::safekeeper::ConsensusFrame, ::safekeeper::ConsensusFrame>;
  struct Conn {
    std::unique_ptr<grpc::ClientContext> ctx;
    std::unique_ptr<Stream> stream;
    std::thread reader;
    bool up = false;
    bool ended = false;  // the reader saw the end of the stream
    uint64_t epoch = 0;
  };
  struct Event {
    int node;
    uint64_t epoch;
    std::optional<std::string> frame;  // nullopt: the stream ended
  };
  void Route(consensus::ProposerReady& ready);
  void Handle(Event e);
  void Close(int i, bool ended_by_server);

  std::unique_ptr<consensus::Proposer> proposer_;
  consensus::ProposerOptions options_;
  std::vector<std::unique_ptr<::safekeeper::SafekeeperService::Stub>> stubs_;
  std::string token_;
  std::vector<Conn> conns_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Event> events_;
};

// Reads a timeline's WAL with StreamWal from `start_lsn` until `end_lsn` has arrived (or the
// stream fails / `timeout_ms` passes). Returns the status and fills `*wal` with the bytes
// received (contiguity is checked: a gap is an INTERNAL status). Optionally sends `feedback`
// after the first message.
grpc::Status ReadWal(const std::string& target, const std::string& tenant,
                     const std::string& timeline, uint64_t start_lsn, uint64_t end_lsn,
                     bool include_uncommitted, std::string* wal, int timeout_ms = 30000,
                     const std::string& token = "",
                     const std::optional<::safekeeper::PageserverFeedback>& feedback = {});

}  // namespace neon::testing

#endif  // NEON_TESTS_SERVERS_SAFEKEEPER_PROPOSER_UTIL_H_
