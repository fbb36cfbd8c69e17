/*
 * filemap: mapping files of the RAM filesystem (tmpfs) and memfds.
 * A shared mapping and read()/write() see the same page cache, each the
 * other's writes; a private mapping sees the file until it writes a page,
 * which it then keeps to itself; past the end of the file is SIGBUS, also
 * for a page that was mapped before ftruncate cut it off; the errno cases
 * of mmap on files.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "show.h"

#define PG 4096L

static sigjmp_buf env;
static volatile int bus_code;

static void on_sigbus(int sig, siginfo_t *si, void *ctx)
{
	(void)sig, (void)ctx;
	bus_code = si->si_code;
	siglongjmp(env, 1);
}

/* Reads one byte at p, or reports SIGBUS. */
static void touch(const char *what, volatile char *p)
{
	bus_code = 0;
	if (sigsetjmp(env, 1) == 0) {
		char c = *p;
		printf("%s: '%c'\n", what, c ? c : '0'); /* '0' for a NUL */
	} else {
		printf("%s: SIGBUS, si_code %d (BUS_ADRERR)\n", what, bus_code);
	}
}

static char byte_at(int fd, off_t off)
{
	char c = '?';
	pread(fd, &c, 1, off);
	return c;
}

int main(void)
{
	struct sigaction sa = { .sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO };
	sigaction(SIGBUS, &sa, NULL);

	int fd = open("/tmp/filemap", O_RDWR | O_CREAT | O_TRUNC, 0644);
	char page[PG];
	for (int i = 0; i < 3; i++) {
		memset(page, 'A' + i, PG);
		write(fd, page, PG);
	}

	/* A private mapping from the second page. */
	char *pv = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, PG);
	printf("private mapping at offset 4096: '%c' '%c'\n", pv[0], pv[PG]);

	/* A shared mapping of the whole file. */
	char *sh = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	sh[0] = 'x';
	printf("written through the shared mapping, read(): '%c'\n", byte_at(fd, 0));
	pwrite(fd, "y", 1, PG + 1);
	printf("pwrite(), then the shared mapping: '%c'; the private one (page not written): '%c'\n", sh[PG + 1],
	       pv[1]);
	pv[2] = 'z';
	printf("a private write stays private: mapping '%c', read() '%c', shared '%c'\n", pv[2], byte_at(fd, PG + 2),
	       sh[PG + 2]);
	pwrite(fd, "w", 1, PG + 3);
	printf("after the private copy, the file changes under it unseen: '%c'\n", pv[3]);
	show("msync(MS_SYNC)", msync(sh, 3 * PG, MS_SYNC));
	struct stat st;
	fstat(fd, &st);
	printf("size %ld\n", (long)st.st_size);

	/* The errno cases. */
	show("mmap(unaligned offset)", (long)mmap(NULL, PG, PROT_READ, MAP_SHARED, fd, 100));
	int ro = open("/tmp/filemap", O_RDONLY);
	show("mmap(read-only fd, MAP_SHARED, PROT_WRITE)", (long)mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0));
	char *rop = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, ro, 0);
	printf("read-only fd, MAP_PRIVATE, PROT_WRITE: %s, '%c'\n", rop == MAP_FAILED ? "failed" : "mapped", rop[0]);
	char *ros = mmap(NULL, PG, PROT_READ, MAP_SHARED, ro, 0);
	show("mprotect(PROT_WRITE) of a shared read-only-fd mapping", mprotect(ros, PG, PROT_READ | PROT_WRITE));
	int wo = open("/tmp/filemap", O_WRONLY);
	show("mmap(write-only fd)", (long)mmap(NULL, PG, PROT_READ, MAP_PRIVATE, wo, 0));
	int dir = open("/tmp", O_RDONLY | O_DIRECTORY);
	show("mmap(directory)", (long)mmap(NULL, PG, PROT_READ, MAP_PRIVATE, dir, 0));
	show("mmap(bad fd)", (long)mmap(NULL, PG, PROT_READ, MAP_PRIVATE, 99, 0));
	show("ftruncate(read-only fd)", ftruncate(ro, 0));
	show("ftruncate(negative)", ftruncate(fd, -1));

	/* ftruncate cuts the file: every page past the end is SIGBUS, the one
	 * mapped already as well as the one never touched. */
	char *big = mmap(NULL, 4 * PG, PROT_READ, MAP_SHARED, fd, 0);
	touch("past the end of the file, in the mapping", big + 3 * PG);
	show("ftruncate(4096)", ftruncate(fd, PG));
	touch("offset 0 after ftruncate", big);
	touch("offset 4097 (mapped before) after ftruncate", sh + PG + 1);
	touch("offset 8192 (never touched) after ftruncate", big + 2 * PG);
	touch("the private copy, past the end", pv + 2);
	show("ftruncate(12288)", ftruncate(fd, 3 * PG));
	touch("offset 4097 after growing again (a hole, '0' = NUL)", sh + PG + 1);
	printf("read() there: '%c' (0 = NUL)\n", byte_at(fd, PG + 1) ? byte_at(fd, PG + 1) : '0');

	/* memfd_create: a file in no directory. */
	int mfd = memfd_create("filemap-test", MFD_CLOEXEC);
	printf("memfd_create: %s\n", mfd >= 0 ? "an fd" : "failed");
	show("ftruncate(memfd, 8192)", ftruncate(mfd, 2 * PG));
	char *m = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	strcpy(m + PG, "through the mapping");
	char buf[32] = { 0 };
	pread(mfd, buf, 19, PG);
	printf("memfd read(): \"%s\"\n", buf);
	fstat(mfd, &st);
	printf("memfd size %ld, mode %o\n", (long)st.st_size, st.st_mode & 0777);
	show("memfd_create(unknown flag)", memfd_create("x", 0x100));
	char longname[300];
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	show("memfd_create(name too long)", memfd_create(longname, 0));
	unlink("/tmp/filemap");
	return 0;
}
