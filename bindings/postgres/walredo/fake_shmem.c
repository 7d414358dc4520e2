/*
 * fake_shmem.c: PostgreSQL 15's CreateSharedMemoryAndSemaphores (ipci.c) on
 * calloc'd private memory, the way Neon's walredo process does it.
 *
 * Differences from ipci.c: no SysV/POSIX shared memory segment, DataDir is
 * "/" only while semaphores are reserved (posix_sema.c stats it),
 * AsyncShmemInit is skipped (it scans pg_notify/) and so is
 * dsm_postmaster_startup (it would create a /dev/shm segment; redo uses no
 * dynamic shared memory).
 *
 * Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
 */
#include "postgres.h"

#include <unistd.h>

#include "access/clog.h"
#include "access/commit_ts.h"
#include "access/multixact.h"
#include "access/nbtree.h"
#include "access/subtrans.h"
#include "access/syncscan.h"
#include "access/twophase.h"
#include "access/xlogprefetcher.h"
#include "access/xlogrecovery.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/autovacuum.h"
#include "postmaster/bgworker_internals.h"
#include "postmaster/bgwriter.h"
#include "postmaster/pgarch.h"
#include "replication/logicallauncher.h"
#include "replication/origin.h"
#include "replication/slot.h"
#include "replication/walreceiver.h"
#include "replication/walsender.h"
#include "storage/bufmgr.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/pg_shmem.h"
#include "storage/pmsignal.h"
#include "storage/predicate.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "storage/procsignal.h"
#include "storage/sinvaladt.h"
#include "storage/spin.h"
#include "utils/snapmgr.h"
#include "walredo.h"

void
WalRedoCreateFakeSharedMemory(void)
{
	PGShmemHeader *hdr;
	Size		size;
	int			numSemas;

	size = CalculateShmemSize(&numSemas);
	hdr = (PGShmemHeader *) calloc(1, size);
	if (hdr == NULL)
		ereport(FATAL,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("walredo: cannot allocate %zu bytes of fake shared memory", size)));
	hdr->creatorPID = getpid();
	hdr->magic = PGShmemMagic;
	hdr->dsm_control = 0;
	hdr->device = 0;
	hdr->inode = 0;
	hdr->totalsize = size;
	hdr->freeoffset = MAXALIGN(sizeof(PGShmemHeader));
	UsedShmemSegAddr = hdr;
	UsedShmemSegID = 0;

	InitShmemAccess(hdr);
	DataDir = "/";
	PGReserveSemaphores(numSemas);
	DataDir = NULL;
#ifndef HAVE_SPINLOCKS
	SpinlockSemaInit();
#endif
	InitShmemAllocation();
	CreateLWLocks();
	InitShmemIndex();
	dsm_shmem_init();

	XLOGShmemInit();
	XLogPrefetchShmemInit();
	XLogRecoveryShmemInit();
	CLOGShmemInit();
	CommitTsShmemInit();
	SUBTRANSShmemInit();
	MultiXactShmemInit();
	InitBufferPool();
	InitLocks();
	InitPredicateLocks();
	InitProcGlobal();
	CreateSharedProcArray();
	CreateSharedBackendStatus();
	TwoPhaseShmemInit();
	BackgroundWorkerShmemInit();
	CreateSharedInvalidationState();
	PMSignalShmemInit();
	ProcSignalShmemInit();
	CheckpointerShmemInit();
	AutoVacuumShmemInit();
	ReplicationSlotsShmemInit();
	ReplicationOriginShmemInit();
	WalSndShmemInit();
	WalRcvShmemInit();
	PgArchShmemInit();
	ApplyLauncherShmemInit();
	SnapMgrInit();
	BTreeShmemInit();
	SyncScanShmemInit();
	StatsShmemInit();
}
