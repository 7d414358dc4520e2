// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// The storage_broker binary on loopback, driven over gRPC and HTTP.

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <thread>

#include "servers/broker_process.h"
#include "servers/jwt_util.h"
#include "storage_broker.grpc.pb.h"

namespace neon::testing {
namespace {

using storage_broker::BrokerService;
using storage_broker::SafekeeperTimelineInfo;
using storage_broker::SubscribeSafekeeperInfoRequest;

constexpr auto kCallTimeout = std::chrono::seconds(30);

std::string Id(char c) { return std::string(16, c); }

SafekeeperTimelineInfo MakeInfo(uint64_t sk, char timeline, uint64_t commit, size_t pad = 0) {
  SafekeeperTimelineInfo i;
  i.set_safekeeper_id(sk);
  i.mutable_tenant_timeline_id()->set_tenant_id(Id('T'));
  i.mutable_tenant_timeline_id()->set_timeline_id(Id(timeline));
  i.set_term(3);
  i.set_commit_lsn(commit);
  i.set_flush_lsn(commit + 1);
  i.set_safekeeper_connstr("127.0.0.1:5454" + std::string(pad, 'x'));
  i.set_http_connstr("127.0.0.1:7676");
  i.set_availability_zone("az-1");
  return i;
}

std::string KeyOf(const SafekeeperTimelineInfo& i) {
  return std::to_string(i.safekeeper_id()) + "/" +
         i.tenant_timeline_id().timeline_id().substr(0, 1);
}

class BrokerTest : public ::testing::Test {
 protected:
  void StartBroker(const std::vector<std::string>& args = {}) {
    std::string error;
    broker_ = BrokerProcess::Start(args, &error);
    ASSERT_NE(broker_, nullptr) << error;
    stub_ = BrokerService::NewStub(
        grpc::CreateChannel(broker_->grpc_target(), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    if (broker_ && HasFailure()) std::cerr << "broker log:\n" << broker_->Log();
  }

  struct Subscription {
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReader<SafekeeperTimelineInfo>> reader;
  };
  std::unique_ptr<Subscription> Subscribe(char timeline, const std::string& token = "") {
    auto s = std::make_unique<Subscription>();
    s->ctx.set_deadline(std::chrono::system_clock::now() + kCallTimeout);
    if (!token.empty()) s->ctx.AddMetadata("authorization", "Bearer " + token);
    SubscribeSafekeeperInfoRequest req;
    if (timeline == 0) {
      req.mutable_all();
    } else {
      req.mutable_tenant_timeline_id()->set_tenant_id(Id('T'));
      req.mutable_tenant_timeline_id()->set_timeline_id(Id(timeline));
    }
    s->reader = stub_->SubscribeSafekeeperInfo(&s->ctx, req);
    return s;
  }
  grpc::Status Publish(const std::vector<SafekeeperTimelineInfo>& infos,
                       const std::string& token = "") {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + kCallTimeout);
    if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
    google::protobuf::Empty resp;
    auto writer = stub_->PublishSafekeeperInfo(&ctx, &resp);
    for (const auto& i : infos) {
      if (!writer->Write(i)) break;
    }
    writer->WritesDone();
    return writer->Finish();
  }
  // Waits until /v1/status reports `n` subscribers (a subscription is registered
  // asynchronously after the call starts).
  void WaitForSubscribers(int n) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    std::string body;
    while (std::chrono::steady_clock::now() < deadline) {
      if (HttpGet(broker_->http_port(), "/v1/status", &body) == 200 &&
          body.find("\"subscribers\":" + std::to_string(n)) != std::string::npos) {
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    FAIL() << "subscribers never reached " << n << ": " << body;
  }
  // Reads until every key in `want` has reached its value (commit_lsn); checks that no key's
  // value goes backwards. Returns the messages read.
  std::vector<SafekeeperTimelineInfo> ReadUntil(Subscription* s,
                                                const std::map<std::string, uint64_t>& want) {
    std::map<std::string, uint64_t> seen;
    std::vector<SafekeeperTimelineInfo> got;
    SafekeeperTimelineInfo info;
    while (seen != want && s->reader->Read(&info)) {
      const std::string key = KeyOf(info);
      EXPECT_GE(info.commit_lsn(), seen[key]) << key;
      seen[key] = info.commit_lsn();
      got.push_back(info);
      if (want.count(key) == 0) break;  // unexpected key: stop, the caller checks
    }
    EXPECT_EQ(seen, want);
    return got;
  }

  std::unique_ptr<BrokerProcess> broker_;
  std::unique_ptr<BrokerService::Stub> stub_;
};

TEST_F(BrokerTest, PublishReachesAllAndFilteredSubscribers) {
  StartBroker();
  auto all = Subscribe(0);
  auto only_a = Subscribe('a');
  WaitForSubscribers(2);
  ASSERT_TRUE(Publish({MakeInfo(1, 'a', 100), MakeInfo(2, 'a', 200), MakeInfo(1, 'b', 300),
                       MakeInfo(1, 'a', 150)})
                  .ok());
  auto got_all = ReadUntil(all.get(), {{"1/a", 150}, {"2/a", 200}, {"1/b", 300}});
  auto got_a = ReadUntil(only_a.get(), {{"1/a", 150}, {"2/a", 200}});
  for (const auto& i : got_a) EXPECT_EQ(i.tenant_timeline_id().timeline_id(), Id('a'));
  // Fields arrive intact.
  ASSERT_FALSE(got_all.empty());
  EXPECT_EQ(got_all.back().availability_zone(), "az-1");
  EXPECT_EQ(got_all.back().http_connstr(), "127.0.0.1:7676");
  EXPECT_EQ(got_all.back().term(), 3u);

  // A later update of timeline b and then of a: the filtered subscriber gets only a's.
  ASSERT_TRUE(Publish({MakeInfo(3, 'b', 1), MakeInfo(3, 'a', 2)}).ok());
  SafekeeperTimelineInfo next;
  ASSERT_TRUE(only_a->reader->Read(&next));
  EXPECT_EQ(KeyOf(next), "3/a");
  ReadUntil(all.get(), {{"3/b", 1}, {"3/a", 2}});
}

TEST_F(BrokerTest, SlowSubscriberDoesNotBlockPublisher) {
  StartBroker();
  auto slow = Subscribe(0);  // never reads until the end
  auto fast = Subscribe('a');
  WaitForSubscribers(2);
  std::map<std::string, uint64_t> final_all, final_a;
  std::thread fast_reader;
  std::vector<SafekeeperTimelineInfo> fast_got;
  // 6000 updates of 4 KiB (24 MiB, far beyond gRPC's and the kernel's buffers) over 30 keys.
  constexpr int kUpdates = 6000, kKeys = 30;
  std::vector<SafekeeperTimelineInfo> infos;
  for (int n = 1; n <= kUpdates; ++n) {
    const int k = n % kKeys;
    infos.push_back(MakeInfo(k / 2 + 1, k % 2 ? 'a' : 'b', n, 4096));
    final_all[KeyOf(infos.back())] = n;
    if (k % 2) final_a[KeyOf(infos.back())] = n;
  }
  fast_reader = std::thread([&] { fast_got = ReadUntil(fast.get(), final_a); });
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(Publish(infos).ok());
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(secs, 20.0);
  fast_reader.join();

  std::string metrics;
  ASSERT_EQ(HttpGet(broker_->http_port(), "/metrics", &metrics), 200);
  EXPECT_NE(metrics.find("storage_broker_published_messages_total " + std::to_string(kUpdates)),
            std::string::npos);
  EXPECT_EQ(metrics.find("storage_broker_broadcast_drops_total 0\n"), std::string::npos)
      << "the slow subscriber should have lost updates";

  // The slow subscriber still ends with the newest value of every key, having lost old ones.
  auto slow_got = ReadUntil(slow.get(), final_all);
  EXPECT_LT(slow_got.size(), static_cast<size_t>(kUpdates));
}

TEST_F(BrokerTest, MetricsAndHealth) {
  StartBroker();
  std::string body;
  ASSERT_EQ(HttpGet(broker_->http_port(), "/v1/status", &body), 200);
  EXPECT_NE(body.find("\"status\":\"ok\""), std::string::npos) << body;
  ASSERT_TRUE(Publish({MakeInfo(1, 'a', 1)}).ok());
  ASSERT_EQ(HttpGet(broker_->http_port(), "/metrics", &body), 200);
  for (const char* s :
       {"# TYPE storage_broker_published_messages_total counter",
        "storage_broker_published_messages_total 1",
        "# TYPE storage_broker_active_subscribers gauge",
        "# TYPE storage_broker_publish_seconds histogram",
        "storage_broker_publish_seconds_bucket{le=\"+Inf\"} 1", "http_requests_total"}) {
    EXPECT_NE(body.find(s), std::string::npos) << s << "\n" << body;
  }
  EXPECT_EQ(HttpGet(broker_->http_port(), "/nope", &body), 404);
}

TEST_F(BrokerTest, BadRequestsAreRefused) {
  StartBroker();
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + kCallTimeout);
  SubscribeSafekeeperInfoRequest req;  // no subscription key
  auto reader = stub_->SubscribeSafekeeperInfo(&ctx, req);
  SafekeeperTimelineInfo info;
  EXPECT_FALSE(reader->Read(&info));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  SafekeeperTimelineInfo bad = MakeInfo(1, 'a', 1);
  bad.mutable_tenant_timeline_id()->set_timeline_id("short");
  EXPECT_EQ(Publish({bad}).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(BrokerTest, GracefulShutdownEndsStreams) {
  StartBroker();
  auto sub = Subscribe(0);
  WaitForSubscribers(1);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(broker_->Stop(), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  SafekeeperTimelineInfo info;
  EXPECT_FALSE(sub->reader->Read(&info));
  EXPECT_FALSE(sub->reader->Finish().ok());
  EXPECT_NE(broker_->Log().find("event=stopped"), std::string::npos);
}

TEST_F(BrokerTest, AuthWithPublicKey) {
  Ed25519Key key;
  TempDir dir;
  StartBroker({"--public-key=" + dir.WriteFile("key.pem", key.PublicPem())});
  EXPECT_EQ(Publish({MakeInfo(1, 'a', 1)}).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  Ed25519Key other;
  EXPECT_EQ(
      Publish({MakeInfo(1, 'a', 1)}, other.Sign(R"({"scope":"safekeeperdata"})")).error_code(),
      grpc::StatusCode::UNAUTHENTICATED);
  const std::string tenant_token =
      key.Sign(R"({"scope":"tenant","tenant_id":"7c4a1f9e3bd6470c8f3e21a65bd2e980"})");
  EXPECT_EQ(Publish({MakeInfo(1, 'a', 1)}, tenant_token).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);

  const std::string token = key.Sign(R"({"scope":"safekeeperdata"})");
  auto sub = Subscribe(0, token);
  WaitForSubscribers(1);
  EXPECT_TRUE(Publish({MakeInfo(1, 'a', 7)}, token).ok());
  ReadUntil(sub.get(), {{"1/a", 7}});
  EXPECT_NE(broker_->Log().find("event=auth_enabled"), std::string::npos);
}

TEST(BrokerFlagsTest, BadFlagsAndConfigExitNonZero) {
  TempDir dir;
  struct Case {
    std::vector<std::string> args;
    int rc;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {{"--bogus"}, 2, "unknown option '--bogus'"},
      {{"--listen-addr=nonsense"}, 2, "--listen-addr"},
      {{"--http-listen-addr=127.0.0.1:99999"}, 2, "bad port"},
      {{"--max-pending-updates=0"}, 2, "--max-pending-updates"},
      {{"--log-level=loud"}, 2, "--log-level"},
      {{"--config=" + dir.WriteFile("bad.toml", "listen_addr = [\n")}, 2, "bad.toml"},
      {{"--config=" + dir.WriteFile("unknown.toml", "colour = \"red\"\n")},
       2,
       "unknown key 'colour'"},
      {{"--config=" + dir.WriteFile("type.toml", "max_pending_updates = \"many\"\n")},
       2,
       "must be a integer"},
      {{"--config=" + dir.path() + "/missing.toml"}, 2, "missing.toml"},
      {{"--public-key=" + dir.path() + "/missing.pem"}, 1, "missing.pem"},
      {{"--public-key=" + dir.WriteFile("notakey.pem", "hello")}, 1, "not a PEM public key"},
  };
  for (const Case& c : cases) {
    std::string out;
    EXPECT_EQ(RunBrokerToExit(c.args, &out), c.rc) << c.expect << ": " << out;
    EXPECT_NE(out.find(c.expect), std::string::npos) << out;
  }
  std::string help;
  EXPECT_EQ(RunBrokerToExit({"--help"}, &help), 0);
  for (const char* opt : {"--config", "--listen-addr", "--http-listen-addr", "--public-key",
                          "--max-pending-updates", "--log-level"}) {
    EXPECT_NE(help.find(opt), std::string::npos) << opt;
  }
}

TEST(BrokerFlagsTest, ConfigFileAndPortInUse) {
  TempDir dir;
  const std::string config = dir.WriteFile(
      "broker.toml",
      "listen_addr = \"127.0.0.1:1\"\nlog_level = \"debug\"\nmax_pending_updates = 8\n");
  std::string error;
  // The file's listen address is overridden by the command line (port 0).
  auto broker = BrokerProcess::Start({"--config=" + config, "--listen-addr=127.0.0.1:0"}, &error);
  ASSERT_NE(broker, nullptr) << error;
  // log_level = "debug" from the file: HTTP requests are logged.
  std::string body;
  ASSERT_EQ(HttpGet(broker->http_port(), "/v1/status", &body), 200);
  for (int i = 0; i < 100 && broker->Log().find("event=http_request") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_NE(broker->Log().find("event=http_request"), std::string::npos) << broker->Log();
  std::string out;
  EXPECT_EQ(RunBrokerToExit({"--listen-addr=127.0.0.1:" + std::to_string(broker->grpc_port()),
                             "--http-listen-addr=127.0.0.1:0"},
                            &out),
            1)
      << out;
  EXPECT_NE(out.find("cannot listen for gRPC"), std::string::npos) << out;
  EXPECT_EQ(RunBrokerToExit({"--listen-addr=127.0.0.1:0",
                             "--http-listen-addr=127.0.0.1:" + std::to_string(broker->http_port())},
                            &out),
            1)
      << out;
  EXPECT_NE(out.find("cannot listen for HTTP"), std::string::npos) << out;
  EXPECT_EQ(broker->Stop(), 0);
}

TEST_F(BrokerTest, SubscribeByFilterDeliversTypedMessages) {
  StartBroker();
  // A pageserver's view: discovery responses and infos for timeline 'a' only.
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + kCallTimeout);
  storage_broker::SubscribeByFilterRequest req;
  req.add_types()->set_type(storage_broker::SAFEKEEPER_TIMELINE_INFO);
  req.add_types()->set_type(storage_broker::SAFEKEEPER_DISCOVERY_RESPONSE);
  req.mutable_tenant_timeline_id()->set_enabled(true);
  req.mutable_tenant_timeline_id()->mutable_tenant_timeline_id()->set_tenant_id(Id('T'));
  req.mutable_tenant_timeline_id()->mutable_tenant_timeline_id()->set_timeline_id(Id('a'));
  auto reader = stub_->SubscribeByFilter(&ctx, req);
  WaitForSubscribers(1);

  auto publish_one = [&](const storage_broker::TypedMessage& m) {
    grpc::ClientContext c;
    c.set_deadline(std::chrono::system_clock::now() + kCallTimeout);
    google::protobuf::Empty e;
    return stub_->PublishOne(&c, m, &e);
  };
  storage_broker::TypedMessage request;  // not subscribed to: not delivered
  request.set_type(storage_broker::SAFEKEEPER_DISCOVERY_REQUEST);
  request.mutable_safekeeper_discovery_request()->mutable_tenant_timeline_id()->set_tenant_id(
      Id('T'));
  request.mutable_safekeeper_discovery_request()->mutable_tenant_timeline_id()->set_timeline_id(
      Id('a'));
  ASSERT_TRUE(publish_one(request).ok());
  storage_broker::TypedMessage other;  // another timeline: not delivered
  other.set_type(storage_broker::SAFEKEEPER_DISCOVERY_RESPONSE);
  other.mutable_safekeeper_discovery_response()->set_safekeeper_id(9);
  *other.mutable_safekeeper_discovery_response()->mutable_tenant_timeline_id() =
      MakeInfo(9, 'b', 0).tenant_timeline_id();
  ASSERT_TRUE(publish_one(other).ok());
  storage_broker::TypedMessage response;
  response.set_type(storage_broker::SAFEKEEPER_DISCOVERY_RESPONSE);
  response.mutable_safekeeper_discovery_response()->set_safekeeper_id(7);
  response.mutable_safekeeper_discovery_response()->set_commit_lsn(4242);
  response.mutable_safekeeper_discovery_response()->set_safekeeper_connstr("127.0.0.1:5454");
  *response.mutable_safekeeper_discovery_response()->mutable_tenant_timeline_id() =
      MakeInfo(7, 'a', 0).tenant_timeline_id();
  ASSERT_TRUE(publish_one(response).ok());
  ASSERT_TRUE(Publish({MakeInfo(3, 'a', 77)}).ok());

  storage_broker::TypedMessage got;
  ASSERT_TRUE(reader->Read(&got));
  EXPECT_EQ(got.type(), storage_broker::SAFEKEEPER_DISCOVERY_RESPONSE);
  EXPECT_EQ(got.safekeeper_discovery_response().safekeeper_id(), 7u);
  EXPECT_EQ(got.safekeeper_discovery_response().commit_lsn(), 4242u);
  ASSERT_TRUE(reader->Read(&got));
  EXPECT_EQ(got.type(), storage_broker::SAFEKEEPER_TIMELINE_INFO);
  EXPECT_EQ(got.safekeeper_timeline_info().commit_lsn(), 77u);

  // Malformed: a type without its field, an unknown type in a filter.
  storage_broker::TypedMessage empty;
  empty.set_type(storage_broker::SAFEKEEPER_DISCOVERY_REQUEST);
  EXPECT_EQ(publish_one(empty).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  grpc::ClientContext bad_ctx;
  bad_ctx.set_deadline(std::chrono::system_clock::now() + kCallTimeout);
  storage_broker::SubscribeByFilterRequest bad;
  bad.add_types()->set_type(static_cast<storage_broker::MessageType>(99));
  auto bad_reader = stub_->SubscribeByFilter(&bad_ctx, bad);
  EXPECT_FALSE(bad_reader->Read(&got));
  EXPECT_EQ(bad_reader->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  ctx.TryCancel();
}

}  // namespace
}  // namespace neon::testing
