/*
 * sigsegv: signal handlers as test suites use them: a SIGSEGV handler with
 * SA_SIGINFO reads si_code and si_addr and leaves with siglongjmp, which
 * restores the signal mask; a handler that returns resumes the program
 * through rt_sigreturn; a stack overflow is caught on an alternate stack
 * (sigaltstack + SA_ONSTACK), and sigaltstack reports Linux's errors; a
 * misaligned exclusive load raises SIGBUS with BUS_ADRALN, and a brk
 * instruction SIGTRAP with TRAP_BRKPT.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

static sigjmp_buf env;
static volatile int fault_sig, fault_code;
static void *volatile fault_addr;
static volatile int usr1_count;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	fault_sig = sig;
	fault_code = si->si_code;
	fault_addr = si->si_addr;
	siglongjmp(env, 1);
}

static char altstack[4 * SIGSTKSZ];
static volatile int on_alt;

static void on_overflow(int sig, siginfo_t *si, void *uc)
{
	char here;
	(void)sig, (void)si, (void)uc;
	on_alt = &here >= altstack && &here < altstack + sizeof(altstack);
	siglongjmp(env, 1);
}

static int recurse(int n)
{
	volatile char buf[1024];
	buf[0] = (char)n;
	if (n > (1 << 30))
		return 0;
	return recurse(n + 1) + buf[0];
}

static void on_usr1(int sig)
{
	(void)sig;
	usr1_count++;
}

int main(void)
{
	struct sigaction sa = {0};
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	printf("sigaction(SIGSEGV)=%d\n", sigaction(SIGSEGV, &sa, NULL));

	for (int i = 1; i <= 3; i++) {
		if (sigsetjmp(env, 1) == 0) {
			*(volatile int *)(0x1000L * i) = 1;
			printf("no fault at %#lx?\n", 0x1000L * i);
		} else {
			printf("caught signal %d, si_code %d (SEGV_MAPERR), si_addr %p\n", fault_sig, fault_code, fault_addr);
		}
	}

	char *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (sigsetjmp(env, 1) == 0) {
		ro[5] = 1;
		printf("no fault on a read-only page?\n");
	} else {
		printf("caught signal %d, si_code %d (SEGV_ACCERR), si_addr is the byte written: %d\n", fault_sig,
		       fault_code, fault_addr == ro + 5);
	}

	sigset_t cur;
	sigprocmask(SIG_BLOCK, NULL, &cur);
	printf("SIGSEGV still blocked after siglongjmp: %d\n", sigismember(&cur, SIGSEGV));

	signal(SIGUSR1, on_usr1);
	kill(getpid(), SIGUSR1);
	kill(getpid(), SIGUSR1);
	printf("the SIGUSR1 handler ran %d times and returned each time\n", usr1_count);

	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, NULL);
	kill(getpid(), SIGUSR1);
	printf("blocked: the handler has run %d times\n", usr1_count);
	sigprocmask(SIG_UNBLOCK, &block, NULL);
	printf("unblocked: the handler has run %d times\n", usr1_count);

	stack_t ss = {.ss_sp = altstack, .ss_size = 1024, .ss_flags = 0}, old;
	errno = 0;
	printf("sigaltstack with 1024 bytes: %d errno %d (ENOMEM)\n", sigaltstack(&ss, NULL), errno);
	ss.ss_size = sizeof(altstack);
	ss.ss_flags = 12345;
	errno = 0;
	printf("sigaltstack with bad flags: %d errno %d (EINVAL)\n", sigaltstack(&ss, NULL), errno);
	ss.ss_flags = 0;
	printf("sigaltstack=%d\n", sigaltstack(&ss, NULL));
	sa.sa_sigaction = on_overflow;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigaction(SIGSEGV, &sa, NULL);
	if (sigsetjmp(env, 1) == 0)
		printf("no overflow? %d\n", recurse(0));
	else
		printf("stack overflow: SIGSEGV handled on the alternate stack: %s\n", on_alt ? "yes" : "no");
	sigaltstack(NULL, &old);
	printf("after: ss_flags %d, ss_size is ours: %d\n", old.ss_flags, old.ss_size == sizeof(altstack));

	/* An exclusive load must be aligned: SIGBUS, BUS_ADRALN. */
	static long words[2];
	char *odd = (char *)words + 1;
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGBUS, &sa, NULL);
	if (sigsetjmp(env, 1) == 0) {
		long v;
		__asm__ volatile("ldxr %0, [%1]" : "=r"(v) : "r"(odd) : "memory");
		printf("no fault on a misaligned ldxr? %ld\n", v);
	} else {
		printf("caught signal %d (SIGBUS), si_code %d (BUS_ADRALN), si_addr is the address: %d\n", fault_sig,
		       fault_code, fault_addr == odd);
	}
	sigaction(SIGTRAP, &sa, NULL);
	if (sigsetjmp(env, 1) == 0) {
		__builtin_trap();
	} else {
		printf("caught signal %d (SIGTRAP), si_code %d (TRAP_BRKPT)\n", fault_sig, fault_code);
	}
	return 0;
}
