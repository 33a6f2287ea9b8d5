/* TEST BUILD ONLY: compiled into netserv-container-testing (never installed,
 * never built into netserv-container). It lets the security tests make a
 * container misbehave on command, as a module that escaped WebAssembly
 * would: a UDP packet whose payload starts with "NSTEST " runs a command
 * before any module sees it.
 *
 *   NSTEST exec          execve("/bin/true"): seccomp kills the container
 *   NSTEST netlink       socket(AF_NETLINK): seccomp kills the container
 *   NSTEST open PATH     open(PATH) for reading: landlock refuses other files
 *   NSTEST create NAME   create NAME (relative: the container's directory)
 *   NSTEST bind PORT     bind a TCP socket to PORT: landlock allows only the
 *                        publisher's listen ports
 *
 * The packet comes back (PACKET reply, or NFQUEUE verdict) replaced by the
 * text "NSTEST-RESULT <command>: <errno>" (0 for success). */
#include "container/container_testing.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

bool container_testing_packet(uint8_t *data, uint32_t *len, uint32_t cap)
{
	/* IPv4 + UDP only: enough for the tests. */
	if (*len < 28 || (data[0] >> 4) != 4 || data[9] != IPPROTO_UDP)
		return false;
	uint32_t off = (uint32_t)(data[0] & 0x0f) * 4 + 8;
	if (off + 7 > *len || memcmp(data + off, "NSTEST ", 7) != 0)
		return false;
	char cmd[256];
	size_t n = *len - off - 7 < sizeof(cmd) - 1 ? *len - off - 7 : sizeof(cmd) - 1;
	memcpy(cmd, data + off + 7, n);
	cmd[n] = '\0';
	cmd[strcspn(cmd, "\r\n")] = '\0';
	fprintf(stderr, "container (testing build): NSTEST %s\n", cmd);
	int result = 0;
	if (strcmp(cmd, "exec") == 0) {
		char *argv[] = {"/bin/true", NULL};
		execv(argv[0], argv);
		result = errno;
	} else if (strcmp(cmd, "netlink") == 0) {
		int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0);
		result = fd < 0 ? errno : 0;
		if (fd >= 0)
			close(fd);
	} else if (strncmp(cmd, "open ", 5) == 0) {
		int fd = open(cmd + 5, O_RDONLY | O_CLOEXEC);
		result = fd < 0 ? errno : 0;
		if (fd >= 0)
			close(fd);
	} else if (strncmp(cmd, "create ", 7) == 0) {
		int fd = open(cmd + 7, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		result = fd < 0 ? errno : 0;
		if (fd >= 0)
			close(fd);
	} else if (strncmp(cmd, "bind ", 5) == 0) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct sockaddr_in a = {.sin_family = AF_INET,
		                        .sin_port = htons((uint16_t)atoi(cmd + 5)),
		                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		result = fd < 0 ? errno : 0;
		if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
			result = errno;
		if (fd >= 0)
			close(fd);
	} else {
		result = EINVAL;
	}
	int w = snprintf((char *)data, cap, "NSTEST-RESULT %s: %d", cmd, result);
	*len = w > 0 && (uint32_t)w < cap ? (uint32_t)w : 0;
	return true;
}
