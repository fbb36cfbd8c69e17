/*
 * hello: the first user program. A static glibc binary built with Debian's
 * aarch64-linux-gnu-gcc, exactly as it would be for Linux. Before main(),
 * glibc's start-up already uses brk, mmap, mprotect, set_tid_address,
 * uname and more, so running it needs the process address space as well
 * as the user-task machinery.
 */
#include <stdio.h>

int main(int argc, char **argv)
{
	printf("hello from %s with %d argument%s\n", argv[0], argc - 1, argc == 2 ? "" : "s");
	return 0;
}
