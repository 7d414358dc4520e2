// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// BrokerClient: the safekeeper's use of storage_broker.BrokerService (reference 8.3), on three
// threads, each a loop that reconnects with backoff (kBrokerRetryMinUs doubling up to
// kBrokerRetryMaxUs) when its call fails:
//
//   push       one PublishSafekeeperInfo stream; once a second a SafekeeperTimelineInfo for
//              every active timeline (Timeline::IsActive), with safekeeper_connstr = the gRPC
//              WAL service address and http_connstr = the HTTP address.
//   pull       SubscribeSafekeeperInfo(all): infos about timelines served here update their
//              peer tables (Timeline::OnPeerInfo, max-merging backup and remote_consistent).
//   discovery  SubscribeByFilter(SAFEKEEPER_DISCOVERY_REQUEST): a request for a timeline
//              served here is answered with PublishOne(SAFEKEEPER_DISCOVERY_RESPONSE), even
//              if the timeline is inactive.
//
// With an auth token, every call carries `authorization: Bearer <token>`.
//
// Thread safety: Start() and Stop() from one thread; the loops only read the registry.

#ifndef NEON_SERVERS_SAFEKEEPER_BROKER_CLIENT_H_
#define NEON_SERVERS_SAFEKEEPER_BROKER_CLIENT_H_

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "safekeeper/timeline_registry.h"
#include "storage_broker.grpc.pb.h"

namespace neon::safekeeper {

inline constexpr int64_t kBrokerPushIntervalUs = 1'000'000;
inline constexpr int64_t kBrokerRetryMinUs = 100'000;
inline constexpr int64_t kBrokerRetryMaxUs = 2'000'000;

// The broker message describing `tl` as this safekeeper sees it.
storage_broker::SafekeeperTimelineInfo MakeTimelineInfo(const Timeline& tl,
                                                        const SafekeeperConfig& config);
// A received broker message as a peer entry (heard now).
PeerInfo ToPeerInfo(const storage_broker::SafekeeperTimelineInfo& info);

class BrokerClient {
 public:
  // `endpoint` is host:port. `registry` and `ctx` outlive the client.
  BrokerClient(std::string endpoint, TimelineRegistry* registry, const SafekeeperContext* ctx);
  ~BrokerClient();  // Stop()

  void Start();
  // Ends the loops (cancelling their calls) and joins the threads.
  void Stop();

 private:
  // One call of each loop; returns when the call ends (its status in `*status`), true if
  // it got anything through.
  bool PushOnce(grpc::ClientContext* ctx, grpc::Status* status);
  bool PullOnce(grpc::ClientContext* ctx, grpc::Status* status);
  bool DiscoverOnce(grpc::ClientContext* ctx, grpc::Status* status);
  void Answer(const storage_broker::SafekeeperDiscoveryRequest& req);
  // Sets up a call context (auth metadata) and registers it for cancellation; false when
  // stopping.
  bool Prepare(grpc::ClientContext* ctx);
  void Release(grpc::ClientContext* ctx);
  // Sleeps up to `us`; false when stopping.
  bool Sleep(int64_t us);
  // Runs `once` until stopping, backing off after each call (a call that got something
  // through resets the backoff). A failure is logged as a warning once per outage.
  using Once = std::function<bool(grpc::ClientContext*, grpc::Status*)>;
  void Loop(const char* name, const Once& once);

  const std::string endpoint_;
  TimelineRegistry* const registry_;
  const SafekeeperContext* const ctx_;
  std::unique_ptr<storage_broker::BrokerService::Stub> stub_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::set<grpc::ClientContext*> calls_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_;
};

}  // namespace neon::safekeeper

#endif  // NEON_SERVERS_SAFEKEEPER_BROKER_CLIENT_H_
