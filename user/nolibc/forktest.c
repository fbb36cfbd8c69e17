/*
 * forktest: fork (clone with SIGCHLD), copy on write, wait4 and its
 * statuses, getppid, WNOHANG and ECHILD. The parent prints nothing between
 * a fork and the wait, so the output order does not depend on scheduling.
 */
#include "nolibc.h"

#define NR_nanosleep 101
#define NR_getpid 172
#define NR_getppid 173
#define NR_brk 214
#define NR_clone 220
#define NR_wait4 260
#define SIGCHLD 17
#define WNOHANG 1

static long fork_(void) { return sys5(NR_clone, SIGCHLD, 0, 0, 0, 0); }
static void exit_(int code) { sys5(NR_exit_group, code, 0, 0, 0, 0); }

static volatile long global = 1;

void start_c(long *sp)
{
	(void)sp;
	int status = 0;
	long me = sys5(NR_getpid, 0, 0, 0, 0, 0);
	char *heap = (char *)sys5(NR_brk, 0, 0, 0, 0, 0);
	sys5(NR_brk, (long)heap + 4096, 0, 0, 0, 0);
	heap[0] = 'p';

	say("wait4 with no children=", sys5(NR_wait4, -1, (long)&status, 0, 0, 0));

	long pid = fork_();
	if (pid == 0) {
		say("child: fork returned 0, sees global=", global);
		say("child: its parent is the forker: ", sys5(NR_getppid, 0, 0, 0, 0, 0) == me);
		say("child: a pid of its own: ", sys5(NR_getpid, 0, 0, 0, 0, 0) != me);
		global = 2;
		heap[0] = 'c';
		say("child: after writing, global=", global);
		exit_(3);
	}
	say("wait4(child)=pid: ", sys5(NR_wait4, pid, (long)&status, 0, 0, 0) == pid);
	say("exited normally: ", (status & 0x7f) == 0);
	say("exit status=", (status >> 8) & 0xff);
	say("parent still sees global=", global);
	say("parent's heap byte untouched: ", heap[0] == 'p');
	say("the child is gone: wait4 again=", sys5(NR_wait4, pid, (long)&status, 0, 0, 0));

	pid = fork_();
	if (pid == 0) {
		*(volatile long *)0 = 1;
		exit_(0);
	}
	say("wait4(segfaulting child)=pid: ", sys5(NR_wait4, -1, (long)&status, 0, 0, 0) == pid);
	say("killed by signal ", status & 0x7f);

	pid = fork_();
	if (pid == 0) {
		long ts[2] = {0, 50000000};
		sys5(NR_nanosleep, (long)ts, 0, 0, 0, 0);
		exit_(5);
	}
	say("wait4(WNOHANG) while it sleeps=", sys5(NR_wait4, pid, (long)&status, WNOHANG, 0, 0));
	say("then wait4 blocks until it exits: ", sys5(NR_wait4, pid, (long)&status, 0, 0, 0) == pid);
	say("exit status=", (status >> 8) & 0xff);
	say("wait4(bad options)=", sys5(NR_wait4, -1, (long)&status, 0x100, 0, 0));
	exit_(0);
}
