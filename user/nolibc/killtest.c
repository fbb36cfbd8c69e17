/*
 * killtest: kill(2) with default actions: a spinning child and a sleeping
 * child die of the signals sent to them, an ignored-by-default signal does
 * nothing, signal 0 probes, and the errors.
 */
#define NR_write 64
#define NR_exit_group 94
#define NR_nanosleep 101
#define NR_kill 129
#define NR_clone 220
#define NR_wait4 260
#define SIGKILL 9
#define SIGTERM 15
#define SIGCHLD 17
#define WNOHANG 1

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

static void say(const char *what, long v)
{
	puts_(what);
	putnum(v);
	puts_("\n");
}

static void sleep_ms(long ms)
{
	long ts[2] = {ms / 1000, (ms % 1000) * 1000000};
	sys4(NR_nanosleep, (long)ts, 0, 0, 0);
}

void start_c(long *sp)
{
	(void)sp;
	int status = 0;

	long pid = sys4(NR_clone, SIGCHLD, 0, 0, 0);
	if (pid == 0)
		for (;;)
			;
	say("kill(spinning child, SIGTERM)=", sys4(NR_kill, pid, SIGTERM, 0, 0));
	say("wait4 reaps it: ", sys4(NR_wait4, pid, (long)&status, 0, 0) == pid);
	say("killed by signal ", status & 0x7f);

	pid = sys4(NR_clone, SIGCHLD, 0, 0, 0);
	if (pid == 0) {
		sleep_ms(10000);
		sys4(NR_exit_group, 1, 0, 0, 0);
	}
	sleep_ms(20);
	say("kill(sleeping child, SIGCHLD)=", sys4(NR_kill, pid, SIGCHLD, 0, 0));
	sleep_ms(20);
	say("an ignored signal leaves it alive: ", sys4(NR_wait4, pid, (long)&status, WNOHANG, 0) == 0);
	say("kill(child, 0)=", sys4(NR_kill, pid, 0, 0, 0));
	say("kill(child, 99)=", sys4(NR_kill, pid, 99, 0, 0));
	say("kill(child, -1)=", sys4(NR_kill, pid, -1, 0, 0));
	say("kill(sleeping child, SIGKILL)=", sys4(NR_kill, pid, SIGKILL, 0, 0));
	say("wait4 reaps it: ", sys4(NR_wait4, pid, (long)&status, 0, 0) == pid);
	say("killed by signal ", status & 0x7f);
	say("kill(no such pid, 0)=", sys4(NR_kill, 999999, 0, 0, 0));
	sys4(NR_exit_group, 0, 0, 0, 0);
}

__asm__(".globl _start\n"
	"_start:\n"
	"	mov x0, sp\n"
	"	bl start_c\n"
	"1:	b 1b\n");
