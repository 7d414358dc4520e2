// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "consensus/acceptor_node.h"

#include "base/check.h"
#include "base/status_macros.h"
#include "base/str_cat.h"

namespace neon::consensus {

absl::Status AcceptorNode::CreateTimeline(FileSystem& fs, const std::string& dir,
                                          const PersistentState& initial) {
  NEON_RETURN_IF_ERROR(fs.CreateDirs(dir));
  if (fs.FileExists(JoinPath(dir, kControlFileName))) {
    return absl::AlreadyExistsError(StrCat("timeline already exists in ", dir));
  }
  NEON_RETURN_IF_ERROR(SaveControlFile(fs, dir, initial));
  // The directory entry of `dir` itself must survive too.
  return fs.SyncDir(DirName(dir));
}

absl::StatusOr<std::unique_ptr<AcceptorNode>> AcceptorNode::Open(FileSystem* fs,
                                                                 AcceptorNodeOptions options) {
  NEON_ASSIGN_OR_RETURN(PersistentState state, LoadControlFile(*fs, options.dir));
  std::unique_ptr<AcceptorNode> node(new AcceptorNode(fs, std::move(options)));
  Lsn scan_start = std::max(state.commit_lsn, state.local_start_lsn);
  NEON_ASSIGN_OR_RETURN(node->wal_, WalStorage::Open(fs, node->opts_.dir,
                                                     state.server.wal_seg_size,
                                                     state.local_start_lsn, scan_start));
  AcceptorOptions aopts{node->opts_.node_id, node->opts_.knobs};
  node->acceptor_ = std::make_unique<Acceptor>(aopts, std::move(state), node->wal_->flush_lsn());
  return node;
}

absl::Status AcceptorNode::Receive(ConnId from, std::string_view bytes) {
  NEON_ASSIGN_OR_RETURN(ProposerMessage msg, DecodeProposerMessage(bytes));
  return Step(from, msg);
}

absl::Status AcceptorNode::Step(ConnId from, const ProposerMessage& msg) {
  NEON_RETURN_IF_ERROR(error_);
  AcceptorReady ready;
  NEON_RETURN_IF_ERROR(acceptor_->Step(from, msg, &ready));
  return Execute(ready);
}

absl::Status AcceptorNode::Flush() {
  NEON_RETURN_IF_ERROR(error_);
  AcceptorReady ready;
  acceptor_->Flush(&ready);
  return Execute(ready);
}

absl::Status AcceptorNode::Checkpoint() {
  NEON_RETURN_IF_ERROR(error_);
  AcceptorReady ready;
  acceptor_->Checkpoint(&ready);
  return Execute(ready);
}

absl::Status AcceptorNode::RemoveOldSegments() {
  NEON_RETURN_IF_ERROR(error_);
  // (min with the storage's own flush only matters under the broken
  // ack_before_fsync knob, where the acceptor runs ahead of the disk.)
  Lsn horizon = std::min(acceptor_->RemovalHorizon(), wal_->flush_lsn());
  absl::Status s = wal_->RemoveSegmentsBelow(horizon);
  if (!s.ok()) error_ = s;
  return s;
}

absl::Status AcceptorNode::Execute(AcceptorReady& ready) {
  for (AcceptorOp& op : ready.ops) {
    absl::Status s = ExecuteOne(op);
    if (!s.ok()) {
      error_ = Annotate(s, StrCat("acceptor node ", opts_.node_id.value()));
      outbox_.clear();  // nothing after a failed op may be sent; be conservative
      return error_;
    }
  }
  // The storage must agree with what the acceptor believes.
  NEON_CHECK(wal_->write_lsn() == acceptor_->write_lsn());
  if (!opts_.knobs.ack_before_fsync) NEON_CHECK(wal_->flush_lsn() == acceptor_->flush_lsn());
  return absl::OkStatus();
}

absl::Status AcceptorNode::ExecuteOne(AcceptorOp& op) {
  if (auto* t = std::get_if<TruncateWalOp>(&op)) return wal_->Truncate(t->end);
  if (auto* a = std::get_if<AppendWalOp>(&op)) return wal_->Write(a->begin, a->data);
  if (std::holds_alternative<SyncWalOp>(op)) return wal_->Flush();
  if (auto* p = std::get_if<PersistStateOp>(&op)) return SaveControlFile(*fs_, opts_.dir, p->state);
  if (auto* m = std::get_if<SendOp>(&op)) {
    outbox_.emplace_back(m->to, EncodeAcceptorMessage(m->msg));
    return absl::OkStatus();
  }
  return SendWal(std::get<SendWalOp>(op));
}

absl::Status AcceptorNode::SendWal(const SendWalOp& op) {
  absl::StatusOr<std::string> wal = wal_->Read(op.begin, op.end);
  if (!wal.ok()) {
    // Removed or out of range: the reader will ask elsewhere; not a failure
    // of this node unless the file system itself failed.
    absl::StatusCode c = wal.status().code();
    if (c == absl::StatusCode::kNotFound || c == absl::StatusCode::kOutOfRange) {
      return absl::OkStatus();
    }
    return wal.status();
  }
  outbox_.emplace_back(op.to, EncodeAcceptorMessage(WalReadResponse{op.term, op.begin,
                                                                    std::move(*wal)}));
  return absl::OkStatus();
}

}  // namespace neon::consensus
