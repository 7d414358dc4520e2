/* Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
 * Exercises the consensus proposer's C API from C against the shared
 * library: argument checks, greetings on connect, malformed messages
 * (rejected without changing anything), the outgoing queue, tick, destroy.
 * Reaching a commit needs acceptors, which exist only in C++: see
 * tests/consensus/c_api_consensus_test.cc. Exits non-zero on failure. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "neon_c.h"
#include "neon_consensus_c.h"

static int failures = 0;
#define CHECK(cond)                                                             \
  do {                                                                          \
    if (!(cond)) {                                                              \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      failures++;                                                               \
    }                                                                           \
  } while (0)

static const char* kTenant = "0123456789abcdef0123456789abcdef";
static const char* kTimeline = "fedcba9876543210fedcba9876543210";

/* Drains the queue; returns how many messages went to each of ids 1..3 in
 * counts[1..3] and checks each is a version-1 wire message. */
static size_t drain(neon_proposer_t* p, size_t counts[4]) {
  size_t n = 0;
  uint64_t to = 0;
  size_t len = 0;
  char* msg;
  while ((msg = neon_proposer_next_message(p, &to, &len)) != NULL) {
    CHECK(to >= 1 && to <= 3);
    CHECK(len >= 2 && (unsigned char)msg[0] == 1);
    if (to >= 1 && to <= 3) counts[to]++;
    neon_free(msg);
    n++;
  }
  return n;
}

int main(void) {
  char* err = NULL;
  const uint64_t ids[3] = {1, 2, 3};

  /* Bad arguments: NULL with a message, nothing created. */
  neon_proposer_t* bad = neon_proposer_create("not-hex", kTimeline, ids, 3, 170004, 0, 0,
                                              NEON_PROPOSER_NORMAL, 0, &err);
  CHECK(bad == NULL && err != NULL);
  neon_free(err);
  err = NULL;
  bad = neon_proposer_create(kTenant, kTimeline, ids, 0, 170004, 0, 0, NEON_PROPOSER_NORMAL, 0,
                             &err);
  CHECK(bad == NULL && err != NULL);
  neon_free(err);
  err = NULL;
  const uint64_t dup[3] = {1, 2, 2};
  bad = neon_proposer_create(kTenant, kTimeline, dup, 3, 170004, 0, 0, NEON_PROPOSER_NORMAL, 0,
                             &err);
  CHECK(bad == NULL && err != NULL);
  neon_free(err);
  err = NULL;
  bad = neon_proposer_create(kTenant, kTimeline, ids, 3, 170004, 0, 0, 7, 0, &err);
  CHECK(bad == NULL && err != NULL);
  neon_free(err);
  err = NULL;

  neon_proposer_t* p = neon_proposer_create(kTenant, kTimeline, ids, 3, 170004, 0, 0,
                                            NEON_PROPOSER_NORMAL, 0x1000000, &err);
  CHECK(p != NULL && err == NULL);
  if (p == NULL) return 1;
  CHECK(neon_proposer_phase(p) == NEON_PROPOSER_COLLECTING_TERMS);
  CHECK(neon_proposer_commit_lsn(p) == 0);
  CHECK(neon_proposer_pending_messages(p) == 0);
  CHECK(neon_proposer_stop_reason(p) == NULL);

  /* Not elected: proposing WAL fails. */
  CHECK(neon_proposer_propose(p, "wal", 3, &err) == NEON_FAILED_PRECONDITION);
  CHECK(err != NULL);
  neon_free(err);
  err = NULL;

  /* Connecting queues one greeting per acceptor; an unknown id fails. */
  for (int i = 0; i < 3; i++) CHECK(neon_proposer_connected(p, ids[i], &err) == NEON_OK);
  CHECK(err == NULL);
  CHECK(neon_proposer_connected(p, 9, &err) == NEON_INVALID_ARGUMENT);
  CHECK(err != NULL);
  neon_free(err);
  err = NULL;
  CHECK(neon_proposer_pending_messages(p) == 3);

  /* Malformed messages fail and change nothing: the queue and phase stay. */
  const char garbage[] = {1, 99, 0, 0};    /* unknown tag */
  const char truncated[] = {1, 0, 5};      /* a greeting cut short */
  const char bad_version[] = {42, 0};
  CHECK(neon_proposer_step(p, 1, garbage, sizeof(garbage), &err) == NEON_INVALID_ARGUMENT);
  CHECK(err != NULL);
  neon_free(err);
  err = NULL;
  CHECK(neon_proposer_step(p, 2, truncated, sizeof(truncated), &err) == NEON_INVALID_ARGUMENT);
  neon_free(err);
  err = NULL;
  CHECK(neon_proposer_step(p, 3, bad_version, sizeof(bad_version), &err) ==
        NEON_INVALID_ARGUMENT);
  neon_free(err);
  err = NULL;
  CHECK(neon_proposer_step(p, 3, NULL, 0, &err) == NEON_INVALID_ARGUMENT);
  neon_free(err);
  err = NULL;
  CHECK(neon_proposer_step(p, 9, garbage, sizeof(garbage), &err) == NEON_INVALID_ARGUMENT);
  neon_free(err);
  err = NULL;
  CHECK(neon_proposer_pending_messages(p) == 3);
  CHECK(neon_proposer_phase(p) == NEON_PROPOSER_COLLECTING_TERMS);
  CHECK(neon_proposer_term(p) == 0);

  /* The queue hands out the greetings, one per acceptor, then NULL. */
  size_t counts[4] = {0, 0, 0, 0};
  CHECK(drain(p, counts) == 3);
  CHECK(counts[1] == 1 && counts[2] == 1 && counts[3] == 1);
  uint64_t to = 77;
  size_t len = 77;
  CHECK(neon_proposer_next_message(p, &to, &len) == NULL);
  CHECK(to == 77 && len == 77);

  /* A disconnect drops what was queued for that acceptor; a reconnect
   * greets it again. */
  CHECK(neon_proposer_connected(p, 2, &err) == NEON_OK);
  CHECK(neon_proposer_disconnected(p, 2, &err) == NEON_OK);
  CHECK(neon_proposer_pending_messages(p) == 0);
  CHECK(neon_proposer_connected(p, 2, &err) == NEON_OK);
  CHECK(err == NULL);
  memset(counts, 0, sizeof(counts));
  CHECK(drain(p, counts) == 1 && counts[2] == 1);

  /* Tick before any election sends nothing and is harmless. */
  neon_proposer_tick(p);
  CHECK(neon_proposer_phase(p) == NEON_PROPOSER_COLLECTING_TERMS);
  neon_proposer_destroy(p);

  /* Sync mode creates too. */
  p = neon_proposer_create(NULL, NULL, ids, 3, 170004, 0, 0, NEON_PROPOSER_SYNC_SAFEKEEPERS, 0,
                           &err);
  CHECK(p != NULL && err == NULL);
  neon_proposer_destroy(p);
  neon_proposer_destroy(NULL);

  if (failures) {
    fprintf(stderr, "consensus_c_test: %d failures\n", failures);
    return 1;
  }
  printf("consensus_c_test: ok\n");
  return 0;
}
