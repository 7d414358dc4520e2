// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "servers/safekeeper_process.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <utility>

#include "httplib.h"

namespace neon::testing {
namespace {

constexpr int kStartTimeoutMs = 30000;

}  // namespace

std::unique_ptr<SafekeeperProcess> SafekeeperProcess::Start(const std::string& workdir,
                                                            const std::vector<std::string>& args,
                                                            std::string* error) {
  static int starts = 0;
  std::vector<std::string> argv = {NEON_SAFEKEEPER_PATH, "--workdir=" + workdir,
                                   "--listen-pg=127.0.0.1:0", "--listen-http=127.0.0.1:0"};
  argv.insert(argv.end(), args.begin(), args.end());  // later flags win
  std::vector<std::string> ports;
  auto child = ChildProcess::Start(argv, workdir + ".log" + std::to_string(++starts),
                                   R"(event=started .*pg_port=(\d+) .*http_port=(\d+))",
                                   kStartTimeoutMs, &ports);
  if (!child.ok()) {
    *error = std::string(child.status().message());
    return nullptr;
  }
  std::unique_ptr<SafekeeperProcess> p(new SafekeeperProcess());
  p->child_ = std::move(*child);
  p->workdir_ = workdir;
  p->pg_port_ = std::stoi(ports[0]);
  p->http_port_ = std::stoi(ports[1]);
  return p;
}

SafekeeperProcess::~SafekeeperProcess() = default;
void SafekeeperProcess::Kill() { child_->Kill(); }
int SafekeeperProcess::Stop(int timeout_ms) { return child_->Stop(timeout_ms); }
std::string SafekeeperProcess::Log() const { return child_->Log(); }

int RunSafekeeperToExit(const std::vector<std::string>& args, std::string* output) {
  char tmpl[] = "/tmp/neon_sk_exit.XXXXXX";
  const int fd = mkstemp(tmpl);
  if (fd >= 0) close(fd);
  std::vector<std::string> argv = {NEON_SAFEKEEPER_PATH};
  argv.insert(argv.end(), args.begin(), args.end());
  const int rc = ChildProcess::RunToExit(argv, tmpl, kStartTimeoutMs);
  std::ifstream in(tmpl);
  std::stringstream ss;
  ss << in.rdbuf();
  *output = ss.str();
  std::remove(tmpl);
  return rc;
}

HttpReply HttpCall(int port, const std::string& method, const std::string& path,
                   const std::string& body, const std::string& token) {
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(10);
  c.set_read_timeout(60);
  httplib::Headers h;
  if (!token.empty()) h.emplace("Authorization", "Bearer " + token);
  httplib::Result r(nullptr, httplib::Error::Unknown);
  if (method == "GET") r = c.Get(path.c_str(), h);
  if (method == "POST") r = c.Post(path.c_str(), h, body, "application/json");
  if (method == "PUT") r = c.Put(path.c_str(), h, body, "application/json");
  if (method == "DELETE") r = c.Delete(path.c_str(), h);
  HttpReply out;
  if (!r) return out;
  out.status = r->status;
  out.text = r->body;
  out.body = nlohmann::json::parse(r->body, nullptr, false);
  return out;
}

uint64_t ParseLsnText(const std::string& text) {
  const size_t slash = text.find('/');
  if (slash == std::string::npos) return 0;
  return (std::stoull(text.substr(0, slash), nullptr, 16) << 32) |
         std::stoull(text.substr(slash + 1), nullptr, 16);
}

std::string LsnText(uint64_t lsn) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%X/%X", unsigned(lsn >> 32), unsigned(lsn & 0xffffffff));
  return buf;
}

}  // namespace neon::testing
