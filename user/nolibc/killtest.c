/*
 * killtest: kill(2) with default actions: a spinning child and a sleeping
 * child die of the signals sent to them, an ignored-by-default signal does
 * nothing, signal 0 probes, and the errors.
 */
#include "nolibc.h"

#define NR_nanosleep 101
#define NR_kill 129
#define NR_clone 220
#define NR_wait4 260
#define SIGKILL 9
#define SIGTERM 15
#define SIGCHLD 17
#define WNOHANG 1

static void sleep_ms(long ms)
{
	long ts[2] = {ms / 1000, (ms % 1000) * 1000000};
	sys4(NR_nanosleep, (long)ts, 0, 0, 0);
}

void start_c(long *sp)
{
	(void)sp;
	int status = 0;

	long pid = sys4(NR_clone, SIGCHLD, 0, 0, 0);
	if (pid == 0)
		for (;;)
			;
	say("kill(spinning child, SIGTERM)=", sys4(NR_kill, pid, SIGTERM, 0, 0));
	say("wait4 reaps it: ", sys4(NR_wait4, pid, (long)&status, 0, 0) == pid);
	say("killed by signal ", status & 0x7f);

	pid = sys4(NR_clone, SIGCHLD, 0, 0, 0);
	if (pid == 0) {
		sleep_ms(10000);
		sys4(NR_exit_group, 1, 0, 0, 0);
	}
	sleep_ms(20);
	say("kill(sleeping child, SIGCHLD)=", sys4(NR_kill, pid, SIGCHLD, 0, 0));
	sleep_ms(20);
	say("an ignored signal leaves it alive: ", sys4(NR_wait4, pid, (long)&status, WNOHANG, 0) == 0);
	say("kill(child, 0)=", sys4(NR_kill, pid, 0, 0, 0));
	say("kill(child, 99)=", sys4(NR_kill, pid, 99, 0, 0));
	say("kill(child, -1)=", sys4(NR_kill, pid, -1, 0, 0));
	say("kill(sleeping child, SIGKILL)=", sys4(NR_kill, pid, SIGKILL, 0, 0));
	say("wait4 reaps it: ", sys4(NR_wait4, pid, (long)&status, 0, 0) == pid);
	say("killed by signal ", status & 0x7f);
	say("kill(no such pid, 0)=", sys4(NR_kill, 999999, 0, 0, 0));
	sys4(NR_exit_group, 0, 0, 0, 0);
}
