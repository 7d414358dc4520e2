// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// neon_waldump: prints Postgres 15 WAL records in pg_waldump's format.
//
//   neon_waldump [-p DIR] [-s LSN] [-e LSN] [-n N] [-t TLI] [--stats] [STARTSEG [ENDSEG]]
//
// Reads the segment files of DIR (or of STARTSEG's directory) from the first
// record at or after the start (STARTSEG's first record, or -s) to the end of
// valid WAL (with -s), STARTSEG's or ENDSEG's end, -e, or N records. As in
// pg_waldump, a record that needs bytes past the end is not printed. Exit status: 0 at a clean end
// (zeroed tail or no further segment), 1 on damaged WAL, 2 on bad usage.

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "neon/wal.h"

namespace neon {
namespace {

struct Options {
  std::string dir = ".";
  Lsn start;
  Lsn end = Lsn::Max();
  uint64_t limit = UINT64_MAX;
  uint32_t timeline = 1;
  bool stats = false;
};

struct RmgrStats {
  uint64_t count = 0;
  uint64_t rec_len = 0;
  uint64_t fpi_len = 0;
};

int Usage(const char* msg) {
  std::fprintf(stderr,
               "neon_waldump: %s\n"
               "usage: neon_waldump [-p DIR] [-s LSN] [-e LSN] [-n N] [-t TLI] [--stats] "
               "[STARTSEG [ENDSEG]]\n",
               msg);
  return 2;
}

bool ParseSegmentArg(const std::string& arg, Options* o, bool is_end) {
  std::string name = arg;
  const size_t slash = arg.rfind('/');
  if (slash != std::string::npos) {
    if (!is_end) o->dir = arg.substr(0, slash);
    name = arg.substr(slash + 1);
  }
  absl::StatusOr<Lsn> seg = WalSegmentStart(name);
  if (!seg.ok()) return false;
  o->end = seg->Plus(kWalSegmentSize);
  if (!is_end) {
    o->start = *seg;
    o->timeline = static_cast<uint32_t>(std::stoul(name.substr(0, 8), nullptr, 16));
  }
  return true;
}

// Returns 0 on success, otherwise the exit status to use.
int ParseArgs(int argc, char** argv, Options* o) {
  std::vector<std::string> positional;
  bool start_given = false, end_given = false;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    auto value = [&](const char* what) -> const char* {
      if (i + 1 >= argc) return nullptr;
      (void)what;
      return argv[++i];
    };
    if (a == "--stats") {
      o->stats = true;
    } else if (a == "-p" || a == "-s" || a == "-e" || a == "-n" || a == "-t") {
      const char* v = value(a.c_str());
      if (v == nullptr) return Usage(("missing value for " + a).c_str());
      if (a == "-p") {
        o->dir = v;
      } else if (a == "-n") {
        o->limit = std::strtoull(v, nullptr, 10);
      } else if (a == "-t") {
        o->timeline = static_cast<uint32_t>(std::strtoul(v, nullptr, 10));
      } else {
        absl::StatusOr<Lsn> lsn = Lsn::Parse(v);
        if (!lsn.ok()) return Usage(("invalid LSN " + std::string(v)).c_str());
        (a == "-s" ? o->start : o->end) = *lsn;
        (a == "-s" ? start_given : end_given) = true;
      }
    } else if (a == "-h" || a == "--help") {
      Usage("prints Postgres 15 WAL records");
      return 2;
    } else if (!a.empty() && a[0] == '-') {
      return Usage(("unknown option " + a).c_str());
    } else {
      positional.push_back(a);
    }
  }
  if (positional.size() > 2) return Usage("too many arguments");
  if (!positional.empty()) {
    const Lsn explicit_start = o->start, explicit_end = o->end;
    if (!ParseSegmentArg(positional[0], o, false)) return Usage("invalid WAL segment name");
    if (start_given) o->start = explicit_start;
    if (end_given) o->end = explicit_end;
  } else if (!start_given) {
    return Usage("no start segment or -s LSN given");
  }
  if (positional.size() == 2 && !ParseSegmentArg(positional[1], o, true)) {
    return Usage("invalid end WAL segment name");
  }
  return 0;
}

void PrintStats(const std::map<int, RmgrStats>& by_rmgr, Lsn first, Lsn last_end) {
  RmgrStats total;
  for (const auto& [id, s] : by_rmgr) {
    total.count += s.count;
    total.rec_len += s.rec_len;
    total.fpi_len += s.fpi_len;
  }
  const uint64_t total_len = total.rec_len + total.fpi_len;
  auto pct = [](uint64_t n, uint64_t of) { return of == 0 ? 0.0 : 100.0 * n / of; };
  std::printf("WAL statistics between %X/%X and %X/%X:\n", static_cast<uint32_t>(first.value() >> 32),
              static_cast<uint32_t>(first.value()), static_cast<uint32_t>(last_end.value() >> 32),
              static_cast<uint32_t>(last_end.value()));
  std::printf("%-27s %20s %8s %20s %8s %20s %8s %20s %8s\n", "Type", "N", "(%)", "Record size",
              "(%)", "FPI size", "(%)", "Combined size", "(%)");
  std::printf("%-27s %20s %8s %20s %8s %20s %8s %20s %8s\n", "----", "-", "---", "-----------",
              "---", "--------", "---", "-------------", "---");
  for (int id = 0; id < 256; id++) {
    auto it = by_rmgr.find(id);
    RmgrStats s = it == by_rmgr.end() ? RmgrStats{} : it->second;
    if (id > 21 && s.count == 0) continue;  // custom rmgrs only when seen
    const uint64_t comb = s.rec_len + s.fpi_len;
    std::printf("%-27s %20" PRIu64 " (%6.02f) %20" PRIu64 " (%6.02f) %20" PRIu64
                " (%6.02f) %20" PRIu64 " (%6.02f)\n",
                WalRmgrName(static_cast<uint8_t>(id)).c_str(), s.count, pct(s.count, total.count),
                s.rec_len, pct(s.rec_len, total.rec_len), s.fpi_len,
                pct(s.fpi_len, total.fpi_len), comb, pct(comb, total_len));
  }
  std::printf("%-27s %20s %8s %20s %8s %20s %8s %20s\n", "", "--------", "", "--------", "",
              "--------", "", "--------");
  char rec_pct[32], fpi_pct[32];
  std::snprintf(rec_pct, sizeof(rec_pct), "[%.02f%%]", pct(total.rec_len, total_len));
  std::snprintf(fpi_pct, sizeof(fpi_pct), "[%.02f%%]", pct(total.fpi_len, total_len));
  std::printf("%-27s %20" PRIu64 " %-9s%20" PRIu64 " %-9s%20" PRIu64 " %-9s%20" PRIu64 " %-6s\n",
              "Total", total.count, "", total.rec_len, rec_pct, total.fpi_len, fpi_pct, total_len,
              "[100%]");
}

int Run(const Options& o) {
  // Start at the page holding the start LSN; records before it are skipped.
  const Lsn page_start(o.start.value() - o.start.value() % kWalBlockSize);
  WalSegmentReader reader(NewPosixFileSystem(), o.dir, page_start, o.timeline);
  std::map<int, RmgrStats> by_rmgr;
  Lsn first, last_end;
  uint64_t n = 0;
  while (n < o.limit) {
    absl::StatusOr<std::optional<WalRecord>> r = reader.Next();
    if (!r.ok()) {
      if (o.stats) PrintStats(by_rmgr, first, last_end);
      std::fprintf(stderr, "neon_waldump: error: %s\n", r.status().ToString().c_str());
      return 1;
    }
    if (!r->has_value()) break;
    const WalRecord& rec = **r;
    if (rec.lsn < o.start) continue;
    if (rec.end_lsn > o.end) break;  // needs bytes past the end
    if (!first.valid()) first = rec.lsn;
    last_end = rec.end_lsn;
    n++;
    if (o.stats) {
      RmgrStats& s = by_rmgr[rec.rmid];
      s.count++;
      s.fpi_len += rec.fpi_len();
      s.rec_len += rec.tot_len - rec.fpi_len();
    } else {
      std::printf("%s\n", WalRecordLine(rec).c_str());
    }
  }
  if (o.stats) PrintStats(by_rmgr, first, last_end);
  std::fprintf(stderr, "neon_waldump: %" PRIu64 " records; end of WAL at %s\n", n,
               reader.decoder().position().ToString().c_str());
  return 0;
}

}  // namespace
}  // namespace neon

int main(int argc, char** argv) {
  neon::Options o;
  if (int rc = neon::ParseArgs(argc, argv, &o); rc != 0) return rc;
  return neon::Run(o);
}
