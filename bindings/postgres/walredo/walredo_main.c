/*
 * walredo_main.c: main() of neon_walredo, the WAL-redo process.
 *
 * Usage: neon_walredo [--disable-seccomp] [--idle-timeout-ms N]
 *                     [--tenant-shard-id ID]
 *
 * Reads requests on stdin and answers on stdout; the protocol is
 * doc/format/walredo-protocol.md (messages B, P, A, G, H). Startup follows
 * Neon's CallExtMain + WalRedoMain: standalone process, GUCs set directly,
 * fake shared memory, an auxiliary PGPROC, InRecovery, every rmgr started.
 *
 * Errors: every message at WARNING or above goes to stderr as one
 * "neon_walredo: LEVEL: text" line (plus DETAIL/CONTEXT lines); an ERROR,
 * FATAL or PANIC then ends the process with exit code 1. EOF on stdin at a
 * message boundary, or --idle-timeout-ms without input, ends it with 0.
 *
 * Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
 */
#include "postgres.h"

#include <sys/select.h>
#include <unistd.h>

#include "access/rmgr.h"
#include "access/twophase.h"
#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "access/xlogreader.h"
#include "access/xlogrecovery.h"
#include "access/xlogutils.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "port/pg_crc32c.h"
#include "postmaster/autovacuum.h"
#include "postmaster/postmaster.h"
#include "replication/walsender.h"
#include "storage/buf_internals.h"
#include "storage/bufmgr.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "storage/smgr.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"
#include "walredo.h"

/* main.o is not linked; it defined this. */
const char *progname;

bool		(*neon_redo_block_filter) (XLogReaderState *record, uint8 block_id) = NULL;

#define TAG_SIZE 17				/* fork u8, spc, db, rel, blk u32 */
#define MAX_MESSAGE_SIZE ((uint32) MaxAllocSize - 1)

static BufferTag target_tag;
static bool have_target = false;
static XLogReaderState *reader;
static int	idle_timeout_ms = 0;

/* ---- stdin: our own buffer, no stdio (seccomp) ---- */

static char in_buf[16 * 1024];
static size_t in_len = 0;
static size_t in_pos = 0;

/* Waits up to idle_timeout_ms for input; exits 0 if none came. */
static void
wait_for_input(void)
{
	for (;;)
	{
		fd_set		fds;
		struct timeval tv;
		int			rc;

		FD_ZERO(&fds);
		FD_SET(STDIN_FILENO, &fds);
		tv.tv_sec = idle_timeout_ms / 1000;
		tv.tv_usec = (idle_timeout_ms % 1000) * 1000;
		rc = select(STDIN_FILENO + 1, &fds, NULL, NULL, &tv);
		if (rc > 0)
			return;
		if (rc == 0)
			_exit(0);
		if (errno != EINTR)
			ereport(FATAL, (errmsg("walredo: select on stdin failed: %m")));
	}
}

/* Reads exactly n bytes; returns fewer only at EOF. */
static size_t
read_input(char *dst, size_t n, bool at_boundary)
{
	size_t		done = 0;

	while (done < n)
	{
		size_t		chunk;

		if (in_pos == in_len)
		{
			ssize_t		rc;

			if (at_boundary && done == 0 && idle_timeout_ms > 0)
				wait_for_input();
			rc = read(STDIN_FILENO, in_buf, sizeof(in_buf));
			if (rc < 0)
			{
				if (errno == EINTR)
					continue;
				ereport(FATAL, (errmsg("walredo: could not read stdin: %m")));
			}
			if (rc == 0)
				break;
			in_len = (size_t) rc;
			in_pos = 0;
		}
		chunk = Min(in_len - in_pos, n - done);
		memcpy(dst + done, in_buf + in_pos, chunk);
		in_pos += chunk;
		done += chunk;
	}
	return done;
}

static void
write_output(const char *data, size_t n)
{
	size_t		done = 0;

	while (done < n)
	{
		ssize_t		rc = write(STDOUT_FILENO, data + done, n - done);

		if (rc < 0)
		{
			if (errno == EINTR)
				continue;
			ereport(FATAL, (errmsg("walredo: could not write stdout: %m")));
		}
		done += (size_t) rc;
	}
}

/*
 * Reads one message into msg; returns its tag, or EOF at a clean end of
 * input.
 */
static int
read_message(StringInfo msg)
{
	char		hdr[5];
	uint32		len;
	size_t		n = read_input(hdr, sizeof(hdr), true);

	if (n == 0)
		return EOF;
	if (n < sizeof(hdr))
		ereport(FATAL, (errmsg("walredo: unexpected EOF in a message header")));
	memcpy(&len, hdr + 1, 4);
	len = pg_ntoh32(len);
	if (len < 4 || len > MAX_MESSAGE_SIZE)
		ereport(FATAL, (errmsg("walredo: invalid length %u of message '%c'", len, hdr[0])));
	len -= 4;
	resetStringInfo(msg);
	enlargeStringInfo(msg, (int) len);
	if (read_input(msg->data, len, false) != len)
		ereport(FATAL, (errmsg("walredo: unexpected EOF in message '%c'", hdr[0])));
	msg->len = (int) len;
	msg->data[len] = '\0';
	return (unsigned char) hdr[0];
}

/* ---- messages ---- */

static BufferTag
read_tag(StringInfo msg)
{
	BufferTag	tag;
	int			fork = pq_getmsgbyte(msg);

	if (fork < 0 || fork > MAX_FORKNUM)
		ereport(ERROR, (errmsg("walredo: invalid fork number %d", fork)));
	tag.forkNum = (ForkNumber) fork;
	tag.rnode.spcNode = pq_getmsgint(msg, 4);
	tag.rnode.dbNode = pq_getmsgint(msg, 4);
	tag.rnode.relNode = pq_getmsgint(msg, 4);
	tag.blockNum = pq_getmsgint(msg, 4);
	return tag;
}

static void
check_target(const BufferTag *tag, const char *what)
{
	if (!have_target)
		ereport(ERROR, (errmsg("walredo: %s without BeginRedoForBlock", what)));
	if (!BUFFERTAGS_EQUAL(*tag, target_tag))
		ereport(ERROR,
				(errmsg("walredo: %s for %u/%u/%u.%d blk %u, but the target is %u/%u/%u.%d blk %u",
						what, tag->rnode.spcNode, tag->rnode.dbNode, tag->rnode.relNode,
						tag->forkNum, tag->blockNum, target_tag.rnode.spcNode,
						target_tag.rnode.dbNode, target_tag.rnode.relNode,
						target_tag.forkNum, target_tag.blockNum)));
}

static Buffer
read_target(ReadBufferMode mode)
{
	return ReadBufferWithoutRelcache(target_tag.rnode, target_tag.forkNum,
									 target_tag.blockNum, mode, NULL, true);
}

static void
begin_redo_for_block(StringInfo msg)
{
	BufferTag	tag = read_tag(msg);

	pq_getmsgend(msg);
	InMemMdReset();				/* a previous request may not have ended with G */
	target_tag = tag;
	have_target = true;
}

static void
push_page(StringInfo msg)
{
	BufferTag	tag = read_tag(msg);
	const char *content = pq_getmsgbytes(msg, BLCKSZ);
	Buffer		buf;

	pq_getmsgend(msg);
	check_target(&tag, "PushPage");
	buf = read_target(RBM_ZERO_AND_LOCK);
	memcpy(BufferGetPage(buf), content, BLCKSZ);
	MarkBufferDirty(buf);
	UnlockReleaseBuffer(buf);
}

/* Skips (returns true for) every block reference but the target page. */
static bool
target_block_filter(XLogReaderState *record, uint8 block_id)
{
	BufferTag	tag;

	XLogRecGetBlockTag(record, block_id, &tag.rnode, &tag.forkNum, &tag.blockNum);
	return !BUFFERTAGS_EQUAL(tag, target_tag);
}

static void
apply_error_callback(void *arg)
{
	XLogReaderState *r = (XLogReaderState *) arg;
	StringInfoData buf;

	if (r->record == NULL)
		return;
	initStringInfo(&buf);
	xlog_outdesc(&buf, r);
	errcontext("WAL redo at %X/%X for %s", LSN_FORMAT_ARGS(r->EndRecPtr), buf.data);
	pfree(buf.data);
}

static void
check_record(XLogRecPtr lsn, XLogRecord *record, size_t len)
{
	pg_crc32c	crc;

	if (len < SizeOfXLogRecord)
		ereport(ERROR, (errmsg("walredo: record of %zu bytes is shorter than its header", len)));
	if (record->xl_tot_len != len)
		ereport(ERROR,
				(errmsg("walredo: xl_tot_len %u does not match the message (%zu bytes of record)",
						record->xl_tot_len, len)));
	if (!RmgrIdIsBuiltin(record->xl_rmid) || !RmgrIdExists(record->xl_rmid))
		ereport(ERROR, (errmsg("walredo: invalid resource manager ID %u at %X/%X",
							   record->xl_rmid, LSN_FORMAT_ARGS(lsn))));
	INIT_CRC32C(crc);
	COMP_CRC32C(crc, ((char *) record) + SizeOfXLogRecord, len - SizeOfXLogRecord);
	COMP_CRC32C(crc, (char *) record, offsetof(XLogRecord, xl_crc));
	FIN_CRC32C(crc);
	if (!EQ_CRC32C(record->xl_crc, crc))
		ereport(ERROR, (errmsg("walredo: incorrect resource manager data checksum in record at %X/%X",
							   LSN_FORMAT_ARGS(lsn))));
}

static void
apply_record(StringInfo msg)
{
	XLogRecPtr	lsn = pq_getmsgint64(msg);
	size_t		len = msg->len - msg->cursor;
	XLogRecord *record = (XLogRecord *) (msg->data + msg->cursor);
	DecodedXLogRecord *decoded;
	ErrorContextCallback errcallback;
	char	   *errormsg = NULL;

	if (!have_target)
		ereport(ERROR, (errmsg("walredo: ApplyRecord without BeginRedoForBlock")));
	check_record(lsn, record, len);

	decoded = palloc(DecodeXLogRecordRequiredSpace(record->xl_tot_len));
	if (!DecodeXLogRecord(reader, decoded, record, lsn, &errormsg))
		ereport(ERROR, (errmsg("walredo: could not decode the record at %X/%X: %s",
							   LSN_FORMAT_ARGS(lsn), errormsg ? errormsg : "?")));
	decoded->next_lsn = lsn;
	decoded->oversized = false;
	reader->record = decoded;
	reader->ReadRecPtr = lsn;
	reader->EndRecPtr = lsn;

	errcallback.callback = apply_error_callback;
	errcallback.arg = reader;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	neon_redo_block_filter = target_block_filter;
	GetRmgr(record->xl_rmid).rm_redo(reader);
	neon_redo_block_filter = NULL;

	error_context_stack = errcallback.previous;
	reader->record = NULL;
}

static void
get_page(StringInfo msg)
{
	BufferTag	tag = read_tag(msg);
	Buffer		buf;

	pq_getmsgend(msg);
	check_target(&tag, "GetPage");
	buf = read_target(RBM_NORMAL);
	write_output(BufferGetPage(buf), BLCKSZ);
	ReleaseBuffer(buf);
	InMemMdReset();
	have_target = false;
}

static void
ping(StringInfo msg)
{
	static const PGAlignedBlock zero;

	pq_getmsgend(msg);
	write_output(zero.data, BLCKSZ);
}

/* ---- errors: one line per message on stderr, exit on ERROR and above ---- */

static void
emit_log(ErrorData *edata)
{
	char		line[8192];
	int			n;
	const char *level = edata->elevel >= PANIC ? "PANIC" :
		edata->elevel >= FATAL ? "FATAL" :
		edata->elevel >= ERROR ? "ERROR" :
		edata->elevel >= WARNING ? "WARNING" : "LOG";

	n = snprintf(line, sizeof(line), "neon_walredo: %s: %s\n", level,
				 edata->message ? edata->message : "(no message)");
	if (edata->detail && n < (int) sizeof(line))
		n += snprintf(line + n, sizeof(line) - n, "DETAIL: %s\n", edata->detail);
	if (edata->context && n < (int) sizeof(line))
		n += snprintf(line + n, sizeof(line) - n, "CONTEXT: %s\n", edata->context);
	if (n > (int) sizeof(line))
		n = sizeof(line);
	(void) write(STDERR_FILENO, line, n);
	edata->output_to_server = false;
	if (edata->elevel >= ERROR)
		_exit(1);
}

/* ---- startup ---- */

static void
start_postgres(const char *argv0)
{
	MemoryContextInit();
	emit_log_hook = emit_log;
	InitStandaloneProcess(argv0);
	SetProcessingMode(InitProcessing);
	InitializeGUCOptions();
	SetConfigOption("log_min_messages", "warning", PGC_POSTMASTER, PGC_S_OVERRIDE);
	whereToSendOutput = DestNone;

	/* Few buffers: requests touch one page; evictions go to inmem_md.c. */
	NBuffers = 64;
	num_temp_buffers = 4;
	MaxConnections = 1;
	autovacuum_max_workers = 0;
	max_worker_processes = 0;
	max_parallel_workers = 0;
	max_wal_senders = 0;
	max_prepared_xacts = 0;
	InitializeMaxBackends();
	process_shmem_requests();
	InitializeShmemGUCs();
	WalRedoCreateFakeSharedMemory();
	PgStartTime = GetCurrentTimestamp();
	InitAuxiliaryProcess();
	SetProcessingMode(NormalProcessing);
	InitBufferPoolAccess();
	smgrinit();
	InRecovery = true;

	MessageContext = AllocSetContextCreate(TopMemoryContext, "MessageContext",
										   ALLOCSET_DEFAULT_SIZES);
	CurrentResourceOwner = ResourceOwnerCreate(NULL, "wal redo");
	for (int rmid = 0; rmid <= RM_MAX_BUILTIN_ID; rmid++)
	{
		if (RmgrIdExists(rmid) && RmgrTable[rmid].rm_startup != NULL)
			RmgrTable[rmid].rm_startup();
	}
	reader = XLogReaderAllocate(wal_segment_size, NULL, XL_ROUTINE(), NULL);
	if (reader == NULL)
		ereport(FATAL, (errmsg("walredo: out of memory allocating the WAL reader")));
}

static void
usage_error(const char *arg)
{
	fprintf(stderr, "neon_walredo: unknown argument '%s'\n"
			"usage: neon_walredo [--disable-seccomp] [--idle-timeout-ms N] [--tenant-shard-id ID]\n",
			arg);
	exit(2);
}

int
main(int argc, char *argv[])
{
	bool		seccomp = true;
	StringInfoData msg;

	progname = "neon_walredo";
	for (int i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--disable-seccomp") == 0)
			seccomp = false;
		else if (strcmp(argv[i], "--idle-timeout-ms") == 0 && i + 1 < argc)
			idle_timeout_ms = atoi(argv[++i]);
		else if (strcmp(argv[i], "--tenant-shard-id") == 0 && i + 1 < argc)
			i++;				/* only for ps and logs */
		else
			usage_error(argv[i]);
	}

	start_postgres(argv[0]);
	MemoryContextSwitchTo(TopMemoryContext);
	initStringInfo(&msg);
	if (seccomp)
		WalRedoEnterSeccomp();

	MemoryContextSwitchTo(MessageContext);
	for (;;)
	{
		int			tag = read_message(&msg);

		switch (tag)
		{
			case 'B':
				begin_redo_for_block(&msg);
				break;
			case 'P':
				push_page(&msg);
				break;
			case 'A':
				apply_record(&msg);
				break;
			case 'G':
				get_page(&msg);
				break;
			case 'H':
				ping(&msg);
				break;
			case EOF:
				_exit(0);		/* nothing to clean up; seccomp forbids more */
			default:
				ereport(FATAL, (errmsg("walredo: invalid message type 0x%02x", tag)));
		}
		MemoryContextReset(MessageContext);
	}
}
