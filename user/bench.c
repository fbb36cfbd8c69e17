/*
 * bench: user workloads that exercise the mm, timed with the monotonic
 * clock, one line each: "bench: NAME N us". `make bench-user` runs it on
 * Pagoda and on Debian's Linux under `-icount shift=0`, where time is
 * counted in guest instructions, so the two kernels are compared on the
 * work they do, and prints the ratio.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PG 4096L

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void report(const char *name, double us)
{
	printf("bench: %s %.1f us\n", name, us);
}

static char *anon(long len)
{
	return mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

int main(void)
{
	const long pages = 2048;
	double t;

	/* Anonymous faults, per page. */
	char *p = anon(pages * PG);
	t = now_us();
	for (long i = 0; i < pages; i++)
		p[i * PG] = 1;
	report("anon_write_fault_per_page", (now_us() - t) / pages);
	munmap(p, pages * PG);
	p = anon(pages * PG);
	volatile char sink = 0;
	t = now_us();
	for (long i = 0; i < pages; i++)
		sink += p[i * PG];
	report("anon_read_fault_per_page", (now_us() - t) / pages);
	munmap(p, pages * PG);

	/* fork with 32 MiB touched, and the child's COW writes to all of it. */
	long big = 32L << 20;
	p = anon(big);
	memset(p, 1, big);
	t = now_us();
	pid_t pid = fork();
	if (pid == 0) {
		for (long i = 0; i < big; i += PG)
			p[i] = 2;
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	report("fork_32MiB_and_cow_all", now_us() - t);
	munmap(p, big);

	/* fork + exit + wait of a small process. */
	const int forks = 50;
	t = now_us();
	for (int i = 0; i < forks; i++) {
		pid = fork();
		if (pid == 0)
			_exit(0);
		waitpid(pid, NULL, 0);
	}
	report("fork_exit_wait", (now_us() - t) / forks);

	/* mmap + touch + munmap of one page. */
	const int rounds = 500;
	t = now_us();
	for (int i = 0; i < rounds; i++) {
		char *q = anon(PG);
		q[0] = 1;
		munmap(q, PG);
	}
	report("mmap_touch_munmap_1_page", (now_us() - t) / rounds);

	/* mmap + munmap of 1 MiB never touched. */
	t = now_us();
	for (int i = 0; i < rounds; i++)
		munmap(anon(1 << 20), 1 << 20);
	report("mmap_munmap_1MiB_untouched", (now_us() - t) / rounds);

	/* brk grow + touch + shrink. */
	char *base = sbrk(0);
	t = now_us();
	for (int i = 0; i < 100; i++) {
		brk(base + 16 * PG);
		for (int j = 0; j < 16; j++)
			base[j * PG] = 1;
		brk(base);
	}
	report("brk_grow16_touch_shrink", (now_us() - t) / 100);

	/* mprotect of 64 pages there and back. */
	p = anon(64 * PG);
	memset(p, 1, 64 * PG);
	t = now_us();
	for (int i = 0; i < rounds; i++) {
		mprotect(p, 64 * PG, PROT_READ);
		mprotect(p, 64 * PG, PROT_READ | PROT_WRITE);
	}
	report("mprotect_64_pages_there_and_back", (now_us() - t) / rounds);
	munmap(p, 64 * PG);

	/* A glibc malloc/free mix: small blocks from the heap, large from mmap. */
	void *slots[64] = {0};
	unsigned r = 1;
	t = now_us();
	for (int i = 0; i < 20000; i++) {
		r = r * 1103515245 + 12345;
		int k = (r >> 16) % 64;
		free(slots[k]);
		size_t sz = (r >> 8) % 7 == 0 ? 200000 : 16 + (r >> 4) % 2000;
		slots[k] = malloc(sz);
		((char *)slots[k])[0] = 1;
	}
	for (int k = 0; k < 64; k++)
		free(slots[k]);
	report("malloc_free_mix_20000", now_us() - t);
	return sink;
}
