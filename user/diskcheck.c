/*
 * diskcheck: run in a second boot with the same disk images, after
 * blockdev and diskmap wrote /dev/vda in the first (tests/usertests.sh,
 * user/rootfs/etc/usertests-reboot). What they wrote through write(),
 * fsync, a shared mapping and msync must be on the disk; what a private
 * mapping wrote must not.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "show.h"

#define MB (1L << 20)

int main(void)
{
	int fd = open("/dev/vda", O_RDONLY);
	show("open /dev/vda", fd);
	char buf[64] = { 0 };
	show("pread at 1 MiB + 100", pread(fd, buf, 43, MB + 100));
	line("blockdev's pwrite", buf);
	char *p = mmap(NULL, MB, PROT_READ, MAP_SHARED, fd, 2 * MB);
	printf("mapping: %s\n", p == MAP_FAILED ? "failed" : "mapped");
	line("diskmap's write through the mapping", p + 100);
	line("its write after msync", p + 200);
	line("where only the private mapping wrote", p + 4096);
	return 0;
}
