// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "bench/pagebench/load.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <functional>
#include <thread>

#include "base/str_cat.h"
#include "echo.grpc.pb.h"
#include "page_service.grpc.pb.h"

namespace neon::pagebench {
namespace {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The phases of a run, in steady-clock nanoseconds.
struct Window {
  int64_t measure_ns = 0;  // requests issued from here on count
  int64_t end_ns = 0;      // no request is issued after this
};

struct ClientStats {
  uint64_t requests = 0, pages = 0, errors = 0;
  std::string first_error;
  std::vector<int64_t> latency_ns;

  void Fail(std::string what) {
    if (errors++ == 0) first_error = std::move(what);
  }
  void Count(const Window& w, int64_t issued_ns, int64_t done_ns, uint32_t pages_done) {
    if (issued_ns < w.measure_ns) return;
    requests++;
    pages += pages_done;
    latency_ns.push_back(done_ns - issued_ns);
  }
};

using ClientBody = std::function<void(int client, const Window& w, ClientStats* stats)>;

LoadResult RunClients(const LoadOptions& o, const ClientBody& body) {
  Window w;
  w.measure_ns = NowNs() + int64_t(o.warmup * 1e9);
  w.end_ns = w.measure_ns + int64_t(o.seconds * 1e9);
  std::vector<ClientStats> stats(size_t(o.clients));
  std::vector<std::thread> threads;
  for (int i = 0; i < o.clients; i++) threads.emplace_back([&, i] { body(i, w, &stats[size_t(i)]); });
  for (std::thread& t : threads) t.join();
  LoadResult r;
  r.seconds = o.seconds;
  for (ClientStats& s : stats) {
    r.requests += s.requests;
    r.pages += s.pages;
    if (s.errors > 0 && r.errors == 0) r.first_error = s.first_error;
    r.errors += s.errors;
    r.latency_ns.insert(r.latency_ns.end(), s.latency_ns.begin(), s.latency_ns.end());
  }
  std::sort(r.latency_ns.begin(), r.latency_ns.end());
  return r;
}

// A closed loop of `depth` requests in flight on one stream. `issue(id)` writes request
// `id` (false: the stream broke); `complete(id)` reads the next answer and checks it is
// the answer to `id` (false: stop, stats hold the error).
void ClosedLoop(const LoadOptions& o, const Window& w, ClientStats* st,
                const std::function<bool(uint64_t)>& issue,
                const std::function<bool(uint64_t)>& complete) {
  std::deque<std::pair<uint64_t, int64_t>> inflight;  // id, issue time
  uint64_t next_id = 1;
  auto start = [&] {
    inflight.emplace_back(next_id, NowNs());
    if (issue(next_id++)) return true;
    st->Fail("stream write failed");
    return false;
  };
  bool ok = true;
  for (uint32_t k = 0; k < o.depth && ok; k++) ok = start();
  while (ok && !inflight.empty()) {
    const auto [id, issued_ns] = inflight.front();
    inflight.pop_front();
    if (!complete(id)) break;
    const int64_t done_ns = NowNs();
    st->Count(w, issued_ns, done_ns, o.batch);
    if (done_ns < w.end_ns) ok = start();
  }
}

std::unique_ptr<grpc::ClientContext> NewContext(const Dataset* d) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (d != nullptr) {
    ctx->AddMetadata("neon-tenant-id", d->tenant.tenant_id.ToString());
    ctx->AddMetadata("neon-timeline-id", d->timeline.ToString());
    ctx->AddMetadata("neon-shard-id", "0000");
  }
  return ctx;
}

// A channel of its own (its own TCP connection), as separate computes would have.
std::shared_ptr<grpc::Channel> OwnChannel(const std::string& target) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetMaxReceiveMessageSize(64 << 20);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

void FillRequest(const Dataset& d, uint64_t id, const std::vector<uint32_t>& blocks, Lsn lsn,
                 page_api::GetPageRequest* req) {
  req->Clear();
  req->mutable_request_id()->set_id(id);
  req->mutable_read_lsn()->set_request_lsn(lsn.value());
  req->mutable_rel()->set_spc_oid(kBenchRel.spc_oid);
  req->mutable_rel()->set_db_oid(kBenchRel.db_oid);
  req->mutable_rel()->set_rel_number(kBenchRel.rel_number);
  req->mutable_rel()->set_fork_number(kBenchRel.fork);
  for (uint32_t b : blocks) req->add_block_number(b);
}

// Why `resp` is not the OK answer to request `id` for `blocks` ("" if it is).
std::string CheckAnswer(uint64_t id, const std::vector<uint32_t>& blocks,
                        const page_api::GetPageResponse& resp) {
  if (resp.request_id().id() != id) {
    return StrCat("answer to request ", resp.request_id().id(), " where ", id, " was expected");
  }
  if (resp.status_code() != page_api::GET_PAGE_STATUS_CODE_OK) {
    return StrCat("request ", id, ": status ", int(resp.status_code()), ": ", resp.reason());
  }
  if (resp.page_size() != int(blocks.size())) {
    return StrCat("request ", id, ": ", resp.page_size(), " pages for ", blocks.size(), " blocks");
  }
  for (int i = 0; i < resp.page_size(); i++) {
    if (resp.page(i).block_number() != blocks[size_t(i)] || resp.page(i).image().size() != kPageSize) {
      return StrCat("request ", id, ": page ", i, " is block ", resp.page(i).block_number(), " of ",
                    resp.page(i).image().size(), " bytes");
    }
  }
  return "";
}

}  // namespace

double LoadResult::PercentileUs(double q) const {
  if (latency_ns.empty()) return 0;
  const size_t i = std::min(latency_ns.size() - 1, size_t(q * double(latency_ns.size())));
  return double(latency_ns[i]) / 1000.0;
}

void LoadResult::Merge(const LoadResult& other) {
  requests += other.requests;
  pages += other.pages;
  seconds += other.seconds;
  if (errors == 0) first_error = other.first_error;
  errors += other.errors;
  latency_ns.insert(latency_ns.end(), other.latency_ns.begin(), other.latency_ns.end());
  std::sort(latency_ns.begin(), latency_ns.end());
}

void RequestStream::Next(std::vector<uint32_t>* blocks, Lsn* lsn) {
  blocks->clear();
  for (uint32_t i = 0; i < o_.batch; i++) blocks->push_back(uint32_t(rng_() % d_.pages));
  if (d_.rounds.size() > 1 && rng_() % 100 < o_.historic_percent) {
    *lsn = d_.rounds[size_t(rng_() % (d_.rounds.size() - 1))];
  } else {
    *lsn = d_.latest;
  }
}

LoadResult RunInProcess(Timeline* tl, const Dataset& d, const LoadOptions& o) {
  return RunClients(o, [&](int client, const Window& w, ClientStats* st) {
    RequestStream gen(d, o, 1000 + uint64_t(client));
    std::vector<uint32_t> blocks;
    std::vector<absl::StatusOr<std::string>> pages;
    Lsn lsn;
    for (;;) {
      const int64_t t0 = NowNs();
      if (t0 >= w.end_ns) break;
      gen.Next(&blocks, &lsn);
      const ReadLsn read{lsn, Lsn()};
      absl::Status s;
      if (blocks.size() == 1) {
        absl::StatusOr<std::string> page = tl->GetRelPage(kBenchRel, blocks[0], read);
        s = page.ok() && page->size() != kPageSize ? absl::DataLossError("short page") : page.status();
      } else {
        s = tl->GetRelPages(kBenchRel, blocks, read, &pages);
        for (size_t i = 0; s.ok() && i < pages.size(); i++) {
          s = pages[i].ok() && pages[i]->size() != kPageSize ? absl::DataLossError("short page")
                                                              : pages[i].status();
        }
      }
      if (!s.ok()) {
        st->Fail(std::string(s.message()));
        return;
      }
      st->Count(w, t0, NowNs(), o.batch);
    }
  });
}

LoadResult RunGetPages(const std::string& target, const Dataset& d, const LoadOptions& o) {
  return RunClients(o, [&](int client, const Window& w, ClientStats* st) {
    auto stub = page_api::PageService::NewStub(OwnChannel(target));
    auto ctx = NewContext(&d);
    auto stream = stub->GetPages(ctx.get());
    RequestStream gen(d, o, 1000 + uint64_t(client));
    std::deque<std::vector<uint32_t>> sent;  // blocks of each request in flight
    page_api::GetPageRequest req;
    page_api::GetPageResponse resp;
    Lsn lsn;
    ClosedLoop(
        o, w, st,
        [&](uint64_t id) {
          sent.emplace_back();
          gen.Next(&sent.back(), &lsn);
          FillRequest(d, id, sent.back(), lsn, &req);
          return stream->Write(req);
        },
        [&](uint64_t id) {
          if (!stream->Read(&resp)) {
            st->Fail("the stream ended early");
            return false;
          }
          const std::string bad = CheckAnswer(id, sent.front(), resp);
          sent.pop_front();
          if (!bad.empty()) st->Fail(bad);
          return bad.empty();
        });
    stream->WritesDone();
    if (st->errors > 0) ctx->TryCancel();
    const grpc::Status s = stream->Finish();
    if (!s.ok() && st->errors == 0) st->Fail("GetPages: " + s.error_message());
  });
}

LoadResult RunEcho(const std::string& target, const LoadOptions& o) {
  return RunClients(o, [&](int client, const Window& w, ClientStats* st) {
    auto stub = echo_bench::Echo::NewStub(OwnChannel(target));
    auto ctx = NewContext(nullptr);
    auto stream = stub->Pages(ctx.get());
    const uint32_t reply_bytes = uint32_t(kPageSize) * o.batch;
    echo_bench::EchoRequest req;
    echo_bench::EchoReply reply;
    ClosedLoop(
        o, w, st,
        [&](uint64_t id) {
          req.set_id(id);
          req.set_reply_bytes(reply_bytes);
          return stream->Write(req);
        },
        [&](uint64_t id) {
          if (!stream->Read(&reply)) {
            st->Fail("the echo stream ended early");
            return false;
          }
          if (reply.id() != id || reply.payload().size() != reply_bytes) {
            st->Fail(StrCat("echo reply ", reply.id(), " of ", reply.payload().size(), " bytes"));
            return false;
          }
          return true;
        });
    stream->WritesDone();
    if (st->errors > 0) ctx->TryCancel();
    const grpc::Status s = stream->Finish();
    if (!s.ok() && st->errors == 0) st->Fail("Echo: " + s.error_message());
  });
}

absl::StatusOr<std::vector<std::string>> FetchPages(const std::string& target, const Dataset& d,
                                                    const std::vector<uint32_t>& blocks,
                                                    const std::vector<Lsn>& lsns) {
  auto stub = page_api::PageService::NewStub(OwnChannel(target));
  auto ctx = NewContext(&d);
  auto stream = stub->GetPages(ctx.get());
  std::vector<std::string> pages;
  page_api::GetPageRequest req;
  page_api::GetPageResponse resp;
  for (size_t i = 0; i < blocks.size(); i++) {
    FillRequest(d, i + 1, {blocks[i]}, lsns[i], &req);
    if (!stream->Write(req) || !stream->Read(&resp)) break;
    if (std::string bad = CheckAnswer(i + 1, {blocks[i]}, resp); !bad.empty()) {
      ctx->TryCancel();
      stream->Finish();
      return absl::InternalError(bad);
    }
    pages.push_back(resp.page(0).image());
  }
  stream->WritesDone();
  const grpc::Status s = stream->Finish();
  if (!s.ok()) return absl::UnavailableError("GetPages: " + s.error_message());
  if (pages.size() != blocks.size()) return absl::UnavailableError("GetPages stream ended early");
  return pages;
}

}  // namespace neon::pagebench
