/*
 * pgrp: process groups and sessions, signals to groups, waiting for a
 * group, and waiting for events: setpgid/getpgid/setsid/getsid with
 * Linux's rules and errors; kill(0, ...) and kill(-pgid, ...) reach every
 * member; wait4(0) and wait4(-pgid) reap by group; pause() and
 * sigsuspend() sleep until a handler runs; ppoll() reports pipe readiness,
 * hang-up and timeouts; an orphan's parent becomes init.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "show.h"

static volatile int got;
static void on_usr1(int sig)
{
	got = sig;
}


/* A child that sets up SIGUSR1 to exit with 7, says it is ready, and
 * sleeps in pause() until then. */
static pid_t sleeper(int ready_fd, int own_group)
{
	pid_t pid = fork();
	if (pid == 0) {
		if (own_group)
			setpgid(0, 0);
		signal(SIGUSR1, on_usr1);
		write(ready_fd, "r", 1);
		while (!got)
			pause();
		_exit(7);
	}
	return pid;
}

int main(void)
{
	int status;
	char c;
	printf("initial group and session (init's, the kernel's 0): %d %d\n", getpgrp(), getsid(0));
	show("setpgid(0, -1)", setpgid(0, -1));
	show("getpgid(no such process)", getpgid(999999));
	show("getsid(no such process)", getsid(999999));
	show("setpgid(0, 0)", setpgid(0, 0));
	printf("now a group leader: %d\n", getpgrp() == getpid());
	show("setsid() as a group leader", setsid());
	show("setpgid(0, 999999) (no such group)", setpgid(0, 999999));
	show("setpgid(not a child)", setpgid(1, 0));

	/* Two children in our group, one in its own. */
	int p[2];
	pipe(p);
	signal(SIGUSR1, on_usr1);
	pid_t a = sleeper(p[1], 0), b = sleeper(p[1], 0), own = sleeper(p[1], 1);
	for (int i = 0; i < 3; i++)
		read(p[0], &c, 1);
	printf("children: same group %d %d, own group %d\n", getpgid(a) == getpgrp(), getpgid(b) == getpgrp(),
	       getpgid(own) == own);
	show("setpgid(child, its own group)", setpgid(a, a) == 0 && getpgid(a) == a);
	show("setpgid(child, back to ours)", setpgid(a, getpgrp()));
	show("kill(0, SIGUSR1)", kill(0, SIGUSR1));
	printf("our handler ran: %d\n", got == SIGUSR1);
	pid_t w1 = waitpid(0, &status, 0);
	int s1 = WEXITSTATUS(status);
	pid_t w2 = waitpid(0, &status, 0);
	printf("waitpid(0) reaped both group members with status 7: %d\n",
	       ((w1 == a && w2 == b) || (w1 == b && w2 == a)) && s1 == 7 && WEXITSTATUS(status) == 7);
	show("waitpid(0) with none left in the group", waitpid(0, &status, WNOHANG));
	show("kill(-own, SIGTERM)", kill(-own, SIGTERM));
	printf("waitpid(-own) got it, killed by signal %d\n",
	       waitpid(-own, &status, 0) == own && WIFSIGNALED(status) ? WTERMSIG(status) : -1);
	show("kill(-999999, 0)", kill(-999999, 0));

	/* A child makes its own session. */
	pid_t s = fork();
	if (s == 0) {
		pid_t sid = setsid();
		printf("child: setsid made a session named by its pid: %d\n", sid == getpid() && getsid(0) == getpid());
		printf("child: and is its group leader: %d\n", getpgrp() == getpid());
		errno = 0;
		int r = setpgid(0, getpgid(getppid()));
		printf("child: joining the parent's group from another session: %d (%s)\n", r, strerrorname_np(errno));
		_exit(0);
	}
	waitpid(s, NULL, 0);

	/* sigsuspend: sleeps with SIGUSR1 unblocked, the old mask comes back. */
	sigset_t block, old, during;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, &old);
	got = 0;
	kill(getpid(), SIGUSR1);
	printf("blocked SIGUSR1 pending, handler not run: %d\n", got == 0);
	sigemptyset(&during);
	show("sigsuspend(nothing blocked)", sigsuspend(&during));
	sigset_t now;
	sigprocmask(SIG_BLOCK, NULL, &now);
	printf("handler ran: %d, SIGUSR1 blocked again after: %d\n", got == SIGUSR1, sigismember(&now, SIGUSR1));
	sigprocmask(SIG_SETMASK, &old, NULL);

	/* ppoll on a pipe. */
	int q[2];
	pipe(q);
	struct pollfd pf[2] = {{q[0], POLLIN, 0}, {q[1], POLLOUT, 0}};
	struct timespec ten_ms = {0, 10 * 1000 * 1000};
	show("ppoll(empty pipe: write end only)", ppoll(pf, 2, &ten_ms, NULL));
	printf("  revents %#x %#x\n", pf[0].revents, pf[1].revents);
	show("ppoll(read end, 10 ms timeout)", ppoll(pf, 1, &ten_ms, NULL));
	write(q[1], "x", 1);
	show("ppoll(read end after a write)", ppoll(pf, 1, &ten_ms, NULL));
	printf("  revents %#x\n", pf[0].revents);
	close(q[1]);
	read(q[0], &c, 1);
	show("ppoll(read end, writer closed)", ppoll(pf, 1, NULL, NULL));
	printf("  revents %#x (POLLHUP)\n", pf[0].revents);
	struct pollfd bad = {12345, POLLIN, 0};
	show("ppoll(unopened fd)", ppoll(&bad, 1, NULL, NULL));
	printf("  revents %#x (POLLNVAL)\n", bad.revents);
	show("ppoll(bad pointer)", syscall(SYS_ppoll, 16, 1, &ten_ms, NULL, 8));
	pid_t k = fork();
	if (k == 0) {
		struct timespec t = {0, 50 * 1000 * 1000};
		nanosleep(&t, NULL);
		kill(getppid(), SIGUSR1);
		_exit(0);
	}
	got = 0;
	show("ppoll(nothing, no timeout) until a signal", ppoll(NULL, 0, NULL, NULL));
	printf("  the handler ran: %d\n", got == SIGUSR1);
	waitpid(k, NULL, 0);

	/* An orphan gets init as its parent. */
	int o[2];
	pipe(o);
	pid_t mid = fork();
	if (mid == 0) {
		if (fork() == 0) {
			struct timespec t = {0, 10 * 1000 * 1000};
			for (int i = 0; i < 100 && getppid() != 1; i++)
				nanosleep(&t, NULL);
			char r = getppid() == 1 ? '1' : '0';
			write(o[1], &r, 1);
			_exit(0);
		}
		_exit(0);
	}
	waitpid(mid, NULL, 0);
	read(o[0], &c, 1);
	printf("an orphan's parent is now init (pid 1): %c\n", c);
	return 0;
}
