// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// The pageserver's GetPages stream on loopback, pipelined: many requests written ahead of
// the answers on one stream (answered in request order with their own request ids and
// the right pages), bad requests in the middle of good ones (each gets its own status
// code, the rest succeed), several streams at once, a client that cancels with requests
// in flight, and a shutdown with an open stream.

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "httplib.h"
#include "nlohmann/json.hpp"
#include "page_service.grpc.pb.h"
#include "servers/broker_process.h"
#include "servers/pageserver_process.h"

namespace neon::testing {
namespace {

using nlohmann::json;
using page_api::GetPageRequest;
using page_api::GetPageResponse;

constexpr auto kCallTimeout = std::chrono::seconds(60);
constexpr char kTenant[] = "4cc8fcc61f6d357410b7de754b1d9004";
constexpr char kMain[] = "be200bd42b49cc1814412c7e592dd6e7";
// Catalog relations of database 1 (template1) that initdb fills with several blocks.
constexpr uint32_t kDb = 1;
constexpr uint32_t kPgClass = 1259;
constexpr uint32_t kPgAttribute = 1249;

struct RelPages {
  std::vector<std::string> pages;  // by block number
};

class GetPagesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ps_ = PageserverProcess::Start(dir_.path() + "/ps", {}, &error);
    ASSERT_NE(ps_, nullptr) << error;
    stub_ = page_api::PageService::NewStub(
        grpc::CreateChannel(ps_->grpc_target(), grpc::InsecureChannelCredentials()));
    httplib::Client c("127.0.0.1", ps_->http_port());
    c.set_read_timeout(120);
    auto r = c.Post("/v1/tenant", json{{"new_tenant_id", kTenant}}.dump(), "application/json");
    ASSERT_TRUE(r && r->status == 201) << (r ? r->body : "no reply");
    r = c.Post(std::string("/v1/tenant/") + kTenant + "/timeline",
               json{{"new_timeline_id", kMain}, {"pg_version", 15}}.dump(), "application/json");
    ASSERT_TRUE(r && r->status == 201) << (r ? r->body : "no reply") << "\n" << ps_->Log();
    const std::string text = json::parse(r->body).value("last_record_lsn", "0/0");
    const size_t slash = text.find('/');
    lsn_ = (std::stoull(text.substr(0, slash), nullptr, 16) << 32) |
           std::stoull(text.substr(slash + 1), nullptr, 16);
    ASSERT_GT(lsn_, 0u);
    // The reference pages: each relation read whole, one request at a time.
    for (uint32_t rel : {kPgClass, kPgAttribute}) {
      const uint32_t n = RelSize(rel);
      ASSERT_GT(n, 2u) << rel;
      ASSERT_LE(n, 256u) << rel;
      auto stream = NewStream();
      GetPageRequest req = Request(1, rel, 0, n);
      ASSERT_TRUE(stream.rw->Write(req));
      GetPageResponse resp;
      ASSERT_TRUE(stream.rw->Read(&resp));
      ASSERT_EQ(resp.status_code(), page_api::GET_PAGE_STATUS_CODE_OK) << resp.reason();
      ASSERT_EQ(resp.page_size(), static_cast<int>(n));
      for (const page_api::Page& p : resp.page()) {
        ASSERT_EQ(p.image().size(), 8192u);
        reference_[rel].pages.push_back(p.image());
      }
      stream.rw->WritesDone();
      ASSERT_TRUE(stream.rw->Finish().ok());
    }
    // Distinct pages, so that a page in the wrong answer cannot pass.
    ASSERT_NE(reference_[kPgClass].pages[0], reference_[kPgClass].pages[1]);
  }

  void TearDown() override {
    if (ps_ != nullptr) {
      EXPECT_EQ(ps_->Stop(), 0) << ps_->Log();
    }
  }

  struct Stream {
    std::unique_ptr<grpc::ClientContext> ctx;
    std::unique_ptr<grpc::ClientReaderWriter<GetPageRequest, GetPageResponse>> rw;
  };
  Stream NewStream() {
    Stream s;
    s.ctx = std::make_unique<grpc::ClientContext>();
    s.ctx->set_deadline(std::chrono::system_clock::now() + kCallTimeout);
    s.ctx->AddMetadata("neon-tenant-id", kTenant);
    s.ctx->AddMetadata("neon-timeline-id", kMain);
    s.ctx->AddMetadata("neon-shard-id", "0000");
    s.rw = stub_->GetPages(s.ctx.get());
    return s;
  }

  uint32_t RelSize(uint32_t rel) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + kCallTimeout);
    ctx.AddMetadata("neon-tenant-id", kTenant);
    ctx.AddMetadata("neon-timeline-id", kMain);
    page_api::GetRelSizeRequest req;
    req.mutable_read_lsn()->set_request_lsn(lsn_);
    req.mutable_rel()->set_spc_oid(1663);
    req.mutable_rel()->set_db_oid(kDb);
    req.mutable_rel()->set_rel_number(rel);
    page_api::GetRelSizeResponse resp;
    grpc::Status s = stub_->GetRelSize(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.num_blocks();
  }

  // `count` blocks of `rel` from `first`, at the timeline's LSN.
  GetPageRequest Request(uint64_t id, uint32_t rel, uint32_t first, uint32_t count) const {
    GetPageRequest req;
    req.mutable_request_id()->set_id(id);
    req.mutable_request_id()->set_attempt(static_cast<uint32_t>(id % 3));
    req.mutable_read_lsn()->set_request_lsn(lsn_);
    req.mutable_rel()->set_spc_oid(1663);
    req.mutable_rel()->set_db_oid(kDb);
    req.mutable_rel()->set_rel_number(rel);
    for (uint32_t b = first; b < first + count; b++) req.add_block_number(b);
    return req;
  }

  // A random valid request: one relation, 1..4 blocks (some past the end), and one of
  // several equivalent read LSNs (so that neighbours are sometimes mergeable, sometimes not).
  GetPageRequest RandomRequest(uint64_t id, std::mt19937* rng) const {
    const uint32_t rel = (*rng)() % 2 == 0 ? kPgClass : kPgAttribute;
    const uint32_t n = static_cast<uint32_t>(reference_.at(rel).pages.size());
    GetPageRequest req = Request(id, rel, 0, 0);
    const uint32_t blocks = 1 + (*rng)() % 4;
    for (uint32_t i = 0; i < blocks; i++) req.add_block_number((*rng)() % (n + 2));
    switch ((*rng)() % 3) {
      case 0:
        break;  // at the timeline's LSN
      case 1:
        req.mutable_read_lsn()->set_request_lsn(UINT64_MAX);  // latest...
        req.mutable_read_lsn()->set_not_modified_since_lsn(lsn_);  // ...not changed since
        break;
      case 2:
        req.mutable_read_lsn()->set_request_lsn(lsn_ + 0x1000);  // clamped to what exists,
        req.mutable_read_lsn()->set_not_modified_since_lsn(lsn_ - 8);  // as it has not changed
        break;
    }
    return req;
  }

  // The answer `resp` must be the OK answer to `req`, with the reference pages.
  void ExpectAnswer(const GetPageRequest& req, const GetPageResponse& resp) const {
    ASSERT_EQ(resp.request_id().id(), req.request_id().id());
    ASSERT_EQ(resp.request_id().attempt(), req.request_id().attempt());
    ASSERT_EQ(resp.status_code(), page_api::GET_PAGE_STATUS_CODE_OK)
        << req.request_id().id() << ": " << resp.reason();
    EXPECT_EQ(resp.rel().rel_number(), req.rel().rel_number());
    ASSERT_EQ(resp.page_size(), req.block_number_size());
    const std::vector<std::string>& ref = reference_.at(req.rel().rel_number()).pages;
    for (int i = 0; i < req.block_number_size(); i++) {
      const uint32_t blk = req.block_number(i);
      ASSERT_EQ(resp.page(i).block_number(), blk);
      const std::string want = blk < ref.size() ? ref[blk] : std::string(8192, '\0');
      ASSERT_TRUE(resp.page(i).image() == want)
          << "request " << req.request_id().id() << " block " << blk << " differs";
    }
  }

  // Writes `reqs` on a new stream from another thread (without waiting for answers) while
  // this thread reads; returns the answers in arrival order.
  std::vector<GetPageResponse> Pipeline(const std::vector<GetPageRequest>& reqs) {
    Stream stream = NewStream();
    std::thread writer([&] {
      for (const GetPageRequest& r : reqs) {
        if (!stream.rw->Write(r)) return;
      }
      stream.rw->WritesDone();
    });
    std::vector<GetPageResponse> out;
    GetPageResponse resp;
    while (out.size() < reqs.size() && stream.rw->Read(&resp)) out.push_back(resp);
    writer.join();
    const grpc::Status s = stream.rw->Finish();
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }

  TempDir dir_;
  std::unique_ptr<PageserverProcess> ps_;
  std::unique_ptr<page_api::PageService::Stub> stub_;
  uint64_t lsn_ = 0;
  std::map<uint32_t, RelPages> reference_;
};

TEST_F(GetPagesTest, PipelinedRequestsAreAnsweredInOrder) {
  std::mt19937 rng(1);
  std::vector<GetPageRequest> reqs;
  for (uint64_t id = 1; id <= 600; id++) reqs.push_back(RandomRequest(id, &rng));
  // Runs of identical-LSN requests of one relation: the ones the server may merge.
  for (uint64_t id = 601; id <= 700; id++) reqs.push_back(Request(id, kPgClass, id % 3, 1));
  const std::vector<GetPageResponse> answers = Pipeline(reqs);
  ASSERT_EQ(answers.size(), reqs.size());
  for (size_t i = 0; i < reqs.size(); i++) {
    SCOPED_TRACE(i);
    ExpectAnswer(reqs[i], answers[i]);
    if (HasFatalFailure()) return;
  }
}

TEST_F(GetPagesTest, BadRequestsInTheMiddleGetTheirOwnStatus) {
  struct Bad {
    GetPageRequest req;
    page_api::GetPageStatusCode want;
  };
  std::vector<Bad> bad;
  auto add = [&](GetPageRequest r, page_api::GetPageStatusCode want) { bad.push_back({r, want}); };
  const auto kInvalid = page_api::GET_PAGE_STATUS_CODE_INVALID_REQUEST;
  GetPageRequest r = Request(0, kPgClass, 0, 1);
  r.clear_rel();
  add(r, kInvalid);  // no relation
  r = Request(0, kPgClass, 0, 1);
  r.mutable_rel()->set_fork_number(7);
  add(r, kInvalid);  // no such fork
  add(Request(0, kPgClass, 0, 0), kInvalid);  // no blocks
  add(Request(0, kPgClass, 0, 257), kInvalid);  // too many blocks
  r = Request(0, kPgClass, 0, 1);
  r.mutable_read_lsn()->set_request_lsn(0);
  add(r, kInvalid);  // request_lsn 0
  r = Request(0, kPgClass, 0, 1);
  r.mutable_read_lsn()->set_not_modified_since_lsn(lsn_ + 8);
  add(r, kInvalid);  // request_lsn below not_modified_since
  add(Request(0, 999999, 0, 2), page_api::GET_PAGE_STATUS_CODE_NOT_FOUND);  // no such relation

  // Each bad request sits between good requests of the same relation and LSN (which the
  // server could merge with it if it did not check first).
  std::vector<GetPageRequest> reqs;
  std::vector<page_api::GetPageStatusCode> want;
  uint64_t id = 0;
  for (int round = 0; round < 3; round++) {
    for (const Bad& b : bad) {
      reqs.push_back(Request(++id, kPgClass, 0, 2));
      want.push_back(page_api::GET_PAGE_STATUS_CODE_OK);
      GetPageRequest req = b.req;
      req.mutable_request_id()->set_id(++id);
      reqs.push_back(req);
      want.push_back(b.want);
      reqs.push_back(Request(++id, kPgClass, 1, 1));
      want.push_back(page_api::GET_PAGE_STATUS_CODE_OK);
    }
  }
  const std::vector<GetPageResponse> answers = Pipeline(reqs);
  ASSERT_EQ(answers.size(), reqs.size());
  for (size_t i = 0; i < reqs.size(); i++) {
    SCOPED_TRACE(i);
    if (want[i] == page_api::GET_PAGE_STATUS_CODE_OK) {
      ExpectAnswer(reqs[i], answers[i]);
      if (HasFatalFailure()) return;
      continue;
    }
    EXPECT_EQ(answers[i].request_id().id(), reqs[i].request_id().id());
    EXPECT_EQ(answers[i].status_code(), want[i]) << answers[i].reason();
    EXPECT_FALSE(answers[i].reason().empty());
    EXPECT_EQ(answers[i].page_size(), 0);
  }
}

TEST_F(GetPagesTest, ConcurrentStreams) {
  constexpr int kStreams = 8;
  std::vector<std::vector<GetPageRequest>> reqs(kStreams);
  std::vector<std::vector<GetPageResponse>> answers(kStreams);
  for (int s = 0; s < kStreams; s++) {
    std::mt19937 rng(100 + s);
    for (uint64_t id = 1; id <= 200; id++) reqs[s].push_back(RandomRequest(id * 1000 + s, &rng));
  }
  std::vector<std::thread> clients;
  for (int s = 0; s < kStreams; s++) {
    clients.emplace_back([&, s] { answers[s] = Pipeline(reqs[s]); });
  }
  for (std::thread& t : clients) t.join();
  for (int s = 0; s < kStreams; s++) {
    SCOPED_TRACE(s);
    ASSERT_EQ(answers[s].size(), reqs[s].size());
    for (size_t i = 0; i < reqs[s].size(); i++) {
      ExpectAnswer(reqs[s][i], answers[s][i]);
      if (HasFatalFailure()) return;
    }
  }
}

// A read waiting for an LSN that is never ingested holds up only its own stream: other
// streams are served meanwhile, and a shutdown does not wait for it.
TEST_F(GetPagesTest, WaitingReadHoldsOnlyItsStream) {
  Stream waiting = NewStream();
  GetPageRequest future = Request(1, kPgClass, 0, 1);
  future.mutable_read_lsn()->set_request_lsn(lsn_ + 0x100000);
  future.mutable_read_lsn()->set_not_modified_since_lsn(lsn_ + 0x100000);
  ASSERT_TRUE(waiting.rw->Write(future));
  ASSERT_TRUE(waiting.rw->Write(Request(2, kPgClass, 1, 1)));  // queued behind it
  // Other streams, one after the other, are served while it waits.
  std::mt19937 rng(3);
  for (int s = 0; s < 6; s++) {
    std::vector<GetPageRequest> reqs;
    for (uint64_t id = 1; id <= 20; id++) reqs.push_back(RandomRequest(id, &rng));
    const std::vector<GetPageResponse> answers = Pipeline(reqs);
    ASSERT_EQ(answers.size(), reqs.size());
    for (size_t i = 0; i < reqs.size(); i++) ExpectAnswer(reqs[i], answers[i]);
  }
  EXPECT_EQ(ps_->Stop(), 0) << ps_->Log();
  ps_.reset();
  // The waiting read never succeeded: the stream ended, or the read failed with the
  // timeline shutting down.
  GetPageResponse resp;
  if (waiting.rw->Read(&resp)) {
    EXPECT_EQ(resp.request_id().id(), 1u);
    EXPECT_NE(resp.status_code(), page_api::GET_PAGE_STATUS_CODE_OK);
  }
  waiting.ctx->TryCancel();
  waiting.rw->Finish();
}

// A client that goes away with requests in flight, and another that is still reading
// when the server is asked to stop: the server keeps serving, then exits cleanly.
TEST_F(GetPagesTest, CancelledStreamsAndShutdown) {
  for (int attempt = 0; attempt < 3; attempt++) {
    Stream stream = NewStream();
    for (uint64_t id = 1; id <= 100; id++) {
      ASSERT_TRUE(stream.rw->Write(Request(id, kPgAttribute, 0, 8)));
    }
    GetPageResponse resp;
    ASSERT_TRUE(stream.rw->Read(&resp));
    stream.ctx->TryCancel();
    EXPECT_EQ(stream.rw->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  // Still serving.
  std::mt19937 rng(5);
  std::vector<GetPageRequest> reqs;
  for (uint64_t id = 1; id <= 50; id++) reqs.push_back(RandomRequest(id, &rng));
  const std::vector<GetPageResponse> answers = Pipeline(reqs);
  ASSERT_EQ(answers.size(), reqs.size());
  for (size_t i = 0; i < reqs.size(); i++) ExpectAnswer(reqs[i], answers[i]);
  // An open stream with unread answers: SIGTERM still ends the server with status 0.
  Stream open = NewStream();
  for (uint64_t id = 1; id <= 64; id++) ASSERT_TRUE(open.rw->Write(Request(id, kPgAttribute, 0, 4)));
  GetPageResponse first;
  ASSERT_TRUE(open.rw->Read(&first));
  ExpectAnswer(Request(1, kPgAttribute, 0, 4), first);
  EXPECT_EQ(ps_->Stop(), 0) << ps_->Log();
  ps_.reset();
  open.ctx->TryCancel();
  open.rw->Finish();
}

}  // namespace
}  // namespace neon::testing
