/*
 * mmtest [segv-munmap|segv-ro|stack]: brk, anonymous mmap, munmap and
 * mprotect with their error cases, demand paging (pages appear zeroed on
 * first touch, also when the kernel touches them first), and, with an
 * argument, the faults that must kill the process. Prints only results and
 * relations, never addresses.
 */
#include "nolibc.h"

#define NR_brk 214
#define NR_munmap 215
#define NR_mmap 222
#define NR_mprotect 226
#define NR_getrandom 278
#define PROT_READ 1
#define PROT_WRITE 2
#define MAP_SHARED 1
#define MAP_PRIVATE 2
#define MAP_FIXED 0x10
#define MAP_ANONYMOUS 0x20
#define MAP_FIXED_NOREPLACE 0x100000
#define PAGE 4096L

static long mmap_(long addr, long length, long prot, long flags, long fd)
{
	return sys6(NR_mmap, addr, length, prot, flags, fd, 0);
}

static int is_err(long v) { return v < 0 && v > -4096; }

static long recurse(int depth)
{
	volatile char pad[1024];
	pad[0] = (char)depth;
	if (depth == 0)
		return pad[0];
	return recurse(depth - 1) + pad[0];
}

void start_c(long *sp)
{
	long argc = sp[0];
	char **argv = (char **)(sp + 1);
	char mode = argc > 1 ? argv[1][0] : 0;

	/* brk */
	long b0 = sys6(NR_brk, 0, 0, 0, 0, 0, 0);
	say("brk(0) > 0: ", b0 > 0);
	long b1 = sys6(NR_brk, b0 + 3 * PAGE, 0, 0, 0, 0, 0);
	say("brk grows by 3 pages: ", b1 == b0 + 3 * PAGE);
	char *heap = (char *)b0;
	int zero = 1;
	for (long i = 0; i < 3 * PAGE; i += 512)
		zero &= heap[i] == 0;
	say("new heap reads as zeroes: ", zero);
	heap[0] = 'h';
	heap[3 * PAGE - 1] = 'p';
	say("heap keeps what was written: ", heap[0] == 'h' && heap[3 * PAGE - 1] == 'p');
	say("brk shrinks back: ", sys6(NR_brk, b0, 0, 0, 0, 0, 0) == b0);
	say("brk below the start is refused: ", sys6(NR_brk, b0 - 100 * PAGE, 0, 0, 0, 0, 0) == b0);

	/* anonymous mmap */
	long m1 = mmap_(0, 5 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	say("mmap(5 pages) ok: ", !is_err(m1) && m1 % PAGE == 0);
	long m2 = mmap_(0, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	say("a second mmap lands below the first: ", m2 < m1);
	char *p = (char *)m1;
	for (long i = 0; i < 5 * PAGE; i += PAGE)
		p[i] = (char)(i / PAGE + 1);
	long sum = 0;
	for (long i = 0; i < 5 * PAGE; i += PAGE)
		sum += p[i];
	say("5 touched pages hold 1+2+3+4+5=", sum);
	/* The kernel is the first to touch this page: its copy_to_user faults
	 * it in. */
	say("getrandom() into an untouched mapped page=", sys6(NR_getrandom, m2 + 100, 16, 0, 0, 0, 0));
	say("munmap(middle page)=", sys6(NR_munmap, m1 + 2 * PAGE, PAGE, 0, 0, 0, 0));
	say("pages around the hole survive: ", p[PAGE] == 2 && p[3 * PAGE] == 4);
	say("MAP_FIXED into the hole=", mmap_(m1 + 2 * PAGE, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1) == m1 + 2 * PAGE);
	say("the refilled page is zero: ", p[2 * PAGE] == 0);
	say("MAP_FIXED_NOREPLACE over it=", mmap_(m1, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1));
	say("mprotect(read-only)=", sys6(NR_mprotect, m1, PAGE, PROT_READ, 0, 0, 0));
	say("a read-only page still reads: ", p[0] == 1);
	say("mprotect(read-write) again=", sys6(NR_mprotect, m1, PAGE, PROT_READ | PROT_WRITE, 0, 0, 0));
	p[0] = 9;
	say("and takes writes: ", p[0] == 9);

	/* errors */
	say("mmap(len 0)=", mmap_(0, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1));
	say("mmap(neither shared nor private)=", mmap_(0, PAGE, PROT_READ, MAP_ANONYMOUS, -1));
	say("mmap(unaligned MAP_FIXED)=", mmap_(m1 + 1, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1));
	say("mmap(fd -1, not anonymous)=", mmap_(0, PAGE, PROT_READ, MAP_PRIVATE, -1));
	say("mmap(huge)=", mmap_(0, 1L << 60, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1));
	say("munmap(unaligned)=", sys6(NR_munmap, m1 + 1, PAGE, 0, 0, 0, 0));
	say("munmap(len 0)=", sys6(NR_munmap, m1, 0, 0, 0, 0, 0));
	say("munmap(nothing mapped)=", sys6(NR_munmap, PAGE * 16, PAGE, 0, 0, 0, 0));
	say("mprotect(unaligned)=", sys6(NR_mprotect, m1 + 1, PAGE, PROT_READ, 0, 0, 0));
	say("mprotect(unmapped)=", sys6(NR_mprotect, PAGE * 16, PAGE, PROT_READ, 0, 0, 0));
	say("mprotect(bad prot)=", sys6(NR_mprotect, m1, PAGE, 0x100, 0, 0, 0));

	/* the stack grows on demand */
	say("deep recursion (200 KiB of stack)=", recurse(200) >= 0);

	if (mode == 'u') {
		sys6(NR_munmap, m1, PAGE, 0, 0, 0, 0);
		puts_("touching an unmapped page\n");
		p[0] = 1;
	}
	if (mode == 'r') {
		sys6(NR_mprotect, m1, PAGE, PROT_READ, 0, 0, 0);
		puts_("writing a read-only page\n");
		p[0] = 1;
	}
	sys6(NR_exit_group, 0, 0, 0, 0, 0, 0);
}
