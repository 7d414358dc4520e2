// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Graceful shutdown: the main thread blocks SIGTERM and SIGINT before it starts any thread
// (so every thread inherits the mask and no handler runs at a random point), starts its
// listeners, then waits for one of the signals with WaitForShutdownSignal() and shuts down in
// order.

#ifndef NEON_SERVERS_COMMON_SIGNALS_H_
#define NEON_SERVERS_COMMON_SIGNALS_H_

namespace neon::server {

// Blocks SIGTERM and SIGINT in the calling thread (and threads it creates afterwards).
void BlockShutdownSignals();

// Waits until SIGTERM or SIGINT arrives; returns the signal number.
int WaitForShutdownSignal();

// Like WaitForShutdownSignal, but gives up after `timeout_ms` and then returns 0.
int WaitForShutdownSignalFor(int timeout_ms);

}  // namespace neon::server

#endif  // NEON_SERVERS_COMMON_SIGNALS_H_
