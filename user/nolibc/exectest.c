/*
 * exectest: execve from user space: a forked child becomes another
 * program with the arguments it was given; execve's errors; the parent
 * sees the new program's exit status.
 */
#include "nolibc.h"

#define NR_clone 220
#define NR_execve 221
#define NR_wait4 260
#define SIGCHLD 17

/* Forks a child that execs `path` (or reports why not and exits 9);
 * returns the child's wait status. */
static int run(const char *path, char **argv, char **envp)
{
	int status = 0;
	long pid = sys4(NR_clone, SIGCHLD, 0, 0, 0);
	if (pid == 0) {
		say("child: execve failed with ", sys4(NR_execve, (long)path, (long)argv, (long)envp, 0));
		sys4(NR_exit_group, 9, 0, 0, 0);
	}
	sys4(NR_wait4, pid, (long)&status, 0, 0);
	return status;
}

void start_c(long *sp)
{
	(void)sp;
	char *argv[] = {"/bin/hello-raw", "from-exec", 0};
	char *envp[] = {"A=1", 0};
	int st = run("/bin/hello-raw", argv, envp);
	say("the exec'd program exited with ", (st >> 8) & 0xff);
	st = run("/nope", argv, envp);
	say("missing file: child exited with ", (st >> 8) & 0xff);
	st = run("/etc/motd", argv, envp);
	say("not executable: child exited with ", (st >> 8) & 0xff);
	say("execve(bad path)=", sys4(NR_execve, 0x10, (long)argv, (long)envp, 0));
	say("execve(bad argv)=", sys4(NR_execve, (long)"/bin/hello-raw", 0x10, (long)envp, 0));
	sys4(NR_exit_group, 0, 0, 0, 0);
}
