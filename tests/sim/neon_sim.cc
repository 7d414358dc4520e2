// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// neon_sim: runs the consensus simulation for a range of seeds.
//
//   neon_sim --seeds 200 --start 1        seeds 1..200, stop at the first failure
//   neon_sim --seed 1234 --verbose        replay one seed with a full trace
//   neon_sim --broken ack-before-fsync --expect-failure --seeds 500
//       passes only if some seed fails (proves the checkers have teeth);
//       each seed runs in a child process so a crashing check counts too
//
// Other flags: --acceptors 3|5, --computes 1|2, --fault-ms N, --liveness-ms N.
// Every failure prints the seed and the command line that replays it.

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "sim/simulation.h"

namespace {

using neon::sim::BrokenVariant;
using neon::sim::SimOptions;
using neon::sim::SimResult;

volatile uint64_t g_current_seed = 0;

void OnAbort(int) {
  char buf[128];
  int n = std::snprintf(buf, sizeof(buf), "\nneon_sim: aborted while running seed %llu\n",
                        (unsigned long long)g_current_seed);
  if (n > 0) (void)!write(2, buf, size_t(n));
  std::signal(SIGABRT, SIG_DFL);
  std::abort();
}

struct Args {
  SimOptions base;
  uint64_t start = 1;
  uint64_t seeds = 1;
  bool expect_failure = false;
};

bool ParseArgs(int argc, char** argv, Args* a) {
  for (int i = 1; i < argc; i++) {
    std::string k = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (k == "--verbose") {
      a->base.verbose = true;
    } else if (k == "--expect-failure") {
      a->expect_failure = true;
    } else if ((v = next()) == nullptr) {
      return false;
    } else if (k == "--seeds") {
      a->seeds = std::strtoull(v, nullptr, 10);
    } else if (k == "--start") {
      a->start = std::strtoull(v, nullptr, 10);
    } else if (k == "--seed") {
      a->start = std::strtoull(v, nullptr, 10);
      a->seeds = 1;
    } else if (k == "--acceptors") {
      a->base.acceptors = std::atoi(v);
    } else if (k == "--computes") {
      a->base.computes = std::atoi(v);
    } else if (k == "--fault-ms") {
      a->base.fault_ms = std::atoll(v);
    } else if (k == "--liveness-ms") {
      a->base.liveness_ms = std::atoll(v);
    } else if (k == "--broken") {
      if (!neon::sim::ParseBrokenVariant(v, &a->base.broken)) return false;
    } else {
      return false;
    }
  }
  return a->seeds > 0;
}

std::string ReplayCommand(const Args& a, uint64_t seed) {
  std::string cmd = "neon_sim --seed " + std::to_string(seed);
  if (a.base.acceptors) cmd += " --acceptors " + std::to_string(a.base.acceptors);
  if (a.base.computes) cmd += " --computes " + std::to_string(a.base.computes);
  if (a.base.broken != BrokenVariant::kNone) {
    cmd += std::string(" --broken ") + neon::sim::BrokenVariantName(a.base.broken);
  }
  return cmd + " --verbose";
}

// Runs one seed in a child process: 0 = passed, 1 = violation, 2 = crashed.
int RunInChild(const SimOptions& o) {
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    SimResult r = neon::sim::RunSimulation(o);
    if (!r.ok) std::printf("seed %llu: %s\n", (unsigned long long)o.seed, r.failure.c_str());
    std::fflush(nullptr);
    _exit(r.ok ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status)) return WEXITSTATUS(status) == 0 ? 0 : 1;
  return 2;
}

int ExpectFailure(const Args& a) {
  for (uint64_t s = a.start; s < a.start + a.seeds; s++) {
    SimOptions o = a.base;
    o.seed = s;
    int rc = RunInChild(o);
    if (rc != 0) {
      std::printf("broken variant '%s' caught at seed %llu (%s) after %llu seeds\n",
                  neon::sim::BrokenVariantName(a.base.broken), (unsigned long long)s,
                  rc == 1 ? "checker violation" : "invariant check crashed",
                  (unsigned long long)(s - a.start + 1));
      return 0;
    }
  }
  std::printf("broken variant '%s' NOT caught in %llu seeds: the simulator lacks teeth\n",
              neon::sim::BrokenVariantName(a.base.broken), (unsigned long long)a.seeds);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  if (!ParseArgs(argc, argv, &a)) {
    std::fprintf(stderr,
                 "usage: neon_sim [--seeds N] [--start S] [--seed S] [--acceptors 3|5] "
                 "[--computes 1|2] [--broken NAME] [--expect-failure] [--fault-ms N] "
                 "[--liveness-ms N] [--verbose]\n");
    return 2;
  }
  if (a.expect_failure) return ExpectFailure(a);
  std::signal(SIGABRT, OnAbort);
  uint64_t events = 0, elections = 0, crashes = 0, bytes = 0;
  for (uint64_t s = a.start; s < a.start + a.seeds; s++) {
    g_current_seed = s;
    SimOptions o = a.base;
    o.seed = s;
    SimResult r = neon::sim::RunSimulation(o);
    events += r.events;
    elections += r.elections;
    crashes += r.acceptor_crashes;
    bytes += r.committed_bytes;
    if (a.seeds == 1 || !r.ok) {
      std::printf("seed %llu: %s [%s] events=%llu elections=%llu crashes=%llu committed=%llu "
                  "end=%lldms\n",
                  (unsigned long long)s, r.ok ? "ok" : "FAILED", r.config.c_str(),
                  (unsigned long long)r.events, (unsigned long long)r.elections,
                  (unsigned long long)r.acceptor_crashes,
                  (unsigned long long)r.committed_bytes, (long long)r.end_ms);
    }
    if (!r.ok) {
      std::printf("  %s\n  replay: %s\n", r.failure.c_str(), ReplayCommand(a, s).c_str());
      return 1;
    }
  }
  std::printf("neon_sim: %llu seeds passed (%llu..%llu): %llu events, %llu elections, "
              "%llu acceptor crashes, %llu bytes committed\n",
              (unsigned long long)a.seeds, (unsigned long long)a.start,
              (unsigned long long)(a.start + a.seeds - 1), (unsigned long long)events,
              (unsigned long long)elections, (unsigned long long)crashes,
              (unsigned long long)bytes);
  return 0;
}
