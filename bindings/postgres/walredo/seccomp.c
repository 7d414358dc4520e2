/*
 * seccomp.c: the walredo sandbox (Neon's allow-list).
 *
 * Before the main loop: close every inherited fd >= 3 (close_range), tell
 * glibc malloc never to use mmap (so memory comes from brk), then allow only
 * exit_group, pselect6, read, select, write, brk, getpid and futex. Any other
 * syscall raises SIGSYS; the handler reports its number on stderr and
 * _exits(4). The process therefore cannot open files, sockets or other
 * processes: a malicious record can at worst corrupt the page it redoes.
 *
 * Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
 */
#include "postgres.h"

#include <malloc.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "walredo.h"

static void
sigsys_handler(int signo, siginfo_t *info, void *context)
{
	char		msg[80];
	int			nr = info->si_syscall;
	int			len = 0;
	char		digits[16];
	int			nd = 0;
	const char *prefix = "neon_walredo: FATAL: seccomp: forbidden syscall ";

	while (prefix[len] != '\0')
	{
		msg[len] = prefix[len];
		len++;
	}
	if (nr < 0)
		nr = -nr;
	do
	{
		digits[nd++] = (char) ('0' + nr % 10);
		nr /= 10;
	} while (nr > 0 && nd < (int) sizeof(digits));
	while (nd > 0)
		msg[len++] = digits[--nd];
	msg[len++] = '\n';
	(void) write(STDERR_FILENO, msg, len);
	_exit(4);
}

void
WalRedoEnterSeccomp(void)
{
	static const int allowed[] = {
		SCMP_SYS(exit_group), SCMP_SYS(pselect6), SCMP_SYS(read), SCMP_SYS(select),
		SCMP_SYS(write), SCMP_SYS(brk), SCMP_SYS(getpid), SCMP_SYS(futex),
	};
	struct sigaction sa;
	scmp_filter_ctx ctx;

	if (syscall(SYS_close_range, 3U, ~0U, 0U) != 0)
		ereport(FATAL,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("seccomp: could not close files >= fd 3: %m")));
	mallopt(M_MMAP_MAX, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sigsys_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) != 0)
		ereport(FATAL, (errmsg("seccomp: could not install the SIGSYS handler: %m")));

	ctx = seccomp_init(SCMP_ACT_TRAP);
	if (ctx == NULL)
		ereport(FATAL, (errmsg("seccomp: seccomp_init failed")));
	for (size_t i = 0; i < lengthof(allowed); i++)
	{
		int			rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed[i], 0);

		if (rc != 0)
			ereport(FATAL, (errmsg("seccomp: could not allow syscall %d: %s",
								   allowed[i], strerror(-rc))));
	}
	{
		int			rc = seccomp_load(ctx);

		if (rc != 0)
			ereport(FATAL, (errmsg("seccomp: could not load the filter: %s", strerror(-rc))));
	}
	/* ctx is deliberately not released: free() is fine, but nothing gains. */
}
