// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "servers/pageserver_process.h"

#include <string>
#include <utility>

namespace neon::testing {
namespace {

constexpr int kStartTimeoutMs = 60000;

}  // namespace

std::unique_ptr<PageserverProcess> PageserverProcess::Start(const std::string& workdir,
                                                            const std::vector<std::string>& args,
                                                            std::string* error) {
  static int starts = 0;
  std::vector<std::string> argv = {NEON_PAGESERVER_PATH, "--workdir=" + workdir,
                                   "--listen-http-addr=127.0.0.1:0",
                                   "--listen-grpc-addr=127.0.0.1:0"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<std::string> ports;
  auto child = ChildProcess::Start(argv, workdir + ".log" + std::to_string(++starts),
                                   R"(event=started .*grpc_port=(\d+) .*http_port=(\d+))",
                                   kStartTimeoutMs, &ports);
  if (!child.ok()) {
    *error = std::string(child.status().message());
    return nullptr;
  }
  std::unique_ptr<PageserverProcess> p(new PageserverProcess());
  p->child_ = std::move(*child);
  p->grpc_port_ = std::stoi(ports[0]);
  p->http_port_ = std::stoi(ports[1]);
  return p;
}

PageserverProcess::~PageserverProcess() = default;
void PageserverProcess::Kill() { child_->Kill(); }
int PageserverProcess::Stop(int timeout_ms) { return child_->Stop(timeout_ms); }
std::string PageserverProcess::Log() const { return child_->Log(); }

}  // namespace neon::testing
