/*
 * ttystat: fstat and newfstatat on the console and on initramfs paths, the
 * two terminal ioctls glibc uses, and set_robust_list, with their errors.
 */
#include "nolibc.h"

#define NR_ioctl 29
#define NR_newfstatat 79
#define NR_fstat 80
#define NR_set_robust_list 99
#define AT_FDCWD -100
#define AT_EMPTY_PATH 0x1000
#define S_IFMT 0170000
#define S_IFCHR 0020000
#define S_IFDIR 0040000
#define S_IFREG 0100000

struct stat_ {
	unsigned long dev, ino;
	unsigned int mode, nlink, uid, gid;
	unsigned long rdev, pad1;
	long size;
	int blksize, pad2;
	long blocks, times[6];
	unsigned int unused[2];
};

void start_c(long *sp)
{
	(void)sp;
	struct stat_ st;
	unsigned int termios[16];
	unsigned short ws[4];
	long head[3];

	say("fstat(1)=", sys4(NR_fstat, 1, (long)&st, 0, 0));
	say("stdout is a character device: ", (st.mode & S_IFMT) == S_IFCHR);
	say("its permissions are 0600: ", (st.mode & 0777) == 0600);
	say("major=", (long)(st.rdev >> 8));
	say("minor=", (long)(st.rdev & 0xff));
	say("newfstatat(1, \"\", AT_EMPTY_PATH)=", sys4(NR_newfstatat, 1, (long)"", (long)&st, AT_EMPTY_PATH));
	say("newfstatat(/bin/hello-raw)=", sys4(NR_newfstatat, AT_FDCWD, (long)"/bin/hello-raw", (long)&st, 0));
	say("a regular file, mode 0755: ", (st.mode & S_IFMT) == S_IFREG && (st.mode & 0777) == 0755);
	say("size > 1000: ", st.size > 1000);
	say("newfstatat(/etc)=", sys4(NR_newfstatat, AT_FDCWD, (long)"/etc", (long)&st, 0));
	say("a directory: ", (st.mode & S_IFMT) == S_IFDIR);
	say("newfstatat(/nope)=", sys4(NR_newfstatat, AT_FDCWD, (long)"/nope", (long)&st, 0));
	say("newfstatat(\"\")=", sys4(NR_newfstatat, AT_FDCWD, (long)"", (long)&st, 0));
	say("newfstatat(bad path)=", sys4(NR_newfstatat, AT_FDCWD, 0x10, (long)&st, 0));
	say("newfstatat(bad flags)=", sys4(NR_newfstatat, AT_FDCWD, (long)"/etc", (long)&st, 0x4));
	say("fstat(99)=", sys4(NR_fstat, 99, (long)&st, 0, 0));
	say("fstat(1, bad)=", sys4(NR_fstat, 1, 0x10, 0, 0));

	say("ioctl(1, TCGETS)=", sys4(NR_ioctl, 1, 0x5401, (long)termios, 0));
	say("ICANON set: ", (termios[3] & 2) != 0);
	say("ioctl(1, TIOCGWINSZ)=", sys4(NR_ioctl, 1, 0x5413, (long)ws, 0));
	say("ioctl(1, unknown)=", sys4(NR_ioctl, 1, 0x1234, 0, 0));
	say("ioctl(99, TCGETS)=", sys4(NR_ioctl, 99, 0x5401, (long)termios, 0));
	say("ioctl(1, TCGETS, bad)=", sys4(NR_ioctl, 1, 0x5401, 0x10, 0));

	say("set_robust_list(24)=", sys4(NR_set_robust_list, (long)head, 24, 0, 0));
	say("set_robust_list(5)=", sys4(NR_set_robust_list, (long)head, 5, 0, 0));
	sys4(NR_exit_group, 0, 0, 0, 0);
}
