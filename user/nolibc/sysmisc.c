/*
 * sysmisc: uname, clock_gettime, clock_getres, nanosleep, getrandom,
 * sched_yield, set_tid_address, reboot's checks and the id getters, each with its error
 * cases (bad pointers, bad arguments). Prints only what Linux and Pagoda
 * must agree on: return values, errnos and relations, never times or
 * release strings.
 */
#include "nolibc.h"

#define NR_set_tid_address 96
#define NR_nanosleep 101
#define NR_clock_gettime 113
#define NR_clock_getres 114
#define NR_sched_yield 124
#define NR_reboot 142
#define NR_uname 160
#define NR_getpid 172
#define NR_getuid 174
#define NR_geteuid 175
#define NR_getgid 176
#define NR_getegid 177
#define NR_getrandom 278
#define NR_times 153
#define NR_gettimeofday 169
#define NR_sysinfo 179
#define BAD ((long)0x10)
#define KERNEL ((long)0xffff000008000000UL)

static int streq(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

struct timespec_ {
	long sec, nsec;
};

static long ns(struct timespec_ t) { return t.sec * 1000000000L + t.nsec; }

void start_c(long *sp)
{
	(void)sp;
	char uts[6][65];
	struct timespec_ a, b, req;
	unsigned char rnd[64];

	say("uname()=", sys3(NR_uname, (long)uts, 0, 0));
	say("sysname is Linux: ", streq(uts[0], "Linux"));
	say("machine is aarch64: ", streq(uts[4], "aarch64"));
	say("release starts with 6.: ", uts[2][0] == '6' && uts[2][1] == '.');
	say("uname(bad)=", sys3(NR_uname, BAD, 0, 0));
	say("uname(kernel)=", sys3(NR_uname, KERNEL, 0, 0));

	say("clock_gettime(MONOTONIC)=", sys3(NR_clock_gettime, 1, (long)&a, 0));
	sys3(NR_clock_gettime, 1, (long)&b, 0);
	say("monotonic never goes back: ", ns(b) >= ns(a));
	say("tv_nsec in range: ", a.nsec >= 0 && a.nsec < 1000000000L);
	say("clock_gettime(BOOTTIME)=", sys3(NR_clock_gettime, 7, (long)&a, 0));
	say("clock_gettime(REALTIME)=", sys3(NR_clock_gettime, 0, (long)&a, 0));
	say("clock_gettime(999)=", sys3(NR_clock_gettime, 999, (long)&a, 0));
	say("clock_gettime(MONOTONIC, bad)=", sys3(NR_clock_gettime, 1, BAD, 0));
	say("clock_getres(MONOTONIC)=", sys3(NR_clock_getres, 1, (long)&a, 0));
	say("resolution at most 1 ms: ", a.sec == 0 && a.nsec > 0 && a.nsec <= 1000000);
	say("clock_getres(MONOTONIC, NULL)=", sys3(NR_clock_getres, 1, 0, 0));

	req.sec = 0;
	req.nsec = 20000000;
	sys3(NR_clock_gettime, 1, (long)&a, 0);
	say("nanosleep(20 ms)=", sys3(NR_nanosleep, (long)&req, 0, 0));
	sys3(NR_clock_gettime, 1, (long)&b, 0);
	say("slept at least 20 ms: ", ns(b) - ns(a) >= 20000000L);
	req.nsec = 1000000000L;
	say("nanosleep(nsec=1e9)=", sys3(NR_nanosleep, (long)&req, 0, 0));
	req.sec = -1;
	req.nsec = 0;
	say("nanosleep(sec=-1)=", sys3(NR_nanosleep, (long)&req, 0, 0));
	say("nanosleep(bad)=", sys3(NR_nanosleep, BAD, 0, 0));

	say("getrandom(64)=", sys3(NR_getrandom, (long)rnd, 64, 0));
	{
		int nonzero = 0;
		for (int i = 0; i < 64; i++)
			nonzero |= rnd[i];
		say("random bytes not all zero: ", nonzero != 0);
	}
	say("getrandom(0)=", sys3(NR_getrandom, (long)rnd, 0, 0));
	say("getrandom(bad)=", sys3(NR_getrandom, BAD, 16, 0));
	say("getrandom(flags=0x100)=", sys3(NR_getrandom, (long)rnd, 16, 0x100));
	say("getrandom(GRND_NONBLOCK)=", sys3(NR_getrandom, (long)rnd, 16, 1));

	{
		long tv[2], tz[2] = {7, 7}, tms[4];
		unsigned long si[14];
		say("gettimeofday()=", sys3(NR_gettimeofday, (long)tv, (long)tz, 0));
		say("tv_usec in range: ", tv[1] >= 0 && tv[1] < 1000000);
		say("gettimeofday(NULL, NULL)=", sys3(NR_gettimeofday, 0, 0, 0));
		say("gettimeofday(bad)=", sys3(NR_gettimeofday, BAD, 0, 0));
		say("times() > 0: ", sys3(NR_times, (long)tms, 0, 0) > 0);
		say("times(NULL) > 0: ", sys3(NR_times, 0, 0, 0) > 0);
		say("sysinfo()=", sys3(NR_sysinfo, (long)si, 0, 0));
		/* totalram, freeram, procs, mem_unit */
		say("totalram > freeram > 0: ", si[4] > si[5] && si[5] > 0);
		say("procs >= 1: ", (si[10] & 0xffff) >= 1);
		say("mem_unit=", (long)(unsigned int)si[13]);
		say("sysinfo(bad)=", sys3(NR_sysinfo, BAD, 0, 0));
	}
	say("sched_yield()=", sys3(NR_sched_yield, 0, 0, 0));
	say("reboot(bad magic)=", sys3(NR_reboot, 0x1234, 672274793, 0x4321fedc));
	say("reboot(magic, bad command)=", sys3(NR_reboot, 0xfee1dead, 672274793, 0x5555));
	say("set_tid_address() is the pid: ", sys3(NR_set_tid_address, 0, 0, 0) == sys3(NR_getpid, 0, 0, 0));
	say("getuid()=", sys3(NR_getuid, 0, 0, 0));
	say("geteuid()=", sys3(NR_geteuid, 0, 0, 0));
	say("getgid()=", sys3(NR_getgid, 0, 0, 0));
	say("getegid()=", sys3(NR_getegid, 0, 0, 0));
	sys3(NR_exit_group, 0, 0, 0);
}
