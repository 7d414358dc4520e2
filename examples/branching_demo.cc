// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// branching_demo: the page store through its public API only.
//   1. opens an engine in a work directory and creates a tenant;
//   2. writes several versions of the pages of a relation on `main`;
//   3. branches `dev` off `main` at an earlier LSN in O(1);
//   4. diverges both timelines;
//   5. prints what each timeline reads at several LSNs, before and after the
//      data is flushed to layer files and compacted, and after a reopen.
//
// Usage: branching_demo <work-directory>

#include <algorithm>
#include <cstdio>
#include <string>

#include "neon/engine.h"

using neon::Lsn;

namespace {

constexpr neon::RelTag kAccounts{1663, 5, 16384, 0};

std::string Page(const std::string& text) {
  std::string p(neon::kPageSize, '\0');
  p.replace(0, text.size(), text);
  return p;
}

std::string Show(neon::Timeline& tl, uint32_t blk, Lsn lsn) {
  // A read at an LSN the timeline has not reached would wait for it (that is
  // GetPage@LSN's contract); the demo reads such LSNs at the timeline's tip.
  lsn = std::min(lsn, tl.Info().last_record_lsn);
  auto page = tl.GetRelPage(kAccounts, blk, neon::ReadLsn{lsn, Lsn()});
  if (!page.ok()) return "error: " + std::string(page.status().message());
  std::string text(page->c_str());
  return text.empty() ? "(zero page)" : text;
}

void Die(const absl::Status& s, const char* what) {
  std::fprintf(stderr, "branching_demo: %s: %s\n", what, std::string(s.message()).c_str());
  std::exit(1);
}

template <typename T>
T Check(absl::StatusOr<T> v, const char* what) {
  if (!v.ok()) Die(v.status(), what);
  return *std::move(v);
}

void Check(const absl::Status& s, const char* what) {
  if (!s.ok()) Die(s, what);
}

void Table(neon::Timeline& main, neon::Timeline& dev, const std::vector<Lsn>& lsns) {
  std::printf("  %-12s %-6s %-34s %-34s\n", "LSN", "block", "main reads", "dev reads");
  for (Lsn lsn : lsns) {
    for (uint32_t blk = 0; blk < 2; blk++) {
      std::printf("  %-12s %-6u %-34s %-34s\n", lsn.ToString().c_str(), blk,
                  Show(main, blk, lsn).c_str(), Show(dev, blk, lsn).c_str());
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <work-directory>\n", argv[0]);
    return 2;
  }
  std::string dir = argv[1];
  neon::EngineOptions options;
  auto engine = Check(neon::Engine::Open(options, dir), "open engine");
  auto tenant_id = neon::TenantShardId::Unsharded(neon::TenantId::Generate());
  auto tenant = Check(engine->CreateTenant(tenant_id, neon::TenantConfig{}), "create tenant");
  auto main_id = neon::TimelineId::Generate();
  auto main = Check(tenant->CreateTimeline(main_id, 15), "create timeline");
  std::printf("engine at %s\n  tenant   %s\n  main     %s\n", dir.c_str(),
              tenant_id.ToString().c_str(), main_id.ToString().c_str());

  // main: three versions of block 0, one of block 1.
  Check(main->PutRelSize(kAccounts, 0, Lsn(0x1000)), "create relation");
  Check(main->FinishWrite(Lsn(0x1000)), "finish");
  const char* versions[] = {"alice=100", "alice=90", "alice=75"};
  for (int i = 0; i < 3; i++) {
    Lsn lsn(0x2000 + 0x1000 * i);
    Check(main->PutRelBlock(kAccounts, 0, lsn, neon::Value::Image(Page(versions[i]))), "put");
    if (i == 1) Check(main->PutRelBlock(kAccounts, 1, lsn, neon::Value::Image(Page("bob=5"))), "put");
    Check(main->FinishWrite(lsn), "finish");
  }
  std::printf("wrote 3 versions of block 0 at 0/2000, 0/3000, 0/4000 and block 1 at 0/3000\n");

  // dev: a branch of main as of 0/3000, then diverging.
  auto dev_id = neon::TimelineId::Generate();
  auto dev = Check(tenant->CreateBranch(dev_id, main_id, Lsn(0x3000)), "branch");
  std::printf("branched dev %s off main at 0/3000\n", dev_id.ToString().c_str());
  Check(dev->PutRelBlock(kAccounts, 0, Lsn(0x5000), neon::Value::Image(Page("alice=1000 (dev)"))), "put");
  Check(dev->FinishWrite(Lsn(0x5000)), "finish");
  Check(main->PutRelBlock(kAccounts, 1, Lsn(0x6000), neon::Value::Image(Page("bob=6"))), "put");
  Check(main->FinishWrite(Lsn(0x6000)), "finish");

  std::vector<Lsn> lsns = {Lsn(0x2000), Lsn(0x3000), Lsn(0x4000), Lsn(0x6000)};
  std::printf("\nreads from the in-memory layers:\n");
  Table(*main, *dev, lsns);

  for (auto* tl : {main.get(), dev.get()}) {
    auto f = Check(tl->Flush(), "flush");
    auto c = Check(tl->Compact(true), "compact");
    std::printf("%s: flushed %llu layer(s), compaction created %llu, removed %llu\n",
                tl == main.get() ? "main" : "dev", (unsigned long long)f.layers_created,
                (unsigned long long)c.layers_created, (unsigned long long)c.layers_removed);
  }
  std::printf("\nreads from layer files on disk:\n");
  Table(*main, *dev, lsns);

  main.reset();
  dev.reset();
  tenant.reset();
  engine.reset();
  engine = Check(neon::Engine::Open(options, dir), "reopen engine");
  tenant = Check(engine->GetTenant(tenant_id), "get tenant");
  main = Check(tenant->GetTimeline(main_id), "get main");
  dev = Check(tenant->GetTimeline(dev_id), "get dev");
  std::printf("\nafter reopening %s:\n", dir.c_str());
  Table(*main, *dev, lsns);
  for (const auto& info : tenant->ListTimelines()) {
    std::printf("timeline %s: last_record_lsn %s, disk_consistent_lsn %s, %llu layer file(s), %llu bytes%s\n",
                info.timeline_id.ToString().c_str(), info.last_record_lsn.ToString().c_str(),
                info.disk_consistent_lsn.ToString().c_str(),
                (unsigned long long)info.num_historic_layers,
                (unsigned long long)info.historic_layer_bytes,
                info.ancestor_timeline_id ? (", branch of " + info.ancestor_timeline_id->ToString() +
                                             " at " + info.ancestor_lsn.ToString()).c_str()
                                          : "");
  }
  return 0;
}
