// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "servers/broker_process.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <utility>

#include "httplib.h"

namespace neon::testing {
namespace {

constexpr int kStartTimeoutMs = 20000;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TempDir::TempDir() {
  std::string tmpl = "/tmp/neon_broker_test.XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) std::abort();
  path_ = tmpl;
}

TempDir::~TempDir() { std::system(("rm -rf '" + path_ + "'").c_str()); }

std::string TempDir::WriteFile(const std::string& name, const std::string& text) const {
  const std::string p = path_ + "/" + name;
  std::ofstream(p) << text;
  return p;
}

std::unique_ptr<BrokerProcess> BrokerProcess::Start(const std::vector<std::string>& args,
                                                    std::string* error) {
  std::unique_ptr<BrokerProcess> b(new BrokerProcess());
  b->dir_ = std::make_unique<TempDir>();
  std::vector<std::string> argv = {NEON_STORAGE_BROKER_PATH, "--listen-addr=127.0.0.1:0",
                                   "--http-listen-addr=127.0.0.1:0"};
  argv.insert(argv.end(), args.begin(), args.end());  // later flags win
  std::vector<std::string> ports;
  auto child = ChildProcess::Start(argv, b->dir_->path() + "/broker.log",
                                   R"(event=started .*grpc_port=(\d+) .*http_port=(\d+))",
                                   kStartTimeoutMs, &ports);
  if (!child.ok()) {
    *error = std::string(child.status().message());
    return nullptr;
  }
  b->child_ = std::move(*child);
  b->grpc_port_ = std::stoi(ports[0]);
  b->http_port_ = std::stoi(ports[1]);
  return b;
}

BrokerProcess::~BrokerProcess() = default;
int BrokerProcess::Stop(int timeout_ms) { return child_->Stop(timeout_ms); }
std::string BrokerProcess::Log() const { return child_->Log(); }

int RunBrokerToExit(const std::vector<std::string>& args, std::string* output) {
  TempDir dir;
  const std::string out = dir.path() + "/out";
  std::vector<std::string> argv = {NEON_STORAGE_BROKER_PATH};
  argv.insert(argv.end(), args.begin(), args.end());
  const int rc = ChildProcess::RunToExit(argv, out, kStartTimeoutMs);
  *output = ReadAll(out);
  return rc;
}

int HttpGet(int port, const std::string& path, std::string* body) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(5);
  client.set_read_timeout(5);
  auto res = client.Get(path.c_str());
  if (!res) return -1;
  *body = res->body;
  return res->status;
}

}  // namespace neon::testing
