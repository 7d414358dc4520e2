// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// neon_local walpump start/stop: runs neon_walpump (servers/walpump), which imports a stock
// Postgres's base backup as a timeline and streams its WAL to the safekeepers. Its command
// line contract:
//
//   neon_walpump --source=CONNSTR --pageserver=127.0.0.1:<ps http>
//                --safekeepers=127.0.0.1:<sk grpc>,... --safekeeper-http=127.0.0.1:<sk http>,...
//                --tenant-id=HEX --timeline-id=HEX --state-dir=<repo>/walpump
//                [--application-name=NAME] [--slot=NAME]
//   env NEON_AUTH_TOKEN: a token the pageserver and the safekeepers accept (auth on)
//
// and it reports in <state-dir>/status.json: {"phase": "importing"|"syncing"|"streaming"|
// "failed", "tenant_id", "timeline_id", "start_lsn", "commit_lsn", "error"}.

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "base/status_macros.h"
#include "base/str_cat.h"
#include "common/jwt_sign.h"
#include "neon_local/cluster.h"
#include "neon_local/daemon.h"

namespace neon::neon_local {
namespace {

namespace fs = std::filesystem;

constexpr char kBinary[] = "neon_walpump";
constexpr int kDefaultWaitS = 300;
constexpr int kPollMs = 500;
constexpr int kReportEveryS = 10;
constexpr int kStopTimeoutMs = 30000;
constexpr int kTailLines = 30;

struct WalpumpPaths {
  std::string dir, log, pid, status;
};

WalpumpPaths Paths(const Repo& repo) {
  const std::string dir = repo.Path("walpump");
  return {dir, dir + "/walpump.log", dir + "/walpump.pid", dir + "/status.json"};
}

// status.json, or a null json while it is missing or half-written.
nlohmann::json ReadStatus(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return nullptr;
  nlohmann::json j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  return j.is_discarded() || !j.is_object() ? nlohmann::json() : j;
}

std::string Field(const nlohmann::json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

std::string Addrs(const RepoConfig& c, bool http) {
  std::string out;
  for (const SafekeeperConf& sk : c.safekeepers) {
    out += StrCat(out.empty() ? "" : ",", "127.0.0.1:", http ? sk.http_port : sk.grpc_port);
  }
  return out;
}

// A token of scope "tenant" for `tenant`: both the pageserver and the safekeepers accept it
// for that tenant's routes and streams.
absl::StatusOr<std::string> TenantToken(const Cluster& cluster, const std::string& tenant) {
  if (!cluster.config.auth) return std::string();
  NEON_ASSIGN_OR_RETURN(std::string pem, ReadFile(cluster.repo.PrivateKeyPath()));
  NEON_ASSIGN_OR_RETURN(std::unique_ptr<server::Ed25519Signer> key,
                        server::Ed25519Signer::FromPrivatePem(pem));
  return key->Sign(nlohmann::json({{"scope", "tenant"}, {"tenant_id", tenant}}).dump());
}

absl::Status CheckServersRunning(const Cluster& cluster) {
  NEON_ASSIGN_OR_RETURN(std::vector<Component> components, Components(cluster));
  for (const Component& c : components) {
    if (!RunningPid(c.pid_file, c.binary)) {
      return absl::FailedPreconditionError(
          StrCat(c.name, " is not running: run `neon_local start` first"));
    }
  }
  return absl::OkStatus();
}

// Waits for phase "streaming"; prints each phase change and a line every kReportEveryS.
absl::Status WaitStreaming(pid_t pid, const WalpumpPaths& paths, int timeout_s) {
  const auto start = std::chrono::steady_clock::now();
  std::string last_phase;
  auto next_report = start + std::chrono::seconds(kReportEveryS);
  while (true) {
    const nlohmann::json st = ReadStatus(paths.status);
    const std::string phase = Field(st, "phase");
    const auto now = std::chrono::steady_clock::now();
    const long elapsed_s =
        static_cast<long>(std::chrono::duration_cast<std::chrono::seconds>(now - start).count());
    if (phase != last_phase || now >= next_report) {
      std::string line =
          StrCat("  [", elapsed_s, " s] phase ", phase.empty() ? "(no status.json yet)" : phase);
      for (const char* key : {"start_lsn", "commit_lsn"}) {
        if (!Field(st, key).empty()) line += StrCat(", ", key, " ", Field(st, key));
      }
      std::printf("%s\n", line.c_str());
      std::fflush(stdout);
      last_phase = phase;
      next_report = now + std::chrono::seconds(kReportEveryS);
    }
    if (phase == "streaming") return absl::OkStatus();
    if (phase == "failed") {
      return absl::FailedPreconditionError(StrCat("the walpump failed: ", Field(st, "error"),
                                                  "\nlast lines of ", paths.log, ":\n",
                                                  Tail(paths.log, kTailLines)));
    }
    if (!ProcessAlive(pid)) {
      return absl::FailedPreconditionError(StrCat("the walpump (pid ", pid, ") exited in phase '",
                                                  phase, "'; last lines of ", paths.log, ":\n",
                                                  Tail(paths.log, kTailLines)));
    }
    if (elapsed_s >= timeout_s) {
      return absl::DeadlineExceededError(StrCat("the walpump is still in phase '", phase,
                                                "' after ", timeout_s, " s; it keeps running (log ",
                                                paths.log, "; neon_local walpump stop)"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(kPollMs));
  }
}

absl::StatusOr<std::string> PrepareTimeline(const Invocation& inv, Cluster* cluster,
                                            std::string* tenant) {
  const std::string branch = inv.GetOr("branch-name", "main");
  if (inv.Has("tenant-id") || !cluster->config.default_tenant_id.empty()) {
    NEON_ASSIGN_OR_RETURN(*tenant, ResolveTenant(inv, cluster->config));
  } else {
    *tenant = NewId();
    cluster->config.default_tenant_id = *tenant;
    std::printf("no default tenant: using a new one, %s (now the default)\n", tenant->c_str());
  }
  NEON_ASSIGN_OR_RETURN(ApiClient ps, PageserverAdmin(*cluster));
  NEON_ASSIGN_OR_RETURN(const bool created, EnsureTenant(ps, *tenant));
  if (created) std::printf("tenant %s created on the pageserver\n", tenant->c_str());
  std::string timeline;
  if (std::optional<std::string> found = cluster->config.FindBranch(branch, *tenant)) {
    timeline = *found;
    std::printf("branch '%s' is timeline %s (resuming)\n", branch.c_str(), timeline.c_str());
  } else {
    timeline = NewId();
    cluster->config.AddBranch(branch, *tenant, timeline);
    std::printf("branch '%s' will be the new timeline %s\n", branch.c_str(), timeline.c_str());
  }
  NEON_RETURN_IF_ERROR(cluster->repo.SaveConfig(cluster->config));
  return timeline;
}

absl::Status WalpumpStart(const Invocation& inv) {
  std::optional<std::string> connstr = inv.Get("connstr");
  if (!connstr || connstr->empty()) {
    return UsageError("--connstr is required (e.g. 'host=127.0.0.1 port=5432 user=postgres')");
  }
  if (std::optional<std::string> t = inv.Get("tenant-id")) {
    NEON_RETURN_IF_ERROR(CheckId("tenant-id", *t).status());
  }
  int timeout_s = kDefaultWaitS;
  if (std::optional<std::string> t = inv.Get("timeout")) {
    timeout_s = std::atoi(t->c_str());
    if (timeout_s <= 0) return UsageError(StrCat("--timeout '", *t, "' must be a positive number"));
  }
  NEON_ASSIGN_OR_RETURN(Cluster cluster, OpenCluster(inv));
  const WalpumpPaths paths = Paths(cluster.repo);
  if (std::optional<pid_t> pid = RunningPid(paths.pid, kBinary)) {
    std::printf("the walpump is already running, pid %d (log %s); left alone\n", *pid,
                paths.log.c_str());
    return absl::OkStatus();
  }
  NEON_ASSIGN_OR_RETURN(const std::string binary,
                        FindBinary(kBinary, "walpump", inv.Get("bin-dir")));
  NEON_RETURN_IF_ERROR(CheckServersRunning(cluster));
  std::string tenant;
  NEON_ASSIGN_OR_RETURN(const std::string timeline, PrepareTimeline(inv, &cluster, &tenant));
  std::error_code ec;
  fs::create_directories(paths.dir, ec);
  if (fs::exists(paths.status)) fs::rename(paths.status, paths.status + ".prev", ec);
  SpawnSpec spec;
  spec.binary = binary;
  spec.args = {"--source=" + *connstr,
               StrCat("--pageserver=127.0.0.1:", cluster.config.pageserver_http_port),
               "--safekeepers=" + Addrs(cluster.config, false),
               "--safekeeper-http=" + Addrs(cluster.config, true),
               "--tenant-id=" + tenant,
               "--timeline-id=" + timeline,
               "--state-dir=" + paths.dir};
  if (std::optional<std::string> a = inv.Get("application-name")) {
    spec.args.push_back("--application-name=" + *a);
  }
  if (std::optional<std::string> s = inv.Get("slot")) spec.args.push_back("--slot=" + *s);
  NEON_ASSIGN_OR_RETURN(std::string token, TenantToken(cluster, tenant));
  if (!token.empty()) spec.env["NEON_AUTH_TOKEN"] = token;
  spec.log_file = paths.log;
  spec.pid_file = paths.pid;
  spec.cwd = paths.dir;
  NEON_ASSIGN_OR_RETURN(const pid_t pid, Spawn(spec));
  std::printf("walpump started, pid %d, log %s\n  source %s -> tenant %s timeline %s\n", pid,
              paths.log.c_str(), connstr->c_str(), tenant.c_str(), timeline.c_str());
  std::printf("waiting (up to %d s) until it streams...\n", timeout_s);
  std::fflush(stdout);
  NEON_RETURN_IF_ERROR(WaitStreaming(pid, paths, timeout_s));
  std::printf("the walpump is streaming (status %s)\n", paths.status.c_str());
  return absl::OkStatus();
}

absl::Status WalpumpStop(const Invocation& inv) {
  NEON_ASSIGN_OR_RETURN(Cluster cluster, OpenCluster(inv));
  return StopWalpump(cluster, inv.Has("immediate"), kStopTimeoutMs);
}

}  // namespace

absl::Status StopWalpump(const Cluster& cluster, bool immediate, int timeout_ms) {
  const WalpumpPaths paths = Paths(cluster.repo);
  std::optional<pid_t> pid = RunningPid(paths.pid, kBinary);
  if (!pid) {
    if (fs::exists(paths.pid)) {
      std::remove(paths.pid.c_str());
      std::printf("  %-15s not running (stale pid file removed)\n", "walpump");
    }
    return absl::OkStatus();
  }
  bool killed = false;
  NEON_RETURN_IF_ERROR(StopProcess(*pid, immediate, timeout_ms, paths.pid, &killed));
  std::printf("  %-15s stopped, pid %d%s\n", "walpump", *pid, killed ? " (SIGKILL)" : "");
  return absl::OkStatus();
}

std::string WalpumpStatusLine(const Cluster& cluster) {
  const WalpumpPaths paths = Paths(cluster.repo);
  const nlohmann::json st = ReadStatus(paths.status);
  const std::string phase = Field(st, "phase");
  std::optional<pid_t> pid = RunningPid(paths.pid, kBinary);
  if (!pid && st.is_null()) return "";
  std::string line = pid ? StrCat("running, pid ", *pid) : std::string("not running");
  if (!phase.empty()) {
    line += StrCat(pid ? ", phase " : " (last phase ", phase, ", commit_lsn ",
                   Field(st, "commit_lsn"), pid ? "" : ")");
  }
  return StrCat(line, "\n                  log ", paths.log);
}

std::vector<CommandSpec> WalpumpCommands() {
  return {
      {"walpump start",
       "stream a stock Postgres's WAL into the cluster as a branch (neon_walpump)",
       "First run: the tenant is created if missing, the source's base backup is imported as\n"
       "a new timeline (named by --branch-name), then its WAL streams to the safekeepers.\n"
       "Waits until status.json says \"streaming\". Log, pid and state in <repo>/walpump/.",
       {{"connstr", "CONNSTR", "libpq connection string of the source Postgres (required)"},
        {"branch-name", "NAME", "the branch it becomes (default: main)"},
        {"tenant-id", "HEX", "the tenant (default: the default tenant, else a new one)"},
        {"application-name", "NAME", "replication application_name (default: neon_walpump)"},
        {"slot", "NAME", "replication slot (default: neon_walpump)"},
        {"timeout", "SECONDS", "how long to wait for streaming (default 300)"},
        {"bin-dir", "DIR", "where neon_walpump is (default: $NEON_BIN_DIR, else the build tree)"}},
       WalpumpStart},
      {"walpump stop",
       "stop the walpump (SIGTERM, then SIGKILL after 30 s)",
       "",
       {{"immediate", "", "SIGKILL at once"}},
       WalpumpStop},
  };
}

}  // namespace neon::neon_local
