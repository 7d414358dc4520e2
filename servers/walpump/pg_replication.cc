// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "walpump/pg_replication.h"

#include <libpq-fe.h>

#include <chrono>
#include <cstring>
#include <utility>
#include <vector>

#include "base/status_macros.h"
#include "base/str_cat.h"

namespace neon::walpump {
namespace {

// Microseconds from the Unix epoch to Postgres's (2000-01-01).
constexpr int64_t kPgEpochOffsetUs = 946684800LL * 1000000LL;

uint64_t GetBe64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

void PutBe64(std::string* out, uint64_t v) {
  for (int i = 7; i >= 0; i--) out->push_back(static_cast<char>((v >> (i * 8)) & 0xff));
}

int64_t PgNowUs() {
  const int64_t unix_us = std::chrono::duration_cast<std::chrono::microseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
  return unix_us - kPgEpochOffsetUs;
}

struct ResultCloser {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultCloser>;

std::string Trimmed(const char* s) {
  std::string out = s == nullptr ? "" : s;
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

absl::StatusOr<Lsn> LsnColumn(PGresult* r, int row, int col, const char* what) {
  absl::StatusOr<Lsn> l = Lsn::Parse(PQgetvalue(r, row, col));
  if (!l.ok()) return absl::InternalError(StrCat(what, ": unexpected LSN text ", PQgetvalue(r, row, col)));
  return *l;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PgReplicationConnection>> PgReplicationConnection::Connect(
    const std::string& conninfo, const std::string& application_name) {
  const char* keys[] = {"dbname", "replication", "application_name", nullptr};
  const char* values[] = {conninfo.c_str(), "true", application_name.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (conn == nullptr) return absl::ResourceExhaustedError("libpq: out of memory");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string msg = Trimmed(PQerrorMessage(conn));
    PQfinish(conn);
    return absl::UnavailableError(StrCat("cannot connect to the source Postgres (", conninfo,
                                         "): ", msg));
  }
  return std::unique_ptr<PgReplicationConnection>(new PgReplicationConnection(conn));
}

PgReplicationConnection::~PgReplicationConnection() { PQfinish(conn_); }

absl::Status PgReplicationConnection::Error(const std::string& what) const {
  return absl::UnavailableError(StrCat(what, ": ", Trimmed(PQerrorMessage(conn_))));
}

int PgReplicationConnection::server_version() const { return PQserverVersion(conn_); }
int PgReplicationConnection::socket() const { return PQsocket(conn_); }

absl::StatusOr<SystemIdentity> PgReplicationConnection::IdentifySystem() {
  Result r(PQexec(conn_, "IDENTIFY_SYSTEM"));
  if (PQresultStatus(r.get()) != PGRES_TUPLES_OK || PQntuples(r.get()) != 1 ||
      PQnfields(r.get()) < 3) {
    return Error("IDENTIFY_SYSTEM");
  }
  SystemIdentity id;
  id.system_id = std::strtoull(PQgetvalue(r.get(), 0, 0), nullptr, 10);
  id.timeline = static_cast<uint32_t>(std::strtoul(PQgetvalue(r.get(), 0, 1), nullptr, 10));
  NEON_ASSIGN_OR_RETURN(id.flush_lsn, LsnColumn(r.get(), 0, 2, "IDENTIFY_SYSTEM"));
  return id;
}

absl::StatusOr<std::string> PgReplicationConnection::Show(const std::string& setting) {
  Result r(PQexec(conn_, StrCat("SHOW ", setting).c_str()));
  if (PQresultStatus(r.get()) != PGRES_TUPLES_OK || PQntuples(r.get()) != 1) {
    return Error(StrCat("SHOW ", setting));
  }
  return std::string(PQgetvalue(r.get(), 0, 0));
}

absl::Status PgReplicationConnection::CreatePhysicalSlot(const std::string& slot, bool* created) {
  *created = false;
  for (char c : slot) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
      return absl::InvalidArgumentError(
          StrCat("slot name ", slot, ": only lower-case letters, digits and _"));
    }
  }
  Result r(PQexec(conn_, StrCat("CREATE_REPLICATION_SLOT ", slot, " PHYSICAL RESERVE_WAL").c_str()));
  if (PQresultStatus(r.get()) == PGRES_TUPLES_OK) {
    *created = true;
    return absl::OkStatus();
  }
  const char* state = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
  if (state != nullptr && std::strcmp(state, "42710") == 0) return absl::OkStatus();  // exists
  return Error(StrCat("CREATE_REPLICATION_SLOT ", slot));
}

absl::StatusOr<BaseBackupResult> PgReplicationConnection::BaseBackup(
    const std::string& label, const std::function<void(uint64_t)>& progress) {
  const std::string cmd =
      StrCat("BASE_BACKUP (LABEL '", label, "', WAL, CHECKPOINT 'fast', WAIT true, MANIFEST 'no')");
  if (PQsendQuery(conn_, cmd.c_str()) == 0) return Error("BASE_BACKUP");
  BaseBackupResult out;
  int tuple_results = 0;
  int archives = 0;
  absl::Status failure;
  while (true) {
    Result r(PQgetResult(conn_));
    if (!r) break;
    switch (PQresultStatus(r.get())) {
      case PGRES_TUPLES_OK: {
        tuple_results++;
        if (tuple_results == 1 || tuple_results == 3) {  // start, then end position
          if (PQntuples(r.get()) != 1 || PQnfields(r.get()) < 2) {
            failure = absl::InternalError("BASE_BACKUP: unexpected position result");
            break;
          }
          absl::StatusOr<Lsn> l = LsnColumn(r.get(), 0, 0, "BASE_BACKUP");
          if (!l.ok()) {
            failure = l.status();
            break;
          }
          (tuple_results == 1 ? out.start_lsn : out.end_lsn) = *l;
          out.timeline = static_cast<uint32_t>(std::strtoul(PQgetvalue(r.get(), 0, 1), nullptr, 10));
        } else if (tuple_results == 2) {
          // One row per tablespace; the main one has a NULL oid.
          for (int i = 0; i < PQntuples(r.get()); i++) {
            if (!PQgetisnull(r.get(), i, 0)) {
              failure = absl::FailedPreconditionError(
                  StrCat("the source has a user tablespace (", PQgetvalue(r.get(), i, 1),
                         "); only the default tablespaces can be imported"));
            }
          }
        }
        break;
      }
      case PGRES_COPY_OUT: {
        uint64_t reported = 0;
        while (true) {
          char* buf = nullptr;
          const int n = PQgetCopyData(conn_, &buf, /*async=*/0);
          if (n == -1) break;
          if (n < 0) return Error("BASE_BACKUP: reading the archive");
          std::unique_ptr<char, decltype(&PQfreemem)> holder(buf, &PQfreemem);
          if (n == 0) continue;
          switch (buf[0]) {
            case 'n':
              archives++;
              break;
            case 'd':
              if (archives == 1) out.tar.append(buf + 1, size_t(n - 1));
              if (out.tar.size() - reported >= (16u << 20)) {
                reported = out.tar.size();
                if (progress) progress(reported);
              }
              break;
            case 'p':
            case 'm':
              break;
            default:
              failure = absl::InternalError(StrCat("BASE_BACKUP: unknown message type ", int(buf[0])));
          }
        }
        break;
      }
      case PGRES_COMMAND_OK:
        break;
      default:
        if (failure.ok()) failure = Error("BASE_BACKUP");
    }
  }
  NEON_RETURN_IF_ERROR(failure);
  if (tuple_results < 3 || archives < 1 || !out.start_lsn.valid() || !out.end_lsn.valid()) {
    return absl::InternalError(StrCat("BASE_BACKUP ended early (", tuple_results,
                                      " result sets, ", archives, " archives)"));
  }
  if (archives > 1) {
    return absl::FailedPreconditionError("the source has user tablespaces; they cannot be imported");
  }
  if (progress) progress(out.tar.size());
  return out;
}

absl::Status PgReplicationConnection::StartReplication(const std::string& slot, Lsn start,
                                                       uint32_t timeline) {
  const std::string cmd = StrCat("START_REPLICATION SLOT ", slot, " PHYSICAL ", start.ToString(),
                                 " TIMELINE ", timeline);
  Result r(PQexec(conn_, cmd.c_str()));
  if (PQresultStatus(r.get()) != PGRES_COPY_BOTH) return Error(cmd);
  if (PQsetnonblocking(conn_, 1) != 0) return Error("PQsetnonblocking");
  return absl::OkStatus();
}

absl::StatusOr<ReplicationMessage> PgReplicationConnection::Receive() {
  ReplicationMessage m;
  char* buf = nullptr;
  int n = PQgetCopyData(conn_, &buf, /*async=*/1);
  if (n == 0) {
    if (PQconsumeInput(conn_) == 0) return Error("replication stream");
    n = PQgetCopyData(conn_, &buf, 1);
    if (n == 0) return m;
  }
  if (n == -1) {
    Result r(PQgetResult(conn_));
    return absl::UnavailableError(StrCat("the source ended replication: ",
                                         r ? Trimmed(PQresultErrorMessage(r.get())) : ""));
  }
  if (n < 0) return Error("replication stream");
  std::unique_ptr<char, decltype(&PQfreemem)> holder(buf, &PQfreemem);
  if (buf[0] == 'w' && n >= 25) {
    m.kind = ReplicationMessage::kWal;
    m.start = Lsn(GetBe64(buf + 1));
    m.server_end = Lsn(GetBe64(buf + 9));
    m.data.assign(buf + 25, size_t(n - 25));
  } else if (buf[0] == 'k' && n >= 18) {
    m.kind = ReplicationMessage::kKeepalive;
    m.server_end = Lsn(GetBe64(buf + 1));
    m.reply_requested = buf[17] != 0;
  } else {
    return absl::InternalError(StrCat("replication stream: unexpected message type ", int(buf[0]),
                                      " of ", n, " bytes"));
  }
  return m;
}

absl::Status PgReplicationConnection::SendStatus(Lsn write, Lsn flush, Lsn apply,
                                                 bool reply_requested) {
  std::string msg = "r";
  PutBe64(&msg, write.value());
  PutBe64(&msg, flush.value());
  PutBe64(&msg, apply.value());
  PutBe64(&msg, static_cast<uint64_t>(PgNowUs()));
  msg.push_back(reply_requested ? 1 : 0);
  if (PQputCopyData(conn_, msg.data(), static_cast<int>(msg.size())) != 1) {
    return Error("sending a standby status update");
  }
  if (PQflush(conn_) < 0) return Error("sending a standby status update");
  return absl::OkStatus();
}

absl::StatusOr<bool> PgReplicationConnection::FlushOutput() {
  const int r = PQflush(conn_);
  if (r < 0) return Error("replication connection");
  return r == 0;
}

}  // namespace neon::walpump
