/*
 * hello-raw: a user program with no C library, for the first steps of the
 * user-task machinery: it makes raw system calls (svc #0, number in x8) and
 * reads its initial stack (argc, argv, envp, auxv) itself. It prints only
 * what does not differ between runs or kernels, so Linux prints the same.
 *
 * Built with -nostdlib: no C library, no start files.
 */
#include "nolibc.h"

#define NR_getpid 172
#define AT_NULL 0
#define AT_PAGESZ 6
#define AT_RANDOM 25
#define AT_EXECFN 31

void start_c(long *sp)
{
	long argc = sp[0];
	char **argv = (char **)(sp + 1);
	char **envp = argv + argc + 1;
	long *auxv;
	long pagesz = -1, have_random = 0;
	const char *execfn = "?";

	puts_("hello from EL0 without libc\n");
	say("argc=", argc);
	for (long i = 0; i < argc; i++) {
		puts_("argv[");
		putnum(i);
		puts_("]=");
		puts_(argv[i]);
		puts_("\n");
	}
	while (*envp)
		envp++;
	for (auxv = (long *)(envp + 1); auxv[0] != AT_NULL; auxv += 2) {
		if (auxv[0] == AT_PAGESZ)
			pagesz = auxv[1];
		if (auxv[0] == AT_RANDOM)
			have_random = auxv[1] != 0;
		if (auxv[0] == AT_EXECFN)
			execfn = (const char *)auxv[1];
	}
	say("AT_PAGESZ=", pagesz);
	say("AT_RANDOM present=", have_random);
	puts_("AT_EXECFN=");
	puts_(execfn);
	puts_("\n");
	say("stack 16-byte aligned=", ((long)sp & 15) == 0);
	say("getpid() > 1: ", sys3(NR_getpid, 0, 0, 0) > 1);
	say("write(bad pointer)=", sys3(NR_write, 1, 0x10, 5));
	say("write(kernel pointer)=", sys3(NR_write, 1, (long)0xffff000008000000UL, 5));
	say("write(bad fd)=", sys3(NR_write, 99, (long)"x", 1));
	say("unknown syscall=", sys3(999, 0, 0, 0));
	if (argc > 1 && argv[1][0] == 's') {
		puts_("touching address 0\n");
		*(volatile long *)0 = 1;
	}
	sys3(NR_exit_group, 7, 0, 0);
}
