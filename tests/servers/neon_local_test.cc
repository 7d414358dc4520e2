// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// neon_local (servers/neon_local) as a user runs it: init on a free block of ports in a
// temporary repository, start (and a second start that starts nothing), status, tenants,
// timelines and their tree, a full export a data directory can be made of, stop; the same
// with --auth (tokens used, servers refuse requests without them); bad command lines exit 2.
// The servers are found in neon_local's own build tree.

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "httplib.h"

namespace neon::testing {
namespace {

namespace fs = std::filesystem;

constexpr int kPortBlock = 10;

struct Result {
  int code = -1;
  std::string out;
  std::string err;
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool PortFree(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

// The first port of kPortBlock free consecutive ports, away from the servers' defaults.
int FreePortBlock() {
  std::mt19937 rng(std::random_device{}());
  for (int attempt = 0; attempt < 200; ++attempt) {
    const int base = 20000 + static_cast<int>(rng() % 2000) * kPortBlock;
    bool all = true;
    for (int p = base; p < base + kPortBlock && all; ++p) all = PortFree(p);
    if (all) return base;
  }
  return 0;
}

class NeonLocalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/neon-local-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    tmp_ = tmpl;
    repo_ = tmp_ + "/repo";
    base_port_ = FreePortBlock();
    ASSERT_GT(base_port_, 0);
  }

  void TearDown() override {
    if (fs::exists(repo_ + "/config.json")) Run({"stop", "--immediate"});
    std::error_code ec;
    fs::remove_all(tmp_, ec);
  }

  // Runs neon_local with `args` and --repo-dir, NEON_BIN_DIR unset (the build tree is used).
  Result Run(const std::vector<std::string>& args, bool with_repo = true) {
    const std::string out = tmp_ + "/out", err = tmp_ + "/err";
    std::vector<std::string> all = {NEON_LOCAL_PATH};
    all.insert(all.end(), args.begin(), args.end());
    if (with_repo) all.insert(all.end(), {"--repo-dir", repo_});
    const pid_t pid = fork();
    if (pid == 0) {
      unsetenv("NEON_BIN_DIR");
      unsetenv("NEON_REPO_DIR");
      FILE* o = freopen(out.c_str(), "w", stdout);
      FILE* e = freopen(err.c_str(), "w", stderr);
      if (o == nullptr || e == nullptr) _exit(126);
      std::vector<char*> argv;
      for (std::string& a : all) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    Result r;
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = ReadAll(out);
    r.err = ReadAll(err);
    return r;
  }

  // The pids of the five servers from their pid files.
  std::vector<pid_t> Pids() {
    std::vector<pid_t> pids;
    for (const char* f : {"storage_broker/storage_broker.pid", "pageserver_1/pageserver.pid",
                          "safekeepers/sk1/safekeeper.pid", "safekeepers/sk2/safekeeper.pid",
                          "safekeepers/sk3/safekeeper.pid"}) {
      const std::string text = ReadAll(repo_ + "/" + f);
      pids.push_back(text.empty() ? 0 : static_cast<pid_t>(std::stol(text)));
    }
    return pids;
  }

  static int Count(const std::string& text, const std::string& what) {
    int n = 0;
    for (size_t pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) {
      ++n;
    }
    return n;
  }

  std::string tmp_;
  std::string repo_;
  int base_port_ = 0;
};

#define EXPECT_RUN_OK(r) EXPECT_EQ((r).code, 0) << (r).out << (r).err

TEST_F(NeonLocalTest, LifecycleTenantsTimelinesExport) {
  Result r = Run({"init", "--base-port", std::to_string(base_port_)});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("127.0.0.1:" + std::to_string(base_port_ + 2)), std::string::npos);
  // init refuses an initialized repository.
  r = Run({"init"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("already initialized"), std::string::npos) << r.err;

  r = Run({"start"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(Count(r.out, " started, pid "), 5) << r.out;
  const std::vector<pid_t> pids = Pids();
  for (pid_t pid : pids) EXPECT_EQ(kill(pid, 0), 0) << pid;

  // A second start leaves everything alone.
  r = Run({"start"});
  EXPECT_RUN_OK(r);
  EXPECT_EQ(Count(r.out, "already running"), 5) << r.out;
  EXPECT_EQ(Pids(), pids);

  r = Run({"status"});
  EXPECT_RUN_OK(r);
  EXPECT_EQ(Count(r.out, " running, pid "), 5) << r.out;
  EXPECT_NE(r.out.find("0 tenant(s), 0 timeline(s)"), std::string::npos) << r.out;

  const std::string tenant = "3aa8fcc61f6d357410b7de754b1d9001";
  r = Run({"tenant", "create", "--tenant-id", tenant});
  EXPECT_RUN_OK(r);
  EXPECT_NE(r.out.find("default tenant"), std::string::npos) << r.out;
  r = Run({"tenant", "create", "--tenant-id", tenant});  // exists: the pageserver's 409
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("409"), std::string::npos) << r.err;
  r = Run({"tenant", "list"});
  EXPECT_RUN_OK(r);
  EXPECT_NE(r.out.find(tenant + " Active"), std::string::npos) << r.out;

  r = Run({"timeline", "create", "--branch-name", "main"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  r = Run({"timeline", "create", "--branch-name", "main"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("already has a branch 'main'"), std::string::npos) << r.err;
  ASSERT_EQ(Run({"timeline", "branch", "--branch-name", "b1"}).code, 0);
  ASSERT_EQ(Run({"timeline", "branch", "--branch-name", "b2", "--ancestor-branch-name", "b1"}).code,
            0);
  ASSERT_EQ(Run({"timeline", "branch", "--branch-name", "b3"}).code, 0);
  r = Run({"timeline", "branch", "--branch-name", "b4", "--ancestor-branch-name", "nope"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("no branch 'nope'"), std::string::npos) << r.err;

  r = Run({"timeline", "list"});
  EXPECT_RUN_OK(r);
  const std::string lsn = R"(\d+/[0-9A-F]+)", id = "[0-9a-f]{32}";
  const std::regex tree("tenant " + tenant + "\n" +                              //
                        "main \\[" + id + "\\] last_record_lsn " + lsn + "\n" +  //
                        "┣━ @" + lsn + ": b1 \\[" + id + "\\] last_record_lsn " + lsn + "\n" +
                        "┃  ┗━ @" + lsn + ": b2 \\[" + id + "\\] last_record_lsn " + lsn + "\n" +
                        "┗━ @" + lsn + ": b3 \\[" + id + "\\] last_record_lsn " + lsn + "\n");
  EXPECT_TRUE(std::regex_match(r.out, tree)) << r.out;

  r = Run({"status"});
  EXPECT_NE(r.out.find("1 tenant(s), 4 timeline(s)"), std::string::npos) << r.out;

  // A full base backup of a branch: a complete data directory.
  const std::string dest = tmp_ + "/export";
  r = Run({"timeline", "export", "--branch-name", "b2", "--dest", dest});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("exported to " + dest + ": LSN "), std::string::npos) << r.out;
  EXPECT_EQ(ReadAll(dest + "/PG_VERSION"), "15\n");
  EXPECT_TRUE(fs::exists(dest + "/global/pg_control"));
  EXPECT_TRUE(fs::exists(dest + "/postgresql.conf"));
  r = Run({"timeline", "export", "--branch-name", "b2", "--dest", dest});  // not empty
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("not an empty directory"), std::string::npos) << r.err;

  r = Run({"stop"});
  EXPECT_RUN_OK(r);
  EXPECT_EQ(Count(r.out, " stopped, pid "), 5) << r.out;
  for (pid_t pid : pids) {
    // Gone, or a zombie waiting for a parent that does not reap.
    const std::string stat = ReadAll("/proc/" + std::to_string(pid) + "/stat");
    EXPECT_TRUE(stat.empty() || stat.find(") Z ") != std::string::npos) << stat;
  }
  EXPECT_FALSE(fs::exists(repo_ + "/pageserver_1/pageserver.pid"));
  r = Run({"status"});
  EXPECT_EQ(Count(r.out, "not running"), 5) << r.out;
  r = Run({"tenant", "list"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("is the cluster running?"), std::string::npos) << r.err;
}

TEST_F(NeonLocalTest, AuthUsesTokens) {
  ASSERT_EQ(Run({"init", "--auth", "--base-port", std::to_string(base_port_)}).code, 0);
  for (const char* f :
       {"auth_private_key.pem", "auth_public_key.pem", "tokens/pageserverapi.jwt",
        "tokens/safekeeperdata.jwt", "tokens/generations_api.jwt", "tokens/admin.jwt"}) {
    EXPECT_TRUE(fs::exists(repo_ + "/" + f)) << f;
  }
  Result r = Run({"start"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  r = Run({"tenant", "create"});
  EXPECT_RUN_OK(r);
  r = Run({"tenant", "list"});
  EXPECT_RUN_OK(r);
  EXPECT_NE(r.out.find("(default)"), std::string::npos) << r.out;
  // The servers want the token neon_local sent.
  httplib::Client ps("127.0.0.1", base_port_ + 2);
  auto res = ps.Get("/v1/tenant");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 401);
  httplib::Client sk("127.0.0.1", base_port_ + 5);
  res = sk.Get(
      "/v1/tenant/3aa8fcc61f6d357410b7de754b1d9001/timeline/"
      "de200bd42b49cc1814412c7e592dd6e9");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 401);
  r = Run({"stop", "--immediate"});
  EXPECT_RUN_OK(r);
  EXPECT_EQ(Count(r.out, "(SIGKILL)"), 5) << r.out;
}

TEST_F(NeonLocalTest, BadCommandLines) {
  // Usage errors: exit 2 and a pointer to --help.
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"frobnicate"},
           {"timeline"},
           {"timeline", "frob"},
           {"init", "--base-port", "80"},
           {"init", "--no-such-flag"},
           {"start", "--start-timeout"},
           {"timeline", "branch"},
           {"timeline", "branch", "--branch-name", "x", "--ancestor-start-lsn", "12"},
           {"timeline", "create", "--branch-name", "x", "--timeline-id", "xyz"},
           {"timeline", "export", "--branch-name", "main"},
           {"tenant", "create", "--tenant-id", "123"},
           {"walpump", "start"},
       }) {
    Result r = Run(args);
    EXPECT_EQ(r.code, 2) << args[0] << " " << (args.size() > 1 ? args[1] : "") << ": " << r.err;
    EXPECT_NE(r.err.find("error"), std::string::npos) << r.err;
  }
  Result r = Run({"timeline", "branch", "--branch-name", "x", "--ancestor-start-lsn", "zz"});
  EXPECT_NE(r.err.find("not an LSN"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("neon_local timeline branch --help"), std::string::npos) << r.err;
  // --help anywhere: exit 0 with the command's options.
  r = Run({"timeline", "branch", "--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("--ancestor-start-lsn X/Y"), std::string::npos) << r.out;
  r = Run({"--help"}, /*with_repo=*/false);
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("walpump start"), std::string::npos) << r.out;
  // No repository: exit 1 and what to do.
  r = Run({"status"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("run `neon_local init` first"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace neon::testing
