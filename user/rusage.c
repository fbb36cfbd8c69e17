/*
 * rusage: what getrusage, wait4 and times report moves with the work done.
 * Touching new pages counts minor faults, spinning in user space counts
 * user time, and a reaped child's counts go to RUSAGE_CHILDREN and the
 * tms_c* fields. Only thresholds are printed: the exact figures differ
 * between kernels and runs.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/times.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Spins in user space, reading the clock (a system call on Pagoda,
 * which has no vDSO yet) only now and then. */
static void spin(double seconds)
{
	double end = now() + seconds;
	while (now() < end)
		for (volatile int i = 0; i < 100000; i++)
			;
}

static void touch(int pages)
{
	char *p = mmap(NULL, pages * 4096L, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	for (int i = 0; i < pages; i++)
		p[i * 4096L] = 1;
	munmap(p, pages * 4096L);
}

static double secs(struct timeval tv)
{
	return tv.tv_sec + tv.tv_usec / 1e6;
}

int main(void)
{
	struct rusage a, b;
	struct tms t0, t1;
	long hz = sysconf(_SC_CLK_TCK);
	printf("sysconf(_SC_CLK_TCK)=%ld\n", hz);

	getrusage(RUSAGE_SELF, &a);
	times(&t0);
	touch(200);
	spin(0.4);
	getrusage(RUSAGE_SELF, &b);
	times(&t1);
	printf("200 new pages: at least 200 more minor faults: %d\n", b.ru_minflt - a.ru_minflt >= 200);
	printf("0.4 s spinning: at least 0.1 s more user time: %d\n", secs(b.ru_utime) - secs(a.ru_utime) >= 0.1);
	printf("times(): at least 10 more user ticks: %d\n", t1.tms_utime - t0.tms_utime >= hz / 10);
	printf("no child time yet: %d\n", t1.tms_cutime == 0);

	pid_t pid = fork();
	if (pid == 0) {
		touch(100);
		spin(0.3);
		_exit(0);
	}
	struct rusage child;
	wait4(pid, NULL, 0, &child);
	printf("wait4's rusage: at least 100 faults and 0.1 s user: %d %d\n", child.ru_minflt >= 100,
	       secs(child.ru_utime) >= 0.1);
	struct rusage c;
	getrusage(RUSAGE_CHILDREN, &c);
	printf("RUSAGE_CHILDREN has them: %d %d\n", c.ru_minflt >= 100, secs(c.ru_utime) >= 0.1);
	times(&t1);
	printf("times(): the child's user ticks: %d\n", t1.tms_cutime >= hz / 10);
	getrusage(RUSAGE_SELF, &b);
	printf("the child's faults are not ours: %d\n", b.ru_minflt - a.ru_minflt < 300);
	return 0;
}
