/* The container zygote (proto/zygote.h): netserv-container --zygote. */
#pragma once

/* Serves spawn requests on ctl_fd until it is closed. Returns only in a new
 * container (1), with its control socket as fd 3 and its busy page as fd 4
 * (*busy_fd = 4, or -1 without one), every other fd but 0-2 closed; or -1
 * in the zygote when ctl_fd fails (the caller exits). */
int zygote_run(int ctl_fd, int *busy_fd);
