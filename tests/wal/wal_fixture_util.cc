// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "wal/wal_fixture.h"

#include <cstdlib>
#include <map>
#include <memory>

#include "base/str_cat.h"
#include "neon/wal.h"

namespace neon::testing {
namespace {

std::unique_ptr<PgCluster>* g_cluster = nullptr;
std::string* g_error = nullptr;
std::map<std::string, std::string>* g_waldump = nullptr;

}  // namespace

void WalFixture::SetUpTestSuite() {
  if (g_cluster != nullptr) return;
  g_cluster = new std::unique_ptr<PgCluster>();
  // Shared by every suite of the process; stopped and removed when the process ends.
  std::atexit([] { g_cluster->reset(); });
  g_error = new std::string();
  g_waldump = new std::map<std::string, std::string>();
  if (!PgAvailable()) {
    *g_error = StrCat("no PostgreSQL 15 at ", PgBinDir(), " (scripts/install-deps.sh installs it)");
    return;
  }
  absl::StatusOr<std::unique_ptr<PgCluster>> c = PgCluster::Start(
      {"wal_level = replica", "max_prepared_transactions = 10", "wal_keep_size = '1GB'",
       "wal_compression = pglz", "full_page_writes = on", "autovacuum = off"});
  if (!c.ok()) {
    *g_error = c.status().ToString();
    return;
  }
  absl::Status s = (*c)->SqlFile(NEON_WAL_WORKLOAD);
  if (s.ok()) s = (*c)->Stop("fast");
  if (!s.ok()) *g_error = s.ToString();
  *g_cluster = std::move(*c);
}

void WalFixture::TearDownTestSuite() {}

void WalFixture::SetUp() { ASSERT_TRUE(g_error->empty()) << *g_error; }

std::string WalFixture::wal_dir() { return (*g_cluster)->wal_dir(); }
std::string WalFixture::data_dir() { return (*g_cluster)->data_dir(); }

std::string WalFixture::WaldumpRange() {
  return StrCat("-p ", wal_dir(), " -s ", first_segment_start().ToString());
}

std::string WalFixture::PgWaldump(const std::string& args) {
  auto it = g_waldump->find(args);
  if (it != g_waldump->end()) return it->second;
  absl::StatusOr<std::string> out = RunCommand(StrCat("{ ", PgBinDir(), "/pg_waldump ", args,
                                                      " ", WaldumpRange(), "; true; }"));
  std::string text = out.ok() ? *out : out.status().ToString();
  (*g_waldump)[args] = text;
  return text;
}

}  // namespace neon::testing
