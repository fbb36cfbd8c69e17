/*
 * show.h: the one-line result format of the glibc test programs: the
 * value, or -1 and the errno's name, so that a line reads the same on
 * Linux and on Pagoda; and `line`, which prints the text line at the
 * start of a buffer (the test disks' sectors begin with one).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

static inline void show(const char *what, long r)
{
	if (r < 0)
		printf("%s = %ld (%s)\n", what, r, strerrorname_np(errno));
	else
		printf("%s = %ld\n", what, r);
	errno = 0;
}

/* Prints the line (up to 80 bytes) at the start of `p`, quoted. */
static inline void line(const char *what, const char *p)
{
	int n = 0;
	while (n < 80 && p[n] && p[n] != '\n')
		n++;
	printf("%s: \"%.*s\"\n", what, n, p);
}
