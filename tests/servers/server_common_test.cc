// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// servers/common: config (TOML + flags), metrics rendering, log lines.

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/http_server.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/tar_extract.h"

namespace neon::server {
namespace {

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/neon_config_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    opts_.AddString("listen-addr", "127.0.0.1:1", "where");
    opts_.AddInt("max-things", 5, "how many");
    opts_.AddBool("verbose", false, "chatty");
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }

  std::string WriteFile(const std::string& text) {
    const std::string path = dir_ + "/config.toml";
    std::ofstream(path) << text;
    return path;
  }
  absl::StatusOr<OptionSet::Outcome> Parse(std::vector<std::string> args) {
    args.insert(args.begin(), "prog");
    std::vector<const char*> argv;
    for (const auto& a : args) argv.push_back(a.c_str());
    return opts_.Parse(static_cast<int>(argv.size()), argv.data());
  }

  std::string dir_;
  OptionSet opts_{"prog", "A test program."};
};

TEST_F(ConfigTest, DefaultsFlagsAndFile) {
  ASSERT_TRUE(Parse({}).ok());
  EXPECT_EQ(opts_.GetString("listen-addr"), "127.0.0.1:1");
  EXPECT_EQ(opts_.GetInt("max-things"), 5);
  EXPECT_FALSE(opts_.GetBool("verbose"));

  const std::string path =
      WriteFile("listen_addr = \"0.0.0.0:9\"\nmax_things = 7\nverbose = true\n");
  ASSERT_TRUE(Parse({"--config", path, "--max-things=11"}).ok());
  EXPECT_EQ(opts_.GetString("listen-addr"), "0.0.0.0:9");  // from the file
  EXPECT_EQ(opts_.GetInt("max-things"), 11);               // the flag wins
  EXPECT_TRUE(opts_.GetBool("verbose"));
  ASSERT_TRUE(Parse({"--verbose=false", "--listen-addr", "h:2", "--config=" + path}).ok());
  EXPECT_FALSE(opts_.GetBool("verbose"));
  EXPECT_EQ(opts_.GetString("listen-addr"), "h:2");
}

TEST_F(ConfigTest, HelpListsEveryOption) {
  auto r = Parse({"--max-things=1", "--help"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, OptionSet::Outcome::kHelp);
  const std::string help = opts_.Help();
  for (const char* s : {"--config", "--help", "--listen-addr", "--max-things", "--verbose",
                        "A test program.", "default: 5"}) {
    EXPECT_NE(help.find(s), std::string::npos) << s;
  }
}

TEST_F(ConfigTest, BadInputIsAClearError) {
  struct Case {
    std::vector<std::string> args;
    std::string file;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {{"--nope"}, "", "unknown option '--nope'"},
      {{"positional"}, "", "unexpected argument"},
      {{"--max-things=abc"}, "", "not an integer"},
      {{"--max-things"}, "", "needs a value"},
      {{"--verbose=maybe"}, "", "not true or false"},
      {{"--config"}, "", "--config needs a file name"},
      {{"--config=/nonexistent/x.toml"}, "", "/nonexistent/x.toml"},
      {{}, "listen_addr = \"unterminated\n", "config.toml"},
      {{}, "bogus_key = 1\n", "unknown key 'bogus_key'"},
      {{}, "max_things = \"seven\"\n", "must be a integer"},
      {{}, "verbose = 1\n", "must be a boolean"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = c.args;
    if (!c.file.empty()) args.push_back("--config=" + WriteFile(c.file));
    auto r = Parse(args);
    ASSERT_FALSE(r.ok()) << c.expect;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(c.expect), absl::string_view::npos) << r.status();
  }
}

TEST(MetricsTest, RendersPrometheusText) {
  MetricsRegistry m;
  Counter* c = m.AddCounter("things_total", "Things seen");
  Gauge* g1 = m.AddGauge("queue_depth", "Depth", "queue=\"a\"");
  Gauge* g2 = m.AddGauge("queue_depth", "Depth", "queue=\"b\"");
  Histogram* h = m.AddHistogram("latency_seconds", "Latency", {0.1, 1});
  EXPECT_EQ(m.AddCounter("things_total", "Things seen"), c);
  c->Increment(3);
  g1->Set(7);
  g2->Add(-2);
  h->Observe(0.05);
  h->Observe(0.5);
  h->Observe(5);
  const std::string text = m.Render();
  const std::string expected =
      "# HELP things_total Things seen\n"
      "# TYPE things_total counter\n"
      "things_total 3\n"
      "# HELP queue_depth Depth\n"
      "# TYPE queue_depth gauge\n"
      "queue_depth{queue=\"a\"} 7\n"
      "queue_depth{queue=\"b\"} -2\n"
      "# HELP latency_seconds Latency\n"
      "# TYPE latency_seconds histogram\n"
      "latency_seconds_bucket{le=\"0.1\"} 1\n"
      "latency_seconds_bucket{le=\"1\"} 2\n"
      "latency_seconds_bucket{le=\"+Inf\"} 3\n"
      "latency_seconds_sum 5.55\n"
      "latency_seconds_count 3\n";
  EXPECT_EQ(text, expected);
}

TEST(LogTest, OneLineKeyValue) {
  const std::string line = FormatLogLine(LogLevel::kWarn, "thing_happened",
                                         {{"n", 5}, {"who", "a b"}, {"q", "x\"y"}, {"ok", true}});
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_EQ(line.rfind("ts=", 0), 0u);
  EXPECT_NE(line.find(" level=warn event=thing_happened n=5 who=\"a b\" q=\"x\\\"y\" ok=true"),
            std::string::npos)
      << line;
}

TEST(HostPortTest, Parses) {
  std::string host;
  int port = -1;
  ASSERT_TRUE(ParseHostPort("127.0.0.1:50051", &host, &port).ok());
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 50051);
  for (const char* bad : {"", "nohost", ":80", "h:", "h:x", "h:70000", "h:-1"}) {
    EXPECT_FALSE(ParseHostPort(bad, &host, &port).ok()) << bad;
  }
}

// A ustar entry: header and data padded to 512 bytes.
std::string TarEntry(const std::string& name, const std::string& data, char type = '0') {
  std::string h(512, '\0');
  h.replace(0, name.size(), name);
  std::snprintf(&h[100], 8, "%07o", 0600);
  std::snprintf(&h[108], 8, "%07o", 0);
  std::snprintf(&h[116], 8, "%07o", 0);
  std::snprintf(&h[124], 12, "%011lo", static_cast<unsigned long>(data.size()));
  std::snprintf(&h[136], 12, "%011o", 0);
  h[156] = type;
  h.replace(257, 6, std::string("ustar\0", 6));
  h.replace(263, 2, "00");
  h.replace(148, 8, "        ");
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  std::snprintf(&h[148], 8, "%06o", sum);
  std::string padded = data;
  padded.resize((data.size() + 511) / 512 * 512, '\0');
  return h + padded;
}

std::string ReadFileText(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// Postgres's BASE_BACKUP streams archives without tar's two zero blocks: an archive ending
// at an entry boundary is complete; one cut inside a header or data is not.
TEST(TarExtractTest, AcceptsAnArchiveWithoutTheZeroTrailer) {
  const std::string body =
      TarEntry("global", "", '5') + TarEntry("global/pg_control", std::string(700, 'c')) +
      TarEntry("backup_label", "START WAL LOCATION: 0/2000028\n");
  for (const std::string& tar : {body, body + std::string(1024, '\0')}) {
    char tmpl[] = "/tmp/neon-tar-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    TarStats stats;
    absl::Status s = ExtractTar(tar, tmpl, &stats);
    EXPECT_TRUE(s.ok()) << s;
    EXPECT_EQ(stats.files, 2u);
    EXPECT_EQ(stats.directories, 1u);
    EXPECT_EQ(ReadFileText(std::string(tmpl) + "/global/pg_control"), std::string(700, 'c'));
    EXPECT_EQ(ReadFileText(std::string(tmpl) + "/backup_label"), "START WAL LOCATION: 0/2000028\n");
    (void)std::system((std::string("rm -rf ") + tmpl).c_str());
  }
  // Cut inside the last entry's data, and twice inside its header.
  for (size_t cut : {body.size() - 100, body.size() - 512 - 100, body.size() - 512 - 10}) {
    char tmpl[] = "/tmp/neon-tar-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    TarStats stats;
    absl::Status s = ExtractTar(body.substr(0, cut), tmpl, &stats);
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << cut << ": " << s;
    EXPECT_NE(s.message().find("truncated"), std::string::npos) << s;
    (void)std::system((std::string("rm -rf ") + tmpl).c_str());
  }
  char tmpl[] = "/tmp/neon-tar-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  TarStats stats;
  absl::Status s = ExtractTar(body + TarEntry("././@LongLink", "pg_wal/x", 'L'), tmpl, &stats);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  (void)std::system((std::string("rm -rf ") + tmpl).c_str());
}

}  // namespace
}  // namespace neon::server
