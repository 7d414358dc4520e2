/* Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
 *
 * neonstore C API: the ABI-stable surface of libneonstore.
 *
 * Conventions (RocksDB's c.h):
 *  - Fallible calls take `char** errptr`. On failure they store a malloc'd
 *    message there (free it with neon_free) and return NEON_ERROR-ish codes or
 *    NULL; on success *errptr is left untouched (set it to NULL first).
 *  - Returned buffers are malloc'd; release them with neon_free.
 *  - Handles are opaque; every *_open/_create/_get has a matching release.
 *  - Ids are 32-character hex strings; LSNs are uint64_t.
 * Thread safety: an engine and its timelines may be used from many threads;
 * one thread at a time writes (put/finish) to a given timeline. */

#ifndef NEON_BINDINGS_C_NEON_C_H_
#define NEON_BINDINGS_C_NEON_C_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define NEON_C_EXPORT __attribute__((visibility("default")))
#else
#define NEON_C_EXPORT
#endif

/* Status codes (same numbers as absl::StatusCode). */
enum {
  NEON_OK = 0,
  NEON_CANCELLED = 1,
  NEON_INVALID_ARGUMENT = 3,
  NEON_DEADLINE_EXCEEDED = 4,
  NEON_NOT_FOUND = 5,
  NEON_ALREADY_EXISTS = 6,
  NEON_RESOURCE_EXHAUSTED = 8,
  NEON_FAILED_PRECONDITION = 9,
  NEON_OUT_OF_RANGE = 11,
  NEON_INTERNAL = 13,
  NEON_UNAVAILABLE = 14,
  NEON_DATA_LOSS = 15
};

typedef struct neon_engine_t neon_engine_t;
typedef struct neon_timeline_t neon_timeline_t;

typedef struct neon_key_t {
  uint8_t field1;
  uint32_t field2;
  uint32_t field3;
  uint32_t field4;
  uint8_t field5;
  uint32_t field6;
} neon_key_t;

/* The key of block `blkno` of relation fork (spc, db, rel, fork). */
NEON_C_EXPORT neon_key_t neon_key_rel_block(uint32_t spc, uint32_t db, uint32_t rel, uint8_t fork,
                                            uint32_t blkno);

/* Opens (creating if missing) an engine in directory `path`. Background work
 * (flush, compaction, GC) runs on an internal pool of two threads. */
NEON_C_EXPORT neon_engine_t* neon_engine_open(const char* path, char** errptr);
NEON_C_EXPORT void neon_engine_close(neon_engine_t* engine);

NEON_C_EXPORT int neon_tenant_create(neon_engine_t* engine, const char* tenant_id, char** errptr);

/* A new empty root timeline. */
NEON_C_EXPORT neon_timeline_t* neon_timeline_create(neon_engine_t* engine, const char* tenant_id,
                                                    const char* timeline_id, uint32_t pg_version,
                                                    char** errptr);
/* A branch of `ancestor_id` at `lsn` (0 = the ancestor's latest LSN). */
NEON_C_EXPORT neon_timeline_t* neon_timeline_branch(neon_engine_t* engine, const char* tenant_id,
                                                    const char* timeline_id,
                                                    const char* ancestor_id, uint64_t lsn,
                                                    char** errptr);
NEON_C_EXPORT neon_timeline_t* neon_timeline_get(neon_engine_t* engine, const char* tenant_id,
                                                 const char* timeline_id, char** errptr);
NEON_C_EXPORT void neon_timeline_release(neon_timeline_t* timeline);

/* Stores a page image for `key` at `lsn` (lsn > last_record_lsn). */
NEON_C_EXPORT int neon_put_image(neon_timeline_t* tl, neon_key_t key, uint64_t lsn,
                                 const char* data, size_t len, char** errptr);
/* Stores a serialized value (Neon's bincode Value encoding). */
NEON_C_EXPORT int neon_put_value(neon_timeline_t* tl, neon_key_t key, uint64_t lsn,
                                 const char* value, size_t len, char** errptr);
/* Makes everything put up to `lsn` readable. */
NEON_C_EXPORT int neon_finish_write(neon_timeline_t* tl, uint64_t lsn, char** errptr);
/* The page of `key` as of `lsn`; *len receives its size. NULL on error. */
NEON_C_EXPORT char* neon_get_page(neon_timeline_t* tl, neon_key_t key, uint64_t lsn, size_t* len,
                                  char** errptr);
NEON_C_EXPORT uint64_t neon_timeline_last_record_lsn(neon_timeline_t* tl);
/* Writes in-memory data to layer files (durable up to last_record_lsn). */
NEON_C_EXPORT int neon_timeline_flush(neon_timeline_t* tl, char** errptr);

/* "X/Y" text of an LSN into buf (at least 18 bytes). */
NEON_C_EXPORT void neon_lsn_format(uint64_t lsn, char* buf, size_t buflen);
NEON_C_EXPORT int neon_lsn_parse(const char* text, uint64_t* lsn, char** errptr);

NEON_C_EXPORT void neon_free(void* p);

#ifdef __cplusplus
}
#endif

#endif /* NEON_BINDINGS_C_NEON_C_H_ */
