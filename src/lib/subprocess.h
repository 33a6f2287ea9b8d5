/* Running a program to its end, with limits: fork and exec (no shell); stdin
 * from a buffer (through a socket, so a child that exits early cannot
 * SIGPIPE the caller) or /dev/null; stdout and stderr captured into bounded
 * buffers, discarded or inherited; the child in a process group of its own,
 * killed as a group at a wall-clock deadline and when it exits (so that
 * nothing it started outlives it); an optional hook in the child before exec
 * (rlimits, a uid switch). File descriptors 3 and above are closed in the
 * child; the signal mask is cleared and SIGPIPE reset.
 *
 * subprocess_run() blocks its caller until the child has ended: it is for
 * helper processes, command-line tools and short synchronous steps, never
 * for work on an event loop. It never logs. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Exit statuses of a child that did not get to run its program. */
#define SUBPROCESS_EXIT_SETUP  126 /* the child_setup hook failed */
#define SUBPROCESS_EXIT_NOEXEC 127 /* exec failed (not found, not executable) */

enum subprocess_io {
	SUBPROCESS_NULL,    /* /dev/null */
	SUBPROCESS_CAPTURE, /* into the result's buffer */
	SUBPROCESS_INHERIT, /* the caller's */
};

struct subprocess {
	const char *file;  /* the program: a path, or a name searched in `path`;
	                      NULL: argv[0] */
	char *const *argv; /* its arguments, argv[0] first (what it sees as its name) */
	char *const *envp; /* NULL: the caller's environment */
	const char *path;  /* search path for a bare argv[0]; NULL: $PATH */
	const void *input; /* written to stdin; NULL: /dev/null */
	size_t input_len;
	enum subprocess_io out, err;
	bool err_to_out;     /* stderr goes where stdout goes (merged, in order) */
	size_t out_max;      /* bytes of stdout kept (CAPTURE); more is counted as cut */
	size_t err_max;      /* bytes of stderr kept (CAPTURE) */
	uint64_t timeout_ms; /* 0: none; else SIGKILL to the group at the deadline */
	/* In the child, after the descriptors are set up, before exec: returns 0,
	 * or non-zero to exit with SUBPROCESS_EXIT_SETUP (it may write why to
	 * fd 2 first). Async-signal-safe code only. */
	int (*child_setup)(void *arg);
	void *arg;
};

struct subprocess_result {
	int status;     /* as waitpid() reports it */
	bool timed_out; /* killed at the deadline */
	char *out;      /* CAPTURE: NUL-terminated, malloc'd (caller frees); else NULL */
	size_t out_len; /* bytes in out */
	bool out_cut;   /* the child wrote more than out_max */
	char *err;      /* the same for stderr */
	size_t err_len;
	bool err_cut;
};

/* Runs sp->argv to its end. Returns 0 when the child was started and reaped
 * (*res says how it ended; free its buffers with subprocess_result_done()),
 * or a negative errno when it could not be started (*res then holds
 * nothing to free). */
int subprocess_run(const struct subprocess *sp, struct subprocess_result *res);

/* Frees the captured output; NULL-safe. */
void subprocess_result_done(struct subprocess_result *res);

/* The shell's view of the status: 0..255 for an exit, 128+N for signal N. */
int subprocess_exit_code(const struct subprocess_result *res);
