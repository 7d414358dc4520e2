// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Object storage throughput and latency: our S3ObjectStore against the AWS CLI
// on the same files and the same s3rver process, in the same run (so the
// figure that matters is the ratio), plus LocalObjectStore on a POSIX
// directory for reference.
//
//   Put|Get/<client>/MiB:<n>   layer-sized uploads and downloads (MB/s)
//   SmallPut|SmallGet/ours     4 KiB objects, p50/p99 latency
//
// The AWS CLI figures include its process start (~0.5-1 s of Python), as a
// script driving it would pay. Flags: --remote_bench_smoke (tiny sizes, for
// the CTest smoke test). s3rver comes from scripts/install-test-peers.sh.

#include <memory>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "benchmark/benchmark.h"
#include "neon/object_store.h"
#include "remote/peer_util.h"

namespace neon::bench {
namespace {

bool g_smoke = false;

testing::S3rver& Server() {
  static testing::S3rver* server = ValueOrDie(testing::S3rver::Shared(), "starting s3rver");
  return *server;
}

std::shared_ptr<ObjectStore> OurS3() {
  static std::shared_ptr<ObjectStore> store =
      ValueOrDie(NewS3ObjectStore(Server().Options("bench/")), "creating the S3 store");
  return store;
}

std::string RandomFile(TempDir& dir, const std::string& name, uint64_t bytes) {
  std::string data(bytes, '\0');
  uint64_t x = 0x9E3779B97F4A7C15ull;
  for (char& c : data) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    c = static_cast<char>(x);
  }
  auto fs = NewPosixFileSystem();
  std::string path = dir.Sub(name);
  CheckOk(WriteFileAtomic(*fs, path, data), "writing the source file");
  return path;
}

void Aws(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"aws", "--endpoint-url", Server().endpoint()};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = testing::RunCommand(argv,
                               {"AWS_ACCESS_KEY_ID=S3RVER", "AWS_SECRET_ACCESS_KEY=S3RVER",
                                "AWS_DEFAULT_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true",
                                "AWS_REQUEST_CHECKSUM_CALCULATION=when_required",
                                "AWS_RESPONSE_CHECKSUM_VALIDATION=when_required"},
                               600);
  CheckOk(r.status(), "running aws");
  if (r->exit_code != 0) {
    std::fprintf(stderr, "FATAL: aws %s: %s\n", args[1].c_str(), r->err.c_str());
    std::abort();
  }
}

enum class Client { kOurs, kAwsCli, kLocal };

void BM_Transfer(benchmark::State& state, Client client, bool upload, uint64_t mib) {
  TempDir dir("neon_remote_bench");
  auto fs = NewPosixFileSystem();
  uint64_t bytes = mib << 20;
  std::string src = RandomFile(dir, "src", bytes);
  std::string dst = dir.Sub("dst");
  std::string key = "bench/obj-" + std::to_string(mib);
  std::string url = std::string("s3://") + testing::S3rver::kBucket + "/" + key;
  std::shared_ptr<ObjectStore> store =
      client == Client::kLocal ? ValueOrDie(NewLocalObjectStore(fs, dir.Sub("objects")), "local store") : OurS3();
  if (!upload) CheckOk(PutFile(*store, key, *fs, src), "seeding");
  for (auto _ : state) {
    if (client == Client::kAwsCli) {
      Aws(upload ? std::vector<std::string>{"s3", "cp", "--quiet", src, url}
                 : std::vector<std::string>{"s3", "cp", "--quiet", url, dst});
    } else if (upload) {
      CheckOk(PutFile(*store, key, *fs, src), "put");
    } else {
      CheckOk(GetFile(*store, key, *fs, dst).status(), "get");
    }
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(bytes));
}

void BM_Small(benchmark::State& state, bool upload) {
  std::shared_ptr<ObjectStore> store = OurS3();
  std::string data(4096, 'x');
  CheckOk(PutString(*store, "bench/small", data), "seeding");
  LatencyRecorder latency;
  for (auto _ : state) {
    int64_t t0 = NowNanos();
    if (upload) {
      CheckOk(PutString(*store, "bench/small", data), "put");
    } else {
      benchmark::DoNotOptimize(ValueOrDie(GetString(*store, "bench/small"), "get"));
    }
    latency.Add(NowNanos() - t0);
  }
  latency.Report(state);
  state.SetItemsProcessed(int64_t(state.iterations()));
}

void Register() {
  std::vector<uint64_t> sizes = g_smoke ? std::vector<uint64_t>{1} : std::vector<uint64_t>{8, 64};
  for (uint64_t mib : sizes) {
    for (bool upload : {true, false}) {
      for (Client c : {Client::kOurs, Client::kAwsCli, Client::kLocal}) {
        const char* name = c == Client::kOurs ? "ours" : c == Client::kAwsCli ? "awscli" : "local-posix";
        std::string bench = std::string(upload ? "Put/" : "Get/") + name + "/MiB:" + std::to_string(mib);
        benchmark::RegisterBenchmark(bench.c_str(), [=](benchmark::State& st) { BM_Transfer(st, c, upload, mib); })
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime()
            ->Iterations(g_smoke ? 1 : 3);
      }
    }
  }
  benchmark::RegisterBenchmark("SmallPut/ours/4KiB", [](benchmark::State& st) { BM_Small(st, true); })
      ->Unit(benchmark::kMicrosecond)
      ->UseRealTime();
  benchmark::RegisterBenchmark("SmallGet/ours/4KiB", [](benchmark::State& st) { BM_Small(st, false); })
      ->Unit(benchmark::kMicrosecond)
      ->UseRealTime();
}

}  // namespace
}  // namespace neon::bench

int main(int argc, char** argv) {
  int out = 1;
  for (int i = 1; i < argc; i++) {
    if (std::string_view(argv[i]) == "--remote_bench_smoke") {
      neon::bench::g_smoke = true;
    } else {
      argv[out++] = argv[i];
    }
  }
  argc = out;
  benchmark::Initialize(&argc, argv);
  neon::bench::Register();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
