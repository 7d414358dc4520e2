// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// storage_broker: gRPC publish/subscribe of safekeeper timeline state (see broker.h), plus an
// HTTP port with /metrics and /v1/status. `storage_broker --help` lists the options.
//
// Exit status: 0 after a clean shutdown (SIGTERM/SIGINT), 1 when it cannot start (address in
// use, unreadable key), 2 on bad flags or a bad config file.

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <memory>
#include <string>

#include "common/config.h"
#include "common/http_server.h"
#include "common/jwt.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/signals.h"
#include "storage_broker/broker.h"
#include "storage_broker/broker_service.h"

namespace neon::broker {
namespace {

// How long shutdown waits for open calls before cancelling them.
constexpr auto kShutdownGrace = std::chrono::seconds(1);
// HTTP/2 keepalive pings (Neon's broker: 5 s).
constexpr int kKeepaliveMs = 5000;

server::OptionSet MakeOptions() {
  server::OptionSet o("storage_broker",
                      "Brokers safekeeper timeline state between safekeepers and pageservers "
                      "(storage_broker.BrokerService over gRPC). Keeps nothing on disk.");
  o.AddString("listen-addr", "127.0.0.1:50051", "gRPC listen address, host:port");
  o.AddString("http-listen-addr", "127.0.0.1:50052",
              "HTTP listen address for /metrics and /v1/status, host:port");
  o.AddString("public-key", "",
              "Ed25519 public key (PEM) verifying JWTs on gRPC calls; empty = auth off");
  o.AddInt("max-pending-updates", static_cast<int64_t>(kDefaultMaxPendingUpdates),
           "per-subscriber bound on pending (safekeeper, timeline) updates");
  o.AddString("log-level", "info", "debug, info, warn or error");
  return o;
}

int Fail(int code, absl::string_view msg) {
  std::fprintf(stderr, "storage_broker: %.*s\n", static_cast<int>(msg.size()), msg.data());
  return code;
}

int Run(int argc, char** argv) {
  server::BlockShutdownSignals();
  server::OptionSet opts = MakeOptions();
  if (std::optional<int> code = opts.ParseForMain(argc, argv)) return *code;
  const int64_t max_pending = opts.GetInt("max-pending-updates");
  if (max_pending < 1 || max_pending > (int64_t{1} << 24)) {
    return Fail(2, "--max-pending-updates must be between 1 and 16777216");
  }
  std::string host;
  int port = 0;
  for (const char* name : {"listen-addr", "http-listen-addr"}) {
    if (absl::Status s = server::ParseHostPort(opts.GetString(name), &host, &port); !s.ok()) {
      return Fail(2, std::string("--") + name + ": " + std::string(s.message()));
    }
  }

  std::unique_ptr<server::JwtVerifier> verifier;
  if (const std::string& key = opts.GetString("public-key"); !key.empty()) {
    auto v = server::JwtVerifier::FromPemFile(key);
    if (!v.ok()) return Fail(1, v.status().message());
    verifier = std::move(*v);
    server::LogInfo("auth_enabled", {{"public_key", key}});
  } else {
    server::LogWarn("auth_disabled",
                    {{"reason", "no --public-key: gRPC calls are NOT authenticated"}});
  }

  server::MetricsRegistry metrics;
  Broker broker(&metrics);
  BrokerServiceImpl service(&broker, verifier.get(), static_cast<size_t>(max_pending));

  grpc::ServerBuilder builder;
  int grpc_port = 0;
  builder.AddListeningPort(opts.GetString("listen-addr"), grpc::InsecureServerCredentials(),
                           &grpc_port);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, kKeepaliveMs);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // gRPC sets SO_REUSEPORT by default, which would let a second broker share the port.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> grpc_server = builder.BuildAndStart();
  if (grpc_server == nullptr || grpc_port == 0) {
    return Fail(1, "cannot listen for gRPC on " + opts.GetString("listen-addr"));
  }

  server::HttpServer http(&metrics);
  auto status = [&broker](const httplib::Request&, httplib::Response& res) {
    server::SendJson(res, 200,
                     {{"status", "ok"},
                      {"subscribers", broker.subscriber_count()},
                      {"publishers", broker.publishers()->value()}});
  };
  http.Get("/v1/status", status);
  http.Get("/status", status);
  if (absl::Status s = http.Start(opts.GetString("http-listen-addr")); !s.ok()) {
    grpc_server->Shutdown();
    return Fail(1, s.message());
  }
  server::LogInfo("started", {{"grpc_addr", opts.GetString("listen-addr")},
                              {"grpc_port", grpc_port},
                              {"http_addr", opts.GetString("http-listen-addr")},
                              {"http_port", http.port()}});

  const int sig = server::WaitForShutdownSignal();
  server::LogInfo("shutting_down", {{"signal", sig}});
  broker.CloseAll();
  grpc_server->Shutdown(std::chrono::system_clock::now() + kShutdownGrace);
  grpc_server->Wait();
  http.Stop();
  server::LogInfo("stopped");
  return 0;
}

}  // namespace
}  // namespace neon::broker

int main(int argc, char** argv) { return neon::broker::Run(argc, argv); }
