// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// AcceptorNode: one timeline of a safekeeper: the Acceptor state machine
// wired to its durable storage (control file + WalStorage) through a
// FileSystem. It is the reference driver of the Acceptor, used by the
// simulator and meant for the safekeeper server: it decodes a message,
// steps the acceptor, executes the resulting ops in order and queues the
// encoded replies in an outbox.
//
// Errors: a refused message returns the acceptor's error (drop that
// connection); an I/O error makes the node failed(): it stops (fail-stop,
// never retrying an fsync) and must be reopened from disk.
//
// Thread safety: not thread-safe; one owner.

#ifndef NEON_LIB_CONSENSUS_ACCEPTOR_NODE_H_
#define NEON_LIB_CONSENSUS_ACCEPTOR_NODE_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "consensus/acceptor.h"
#include "consensus/wal_storage.h"
#include "neon/file_system.h"

namespace neon::consensus {

struct AcceptorNodeOptions {
  NodeId node_id;
  std::string dir;  // timeline directory: control file and WAL segments
  AcceptorTestingKnobs knobs;
};

class AcceptorNode {
 public:
  // Creates a timeline directory with its first control file. AlreadyExists
  // if a control file is there.
  static absl::Status CreateTimeline(FileSystem& fs, const std::string& dir,
                                     const PersistentState& initial);
  // Loads the control file (DataLoss if corrupt) and finds the end of WAL.
  static absl::StatusOr<std::unique_ptr<AcceptorNode>> Open(FileSystem* fs,
                                                            AcceptorNodeOptions options);

  // Decodes and processes one message from connection `from`.
  absl::Status Receive(ConnId from, std::string_view bytes);
  absl::Status Step(ConnId from, const ProposerMessage& msg);
  // End of an inbound batch (see Acceptor::Flush).
  absl::Status Flush();
  absl::Status Checkpoint();
  void OnDisconnect(ConnId conn) { acceptor_->OnDisconnect(conn); }
  // Deletes WAL segments below the acceptor's removal horizon.
  absl::Status RemoveOldSegments();

  // Encoded replies, in order, since the last call.
  std::vector<std::pair<ConnId, std::string>> TakeOutbox() { return std::move(outbox_); }
  bool failed() const { return !error_.ok(); }
  const absl::Status& error() const { return error_; }
  Acceptor& acceptor() { return *acceptor_; }
  const Acceptor& acceptor() const { return *acceptor_; }
  WalStorage& wal() { return *wal_; }

 private:
  AcceptorNode(FileSystem* fs, AcceptorNodeOptions options) : fs_(fs), opts_(std::move(options)) {}
  absl::Status Execute(AcceptorReady& ready);
  absl::Status ExecuteOne(AcceptorOp& op);
  absl::Status SendWal(const SendWalOp& op);

  FileSystem* fs_;
  AcceptorNodeOptions opts_;
  std::unique_ptr<WalStorage> wal_;
  std::unique_ptr<Acceptor> acceptor_;
  std::vector<std::pair<ConnId, std::string>> outbox_;
  absl::Status error_;  // sticky I/O failure
};

}  // namespace neon::consensus

#endif  // NEON_LIB_CONSENSUS_ACCEPTOR_NODE_H_
