/* netservd's side of the container zygote (proto/zygote.h): containers
 * forked from one pre-started netserv-container instead of an exec each. */
#pragma once

#include <sys/types.h>

struct zygote_host {
	pid_t pid; /* 0: none */
	int fd;    /* its control socket, -1: none */
};

/* Starts `container_bin --zygote`. Returns 0 or a negative errno with the
 * reason in err (z then has none). */
int zygote_host_start(struct zygote_host *z, const char *container_bin, char *err, size_t errlen);

/* Has the zygote fork a container whose control socket is ctl (and busy
 * page busy, or -1); both stay ours to close. Returns its pid (our child) or
 * a negative errno (the zygote is then stopped: callers fork themselves). */
pid_t zygote_host_spawn(struct zygote_host *z, int ctl, int busy);

/* Stops the zygote (if any) and waits for it. */
void zygote_host_stop(struct zygote_host *z);
