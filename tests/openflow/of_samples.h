/* One sample of every OpenFlow message the codec encodes (src/fwd/of_wire.h),
 * built in code: the unit test's round trips and golden tests against
 * Open vSwitch's parser (tests/openflow/golden/enc-NAME.*), and the fuzz
 * corpus seeds. Header-only, for the test programs. */
#pragma once

#include <string.h>

#include "fwd/of_wire.h"

struct of_sample {
	const char *name;
	void (*build)(struct of_msg *m);
};

static const uint8_t of_sample_frame[60] = {
        /* Ethernet to 02:00:00:00:00:02 from 02:00:00:00:00:01, IPv4 UDP
         * 10.0.0.1:4000 -> 10.0.0.2:270, 18 bytes of payload. */
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0x45,
        0x00, 0x00, 0x2e, 0x00, 0x01, 0x00, 0x00, 0x40, 0x11, 0x66, 0xbc, 0x0a, 0x00, 0x00, 0x01,
        0x0a, 0x00, 0x00, 0x02, 0x0f, 0xa0, 0x01, 0x0e, 0x00, 0x1a, 0x00, 0x00, 'n',  'e',  't',
        's',  'e',  'r',  'v',  ' ',  's',  'a',  'm',  'p',  'l',  'e',  ' ',  'U',  'D',  'P'};

static const uint8_t of_sample_echo[4] = {0xde, 0xad, 0xbe, 0xef};

static inline void of_sample_output(struct of_actions *a, uint32_t port, uint16_t max_len)
{
	a->a[a->n].type = OFPAT_OUTPUT;
	a->a[a->n].port = port;
	a->a[a->n].max_len = max_len;
	a->n++;
}

/* IPv4 UDP to port 270 (NSIS signaling). */
static inline void of_sample_match_udp270(struct of_match *m)
{
	m->fields = OF_M_ETH_TYPE | OF_M_IP_PROTO | OF_M_UDP_DST;
	m->eth_type = 0x0800;
	m->ip_proto = 17;
	m->tp_dst = 270;
}

static void of_sample_hello(struct of_msg *m)
{
	of_msg_init(m, OFPT_HELLO, 1);
}

static void of_sample_error(struct of_msg *m)
{
	/* An ECHO_REQUEST, as if it had been refused. */
	static const uint8_t bad[8] = {0x04, OFPT_ECHO_REQUEST, 0x00, 0x08, 0, 0, 0, 7};

	of_error_about(m, OFPET_BAD_REQUEST, OFPBRC_BAD_TYPE, bad, sizeof(bad));
}

static void of_sample_echo_request(struct of_msg *m)
{
	of_msg_init(m, OFPT_ECHO_REQUEST, 2);
	m->echo.p = of_sample_echo;
	m->echo.len = sizeof(of_sample_echo);
}

static void of_sample_echo_reply(struct of_msg *m)
{
	of_msg_init(m, OFPT_ECHO_REPLY, 2);
	m->echo.p = of_sample_echo;
	m->echo.len = sizeof(of_sample_echo);
}

static void of_sample_features_request(struct of_msg *m)
{
	of_msg_init(m, OFPT_FEATURES_REQUEST, 3);
}

static void of_sample_features_reply(struct of_msg *m)
{
	of_msg_init(m, OFPT_FEATURES_REPLY, 3);
	m->features.datapath_id = 0x0000aabbccddeeffull;
	m->features.n_buffers = 0;
	m->features.n_tables = 254;
	m->features.capabilities = 0x4f; /* flow, table, port, group, queue stats */
}

static void of_sample_set_config(struct of_msg *m)
{
	of_msg_init(m, OFPT_SET_CONFIG, 4);
	m->config.flags = 0;
	m->config.miss_send_len = 0xffff;
}

/* The sidecar's signaling flow: IPv4 UDP to 270 -> port 2, priority 100. */
static void of_sample_flow_add_udp270(struct of_msg *m)
{
	struct of_flow_mod *f = &m->flow_mod;

	of_msg_init(m, OFPT_FLOW_MOD, 5);
	f->cookie = 0x4e53000000000001ull;
	f->command = OFPFC_ADD;
	f->priority = 100;
	f->flags = OFPFF_SEND_FLOW_REM;
	of_sample_match_udp270(&f->match);
	f->instrs.n = 1;
	f->instrs.i[0].type = OFPIT_APPLY_ACTIONS;
	of_sample_output(&f->instrs.i[0].actions, 2, 0);
}

/* IPv4 with masks, both UDP ports, timeouts, goto table. */
static void of_sample_flow_add_v4_masked(struct of_msg *m)
{
	struct of_flow_mod *f = &m->flow_mod;
	static const uint8_t src[4] = {10, 0, 0, 0}, smask[4] = {255, 0, 0, 0};
	static const uint8_t dst[4] = {192, 168, 1, 1};

	of_msg_init(m, OFPT_FLOW_MOD, 6);
	f->cookie = 0x4e53000000000002ull;
	f->table_id = 0;
	f->command = OFPFC_ADD;
	f->idle_timeout = 30;
	f->hard_timeout = 300;
	f->priority = 200;
	f->flags = OFPFF_SEND_FLOW_REM | OFPFF_CHECK_OVERLAP;
	f->match.fields = OF_M_IN_PORT | OF_M_ETH_TYPE | OF_M_IP_PROTO | OF_M_IPV4_SRC |
	                  OF_M_IPV4_DST | OF_M_UDP_SRC | OF_M_UDP_DST;
	f->match.masked = OF_M_IPV4_SRC;
	f->match.in_port = 1;
	f->match.eth_type = 0x0800;
	f->match.ip_proto = 17;
	memcpy(f->match.ipv4_src, src, 4);
	memcpy(f->match.ipv4_src_mask, smask, 4);
	memcpy(f->match.ipv4_dst, dst, 4);
	f->match.tp_src = 5060;
	f->match.tp_dst = 5060;
	f->instrs.n = 1;
	f->instrs.i[0].type = OFPIT_GOTO_TABLE;
	f->instrs.i[0].table_id = 1;
}

/* IPv6 TCP with a masked destination: set eth_dst, to a select group; write
 * actions: a copy to the controller. */
static void of_sample_flow_add_v6_group(struct of_msg *m)
{
	struct of_flow_mod *f = &m->flow_mod;
	static const uint8_t dst[16] = {0x20, 0x01, 0x0d, 0xb8};
	static const uint8_t dmask[16] = {0xff, 0xff, 0xff, 0xff};
	static const uint8_t src[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
	static const uint8_t mac[6] = {0x02, 0x4e, 0x53, 0x00, 0x00, 0x01};
	struct of_actions *a;

	of_msg_init(m, OFPT_FLOW_MOD, 7);
	f->cookie = 0x4e53000000000003ull;
	f->command = OFPFC_ADD;
	f->priority = 150;
	f->match.fields = OF_M_ETH_TYPE | OF_M_IP_PROTO | OF_M_IPV6_SRC | OF_M_IPV6_DST |
	                  OF_M_TCP_SRC | OF_M_TCP_DST;
	f->match.masked = OF_M_IPV6_DST;
	f->match.eth_type = 0x86dd;
	f->match.ip_proto = 6;
	memcpy(f->match.ipv6_src, src, 16);
	memcpy(f->match.ipv6_dst, dst, 16);
	memcpy(f->match.ipv6_dst_mask, dmask, 16);
	f->match.tp_src = 40000;
	f->match.tp_dst = 80;
	f->instrs.n = 2;
	f->instrs.i[0].type = OFPIT_APPLY_ACTIONS;
	a = &f->instrs.i[0].actions;
	a->n = 2;
	a->a[0].type = OFPAT_SET_FIELD;
	memcpy(a->a[0].eth_dst, mac, 6);
	a->a[1].type = OFPAT_GROUP;
	a->a[1].group_id = 7;
	f->instrs.i[1].type = OFPIT_WRITE_ACTIONS;
	of_sample_output(&f->instrs.i[1].actions, OFPP_CONTROLLER, OFPCML_NO_BUFFER);
}

/* The switch's ordinary forwarding for everything else: priority 0, NORMAL. */
static void of_sample_flow_modify_normal(struct of_msg *m)
{
	struct of_flow_mod *f = &m->flow_mod;

	of_msg_init(m, OFPT_FLOW_MOD, 8);
	f->command = OFPFC_MODIFY;
	f->priority = 0;
	f->instrs.n = 1;
	f->instrs.i[0].type = OFPIT_APPLY_ACTIONS;
	of_sample_output(&f->instrs.i[0].actions, OFPP_NORMAL, 0);
}

/* Everything of ours: by cookie prefix. */
static void of_sample_flow_delete_cookie(struct of_msg *m)
{
	struct of_flow_mod *f = &m->flow_mod;

	of_msg_init(m, OFPT_FLOW_MOD, 9);
	f->command = OFPFC_DELETE;
	f->table_id = OFPTT_ALL;
	f->cookie = 0x4e53000000000000ull;
	f->cookie_mask = 0xffff000000000000ull;
}

static void of_sample_flow_delete_strict(struct of_msg *m)
{
	struct of_flow_mod *f = &m->flow_mod;

	of_msg_init(m, OFPT_FLOW_MOD, 10);
	f->command = OFPFC_DELETE_STRICT;
	f->priority = 100;
	of_sample_match_udp270(&f->match);
}

/* Three NetServ nodes behind ports 1, 2 and 3, the last with double weight. */
static void of_sample_group_select(struct of_msg *m)
{
	struct of_group_mod *g = &m->group_mod;

	of_msg_init(m, OFPT_GROUP_MOD, 11);
	g->command = OFPGC_ADD;
	g->type = OFPGT_SELECT;
	g->group_id = 7;
	g->n_buckets = 3;
	for (unsigned i = 0; i < 3; i++) {
		g->buckets[i].weight = i == 2 ? 2 : 1;
		g->buckets[i].watch_port = OFPP_ANY;
		g->buckets[i].watch_group = OFPG_ANY;
		of_sample_output(&g->buckets[i].actions, i + 1, 0);
	}
}

static void of_sample_group_all_modify(struct of_msg *m)
{
	struct of_group_mod *g = &m->group_mod;

	of_msg_init(m, OFPT_GROUP_MOD, 12);
	g->command = OFPGC_MODIFY;
	g->type = OFPGT_ALL;
	g->group_id = 8;
	g->n_buckets = 2;
	for (unsigned i = 0; i < 2; i++) {
		g->buckets[i].watch_port = OFPP_ANY;
		g->buckets[i].watch_group = OFPG_ANY;
		of_sample_output(&g->buckets[i].actions, 4 + i, 0);
	}
}

static void of_sample_group_delete(struct of_msg *m)
{
	of_msg_init(m, OFPT_GROUP_MOD, 13);
	m->group_mod.command = OFPGC_DELETE;
	m->group_mod.type = OFPGT_ALL;
	m->group_mod.group_id = OFPG_ALL;
}

static void of_sample_packet_in(struct of_msg *m)
{
	struct of_packet_in *p = &m->packet_in;

	of_msg_init(m, OFPT_PACKET_IN, 0);
	p->total_len = sizeof(of_sample_frame);
	p->reason = 0;
	p->table_id = 0;
	p->cookie = 0xffffffffffffffffull;
	p->match.fields = OF_M_IN_PORT;
	p->match.in_port = 3;
	p->data.p = of_sample_frame;
	p->data.len = sizeof(of_sample_frame);
}

static void of_sample_packet_out(struct of_msg *m)
{
	struct of_packet_out *p = &m->packet_out;

	of_msg_init(m, OFPT_PACKET_OUT, 14);
	of_sample_output(&p->actions, 1, 0);
	p->data.p = of_sample_frame;
	p->data.len = sizeof(of_sample_frame);
}

static void of_sample_barrier_request(struct of_msg *m)
{
	of_msg_init(m, OFPT_BARRIER_REQUEST, 15);
}

static void of_sample_barrier_reply(struct of_msg *m)
{
	of_msg_init(m, OFPT_BARRIER_REPLY, 15);
}

static void of_sample_flow_stats_request(struct of_msg *m)
{
	of_msg_init(m, OFPT_MULTIPART_REQUEST, 16);
	m->multipart.cookie = 0x4e53000000000000ull;
	m->multipart.cookie_mask = 0xffff000000000000ull;
	m->multipart.table_id = 0;
	of_sample_match_udp270(&m->multipart.match);
}

static void of_sample_flow_stats_reply(struct of_msg *m)
{
	static struct of_flow_stats fs[2];

	of_msg_init(m, OFPT_MULTIPART_REPLY, 16);
	memset(fs, 0, sizeof(fs));
	fs[0].duration_sec = 12;
	fs[0].duration_nsec = 500000000;
	fs[0].priority = 100;
	fs[0].flags = OFPFF_SEND_FLOW_REM;
	fs[0].cookie = 0x4e53000000000001ull;
	fs[0].packet_count = 1000;
	fs[0].byte_count = 60000;
	of_sample_match_udp270(&fs[0].match);
	fs[0].instrs.n = 1;
	fs[0].instrs.i[0].type = OFPIT_APPLY_ACTIONS;
	of_sample_output(&fs[0].instrs.i[0].actions, 2, 0);
	fs[1].duration_sec = 3;
	fs[1].priority = 0;
	fs[1].cookie = 0x4e53000000000000ull;
	fs[1].packet_count = 7;
	fs[1].byte_count = 420;
	fs[1].instrs.n = 1;
	fs[1].instrs.i[0].type = OFPIT_APPLY_ACTIONS;
	of_sample_output(&fs[1].instrs.i[0].actions, OFPP_NORMAL, 0);
	m->multipart.stats = fs;
	m->multipart.n_stats = 2;
}

static void of_sample_port_status(struct of_msg *m)
{
	static const uint8_t mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x03};
	struct of_port *p = &m->port_status.desc;

	of_msg_init(m, OFPT_PORT_STATUS, 0);
	m->port_status.reason = 0;
	p->port_no = 3;
	memcpy(p->hw_addr, mac, 6);
	strcpy(p->name, "node3");
	p->state = 4;             /* live */
	p->curr = 0x820;          /* 1GB_FD | COPPER */
	p->curr_speed = 10000000; /* kbps */
	p->max_speed = 0;
}

static void of_sample_flow_removed(struct of_msg *m)
{
	struct of_flow_removed *f = &m->flow_removed;

	of_msg_init(m, OFPT_FLOW_REMOVED, 0);
	f->cookie = 0x4e53000000000001ull;
	f->priority = 100;
	f->reason = 2; /* delete */
	f->duration_sec = 42;
	f->duration_nsec = 1000;
	f->packet_count = 1000;
	f->byte_count = 60000;
	of_sample_match_udp270(&f->match);
}

static const struct of_sample of_samples[] = {
        {"hello", of_sample_hello},
        {"error", of_sample_error},
        {"echo_request", of_sample_echo_request},
        {"echo_reply", of_sample_echo_reply},
        {"features_request", of_sample_features_request},
        {"features_reply", of_sample_features_reply},
        {"set_config", of_sample_set_config},
        {"flow_add_udp270", of_sample_flow_add_udp270},
        {"flow_add_v4_masked", of_sample_flow_add_v4_masked},
        {"flow_add_v6_group", of_sample_flow_add_v6_group},
        {"flow_modify_normal", of_sample_flow_modify_normal},
        {"flow_delete_cookie", of_sample_flow_delete_cookie},
        {"flow_delete_strict", of_sample_flow_delete_strict},
        {"group_select", of_sample_group_select},
        {"group_all_modify", of_sample_group_all_modify},
        {"group_delete", of_sample_group_delete},
        {"packet_in", of_sample_packet_in},
        {"packet_out", of_sample_packet_out},
        {"barrier_request", of_sample_barrier_request},
        {"barrier_reply", of_sample_barrier_reply},
        {"flow_stats_request", of_sample_flow_stats_request},
        {"flow_stats_reply", of_sample_flow_stats_reply},
        {"port_status", of_sample_port_status},
        {"flow_removed", of_sample_flow_removed},
};
#define OF_N_SAMPLES (sizeof(of_samples) / sizeof(of_samples[0]))
