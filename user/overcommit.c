/*
 * overcommit: what mmap and brk refuse before any page is touched. With
 * the default heuristic (vm.overcommit_memory = 0) a private writable or
 * shared mapping larger than RAM and swap is refused, while MAP_NORESERVE
 * and read-only private mappings are not charged; RLIMIT_AS and
 * RLIMIT_DATA limit the address space and the data mappings. The limits
 * are tried in children, which report with their exit status.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "show.h"

#define GiB (1UL << 30)
#define MiB (1UL << 20)

static long try_map(unsigned long len, int prot, int flags)
{
	void *p = mmap(NULL, len, prot, flags | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	munmap(p, len);
	return 0;
}

/* Runs fn in a child; prints its result, passed back as the exit code. */
static void in_child(const char *what, int (*fn)(void))
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(fn());
	int status;
	waitpid(pid, &status, 0);
	int code = WEXITSTATUS(status);
	printf("%s: %s\n", what, code ? strerrorname_np(code) : "ok");
}

static int as_limit(void)
{
	struct rlimit r = {256 * MiB, 256 * MiB};
	setrlimit(RLIMIT_AS, &r);
	if (mmap(NULL, 512 * MiB, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) != MAP_FAILED)
		return 0;
	return errno;
}

static int as_limit_small(void)
{
	struct rlimit r = {256 * MiB, 256 * MiB};
	setrlimit(RLIMIT_AS, &r);
	return mmap(NULL, 16 * MiB, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED ? errno : 0;
}

static int data_limit(void)
{
	struct rlimit r = {64 * MiB, 64 * MiB};
	setrlimit(RLIMIT_DATA, &r);
	return mmap(NULL, 128 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED ? errno
												    : 0;
}

static int data_limit_readonly(void)
{
	struct rlimit r = {64 * MiB, 64 * MiB};
	setrlimit(RLIMIT_DATA, &r);
	return mmap(NULL, 128 * MiB, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED ? errno : 0;
}

static int data_limit_brk(void)
{
	struct rlimit r = {64 * MiB, 64 * MiB};
	setrlimit(RLIMIT_DATA, &r);
	void *cur = sbrk(0);
	return brk((char *)cur + 128 * MiB) ? errno : 0;
}

int main(void)
{
	show("mmap(64 GiB, private, read-write)", try_map(64 * GiB, PROT_READ | PROT_WRITE, MAP_PRIVATE));
	show("  the same with MAP_NORESERVE", try_map(64 * GiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE));
	show("  the same read-only (not charged)", try_map(64 * GiB, PROT_READ, MAP_PRIVATE));
	show("mmap(64 GiB, shared)", try_map(64 * GiB, PROT_READ, MAP_SHARED));
	show("  the same with MAP_NORESERVE", try_map(64 * GiB, PROT_READ, MAP_SHARED | MAP_NORESERVE));
	show("mmap(256 MiB, private, read-write)", try_map(256 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE));
	char *ro = mmap(NULL, 64 * GiB, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	show("mprotect(64 GiB read-only -> read-write)", mprotect(ro, 64 * GiB, PROT_READ | PROT_WRITE));
	munmap(ro, 64 * GiB);
	void *a = sbrk(0);
	show("brk(+64 GiB)", brk((char *)a + 64 * GiB));
	in_child("RLIMIT_AS 256 MiB, mmap 512 MiB", as_limit);
	in_child("RLIMIT_AS 256 MiB, mmap 16 MiB", as_limit_small);
	in_child("RLIMIT_DATA 64 MiB, mmap 128 MiB read-write", data_limit);
	in_child("RLIMIT_DATA 64 MiB, mmap 128 MiB read-only", data_limit_readonly);
	in_child("RLIMIT_DATA 64 MiB, brk +128 MiB", data_limit_brk);
	return 0;
}
