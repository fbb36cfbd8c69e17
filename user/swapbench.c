/*
 * swapbench DEV MIB: the cost of swap, for make bench-user. Turns DEV (a
 * disk prepared by mkswap) on, writes MIB MiB of anonymous memory (more
 * than RAM: the pages written first go out to swap to make room), then
 * reads it all back (each page that went out comes back, pushing another
 * out), and swaps off once the memory is unmapped. Prints each pass's time
 * per page, as bench does: "bench: NAME N us".
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/swap.h>
#include <time.h>

#define PG 4096UL

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
	if (argc < 3 || swapon(argv[1], 0) != 0) {
		printf("usage: swapbench DEV MIB (DEV a swap disk that swapon accepts)\n");
		return 2;
	}
	unsigned long pages = strtoul(argv[2], NULL, 0) << 20 >> 12;
	char *p = mmap(NULL, pages * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 1;
	double t = now_us();
	for (unsigned long i = 0; i < pages; i++)
		p[i * PG] = (char)i;
	printf("bench: swap_write_pass_per_page %.1f us\n", (now_us() - t) / pages);
	unsigned long bad = 0;
	t = now_us();
	for (unsigned long i = 0; i < pages; i++)
		bad += p[i * PG] != (char)i;
	printf("bench: swap_read_pass_per_page %.1f us\n", (now_us() - t) / pages);
	munmap(p, pages * PG);
	swapoff(argv[1]);
	if (bad)
		printf("swapbench: %lu pages came back wrong\n", bad);
	return bad != 0;
}
