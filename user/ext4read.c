/*
 * ext4read: a read-only ext4 disk. tests/usertests.sh attaches the image
 * scripts/make-ext4-image.sh builds as /dev/vdc. mount(2) and its errors;
 * files, directories and a symbolic link read through the file's page
 * cache; everything that would write is EROFS; a 64 MiB file mapped and
 * read twice: the first pass takes major faults (the disk is read), the
 * second none (the page cache holds it); umount(2) is refused while a file
 * or a mapping is in use.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "show.h"

#define BIG (64L << 20)
#define PG 4096L

static long majflt(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_majflt;
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in a directory, sorted (ext4 lists them in hash order). */
static void list(const char *path)
{
	DIR *d = opendir(path);
	char *names[32];
	int n = 0;
	struct dirent *e;
	while (d && (e = readdir(d)) && n < 32) {
		char *s = malloc(300);
		strcpy(s, e->d_name);
		strcat(s, e->d_type == DT_DIR ? "/" : e->d_type == DT_LNK ? "@" : "");
		names[n++] = s;
	}
	if (d)
		closedir(d);
	qsort(names, n, sizeof(names[0]), cmp);
	printf("%s:", path);
	for (int i = 0; i < n; i++)
		printf(" %s", names[i]);
	printf("\n");
}

static void cat(const char *path)
{
	char buf[128] = { 0 };
	int fd = open(path, O_RDONLY);
	long n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (fd >= 0)
		close(fd);
	if (n < 0)
		show(path, -1);
	else
		printf("%s: %s", path, buf);
}

/* The checksum of `len` bytes of the mapping of `big` at `p` from page
 * `first`, counting the pages that do not start as they should. */
static unsigned long check(const char *p, long first, long len, int *bad)
{
	unsigned long sum = 0;
	for (long off = 0; off < len; off += PG) {
		char head[32];
		snprintf(head, sizeof(head), "page %ld of big\n", first + off / PG);
		if (memcmp(p + off, head, strlen(head)) != 0)
			(*bad)++;
		for (long i = 0; i < PG; i += 64)
			sum = sum * 31 + (unsigned char)p[off + i];
	}
	return sum;
}

int main(void)
{
	show("mkdir /ext4", mkdir("/ext4", 0755));
	show("mount(unknown type)", mount("/dev/vdc", "/ext4", "nosuchfs", MS_RDONLY, NULL));
	show("mount(not a block device)", mount("/bin/ext4read", "/ext4", "ext4", MS_RDONLY, NULL));
	show("mount(no ext4 on the disk)", mount("/dev/vdb", "/ext4", "ext4", MS_RDONLY, NULL));
	show("mount(no target)", mount("/dev/vdc", "/nowhere", "ext4", MS_RDONLY, NULL));
	show("mount /dev/vdc /ext4 ext4 ro", mount("/dev/vdc", "/ext4", "ext4", MS_RDONLY, NULL));

	cat("/ext4/hello.txt");
	cat("/ext4/dir/nested.txt");
	cat("/ext4/link");
	cat("/ext4/dir/../hello.txt");
	char target[64] = { 0 };
	show("readlink /ext4/link", readlink("/ext4/link", target, sizeof(target)));
	printf("link -> %s\n", target);
	list("/ext4");
	list("/ext4/dir");
	struct stat st;
	show("stat /ext4/big", stat("/ext4/big", &st));
	printf("S_ISREG %d, size %lld\n", S_ISREG(st.st_mode), (long long)st.st_size);
	show("stat /ext4/dir", stat("/ext4/dir", &st));
	printf("S_ISDIR %d\n", S_ISDIR(st.st_mode));
	show("chdir /ext4/dir", chdir("/ext4/dir"));
	show("chdir ../..", chdir("../.."));
	char cwd[64];
	printf("cwd: %s\n", getcwd(cwd, sizeof(cwd)));

	/* A read-only filesystem. */
	show("open O_RDWR", open("/ext4/hello.txt", O_RDWR));
	show("open O_WRONLY|O_TRUNC", open("/ext4/hello.txt", O_WRONLY | O_TRUNC));
	show("creat /ext4/new", open("/ext4/new", O_WRONLY | O_CREAT, 0644));
	show("mkdir /ext4/newdir", mkdir("/ext4/newdir", 0755));
	show("unlink /ext4/hello.txt", unlink("/ext4/hello.txt"));
	show("rmdir /ext4/dir/sub", rmdir("/ext4/dir/sub"));

	/* The big file, mapped: the disk is read on the first pass only. */
	int fd = open("/ext4/big", O_RDONLY);
	char *p = mmap(NULL, BIG, PROT_READ, MAP_SHARED, fd, 0);
	printf("mmap of /ext4/big: %s\n", p == MAP_FAILED ? "failed" : "mapped");
	int bad = 0;
	long m0 = majflt();
	unsigned long s1 = check(p, 0, BIG, &bad);
	long m1 = majflt();
	unsigned long s2 = check(p, 0, BIG, &bad);
	long m2 = majflt();
	printf("first pass: major faults %s; second pass: %ld major faults\n", m1 > m0 ? "> 0" : "0", m2 - m1);
	printf("the passes agree: %s; pages with a wrong header: %d\n", s1 == s2 ? "yes" : "no", bad);
	printf("page 12345 starts \"%.18s\"\n", p + 12345 * PG);

	/* read() of the same file: from the page cache, the same bytes. */
	char *buf = malloc(BIG);
	long got = 0, n;
	while ((n = read(fd, buf + got, BIG - got)) > 0)
		got += n;
	show("read() of all of it", got);
	printf("read() agrees with the mapping: %s\n", memcmp(buf, p, BIG) == 0 ? "yes" : "no");
	show("pread past the end", pread(fd, buf, 10, BIG));
	show("pread of the last 10 bytes", pread(fd, buf, 100, BIG - 10));

	/* Clean pages nobody maps can be dropped; a fault then reads the disk
	 * again (a major fault). WILLNEED reads a range back ahead of use. */
	munmap(p, BIG);
	show("posix_fadvise(DONTNEED)", posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED));
	p = mmap(NULL, BIG, PROT_READ, MAP_SHARED, fd, 0);
	long m3 = majflt();
	check(p, 0, 16 * PG, &bad);
	long m4 = majflt();
	printf("after DONTNEED, major faults again: %s\n", m4 > m3 ? "yes" : "no");
	show("posix_fadvise(WILLNEED) of 16 pages at page 1000",
	     posix_fadvise(fd, 1000 * PG, 16 * PG, POSIX_FADV_WILLNEED));
	check(p + 1000 * PG, 1000, 16 * PG, &bad);
	printf("major faults reading them: %ld; wrong headers: %d\n", majflt() - m4, bad);
	show("posix_fadvise(bad advice)", posix_fadvise(fd, 0, 0, 99));
	show("posix_fadvise(RANDOM)", posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM));
	show("posix_fadvise(negative length)", posix_fadvise(fd, 0, -1, POSIX_FADV_NORMAL));
	show("posix_fadvise(bad fd)", posix_fadvise(99, 0, 0, POSIX_FADV_NORMAL));

	/* umount while in use, then not. */
	show("umount while a file is open", umount("/ext4"));
	close(fd);
	show("umount while it is mapped", umount("/ext4"));
	munmap(p, BIG);
	show("umount /ext4", umount("/ext4"));
	show("stat /ext4/hello.txt after umount", stat("/ext4/hello.txt", &st));
	show("umount /ext4 again", umount("/ext4"));
	show("umount of no mount", umount("/bin"));
	show("umount /nowhere", umount("/nowhere"));
	show("rmdir /ext4", rmdir("/ext4"));
	return 0;
}
