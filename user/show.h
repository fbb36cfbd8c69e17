/*
 * show.h: the one-line result format of the glibc test programs: the
 * value, or -1 and the errno's name, so that a line reads the same on
 * Linux and on Pagoda.
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
