/*
 * files: the file system calls a C program uses, with Linux's results and
 * errors. Files in the root filesystem (the unpacked initramfs) are read
 * through open/read/lseek/pread/readv; a new directory gets files that are
 * written, appended, read back, listed with getdents64, linked to and
 * removed; descriptors are duplicated and marked close-on-exec; a pipe
 * carries bytes between a parent and a child and reports EOF and EPIPE;
 * /dev/null, /dev/zero and /dev/console behave as on Linux; and bad
 * descriptors, names and pointers get EBADF, ENOENT, EFAULT...
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "show.h"

#define BAD ((void *)16)


static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in a directory, sorted (the order of getdents is the file
 * system's), one line. */
static void list(const char *dir)
{
	DIR *d = opendir(dir);
	char *names[64];
	int n = 0;
	struct dirent *e;
	if (!d) {
		printf("opendir(%s): %s\n", dir, strerrorname_np(errno));
		return;
	}
	while ((e = readdir(d)) && n < 64)
		names[n++] = strdup(e->d_name);
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp);
	printf("%s:", dir);
	for (int i = 0; i < n; i++) {
		printf(" %s", names[i]);
		free(names[i]);
	}
	printf("\n");
}

static void on_sigpipe(int sig)
{
	printf("SIGPIPE delivered (%d)\n", sig);
}

int main(void)
{
	char buf[256];
	struct stat st;

	/* Reading a file of the initramfs. */
	int fd = open("/etc/motd", O_RDONLY);
	show("open(/etc/motd)", fd >= 3 ? 3 : fd);
	long n = read(fd, buf, 7);
	printf("read 7: %ld \"%.7s\"\n", n, buf);
	show("lseek(fd, 0, SEEK_CUR)", lseek(fd, 0, SEEK_CUR));
	show("pread(fd, 5, at 8)", pread(fd, buf, 5, 8));
	printf("  \"%.5s\", position still %ld\n", buf, (long)lseek(fd, 0, SEEK_CUR));
	fstat(fd, &st);
	long size = st.st_size;
	printf("fstat: regular %d, size matches SEEK_END %d\n", S_ISREG(st.st_mode), size == lseek(fd, 0, SEEK_END));
	show("read at EOF", read(fd, buf, sizeof(buf)));
	show("lseek(-1, SEEK_SET)", lseek(fd, -1, SEEK_SET));
	show("lseek(whence 99)", lseek(fd, 0, 99));
	lseek(fd, 0, SEEK_SET);
	char a[4], b[6];
	struct iovec iov[2] = {{a, sizeof(a)}, {b, sizeof(b)}};
	show("readv(4 + 6)", readv(fd, iov, 2));
	printf("  \"%.4s\" \"%.6s\"\n", a, b);
	show("write to a read-only fd", write(fd, "x", 1));
	show("read(bad buffer)", syscall(SYS_read, fd, BAD, 10));
	show("close", close(fd));
	show("close again", close(fd));

	/* A directory of our own. */
	show("mkdir(/tmp)", mkdir("/tmp", 0755) == 0 || errno == EEXIST ? 0 : -1);
	show("mkdir(/tmp/ft)", mkdir("/tmp/ft", 0755));
	show("mkdir(/tmp/ft) again", mkdir("/tmp/ft", 0755));
	show("chdir(/tmp/ft)", chdir("/tmp/ft"));
	printf("getcwd: %s\n", getcwd(buf, sizeof(buf)));
	show("getcwd(size 3)", getcwd(buf, 3) ? 0 : -1);
	fd = open("data", O_WRONLY | O_CREAT | O_EXCL, 0644);
	show("open(data, O_CREAT|O_EXCL)", fd >= 3 ? 3 : fd);
	show("open(data, O_CREAT|O_EXCL) again", open("data", O_WRONLY | O_CREAT | O_EXCL, 0644));
	show("write 11", write(fd, "hello world", 11));
	show("pwrite 5 at 20 (a hole)", pwrite(fd, "HOLE!", 5, 20));
	struct iovec wv[2] = {{"ab", 2}, {"cd", 2}};
	show("writev(2 + 2)", writev(fd, wv, 2));
	show("read from a write-only fd", read(fd, buf, 1));
	show("write(bad buffer)", syscall(SYS_write, fd, BAD, 4));
	fstat(fd, &st);
	printf("fstat: size %ld, mode %o\n", (long)st.st_size, st.st_mode & 07777);
	close(fd);
	fd = open("data", O_RDWR | O_APPEND);
	show("append 3", write(fd, "END", 3));
	lseek(fd, 0, SEEK_SET);
	n = read(fd, buf, sizeof(buf));
	printf("read back %ld:", n);
	for (int i = 0; i < n; i++)
		printf(" %02x", (unsigned char)buf[i]);
	printf("\n");
	close(fd);
	fd = open("data", O_RDWR | O_TRUNC);
	fstat(fd, &st);
	printf("O_TRUNC: size %ld\n", (long)st.st_size);
	close(fd);
	show("symlink(data, link)", symlink("data", "link"));
	n = readlink("link", buf, sizeof(buf));
	printf("readlink: %ld \"%.*s\"\n", n, (int)n, buf);
	show("readlink(a file)", readlink("data", buf, sizeof(buf)));
	show("stat(link) follows", stat("link", &st) == 0 && S_ISREG(st.st_mode));
	show("lstat(link) does not", lstat("link", &st) == 0 && S_ISLNK(st.st_mode));
	show("open(link, O_NOFOLLOW)", open("link", O_RDONLY | O_NOFOLLOW));
	show("mkdir(sub)", mkdir("sub", 0700));
	stat("sub", &st);
	printf("sub: directory %d, mode %o\n", S_ISDIR(st.st_mode), st.st_mode & 07777);
	list(".");
	show("open(sub, O_WRONLY)", open("sub", O_WRONLY));
	show("open(data, O_DIRECTORY)", open("data", O_RDONLY | O_DIRECTORY));
	show("open(nothing)", open("nothing", O_RDONLY));
	show("open(data/x)", open("data/x", O_RDONLY));
	show("access(data, X_OK)", access("data", X_OK));
	show("access(/bin/files, X_OK)", access("/bin/files", X_OK));
	show("access(nothing, F_OK)", access("nothing", F_OK));
	show("rmdir(.)", rmdir("."));
	show("rmdir(/tmp/ft) not empty", rmdir("/tmp/ft"));
	show("unlink(sub)", unlink("sub"));
	show("rmdir(data)", rmdir("data"));
	show("unlink(data/)", unlink("data/"));
	show("unlink(data)", unlink("data"));
	show("unlink(link)", unlink("link"));
	show("rmdir(sub)", rmdir("sub"));
	show("chdir(..)", chdir(".."));
	printf("getcwd: %s\n", getcwd(buf, sizeof(buf)));
	show("rmdir(ft)", rmdir("ft"));
	show("chdir(ft)", chdir("ft"));
	show("chdir(/etc/motd)", chdir("/etc/motd"));

	/* Descriptors. */
	fd = open("/etc/motd", O_RDONLY);
	int d = dup(fd);
	printf("dup: a new number %d\n", d == fd + 1);
	read(fd, buf, 3);
	printf("the duplicate shares the position: %ld\n", (long)lseek(d, 0, SEEK_CUR));
	show("dup3(fd, 10, O_CLOEXEC)", dup3(fd, 10, O_CLOEXEC));
	show("fcntl(10, F_GETFD)", fcntl(10, F_GETFD));
	show("fcntl(fd, F_GETFD)", fcntl(fd, F_GETFD));
	show("fcntl(fd, F_GETFL) == O_RDONLY|O_LARGEFILE", fcntl(fd, F_GETFL) == (O_RDONLY | 0400000));
	show("fcntl(fd, F_DUPFD, 20)", fcntl(fd, F_DUPFD, 20));
	show("dup3(fd, fd)", dup3(fd, fd, 0));
	show("dup(-1)", dup(-1));
	show("dup(1000)", dup(1000));
	show("fcntl(fd, 12345)", fcntl(fd, 12345));
	close(fd), close(d), close(10), close(20);

	/* Devices. */
	fd = open("/dev/null", O_RDWR);
	show("write(/dev/null, 100)", write(fd, buf, 100));
	show("read(/dev/null)", read(fd, buf, 100));
	close(fd);
	fd = open("/dev/zero", O_RDONLY);
	memset(buf, 'x', 16);
	show("read(/dev/zero, 16)", read(fd, buf, 16));
	printf("  all zero: %d\n", buf[0] == 0 && buf[15] == 0);
	close(fd);
	fd = open("/dev/console", O_WRONLY);
	show("write(/dev/console)", write(fd, "  (through /dev/console)\n", 25));
	close(fd);

	/* A pipe between a parent and a child. */
	int p[2];
	show("pipe2(bad flags)", pipe2(p, 0x12345));
	show("pipe(bad pointer)", syscall(SYS_pipe2, BAD, 0));
	show("pipe", pipe(p));
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		for (int i = 0; i < 3; i++)
			write(p[1], "ping ", 5);
		_exit(0);
	}
	close(p[1]);
	long total = 0;
	while ((n = read(p[0], buf, sizeof(buf))) > 0)
		total += n;
	printf("read %ld bytes from the child, then EOF (%ld)\n", total, n);
	waitpid(pid, NULL, 0);
	close(p[0]);
	pipe(p);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	show("read(empty pipe, O_NONBLOCK)", read(p[0], buf, 1));
	close(p[0]);
	signal(SIGPIPE, on_sigpipe);
	show("write(pipe without readers)", write(p[1], "x", 1));
	close(p[1]);
	pipe2(p, O_NONBLOCK);
	long filled = 0;
	while ((n = write(p[1], buf, sizeof(buf))) > 0)
		filled += n;
	printf("a pipe holds %ld bytes, then %s\n", filled, strerrorname_np(errno));
	close(p[0]), close(p[1]);

	/* Bad arguments. */
	show("read(-1)", read(-1, buf, 1));
	show("write(99)", write(99, buf, 1));
	show("open(bad pointer)", syscall(SYS_openat, AT_FDCWD, BAD, O_RDONLY));
	show("open(\"\")", open("", O_RDONLY));
	show("openat(bad dirfd, relative)", openat(99, "x", O_RDONLY));
	show("openat(a file as dirfd)", openat(0, "x", O_RDONLY));
	show("fstat(bad buffer)", syscall(SYS_fstat, 1, BAD));
	show("lseek(console)", lseek(1, 0, SEEK_SET));
	show("getdents64(a file)", syscall(SYS_getdents64, 0, buf, sizeof(buf)));
	show("mkdir(bad pointer)", syscall(SYS_mkdirat, AT_FDCWD, BAD, 0755));
	show("getcwd(bad pointer)", syscall(SYS_getcwd, BAD, 100));
	return 0;
}
