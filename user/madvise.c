/*
 * madvise: advice, locking, residency and sync for anonymous memory, with
 * Linux's errors. mincore tells which pages are in memory: none before the
 * first touch, all after MAP_POPULATE, MAP_LOCKED, mlock and
 * MADV_POPULATE_WRITE; MADV_DONTNEED frees pages (they read back as zero),
 * MADV_FREE keeps them until memory runs short; MADV_DONTFORK and
 * MADV_WIPEONFORK change what a child gets. Reading memory never written
 * maps the shared zero page and costs no memory; writing it does.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <unistd.h>

#include "show.h"

#define PG 4096L
#define N 8

static char *map(int pages, int flags)
{
	return mmap(NULL, pages * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
}

/* The pages mincore says are in memory, as a string of 0s and 1s. */
static const char *resident(void *p, int pages)
{
	static char s[64];
	unsigned char v[64];
	if (mincore(p, pages * PG, v) != 0) {
		snprintf(s, sizeof(s), "mincore failed: %s", strerrorname_np(errno));
		return s;
	}
	for (int i = 0; i < pages; i++)
		s[i] = '0' + (v[i] & 1);
	s[pages] = 0;
	return s;
}

/* Forks a child that reads the first byte of p; its wait status. */
static int child_reads(char *p, char *out)
{
	int fd[2];
	pipe(fd);
	pid_t pid = fork();
	if (pid == 0) {
		char c = *(volatile char *)p;
		write(fd[1], &c, 1);
		_exit(0);
	}
	int status;
	waitpid(pid, &status, 0);
	*out = -1;
	if (WIFEXITED(status))
		read(fd[0], out, 1);
	close(fd[0]), close(fd[1]);
	return status;
}

int main(void)
{
	char *p = map(N, 0);
	printf("fresh mapping: %s\n", resident(p, N));
	p[0] = 1, p[3 * PG] = 1;
	printf("after touching pages 0 and 3: %s\n", resident(p, N));
	show("mincore(unaligned)", mincore(p + 1, PG, (unsigned char *)p));
	show("mincore(bad vector)", syscall(SYS_mincore, p, PG, 16));
	show("mincore(unmapped)", mincore((void *)0x7e0000000000, PG, (unsigned char *)p));
	show("mincore(len 0)", mincore(p, 0, NULL));

	/* DONTNEED frees; FREE keeps (no memory pressure). */
	memset(p, 'x', N * PG);
	show("madvise(DONTNEED, pages 0-1)", madvise(p, 2 * PG, MADV_DONTNEED));
	printf("  resident %s, page 0 reads %d, page 2 reads '%c'\n", resident(p, N), p[0], p[2 * PG]);
	show("madvise(FREE, pages 2-3)", madvise(p + 2 * PG, 2 * PG, MADV_FREE));
	printf("  page 2 still reads '%c'\n", p[2 * PG]);
	show("madvise(advice 99)", madvise(p, PG, 99));
	show("madvise(unaligned)", madvise(p + 1, PG, MADV_NORMAL));
	show("madvise(len 0)", madvise(p, 0, MADV_NORMAL));
	show("madvise(RANDOM)", madvise(p, PG, MADV_RANDOM));
	show("madvise(SEQUENTIAL)", madvise(p, PG, MADV_SEQUENTIAL));
	show("madvise(WILLNEED)", madvise(p, PG, MADV_WILLNEED));
	show("madvise(REMOVE) on private memory", madvise(p, PG, MADV_REMOVE));
	munmap(p + 4 * PG, PG);
	show("madvise(NORMAL) over a hole", madvise(p, N * PG, MADV_NORMAL));
	show("madvise(DONTNEED) over a hole", madvise(p, N * PG, MADV_DONTNEED));
	munmap(p, N * PG);

	/* Populating. */
	p = map(N, MAP_POPULATE);
	printf("MAP_POPULATE: %s\n", resident(p, N));
	munmap(p, N * PG);
	p = map(N, 0);
	show("madvise(POPULATE_WRITE, pages 1-2)", madvise(p + PG, 2 * PG, MADV_POPULATE_WRITE));
	printf("  %s\n", resident(p, N));
	show("madvise(POPULATE_READ) over a hole", (munmap(p + 7 * PG, PG), madvise(p, N * PG, MADV_POPULATE_READ)));
	munmap(p, N * PG);

	/* Locking. */
	p = map(N, 0);
	show("mlock(pages 0-2)", mlock(p, 3 * PG));
	printf("  %s\n", resident(p, N));
	show("mlock(unaligned start, 1 byte)", mlock(p + 5 * PG + 100, 1));
	printf("  %s\n", resident(p, N));
	show("madvise(DONTNEED) on locked pages", madvise(p, PG, MADV_DONTNEED));
	show("msync(MS_INVALIDATE) on locked pages", msync(p, PG, MS_INVALIDATE));
	show("munlock(all)", munlock(p, N * PG));
	show("madvise(DONTNEED) after munlock", madvise(p, PG, MADV_DONTNEED));
	show("mlock2(MLOCK_ONFAULT, page 7)", mlock2(p + 7 * PG, PG, MLOCK_ONFAULT));
	printf("  %s\n", resident(p, N));
	show("mlock2(bad flags)", mlock2(p, PG, 8));
	show("mlock(unmapped)", mlock((void *)0x7e0000000000, PG));
	munmap(p, N * PG);
	p = map(N, MAP_LOCKED);
	printf("MAP_LOCKED: %s\n", resident(p, N));
	munmap(p, N * PG);
	show("mlockall(0)", mlockall(0));
	show("mlockall(MCL_ONFAULT)", mlockall(MCL_ONFAULT));
	show("mlockall(MCL_FUTURE)", mlockall(MCL_FUTURE));
	p = map(N, 0);
	printf("  a new mapping after MCL_FUTURE: %s\n", resident(p, N));
	show("munlockall", munlockall());
	munmap(p, N * PG);
	p = map(N, 0);
	printf("  after munlockall: %s\n", resident(p, N));

	/* msync. */
	show("msync(MS_SYNC)", msync(p, N * PG, MS_SYNC));
	show("msync(MS_ASYNC|MS_SYNC)", msync(p, PG, MS_ASYNC | MS_SYNC));
	show("msync(bad flags)", msync(p, PG, 8));
	show("msync(unaligned)", msync(p + 1, PG, MS_SYNC));
	show("msync(unmapped)", msync((void *)0x7e0000000000, PG, MS_SYNC));

	/* What a child gets. */
	char c;
	p[0] = 'k';
	show("madvise(DONTFORK)", madvise(p, PG, MADV_DONTFORK));
	int st = child_reads(p, &c);
	printf("  the child touching it: killed by %d\n", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	show("madvise(DOFORK)", madvise(p, PG, MADV_DOFORK));
	child_reads(p, &c);
	printf("  the child reads '%c'\n", c);
	show("madvise(WIPEONFORK)", madvise(p, PG, MADV_WIPEONFORK));
	child_reads(p, &c);
	printf("  the child reads %d, the parent '%c'\n", c, p[0]);
	show("madvise(KEEPONFORK)", madvise(p, PG, MADV_KEEPONFORK));
	child_reads(p, &c);
	printf("  the child reads '%c'\n", c);

	/* mmap flags. */
	show("mmap(anonymous, MAP_SHARED_VALIDATE)",
	     (long)mmap(NULL, PG, PROT_READ, MAP_SHARED_VALIDATE | MAP_ANONYMOUS | 0x40000000, -1, 0));
	show("mmap(anonymous, MAP_SHARED | MAP_GROWSDOWN)",
	     (long)mmap(NULL, PG, PROT_READ, MAP_SHARED | MAP_ANONYMOUS | MAP_GROWSDOWN, -1, 0));
	show("mmap(MAP_HUGETLB) with no huge pages", (long)mmap(NULL, 2 << 20, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0));
	char *s = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
	s[0] = 1;
	printf("MAP_STACK | MAP_NORESERVE works: %d\n", s != MAP_FAILED && s[0] == 1);

	/* The zero page. */
	struct sysinfo before, after;
	long len = 256L << 20;
	char *z = map(len / PG, 0);
	sysinfo(&before);
	long sum = 0;
	for (long i = 0; i < len; i += PG)
		sum += ((volatile char *)z)[i];
	sysinfo(&after);
	printf("reading 256 MiB never written: all zero %d, costs under 16 MiB %d\n", sum == 0,
	       (long)(before.freeram - after.freeram) * (long)before.mem_unit < (16L << 20));
	for (long i = 0; i < len; i += PG)
		z[i] = 1;
	sysinfo(&after);
	printf("writing it costs at least 200 MiB: %d\n",
	       (long)(before.freeram - after.freeram) * (long)before.mem_unit >= (200L << 20));
	munmap(z, len);
	return 0;
}
