/* A controller for tests/daemon/test_openflow_ovs.sh: of_conn (src/fwd/)
 * on an event loop, with a fixed table: a select group 1 over the
 * --group-ports, IPv4 and IPv6 UDP to port 270 -> --flow-port (priority
 * 100), UDP to 7000 -> group 1, everything else NORMAL (priority 0). Prints
 * one line per event on stdout: "ready dpid=HEX refused=N", "down: REASON",
 * "msg TYPE". Runs until SIGTERM or SIGINT.
 *   of_ctl --listen ADDR:PORT --flow-port N --group-ports A,B,C
 *          [--echo-interval MS] [--echo-timeout MS] [--max-msg BYTES] */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "fwd/of_conn.h"
#include "lib/evloop.h"

#define COOKIE 0x4e53000000000000ull

static void on_ready(struct of_conn *c, uint64_t dpid, unsigned n_refused, void *ctx)
{
	printf("ready dpid=%016llx refused=%u\n", (unsigned long long)dpid, n_refused);
}

static void on_down(struct of_conn *c, const char *why, void *ctx)
{
	printf("down: %s\n", why);
}

static void on_msg(struct of_conn *c, const struct of_msg *m, void *ctx)
{
	if (m->hdr.type == OFPT_ERROR)
		printf("msg ERROR type=%u code=%u\n", m->error.type, m->error.code);
	else
		printf("msg %s\n", of_type_name(m->hdr.type));
}

static void on_signal(struct evloop *loop, int fd, uint32_t events, void *ctx)
{
	evloop_stop(loop);
}

static void output(struct of_actions *a, uint32_t port)
{
	a->a[a->n].type = OFPAT_OUTPUT;
	a->a[a->n].port = port;
	a->n++;
}

static void flow(struct of_msg *m, uint64_t cookie, uint16_t prio, uint16_t eth_type,
                 uint16_t dport)
{
	of_msg_init(m, OFPT_FLOW_MOD, 0);
	m->flow_mod.command = OFPFC_ADD;
	m->flow_mod.cookie = COOKIE | cookie;
	m->flow_mod.priority = prio;
	if (eth_type) {
		m->flow_mod.match.fields = OF_M_ETH_TYPE | OF_M_IP_PROTO | OF_M_UDP_DST;
		m->flow_mod.match.eth_type = eth_type;
		m->flow_mod.match.ip_proto = 17;
		m->flow_mod.match.tp_dst = dport;
	}
	m->flow_mod.instrs.n = 1;
	m->flow_mod.instrs.i[0].type = OFPIT_APPLY_ACTIONS;
}

int main(int argc, char **argv)
{
	struct of_conn_cfg cfg = {.cookie = COOKIE, .cookie_mask = 0xffff000000000000ull};
	static struct of_msg table[5];
	const char *ports = "1";
	unsigned flow_port = 1;
	struct of_conn *c;
	struct evloop *loop;
	char err[OF_ERR_LEN];
	sigset_t mask;
	int sfd, r;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--listen"))
			cfg.listen = argv[i + 1];
		else if (!strcmp(argv[i], "--flow-port"))
			flow_port = (unsigned)atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--group-ports"))
			ports = argv[i + 1];
		else if (!strcmp(argv[i], "--echo-interval"))
			cfg.echo_interval_ms = (unsigned)atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--echo-timeout"))
			cfg.echo_timeout_ms = (unsigned)atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--max-msg"))
			cfg.max_msg = (size_t)atol(argv[i + 1]);
		else {
			fprintf(stderr, "of_ctl: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	cfg.on_ready = on_ready;
	cfg.on_down = on_down;
	cfg.on_msg = on_msg;

	of_msg_init(&table[0], OFPT_GROUP_MOD, 0);
	table[0].group_mod.command = OFPGC_ADD;
	table[0].group_mod.type = OFPGT_SELECT;
	table[0].group_mod.group_id = 1;
	for (const char *p = ports; *p && table[0].group_mod.n_buckets < OF_MAX_BUCKETS;) {
		struct of_bucket *b = &table[0].group_mod.buckets[table[0].group_mod.n_buckets++];
		char *end;

		b->weight = 1;
		b->watch_port = OFPP_ANY;
		b->watch_group = OFPG_ANY;
		output(&b->actions, (uint32_t)strtoul(p, &end, 10));
		p = *end == ',' ? end + 1 : end;
	}
	flow(&table[1], 1, 100, 0x0800, 270);
	output(&table[1].flow_mod.instrs.i[0].actions, flow_port);
	flow(&table[2], 2, 100, 0x86dd, 270);
	output(&table[2].flow_mod.instrs.i[0].actions, flow_port);
	flow(&table[3], 3, 100, 0x0800, 7000);
	table[3].flow_mod.instrs.i[0].actions.n = 1;
	table[3].flow_mod.instrs.i[0].actions.a[0].type = OFPAT_GROUP;
	table[3].flow_mod.instrs.i[0].actions.a[0].group_id = 1;
	flow(&table[4], 4, 0, 0, 0);
	output(&table[4].flow_mod.instrs.i[0].actions, OFPP_NORMAL);

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0 || evloop_new(&loop) < 0 ||
	    evloop_add_fd(loop, sfd, EPOLLIN, on_signal, NULL) < 0) {
		fprintf(stderr, "of_ctl: cannot set up the loop\n");
		return 1;
	}
	r = of_conn_new(loop, &cfg, &c, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "of_ctl: %s\n", err);
		return 1;
	}
	r = of_conn_set_table(c, table, 5);
	if (r < 0) {
		fprintf(stderr, "of_ctl: table: %s\n", strerror(-r));
		return 1;
	}
	printf("listening port=%u\n", of_conn_port(c));
	r = evloop_run(loop);
	of_conn_free(c);
	evloop_free(loop);
	close(sfd);
	return r < 0 ? 1 : 0;
}
