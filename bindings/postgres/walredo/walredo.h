/*
 * walredo.h: what the files of the neon_walredo program share.
 *
 * neon_walredo is linked from the stock PostgreSQL 15 backend objects with
 * our own main() (walredo_main.c), an in-memory md.c (inmem_md.c) and a
 * private copy of xlogutils.c patched with the block filter below. It is
 * single-threaded; nothing here is thread-safe.
 *
 * Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
 */
#ifndef NEON_WALREDO_H
#define NEON_WALREDO_H

#include "access/xlogreader.h"

/*
 * Consulted by the patched XLogReadBufferForRedoExtended (xlogutils.c copy):
 * returns true for a block reference redo must leave alone (a block other
 * than the target page). NULL outside ApplyRecord.
 */
extern bool (*neon_redo_block_filter) (XLogReaderState *record, uint8 block_id);

/*
 * inmem_md.c: forgets every page the in-memory storage manager holds and
 * drops every buffer of the shared buffer pool (all unpinned), so the next
 * request starts from an empty cache. Called between requests.
 */
extern void InMemMdReset(void);

/* fake_shmem.c: CreateSharedMemoryAndSemaphores on malloc'd memory. */
extern void WalRedoCreateFakeSharedMemory(void);

/*
 * seccomp.c: closes every fd >= 3, stops malloc from using mmap and loads the
 * syscall allow-list. A forbidden syscall ends the process with exit code 4
 * and a line on stderr naming the syscall number.
 */
extern void WalRedoEnterSeccomp(void);

#endif							/* NEON_WALREDO_H */
