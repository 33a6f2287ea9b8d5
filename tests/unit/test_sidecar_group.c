/* The sidecar group (daemon/sidecar_group.h) and its channel's codec
 * (daemon/sidecar_wire.h): round trips, malformed and forged datagrams,
 * configuration. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/config.h"
#include "daemon/sidecar_group.h"
#include "daemon/sidecar_wire.h"
#include "ncm/ncm.h"

static const uint8_t KEY[SG_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9};

/* ---- codec ----------------------------------------------------------------- */

static void base(struct sg_msg *m, uint8_t type)
{
	*m = (struct sg_msg){.type = type, .seq = 42, .time_ms = 1700000000000ull};
	strcpy(m->group, "of-1");
	strcpy(m->sender, "node.a");
}

static void test_roundtrip(void **state)
{
	(void)state;
	uint8_t buf[SG_MAX_MSG];
	char err[200];
	struct sg_msg m, d;
	static const char ncm[] = "SETUP x NETSERV/0.1\nuser:janedoe\nsignature:abc\n\n";

	base(&m, SG_HEARTBEAT);
	m.version = 77;
	m.flags = SG_F_STARTING;
	int n = sg_encode(&m, KEY, buf, sizeof(buf), err, sizeof(err));
	assert_true(n > 0);
	assert_int_equal(sg_decode(buf, (size_t)n, KEY, &d, err, sizeof(err)), 0);
	assert_int_equal(d.type, SG_HEARTBEAT);
	assert_int_equal(d.version, 77);
	assert_int_equal(d.flags, SG_F_STARTING);
	assert_int_equal(d.seq, 42);
	assert_string_equal(d.group, "of-1");
	assert_string_equal(d.sender, "node.a");

	base(&m, SG_REQUEST);
	m.id = 9;
	m.entry_version = 5;
	m.expires_ms = 123456;
	m.dst_family = 4;
	m.dst_len = 24;
	m.dst_addr[0] = 10;
	m.ncm = (const uint8_t *)ncm;
	m.ncm_len = strlen(ncm);
	m.flags = SG_F_REPLAY;
	n = sg_encode(&m, KEY, buf, sizeof(buf), err, sizeof(err));
	assert_true(n > 0);
	assert_int_equal(sg_decode(buf, (size_t)n, KEY, &d, err, sizeof(err)), 0);
	assert_int_equal(d.id, 9);
	assert_int_equal(d.entry_version, 5);
	assert_int_equal(d.expires_ms, 123456);
	assert_int_equal(d.dst_family, 4);
	assert_int_equal(d.dst_len, 24);
	assert_int_equal(d.dst_addr[0], 10);
	assert_int_equal(d.ncm_len, strlen(ncm));
	assert_memory_equal(d.ncm, ncm, strlen(ncm));
	assert_int_equal(d.flags, SG_F_REPLAY);

	base(&m, SG_ANSWER);
	m.id = 9;
	m.status = 403;
	strcpy(m.reason, "not allowed here");
	n = sg_encode(&m, KEY, buf, sizeof(buf), err, sizeof(err));
	assert_true(n > 0);
	assert_int_equal(sg_decode(buf, (size_t)n, KEY, &d, err, sizeof(err)), 0);
	assert_int_equal(d.status, 403);
	assert_string_equal(d.reason, "not allowed here");
}

static void test_refused(void **state)
{
	(void)state;
	uint8_t buf[SG_MAX_MSG + 8], other[SG_KEY_LEN] = {9};
	char err[200];
	struct sg_msg m, d;
	base(&m, SG_HEARTBEAT);
	int n = sg_encode(&m, KEY, buf, sizeof(buf), err, sizeof(err));
	assert_true(n > 0);
	/* another key */
	assert_int_equal(sg_decode(buf, (size_t)n, other, &d, err, sizeof(err)), -EACCES);
	assert_non_null(strstr(err, "MAC"));
	/* any flipped bit */
	for (int i = 0; i < n; i++) {
		buf[i] ^= 0x10;
		assert_true(sg_decode(buf, (size_t)n, KEY, &d, err, sizeof(err)) < 0);
		buf[i] ^= 0x10;
	}
	/* every truncation, with and without the key */
	for (int i = 0; i < n; i++) {
		assert_true(sg_decode(buf, (size_t)i, KEY, &d, err, sizeof(err)) < 0);
		(void)sg_decode(buf, (size_t)i, NULL, &d, err, sizeof(err));
	}
	/* magic, version, size */
	buf[0] = 'X';
	assert_int_equal(sg_decode(buf, (size_t)n, KEY, &d, err, sizeof(err)), -EPROTO);
	buf[0] = 'N';
	buf[3] = 2;
	assert_int_equal(sg_decode(buf, (size_t)n, KEY, &d, err, sizeof(err)), -EPROTO);
	buf[3] = SG_VERSION;
	memset(buf + n, 0, sizeof(buf) - (size_t)n);
	assert_int_equal(sg_decode(buf, SG_MAX_MSG + 1, NULL, &d, err, sizeof(err)), -EMSGSIZE);
	/* bad names and fields are not encoded */
	strcpy(m.sender, "bad name");
	assert_int_equal(sg_encode(&m, KEY, buf, sizeof(buf), err, sizeof(err)), -EINVAL);
	base(&m, SG_REQUEST);
	assert_int_equal(sg_encode(&m, KEY, buf, sizeof(buf), err, sizeof(err)), -EINVAL);
	static uint8_t big[SG_MAX_NCM + 1];
	m.ncm = big;
	m.ncm_len = sizeof(big);
	assert_int_equal(sg_encode(&m, KEY, buf, sizeof(buf), err, sizeof(err)), -EMSGSIZE);
	m.ncm_len = 10;
	assert_int_equal(sg_encode(&m, KEY, buf, 40, err, sizeof(err)), -EMSGSIZE);
	m.dst_family = 4;
	m.dst_len = 33;
	assert_int_equal(sg_encode(&m, KEY, buf, sizeof(buf), err, sizeof(err)), -EINVAL);
	base(&m, 99);
	assert_int_equal(sg_encode(&m, KEY, buf, sizeof(buf), err, sizeof(err)), -EINVAL);
	assert_true(sg_name_ok("a.b-c_9"));
	assert_false(sg_name_ok(""));
	assert_false(sg_name_ok("0123456789012345678901234567890123"));
}

static void test_config(void **state)
{
	(void)state;
	struct sg_peer_cfg p[4];
	char err[200];
	assert_int_equal(sgroup_parse_peers("a@10.0.0.1:7000:3:aa:bb:cc:dd:ee:ff b@[::1]:7000:4", p,
	                                    4, err, sizeof(err)),
	                 2);
	assert_int_equal(p[0].of_port, 3);
	assert_true(p[0].has_mac);
	assert_int_equal(p[0].mac[5], 0xff);
	assert_int_equal(p[1].of_port, 4);
	assert_false(p[1].has_mac);
	assert_int_equal(p[1].addr.ss_family, AF_INET6);
	assert_int_equal(sgroup_parse_peers("", p, 4, err, sizeof(err)), 0);
	assert_int_equal(sgroup_parse_peers("a@10.0.0.1", p, 4, err, sizeof(err)), -EINVAL);
	assert_int_equal(sgroup_parse_peers("a@10.0.0.1:7000:0", p, 4, err, sizeof(err)), -EINVAL);
	assert_int_equal(sgroup_parse_peers("a@10.0.0.1:7000:1:zz", p, 4, err, sizeof(err)),
	                 -EINVAL);
	assert_non_null(strstr(err, "MAC"));
	assert_int_equal(sgroup_parse_peers("a@1.2.3.4:1,a@1.2.3.4:2", p, 4, err, sizeof(err)),
	                 -EINVAL);
	assert_non_null(strstr(err, "twice"));
	assert_int_equal(sgroup_parse_peers("bad name@1.2.3.4:1", p, 4, err, sizeof(err)), -EINVAL);

	/* the key file: mode, size */
	char path[] = "/tmp/test-sg-key.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "0123456789abcdef0123", 20), 20);
	close(fd);
	uint8_t k1[SG_KEY_LEN], k2[SG_KEY_LEN];
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(sgroup_read_key(path, k1, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "chmod 600"));
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(sgroup_read_key(path, k1, err, sizeof(err)), 0);
	assert_int_equal(sgroup_read_key(path, k2, err, sizeof(err)), 0);
	assert_memory_equal(k1, k2, SG_KEY_LEN);
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_int_equal(write(fd, "short", 5), 5);
	close(fd);
	assert_int_equal(sgroup_read_key(path, k1, err, sizeof(err)), -EINVAL);
	unlink(path);

	/* [sidecar] in netservd.conf */
	struct ns_config cfg;
	config_defaults(&cfg);
	const char *good = "[node]\nstate_dir=/tmp\nadmin_socket=/tmp/s\n[sidecar]\ngroup = g\n"
	                   "node = a\nkey_file = /k\nlisten = 10.0.0.1:7000\n"
	                   "peers = a@10.0.0.1:7000:1, b@10.0.0.2:7000:2\n";
	assert_int_equal(config_load_string(&cfg, "t", good, err, sizeof(err)), 0);
	assert_int_equal(cfg.sc_heartbeat_ms, 100);
	assert_int_equal(cfg.sc_dead_after_ms, 500);
	config_free(&cfg);
	config_defaults(&cfg);
	const char *bad = "[sidecar]\ngroup = g\nnode = a\nkey_file = /k\nlisten = 10.0.0.1:7000\n"
	                  "peers = b@10.0.0.2\n";
	assert_int_equal(config_load_string(&cfg, "t", bad, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "[sidecar] peers"));
	config_free(&cfg);
	config_defaults(&cfg);
	const char *nokey = "[sidecar]\ngroup = g\nnode = a\nlisten = 10.0.0.1:7000\n";
	assert_int_equal(config_load_string(&cfg, "t", nokey, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "key_file"));
	config_free(&cfg);
	config_defaults(&cfg);
	const char *timers = "[sidecar]\ngroup = g\nnode = a\nkey_file = /k\nlisten = "
	                     "10.0.0.1:7000\nheartbeat_ms = 300\ndead_after_ms = 400\n";
	assert_int_equal(config_load_string(&cfg, "t", timers, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "twice"));
	config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_roundtrip),
	        cmocka_unit_test(test_refused),
	        cmocka_unit_test(test_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
