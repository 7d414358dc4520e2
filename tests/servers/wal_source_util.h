// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// WalSource: a minimal safekeeper stand-in for WAL receiver tests. It serves
// safekeeper.SafekeeperService.StreamWal from a Postgres pg_wal directory (16 MiB segments,
// timeline 1) up to a commit LSN the test controls, sends keepalives when idle, records the
// reader's feedback, and publishes its SafekeeperTimelineInfo to a storage broker every
// kPublishPeriod, as a safekeeper does. A test can make it silent (still announced by the
// broker, but sending nothing on its streams) to exercise the receiver's switching.
//
// Thread safety: all methods may be called from any thread.

#ifndef NEON_TESTS_SERVERS_WAL_SOURCE_UTIL_H_
#define NEON_TESTS_SERVERS_WAL_SOURCE_UTIL_H_

#include <cstdint>
#include <memory>
#include <string>

#include "neon/types.h"

namespace neon::testing {

class WalSource {
 public:
  struct Options {
    uint64_t safekeeper_id = 1;
    TenantId tenant;
    TimelineId timeline;
    std::string wal_dir;        // a pg_wal directory
    Lsn commit_lsn;             // WAL is served up to here
    std::string broker_target;  // host:port; empty = do not publish
    bool publishing = true;     // false: silent on the broker until SetPublishing(true)
  };
  struct Feedback {
    Lsn last_received;
    Lsn disk_consistent;
    Lsn remote_consistent;
    uint64_t messages = 0;
  };

  // Starts the gRPC server on 127.0.0.1 (a free port) and the publisher. nullptr and *error
  // when the server cannot start.
  static std::unique_ptr<WalSource> Start(const Options& options, std::string* error);
  ~WalSource();  // ends streams, stops publishing and the server

  std::string target() const;  // "127.0.0.1:<port>"
  void SetCommitLsn(Lsn lsn);
  // Silent: open streams get nothing (no WAL, no keepalive) until unset; still published.
  void SetSilent(bool silent);
  // Stop (false) or resume publishing to the broker.
  void SetPublishing(bool publishing);
  Feedback feedback() const;
  // Streams started so far.
  int streams() const;

  class Impl;

 private:
  explicit WalSource(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace neon::testing

#endif  // NEON_TESTS_SERVERS_WAL_SOURCE_UTIL_H_
