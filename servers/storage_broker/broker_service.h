// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// BrokerServiceImpl: storage_broker.BrokerService on gRPC's callback API. Streams are
// reactors driven by gRPC's own threads (no thread per stream): a publication stream reads
// one message at a time and hands it to Broker::Publish; a subscription stream writes one
// message at a time from its UpdateQueue, so a subscriber that stops reading only grows its
// bounded queue. SubscribeByFilter and PublishOne carry typed messages (timeline infos and the
// pageservers' safekeeper discovery requests and the answers).
//
// Auth: with a JwtVerifier, every call needs `authorization: Bearer <jwt>` with scope
// safekeeperdata, pageserverapi or admin (UNAUTHENTICATED / PERMISSION_DENIED otherwise).
//
// Thread safety: called by gRPC from any thread.
// Broker::CloseAll() ends open subscriptions (UNAVAILABLE) so the server can stop promptly.

#ifndef NEON_SERVERS_STORAGE_BROKER_BROKER_SERVICE_H_
#define NEON_SERVERS_STORAGE_BROKER_BROKER_SERVICE_H_

#include <cstddef>

#include "common/jwt.h"
#include "storage_broker.grpc.pb.h"
#include "storage_broker/broker.h"

namespace neon::broker {

class BrokerServiceImpl final : public storage_broker::BrokerService::CallbackService {
 public:
  // `broker` and `verifier` (nullptr = auth off) are not owned and outlive the service.
  BrokerServiceImpl(Broker* broker, const server::JwtVerifier* verifier, size_t max_pending_updates)
      : broker_(broker), verifier_(verifier), max_pending_updates_(max_pending_updates) {}

  grpc::ServerWriteReactor<Info>* SubscribeSafekeeperInfo(
      grpc::CallbackServerContext* context,
      const storage_broker::SubscribeSafekeeperInfoRequest* request) override;

  grpc::ServerReadReactor<Info>* PublishSafekeeperInfo(grpc::CallbackServerContext* context,
                                                       google::protobuf::Empty* response) override;

  grpc::ServerWriteReactor<Msg>* SubscribeByFilter(
      grpc::CallbackServerContext* context,
      const storage_broker::SubscribeByFilterRequest* request) override;

  grpc::ServerUnaryReactor* PublishOne(grpc::CallbackServerContext* context, const Msg* request,
                                       google::protobuf::Empty* response) override;

 private:
  grpc::Status CheckAuth(const grpc::CallbackServerContext* context) const;

  Broker* const broker_;
  const server::JwtVerifier* const verifier_;
  const size_t max_pending_updates_;
};

}  // namespace neon::broker

#endif  // NEON_SERVERS_STORAGE_BROKER_BROKER_SERVICE_H_
