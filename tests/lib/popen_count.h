/* Tests: the number a shell command prints (e.g. `... | grep -c X`), for
 * checking the kernel's state with its own tools (tc(8), ip(8)).
 * Header-only. */
#pragma once

#include <stdio.h>

/* Runs cmd with popen() and reads one integer from its output. Returns it, or
 * -1 if the command could not run or printed no number. */
static inline int popen_count(const char *cmd)
{
	FILE *p = popen(cmd, "r");
	int n = -1;
	if (!p)
		return -1;
	if (fscanf(p, "%d", &n) != 1)
		n = -1;
	pclose(p);
	return n;
}
