/*
 * exectest: execve from user space: a forked child becomes another
 * program with the arguments it was given; execve's errors; the parent
 * sees the new program's exit status.
 */
#define NR_write 64
#define NR_exit_group 94
#define NR_clone 220
#define NR_execve 221
#define NR_wait4 260
#define SIGCHLD 17

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

/* Forks a child that execs `path` (or reports why not and exits 9);
 * returns the child's wait status. */
static int run(const char *path, char **argv, char **envp)
{
	int status = 0;
	long pid = sys4(NR_clone, SIGCHLD, 0, 0, 0);
	if (pid == 0) {
		say("child: execve failed with ", sys4(NR_execve, (long)path, (long)argv, (long)envp, 0));
		sys4(NR_exit_group, 9, 0, 0, 0);
	}
	sys4(NR_wait4, pid, (long)&status, 0, 0);
	return status;
}

void start_c(long *sp)
{
	(void)sp;
	char *argv[] = {"/bin/hello-raw", "from-exec", 0};
	char *envp[] = {"A=1", 0};
	int st = run("/bin/hello-raw", argv, envp);
	say("the exec'd program exited with ", (st >> 8) & 0xff);
	st = run("/nope", argv, envp);
	say("missing file: child exited with ", (st >> 8) & 0xff);
	st = run("/etc/motd", argv, envp);
	say("not executable: child exited with ", (st >> 8) & 0xff);
	say("execve(bad path)=", sys4(NR_execve, 0x10, (long)argv, (long)envp, 0));
	say("execve(bad argv)=", sys4(NR_execve, (long)"/bin/hello-raw", 0x10, (long)envp, 0));
	sys4(NR_exit_group, 0, 0, 0, 0);
}

__asm__(".globl _start\n"
	"_start:\n"
	"	mov x0, sp\n"
	"	bl start_c\n"
	"1:	b 1b\n");
