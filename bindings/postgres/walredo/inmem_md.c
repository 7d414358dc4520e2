/*
 * inmem_md.c: an in-memory replacement for PostgreSQL 15's md.c.
 *
 * The walredo program links every backend object except storage/smgr/md.o
 * and provides the 19 md* symbols smgr.c and sync.c reference here. Pages
 * live in a fixed table of kMaxPages slots for the duration of one request
 * (pages the buffer manager evicts, i.e. scratch pages of non-target blocks
 * or the target page itself when the pool is full); InMemMdReset forgets
 * them. Every relation looks MaxBlockNumber blocks long, so redo never tries
 * to extend a relation and a block never written reads as zeroes.
 *
 * Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
 */
#include "postgres.h"

#include "storage/buf_internals.h"
#include "storage/bufmgr.h"
#include "storage/md.h"
#include "storage/smgr.h"
#include "walredo.h"

#define MAX_PAGES 128

typedef struct InMemPage
{
	RelFileNode rnode;
	ForkNumber	forknum;
	BlockNumber blkno;
	PGAlignedBlock data;
} InMemPage;

static InMemPage pages[MAX_PAGES];
static int	npages = 0;

static InMemPage *
find_page(SMgrRelation reln, ForkNumber forknum, BlockNumber blkno)
{
	for (int i = 0; i < npages; i++)
	{
		InMemPage  *p = &pages[i];

		if (p->blkno == blkno && p->forknum == forknum &&
			RelFileNodeEquals(p->rnode, reln->smgr_rnode.node))
			return p;
	}
	return NULL;
}

static void
store_page(SMgrRelation reln, ForkNumber forknum, BlockNumber blkno, const char *buffer)
{
	InMemPage  *p = find_page(reln, forknum, blkno);

	if (p == NULL)
	{
		if (npages >= MAX_PAGES)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("walredo: more than %d pages evicted in one request", MAX_PAGES)));
		p = &pages[npages++];
		p->rnode = reln->smgr_rnode.node;
		p->forknum = forknum;
		p->blkno = blkno;
	}
	memcpy(p->data.data, buffer, BLCKSZ);
}

void
InMemMdReset(void)
{
	/* Drop the buffers of every relation that has one (none is pinned now). */
	for (int i = 0; i < NBuffers; i++)
	{
		BufferDesc *desc = GetBufferDescriptor(i);
		uint32		state = pg_atomic_read_u32(&desc->state);
		SMgrRelation reln;

		if (!(state & BM_TAG_VALID))
			continue;
		reln = smgropen(desc->tag.rnode, InvalidBackendId);
		DropRelFileNodesAllBuffers(&reln, 1);
	}
	smgrcloseall();
	npages = 0;
}

void
mdinit(void)
{
	npages = 0;
}

void
mdopen(SMgrRelation reln)
{
	for (int f = 0; f <= MAX_FORKNUM; f++)
		reln->md_num_open_segs[f] = 0;
}

void
mdclose(SMgrRelation reln, ForkNumber forknum)
{
}

void
mdcreate(SMgrRelation reln, ForkNumber forknum, bool isRedo)
{
}

bool
mdexists(SMgrRelation reln, ForkNumber forknum)
{
	return true;
}

void
mdunlink(RelFileNodeBackend rnode, ForkNumber forknum, bool isRedo)
{
}

void
mdextend(SMgrRelation reln, ForkNumber forknum, BlockNumber blocknum,
		 char *buffer, bool skipFsync)
{
	store_page(reln, forknum, blocknum, buffer);
}

bool
mdprefetch(SMgrRelation reln, ForkNumber forknum, BlockNumber blocknum)
{
	return true;
}

void
mdread(SMgrRelation reln, ForkNumber forknum, BlockNumber blocknum, char *buffer)
{
	InMemPage  *p = find_page(reln, forknum, blocknum);

	if (p != NULL)
		memcpy(buffer, p->data.data, BLCKSZ);
	else
		MemSet(buffer, 0, BLCKSZ);
}

void
mdwrite(SMgrRelation reln, ForkNumber forknum, BlockNumber blocknum,
		char *buffer, bool skipFsync)
{
	store_page(reln, forknum, blocknum, buffer);
}

void
mdwriteback(SMgrRelation reln, ForkNumber forknum, BlockNumber blocknum,
			BlockNumber nblocks)
{
}

BlockNumber
mdnblocks(SMgrRelation reln, ForkNumber forknum)
{
	return MaxBlockNumber;
}

void
mdtruncate(SMgrRelation reln, ForkNumber forknum, BlockNumber old_blocks,
		   BlockNumber nblocks)
{
}

void
mdimmedsync(SMgrRelation reln, ForkNumber forknum)
{
}

void
ForgetDatabaseSyncRequests(Oid dbid)
{
}

void
DropRelationFiles(RelFileNode *delrels, int ndelrels, bool isRedo)
{
	for (int i = 0; i < ndelrels; i++)
	{
		SMgrRelation reln = smgropen(delrels[i], InvalidBackendId);

		DropRelFileNodesAllBuffers(&reln, 1);
	}
}

int
mdsyncfiletag(const FileTag *ftag, char *path)
{
	path[0] = '\0';
	return 0;
}

int
mdunlinkfiletag(const FileTag *ftag, char *path)
{
	path[0] = '\0';
	return 0;
}

bool
mdfiletagmatches(const FileTag *ftag, const FileTag *candidate)
{
	return false;
}
