/* Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
 *
 * neonstore C API: the consensus proposer (the compute's walproposer, or
 * sync-safekeepers) as a state machine without I/O. The caller owns the
 * connections to the acceptors (safekeepers):
 *
 *   p = neon_proposer_create(...);
 *   neon_proposer_connected(p, id)        when a connection to acceptor `id`
 *                                         is up (queues the greeting)
 *   neon_proposer_step(p, id, bytes, len) for each message received from it
 *   neon_proposer_propose(p, wal, len)    new local WAL, once elected
 *   neon_proposer_tick(p)                 periodically (heartbeats, retries)
 *   while ((msg = neon_proposer_next_message(p, &to, &len)) != NULL)
 *     send msg to acceptor `to`, in order; neon_free(msg)
 *   neon_proposer_commit_lsn(p)           WAL durable on a quorum
 *   neon_proposer_destroy(p)
 *
 * Messages both ways use the binary wire codec of
 * doc/format/consensus-wire.md (`u8 version, u8 tag, body`, one message per
 * buffer; framing is the transport's business). Connections must be FIFO;
 * a broken one is reported with neon_proposer_disconnected and reconnected.
 *
 * Conventions are those of neon_c.h: fallible calls take `char** errptr`
 * (a malloc'd message on failure, freed with neon_free) and return status
 * codes (NEON_OK = 0); ids are 32-character hex strings; LSNs are uint64_t.
 * Thread safety: a proposer is not thread-safe; one thread at a time. */

#ifndef NEON_BINDINGS_C_NEON_CONSENSUS_C_H_
#define NEON_BINDINGS_C_NEON_CONSENSUS_C_H_

#include <stddef.h>
#include <stdint.h>

#include "neon_c.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct neon_proposer_t neon_proposer_t;

/* Modes. */
enum {
  NEON_PROPOSER_NORMAL = 0,          /* a compute's walproposer: streams new WAL */
  NEON_PROPOSER_SYNC_SAFEKEEPERS = 1 /* elect, bring acceptors to one WAL end */
};

/* Phases (neon_proposer_phase). */
enum {
  NEON_PROPOSER_COLLECTING_TERMS = 0,
  NEON_PROPOSER_CAMPAIGN = 1,
  NEON_PROPOSER_ELECTED = 2,
  NEON_PROPOSER_SYNCED = 3, /* sync mode done: see neon_proposer_sync_lsn */
  NEON_PROPOSER_STOPPED = 4 /* see neon_proposer_stop_reason; create a new one */
};

/* A proposer for timeline (tenant_id, timeline_id: 32 hex characters each,
 * NULL meaning the all-zero id) replicated to the
 * `num_acceptors` acceptors (1..32 distinct non-zero node ids) of
 * `acceptor_ids`. pg_version is PG_VERSION_NUM (e.g. 170004); system_id may
 * be 0 (unknown); wal_seg_size 0 means 16 MiB. In NEON_PROPOSER_NORMAL mode
 * `start_lsn` is the LSN the compute's WAL starts at (its basebackup): the
 * election must land exactly there or the proposer stops; 0 accepts any
 * start. In sync mode start_lsn is ignored. NULL on error. */
NEON_C_EXPORT neon_proposer_t* neon_proposer_create(const char* tenant_id, const char* timeline_id,
                                                    const uint64_t* acceptor_ids,
                                                    size_t num_acceptors, uint32_t pg_version,
                                                    uint64_t system_id, uint32_t wal_seg_size,
                                                    int mode, uint64_t start_lsn, char** errptr);
NEON_C_EXPORT void neon_proposer_destroy(neon_proposer_t* p);

/* The connection to acceptor `acceptor_id` is up (queues the greeting) or
 * broke. NEON_INVALID_ARGUMENT for an id that is not a member. */
NEON_C_EXPORT int neon_proposer_connected(neon_proposer_t* p, uint64_t acceptor_id, char** errptr);
NEON_C_EXPORT int neon_proposer_disconnected(neon_proposer_t* p, uint64_t acceptor_id,
                                             char** errptr);

/* Processes one encoded message received from acceptor `acceptor_id`. A
 * message that does not decode, or an unknown id, fails with
 * NEON_INVALID_ARGUMENT and changes nothing. Any other error means the
 * acceptor broke the protocol: drop and reconnect that connection. */
NEON_C_EXPORT int neon_proposer_step(neon_proposer_t* p, uint64_t acceptor_id, const char* msg,
                                     size_t len, char** errptr);

/* Appends local WAL at neon_proposer_available_lsn and streams it.
 * NEON_FAILED_PRECONDITION unless elected in normal mode;
 * NEON_RESOURCE_EXHAUSTED if the unacknowledged buffer is full (retry after
 * stepping acknowledgements). Nothing is appended on error. */
NEON_C_EXPORT int neon_proposer_propose(neon_proposer_t* p, const char* wal, size_t len,
                                        char** errptr);

/* Heartbeat: idle acceptors get an empty append carrying the commit LSN;
 * stalled WAL reads are retried. */
NEON_C_EXPORT void neon_proposer_tick(neon_proposer_t* p);

/* The oldest queued outgoing message, encoded, removed from the queue; its
 * destination acceptor id in *to and size in *len. NULL when none is
 * queued. Free it with neon_free. */
NEON_C_EXPORT char* neon_proposer_next_message(neon_proposer_t* p, uint64_t* to, size_t* len);
NEON_C_EXPORT size_t neon_proposer_pending_messages(const neon_proposer_t* p);

NEON_C_EXPORT int neon_proposer_phase(const neon_proposer_t* p);
NEON_C_EXPORT uint64_t neon_proposer_term(const neon_proposer_t* p);
/* WAL durable on a quorum (0 = nothing committed yet). */
NEON_C_EXPORT uint64_t neon_proposer_commit_lsn(const neon_proposer_t* p);
/* End of the WAL proposed so far (valid once elected). */
NEON_C_EXPORT uint64_t neon_proposer_available_lsn(const neon_proposer_t* p);
/* Sync mode: the LSN to start the compute from, once SYNCED. */
NEON_C_EXPORT uint64_t neon_proposer_sync_lsn(const neon_proposer_t* p);
/* Why the proposer stopped (malloc'd; free with neon_free), NULL if not
 * stopped. */
NEON_C_EXPORT char* neon_proposer_stop_reason(const neon_proposer_t* p);

#ifdef __cplusplus
}
#endif

#endif /* NEON_BINDINGS_C_NEON_CONSENSUS_C_H_ */
