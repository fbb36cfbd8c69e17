/*
 * mremap: growing in place, moving (the data goes with the pages),
 * shrinking, MREMAP_FIXED and MREMAP_DONTUNMAP, Linux's errors, glibc's
 * realloc of a large block; and VMA merging, seen through mremap: a range
 * mapped in two pieces, or split by mprotect and changed back, is one VMA
 * that mremap can move as a whole.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "show.h"

#define PG 4096L

static char *anon(void *at, long pages, int prot)
{
	return mmap(at, pages * PG, prot, MAP_PRIVATE | MAP_ANONYMOUS | (at ? MAP_FIXED : 0), -1, 0);
}

static void fill(char *p, long pages, char base)
{
	for (long i = 0; i < pages; i++)
		p[i * PG] = base + i;
}

static int check(char *p, long pages, char base)
{
	for (long i = 0; i < pages; i++)
		if (p[i * PG] != base + i)
			return 0;
	return 1;
}

static int mapped(void *p)
{
	unsigned char v;
	return mincore(p, PG, &v) == 0;
}

int main(void)
{
	/* Room after it: grows in place. */
	char *a = anon(NULL, 8, PROT_READ | PROT_WRITE);
	munmap(a + 4 * PG, 4 * PG);
	fill(a, 4, 'a');
	char *r = mremap(a, 4 * PG, 8 * PG, 0);
	printf("grow in place without MAYMOVE: same address %d, data %d\n", r == a, check(a, 4, 'a'));
	r[7 * PG] = 'z';
	/* No room: MAYMOVE moves it. */
	char *block = anon(a + 8 * PG, 1, PROT_READ);
	show("grow with a mapping in the way, no MAYMOVE", (long)mremap(a, 8 * PG, 16 * PG, 0));
	r = mremap(a, 8 * PG, 16 * PG, MREMAP_MAYMOVE);
	printf("grow with MREMAP_MAYMOVE: moved %d, data %d '%c', old range unmapped %d\n", r != a && r != MAP_FAILED,
	       check(r, 4, 'a'), r[7 * PG], !mapped(a));
	r[15 * PG] = 'y';
	/* Shrink. */
	char *s = mremap(r, 16 * PG, 2 * PG, 0);
	printf("shrink: same address %d, data %d, tail unmapped %d\n", s == r, check(s, 2, 'a'), !mapped(r + 2 * PG));
	/* MREMAP_FIXED onto a chosen place, replacing what was there. */
	char *target = anon(NULL, 2, PROT_READ);
	char *f = mremap(s, 2 * PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, target);
	printf("MREMAP_FIXED: at the target %d, data %d, writable %d\n", f == target, check(f, 2, 'a'), (f[0] = 'q') == 'q');
	/* MREMAP_DONTUNMAP: the old range stays, empty. */
	fill(f, 2, 'm');
	char *d = mremap(f, 2 * PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_DONTUNMAP);
	printf("MREMAP_DONTUNMAP: moved %d, data %d, old range still mapped %d and reads %d\n", d != f, check(d, 2, 'm'),
	       mapped(f), f[0]);

	/* Errors. */
	show("mremap(bad flags)", (long)mremap(d, PG, PG, 8));
	show("mremap(MREMAP_FIXED without MAYMOVE)", (long)mremap(d, PG, PG, MREMAP_FIXED, target));
	show("mremap(DONTUNMAP, sizes differ)", (long)mremap(d, PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_DONTUNMAP));
	show("mremap(unaligned)", (long)mremap(d + 1, PG, 2 * PG, MREMAP_MAYMOVE));
	show("mremap(new_len 0)", (long)mremap(d, PG, 0, MREMAP_MAYMOVE));
	show("mremap(not mapped)", (long)mremap((void *)0x7e0000000000, PG, 2 * PG, MREMAP_MAYMOVE));
	show("mremap(FIXED, overlapping)", (long)mremap(d, 2 * PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, d + PG));
	show("mremap(FIXED, unaligned target)", (long)mremap(d, PG, PG, MREMAP_MAYMOVE | MREMAP_FIXED, target + 1));
	char *two = anon(NULL, 4, PROT_READ | PROT_WRITE);
	mprotect(two + 2 * PG, 2 * PG, PROT_READ);
	show("mremap(grow, range spans two different VMAs)", (long)mremap(two, 4 * PG, 8 * PG, MREMAP_MAYMOVE));

	/* Merging: two touching pieces with the same protection are one VMA. */
	char *m = anon(NULL, 8, PROT_READ | PROT_WRITE);
	munmap(m, 8 * PG);
	anon(m, 2, PROT_READ | PROT_WRITE);
	anon(m + 2 * PG, 2, PROT_READ | PROT_WRITE);
	fill(m, 4, 'A');
	r = mremap(m, 4 * PG, 4 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, m + 4 * PG);
	printf("two mmaps side by side moved as one VMA: %d, data %d\n", r == m + 4 * PG, check(r, 4, 'A'));
	show("mprotect(the middle, read-only)", mprotect(r + PG, 2 * PG, PROT_READ));
	show("mremap over the split range", (long)mremap(r, 4 * PG, 8 * PG, MREMAP_MAYMOVE));
	show("mprotect(back to read-write)", mprotect(r + PG, 2 * PG, PROT_READ | PROT_WRITE));
	char *again = mremap(r, 4 * PG, 8 * PG, MREMAP_MAYMOVE);
	printf("merged back: mremap of the whole range works %d, data %d\n", again != MAP_FAILED, check(again, 4, 'A'));

	/* glibc's realloc of a block from mmap uses mremap. */
	size_t n = 1 << 20;
	unsigned char *big = malloc(n);
	for (size_t i = 0; i < n; i += 4096)
		big[i] = (unsigned char)(i >> 12);
	big = realloc(big, 8 * n);
	int ok = 1;
	for (size_t i = 0; i < n; i += 4096)
		ok &= big[i] == (unsigned char)(i >> 12);
	big[8 * n - 1] = 1;
	printf("realloc(1 MiB -> 8 MiB) keeps the data: %d\n", ok);
	free(big);
	(void)block;
	return 0;
}
