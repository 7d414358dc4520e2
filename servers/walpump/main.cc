// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// neon_walpump: streams an unmodified Postgres 15's WAL to the safekeepers as the Paxos
// proposer, after importing its base backup into the pageserver (walpump.h).

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/config.h"
#include "common/http_server.h"
#include "common/log.h"
#include "common/signals.h"
#include "walpump/walpump.h"

namespace neon::walpump {
namespace {

int Fail(int code, const std::string& msg) {
  std::fprintf(stderr, "neon_walpump: %s\n", msg.c_str());
  return code;
}

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

server::OptionSet MakeOptions() {
  server::OptionSet o("neon_walpump",
                      "Imports a running Postgres 15 into the pageserver (base backup) and "
                      "streams its WAL to the safekeepers as the Paxos proposer; answers the "
                      "source's standby status requests with the quorum commit LSN, so it can "
                      "be a synchronous standby. Environment: NEON_AUTH_TOKEN, a JWT sent to "
                      "the pageserver and the safekeepers.");
  o.AddString("source", "", "libpq connection string of the source Postgres (required)");
  o.AddString("application-name", "neon_walpump",
              "application_name on the source (name it in synchronous_standby_names)");
  o.AddString("slot", "neon_walpump", "physical replication slot on the source");
  o.AddString("pageserver", "127.0.0.1:9898", "pageserver HTTP API, host:port");
  o.AddString("safekeepers", "", "safekeepers' gRPC addresses, host:port,... (required)");
  o.AddString("safekeeper-http", "",
              "safekeepers' HTTP addresses in the same order (needed on the first run)");
  o.AddString("tenant-id", "", "tenant id, 32 hex digits (required)");
  o.AddString("timeline-id", "", "timeline id, 32 hex digits (required)");
  o.AddString("state-dir", "walpump", "directory for state.json and status.json");
  o.AddString("log-level", "info", "debug, info, warn or error");
  return o;
}

int Run(int argc, char** argv) {
  server::BlockShutdownSignals();
  server::OptionSet opts = MakeOptions();
  if (std::optional<int> code = opts.ParseForMain(argc, argv)) return *code;
  WalPumpOptions o;
  o.source = opts.GetString("source");
  if (o.source.empty()) return Fail(2, "--source is required (a libpq connection string)");
  o.application_name = opts.GetString("application-name");
  o.slot = opts.GetString("slot");
  o.pageserver = opts.GetString("pageserver");
  o.safekeepers = SplitList(opts.GetString("safekeepers"));
  o.safekeeper_http = SplitList(opts.GetString("safekeeper-http"));
  o.state_dir = opts.GetString("state-dir");
  std::string host;
  int port = 0;
  if (absl::Status s = server::ParseHostPort(o.pageserver, &host, &port); !s.ok() || port == 0) {
    return Fail(2, "--pageserver: expected host:port");
  }
  if (o.safekeepers.empty()) return Fail(2, "--safekeepers is required");
  for (const std::vector<std::string>* list : {&o.safekeepers, &o.safekeeper_http}) {
    for (const std::string& a : *list) {
      if (absl::Status s = server::ParseHostPort(a, &host, &port); !s.ok() || port == 0) {
        return Fail(2, "safekeeper address " + a + ": expected host:port");
      }
    }
  }
  if (!o.safekeeper_http.empty() && o.safekeeper_http.size() != o.safekeepers.size()) {
    return Fail(2, "--safekeeper-http must list as many addresses as --safekeepers");
  }
  absl::StatusOr<TenantId> tenant = TenantId::Parse(opts.GetString("tenant-id"));
  if (!tenant.ok()) return Fail(2, "--tenant-id: expected 32 hex digits");
  absl::StatusOr<TimelineId> timeline = TimelineId::Parse(opts.GetString("timeline-id"));
  if (!timeline.ok()) return Fail(2, "--timeline-id: expected 32 hex digits");
  o.tenant_id = *tenant;
  o.timeline_id = *timeline;
  if (const char* t = std::getenv("NEON_AUTH_TOKEN"); t != nullptr) o.token = t;

  const int wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd < 0) return Fail(1, "eventfd failed");
  std::atomic<bool> stop{false};
  std::thread signals([&] {
    const int sig = server::WaitForShutdownSignal();
    server::LogInfo("shutdown_signal", {{"signal", sig}});
    stop.store(true);
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd, &one, sizeof(one));
  });
  server::LogInfo("walpump_starting", {{"tenant_id", o.tenant_id.ToString()},
                                       {"timeline_id", o.timeline_id.ToString()},
                                       {"state_dir", o.state_dir},
                                       {"safekeepers", opts.GetString("safekeepers")}});
  absl::Status s = RunWalPump(o, &stop, wake_fd);
  if (!stop.load()) {
    // Ends the signal thread: it waits for a signal that is not coming.
    ::kill(::getpid(), SIGTERM);
  }
  signals.join();
  if (!s.ok()) return Fail(1, std::string(s.message()));
  return 0;
}

}  // namespace
}  // namespace neon::walpump

int main(int argc, char** argv) { return neon::walpump::Run(argc, argv); }
