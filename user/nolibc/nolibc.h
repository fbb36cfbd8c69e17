/*
 * nolibc.h: what the programs without a C library share: the system-call
 * instruction (number in x8, arguments in x0-x5, result in x0), a few
 * output helpers, and _start, which hands start_c the initial stack
 * pointer (argc, argv, envp, auxv; see docs/processes.md).
 */
#ifndef PAGODA_NOLIBC_H
#define PAGODA_NOLIBC_H

#define NR_write 64
#define NR_exit_group 94

static long sys6(long nr, long a, long b, long c, long d, long e, long f)
{
	register long x8 __asm__("x8") = nr;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	register long x3 __asm__("x3") = d;
	register long x4 __asm__("x4") = e;
	register long x5 __asm__("x5") = f;
	__asm__ volatile("svc #0"
			 : "+r"(x0)
			 : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
			 : "memory");
	return x0;
}

#define sys3(nr, a, b, c) sys6(nr, a, b, c, 0, 0, 0)
#define sys4(nr, a, b, c, d) sys6(nr, a, b, c, d, 0, 0)
#define sys5(nr, a, b, c, d, e) sys6(nr, a, b, c, d, e, 0)

static __attribute__((unused)) unsigned long len(const char *s)
{
	unsigned long n = 0;
	while (s[n])
		n++;
	return n;
}

static __attribute__((unused)) void puts_(const char *s) { sys3(NR_write, 1, (long)s, (long)len(s)); }

static __attribute__((unused)) void putnum(long v)
{
	char buf[24];
	int i = sizeof(buf);
	int neg = v < 0;
	unsigned long u = neg ? -(unsigned long)v : (unsigned long)v;
	buf[--i] = 0;
	do {
		buf[--i] = '0' + u % 10;
		u /= 10;
	} while (u);
	if (neg)
		buf[--i] = '-';
	puts_(buf + i);
}

/* Prints `what` followed by a number and a newline. */
static __attribute__((unused)) void say(const char *what, long v)
{
	puts_(what);
	putnum(v);
	puts_("\n");
}

void start_c(long *sp);

__asm__(".globl _start\n"
	"_start:\n"
	"	mov x0, sp\n"
	"	bl start_c\n"
	"1:	b 1b\n");

#endif
