/* bench/udp-echo's baseline: a native UDP echo server doing what the
 * udp-echo module does, in C and without a node — one thread, non-blocking
 * sockets on epoll (IPv4 and IPv6), every readable socket read until
 * EAGAIN, every datagram sent back to its source.
 *   udp_echo_native PORT */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static int listen_udp(int af, int port)
{
	int fd = socket(af, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
	struct sockaddr_storage ss = {0};
	socklen_t sl;
	if (fd < 0)
		return -1;
	if (af == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		sl = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		sl = sizeof(*in6);
	}
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int main(int argc, char **argv)
{
	static char buf[65536];
	if (argc != 2) {
		fprintf(stderr, "usage: udp_echo_native PORT\n");
		return 2;
	}
	int port = atoi(argv[1]);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	int fds[2] = {listen_udp(AF_INET, port), listen_udp(AF_INET6, port)};
	if (ep < 0 || fds[0] < 0) {
		perror("udp_echo_native");
		return 1;
	}
	for (int i = 0; i < 2; i++) {
		if (fds[i] < 0)
			continue;
		struct epoll_event ev = {.events = EPOLLIN, .data.fd = fds[i]};
		epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
	}
	for (;;) {
		struct epoll_event evs[4];
		int n = epoll_wait(ep, evs, 4, -1);
		for (int i = 0; i < n; i++) {
			for (int k = 0; k < 256; k++) {
				struct sockaddr_storage from;
				socklen_t fl = sizeof(from);
				ssize_t r = recvfrom(evs[i].data.fd, buf, sizeof(buf), MSG_DONTWAIT,
				                     (struct sockaddr *)&from, &fl);
				if (r < 0)
					break;
				sendto(evs[i].data.fd, buf, (size_t)r, MSG_DONTWAIT,
				       (struct sockaddr *)&from, fl);
			}
		}
	}
}
