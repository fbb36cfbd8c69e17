/*
 * rlimits: the resource limits a process inherits from init, and
 * getrlimit/setrlimit/prlimit64 with their error cases. NPROC and
 * SIGPENDING are skipped: Linux sizes them from the machine's memory.
 */
#define NR_write 64
#define NR_exit_group 94
#define NR_getrlimit 163
#define NR_setrlimit 164
#define NR_prlimit64 261
#define BAD ((long)0x10)

static long sys4(long nr, long a, long b, long c, long d)
{
	register long x8 __asm__("x8") = nr;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	register long x3 __asm__("x3") = d;
	__asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
	return x0;
}

static unsigned long len(const char *s)
{
	unsigned long n = 0;
	while (s[n])
		n++;
	return n;
}

static void puts_(const char *s) { sys4(NR_write, 1, (long)s, (long)len(s), 0); }

static void putnum(long v)
{
	char buf[24];
	int i = sizeof(buf);
	int neg = v < 0;
	unsigned long u = neg ? -(unsigned long)v : (unsigned long)v;
	buf[--i] = 0;
	do {
		buf[--i] = '0' + u % 10;
		u /= 10;
	} while (u);
	if (neg)
		buf[--i] = '-';
	puts_(buf + i);
}

static void putlim(unsigned long v)
{
	if (v == ~0UL)
		puts_("unlimited");
	else
		putnum((long)v);
}

static void say(const char *what, long v)
{
	puts_(what);
	putnum(v);
	puts_("\n");
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

__asm__(".globl _start\n"
	"_start:\n"
	"	mov x0, sp\n"
	"	bl start_c\n"
	"1:	b 1b\n");
