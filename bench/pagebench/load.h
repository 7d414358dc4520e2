// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// pagebench's load: `clients` threads, each a closed loop with `depth` requests in flight,
// for `warmup` + `seconds`; only requests issued after the warm-up count. Each request
// reads `batch` random blocks of the dataset's relation at one LSN: the latest one, or
// (historic_percent of the time) the end of a random earlier round. Three ways to serve
// the same stream of requests:
//   RunInProcess   the engine in this process (GetRelPage, or GetRelPages for batch > 1),
//                  one call at a time per client (`depth` does not apply): the ceiling;
//   RunGetPages    a GetPages stream per client to the pageserver, each on its own
//                  connection;
//   RunEcho        the same stream shape against the echo server: the transport floor.
// Every answer is checked (status, page count, page size); the first failure is reported
// and counted as an error.
//
// Thread safety: each Run* call owns its threads; call them one at a time.

#ifndef NEON_BENCH_PAGEBENCH_LOAD_H_
#define NEON_BENCH_PAGEBENCH_LOAD_H_

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "bench/pagebench/dataset.h"
#include "neon/engine.h"

namespace neon::pagebench {

struct LoadOptions {
  int clients = 4;
  double seconds = 10;
  double warmup = 1;
  uint32_t batch = 1;
  uint32_t depth = 1;
  uint32_t historic_percent = 50;
};

struct LoadResult {
  uint64_t requests = 0;  // completed in the measured window
  uint64_t pages = 0;
  double seconds = 0;     // length of the measured window
  uint64_t errors = 0;
  std::string first_error;
  std::vector<int64_t> latency_ns;  // per request, sorted

  double requests_per_second() const { return seconds > 0 ? double(requests) / seconds : 0; }
  double pages_per_second() const { return seconds > 0 ? double(pages) / seconds : 0; }
  // Microseconds at quantile q (0 without samples).
  double PercentileUs(double q) const;
  // Adds another run of the same phase (counts, time and latencies).
  void Merge(const LoadResult& other);
};

// The requests one client makes: blocks and read LSN.
class RequestStream {
 public:
  RequestStream(const Dataset& d, const LoadOptions& o, uint64_t seed)
      : d_(d), o_(o), rng_(seed) {}
  void Next(std::vector<uint32_t>* blocks, Lsn* lsn);

 private:
  const Dataset& d_;
  const LoadOptions& o_;
  std::mt19937_64 rng_;
};

LoadResult RunInProcess(Timeline* tl, const Dataset& d, const LoadOptions& o);
LoadResult RunGetPages(const std::string& target, const Dataset& d, const LoadOptions& o);
LoadResult RunEcho(const std::string& target, const LoadOptions& o);

// Reads `blocks` at `lsn` over one GetPages stream (one request each); the pages, or the
// first error.
absl::StatusOr<std::vector<std::string>> FetchPages(const std::string& target, const Dataset& d,
                                                    const std::vector<uint32_t>& blocks,
                                                    const std::vector<Lsn>& lsns);

}  // namespace neon::pagebench

#endif  // NEON_BENCH_PAGEBENCH_LOAD_H_
