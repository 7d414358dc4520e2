// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// neon_local timeline export: a full base backup (every relation's pages) from the
// pageserver's gRPC GetBaseBackup, unpacked into a directory a stock Postgres 15 starts on.

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "base/status_macros.h"
#include "base/str_cat.h"
#include "common/tar_extract.h"
#include "neon/types.h"
#include "neon_local/cluster.h"
#include "page_service.grpc.pb.h"

namespace neon::neon_local {
namespace {

namespace fs = std::filesystem;

constexpr int kBackupDeadlineSeconds = 600;
constexpr int64_t kProgressEveryBytes = 64 << 20;

// Postgres needs a postgresql.conf; the base backup has none (doc/format/basebackup.md).
constexpr char kPostgresqlConf[] =
    "# Written by neon_local timeline export: the base backup carries no postgresql.conf.\n"
    "# Add port, listen_addresses, unix_socket_directories and so on before starting.\n";

absl::StatusOr<std::string> FetchBaseBackup(const Cluster& cluster, const std::string& tenant,
                                            const std::string& timeline, Lsn lsn) {
  NEON_ASSIGN_OR_RETURN(std::string token, cluster.repo.Token(cluster.config, "pageserverapi"));
  const std::string target = StrCat("127.0.0.1:", cluster.config.pageserver_grpc_port);
  auto channel = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  auto stub = page_api::PageService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.AddMetadata("neon-tenant-id", tenant);
  ctx.AddMetadata("neon-timeline-id", timeline);
  if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(kBackupDeadlineSeconds));
  page_api::GetBaseBackupRequest req;
  req.set_lsn(lsn.value());
  req.set_full(true);
  req.set_compression(page_api::BASE_BACKUP_COMPRESSION_NONE);
  auto reader = stub->GetBaseBackup(&ctx, req);
  page_api::GetBaseBackupResponseChunk chunk;
  std::string tar;
  int64_t next_report = kProgressEveryBytes;
  while (reader->Read(&chunk)) {
    tar += chunk.chunk();
    if (static_cast<int64_t>(tar.size()) >= next_report) {
      std::printf("  %lld MiB received\n", static_cast<long long>(tar.size() >> 20));
      std::fflush(stdout);
      next_report += kProgressEveryBytes;
    }
  }
  grpc::Status s = reader->Finish();
  if (!s.ok()) {
    return absl::Status(
        static_cast<absl::StatusCode>(s.error_code()),
        StrCat("GetBaseBackup from the pageserver at ", target, " failed: ", s.error_message()));
  }
  return tar;
}

absl::Status PrepareDest(const std::string& dest) {
  std::error_code ec;
  if (fs::exists(dest, ec)) {
    if (!fs::is_directory(dest, ec) || !fs::is_empty(dest, ec)) {
      return absl::AlreadyExistsError(
          StrCat(dest, " exists and is not an empty directory: pick another --dest or remove it"));
    }
  } else {
    fs::create_directories(dest, ec);
    if (ec) return absl::InternalError(StrCat("cannot create ", dest, ": ", ec.message()));
  }
  // Postgres refuses a data directory others can read.
  fs::permissions(dest, fs::perms::owner_all, ec);
  return absl::OkStatus();
}

absl::Status Export(const Invocation& inv) {
  std::optional<std::string> branch = inv.Get("branch-name");
  std::optional<std::string> dest_flag = inv.Get("dest");
  if (!branch && !inv.Has("timeline-id")) {
    return UsageError("--branch-name (or --timeline-id) is required");
  }
  if (!dest_flag || dest_flag->empty()) return UsageError("--dest is required");
  std::optional<Lsn> lsn;
  if (std::optional<std::string> l = inv.Get("lsn")) {
    absl::StatusOr<Lsn> parsed = Lsn::Parse(*l);
    if (!parsed.ok() || !parsed->valid()) {
      return UsageError(StrCat("--lsn '", *l, "' is not an LSN like 0/16960E8"));
    }
    lsn = *parsed;
  }
  const std::string dest = fs::absolute(*dest_flag).lexically_normal().string();
  NEON_ASSIGN_OR_RETURN(Cluster cluster, OpenCluster(inv));
  NEON_ASSIGN_OR_RETURN(const std::string tenant, ResolveTenant(inv, cluster.config));
  std::string timeline;
  if (std::optional<std::string> t = inv.Get("timeline-id")) {
    NEON_ASSIGN_OR_RETURN(timeline, CheckId("timeline-id", *t));
  } else if (std::optional<std::string> found = cluster.config.FindBranch(*branch, tenant)) {
    timeline = *found;
  } else {
    return absl::NotFoundError(
        StrCat("tenant ", tenant, " has no branch '", *branch, "' (neon_local timeline list)"));
  }
  NEON_ASSIGN_OR_RETURN(ApiClient ps, PageserverAdmin(cluster));
  NEON_ASSIGN_OR_RETURN(nlohmann::json info,
                        ps.Get(StrCat("/v1/tenant/", tenant, "/timeline/", timeline)));
  if (!lsn) {
    NEON_ASSIGN_OR_RETURN(lsn, Lsn::Parse(info.value("last_record_lsn", "")));
  }
  NEON_RETURN_IF_ERROR(PrepareDest(dest));
  std::printf("exporting timeline %s of tenant %s at LSN %s (full base backup over gRPC)\n",
              timeline.c_str(), tenant.c_str(), lsn->ToString().c_str());
  std::fflush(stdout);
  NEON_ASSIGN_OR_RETURN(std::string tar, FetchBaseBackup(cluster, tenant, timeline, *lsn));
  server::TarStats stats;
  absl::Status s = server::ExtractTar(tar, dest, &stats);
  if (!s.ok()) {
    return absl::DataLossError(StrCat("the base backup does not unpack: ", s.message()));
  }
  const std::string conf = dest + "/postgresql.conf";
  if (!fs::exists(conf)) NEON_RETURN_IF_ERROR(WriteFile(conf, kPostgresqlConf, 0600));
  std::printf("exported to %s: LSN %s, %llu files, %llu directories, %.1f MiB (tar %.1f MiB)\n",
              dest.c_str(), lsn->ToString().c_str(), static_cast<unsigned long long>(stats.files),
              static_cast<unsigned long long>(stats.directories),
              static_cast<double>(stats.bytes) / (1 << 20),
              static_cast<double>(tar.size()) / (1 << 20));
  std::printf("start it with: pg_ctl -D %s -o '-p <port>' start  (as the data directory's owner)\n",
              dest.c_str());
  return absl::OkStatus();
}

}  // namespace

std::vector<CommandSpec> ExportCommands() {
  return {
      {"timeline export",
       "unpack a full base backup of a branch into a directory a stock Postgres 15 starts on",
       "The backup comes from the pageserver's gRPC GetBaseBackup with full = true; a minimal\n"
       "postgresql.conf is added. The directory must be empty or absent.",
       {{"branch-name", "NAME", "the branch to export"},
        {"timeline-id", "HEX", "or the timeline, by id"},
        {"tenant-id", "HEX", "the tenant (default: the default tenant)"},
        {"lsn", "X/Y", "the LSN (default: the timeline's last record)"},
        {"dest", "DIR", "where to unpack it (required)"}},
       Export},
  };
}

}  // namespace neon::neon_local
