/* The caller's error buffer: codecs and libraries put a one-line reason in a
 * buffer the caller owns (char *err, size_t errlen) and return a negative
 * errno; only the boundary (the daemon, a command) reports it. */
#pragma once

#include <stddef.h>

/* Formats the reason into err (when err is not NULL and errlen > 0; cut to
 * fit, always terminated) and returns r, so that `return err_set(err,
 * errlen, -EINVAL, "...")` reads as what it does. errno is preserved. */
int err_set(char *err, size_t errlen, int r, const char *fmt, ...)
        __attribute__((__format__(printf, 4, 5)));
