// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// The echo server of pagebench's transport floor (echo.proto): gRPC's callback API, one
// reactor per stream with one read or one write in flight, each reply a payload held in
// memory, answered on gRPC's own threads (what a page service costs without any read).
//
// Thread safety: EchoService is called from gRPC's threads.

#ifndef NEON_BENCH_PAGEBENCH_ECHO_SERVER_H_
#define NEON_BENCH_PAGEBENCH_ECHO_SERVER_H_

namespace neon::pagebench {

// Serves Echo on 127.0.0.1 (a port the kernel picks), prints "echo_port=<port>" on stdout
// once listening, and runs until SIGTERM or SIGINT. Returns the process exit status.
int RunEchoServer();

}  // namespace neon::pagebench

#endif  // NEON_BENCH_PAGEBENCH_ECHO_SERVER_H_
