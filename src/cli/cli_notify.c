/* `netserv notifications --listen ADDR:PORT [--count N]`: the publisher's
 * receiver of a node's notifications (ctl/notify.h, docs/protocol.md):
 * prints each datagram received as one line, until SIGINT or SIGTERM, or
 * after N of them. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli/cli.h"
#include "ctl/notify.h"

static const char notify_usage[] =
        "Usage: netserv notifications --listen ADDRESS:PORT [--count N]\n"
        "Receive the notifications that NetServ nodes send about your modules (the\n"
        "SETUP's header notification:udp:ADDRESS:PORT) and print each as one line\n"
        "of JSON: node, user, module, event, reason, time_ms, dropped.\n"
        "\n"
        "  -l, --listen ADDRESS:PORT  where to listen (IPv6 in brackets: [::1]:5000)\n"
        "  -c, --count N              exit after N notifications\n"
        "Runs until SIGINT or SIGTERM (exit status 0).\n";

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

int cli_notify_main(int argc, char **argv)
{
	static const struct option opts[] = {{"listen", required_argument, NULL, 'l'},
	                                     {"count", required_argument, NULL, 'c'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {0}};
	const char *listen_at = NULL;
	unsigned long count = 0;
	int o;
	while ((o = getopt_long(argc, argv, "l:c:h", opts, NULL)) != -1) {
		switch (o) {
		case 'l':
			listen_at = optarg;
			break;
		case 'c': {
			char *end;
			errno = 0;
			count = strtoul(optarg, &end, 10);
			if (errno || *end || !*optarg || count == 0) {
				fprintf(stderr, "netserv: --count: want a number >= 1\n");
				return CLI_ERR_USAGE;
			}
			break;
		}
		case 'h':
			fputs(notify_usage, stdout);
			return CLI_OK;
		default:
			fputs(notify_usage, stderr);
			return CLI_ERR_USAGE;
		}
	}
	if (!listen_at || optind != argc) {
		fputs(notify_usage, stderr);
		return CLI_ERR_USAGE;
	}
	char spec[128], err[256];
	struct notify_dest d;
	snprintf(spec, sizeof(spec), "udp:%s", listen_at);
	if (strlen(listen_at) > 100 || notify_dest_parse(spec, &d, err, sizeof(err)) < 0) {
		fprintf(stderr, "netserv: --listen %s: want ADDRESS:PORT (IPv6: [ADDRESS]:PORT)\n",
		        listen_at);
		return CLI_ERR_USAGE;
	}
	int fd = socket(d.family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_storage ss = {0};
	socklen_t sl;
	if (d.family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(d.port);
		memcpy(&s4->sin_addr, d.addr, 4);
		sl = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(d.port);
		memcpy(&s6->sin6_addr, d.addr, 16);
		sl = sizeof(*s6);
	}
	if (fd < 0 || bind(fd, (struct sockaddr *)&ss, sl) < 0) {
		fprintf(stderr, "netserv: cannot listen on %s: %s\n", listen_at, strerror(errno));
		if (fd >= 0)
			close(fd);
		return CLI_ERR_CONNECT;
	}
	/* No SA_RESTART: a signal ends the poll below. */
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	fprintf(stderr, "netserv: listening on %s\n", listen_at);
	unsigned long got = 0;
	char buf[65536];
	while (!g_stop && (!count || got < count)) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
		if (n < 0)
			continue;
		/* One line each, whatever the datagram holds. */
		for (ssize_t i = 0; i < n; i++)
			if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
				buf[i] = '?';
		buf[n] = '\0';
		printf("%s\n", buf);
		fflush(stdout);
		got++;
	}
	close(fd);
	return CLI_OK;
}
