/*
 * jobctl: stopping and continuing processes, and system calls that
 * signals interrupt. SIGSTOP stops a child (wait4 WUNTRACED sees it) and
 * it makes no progress until SIGCONT (WCONTINUED sees that); SIGTSTP
 * with a handler does not stop; SIGKILL ends a stopped child; a stopped
 * and continued nanosleep still sleeps its full time (restart_syscall);
 * a read with an SA_RESTART handler goes on, without SA_RESTART fails with
 * EINTR; sigsuspend and ppoll fail with EINTR after a handler.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "show.h"

static void msleep(int ms)
{
	struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&t, NULL);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Bytes waiting in a non-blocking pipe. */
static int drain(int fd)
{
	char buf[256];
	int n, total = 0;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		total += n;
	return total;
}

static volatile int got;
static void on_sig(int sig)
{
	got = sig;
}

static void describe(const char *what, int status)
{
	if (WIFSTOPPED(status))
		printf("%s: stopped by %d\n", what, WSTOPSIG(status));
	else if (WIFCONTINUED(status))
		printf("%s: continued\n", what);
	else if (WIFSIGNALED(status))
		printf("%s: killed by %d\n", what, WTERMSIG(status));
	else
		printf("%s: exited with %d\n", what, WEXITSTATUS(status));
}

int main(void)
{
	int status, p[2];

	/* A ticker: one byte every 10 ms. */
	pipe2(p, O_NONBLOCK);
	pid_t t = fork();
	if (t == 0) {
		for (;;) {
			write(p[1], "t", 1);
			msleep(10);
		}
	}
	msleep(50);
	printf("ticking: %d\n", drain(p[0]) > 0);
	kill(t, SIGSTOP);
	show("waitpid(WUNTRACED) == child", waitpid(t, &status, WUNTRACED) == t);
	describe("ticker", status);
	drain(p[0]);
	msleep(100);
	printf("no ticks while stopped: %d\n", drain(p[0]) == 0);
	show("waitpid(WUNTRACED|WNOHANG) reports a stop once", waitpid(t, &status, WUNTRACED | WNOHANG));
	kill(t, SIGCONT);
	show("waitpid(WCONTINUED) == child", waitpid(t, &status, WCONTINUED) == t);
	describe("ticker", status);
	msleep(100);
	printf("ticking again: %d\n", drain(p[0]) > 0);
	kill(t, SIGSTOP);
	waitpid(t, &status, WUNTRACED);
	kill(t, SIGKILL);
	waitpid(t, &status, 0);
	describe("SIGKILL to the stopped ticker", status);

	/* SIGTSTP with a handler: the handler runs, nothing stops. */
	pid_t h = fork();
	if (h == 0) {
		signal(SIGTSTP, on_sig);
		while (!got)
			pause();
		_exit(got);
	}
	msleep(30);
	kill(h, SIGTSTP);
	waitpid(h, &status, WUNTRACED);
	describe("SIGTSTP with a handler", status);

	/* A stopped and continued nanosleep sleeps its whole time. */
	pid_t s = fork();
	if (s == 0) {
		double t0 = now();
		struct timespec req = {0, 300 * 1000000L};
		int r = nanosleep(&req, NULL);
		_exit(r == 0 && now() - t0 >= 0.3 ? 0 : 1);
	}
	msleep(50);
	kill(s, SIGSTOP);
	waitpid(s, &status, WUNTRACED);
	msleep(50);
	kill(s, SIGCONT);
	waitpid(s, &status, 0);
	describe("nanosleep(300 ms) stopped and continued: returns 0 after 300 ms", status);

	/* read() interrupted by a handler: SA_RESTART or not. */
	for (int restart = 1; restart >= 0; restart--) {
		int q[2];
		pipe(q);
		pid_t r = fork();
		if (r == 0) {
			struct sigaction sa = {0};
			sa.sa_handler = on_sig;
			sa.sa_flags = restart ? SA_RESTART : 0;
			sigaction(SIGUSR1, &sa, NULL);
			char c;
			errno = 0;
			long n = read(q[0], &c, 1);
			printf("  child: read = %ld (%s), handler ran %d\n", n, n < 0 ? strerrorname_np(errno) : "a byte",
			       got == SIGUSR1);
			_exit(0);
		}
		printf("read with %s handler:\n", restart ? "an SA_RESTART" : "a plain");
		msleep(50);
		kill(r, SIGUSR1);
		msleep(50);
		write(q[1], "x", 1);
		waitpid(r, NULL, 0);
		close(q[0]), close(q[1]);
	}

	/* sigsuspend and ppoll return EINTR after a handler, even SA_RESTART. */
	struct sigaction sa = {0};
	sa.sa_handler = on_sig;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR2, &sa, NULL);
	pid_t k = fork();
	if (k == 0) {
		msleep(50);
		kill(getppid(), SIGUSR2);
		msleep(50);
		kill(getppid(), SIGUSR2);
		_exit(0);
	}
	sigset_t none;
	sigemptyset(&none);
	got = 0;
	show("sigsuspend (SA_RESTART handler)", sigsuspend(&none));
	got = 0;
	show("ppoll(nothing) (SA_RESTART handler)", ppoll(NULL, 0, NULL, NULL));
	waitpid(k, NULL, 0);
	return 0;
}
