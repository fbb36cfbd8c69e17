/*
 * sigsegv: signal handlers as test suites use them: a SIGSEGV handler with
 * SA_SIGINFO reads si_code and si_addr and leaves with siglongjmp, which
 * restores the signal mask; a handler that returns resumes the program
 * through rt_sigreturn.
 */
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
	return 0;
}
