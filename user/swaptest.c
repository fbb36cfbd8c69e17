/*
 * swaptest DEV MIB [PROCS]: more anonymous memory than RAM, through swap.
 * Turns DEV (a disk prepared by mkswap) on with swapon(2), then PROCS
 * processes (default 1) each write MIB MiB of anonymous memory, a pattern
 * unique to every page, and read it all back twice, counting pages that
 * came back wrong. A child forked with its parent's pages swapped out
 * checks that it sees them too (COW across swap), and the parent that its
 * own are untouched by the child's writes. At the end swapoff(2) brings
 * every page of a last mapping back from the device, intact.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/swap.h>
#include <sys/wait.h>
#include <unistd.h>

#include "show.h"

#define MiB (1UL << 20)
#define PAGE 4096UL

/* The word at `i` of page `pg` for process tag `tag`. */
static uint64_t word(uint64_t tag, unsigned long pg, unsigned i)
{
	return (tag << 48) ^ (pg * 0x9e3779b97f4a7c15UL) ^ i;
}

static void fill(char *p, unsigned long pages, uint64_t tag)
{
	for (unsigned long pg = 0; pg < pages; pg++) {
		uint64_t *w = (uint64_t *)(p + pg * PAGE);
		for (unsigned i = 0; i < PAGE / 8; i += 64)
			w[i] = word(tag, pg, i);
	}
}

/* Pages whose words are not what `fill` wrote. */
static unsigned long bad_pages(const char *p, unsigned long pages, uint64_t tag)
{
	unsigned long bad = 0;
	for (unsigned long pg = 0; pg < pages; pg++) {
		const uint64_t *w = (const uint64_t *)(p + pg * PAGE);
		for (unsigned i = 0; i < PAGE / 8; i += 64)
			if (w[i] != word(tag, pg, i)) {
				bad++;
				break;
			}
	}
	return bad;
}

static char *map(unsigned long len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* One worker: writes, then verifies twice. Exit status: 0 if all good. */
static int worker(unsigned long mib, uint64_t tag)
{
	unsigned long pages = mib * MiB / PAGE;
	char *p = map(mib * MiB);
	if (!p) {
		printf("process %lx: mmap of %lu MiB failed\n", (unsigned long)tag, mib);
		return 2;
	}
	fill(p, pages, tag);
	unsigned long bad1 = bad_pages(p, pages, tag), bad2 = bad_pages(p, pages, tag);
	if (bad1 || bad2)
		printf("process %lx: %lu bad pages in the first pass, %lu in the second\n", (unsigned long)tag, bad1, bad2);
	return bad1 || bad2 ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		printf("usage: swaptest DEV MIB [PROCS]\n");
		return 2;
	}
	const char *dev = argv[1];
	unsigned long mib = strtoul(argv[2], NULL, 0);
	int procs = argc > 3 ? atoi(argv[3]) : 1;
	show("swapon", swapon(dev, 0));
	show("swapon again", swapon(dev, 0));

	fflush(stdout);
	int good = 0;
	for (int i = 0; i < procs; i++)
		if (fork() == 0)
			_exit(worker(mib / procs, 0x100 + i));
	for (int i = 0; i < procs; i++) {
		int status;
		wait(&status);
		good += WIFEXITED(status) && WEXITSTATUS(status) == 0;
	}
	printf("%d of %d processes wrote %lu MiB in all and read it back intact\n", good, procs, mib);

	/* COW across swap: the parent's pages go out while the child exists. */
	unsigned long half = mib / 3 * MiB, pages = half / PAGE;
	char *mine = map(half);
	fill(mine, pages, 7);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		/* Pushes both copies' pages out, then checks and rewrites its own. */
		char *other = map(half);
		fill(other, pages, 8);
		unsigned long bad = bad_pages(mine, pages, 7);
		fill(mine, pages, 9);
		bad += bad_pages(mine, pages, 9) + bad_pages(other, pages, 8);
		_exit(bad ? 1 : 0);
	}
	int status;
	waitpid(pid, &status, 0);
	printf("child saw its parent's swapped pages and its own writes: %s\n",
	       WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "ok" : "bad");
	printf("parent's pages after the child wrote its copies: %lu bad\n", bad_pages(mine, pages, 7));

	/* swapoff brings back whatever is still out. */
	show("swapoff", swapoff(dev));
	printf("after swapoff: %lu bad pages\n", bad_pages(mine, pages, 7));
	show("swapoff again", swapoff(dev));
	return 0;
}
