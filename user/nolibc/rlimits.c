/*
 * rlimits: the resource limits a process inherits from init, and
 * getrlimit/setrlimit/prlimit64 with their error cases. NPROC and
 * SIGPENDING are skipped: Linux sizes them from the machine's memory.
 */
#include "nolibc.h"

#define NR_getrlimit 163
#define NR_setrlimit 164
#define NR_prlimit64 261
#define BAD ((long)0x10)

static void putlim(unsigned long v)
{
	if (v == ~0UL)
		puts_("unlimited");
	else
		putnum((long)v);
}

static const char *names[16] = {"CPU", "FSIZE", "DATA", "STACK", "CORE", "RSS", "NPROC", "NOFILE",
				"MEMLOCK", "AS", "LOCKS", "SIGPENDING", "MSGQUEUE", "NICE", "RTPRIO", "RTTIME"};

void start_c(long *sp)
{
	(void)sp;
	unsigned long lim[2];
	for (int r = 0; r < 16; r++) {
		if (r == 6 || r == 11)
			continue;
		long rc = sys4(NR_getrlimit, r, (long)lim, 0, 0);
		puts_("RLIMIT_");
		puts_(names[r]);
		puts_(": rc=");
		putnum(rc);
		puts_(" soft=");
		putlim(lim[0]);
		puts_(" hard=");
		putlim(lim[1]);
		puts_("\n");
	}
	lim[0] = 4 << 20;
	lim[1] = ~0UL;
	say("setrlimit(STACK, 4 MiB)=", sys4(NR_setrlimit, 3, (long)lim, 0, 0));
	sys4(NR_getrlimit, 3, (long)lim, 0, 0);
	say("new STACK soft=", (long)lim[0]);
	lim[0] = 100;
	lim[1] = 50;
	say("prlimit64(NOFILE, soft > hard)=", sys4(NR_prlimit64, 0, 7, (long)lim, 0));
	lim[0] = 1024;
	lim[1] = 1UL << 30;
	say("prlimit64(NOFILE, hard above nr_open)=", sys4(NR_prlimit64, 0, 7, (long)lim, 0));
	say("prlimit64(resource 99)=", sys4(NR_prlimit64, 0, 99, 0, (long)lim));
	say("prlimit64(old only)=", sys4(NR_prlimit64, 0, 7, 0, (long)lim));
	say("old NOFILE soft=", (long)lim[0]);
	say("prlimit64(pid 99999)=", sys4(NR_prlimit64, 99999, 7, 0, (long)lim));
	say("getrlimit(STACK, bad)=", sys4(NR_getrlimit, 3, BAD, 0, 0));
	say("setrlimit(STACK, bad)=", sys4(NR_setrlimit, 3, BAD, 0, 0));
	say("prlimit64(new bad)=", sys4(NR_prlimit64, 0, 3, BAD, 0));
	sys4(NR_exit_group, 0, 0, 0, 0);
}
