/*
 * fpcheck SEED: fills all 32 FP/SIMD registers with values from SEED, spins
 * long enough to be preempted many times by the tick, and checks that every
 * register still holds its value. Two copies with different seeds on one
 * CPU show that the kernel saves and restores each task's FP/SIMD state.
 * Exit status 0 if every register survived every round, 1 if not.
 */
#include "nolibc.h"

#define VREGS "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10", "v11", "v12", \
	"v13", "v14", "v15", "v16", "v17", "v18", "v19", "v20", "v21", "v22", "v23", "v24", "v25", \
	"v26", "v27", "v28", "v29", "v30", "v31"

/* Registers (halves) that lost their value over one round. */
static long round_(unsigned long seed, unsigned long spins)
{
	long bad;
	__asm__ volatile(
		"mov x9, %[seed]\n"
		".irp n,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31\n"
		"dup v\\n\\().2d, x9\n"
		"add x9, x9, #1\n"
		".endr\n"
		"mov x10, %[spins]\n"
		"1: subs x10, x10, #1\n"
		"b.ne 1b\n"
		"mov x9, %[seed]\n"
		"mov %[bad], #0\n"
		".irp n,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31\n"
		"umov x11, v\\n\\().d[0]\n"
		"cmp x11, x9\n"
		"cinc %[bad], %[bad], ne\n"
		"umov x11, v\\n\\().d[1]\n"
		"cmp x11, x9\n"
		"cinc %[bad], %[bad], ne\n"
		"add x9, x9, #1\n"
		".endr\n"
		: [bad] "=&r"(bad)
		: [seed] "r"(seed), [spins] "r"(spins)
		: "x9", "x10", "x11", "cc", "memory", VREGS);
	return bad;
}

void start_c(long *sp)
{
	long argc = sp[0];
	char **argv = (char **)(sp + 1);
	unsigned long seed = 1000;
	long bad = 0;

	if (argc > 1)
		for (const char *p = argv[1]; *p >= '0' && *p <= '9'; p++)
			seed = seed * 10 + (unsigned long)(*p - '0');
	for (int i = 0; i < 8; i++)
		bad += round_(seed << 8, 4000000);
	if (bad == 0)
		sys3(NR_write, 1, (long)"fp registers survived preemption\n", 33);
	else
		sys3(NR_write, 1, (long)"fp registers were corrupted\n", 28);
	sys3(NR_exit_group, bad != 0, 0, 0);
}
