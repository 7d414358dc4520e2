// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// pagebench: GetPage@LSN through the whole pageserver, against its ceiling (the same
// reads in-process through the engine) and its floor (a gRPC echo of the same stream
// shape), in one run, so that the figures to read are the ratios.
//
//   1. writes the dataset (dataset.h) with an engine opened on <workdir>/engine, and copies
//      it for the in-process reads;
//   2. starts the `pageserver` binary of this build (NEON_PAGESERVER_PATH) on the work
//      directory (--remote-storage-dir=none, no walredo) and this program again as the echo
//      server (echo_server.h), and checks a sample of the pageserver's pages against the
//      in-process reads;
//   3. --rounds times, for each --batch size, runs each phase for --warmup + --seconds:
//        in-process  `--clients` threads reading through the engine (the ceiling);
//        pageserver  one GetPages stream per client on its own connection, `--depth`
//                    requests in flight per stream;
//        echo        the same clients and stream shape against the echo server (the floor);
//      taking turns, so that load from other processes weighs on every phase alike, and
//      merging the rounds of each phase.
// Every answer of every phase is checked; any error makes the run fail (exit 1).
//
//   pagebench [--clients=4] [--seconds=10] [--warmup=1] [--pages=50000] [--batch=1,32]
//             [--depth=1] [--historic-percent=50] [--page-cache-mb=64] [--rounds=1]
//             [--workdir=DIR]
//
// --workdir (a new directory) keeps the data: <workdir> (the pageserver's), <workdir>.inprocess
// (the copy) and the logs <workdir>.log, <workdir>.echo.log; by default they go to a /tmp
// directory that is removed at the end.

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "bench/bench_util.h"
#include "bench/pagebench/dataset.h"
#include "bench/pagebench/echo_server.h"
#include "bench/pagebench/load.h"
#include "httplib.h"
#include "servers/child_process.h"

namespace neon::pagebench {
namespace {

using testing::ChildProcess;

constexpr int kStartTimeoutMs = 120000;
constexpr int kVerifySamples = 64;

struct Flags {
  LoadOptions load;
  uint32_t pages = 50000;
  std::vector<uint32_t> batches = {1, 32};
  uint32_t page_cache_mb = 64;
  uint32_t rounds = 1;
  std::string workdir;
};

[[noreturn]] void Usage(const std::string& why) {
  std::fprintf(stderr,
               "pagebench: %s\nusage: pagebench [--clients=N] [--seconds=S] [--warmup=S] "
               "[--pages=N] [--batch=B[,B...]] [--depth=N] [--historic-percent=P] "
               "[--page-cache-mb=M] [--rounds=N] [--workdir=DIR]\n",
               why.c_str());
  std::exit(2);
}

Flags ParseFlags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; i++) {
    const std::string arg = argv[i];
    const size_t eq = arg.find('=');
    if (arg.rfind("--", 0) != 0 || eq == std::string::npos) Usage("bad argument " + arg);
    const std::string name = arg.substr(2, eq - 2), value = arg.substr(eq + 1);
    auto u32 = [&](uint32_t lo, uint32_t hi) {
      uint32_t v = 0;
      if (!absl::SimpleAtoi(value, &v) || v < lo || v > hi) {
        Usage("--" + name + " must be an integer in [" + std::to_string(lo) + ", " +
              std::to_string(hi) + "]");
      }
      return v;
    };
    auto seconds = [&] {
      double v = 0;
      if (!absl::SimpleAtod(value, &v) || v < 0 || v > 3600) Usage("--" + name + ": 0..3600 s");
      return v;
    };
    if (name == "clients") {
      f.load.clients = int(u32(1, 1024));
    } else if (name == "seconds") {
      f.load.seconds = seconds();
      if (f.load.seconds <= 0) Usage("--seconds must be positive");
    } else if (name == "warmup") {
      f.load.warmup = seconds();
    } else if (name == "pages") {
      f.pages = u32(1, 1u << 26);
    } else if (name == "depth") {
      f.load.depth = u32(1, 32);
    } else if (name == "historic-percent") {
      f.load.historic_percent = u32(0, 100);
    } else if (name == "rounds") {
      f.rounds = u32(1, 100);
    } else if (name == "page-cache-mb") {
      f.page_cache_mb = u32(1, 1u << 20);
    } else if (name == "workdir") {
      f.workdir = value;
    } else if (name == "batch") {
      f.batches.clear();
      for (absl::string_view b : absl::StrSplit(value, ',')) {
        uint32_t v = 0;
        if (!absl::SimpleAtoi(b, &v) || v < 1 || v > 256) Usage("--batch: sizes in [1, 256]");
        f.batches.push_back(v);
      }
    } else {
      Usage("unknown flag --" + name);
    }
  }
  return f;
}

std::string LoadAvg() {
  double l[3] = {0, 0, 0};
  if (getloadavg(l, 3) != 3) return "?";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.2f %.2f %.2f", l[0], l[1], l[2]);
  return buf;
}

// A Prometheus counter's value in `text` (0 when absent).
double Counter(const std::string& text, const std::string& name) {
  const size_t at = text.find("\n" + name + " ");
  return at == std::string::npos ? 0 : std::atof(text.c_str() + at + name.size() + 2);
}

void CheckRun(const LoadResult& r, const char* phase) {
  if (r.errors == 0 && r.requests > 0) return;
  std::fprintf(stderr, "FATAL: %s: %llu errors (first: %s), %llu requests\n", phase,
               (unsigned long long)r.errors, r.first_error.c_str(), (unsigned long long)r.requests);
  std::exit(1);
}

void PrintRow(const char* phase, uint32_t batch, const LoadResult& r) {
  std::printf("%-12s %5u %12.0f %12.0f %9.1f %9.1f %9.1f\n", phase, batch,
              r.requests_per_second(), r.pages_per_second(), r.PercentileUs(0.5),
              r.PercentileUs(0.99), r.PercentileUs(0.999));
}

// Pages read in-process, to compare the pageserver's answers with.
struct Sample {
  std::vector<uint32_t> blocks;
  std::vector<Lsn> lsns;
  std::vector<std::string> pages;
};

Sample TakeSample(Timeline* tl, const Dataset& d) {
  Sample s;
  std::mt19937 rng(9);
  for (int i = 0; i < kVerifySamples; i++) {
    s.blocks.push_back(uint32_t(rng() % d.pages));
    s.lsns.push_back(d.rounds[rng() % d.rounds.size()]);
    s.pages.push_back(bench::ValueOrDie(
        tl->GetRelPage(kBenchRel, s.blocks.back(), ReadLsn{s.lsns.back(), Lsn()}), "sample page"));
  }
  return s;
}

void VerifySample(const std::string& target, const Dataset& d, const Sample& s) {
  std::vector<std::string> got =
      bench::ValueOrDie(FetchPages(target, d, s.blocks, s.lsns), "sample pages");
  for (size_t i = 0; i < got.size(); i++) {
    if (got[i] != s.pages[i]) {
      std::fprintf(stderr, "FATAL: the pageserver's block %u at %s differs from the engine's\n",
                   s.blocks[i], s.lsns[i].ToString().c_str());
      std::exit(1);
    }
  }
}

std::unique_ptr<ChildProcess> StartPageserver(const std::string& workdir, uint32_t cache_mb,
                                              std::string* target, int* http_port) {
  std::vector<std::string> ports;
  auto ps = bench::ValueOrDie(
      ChildProcess::Start({NEON_PAGESERVER_PATH, "--workdir=" + workdir,
                           "--listen-grpc-addr=127.0.0.1:0", "--listen-http-addr=127.0.0.1:0",
                           "--remote-storage-dir=none", "--walredo-path=",
                           "--page-cache-mb=" + std::to_string(cache_mb)},
                          workdir + ".log", R"(event=started .*grpc_port=(\d+) .*http_port=(\d+))",
                          kStartTimeoutMs, &ports),
      "start the pageserver");
  *target = "127.0.0.1:" + ports[0];
  *http_port = std::stoi(ports[1]);
  return ps;
}

std::unique_ptr<ChildProcess> StartEchoServer(const std::string& log, std::string* target) {
  std::vector<std::string> port;
  auto server = bench::ValueOrDie(ChildProcess::Start({"/proc/self/exe", "--echo-server"}, log,
                                                      R"(echo_port=(\d+))", kStartTimeoutMs, &port),
                                  "start the echo server");
  *target = "127.0.0.1:" + port[0];
  return server;
}

void PrintResults(const Flags& f, std::map<uint32_t, LoadResult>& inproc,
                  std::map<uint32_t, LoadResult>& grpc, std::map<uint32_t, LoadResult>& echo) {
  std::printf("\n%-12s %5s %12s %12s %9s %9s %9s\n", "phase", "batch", "requests/s", "pages/s",
              "p50_us", "p99_us", "p99.9_us");
  for (uint32_t batch : f.batches) {
    PrintRow("in-process", batch, inproc[batch]);
    PrintRow("pageserver", batch, grpc[batch]);
    PrintRow("echo", batch, echo[batch]);
  }
  std::printf("\n%5s %22s %28s\n", "batch", "p50 pageserver/echo", "pages/s pageserver/in-proc");
  for (uint32_t batch : f.batches) {
    std::printf("%5u %22.2f %28.2f\n", batch,
                grpc[batch].PercentileUs(0.5) / echo[batch].PercentileUs(0.5),
                grpc[batch].pages_per_second() / inproc[batch].pages_per_second());
  }
}

int Main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "--echo-server") == 0) return RunEchoServer();
  const Flags f = ParseFlags(argc, argv);
  if (!f.workdir.empty() && access(f.workdir.c_str(), F_OK) == 0) {
    Usage("--workdir " + f.workdir + " exists; give a new directory");
  }
  std::unique_ptr<bench::TempDir> tmp;
  std::string workdir = f.workdir;
  if (workdir.empty()) {
    tmp = std::make_unique<bench::TempDir>("pagebench");
    workdir = tmp->Sub("pageserver");
  }
  const std::string start_load = LoadAvg();
  std::printf("pagebench: pages=%u clients=%d depth=%u seconds=%.1f x %u rounds warmup=%.1f "
              "historic=%u%% page_cache=%u MiB workdir=%s\n",
              f.pages, f.load.clients, f.load.depth, f.load.seconds, f.rounds, f.load.warmup,
              f.load.historic_percent, f.page_cache_mb, workdir.c_str());
  const Dataset d = bench::ValueOrDie(PrepareDataset(workdir + "/engine", f.pages), "dataset");
  std::printf("dataset: %u pages, %zu rounds up to LSN %s, %llu layers, %.1f MiB of layer files\n",
              d.pages, d.rounds.size(), d.latest.ToString().c_str(), (unsigned long long)d.layers,
              double(d.layer_bytes) / (1 << 20));
  // The in-process engine reads a copy, so that it can be open while the pageserver runs
  // and the phases can take turns (machine load then weighs on all of them alike).
  const std::string inproc_dir = workdir + ".inprocess";
  std::filesystem::copy(workdir + "/engine", inproc_dir, std::filesystem::copy_options::recursive);
  auto engine = bench::ValueOrDie(
      Engine::Open(BenchEngineOptions(size_t{f.page_cache_mb} << 20), inproc_dir), "open the engine");
  auto tl = bench::ValueOrDie(
      bench::ValueOrDie(engine->GetTenant(d.tenant), "tenant")->GetTimeline(d.timeline), "timeline");
  const Sample sample = TakeSample(tl.get(), d);
  std::string ps_target, echo_target;
  int http_port = 0;
  auto ps = StartPageserver(workdir, f.page_cache_mb, &ps_target, &http_port);
  VerifySample(ps_target, d, sample);
  auto echo_server = StartEchoServer(workdir + ".echo.log", &echo_target);

  std::map<uint32_t, LoadResult> inproc, grpc, echo;
  for (uint32_t round = 0; round < f.rounds; round++) {
    for (uint32_t batch : f.batches) {
      LoadOptions o = f.load;
      o.batch = batch;
      LoadResult r = RunInProcess(tl.get(), d, o);
      CheckRun(r, "in-process");
      inproc[batch].Merge(r);
      r = RunGetPages(ps_target, d, o);
      CheckRun(r, "pageserver");
      grpc[batch].Merge(r);
      r = RunEcho(echo_target, o);
      CheckRun(r, "echo");
      echo[batch].Merge(r);
    }
  }

  double engine_reads = 0, page_requests = 0;
  httplib::Client http("127.0.0.1", http_port);
  if (auto r = http.Get("/metrics"); r && r->status == 200) {
    engine_reads = Counter(r->body, "pageserver_getpage_reads_total");
    page_requests = Counter(r->body, "pageserver_getpage_pages_total");
  }
  if (int status = ps->Stop(); status != 0) {
    std::fprintf(stderr, "FATAL: pageserver exited with %d:\n%s\n", status, ps->Log().c_str());
    return 1;
  }
  echo_server->Stop();
  engine->Shutdown();

  PrintResults(f, inproc, grpc, echo);
  if (engine_reads > 0) {
    std::printf("\npageserver: %.0f pages in %.0f engine reads (%.2f pages per read, warm-up and "
                "verification included)\n",
                page_requests, engine_reads, page_requests / engine_reads);
  }
  std::printf("load average: %s at start, %s at end\n", start_load.c_str(), LoadAvg().c_str());
  return 0;
}

}  // namespace
}  // namespace neon::pagebench

int main(int argc, char** argv) { return neon::pagebench::Main(argc, argv); }
