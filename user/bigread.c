/*
 * bigread: a file larger than RAM, read through the page cache. The ext4
 * test disk (/dev/vdc) holds /sparse, 1280 MiB of holes, and the tests run
 * with 1 GiB of RAM: the page cache must give pages back (reclaim) for the
 * reads to go on. Read once with read(), then once through a mapping,
 * whose pages must be unmapped to be reclaimed.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "show.h"

#define CHUNK (1L << 20)

int main(void)
{
	mkdir("/ext4", 0755);
	show("mount /dev/vdc /ext4", mount("/dev/vdc", "/ext4", "ext4", MS_RDONLY, NULL));
	int fd = open("/ext4/sparse", O_RDONLY);
	struct stat st;
	fstat(fd, &st);
	printf("size %lld MiB\n", (long long)st.st_size >> 20);

	char *buf = malloc(CHUNK);
	long total = 0, nonzero = 0, n;
	while ((n = read(fd, buf, CHUNK)) > 0) {
		for (long i = 0; i < n; i += 512)
			nonzero += buf[i] != 0;
		total += n;
	}
	show("the last read()", n);
	printf("read(): %ld MiB, nonzero samples %ld\n", total >> 20, nonzero);

	char *p = mmap(NULL, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	printf("mmap: %s\n", p == MAP_FAILED ? "failed" : "mapped");
	nonzero = 0;
	for (long off = 0; off < st.st_size; off += 4096)
		nonzero += p[off] != 0;
	printf("through the mapping: %lld MiB, nonzero samples %ld\n", (long long)st.st_size >> 20, nonzero);
	munmap(p, st.st_size);
	close(fd);
	show("umount /ext4", umount("/ext4"));
	rmdir("/ext4");
	return 0;
}
