/*
 * usertest-init: /init for running the user tests on Debian's Linux kernel
 * (make test-linux), so that their expected output is what real Linux
 * prints. It reads /etc/usertests, one test a line ("NAME PATH ARGS..."),
 * runs each in a child (clone + execve + wait4) between markers, prints the
 * child's wait status as Pagoda's monitor does, and powers the machine off.
 * Pagoda runs the same lines with its monitor's `run` (tests/usertests.sh).
 * Linux's initramfs has only /dev/console, so this mounts devtmpfs on /dev
 * for /dev/null and /dev/zero, which Pagoda makes at boot. Debian's kernel
 * builds virtio-mmio and virtio-blk as modules: the ones /lib/modules/load
 * lists (one path a line) are loaded first, so the test disks are /dev/vda
 * and /dev/vdb as on Pagoda.
 */
#include "nolibc.h"

#define NR_mount 40
#define NR_openat 56
#define NR_read 63
#define NR_reboot 142
#define NR_clone 220
#define NR_execve 221
#define NR_wait4 260
#define NR_close 57
#define NR_finit_module 273
#define AT_FDCWD -100
#define SIGCHLD 17

static char list[4096];
static char modules[1024];

/* Loads each module named in /lib/modules/load, in order. */
static void load_modules(void)
{
	long fd = sys6(NR_openat, AT_FDCWD, (long)"/lib/modules/load", 0, 0, 0, 0);
	long n = fd < 0 ? 0 : sys6(NR_read, fd, (long)modules, sizeof(modules) - 1, 0, 0, 0);
	modules[n > 0 ? n : 0] = 0;
	if (fd >= 0)
		sys6(NR_close, fd, 0, 0, 0, 0, 0);
	for (char *p = modules; *p;) {
		char *path = p;
		while (*p && *p != '\n')
			p++;
		if (*p)
			*p++ = 0;
		long m = sys6(NR_openat, AT_FDCWD, (long)path, 0, 0, 0, 0);
		if (m < 0 || sys6(NR_finit_module, m, (long)"", 0, 0, 0, 0) < 0) {
			puts_("usertest-init: cannot load ");
			puts_(path);
			puts_("\n");
		}
		if (m >= 0)
			sys6(NR_close, m, 0, 0, 0, 0, 0);
	}
}

void start_c(long *sp)
{
	(void)sp;
	char *envp[] = {"HOME=/", "TERM=linux", 0};
	load_modules();
	sys6(NR_mount, (long)"devtmpfs", (long)"/dev", (long)"devtmpfs", 0, 0, 0);
	long fd = sys6(NR_openat, AT_FDCWD, (long)"/etc/usertests", 0, 0, 0, 0);
	long n = fd < 0 ? 0 : sys6(NR_read, fd, (long)list, sizeof(list) - 1, 0, 0, 0);
	char *line = list;
	/* The tests start with descriptors 0-2 only, as under Pagoda's monitor. */
	if (fd >= 0)
		sys6(NR_close, fd, 0, 0, 0, 0, 0);
	list[n > 0 ? n : 0] = 0;
	while (*line) {
		char *argv[16];
		int argc = 0;
		char *p = line, *name;
		while (*p && *p != '\n')
			p++;
		if (*p)
			*p++ = 0;
		/* Split the line in place: NAME PATH ARGS... */
		for (char *w = line; *w;) {
			while (*w == ' ')
				*w++ = 0;
			if (!*w)
				break;
			if (argc < 15)
				argv[argc++] = w;
			while (*w && *w != ' ')
				w++;
		}
		line = p;
		if (argc < 2 || argv[0][0] == '#')
			continue;
		name = argv[0];
		argv[argc] = 0;
		puts_("=== ");
		puts_(name);
		puts_(" ===\n");
		long pid = sys6(NR_clone, SIGCHLD, 0, 0, 0, 0, 0);
		if (pid == 0) {
			sys6(NR_execve, (long)argv[1], (long)(argv + 1), (long)envp, 0, 0, 0);
			sys6(NR_exit_group, 127, 0, 0, 0, 0, 0);
		}
		int status = 0;
		sys6(NR_wait4, pid, (long)&status, 0, 0, 0, 0);
		if ((status & 0x7f) == 0) {
			puts_("=== status: exited ");
			putnum((status >> 8) & 0xff);
		} else {
			puts_("=== status: killed by signal ");
			putnum(status & 0x7f);
		}
		puts_(" ===\n");
	}
	/* LINUX_REBOOT_CMD_POWER_OFF */
	sys6(NR_reboot, 0xfee1dead, 672274793, 0x4321fedc, 0, 0, 0);
	sys6(NR_exit_group, 0, 0, 0, 0, 0, 0);
}
