// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "bench/pagebench/echo_server.h"

#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "echo.grpc.pb.h"

namespace neon::pagebench {
namespace {

constexpr uint32_t kMaxReplyBytes = 4u << 20;

class EchoReactor final : public grpc::ServerBidiReactor<echo_bench::EchoRequest, echo_bench::EchoReply> {
 public:
  EchoReactor() { StartRead(&req_); }

  void OnReadDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status::OK);
      return;
    }
    if (req_.reply_bytes() > kMaxReplyBytes) {
      Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "reply_bytes above 4 MiB"));
      return;
    }
    if (payload_.size() != req_.reply_bytes()) payload_.assign(req_.reply_bytes(), 'e');
    reply_.set_id(req_.id());
    reply_.set_payload(payload_);
    StartWrite(&reply_);
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "write failed"));
      return;
    }
    StartRead(&req_);
  }
  void OnDone() override { delete this; }

 private:
  echo_bench::EchoRequest req_;
  echo_bench::EchoReply reply_;
  std::string payload_;
};

class EchoService final : public echo_bench::Echo::CallbackService {
  grpc::ServerBidiReactor<echo_bench::EchoRequest, echo_bench::EchoReply>* Pages(grpc::CallbackServerContext*) override {
    return new EchoReactor();
  }
};

}  // namespace

int RunEchoServer() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // before gRPC starts its threads
  EchoService service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "echo server: cannot listen on 127.0.0.1\n");
    return 1;
  }
  std::printf("echo_port=%d\n", port);
  std::fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  server->Wait();
  return 0;
}

}  // namespace neon::pagebench
