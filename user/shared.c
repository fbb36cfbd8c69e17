/*
 * shared: anonymous memory shared between a parent and its child
 * (MAP_SHARED | MAP_ANONYMOUS), against private memory, which fork copies
 * on write. The child's writes to the shared mapping are the parent's
 * too, and the other way round, also after mremap moved it; past the end
 * of the shared object (mremap grew the mapping) is SIGBUS.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "show.h"

#define PG 4096L

int main(void)
{
	char *sh = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	char *pv = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	sh[0] = 'a', pv[0] = 'a';
	int go[2];
	pipe(go);
	pid_t pid = fork();
	if (pid == 0) {
		printf("child sees the parent's writes: shared '%c', private '%c'\n", sh[0], pv[0]);
		sh[0] = 'b', sh[3 * PG] = 'c', pv[0] = 'b';
		char c;
		read(go[0], &c, 1); /* the parent wrote meanwhile */
		printf("child sees the parent's later write: '%c'\n", sh[PG]);
		_exit(0);
	}
	int status;
	sh[PG] = 'p';
	write(go[1], "x", 1);
	waitpid(pid, &status, 0);
	printf("parent sees the child's writes: shared '%c' '%c', private '%c'\n", sh[0], sh[3 * PG], pv[0]);

	/* mremap moves the mapping; it still shares the same pages. */
	char *block = mmap(sh + 4 * PG, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	char *moved = mremap(sh, 4 * PG, 4 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, sh + 64 * PG);
	pid = fork();
	if (pid == 0) {
		moved[2 * PG] = 'm';
		_exit(0);
	}
	waitpid(pid, &status, 0);
	printf("after mremap: data '%c', a child's write seen '%c'\n", moved[0], moved[2 * PG]);

	/* Growing the mapping does not grow the object: SIGBUS past it. */
	munmap(block, PG);
	char *grown = mremap(moved, 4 * PG, 8 * PG, MREMAP_MAYMOVE);
	pid = fork();
	if (pid == 0) {
		grown[6 * PG] = 1;
		_exit(0);
	}
	waitpid(pid, &status, 0);
	printf("touching past the shared object: killed by %d (SIGBUS)\n", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	show("MADV_DONTNEED on shared memory", madvise(grown, 4 * PG, MADV_DONTNEED));
	printf("  the data stays in the object: '%c'\n", grown[0]);
	return 0;
}
