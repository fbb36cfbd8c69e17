/*
 * diskmap: mapping a disk. /dev/vda is the 8 MiB test disk (sector N
 * begins "sector N of the pagoda test disk"). A shared mapping reads the
 * disk's page cache, and a write through it is seen by read() and reaches
 * the disk on msync(MS_SYNC) (tests/usertests.sh then finds it in the
 * image file); write() is seen through the mapping; a private mapping's
 * writes stay private; past the end of the disk is SIGBUS.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "show.h"

#define PG 4096L
#define MB (1L << 20)

static sigjmp_buf env;

static void on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(env, 1);
}

static void touch(const char *what, volatile char *p)
{
	if (sigsetjmp(env, 1) == 0) {
		char c = *p;
		printf("%s: %s\n", what, c ? "a byte" : "NUL");
	} else {
		printf("%s: SIGBUS\n", what);
	}
}

int main(void)
{
	signal(SIGBUS, on_sigbus);
	int fd = open("/dev/vda", O_RDWR);
	show("open /dev/vda", fd);

	/* 1 MiB of the disk from 2 MiB, shared. */
	char *sh = mmap(NULL, MB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 2 * MB);
	printf("shared mapping: %s\n", sh == MAP_FAILED ? "failed" : "mapped");
	line("offset 0 (sector 4096)", sh);
	line("offset 4096 + 512 (sector 4105)", sh + PG + 512);

	const char msg[] = "written through a shared mapping of /dev/vda";
	memcpy(sh + 100, msg, sizeof(msg));
	char buf[128] = { 0 };
	show("pread where the mapping wrote", pread(fd, buf, sizeof(msg), 2 * MB + 100));
	line("read()", buf);
	show("pwrite 'pwrite was here' at 2 MiB + 3 pages", pwrite(fd, "pwrite was here", 15, 2 * MB + 3 * PG));
	line("the mapping sees it", sh + 3 * PG);
	show("msync(MS_SYNC)", msync(sh, MB, MS_SYNC));
	/* Written again after writeback cleaned it: must fault and dirty again. */
	memcpy(sh + 200, "second write after msync", 25);
	show("msync(MS_SYNC) again", msync(sh, PG, MS_SYNC));
	show("msync(MS_ASYNC)", msync(sh, PG, MS_ASYNC));
	show("msync(MS_SYNC|MS_ASYNC)", msync(sh, PG, MS_SYNC | MS_ASYNC));

	/* A private mapping of the same pages. */
	char *pv = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 2 * MB);
	line("private, offset 100", pv + 100);
	memcpy(pv + PG, "private", 7);
	line("after a private write, the shared mapping", sh + PG);
	line("and the private one", pv + PG);

	/* The last page of the disk, then past it. */
	char *end = mmap(NULL, 2 * PG, PROT_READ, MAP_SHARED, fd, 8 * MB - PG);
	line("the last page (sector 16376)", end);
	touch("one page past the end of the disk", end + PG);

	show("munmap", munmap(sh, MB));
	show("close", close(fd));
	/* After the last close: the data is on the disk; read it back. */
	fd = open("/dev/vda", O_RDONLY);
	show("pread after close", pread(fd, buf, 25, 2 * MB + 200));
	line("read()", buf);
	close(fd);

	/* A read-only disk. */
	int ro = open("/dev/vdb", O_RDONLY);
	show("mmap(vdb O_RDONLY, MAP_SHARED, PROT_WRITE)",
	     (long)mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0));
	char *r = mmap(NULL, PG, PROT_READ, MAP_SHARED, ro, 0);
	line("vdb through a read-only mapping", r);
	return 0;
}
