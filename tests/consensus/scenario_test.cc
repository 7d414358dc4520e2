// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Data-driven scenario tests (etcd raft's style): each file in testdata/ is
// a script of commands, each followed by "----" and the expected output (a
// rendering of the messages delivered and the resulting state), ended by a
// blank line. Set NEON_REWRITE=1 to regenerate the expected outputs, then
// review the diff like code.
//
// Commands (p = proposer index, a = acceptor index list):
//   cluster n=3                     new cluster of n acceptors
//   proposer mode=normal|sync       adds a proposer, prints its index
//   connect p=0 a=0,1               connects (sends the greetings)
//   disconnect p=0 a=1
//   deliver [p=0] [a=0,1] [n=2]     delivers until quiet (or n messages
//                                   per acceptor); prints the trace;
//                                   "noflush": acceptors do not sync
//   propose p=0 bytes=100           local WAL at the proposer
//   tick p=0                        heartbeat
//   crash a=1                       power loss and restart of an acceptor
//   state                           proposers and acceptors

#include <fstream>
#include <map>
#include <sstream>

#include "base/str_cat.h"
#include "consensus/test_cluster.h"
#include "gtest/gtest.h"

namespace neon::consensus::testing {
namespace {

struct Command {
  std::string name;
  std::map<std::string, std::string> args;
  std::string line;
  std::string expected;
};

std::vector<int> Ints(const std::string& list) {
  std::vector<int> out;
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(std::stoi(item));
  return out;
}

std::vector<Command> Parse(const std::string& text) {
  std::vector<Command> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    Command c;
    c.line = line;
    std::istringstream words(line);
    words >> c.name;
    std::string kv;
    while (words >> kv) {
      size_t eq = kv.find('=');
      c.args[kv.substr(0, eq)] = eq == std::string::npos ? "" : kv.substr(eq + 1);
    }
    std::getline(in, line);  // "----"
    while (std::getline(in, line) && !line.empty()) c.expected += line + "\n";
    out.push_back(std::move(c));
  }
  return out;
}

class Runner {
 public:
  std::string Run(const Command& c) {
    if (c.name == "cluster") {
      cluster_ = std::make_unique<TestCluster>(std::stoi(c.args.at("n")));
      return "ok\n";
    }
    TestCluster& tc = *cluster_;
    if (c.name == "proposer") {
      bool sync = c.args.at("mode") == "sync";
      int p = tc.AddProposer(
          tc.ProposerOpts(sync ? ProposerMode::kSyncSafekeepers : ProposerMode::kNormal));
      return StrCat("p", p, "\n");
    }
    if (c.name == "connect" || c.name == "disconnect") {
      for (int a : Ints(c.args.at("a"))) {
        c.name == "connect" ? tc.Connect(P(c), a) : tc.Disconnect(P(c), a);
      }
      return "ok\n";
    }
    if (c.name == "deliver") return Deliver(c);
    if (c.name == "propose") {
      tc.Propose(P(c), size_t(std::stoul(c.args.at("bytes"))));
      return StrCat("available ", tc.proposer(P(c)).available_lsn().ToString(), "\n");
    }
    if (c.name == "tick") {
      tc.Tick(P(c));
      return "ok\n";
    }
    if (c.name == "crash") {
      for (int a : Ints(c.args.at("a"))) tc.CrashAndRestart(a);
      return State();
    }
    if (c.name == "state") return State();
    return "unknown command\n";
  }

 private:
  int P(const Command& c) const { return c.args.count("p") ? std::stoi(c.args.at("p")) : 0; }

  std::string Deliver(const Command& c) {
    TestCluster& tc = *cluster_;
    tc.trace.clear();
    tc.auto_flush = c.args.count("noflush") == 0;
    if (c.args.count("n")) {
      for (int a : Ints(c.args.at("a"))) tc.DeliverBetween(P(c), a, std::stoi(c.args.at("n")));
    } else if (c.args.count("a")) {
      int delivered;
      do {
        delivered = 0;
        for (int a : Ints(c.args.at("a"))) delivered += tc.DeliverBetween(P(c), a);
      } while (delivered > 0);
    } else {
      tc.DeliverAll();
    }
    std::string out;
    for (const std::string& line : tc.trace) out += line + "\n";
    return out.empty() ? "nothing\n" : out;
  }

  std::string State() {
    TestCluster& tc = *cluster_;
    std::string out;
    for (int p = 0; p < tc.num_proposers(); p++) {
      Proposer& pr = tc.proposer(p);
      out += StrCat("p", p, ": ", ProposerPhaseName(pr.phase()), " term=", pr.term().value());
      if (pr.phase() == ProposerPhase::kStopped) out += StrCat(" (", pr.stop_reason().message(), ")");
      if (pr.history().size() > 0) {
        out += StrCat(" start=", pr.term_start_lsn().ToString(), " commit=",
                      pr.commit_lsn().ToString(), " history=", pr.history().ToString());
      }
      out += "\n";
    }
    for (int a = 0; a < int(tc.mconf().members.size()); a++) {
      const Acceptor& ac = tc.node(a).acceptor();
      out += StrCat("a", a, ": term=", ac.term().value(), " flush=", ac.flush_lsn().ToString(),
                    " commit=", ac.commit_lsn().ToString(), " history=",
                    ac.history().ToString(), "\n");
    }
    return out;
  }

  std::unique_ptr<TestCluster> cluster_;
};

std::string TestdataDir() {
  std::string file = __FILE__;
  return file.substr(0, file.rfind('/')) + "/testdata";
}

void RunScript(const std::string& name) {
  std::string path = TestdataDir() + "/" + name;
  std::ifstream in(path);
  ASSERT_TRUE(in.good()) << path;
  std::stringstream buf;
  buf << in.rdbuf();
  Runner runner;
  std::string rewritten;
  for (const Command& c : Parse(buf.str())) {
    std::string got = runner.Run(c);
    EXPECT_EQ(got, c.expected) << name << ": " << c.line;
    rewritten += c.line + "\n----\n" + got + "\n";
  }
  if (std::getenv("NEON_REWRITE") != nullptr) {
    std::ofstream out(path);
    out << rewritten;
  }
}

TEST(ScenarioTest, SplitVote) { RunScript("split_vote.txt"); }
TEST(ScenarioTest, DivergentLogsTruncated) { RunScript("divergent_logs.txt"); }
TEST(ScenarioTest, LaggingAcceptorCatchUp) { RunScript("lagging_catchup.txt"); }
TEST(ScenarioTest, RestartMidAppend) { RunScript("restart_mid_append.txt"); }

}  // namespace
}  // namespace neon::consensus::testing
