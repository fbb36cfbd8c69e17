/*
 * aslr: address-space layout randomisation. The program execs itself
 * twice; each copy reports where its stack, an mmap and its heap (brk)
 * are. With randomize_va_space 2 (Linux's default) all three differ
 * between the two runs; the addresses themselves are not printed, since
 * they differ on every run.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static void layout(unsigned long out[3])
{
	int local;
	out[0] = (unsigned long)&local;
	void *m = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	out[1] = (unsigned long)m;
	out[2] = (unsigned long)sbrk(0);
}

/* Runs this program as "aslr child" and reads its layout from a pipe. */
static void child_layout(const char *self, unsigned long out[3])
{
	int p[2];
	pipe(p);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		execl(self, self, "child", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	char buf[128] = {0};
	read(p[0], buf, sizeof(buf) - 1);
	close(p[0]);
	waitpid(pid, NULL, 0);
	sscanf(buf, "%lx %lx %lx", &out[0], &out[1], &out[2]);
}

int main(int argc, char **argv)
{
	unsigned long a[3], b[3];
	if (argc > 1 && strcmp(argv[1], "child") == 0) {
		layout(a);
		printf("%lx %lx %lx\n", a[0], a[1], a[2]);
		return 0;
	}
	child_layout("/bin/aslr", a);
	child_layout("/bin/aslr", b);
	printf("stack differs between two execs: %d\n", a[0] != b[0]);
	printf("mmap differs between two execs: %d\n", a[1] != b[1]);
	printf("brk differs between two execs: %d\n", a[2] != b[2]);
	printf("mmap page-aligned, below the stack: %d %d\n", (a[1] & 4095) == 0, a[1] < a[0]);
	return 0;
}
