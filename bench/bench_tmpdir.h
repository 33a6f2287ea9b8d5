/* A temporary directory that an in-process benchmark (bench_module_call,
 * bench_startup) removes at exit, also when it dies through exit(): its AOT
 * cache and the nodes' state. */
#pragma once

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static const char *bench_tmpdir_path; /* set once made */

static inline int bench_tmpdir_rm(const char *path, const struct stat *st, int flag,
                                  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static inline void bench_tmpdir_remove(void)
{
	if (bench_tmpdir_path)
		nftw(bench_tmpdir_path, bench_tmpdir_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* Makes the directory of tmpl (a mkdtemp template; the caller keeps it for
 * the process's life), mode 0711 (the compile runs as the sandbox user when
 * we are root), removed with its contents at exit. Returns 0 or -errno. */
static inline int bench_tmpdir_make(char *tmpl)
{
	if (!mkdtemp(tmpl))
		return -errno;
	bench_tmpdir_path = tmpl;
	atexit(bench_tmpdir_remove);
	chmod(tmpl, 0711);
	return 0;
}
