/*
 * oomkill: the OOM killer, without swap. A child that touches anonymous
 * memory without end is killed with SIGKILL once reclaim can free nothing
 * more; its parent, whose own memory is small, lives on with its data
 * intact and can allocate again. The kernel's report ("Out of memory:
 * Killed process ...") goes to the kernel log, not to this output.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "show.h"

#define MiB (1UL << 20)

/* Touches 4 MiB after 4 MiB until the kernel stops it. */
static void runaway(void)
{
	for (;;) {
		char *p = mmap(NULL, 4 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			_exit(2);
		for (unsigned long i = 0; i < 4 * MiB; i += 4096)
			p[i] = 1;
	}
}

/* Fills `len` bytes with a pattern seeded by `seed`, or checks it. */
static int pattern(unsigned char *p, unsigned long len, unsigned seed, int check)
{
	for (unsigned long i = 0; i < len; i += 512) {
		unsigned char v = (unsigned char)(i / 512 * 7 + seed);
		if (!check)
			p[i] = v;
		else if (p[i] != v)
			return 0;
	}
	return 1;
}

static void report(const char *who, int status)
{
	if (WIFSIGNALED(status))
		printf("%s: killed by signal %d (%s)\n", who, WTERMSIG(status), sigabbrev_np(WTERMSIG(status)));
	else
		printf("%s: exited with %d\n", who, WEXITSTATUS(status));
}

int main(void)
{
	unsigned char *mine = mmap(NULL, 16 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pattern(mine, 16 * MiB, 3, 0);
	fflush(stdout);

	pid_t pid = fork();
	if (pid == 0)
		runaway();
	int status;
	waitpid(pid, &status, 0);
	report("runaway child", status);
	printf("parent's 16 MiB intact: %s\n", pattern(mine, 16 * MiB, 3, 1) ? "yes" : "no");

	/* The memory came back: a second allocation as large succeeds. */
	unsigned long len = 256 * MiB;
	unsigned char *more = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pattern(more, len, 5, 0);
	printf("parent touched 256 MiB after the kill: %s\n", pattern(more, len, 5, 1) ? "ok" : "bad data");
	munmap(more, len);

	/* A second runaway is killed the same way. */
	fflush(stdout);
	pid = fork();
	if (pid == 0)
		runaway();
	waitpid(pid, &status, 0);
	report("second runaway child", status);
	return 0;
}
