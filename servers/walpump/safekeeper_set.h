// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// The consensus library's Proposer (lib/consensus/proposer.h) driven over gRPC
// ProposerStream connections to the safekeepers. The owner thread calls everything; each
// connection has a reader thread (queues arriving frames and wakes the owner through
// `wake_fd`) and a writer thread (so a slow or stopped safekeeper never blocks the owner).
// Broken connections are retried with backoff (0.2 s, doubling, up to 5 s).
//
// Thread safety: one owner thread; the internal threads only touch queues.

#ifndef NEON_SERVERS_WALPUMP_SAFEKEEPER_SET_H_
#define NEON_SERVERS_WALPUMP_SAFEKEEPER_SET_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "consensus/proposer.h"
#include "safekeeper.grpc.pb.h"

namespace neon::walpump {

struct SafekeeperTarget {
  consensus::NodeId id;
  std::string grpc_target;  // host:port
};

class SafekeeperSet {
 public:
  SafekeeperSet(std::vector<SafekeeperTarget> targets, std::string token, int wake_fd);
  ~SafekeeperSet();
  SafekeeperSet(const SafekeeperSet&) = delete;
  SafekeeperSet& operator=(const SafekeeperSet&) = delete;

  // Replaces the proposer (closing every connection first) and connects to all.
  void Start(consensus::ProposerOptions options);
  // Closes every connection; the proposer is dropped.
  void Stop();

  // Processes arrived frames and ended streams, reconnects what is due, ticks every
  // 100 ms. Call whenever wake_fd fires and at least every 100 ms.
  void Poll();
  // Proposes local WAL (see Proposer::Propose).
  absl::Status Propose(std::string_view wal);

  consensus::Proposer* proposer() { return proposer_.get(); }
  int connected() const;
  // The last connection error per safekeeper, for status reports.
  std::string last_errors() const;

 private:
  using Stream =
      grpc::ClientReaderWriter<::safekeeper::ConsensusFrame, ::safekeeper::ConsensusFrame>;
  using Clock = std::chrono::steady_clock;
  struct Conn {
    std::unique_ptr<grpc::ClientContext> ctx;
    std::unique_ptr<Stream> stream;
    std::thread reader;
    std::thread writer;
    std::mutex mu;  // guards out, closing
    std::condition_variable cv;
    std::deque<std::string> out;
    bool closing = false;
    bool up = false;
    uint64_t epoch = 0;
    Clock::time_point retry_at;
    std::chrono::milliseconds backoff{200};
    std::string last_error;
  };
  struct Event {
    int node;
    uint64_t epoch;
    std::optional<std::string> frame;  // nullopt: the stream ended
  };

  void Connect(int i);
  void Close(int i, bool ended_by_server);
  void Route(consensus::ProposerReady& ready);
  void Handle(Event e);
  void Wake();

  std::vector<SafekeeperTarget> targets_;
  std::vector<std::unique_ptr<::safekeeper::SafekeeperService::Stub>> stubs_;
  std::string token_;
  int wake_fd_;
  consensus::ProposerOptions options_;
  std::unique_ptr<consensus::Proposer> proposer_;
  std::vector<std::unique_ptr<Conn>> conns_;
  Clock::time_point next_tick_;
  std::mutex mu_;  // guards events_
  std::deque<Event> events_;
};

}  // namespace neon::walpump

#endif  // NEON_SERVERS_WALPUMP_SAFEKEEPER_SET_H_
