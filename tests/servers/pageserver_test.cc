// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// The pageserver binary on loopback: tenants and timelines over HTTP (root timelines
// bootstrapped with initdb), pages over gRPC, a branch, a restart on the same work
// directory, bad input on every route, and JWT auth on both ports.

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <ctime>
#include <memory>
#include <filesystem>
#include <string>
#include <thread>

#include "httplib.h"
#include "nlohmann/json.hpp"
#include "page_service.grpc.pb.h"
#include "servers/broker_process.h"
#include "servers/jwt_util.h"
#include "servers/pageserver_process.h"

namespace neon::testing {
namespace {

using nlohmann::json;

constexpr auto kCallTimeout = std::chrono::seconds(30);
constexpr char kTenant[] = "3aa8fcc61f6d357410b7de754b1d9001";
constexpr char kOtherTenant[] = "5bb8fcc61f6d357410b7de754b1d9002";
constexpr char kMain[] = "de200bd42b49cc1814412c7e592dd6e9";
constexpr char kBranch[] = "ae200bd42b49cc1814412c7e592dd6e8";

struct HttpReply {
  int status = -1;
  json body;
  std::string text;
};

class PageserverTest : public ::testing::Test {
 protected:
  void Start(const std::vector<std::string>& args = {}) {
    std::string error;
    ps_ = PageserverProcess::Start(dir_.path() + "/ps", args, &error);
    ASSERT_NE(ps_, nullptr) << error;
    stub_ = page_api::PageService::NewStub(
        grpc::CreateChannel(ps_->grpc_target(), grpc::InsecureChannelCredentials()));
  }
  void Restart(const std::vector<std::string>& args = {}) {
    ASSERT_EQ(ps_->Stop(), 0) << ps_->Log();
    Start(args);
  }

  HttpReply Call(const std::string& method, const std::string& path, const std::string& body = "",
                 const std::string& token = "") {
    httplib::Client c("127.0.0.1", ps_->http_port());
    c.set_read_timeout(120);
    httplib::Headers h;
    if (!token.empty()) h.emplace("Authorization", "Bearer " + token);
    httplib::Result r(nullptr, httplib::Error::Unknown);
    if (method == "GET") r = c.Get(path.c_str(), h);
    if (method == "POST") r = c.Post(path.c_str(), h, body, "application/json");
    if (method == "PUT") r = c.Put(path.c_str(), h, body, "application/json");
    if (method == "DELETE") r = c.Delete(path.c_str(), h);
    HttpReply out;
    if (!r) return out;
    out.status = r->status;
    out.text = r->body;
    out.body = json::parse(r->body, nullptr, false);
    return out;
  }

  void Context(grpc::ClientContext* ctx, const std::string& tenant, const std::string& timeline,
               const std::string& token = "") {
    ctx->set_deadline(std::chrono::system_clock::now() + kCallTimeout);
    ctx->AddMetadata("neon-tenant-id", tenant);
    ctx->AddMetadata("neon-timeline-id", timeline);
    ctx->AddMetadata("neon-shard-id", "0000");
    if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
  }

  grpc::Status RelSize(const std::string& timeline, uint64_t lsn, uint32_t* blocks,
                       const std::string& tenant = kTenant, const std::string& token = "") {
    grpc::ClientContext ctx;
    Context(&ctx, tenant, timeline, token);
    page_api::GetRelSizeRequest req;
    req.mutable_read_lsn()->set_request_lsn(lsn);
    auto* rel = req.mutable_rel();
    rel->set_spc_oid(1663);
    rel->set_db_oid(1);
    rel->set_rel_number(1259);
    page_api::GetRelSizeResponse resp;
    grpc::Status s = stub_->GetRelSize(&ctx, req, &resp);
    *blocks = resp.num_blocks();
    return s;
  }

  // pg_class block 0 at `lsn` through the GetPages stream.
  page_api::GetPageResponse PgClassPage(const std::string& timeline, uint64_t lsn) {
    grpc::ClientContext ctx;
    Context(&ctx, kTenant, timeline);
    auto stream = stub_->GetPages(&ctx);
    page_api::GetPageRequest req;
    req.mutable_request_id()->set_id(7);
    req.mutable_read_lsn()->set_request_lsn(lsn);
    req.mutable_rel()->set_spc_oid(1663);
    req.mutable_rel()->set_db_oid(1);
    req.mutable_rel()->set_rel_number(1259);
    req.add_block_number(0);
    EXPECT_TRUE(stream->Write(req));
    page_api::GetPageResponse resp;
    EXPECT_TRUE(stream->Read(&resp));
    stream->WritesDone();
    EXPECT_TRUE(stream->Finish().ok());
    return resp;
  }

  uint64_t LastRecordLsn(const std::string& timeline) {
    HttpReply r = Call("GET", std::string("/v1/tenant/") + kTenant + "/timeline/" + timeline);
    EXPECT_EQ(r.status, 200) << r.text;
    const std::string text = r.body.value("last_record_lsn", "0/0");
    const size_t slash = text.find('/');
    return (std::stoull(text.substr(0, slash), nullptr, 16) << 32) |
           std::stoull(text.substr(slash + 1), nullptr, 16);
  }

  void CreateTenantAndMain() {
    HttpReply r = Call("POST", "/v1/tenant", json{{"new_tenant_id", kTenant}}.dump());
    ASSERT_EQ(r.status, 201) << r.text;
    r = Call("POST", std::string("/v1/tenant/") + kTenant + "/timeline",
             json{{"new_timeline_id", kMain}, {"pg_version", 15}}.dump());
    ASSERT_EQ(r.status, 201) << r.text << "\n" << ps_->Log();
  }

  TempDir dir_;
  std::unique_ptr<PageserverProcess> ps_;
  std::unique_ptr<page_api::PageService::Stub> stub_;
};

// A heap page: pd_lower/pd_upper/pd_special in order, page size 8192, layout version 4.
void ExpectHeapPage(const std::string& page) {
  ASSERT_EQ(page.size(), 8192u);
  auto u16 = [&page](size_t off) {
    return static_cast<uint16_t>(static_cast<uint8_t>(page[off]) |
                                 static_cast<uint8_t>(page[off + 1]) << 8);
  };
  const uint16_t lower = u16(12), upper = u16(14), special = u16(16), size_version = u16(18);
  EXPECT_GE(lower, 24);
  EXPECT_LE(lower, upper);
  EXPECT_LE(upper, special);
  EXPECT_EQ(special, 8192);
  EXPECT_EQ(size_version, 8192 | 4);
  EXPECT_GT(lower, 24) << "pg_class block 0 holds tuples";
}

TEST_F(PageserverTest, BootstrapReadBranchRestart) {
  Start();
  CreateTenantAndMain();
  HttpReply st = Call("GET", "/v1/status");
  EXPECT_EQ(st.status, 200);
  const uint64_t lsn = LastRecordLsn(kMain);
  ASSERT_GT(lsn, 0u);
  HttpReply info = Call("GET", std::string("/v1/tenant/") + kTenant + "/timeline/" + kMain);
  EXPECT_EQ(info.body["state"], "Active");
  EXPECT_TRUE(info.body["ancestor_timeline_id"].is_null());
  EXPECT_GT(info.body["current_logical_size"].get<uint64_t>(), 0u);
  EXPECT_EQ(info.body["disk_consistent_lsn"], info.body["last_record_lsn"]);

  uint32_t blocks = 0;
  grpc::Status s = RelSize(kMain, lsn, &blocks);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_GT(blocks, 0u);
  {
    grpc::ClientContext ctx;
    Context(&ctx, kTenant, kMain);
    page_api::GetDbSizeRequest req;
    req.mutable_read_lsn()->set_request_lsn(lsn);
    req.set_db_oid(1);
    page_api::GetDbSizeResponse resp;
    ASSERT_TRUE(stub_->GetDbSize(&ctx, req, &resp).ok());
    EXPECT_GT(resp.num_bytes(), 0u);
    EXPECT_EQ(resp.num_bytes() % 8192, 0u);
  }
  page_api::GetPageResponse page = PgClassPage(kMain, lsn);
  ASSERT_EQ(page.status_code(), page_api::GET_PAGE_STATUS_CODE_OK) << page.reason();
  EXPECT_EQ(page.request_id().id(), 7u);
  ASSERT_EQ(page.page_size(), 1);
  ExpectHeapPage(page.page(0).image());
  {
    grpc::ClientContext ctx;
    Context(&ctx, kTenant, kMain);
    page_api::LeaseLsnRequest req;
    req.set_lsn(lsn);
    page_api::LeaseLsnResponse resp;
    ASSERT_TRUE(stub_->LeaseLsn(&ctx, req, &resp).ok());
    EXPECT_GT(resp.expires().seconds(), std::time(nullptr));
  }
  {
    grpc::ClientContext ctx;
    Context(&ctx, kTenant, kMain);
    page_api::GetSlruSegmentRequest req;
    req.mutable_read_lsn()->set_request_lsn(lsn);
    req.set_kind(0);
    req.set_segno(0);
    page_api::GetSlruSegmentResponse resp;
    grpc::Status ss = stub_->GetSlruSegment(&ctx, req, &resp);
    ASSERT_TRUE(ss.ok()) << ss.error_message();
    EXPECT_GT(resp.segment().size(), 0u);
    EXPECT_EQ(resp.segment().size() % 8192, 0u);
  }

  // A branch at the bootstrap LSN reads the same page.
  HttpReply br = Call("POST", std::string("/v1/tenant/") + kTenant + "/timeline",
                      json{{"new_timeline_id", kBranch}, {"ancestor_timeline_id", kMain}}.dump());
  ASSERT_EQ(br.status, 201) << br.text;
  EXPECT_EQ(br.body["ancestor_timeline_id"], kMain);
  EXPECT_EQ(br.body["ancestor_lsn"], info.body["last_record_lsn"]);
  page_api::GetPageResponse on_branch = PgClassPage(kBranch, lsn);
  ASSERT_EQ(on_branch.status_code(), page_api::GET_PAGE_STATUS_CODE_OK) << on_branch.reason();
  EXPECT_EQ(on_branch.page(0).image(), page.page(0).image());
  HttpReply list = Call("GET", std::string("/v1/tenant/") + kTenant + "/timeline");
  EXPECT_EQ(list.body.size(), 2u);

  for (const char* op : {"compact", "checkpoint", "do_gc"}) {
    HttpReply r = Call("PUT", std::string("/v1/tenant/") + kTenant + "/timeline/" + kMain + "/" + op);
    EXPECT_EQ(r.status, 200) << op << ": " << r.text;
  }

  Restart();
  HttpReply tenants = Call("GET", "/v1/tenant");
  ASSERT_EQ(tenants.status, 200);
  ASSERT_EQ(tenants.body.size(), 1u) << tenants.text;
  EXPECT_EQ(tenants.body[0]["id"], kTenant);
  EXPECT_EQ(LastRecordLsn(kMain), lsn);
  for (const char* tl : {kMain, kBranch}) {
    page_api::GetPageResponse again = PgClassPage(tl, lsn);
    ASSERT_EQ(again.status_code(), page_api::GET_PAGE_STATUS_CODE_OK) << again.reason();
    EXPECT_EQ(again.page(0).image(), page.page(0).image()) << tl;
  }
  ASSERT_TRUE(RelSize(kBranch, lsn, &blocks).ok());
  EXPECT_GT(blocks, 0u);

  // Deleting the branch, then the tenant.
  EXPECT_EQ(Call("DELETE", std::string("/v1/tenant/") + kTenant + "/timeline/" + kBranch).status,
            200);
  EXPECT_EQ(Call("GET", std::string("/v1/tenant/") + kTenant + "/timeline/" + kBranch).status,
            404);
  EXPECT_EQ(Call("DELETE", std::string("/v1/tenant/") + kTenant).status, 200);
  EXPECT_EQ(Call("GET", std::string("/v1/tenant/") + kTenant).status, 404);
  EXPECT_EQ(ps_->Stop(), 0);
}

TEST_F(PageserverTest, BadInputGets400AndUnknownIds404) {
  Start();
  ASSERT_EQ(Call("POST", "/v1/tenant", json{{"new_tenant_id", kTenant}}.dump()).status, 201);
  const std::string t = std::string("/v1/tenant/") + kTenant;
  const std::string tl = t + "/timeline/" + kMain;
  struct Case {
    const char* method;
    std::string path;
    std::string body;
  };
  const Case bad[] = {
      {"POST", "/v1/tenant", "{not json"},
      {"POST", "/v1/tenant", "[1,2]"},
      {"POST", "/v1/tenant", ""},
      {"POST", "/v1/tenant", R"({"new_tenant_id":"abc"})"},
      {"POST", "/v1/tenant", R"({"new_tenant_id":"3aa8fcc61f6d357410b7de754b1d900100"})"},
      {"POST", "/v1/tenant", R"({"new_tenant_id":"3aa8fcc61f6d357410b7de754b1d9003","gc_horizon":"x"})"},
      {"POST", "/v1/tenant", R"({"new_tenant_id":"3aa8fcc61f6d357410b7de754b1d9003","bogus":1})"},
      {"POST", "/v1/tenant", R"({"new_tenant_id":"3aa8fcc61f6d357410b7de754b1d9003","pitr_interval":"7 fortnights"})"},
      {"GET", "/v1/tenant/123", ""},
      {"DELETE", "/v1/tenant/zz8fcc61f6d357410b7de754b1d90011", ""},
      {"GET", t + "/timeline/123", ""},
      {"POST", t + "/timeline", "{"},
      {"POST", t + "/timeline", "{}"},
      {"POST", t + "/timeline", R"({"new_timeline_id":"de20"})"},
      {"POST", t + "/timeline", R"({"new_timeline_id":"de200bd42b49cc1814412c7e592dd6e9","pg_version":14})"},
      {"POST", t + "/timeline",
       R"({"new_timeline_id":"de200bd42b49cc1814412c7e592dd6e9","ancestor_timeline_id":"ae200bd42b49cc1814412c7e592dd6e8","ancestor_start_lsn":"zz"})"},
      {"POST", t + "/timeline",
       R"({"new_timeline_id":"de200bd42b49cc1814412c7e592dd6e9","ancestor_timeline_id":"ae20"})"},
      {"POST", t + "/timeline",
       R"({"new_timeline_id":"de200bd42b49cc1814412c7e592dd6e9","ancestor_start_lsn":"0/16"})"},
      {"PUT", "/v1/location_config/" + std::string(kTenant), "{oops"},
      {"PUT", "/v1/location_config/" + std::string(kTenant), R"({"mode":"Sideways","generation":1})"},
      {"PUT", "/v1/location_config/" + std::string(kTenant), R"({"mode":"AttachedSingle"})"},
      {"PUT", "/v1/location_config/" + std::string(kTenant), R"({"mode":"Secondary","secondary_conf":"warm"})"},
      {"PUT", "/v1/location_config/" + std::string(kTenant), R"({"mode":"Secondary","secondary_conf":{"warm":1}})"},
      {"POST", t + "/secondary/download?wait_ms=-1", ""},
      {"POST", t + "/secondary/download?wait_ms=soon", ""},
      {"GET", "/v1/location_config/xyz", ""},
      {"PUT", "/v1/location_config/" + std::string(kTenant), R"({"mode":"AttachedMulti"})"},
      {"PUT", "/v1/location_config/xyz", R"({"mode":"AttachedSingle","generation":1})"},
      {"PUT", t + "/location_config", R"({"mode":"AttachedSingle","generation":"one"})"},
      {"PUT", tl + "/do_gc", "{nope"},
      {"PUT", tl + "/do_gc", R"({"gc_horizon":-5})"},
      {"PUT", t + "/timeline/1234/compact", ""},
      {"POST", tl + "/lsn_lease", R"({"lsn":"1/2/3"})"},
      {"POST", tl + "/lsn_lease", "not json"},
  };
  for (const Case& c : bad) {
    HttpReply r = Call(c.method, c.path, c.body);
    EXPECT_EQ(r.status, 400) << c.method << " " << c.path << " " << c.body << ": " << r.text;
    EXPECT_TRUE(r.body.is_object() && r.body.contains("msg") && r.body["msg"].is_string() &&
                !r.body["msg"].get<std::string>().empty())
        << c.path << " " << c.body << ": " << r.text;
  }
  const std::string unknown_tenant = std::string("/v1/tenant/") + kOtherTenant;
  const Case missing[] = {
      {"GET", unknown_tenant, ""},
      {"DELETE", unknown_tenant, ""},
      {"GET", unknown_tenant + "/timeline", ""},
      {"POST", unknown_tenant + "/timeline", json{{"new_timeline_id", kMain}}.dump()},
      {"GET", tl, ""},
      {"DELETE", tl, ""},
      {"PUT", tl + "/compact", ""},
      {"PUT", tl + "/checkpoint", ""},
      {"PUT", tl + "/do_gc", ""},
      {"POST", t + "/timeline", json{{"new_timeline_id", kBranch}, {"ancestor_timeline_id", kMain}}.dump()},
      {"GET", "/v1/location_config/" + std::string(kOtherTenant), ""},
      {"POST", unknown_tenant + "/heatmap_upload", ""},
      {"GET", t + "/secondary/status", ""},  // attached, not secondary
      {"POST", unknown_tenant + "/secondary/download", ""},
  };
  for (const Case& c : missing) {
    HttpReply r = Call(c.method, c.path, c.body);
    EXPECT_EQ(r.status, 404) << c.method << " " << c.path << ": " << r.text;
    EXPECT_TRUE(r.body.contains("msg")) << r.text;
  }
  EXPECT_EQ(Call("POST", "/v1/tenant", json{{"new_tenant_id", kTenant}}.dump()).status, 409);

  // location_config: attach with a generation; Detached of an unknown tenant is a no-op.
  HttpReply att = Call("PUT", std::string("/v1/tenant/") + kOtherTenant + "/location_config",
                       R"({"mode":"AttachedSingle","generation":3,"tenant_conf":{}})");
  EXPECT_EQ(att.status, 200) << att.text;
  HttpReply got = Call("GET", unknown_tenant);
  EXPECT_EQ(got.status, 200) << got.text;
  EXPECT_EQ(got.body["generation"], 3);
  got = Call("GET", std::string("/v1/location_config/") + kOtherTenant);
  EXPECT_EQ(got.status, 200) << got.text;
  EXPECT_EQ(got.body["mode"], "AttachedSingle");
  EXPECT_EQ(got.body["generation"], 3);
  got = Call("GET", "/v1/location_config");
  ASSERT_EQ(got.status, 200) << got.text;
  EXPECT_EQ(got.body["tenant_shards"].size(), 2u) << got.text;
  EXPECT_EQ(Call("PUT", "/v1/location_config/9cc8fcc61f6d357410b7de754b1d9003",
                 R"({"mode":"Detached"})").status,
            200);

  // gRPC: bad metadata, unknown ids, bad read LSNs.
  uint32_t blocks = 0;
  EXPECT_EQ(RelSize(kMain, 100, &blocks, "12").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(RelSize("12", 100, &blocks).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(RelSize(kMain, 100, &blocks).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(RelSize(kMain, 100, &blocks, "9cc8fcc61f6d357410b7de754b1d9003").error_code(),
            grpc::StatusCode::NOT_FOUND);
}

// Detached keeps the remote data: the tenant comes back with a newer generation and serves
// the same pages; the modes Multi and Stale attach too.
TEST_F(PageserverTest, DetachKeepsRemoteDataAndReattachServesTheSamePages) {
  Start();
  CreateTenantAndMain();
  const uint64_t lsn = LastRecordLsn(kMain);
  const std::string before = PgClassPage(kMain, lsn).page(0).image();
  ASSERT_EQ(before.size(), 8192u);
  const std::string loc = std::string("/v1/tenant/") + kTenant + "/location_config";

  HttpReply r = Call("PUT", loc, R"({"mode":"Detached"})");
  ASSERT_EQ(r.status, 200) << r.text << ps_->Log();
  EXPECT_EQ(Call("GET", std::string("/v1/tenant/") + kTenant).status, 404);
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/ps/engine/tenants/" + kTenant));
  uint32_t blocks = 0;
  EXPECT_EQ(RelSize(kMain, lsn, &blocks).error_code(), grpc::StatusCode::NOT_FOUND);

  r = Call("PUT", loc, R"({"mode":"AttachedStale","generation":2})");
  ASSERT_EQ(r.status, 200) << r.text;
  EXPECT_EQ(LastRecordLsn(kMain), lsn);
  EXPECT_EQ(PgClassPage(kMain, lsn).page(0).image(), before);
  r = Call("PUT", loc, R"({"mode":"AttachedMulti","generation":3})");
  ASSERT_EQ(r.status, 200) << r.text;
  EXPECT_EQ(Call("GET", std::string("/v1/tenant/") + kTenant).body["generation"], 3);
  EXPECT_EQ(PgClassPage(kMain, lsn).page(0).image(), before);
  // An older generation than the attached one is refused.
  EXPECT_EQ(Call("PUT", loc, R"({"mode":"AttachedSingle","generation":2})").status / 100, 4);
}

TEST_F(PageserverTest, GetPagesPerRequestStatus) {
  Start();
  CreateTenantAndMain();
  const uint64_t lsn = LastRecordLsn(kMain);
  grpc::ClientContext ctx;
  Context(&ctx, kTenant, kMain);
  auto stream = stub_->GetPages(&ctx);
  struct Req {
    uint64_t request_lsn, nms;
    uint32_t blocks;
    bool has_rel;
    page_api::GetPageStatusCode want;
  };
  const Req reqs[] = {
      {0, 0, 1, true, page_api::GET_PAGE_STATUS_CODE_INVALID_REQUEST},
      {lsn, lsn + 8, 1, true, page_api::GET_PAGE_STATUS_CODE_INVALID_REQUEST},
      {lsn, 0, 0, true, page_api::GET_PAGE_STATUS_CODE_INVALID_REQUEST},
      {lsn, 0, 1, false, page_api::GET_PAGE_STATUS_CODE_INVALID_REQUEST},
      {lsn, 0, 3, true, page_api::GET_PAGE_STATUS_CODE_OK},
      {100000000, 1, 1, true, page_api::GET_PAGE_STATUS_CODE_OK},
  };
  uint64_t id = 0;
  for (const Req& r : reqs) {
    page_api::GetPageRequest req;
    req.mutable_request_id()->set_id(++id);
    req.mutable_read_lsn()->set_request_lsn(r.request_lsn);
    req.mutable_read_lsn()->set_not_modified_since_lsn(r.nms);
    if (r.has_rel) {
      req.mutable_rel()->set_spc_oid(1663);
      req.mutable_rel()->set_db_oid(1);
      req.mutable_rel()->set_rel_number(1259);
    }
    for (uint32_t b = 0; b < r.blocks; ++b) req.add_block_number(b);
    ASSERT_TRUE(stream->Write(req));
    page_api::GetPageResponse resp;
    ASSERT_TRUE(stream->Read(&resp));
    EXPECT_EQ(resp.request_id().id(), id);
    EXPECT_EQ(resp.status_code(), r.want) << id << ": " << resp.reason();
    if (r.want == page_api::GET_PAGE_STATUS_CODE_OK) {
      EXPECT_EQ(resp.page_size(), static_cast<int>(r.blocks));
    } else {
      EXPECT_FALSE(resp.reason().empty());
    }
  }
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
  // The seed's GetDbSize: a request LSN far ahead, not modified since LSN 1.
  grpc::ClientContext ctx2;
  Context(&ctx2, kTenant, kMain);
  page_api::GetDbSizeRequest dbreq;
  dbreq.mutable_read_lsn()->set_request_lsn(100000000);
  dbreq.mutable_read_lsn()->set_not_modified_since_lsn(1);
  dbreq.set_db_oid(1);
  page_api::GetDbSizeResponse dbresp;
  ASSERT_TRUE(stub_->GetDbSize(&ctx2, dbreq, &dbresp).ok());
  EXPECT_GT(dbresp.num_bytes(), 0u);
}

TEST_F(PageserverTest, JwtAuth) {
  Ed25519Key key, other;
  const std::string pem = dir_.WriteFile("auth.pem", key.PublicPem());
  Start({"--public-key=" + pem});
  EXPECT_NE(ps_->Log().find("event=auth_enabled"), std::string::npos);
  const std::string api = key.Sign(R"({"scope":"pageserverapi"})");
  const std::string create = json{{"new_tenant_id", kTenant}}.dump();
  const std::string t = std::string("/v1/tenant/") + kTenant;
  const std::string expired =
      key.Sign(R"({"scope":"pageserverapi","exp":)" + std::to_string(std::time(nullptr) - 60) + "}");
  const std::string forged = other.Sign(R"({"scope":"pageserverapi"})");
  const std::string wrong_scope = key.Sign(R"({"scope":"safekeeperdata"})");
  const std::string own = key.Sign(std::string(R"({"scope":"tenant","tenant_id":")") + kTenant + "\"}");
  const std::string wrong_tenant =
      key.Sign(std::string(R"({"scope":"tenant","tenant_id":")") + kOtherTenant + "\"}");

  EXPECT_EQ(Call("POST", "/v1/tenant", create).status, 401);
  EXPECT_EQ(Call("POST", "/v1/tenant", create, expired).status, 401);
  EXPECT_EQ(Call("POST", "/v1/tenant", create, forged).status, 401);
  EXPECT_EQ(Call("POST", "/v1/tenant", create, "not.a.token").status, 401);
  EXPECT_EQ(Call("POST", "/v1/tenant", create, wrong_scope).status, 403);
  EXPECT_EQ(Call("POST", "/v1/tenant", create, own).status, 403);  // tenant scope: no node routes
  EXPECT_EQ(Call("POST", "/v1/tenant", create, api).status, 201);
  EXPECT_EQ(Call("GET", t, "", own).status, 200);
  EXPECT_EQ(Call("GET", t, "", wrong_tenant).status, 403);
  EXPECT_EQ(Call("GET", t, "", wrong_scope).status, 403);
  EXPECT_EQ(Call("GET", t, "", expired).status, 401);
  EXPECT_EQ(Call("GET", t, "").status, 401);
  EXPECT_EQ(Call("GET", "/v1/status").status, 200);  // health needs no token

  uint32_t blocks = 0;
  EXPECT_EQ(RelSize(kMain, 100, &blocks).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(RelSize(kMain, 100, &blocks, kTenant, expired).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(RelSize(kMain, 100, &blocks, kTenant, forged).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(RelSize(kMain, 100, &blocks, kTenant, wrong_scope).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(RelSize(kMain, 100, &blocks, kTenant, wrong_tenant).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  // Authorized: the timeline does not exist.
  EXPECT_EQ(RelSize(kMain, 100, &blocks, kTenant, own).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(RelSize(kMain, 100, &blocks, kTenant, api).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(PageserverTest, NoWalredoAndBadFlags) {
  Start({"--walredo-path="});
  EXPECT_NE(ps_->Log().find("event=walredo_disabled"), std::string::npos);
  EXPECT_EQ(ps_->Stop(), 0);
  std::string error;
  EXPECT_EQ(PageserverProcess::Start(dir_.path() + "/x", {"--bogus=1"}, &error), nullptr);
  EXPECT_NE(error.find("bogus"), std::string::npos) << error;
}

// A read waiting for an LSN that never comes must not hold up SIGTERM: the engine's shutdown
// ends it with CANCELLED and the server exits cleanly.
TEST_F(PageserverTest, ShutdownEndsReadsWaitingForWal) {
  Start({"--broker-endpoint", "none"});
  CreateTenantAndMain();
  const uint64_t last = LastRecordLsn(kMain);
  grpc::Status waited;
  std::thread reader([&] {
    grpc::ClientContext ctx;
    Context(&ctx, kTenant, kMain);
    page_api::GetRelSizeRequest req;
    req.mutable_read_lsn()->set_request_lsn(last + 1000000);
    req.mutable_read_lsn()->set_not_modified_since_lsn(last + 1000000);
    req.mutable_rel()->set_spc_oid(1663);
    req.mutable_rel()->set_db_oid(1);
    req.mutable_rel()->set_rel_number(1259);
    page_api::GetRelSizeResponse resp;
    waited = stub_->GetRelSize(&ctx, req, &resp);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the read is waiting
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(ps_->Stop(), 0) << ps_->Log();
  reader.join();
  EXPECT_FALSE(waited.ok());
  // Far below the 300 s wait_lsn_timeout: the stop did not wait the read out.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(60));
}

}  // namespace
}  // namespace neon::testing
