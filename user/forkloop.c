/*
 * forkloop [N]: N (default 1000) fork/exit/wait cycles, each child
 * writing to memory it shares copy-on-write with the parent and exiting
 * with its own status. On Pagoda the leak test (fs/exec.rs) runs it and
 * checks that every page, slab object and commitment comes back exactly;
 * free memory cannot be compared with Linux's, whose caches keep some of
 * what 1000 tasks used.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char buf[64 << 10];

static void cycles(int n)
{
	for (int i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			for (size_t j = 0; j < sizeof(buf); j += 4096)
				buf[j] = (char)i; /* copy on write */
			_exit(i & 0x7f);
		}
		int status;
		if (waitpid(pid, &status, 0) != pid || WEXITSTATUS(status) != (i & 0x7f)) {
			printf("cycle %d: wrong child or status\n", i);
			exit(1);
		}
	}
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1000;
	memset(buf, 1, sizeof(buf));
	cycles(n);
	printf("%d fork/exit cycles, every child's status right: 1\n", n);
	return 0;
}
