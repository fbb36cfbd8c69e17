/*
 * pmapdemo: an address space to look at from the monitor while it
 * sleeps: `run /bin/pmapdemo &`, then `pmap pmapdemo` and `ps`. It maps
 * 256 KiB and writes 40 KiB of it, reads 16 KiB of another 64 KiB (the
 * zero page: resident, not dirty), and sleeps for SECONDS (default 3).
 */
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char *a = mmap(NULL, 256 << 10, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	for (int i = 0; i < 10; i++)
		a[i * 4096] = 1;
	char *b = mmap(NULL, 64 << 10, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	volatile char sum = 0;
	for (int i = 0; i < 4; i++)
		sum += b[i * 4096];
	sleep(argc > 1 ? atoi(argv[1]) : 3);
	return sum;
}
