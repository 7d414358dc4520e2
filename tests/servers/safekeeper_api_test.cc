// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// The safekeeper's interfaces one by one: every HTTP route with good and bad input, the gRPC
// streams' refusals, JWT scopes on both, the broker (published timeline info, discovery
// answers), start-up flags and the work directory lock; plus the pure helpers (offloader
// election, donor choice, creation requests) in process.

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <ctime>
#include <memory>
#include <string>
#include <thread>

#include "safekeeper/api_json.h"
#include "safekeeper/peer_recovery.h"
#include "safekeeper/wal_backup.h"
#include "servers/broker_process.h"
#include "servers/jwt_util.h"
#include "servers/safekeeper_process.h"
#include "servers/safekeeper_proposer_util.h"
#include "storage_broker.grpc.pb.h"

namespace neon::testing {
namespace {

using nlohmann::json;
namespace pb = ::safekeeper;
namespace bpb = ::storage_broker;

constexpr char kTenant[] = "3aa8fcc61f6d357410b7de754b1d9001";
constexpr char kOtherTenant[] = "5bb8fcc61f6d357410b7de754b1d9002";
constexpr char kTimeline[] = "de200bd42b49cc1814412c7e592dd6e9";
constexpr uint64_t kStart = 0x1000028;

json CreateBody(const std::string& tenant = kTenant, const std::string& timeline = kTimeline) {
  return {{"tenant_id", tenant},
          {"timeline_id", timeline},
          {"pg_version", 15},
          {"start_lsn", LsnText(kStart)},
          {"peer_ids", {1, 2, 3}}};
}

class SafekeeperApiTest : public ::testing::Test {
 protected:
  void Start(const std::vector<std::string>& args = {}) {
    std::vector<std::string> all = {"--id=1", "--no-sync"};
    all.insert(all.end(), args.begin(), args.end());
    std::string error;
    sk_ = SafekeeperProcess::Start(dir_.path() + "/sk", all, &error);
    ASSERT_NE(sk_, nullptr) << error;
  }
  HttpReply Call(const std::string& method, const std::string& path, const std::string& body = "",
                 const std::string& token = "") {
    return HttpCall(sk_->http_port(), method, path, body, token);
  }
  std::string TimelinePath(const std::string& tenant = kTenant) {
    return "/v1/tenant/" + tenant + "/timeline/" + kTimeline;
  }
  // Opens a ProposerStream, sends `frames` and returns how the server ended the stream.
  // With `half_close` the client closes its side after the frames.
  grpc::Status ProposerCall(const std::map<std::string, std::string>& md,
                            const std::vector<std::string>& frames, bool half_close = false) {
    auto stub = pb::SafekeeperService::NewStub(
        grpc::CreateChannel(sk_->pg_target(), grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    for (const auto& [k, v] : md) ctx.AddMetadata(k, v);
    auto stream = stub->ProposerStream(&ctx);
    for (const std::string& f : frames) {
      pb::ConsensusFrame frame;
      frame.set_frame(f);
      if (!stream->Write(frame)) break;
    }
    if (half_close) stream->WritesDone();
    pb::ConsensusFrame reply;
    while (stream->Read(&reply)) {
    }
    return stream->Finish();
  }
  // Opens a StreamWal call, sends `first` and returns how the server ended it (or OK once a
  // message arrived, then closes).
  grpc::Status WalCall(const std::map<std::string, std::string>& md, const pb::StreamWalRequest& first) {
    auto stub = pb::SafekeeperService::NewStub(
        grpc::CreateChannel(sk_->pg_target(), grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    for (const auto& [k, v] : md) ctx.AddMetadata(k, v);
    auto stream = stub->StreamWal(&ctx);
    stream->Write(first);
    pb::StreamWalResponse resp;
    if (stream->Read(&resp)) {  // a keepalive: the stream started
      stream->WritesDone();
      return stream->Finish();
    }
    return stream->Finish();
  }
  std::map<std::string, std::string> Metadata(const std::string& tenant = kTenant,
                                              const std::string& timeline = kTimeline) {
    return {{"neon-tenant-id", tenant}, {"neon-timeline-id", timeline}};
  }

  TempDir dir_;
  std::unique_ptr<SafekeeperProcess> sk_;
};

TEST_F(SafekeeperApiTest, TimelineRoutes) {
  ASSERT_NO_FATAL_FAILURE(Start());
  HttpReply r = Call("GET", "/v1/status");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body["id"], 1);
  EXPECT_EQ(Call("GET", TimelinePath()).status, 404);

  r = Call("POST", "/v1/tenant/timeline", CreateBody().dump());
  ASSERT_EQ(r.status, 200) << r.text;
  EXPECT_TRUE(r.body.is_null());
  EXPECT_EQ(Call("POST", "/v1/tenant/timeline", CreateBody().dump()).status, 200);  // idempotent
  r = Call("GET", TimelinePath());
  ASSERT_EQ(r.status, 200) << r.text;
  EXPECT_EQ(r.body["tenant_id"], kTenant);
  EXPECT_EQ(r.body["timeline_id"], kTimeline);
  EXPECT_EQ(r.body["flush_lsn"], LsnText(kStart));
  EXPECT_EQ(r.body["commit_lsn"], LsnText(kStart));
  EXPECT_EQ(r.body["pg_info"]["pg_version"], 150000);
  EXPECT_EQ(r.body["pg_info"]["wal_seg_size"], 16 << 20);
  EXPECT_EQ(r.body["mconf"]["members"].size(), 3u);
  EXPECT_EQ(r.body["acceptor_state"]["term"], 0);

  r = Call("GET", "/v1/tenant/timeline");
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(r.body.size(), 1u);
  EXPECT_EQ(r.body[0]["timeline_id"], kTimeline);
  EXPECT_EQ(Call("GET", "/v1/utilization").body["timeline_count"], 1);

  // term_bump: given, lower, absent.
  r = Call("POST", TimelinePath() + "/term_bump", R"({"term": 10})");
  ASSERT_EQ(r.status, 200) << r.text;
  EXPECT_EQ(r.body, json({{"previous_term", 0}, {"current_term", 10}}));
  r = Call("POST", TimelinePath() + "/term_bump", R"({"term": 5})");
  EXPECT_EQ(r.body, json({{"previous_term", 10}, {"current_term", 10}}));
  r = Call("POST", TimelinePath() + "/term_bump", "");
  EXPECT_EQ(r.body, json({{"previous_term", 10}, {"current_term", 11}}));
  EXPECT_EQ(Call("GET", TimelinePath()).body["persisted"]["term"], 11);
  EXPECT_EQ(Call("POST", TimelinePath() + "/checkpoint").status, 200);

  r = Call("DELETE", TimelinePath());
  ASSERT_EQ(r.status, 200) << r.text;
  EXPECT_EQ(r.body, json({{"dir_existed", true}}));
  EXPECT_EQ(Call("GET", TimelinePath()).status, 404);
  EXPECT_EQ(Call("DELETE", TimelinePath()).body, json({{"dir_existed", false}}));

  ASSERT_EQ(Call("POST", "/v1/tenant/timeline", CreateBody().dump()).status, 200);
  ASSERT_EQ(Call("POST", "/v1/tenant/timeline",
                 CreateBody(kTenant, "ae200bd42b49cc1814412c7e592dd6e8").dump())
                .status,
            200);
  r = Call("DELETE", std::string("/v1/tenant/") + kTenant + "?only_local=true");
  ASSERT_EQ(r.status, 200) << r.text;
  EXPECT_EQ(r.body.size(), 2u);
  EXPECT_EQ(Call("GET", "/v1/tenant/timeline").body.size(), 0u);
}

TEST_F(SafekeeperApiTest, BadRequestsAreRefusedWithMessages) {
  ASSERT_NO_FATAL_FAILURE(Start());
  auto create = [&](json body) { return Call("POST", "/v1/tenant/timeline", body.dump()); };
  auto with = [](const char* key, json value) {
    json b = CreateBody();
    b[key] = std::move(value);
    return b;
  };
  auto without = [](const char* key) {
    json b = CreateBody();
    b.erase(key);
    return b;
  };
  struct Case {
    std::string name;
    HttpReply reply;
  };
  std::vector<Case> cases = {
      {"malformed", Call("POST", "/v1/tenant/timeline", "{not json")},
      {"array", Call("POST", "/v1/tenant/timeline", "[]")},
      {"empty", Call("POST", "/v1/tenant/timeline", "")},
      {"unknown field", create(with("bogus", 1))},
      {"short tenant", create(with("tenant_id", "3aa8"))},
      {"bad timeline", create(with("timeline_id", "zz200bd42b49cc1814412c7e592dd6e9"))},
      {"no pg_version", create(without("pg_version"))},
      {"pg_version string", create(with("pg_version", "15"))},
      {"no start", create(without("start_lsn"))},
      {"bad lsn", create(with("start_lsn", "16/XYZ"))},
      {"zero lsn", create(with("start_lsn", "0/0"))},
      {"commit differs", create(with("commit_lsn", "0/2000000"))},
      {"segment size", create(with("wal_seg_size", 3 << 20))},
      {"segment too small", create(with("wal_seg_size", 4096))},
      {"peer ids", create(with("peer_ids", json::array({"a"})))},
      {"both", create(with("mconf", {{"generation", 1}, {"members", {{{"id", 1}}}}}))},
      {"mconf without self",
       create([&] {
         json b = without("peer_ids");
         b["mconf"] = {{"generation", 2}, {"members", {{{"id", 7}, {"host", "h"}, {"pg_port", 1}}}}};
         return b;
       }())},
      {"bad tenant in path", Call("GET", "/v1/tenant/xyz/timeline/" + std::string(kTimeline))},
      {"bad timeline in path", Call("GET", std::string("/v1/tenant/") + kTenant + "/timeline/abc")},
      {"only_local", Call("DELETE", TimelinePath() + "?only_local=maybe")},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(c.reply.status, 400) << c.name << ": " << c.reply.text;
    EXPECT_TRUE(c.reply.body.is_object() && c.reply.body.contains("msg") &&
                !c.reply.body["msg"].get<std::string>().empty())
        << c.name << ": " << c.reply.text;
  }
  // A generation configuration that names this node is fine.
  json b = without("peer_ids");
  b["mconf"] = {{"generation", 2},
                {"members", {{{"id", 1}, {"host", "127.0.0.1"}, {"pg_port", 5454}}}},
                {"new_members", nullptr}};
  HttpReply ok = create(b);
  ASSERT_EQ(ok.status, 200) << ok.text;
  EXPECT_EQ(Call("GET", TimelinePath()).body["mconf"]["generation"], 2);
  for (const char* body : {"{bad", R"({"term": "x"})", R"({"term": -1})", R"({"other": 1})"}) {
    HttpReply r = Call("POST", TimelinePath() + "/term_bump", body);
    EXPECT_EQ(r.status, 400) << body << ": " << r.text;
  }
  EXPECT_EQ(Call("POST", TimelinePath(kOtherTenant) + "/term_bump", "{}").status, 404);
}

TEST_F(SafekeeperApiTest, StreamsRefuseBadCalls) {
  ASSERT_NO_FATAL_FAILURE(Start());
  ASSERT_EQ(Call("POST", "/v1/tenant/timeline", CreateBody().dump()).status, 200);
  consensus::ProposerGreeting greeting;
  greeting.tenant_id = *TenantId::Parse(kTenant);
  greeting.timeline_id = *TimelineId::Parse(kTimeline);
  greeting.server = {150002, 0, 16 << 20};
  const std::string good_greeting = consensus::EncodeProposerMessage(greeting);
  consensus::ProposerGreeting other = greeting;
  other.timeline_id = *TimelineId::Parse("ae200bd42b49cc1814412c7e592dd6e8");

  EXPECT_EQ(ProposerCall(Metadata(kOtherTenant), {good_greeting}).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(ProposerCall(Metadata("nothex"), {good_greeting}).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(ProposerCall({}, {good_greeting}).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(ProposerCall(Metadata(), {consensus::EncodeProposerMessage(other)}).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(ProposerCall(Metadata(), {consensus::EncodeProposerMessage(
                                         consensus::VoteRequest{Generation(), consensus::Term(1)})})
                .error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(ProposerCall(Metadata(), {"garbage"}).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // The acceptor's own refusal: an append before any election.
  consensus::AppendRequest append{Generation(), consensus::Term(1), Lsn(kStart), Lsn(kStart),
                                  Lsn(0), Lsn(0), ""};
  grpc::Status s =
      ProposerCall(Metadata(), {good_greeting, consensus::EncodeProposerMessage(append)});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  // A greeting alone, then the client closes: a clean end.
  EXPECT_TRUE(ProposerCall(Metadata(), {good_greeting}, /*half_close=*/true).ok());

  pb::StreamWalRequest start;
  start.mutable_start()->set_start_lsn(kStart);
  pb::StreamWalRequest feedback;
  feedback.mutable_feedback()->set_remote_consistent_lsn(kStart);
  pb::StreamWalRequest zero;
  zero.mutable_start()->set_start_lsn(0);
  pb::StreamWalRequest below;
  below.mutable_start()->set_start_lsn(kStart - 1);
  EXPECT_EQ(WalCall(Metadata(kOtherTenant), start).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(WalCall(Metadata(), feedback).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(WalCall(Metadata(), zero).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(WalCall(Metadata(), below).error_code(), grpc::StatusCode::OUT_OF_RANGE);
  // A valid start with nothing to send yet: a keepalive comes (about a second later).
  EXPECT_TRUE(WalCall(Metadata(), start).ok());
}

TEST_F(SafekeeperApiTest, JwtScopes) {
  Ed25519Key key, other_key;
  const std::string pem = dir_.WriteFile("key.pem", key.PublicPem());
  ASSERT_NO_FATAL_FAILURE(Start({"--public-key=" + pem}));
  const std::string data = key.Sign(R"({"scope":"safekeeperdata"})");
  const std::string own = key.Sign(std::string(R"({"scope":"tenant","tenant_id":")") + kTenant + "\"}");
  const std::string foreign =
      key.Sign(std::string(R"({"scope":"tenant","tenant_id":")") + kOtherTenant + "\"}");
  const std::string wrong_scope = key.Sign(R"({"scope":"pageserverapi"})");
  const std::string expired = key.Sign(R"({"scope":"safekeeperdata","exp":)" +
                                       std::to_string(std::time(nullptr) - 60) + "}");
  const std::string forged = other_key.Sign(R"({"scope":"safekeeperdata"})");

  EXPECT_EQ(Call("GET", "/v1/status").status, 200);
  EXPECT_EQ(Call("GET", "/metrics").status, 200);
  EXPECT_EQ(Call("GET", "/v1/tenant/timeline").status, 401);
  EXPECT_EQ(Call("GET", "/v1/tenant/timeline", "", expired).status, 401);
  EXPECT_EQ(Call("GET", "/v1/tenant/timeline", "", forged).status, 401);
  EXPECT_EQ(Call("GET", "/v1/tenant/timeline", "", wrong_scope).status, 403);
  EXPECT_EQ(Call("GET", "/v1/tenant/timeline", "", own).status, 403);
  EXPECT_EQ(Call("GET", "/v1/tenant/timeline", "", data).status, 200);

  const std::string body = CreateBody().dump();
  EXPECT_EQ(Call("POST", "/v1/tenant/timeline", body).status, 401);
  EXPECT_EQ(Call("POST", "/v1/tenant/timeline", "{bad", "").status, 401);
  EXPECT_EQ(Call("POST", "/v1/tenant/timeline", body, foreign).status, 403);
  EXPECT_EQ(Call("POST", "/v1/tenant/timeline", body, own).status, 200);
  EXPECT_EQ(Call("GET", TimelinePath(), "", own).status, 200);
  EXPECT_EQ(Call("GET", TimelinePath(), "", data).status, 200);
  EXPECT_EQ(Call("GET", TimelinePath(), "", foreign).status, 403);
  EXPECT_EQ(Call("GET", TimelinePath()).status, 401);
  EXPECT_EQ(Call("POST", TimelinePath() + "/term_bump", "{}", foreign).status, 403);
  EXPECT_EQ(Call("DELETE", TimelinePath(), "", wrong_scope).status, 403);

  pb::StreamWalRequest start;
  start.mutable_start()->set_start_lsn(kStart);
  auto md = Metadata();
  EXPECT_EQ(WalCall(md, start).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  md["authorization"] = "Bearer " + foreign;
  EXPECT_EQ(WalCall(md, start).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  md["authorization"] = "Bearer " + forged;
  EXPECT_EQ(WalCall(md, start).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  md["authorization"] = "Bearer " + own;
  EXPECT_TRUE(WalCall(md, start).ok());
  md["authorization"] = "Bearer " + data;
  EXPECT_TRUE(WalCall(md, start).ok());
  EXPECT_EQ(ProposerCall(Metadata(), {"x"}).error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(SafekeeperApiTest, PublishesToTheBrokerAndAnswersDiscovery) {
  std::string error;
  auto broker = BrokerProcess::Start({}, &error);
  ASSERT_NE(broker, nullptr) << error;
  ASSERT_NO_FATAL_FAILURE(Start({"--broker-endpoint=http://" + broker->grpc_target(),
                                 "--availability-zone=az-1"}));
  json body = CreateBody();
  body["peer_ids"] = {1};
  ASSERT_EQ(Call("POST", "/v1/tenant/timeline", body.dump()).status, 200);
  auto stub = bpb::BrokerService::NewStub(
      grpc::CreateChannel(broker->grpc_target(), grpc::InsecureChannelCredentials()));

  // Discovery: a request for a timeline served here is answered, though it is inactive.
  grpc::ClientContext sub_ctx;
  sub_ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  bpb::SubscribeByFilterRequest filter;
  filter.add_types()->set_type(bpb::SAFEKEEPER_DISCOVERY_RESPONSE);
  auto responses = stub->SubscribeByFilter(&sub_ctx, filter);
  const std::string tenant_raw(reinterpret_cast<const char*>(TenantId::Parse(kTenant)->bytes().data()), 16);
  const std::string timeline_raw(
      reinterpret_cast<const char*>(TimelineId::Parse(kTimeline)->bytes().data()), 16);
  bpb::TypedMessage answer;
  std::atomic<bool> answered = false;
  std::thread asker([&] {
    // The safekeeper's discovery subscription may start after a request: ask until answered.
    for (int i = 0; i < 100 && !answered; i++) {
      bpb::TypedMessage req;
      req.set_type(bpb::SAFEKEEPER_DISCOVERY_REQUEST);
      req.mutable_safekeeper_discovery_request()->mutable_tenant_timeline_id()->set_tenant_id(tenant_raw);
      req.mutable_safekeeper_discovery_request()->mutable_tenant_timeline_id()->set_timeline_id(
          timeline_raw);
      grpc::ClientContext ctx;
      google::protobuf::Empty empty;
      stub->PublishOne(&ctx, req, &empty);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });
  ASSERT_TRUE(responses->Read(&answer));
  answered = true;
  asker.join();
  sub_ctx.TryCancel();
  responses->Finish();
  ASSERT_EQ(answer.type(), bpb::SAFEKEEPER_DISCOVERY_RESPONSE);
  const bpb::SafekeeperDiscoveryResponse& d = answer.safekeeper_discovery_response();
  EXPECT_EQ(d.safekeeper_id(), 1u);
  EXPECT_EQ(d.tenant_timeline_id().timeline_id(), timeline_raw);
  EXPECT_EQ(d.commit_lsn(), kStart);
  EXPECT_EQ(d.safekeeper_connstr(), sk_->pg_target());
  EXPECT_EQ(d.availability_zone(), "az-1");

  // Timeline info: published once a second while the timeline is active (a proposer is
  // connected, here a single-member configuration).
  grpc::ClientContext info_ctx;
  info_ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  bpb::SubscribeSafekeeperInfoRequest all;
  all.mutable_all();
  auto infos = stub->SubscribeSafekeeperInfo(&info_ctx, all);
  consensus::ProposerOptions o;
  o.tenant_id = *TenantId::Parse(kTenant);
  o.timeline_id = *TimelineId::Parse(kTimeline);
  o.mconf.members.push_back({consensus::NodeId(1), "127.0.0.1", uint16_t(sk_->pg_port())});
  o.server = {150002, 0, 16 << 20};
  GrpcProposer p(o, {sk_->pg_target()});
  p.Connect(0);
  ASSERT_TRUE(p.RunUntil([&] { return p.proposer().phase() == consensus::ProposerPhase::kElected; }));
  ASSERT_TRUE(p.ProposeBytes(10000));
  ASSERT_TRUE(p.RunUntil([&] { return p.proposer().commit_lsn() == p.proposer().available_lsn(); }));
  const uint64_t end = p.proposer().available_lsn().value();
  bpb::SafekeeperTimelineInfo info;
  bool seen = false;
  while (!seen && infos->Read(&info)) {
    p.Poll();
    seen = info.safekeeper_id() == 1 && info.flush_lsn() == end;
  }
  ASSERT_TRUE(seen);
  info_ctx.TryCancel();
  infos->Finish();
  EXPECT_EQ(info.tenant_timeline_id().tenant_id(), tenant_raw);
  EXPECT_EQ(info.term(), p.proposer().term().value());
  EXPECT_EQ(info.last_log_term(), p.proposer().term().value());
  EXPECT_EQ(info.local_start_lsn(), kStart);
  EXPECT_EQ(info.safekeeper_connstr(), sk_->pg_target());
  EXPECT_EQ(info.http_connstr(), "127.0.0.1:" + std::to_string(sk_->http_port()));
  EXPECT_EQ(info.availability_zone(), "az-1");
}

TEST_F(SafekeeperApiTest, FlagsIdFileAndLock) {
  std::string out;
  EXPECT_EQ(RunSafekeeperToExit({"--help"}, &out), 0);
  for (const char* opt : {"--id", "--workdir", "--listen-pg", "--listen-http", "--broker-endpoint",
                          "--remote-storage-dir", "--public-key", "--availability-zone",
                          "--no-sync"}) {
    EXPECT_NE(out.find(opt), std::string::npos) << opt;
  }
  EXPECT_EQ(RunSafekeeperToExit({"--bogus"}, &out), 2);
  EXPECT_EQ(RunSafekeeperToExit({"--workdir=" + dir_.path() + "/x", "--listen-pg=nope"}, &out), 2);
  // The first start needs --id.
  EXPECT_EQ(RunSafekeeperToExit({"--workdir=" + dir_.path() + "/fresh", "--listen-pg=127.0.0.1:0",
                                 "--listen-http=127.0.0.1:0"},
                                &out),
            2)
      << out;
  ASSERT_NO_FATAL_FAILURE(Start());
  // A second safekeeper on the same work directory is refused.
  EXPECT_EQ(RunSafekeeperToExit({"--workdir=" + dir_.path() + "/sk", "--id=1",
                                 "--listen-pg=127.0.0.1:0", "--listen-http=127.0.0.1:0"},
                                &out),
            1);
  EXPECT_NE(out.find("another safekeeper"), std::string::npos) << out;
  ASSERT_EQ(sk_->Stop(), 0) << sk_->Log();
  // The id is remembered; another one is refused.
  EXPECT_EQ(RunSafekeeperToExit({"--workdir=" + dir_.path() + "/sk", "--id=2",
                                 "--listen-pg=127.0.0.1:0", "--listen-http=127.0.0.1:0"},
                                &out),
            1);
  std::string error;
  sk_ = SafekeeperProcess::Start(dir_.path() + "/sk", {}, &error);
  ASSERT_NE(sk_, nullptr) << error;
  EXPECT_EQ(Call("GET", "/v1/status").body["id"], 1);
}

// ---- In-process units ----

TEST(SafekeeperUnits, OffloaderElectionIsDeterministic) {
  using safekeeper::ChooseOffloader;
  using safekeeper::OffloaderCandidate;
  const TimelineId tl = *TimelineId::Parse("00000000000000000000000000000005");  // 5 % n
  const Lsn c(100 << 20);
  std::vector<OffloaderCandidate> three = {{3, c, Lsn(1)}, {1, c, Lsn(1)}, {2, c, Lsn(1)}};
  EXPECT_EQ(ChooseOffloader(three, Lsn(1), tl, 128 << 20), 3u);  // sorted 1,2,3; 5 % 3 = 2
  std::vector<OffloaderCandidate> two = {{1, c, Lsn(1)}, {2, c, Lsn(1)}};
  EXPECT_EQ(ChooseOffloader(two, Lsn(1), tl, 128 << 20), 2u);  // 5 % 2 = 1
  // A member lagging more than the allowed lag, or starting above backup_lsn, is left out.
  std::vector<OffloaderCandidate> lag = {{1, c, Lsn(1)}, {2, Lsn(1), Lsn(1)}, {3, c, Lsn(1)}};
  EXPECT_EQ(ChooseOffloader(lag, Lsn(1), tl, 1 << 20), 3u);  // {1, 3}: 5 % 2 = 1
  std::vector<OffloaderCandidate> late = {{1, c, Lsn(1)}, {2, c, Lsn(50)}, {3, c, Lsn(1)}};
  EXPECT_EQ(ChooseOffloader(late, Lsn(10), tl, 128 << 20), 3u);
  EXPECT_EQ(ChooseOffloader({}, Lsn(10), tl, 128 << 20), 0u);
  // Every member computes the same answer from the same inputs, in any order.
  std::vector<OffloaderCandidate> shuffled = {{2, c, Lsn(1)}, {3, c, Lsn(1)}, {1, c, Lsn(1)}};
  EXPECT_EQ(ChooseOffloader(shuffled, Lsn(1), tl, 128 << 20), 3u);
}

TEST(SafekeeperUnits, DonorChoice) {
  using safekeeper::ChooseDonor;
  using safekeeper::PeerInfo;
  using safekeeper::Positions;
  using consensus::Term;
  Positions mine;
  mine.term = Term(3);
  mine.flush_lsn = Lsn(100);
  auto peer = [](uint64_t id, uint64_t term, uint64_t llt, uint64_t commit) {
    PeerInfo p;
    p.sk_id = id;
    p.term = Term(term);
    p.last_log_term = Term(llt);
    p.commit_lsn = Lsn(commit);
    p.pg_connstr = "h:1";
    p.http_connstr = "h:2";
    return p;
  };
  EXPECT_FALSE(ChooseDonor(mine, 0, {peer(1, 3, 3, 100)}));     // not ahead
  EXPECT_FALSE(ChooseDonor(mine, 0, {peer(1, 4, 3, 200)}));     // term != last_log_term
  EXPECT_FALSE(ChooseDonor(mine, 0, {peer(1, 2, 2, 200)}));     // older term
  EXPECT_FALSE(ChooseDonor(mine, 1, {peer(1, 3, 3, 200)}));     // a proposer is connected
  PeerInfo no_addr = peer(1, 3, 3, 200);
  no_addr.http_connstr.clear();
  EXPECT_FALSE(ChooseDonor(mine, 0, {no_addr}));
  auto d = ChooseDonor(mine, 0, {peer(1, 3, 3, 150), peer(2, 4, 4, 120), peer(3, 3, 3, 300)});
  ASSERT_TRUE(d);
  EXPECT_EQ(d->sk_id, 2u);  // highest last_log_term first, then commit
}

TEST(SafekeeperUnits, CreateRequest) {
  json body = CreateBody();
  body["system_id"] = 7;
  body["wal_seg_size"] = 1 << 20;
  absl::StatusOr<consensus::PersistentState> st = safekeeper::ParseCreateRequest(body);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->server.pg_version, 150000u);
  EXPECT_EQ(st->server.system_id, 7u);
  EXPECT_EQ(st->server.wal_seg_size, 1u << 20);
  EXPECT_EQ(st->timeline_start_lsn, Lsn(kStart));
  EXPECT_EQ(st->commit_lsn, Lsn(kStart));
  EXPECT_EQ(st->mconf.members.size(), 3u);
  EXPECT_TRUE(st->mconf.generation.is_none());
  // Neon's older request names the start commit_lsn.
  body.erase("start_lsn");
  body["commit_lsn"] = LsnText(kStart);
  body["pg_version"] = 150004;
  st = safekeeper::ParseCreateRequest(body);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->timeline_start_lsn, Lsn(kStart));
  EXPECT_EQ(st->server.pg_version, 150004u);
  body["mconf"] = {{"generation", 1}, {"members", {{{"id", 1}}, {{"id", 1}}}}};
  body.erase("peer_ids");
  EXPECT_TRUE(absl::IsInvalidArgument(safekeeper::ParseCreateRequest(body).status()));
}

}  // namespace
}  // namespace neon::testing
