/* Small helpers shared by every layer: cleanup attributes, array size, min/max. */
#pragma once

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define _cleanup_(f)   __attribute__((__cleanup__(f)))
#define _unused_       __attribute__((__unused__))
#define _printf_(a, b) __attribute__((__format__(printf, a, b)))
#define _warn_unused_  __attribute__((__warn_unused_result__))

static inline void freep(void *p)
{
	free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}
#define _cleanup_close_ _cleanup_(closep)

/* Returns the pointer and leaves NULL behind (ownership transfer). */
#define TAKE_PTR(p)                                                                                \
	({                                                                                         \
		typeof(p) _tp = (p);                                                               \
		(p) = NULL;                                                                        \
		_tp;                                                                               \
	})

/* Returns the fd and leaves -1 behind (ownership transfer). */
#define TAKE_FD(fd)                                                                                \
	({                                                                                         \
		int _tfd = (fd);                                                                   \
		(fd) = -1;                                                                         \
		_tfd;                                                                              \
	})

/* Closes fd if valid and returns -1, for `fd = safe_close(fd);`. */
static inline int safe_close(int fd)
{
	if (fd >= 0)
		close(fd);
	return -1;
}
