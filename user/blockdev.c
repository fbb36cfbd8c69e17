/*
 * blockdev: a disk as a file. /dev/vda (8 MiB, writable) and /dev/vdb
 * (1 MiB, read-only) are the test disks tests/usertests.sh attaches; sector
 * N of each begins "sector N of the pagoda test disk". Reads and writes go
 * through the disk's page cache at any offset and length; the end of the
 * disk gives short transfers, then 0 or ENOSPC; fsync writes back; the
 * read-only disk refuses writes.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/fs.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "show.h"

static char buf[8192];

int main(void)
{
	int fd = open("/dev/vda", O_RDWR);
	show("open /dev/vda O_RDWR", fd);
	struct stat st;
	show("fstat", fstat(fd, &st));
	printf("S_ISBLK %d, st_size %lld\n", S_ISBLK(st.st_mode), (long long)st.st_size);
	uint64_t bytes = 0;
	show("ioctl BLKGETSIZE64", ioctl(fd, BLKGETSIZE64, &bytes));
	printf("size %llu\n", (unsigned long long)bytes);
	off_t end = lseek(fd, 0, SEEK_END);
	show("lseek SEEK_END", end);

	show("pread 64 at sector 3", pread(fd, buf, 64, 3 * 512));
	line("sector 3", buf);
	/* Across a page boundary: the end of sector 7, then sector 8. */
	show("pread 600 at 4095", pread(fd, buf, 600, 4095));
	line("at 4096", buf + 1);
	show("lseek 20480", lseek(fd, 20480, SEEK_SET));
	show("read 100", read(fd, buf, 100));
	line("sector 40", buf);
	show("lseek SEEK_CUR", lseek(fd, 0, SEEK_CUR));

	const char msg[] = "written through the page cache of /dev/vda";
	show("pwrite at 1 MiB + 100", pwrite(fd, msg, sizeof(msg), (1 << 20) + 100));
	show("fsync", fsync(fd));
	show("fdatasync", fdatasync(fd));
	show("pread it back", pread(fd, buf, sizeof(msg), (1 << 20) + 100));
	line("read back", buf);
	/* What was around it is untouched. */
	show("pread 40 at 1 MiB", pread(fd, buf, 40, 1 << 20));
	line("sector 2048", buf);

	/* The end of the disk. */
	show("pread 100 at end - 10", pread(fd, buf, 100, end - 10));
	show("pread at end", pread(fd, buf, 100, end));
	show("pread past end", pread(fd, buf, 100, end + 4096));
	show("pwrite 100 at end - 10", pwrite(fd, buf, 100, end - 10));
	show("pwrite at end", pwrite(fd, buf, 1, end));
	char *volatile bad = (char *)16; /* an address nothing maps */
	show("pwrite bad buffer", pwrite(fd, bad, 10, 0));
	show("pread bad buffer", pread(fd, bad, 10, 0));
	show("close", close(fd));

	/* The same bytes through a second open file. */
	fd = open("/dev/vda", O_RDONLY);
	show("pread after reopen", pread(fd, buf, sizeof(msg), (1 << 20) + 100));
	line("again", buf);
	show("write on O_RDONLY", write(fd, "x", 1));
	close(fd);

	fd = open("/dev/vdb", O_RDONLY);
	show("open /dev/vdb O_RDONLY", fd);
	int ro = -1;
	show("ioctl BLKROGET", ioctl(fd, BLKROGET, &ro));
	printf("read-only %d\n", ro);
	show("pread 40 at sector 2047", pread(fd, buf, 40, 2047 * 512));
	line("vdb sector 2047", buf);
	show("fsync", fsync(fd));
	close(fd);
	fd = open("/dev/vdb", O_RDWR);
	show("open /dev/vdb O_RDWR", fd);
	if (fd >= 0) {
		show("pwrite on the read-only disk", pwrite(fd, "x", 1, 0));
		close(fd);
	}
	show("sync", (sync(), 0));
	return 0;
}
