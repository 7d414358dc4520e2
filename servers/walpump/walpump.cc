// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "walpump/walpump.h"

#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <utility>

#include "base/status_macros.h"
#include "base/str_cat.h"
#include "common/http_server.h"
#include "common/log.h"
#include "httplib.h"
#include "neon/file_system.h"
#include "nlohmann/json.hpp"
#include "walpump/pg_replication.h"
#include "walpump/safekeeper_set.h"

namespace neon::walpump {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr size_t kProposeChunk = 128 * 1024;
constexpr size_t kMaxPendingWal = 8u << 20;  // read from the source, not yet proposed

// What a first run established; the rest of the runs resume from it.
struct State {
  uint64_t system_id = 0;
  uint32_t pg_timeline = 0;
  uint32_t pg_version = 0;
  uint32_t wal_seg_size = 0;
  Lsn import_lsn;  // the timeline's start: the base backup's end
  std::vector<uint64_t> safekeeper_ids;
  bool safekeepers_created = false;
};

json StateJson(const WalPumpOptions& o, const State& s) {
  return {{"tenant_id", o.tenant_id.ToString()},
          {"timeline_id", o.timeline_id.ToString()},
          {"system_id", std::to_string(s.system_id)},
          {"pg_timeline", s.pg_timeline},
          {"pg_version", s.pg_version},
          {"wal_seg_size", s.wal_seg_size},
          {"import_lsn", s.import_lsn.ToString()},
          {"safekeeper_ids", s.safekeeper_ids},
          {"safekeepers_created", s.safekeepers_created},
          {"slot", o.slot}};
}

// status.json is for readers only (neon_local, operators): replaced atomically, not synced,
// so the streaming loop never waits for a disk flush to report progress.
void WriteStatusFile(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << text;
    if (!f) return;
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
}

// state.json must survive a crash: written durably (temp file, sync, rename, sync the dir).
absl::Status WriteStateFile(const WalPumpOptions& o, const State& s) {
  return WriteFileAtomic(*NewPosixFileSystem(), o.state_dir + "/state.json",
                         StateJson(o, s).dump(2) + "\n");
}

absl::StatusOr<std::optional<State>> LoadState(const WalPumpOptions& o) {
  const std::string path = o.state_dir + "/state.json";
  absl::StatusOr<std::string> text = ReadFileToString(*NewPosixFileSystem(), path);
  if (absl::IsNotFound(text.status())) return std::optional<State>();
  NEON_RETURN_IF_ERROR(text.status());
  json j = json::parse(*text, nullptr, false);
  auto bad = [&](const std::string& why) {
    return absl::DataLossError(StrCat(path, ": ", why, "; move it away to start over"));
  };
  if (!j.is_object()) return bad("not a JSON object");
  try {
    if (j.at("tenant_id").get<std::string>() != o.tenant_id.ToString() ||
        j.at("timeline_id").get<std::string>() != o.timeline_id.ToString()) {
      return absl::FailedPreconditionError(
          StrCat(path, " belongs to timeline ", j.at("tenant_id").get<std::string>(), "/",
                 j.at("timeline_id").get<std::string>(), ", not ", o.tenant_id.ToString(), "/",
                 o.timeline_id.ToString(), ": use another --state-dir"));
    }
    State s;
    s.system_id = std::stoull(j.at("system_id").get<std::string>());
    s.pg_timeline = j.at("pg_timeline").get<uint32_t>();
    s.pg_version = j.at("pg_version").get<uint32_t>();
    s.wal_seg_size = j.at("wal_seg_size").get<uint32_t>();
    absl::StatusOr<Lsn> l = Lsn::Parse(j.at("import_lsn").get<std::string>());
    if (!l.ok()) return bad("import_lsn is not an LSN");
    s.import_lsn = *l;
    s.safekeeper_ids = j.at("safekeeper_ids").get<std::vector<uint64_t>>();
    s.safekeepers_created = j.at("safekeepers_created").get<bool>();
    return std::optional<State>(s);
  } catch (const std::exception& e) {
    return bad(e.what());
  }
}

// One HTTP call; the reply's status and parsed body.
struct HttpReply {
  int status = 0;
  json body;
  std::string text;
};

absl::StatusOr<HttpReply> Http(const std::string& hostport, const std::string& token,
                               const std::string& method, const std::string& path,
                               const std::string& body = "",
                               const std::string& type = "application/json",
                               int timeout_s = 30) {
  std::string host;
  int port = 0;
  NEON_RETURN_IF_ERROR(server::ParseHostPort(hostport, &host, &port));
  httplib::Client cli(host, port);
  cli.set_connection_timeout(5);
  cli.set_read_timeout(timeout_s);
  cli.set_write_timeout(timeout_s);
  httplib::Headers headers;
  if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
  httplib::Result r = method == "GET"    ? cli.Get(path, headers)
                      : method == "POST" ? cli.Post(path, headers, body, type)
                      : method == "PUT"  ? cli.Put(path, headers, body, type)
                                         : cli.Delete(path, headers);
  if (!r) {
    return absl::UnavailableError(
        StrCat(method, " http://", hostport, path, ": ", httplib::to_string(r.error())));
  }
  HttpReply out;
  out.status = r->status;
  out.text = r->body;
  out.body = json::parse(r->body, nullptr, false);
  return out;
}

std::string ReplyMessage(const HttpReply& r) {
  if (r.body.is_object() && r.body.contains("msg") && r.body["msg"].is_string()) {
    return r.body["msg"].get<std::string>();
  }
  return r.text;
}

absl::StatusOr<uint32_t> ParseSegmentSize(const std::string& text) {
  // SHOW wal_segment_size: "16MB", "1GB", ...
  char* end = nullptr;
  const unsigned long v = std::strtoul(text.c_str(), &end, 10);
  const std::string unit = end;
  uint64_t bytes = v;
  if (unit == "MB") bytes <<= 20;
  else if (unit == "GB") bytes <<= 30;
  else if (unit == "kB") bytes <<= 10;
  else if (!unit.empty()) return absl::InternalError(StrCat("wal_segment_size: cannot parse ", text));
  return static_cast<uint32_t>(bytes);
}

class WalPump {
 public:
  WalPump(const WalPumpOptions& o, std::atomic<bool>* stop, int wake_fd)
      : o_(o), stop_(stop), wake_fd_(wake_fd) {}

  absl::Status Run() {
    std::error_code ec;
    std::filesystem::create_directories(o_.state_dir, ec);
    if (ec) return absl::FailedPreconditionError(StrCat("--state-dir ", o_.state_dir, ": ", ec.message()));
    NEON_ASSIGN_OR_RETURN(state_, LoadState(o_));
    auto pause = std::chrono::seconds(1);
    while (!stop_->load()) {
      absl::Status s = Cycle();
      if (stop_->load()) break;
      if (absl::IsInvalidArgument(s) || absl::IsFailedPrecondition(s) || absl::IsDataLoss(s) ||
          absl::IsAlreadyExists(s)) {
        SetPhase("failed", s);
        server::LogError("walpump_failed", {{"error", std::string(s.message())}});
        return s;
      }
      server::LogWarn("walpump_retrying", {{"error", std::string(s.message())},
                                           {"pause_s", int64_t(pause.count())}});
      SetPhase("retrying", s);
      Sleep(pause);
      pause = std::min(pause * 2, std::chrono::seconds(10));
      if (phase_seen_streaming_) pause = std::chrono::seconds(1);
      phase_seen_streaming_ = false;
    }
    set_.reset();
    SetPhase("stopped", absl::OkStatus());
    server::LogInfo("walpump_stopped", {{"received_lsn", received_.ToString()},
                                        {"commit_lsn", commit_.ToString()}});
    return absl::OkStatus();
  }

 private:
  void Sleep(std::chrono::milliseconds d) {
    const auto until = Clock::now() + d;
    while (!stop_->load() && Clock::now() < until) {
      pollfd p{wake_fd_, POLLIN, 0};
      ::poll(&p, 1, 100);
      DrainWake();
    }
  }

  void DrainWake() {
    uint64_t v;
    while (::read(wake_fd_, &v, sizeof(v)) == sizeof(v)) {
    }
  }

  void SetPhase(const std::string& phase, const absl::Status& error) {
    phase_ = phase;
    if (!error.ok()) error_ = std::string(error.message());
    if (phase == "streaming") error_.clear();
    WriteStatus();
  }

  void WriteStatus() {
    json j = {{"phase", phase_},
              {"pid", int64_t(::getpid())},
              {"tenant_id", o_.tenant_id.ToString()},
              {"timeline_id", o_.timeline_id.ToString()},
              {"source_application_name", o_.application_name},
              {"slot", o_.slot}};
    if (state_) j["start_lsn"] = state_->import_lsn.ToString();
    if (received_.valid()) j["received_lsn"] = received_.ToString();
    if (commit_.valid()) j["commit_lsn"] = commit_.ToString();
    if (set_ != nullptr && set_->proposer() != nullptr) {
      j["term"] = set_->proposer()->term().value();
      j["safekeepers_connected"] = set_->connected();
    }
    if (!error_.empty()) j["error"] = error_;
    WriteStatusFile(o_.state_dir + "/status.json", j.dump(2) + "\n");
    last_status_write_ = Clock::now();
  }

  absl::Status Cycle() {
    SetPhase("starting", absl::OkStatus());
    NEON_ASSIGN_OR_RETURN(conn_, PgReplicationConnection::Connect(o_.source, o_.application_name));
    const int version = conn_->server_version();
    if (version / 10000 != 15) {
      return absl::FailedPreconditionError(
          StrCat("the source runs Postgres ", version, "; only Postgres 15 is supported"));
    }
    NEON_ASSIGN_OR_RETURN(SystemIdentity id, conn_->IdentifySystem());
    NEON_ASSIGN_OR_RETURN(std::string fpw, conn_->Show("full_page_writes"));
    if (fpw != "on") {
      return absl::FailedPreconditionError(
          "the source has full_page_writes = off; its base backups cannot be imported");
    }
    NEON_ASSIGN_OR_RETURN(std::string seg_text, conn_->Show("wal_segment_size"));
    NEON_ASSIGN_OR_RETURN(uint32_t seg, ParseSegmentSize(seg_text));
    server::LogInfo("source_connected", {{"system_id", std::to_string(id.system_id)},
                                         {"timeline", id.timeline},
                                         {"flush_lsn", id.flush_lsn.ToString()},
                                         {"server_version", version}});
    if (!state_) NEON_RETURN_IF_ERROR(Bootstrap(id, uint32_t(version), seg));
    if (state_->system_id != id.system_id) {
      return absl::FailedPreconditionError(
          StrCat("the source's system identifier is ", id.system_id, " but this timeline was "
                 "imported from ", state_->system_id, ": it is a different cluster"));
    }
    if (state_->pg_timeline != id.timeline) {
      return absl::FailedPreconditionError(
          StrCat("the source is on Postgres timeline ", id.timeline, " but the WAL so far is "
                 "from timeline ", state_->pg_timeline, " (promoted or restored?)"));
    }
    if (!state_->safekeepers_created) NEON_RETURN_IF_ERROR(CreateOnSafekeepers());

    std::vector<SafekeeperTarget> targets;
    for (size_t i = 0; i < o_.safekeepers.size(); i++) {
      targets.push_back({consensus::NodeId(state_->safekeeper_ids[i]), o_.safekeepers[i]});
    }
    set_ = std::make_unique<SafekeeperSet>(targets, o_.token, wake_fd_);

    // sync-safekeepers: the agreed end of WAL.
    SetPhase("syncing", absl::OkStatus());
    set_->Start(Options(consensus::ProposerMode::kSyncSafekeepers, Lsn()));
    NEON_RETURN_IF_ERROR(RunUntil([&] {
      return set_->proposer()->phase() == consensus::ProposerPhase::kSynced;
    }, "sync-safekeepers"));
    const Lsn sync_lsn = set_->proposer()->sync_lsn();
    server::LogInfo("safekeepers_synced", {{"lsn", sync_lsn.ToString()},
                                           {"term", set_->proposer()->term().value()}});

    // The proposer that streams, elected exactly there.
    SetPhase("electing", absl::OkStatus());
    set_->Start(Options(consensus::ProposerMode::kNormal, sync_lsn));
    NEON_RETURN_IF_ERROR(RunUntil([&] {
      return set_->proposer()->phase() == consensus::ProposerPhase::kElected;
    }, "election"));
    server::LogInfo("proposer_elected", {{"term", set_->proposer()->term().value()},
                                         {"start_lsn", sync_lsn.ToString()}});

    NEON_RETURN_IF_ERROR(conn_->StartReplication(o_.slot, sync_lsn, state_->pg_timeline));
    received_ = sync_lsn;
    commit_ = std::max(commit_, sync_lsn);
    return Stream(sync_lsn);
  }

  consensus::ProposerOptions Options(consensus::ProposerMode mode, Lsn start) const {
    consensus::ProposerOptions p;
    p.tenant_id = o_.tenant_id;
    p.timeline_id = o_.timeline_id;
    p.mode = mode;
    p.expected_start_lsn = start;
    p.server = {state_->pg_version, state_->system_id, state_->wal_seg_size};
    for (size_t i = 0; i < o_.safekeepers.size(); i++) {
      std::string host;
      int port = 0;
      (void)server::ParseHostPort(o_.safekeepers[i], &host, &port);
      p.mconf.members.push_back(
          {consensus::NodeId(state_->safekeeper_ids[i]), host, uint16_t(port)});
    }
    return p;
  }

  // Drives the proposer until `done`; reports waiting for a quorum every 10 s.
  absl::Status RunUntil(const std::function<bool()>& done, const char* what) {
    auto next_report = Clock::now() + std::chrono::seconds(10);
    while (!stop_->load()) {
      set_->Poll();
      if (done()) return absl::OkStatus();
      consensus::Proposer* p = set_->proposer();
      if (p->phase() == consensus::ProposerPhase::kStopped) {
        return absl::UnavailableError(StrCat(what, ": ", p->stop_reason().message()));
      }
      if (Clock::now() >= next_report) {
        next_report = Clock::now() + std::chrono::seconds(10);
        server::LogWarn("waiting_for_safekeepers",
                        {{"what", what}, {"connected", set_->connected()},
                         {"phase", consensus::ProposerPhaseName(p->phase())},
                         {"errors", set_->last_errors()}});
        error_ = StrCat(what, ": waiting for a quorum of safekeepers (", set_->connected(),
                        " connected) ", set_->last_errors());
        WriteStatus();
      }
      pollfd pfd{wake_fd_, POLLIN, 0};
      ::poll(&pfd, 1, 100);
      DrainWake();
    }
    return absl::CancelledError("stopping");
  }

  absl::Status Bootstrap(const SystemIdentity& id, uint32_t version, uint32_t seg) {
    SetPhase("importing", absl::OkStatus());
    if (o_.safekeepers.size() != o_.safekeeper_http.size()) {
      return absl::InvalidArgumentError("--safekeepers and --safekeeper-http must list the same nodes");
    }
    State s;
    s.system_id = id.system_id;
    s.pg_timeline = id.timeline;
    s.pg_version = version;
    s.wal_seg_size = seg;
    for (const std::string& http : o_.safekeeper_http) {
      NEON_ASSIGN_OR_RETURN(HttpReply r, Http(http, o_.token, "GET", "/v1/status"));
      if (r.status != 200 || !r.body.is_object() || !r.body.contains("id")) {
        return absl::UnavailableError(StrCat("safekeeper at ", http, ": /v1/status answered ",
                                             r.status, " ", ReplyMessage(r)));
      }
      s.safekeeper_ids.push_back(r.body["id"].get<uint64_t>());
    }
    bool created = false;
    NEON_RETURN_IF_ERROR(conn_->CreatePhysicalSlot(o_.slot, &created));
    server::LogInfo("slot_ready", {{"slot", o_.slot}, {"created", created}});

    server::LogInfo("base_backup_started", {{"source_flush_lsn", id.flush_lsn.ToString()}});
    const auto t0 = Clock::now();
    NEON_ASSIGN_OR_RETURN(BaseBackupResult bb,
                          conn_->BaseBackup("neon_walpump", [](uint64_t bytes) {
                            server::LogInfo("base_backup_progress", {{"mib", bytes >> 20}});
                          }));
    server::LogInfo("base_backup_received",
                    {{"start_lsn", bb.start_lsn.ToString()}, {"end_lsn", bb.end_lsn.ToString()},
                     {"mib", bb.tar.size() >> 20},
                     {"seconds", std::chrono::duration<double>(Clock::now() - t0).count()}});
    if (bb.timeline != id.timeline) {
      return absl::UnavailableError("the source switched timelines during the base backup");
    }

    const std::string tenant_path = "/v1/tenant/" + o_.tenant_id.ToString();
    NEON_ASSIGN_OR_RETURN(HttpReply t, Http(o_.pageserver, o_.token, "GET", tenant_path));
    if (t.status == 404) {
      NEON_ASSIGN_OR_RETURN(
          t, Http(o_.pageserver, o_.token, "POST", "/v1/tenant",
                  json{{"new_tenant_id", o_.tenant_id.ToString()}}.dump()));
      if (t.status != 201 && t.status != 409) {
        return absl::UnavailableError(StrCat("pageserver: creating tenant ", o_.tenant_id.ToString(),
                                             ": ", t.status, " ", ReplyMessage(t)));
      }
      server::LogInfo("tenant_created", {{"tenant_id", o_.tenant_id.ToString()}});
    } else if (t.status != 200) {
      return absl::UnavailableError(StrCat("pageserver: GET ", tenant_path, ": ", t.status, " ",
                                           ReplyMessage(t)));
    }
    const std::string import_path =
        StrCat(tenant_path, "/timeline/", o_.timeline_id.ToString(), "/import_basebackup?base_lsn=",
               bb.start_lsn.ToString(), "&end_lsn=", bb.end_lsn.ToString(), "&pg_version=15");
    server::LogInfo("import_started", {{"timeline_id", o_.timeline_id.ToString()},
                                       {"mib", bb.tar.size() >> 20}});
    NEON_ASSIGN_OR_RETURN(HttpReply imp, Http(o_.pageserver, o_.token, "PUT", import_path,
                                              bb.tar, "application/x-tar", 3600));
    if (imp.status == 409) {
      return absl::AlreadyExistsError(
          StrCat("timeline ", o_.timeline_id.ToString(), " already exists on the pageserver, "
                 "but ", o_.state_dir, "/state.json does not: choose a new timeline id"));
    }
    if (imp.status != 201) {
      return (imp.status >= 400 && imp.status < 500 ? absl::InvalidArgumentError
                                                    : absl::UnavailableError)(
          StrCat("pageserver: import_basebackup answered ", imp.status, ": ", ReplyMessage(imp)));
    }
    s.import_lsn = bb.end_lsn;
    state_ = s;
    NEON_RETURN_IF_ERROR(WriteStateFile(o_, *state_));
    server::LogInfo("basebackup_imported", {{"tenant_id", o_.tenant_id.ToString()},
                                            {"timeline_id", o_.timeline_id.ToString()},
                                            {"lsn", bb.end_lsn.ToString()}});
    return absl::OkStatus();
  }

  absl::Status CreateOnSafekeepers() {
    json peers = json::array();
    for (uint64_t id : state_->safekeeper_ids) peers.push_back(id);
    const json body = {{"tenant_id", o_.tenant_id.ToString()},
                       {"timeline_id", o_.timeline_id.ToString()},
                       {"pg_version", state_->pg_version},
                       {"system_id", state_->system_id},
                       {"wal_seg_size", state_->wal_seg_size},
                       {"start_lsn", state_->import_lsn.ToString()},
                       {"peer_ids", peers}};
    for (const std::string& http : o_.safekeeper_http) {
      NEON_ASSIGN_OR_RETURN(HttpReply r, Http(http, o_.token, "POST", "/v1/tenant/timeline",
                                              body.dump()));
      if (r.status != 200 && r.status != 201) {
        return (r.status >= 400 && r.status < 500 ? absl::InvalidArgumentError
                                                  : absl::UnavailableError)(
            StrCat("safekeeper at ", http, ": creating the timeline answered ", r.status, ": ",
                   ReplyMessage(r)));
      }
    }
    state_->safekeepers_created = true;
    NEON_RETURN_IF_ERROR(WriteStateFile(o_, *state_));
    server::LogInfo("safekeeper_timelines_created",
                    {{"start_lsn", state_->import_lsn.ToString()},
                     {"safekeepers", int64_t(o_.safekeeper_http.size())}});
    return absl::OkStatus();
  }

  absl::Status Stream(Lsn start) {
    SetPhase("streaming", absl::OkStatus());
    phase_seen_streaming_ = true;
    server::LogInfo("streaming_started", {{"start_lsn", start.ToString()}});
    std::string pending;  // received from the source, not yet accepted by the proposer
    Lsn reported;
    bool force_reply = false;
    auto last_reply = Clock::now();
    auto next_log = Clock::now() + std::chrono::seconds(10);
    uint64_t bytes = 0;
    while (!stop_->load()) {
      const bool want_source = pending.size() < kMaxPendingWal;
      pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {conn_->socket(), POLLIN, 0}};
      ::poll(fds, want_source ? 2 : 1, 100);
      DrainWake();
      set_->Poll();
      consensus::Proposer* p = set_->proposer();
      if (p->phase() == consensus::ProposerPhase::kStopped) {
        return absl::UnavailableError(StrCat("proposer stopped: ", p->stop_reason().message()));
      }
      if (want_source) {
        while (pending.size() < kMaxPendingWal) {
          NEON_ASSIGN_OR_RETURN(ReplicationMessage m, conn_->Receive());
          if (m.kind == ReplicationMessage::kNone) break;
          if (m.kind == ReplicationMessage::kKeepalive) {
            force_reply |= m.reply_requested;
            continue;
          }
          if (m.start != received_) {
            return absl::InternalError(StrCat("the source sent WAL at ", m.start.ToString(),
                                              " but ", received_.ToString(), " was expected"));
          }
          pending.append(m.data);
          received_ = Lsn(received_.value() + m.data.size());
          bytes += m.data.size();
        }
      }
      size_t done = 0;
      while (done < pending.size()) {
        const size_t n = std::min(kProposeChunk, pending.size() - done);
        absl::Status s = set_->Propose(std::string_view(pending).substr(done, n));
        if (absl::IsResourceExhausted(s)) break;  // back-pressure: acknowledgements first
        NEON_RETURN_IF_ERROR(s);
        done += n;
      }
      pending.erase(0, done);
      const Lsn commit = std::max(p->commit_lsn(), start);
      commit_ = commit;
      const auto now = Clock::now();
      if (commit != reported || force_reply || now - last_reply >= std::chrono::seconds(1)) {
        NEON_RETURN_IF_ERROR(conn_->SendStatus(received_, commit, commit, false));
        reported = commit;
        force_reply = false;
        last_reply = now;
      }
      NEON_RETURN_IF_ERROR(conn_->FlushOutput().status());
      if (now - last_status_write_ >= std::chrono::seconds(1)) WriteStatus();
      if (now >= next_log) {
        next_log = now + std::chrono::seconds(10);
        server::LogInfo("streaming", {{"received_lsn", received_.ToString()},
                                      {"commit_lsn", commit.ToString()},
                                      {"mib_received", bytes >> 20},
                                      {"safekeepers_connected", set_->connected()}});
      }
    }
    // Stopping: a last status so the source's slot holds what is committed.
    (void)conn_->SendStatus(received_, commit_, commit_, false);
    (void)conn_->FlushOutput();
    return absl::OkStatus();
  }

  const WalPumpOptions& o_;
  std::atomic<bool>* stop_;
  int wake_fd_;
  std::optional<State> state_;
  std::unique_ptr<PgReplicationConnection> conn_;
  std::unique_ptr<SafekeeperSet> set_;
  Lsn received_;
  Lsn commit_;
  std::string phase_ = "starting";
  std::string error_;
  bool phase_seen_streaming_ = false;
  Clock::time_point last_status_write_;
};

}  // namespace

absl::Status RunWalPump(const WalPumpOptions& options, std::atomic<bool>* stop, int wake_fd) {
  WalPump pump(options, stop, wake_fd);
  return pump.Run();
}

}  // namespace neon::walpump
