/*
 * badargs: every system call Pagoda implements, called with arguments a
 * buggy or hostile program passes: NULL, a small address, an unmapped
 * user address, kernel addresses, a buffer running into a PROT_NONE page,
 * huge lengths, negative and unopened descriptors, unknown flags. Each
 * line is the result (an errno name, or "ok"/a count) and must be what
 * Linux gives; the kernel must survive them all.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KERN1 0xffff000000000000UL /* kernel image / vmalloc */
#define KERN2 0xffff800000000000UL /* linear map */
#define UNMAPPED 0x7e0000000000UL  /* user space, nothing there */
#define SMALL 16UL
#define HUGE ((unsigned long)-1)

static unsigned long edge; /* 4 good bytes, then a PROT_NONE page */
static int n_lines;

static void report(const char *name, long r, int show_value)
{
	n_lines++;
	if (r < 0)
		printf("%-44s %s\n", name, strerrorname_np(errno));
	else if (show_value)
		printf("%-44s %ld\n", name, r);
	else
		printf("%-44s ok\n", name);
	errno = 0;
}

#define T(name, ...) report(name, syscall(__VA_ARGS__), 1)
#define TQ(name, ...) report(name, syscall(__VA_ARGS__), 0) /* the value varies: print ok */

int main(void)
{
	char *page = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	mprotect(page + 4096, 4096, PROT_NONE);
	edge = (unsigned long)page + 4096 - 4;
	unsigned long ptrs[] = {0, SMALL, UNMAPPED, KERN1, KERN2};
	const char *pname[] = {"NULL", "16", "unmapped", "kernel", "linear map"};
	char name[64];
	int null = open("/dev/null", O_RDWR);
	int zero = open("/dev/zero", O_RDONLY);
	int motd = open("/etc/motd", O_RDONLY);

	for (int i = 0; i < 5; i++) {
		unsigned long p = ptrs[i];
#define P(fmt) (snprintf(name, sizeof(name), fmt, pname[i]), name)
		T(P("read(motd, %s, 8)"), SYS_read, motd, p, 8);
		T(P("write(null, %s, 8)"), SYS_write, null, p, 8); /* /dev/null never reads it */
		T(P("write(pipe... motd, %s, 8)"), SYS_write, motd, p, 8);
		T(P("readv(motd, %s, 1)"), SYS_readv, motd, p, 1);
		T(P("writev(null, %s, 1)"), SYS_writev, null, p, 1);
		T(P("pread64(motd, %s, 8, 0)"), SYS_pread64, motd, p, 8, 0);
		T(P("openat(AT_FDCWD, %s)"), SYS_openat, AT_FDCWD, p, O_RDONLY);
		T(P("mkdirat(AT_FDCWD, %s)"), SYS_mkdirat, AT_FDCWD, p, 0755);
		T(P("unlinkat(AT_FDCWD, %s)"), SYS_unlinkat, AT_FDCWD, p, 0);
		T(P("symlinkat(%s, AT_FDCWD, x)"), SYS_symlinkat, p, AT_FDCWD, "/tmp-badargs-x");
		T(P("readlinkat(AT_FDCWD, %s)"), SYS_readlinkat, AT_FDCWD, p, page, 64);
		T(P("faccessat(AT_FDCWD, %s)"), SYS_faccessat, AT_FDCWD, p, F_OK);
		T(P("getcwd(%s, 64)"), SYS_getcwd, p, 64);
		T(P("chdir(%s)"), SYS_chdir, p);
		T(P("pipe2(%s)"), SYS_pipe2, p, 0);
		T(P("fstat(motd, %s)"), SYS_fstat, motd, p);
		T(P("newfstatat(AT_FDCWD, %s)"), SYS_newfstatat, AT_FDCWD, p, page, 0);
		T(P("getdents64(/ , %s)"), SYS_getdents64, open("/", O_RDONLY | O_DIRECTORY), p, 4096);
		T(P("ioctl(1, TCGETS, %s)"), SYS_ioctl, 1, TCGETS, p);
		T(P("uname(%s)"), SYS_uname, p);
		T(P("clock_gettime(MONOTONIC, %s)"), SYS_clock_gettime, CLOCK_MONOTONIC, p);
		T(P("nanosleep(%s)"), SYS_nanosleep, p, 0);
		T(P("getrandom(%s, 8)"), SYS_getrandom, p, 8, 0);
		T(P("gettimeofday(%s)"), SYS_gettimeofday, p, 0);
		T(P("sysinfo(%s)"), SYS_sysinfo, p);
		T(P("getrlimit(NOFILE, %s)"), SYS_getrlimit, RLIMIT_NOFILE, p);
		T(P("setrlimit(NOFILE, %s)"), SYS_setrlimit, RLIMIT_NOFILE, p);
		T(P("prlimit64(0, NOFILE, NULL, %s)"), SYS_prlimit64, 0, RLIMIT_NOFILE, 0, p);
		T(P("getrusage(SELF, %s)"), SYS_getrusage, RUSAGE_SELF, p);
		T(P("rt_sigaction(USR1, %s)"), SYS_rt_sigaction, SIGUSR1, p, 0, 8);
		T(P("rt_sigaction(USR1, NULL, %s)"), SYS_rt_sigaction, SIGUSR1, 0, p, 8);
		T(P("rt_sigprocmask(BLOCK, %s)"), SYS_rt_sigprocmask, SIG_BLOCK, p, 0, 8);
		T(P("sigaltstack(%s, NULL)"), SYS_sigaltstack, p, 0);
		T(P("futex(%s, WAIT, 0)"), SYS_futex, p, FUTEX_WAIT, 0, 0, 0, 0);
		T(P("futex(%s, WAKE, 1)"), SYS_futex, p, FUTEX_WAKE, 1, 0, 0, 0);
		T(P("clone3(%s, 88)"), SYS_clone3, p, 88);
		T(P("execve(%s)"), SYS_execve, p, 0, 0);
		T(P("wait4(-1, %s) with no children"), SYS_wait4, -1, p, 0, 0);
	}

	/* A buffer whose end runs into a PROT_NONE page: partial transfers. */
	lseek(motd, 0, SEEK_SET);
	T("read(motd, 4 bytes before PROT_NONE, 8)", SYS_read, motd, edge, 8);
	T("read(zero, 4 bytes before PROT_NONE, 8)", SYS_read, zero, edge, 8);
	T("read(zero, page, HUGE)", SYS_read, zero, page, HUGE);
	T("write(null, page, HUGE)", SYS_write, null, page, HUGE);
	T("uname(4 bytes before PROT_NONE)", SYS_uname, edge);
	T("openat(name running into PROT_NONE)", SYS_openat, AT_FDCWD, (memcpy((void *)edge, "/etc", 4), edge), O_RDONLY);

	/* Huge and negative lengths and counts. */
	T("readv(motd, iov, -1)", SYS_readv, motd, page, -1);
	T("readv(motd, iov, 1025)", SYS_readv, motd, page, 1025);
	T("getrandom(page, HUGE)", SYS_getrandom, page + 4096 - 8, HUGE, 0);
	T("readlinkat(AT_FDCWD, /etc, page, -1)", SYS_readlinkat, AT_FDCWD, "/etc", page, -1);
	T("getcwd(page, 0)", SYS_getcwd, page, 0);
	T("mmap(NULL, HUGE)", SYS_mmap, 0, HUGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	T("mmap(NULL, 0)", SYS_mmap, 0, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	T("mmap(kernel address, MAP_FIXED)", SYS_mmap, KERN1, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	T("munmap(kernel address)", SYS_munmap, KERN1, 4096);
	T("munmap(page + 1)", SYS_munmap, page + 1, 4096);
	T("mprotect(kernel address)", SYS_mprotect, KERN1, 4096, PROT_READ);
	T("mprotect(page, HUGE)", SYS_mprotect, page, HUGE, PROT_READ);
	T("pread64(motd, page, 8, -1)", SYS_pread64, motd, page, 8, -1);
	T("lseek(motd, HUGE, SEEK_CUR)", SYS_lseek, motd, HUGE, SEEK_CUR);
	T("fcntl(motd, F_DUPFD, -1)", SYS_fcntl, motd, F_DUPFD, -1);
	T("fcntl(motd, F_DUPFD, 1 << 30)", SYS_fcntl, motd, F_DUPFD, 1 << 30);
	T("dup3(motd, -1, 0)", SYS_dup3, motd, -1, 0);
	T("dup3(motd, 1 << 30, 0)", SYS_dup3, motd, 1 << 30, 0);
	T("clone3(page, 8)", SYS_clone3, page, 8);
	T("clone(CLONE_SIGHAND without CLONE_VM)", SYS_clone, CLONE_SIGHAND | SIGCHLD, 0, 0, 0, 0);
	T("clone(CLONE_THREAD without CLONE_SIGHAND)", SYS_clone, CLONE_THREAD | CLONE_VM, 0, 0, 0, 0);
	T("kill(getpid(), 65)", SYS_kill, getpid(), 65);
	T("tgkill(getpid(), 0, 0)", SYS_tgkill, getpid(), 0, 0);
	T("rt_sigaction(SIGKILL, act)", SYS_rt_sigaction, SIGKILL, page, 0, 8);
	T("rt_sigaction(USR1, NULL, NULL, 4)", SYS_rt_sigaction, SIGUSR1, 0, 0, 4);
	T("rt_sigprocmask(99, set)", SYS_rt_sigprocmask, 99, page, 0, 8);
	T("futex(misaligned, WAKE)", SYS_futex, page + 1, FUTEX_WAKE, 1, 0, 0, 0);
	T("wait4(-1, NULL, bad options)", SYS_wait4, -1, 0, 0x100, 0);
	T("getrusage(99)", SYS_getrusage, 99, page);
	T("prlimit64(0, 99)", SYS_prlimit64, 0, 99, 0, page);
	T("clock_gettime(99)", SYS_clock_gettime, 99, page);
	T("getrandom(bad flags)", SYS_getrandom, page, 8, 0x40);
	T("unlinkat(bad flags)", SYS_unlinkat, AT_FDCWD, "/x", 0x1);
	T("faccessat(bad mode)", SYS_faccessat, AT_FDCWD, "/", 8);
	T("pipe2(bad flags)", SYS_pipe2, page, 1);

	/* Negative and unopened descriptors. */
	int fds[] = {-1, -100, 1000, 1 << 30};
	for (int i = 0; i < 4; i++) {
		int fd = fds[i];
		snprintf(name, sizeof(name), "fd %d:", fd);
		printf("%s\n", name);
		T("  read", SYS_read, fd, page, 1);
		T("  write", SYS_write, fd, page, 1);
		T("  pwrite64", SYS_pwrite64, fd, page, 1, 0);
		T("  writev", SYS_writev, fd, page, 0);
		T("  lseek", SYS_lseek, fd, 0, SEEK_SET);
		T("  close", SYS_close, fd);
		T("  dup", SYS_dup, fd);
		T("  dup3", SYS_dup3, fd, 50, 0);
		T("  fcntl(F_GETFD)", SYS_fcntl, fd, F_GETFD);
		T("  fstat", SYS_fstat, fd, page);
		T("  ioctl(TCGETS)", SYS_ioctl, fd, TCGETS, page);
		T("  getdents64", SYS_getdents64, fd, page, 4096);
		T("  fchdir", SYS_fchdir, fd);
		T("  openat(relative)", SYS_openat, fd, "x", O_RDONLY);
		T("  mmap(MAP_SHARED)", SYS_mmap, 0, 4096, PROT_READ, MAP_SHARED, fd, 0);
	}
	printf("%d calls, and the kernel is still here\n", n_lines);
	return 0;
}
