/* The [sidecar] section's checks, the peer list and the key file
 * (sidecar_group.h), apart from the group so that `netserv ctl -c` parses the
 * configuration too. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/config.h"
#include "daemon/sidecar_group.h"
#include "lib/errbuf.h"

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned b[6];
	char tail;
	if (strlen(s) != 17 || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3],
	                              &b[4], &b[5], &tail) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return 0;
}

static int parse_peer(const char *p, struct sg_peer_cfg *c, char *err, size_t errlen)
{
	*c = (struct sg_peer_cfg){0};
	const char *at = strchr(p, '@');
	if (!at || (size_t)(at - p) > SG_MAX_NAME)
		return err_set(err, errlen, -EINVAL, "'%s' is not NAME@ADDR:PORT[:OFPORT[:MAC]]",
		               p);
	memcpy(c->name, p, (size_t)(at - p));
	if (!sg_name_ok(c->name))
		return err_set(err, errlen, -EINVAL, "'%s': a node name is 1..%d of [A-Za-z0-9._-]",
		               p, SG_MAX_NAME);
	const char *a = at + 1, *rest;
	if (*a == '[') {
		const char *close = strchr(a, ']');
		rest = close ? strchr(close, ':') : NULL;
		rest = rest ? strchr(rest + 1, ':') : NULL; /* after the port */
	} else {
		const char *colon = strchr(a, ':');
		rest = colon ? strchr(colon + 1, ':') : NULL;
	}
	size_t alen = rest ? (size_t)(rest - a) : strlen(a);
	char addr[80];
	struct ns_listen l;
	if (alen >= sizeof(addr))
		return err_set(err, errlen, -EINVAL, "'%s': address too long", p);
	memcpy(addr, a, alen);
	addr[alen] = '\0';
	if (config_parse_listen(addr, &l) < 0 || !l.text[0])
		return err_set(err, errlen, -EINVAL,
		               "'%s': '%s' is not ADDRESS:PORT (numeric IPv4 or [IPv6])", p, addr);
	c->addr = l.addr;
	c->addr_len = l.addr_len;
	if (!rest)
		return 0;
	char *end;
	errno = 0;
	unsigned long port = strtoul(rest + 1, &end, 10);
	if (end == rest + 1 || errno || port == 0 || port > 0xffffff00ul || (*end && *end != ':'))
		return err_set(err, errlen, -EINVAL, "'%s': the OpenFlow port is 1..4294967040", p);
	c->of_port = (uint32_t)port;
	if (*end == ':') {
		if (parse_mac(end + 1, c->mac) < 0)
			return err_set(err, errlen, -EINVAL,
			               "'%s': '%s' is not a MAC address (aa:bb:cc:dd:ee:ff)", p,
			               end + 1);
		c->has_mac = true;
	}
	return 0;
}

int sgroup_parse_peers(const char *text, struct sg_peer_cfg *peers, size_t max, char *err,
                       size_t errlen)
{
	size_t n = 0;
	const char *p = text;
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			break;
		const char *e = p;
		while (*e && *e != ',' && *e != ' ' && *e != '\t')
			e++;
		char one[160];
		if ((size_t)(e - p) >= sizeof(one))
			return err_set(err, errlen, -EINVAL, "peer '%.20s...' is too long", p);
		memcpy(one, p, (size_t)(e - p));
		one[e - p] = '\0';
		if (n == max)
			return err_set(err, errlen, -EINVAL, "more than %zu peers", max);
		int r = parse_peer(one, &peers[n], err, errlen);
		if (r < 0)
			return r;
		for (size_t i = 0; i < n; i++)
			if (strcmp(peers[i].name, peers[n].name) == 0)
				return err_set(err, errlen, -EINVAL, "peer %s is listed twice",
				               peers[n].name);
		n++;
		p = e;
	}
	return (int)n;
}

int sgroup_config_check(const struct ns_config *cfg, char *err, size_t errlen)
{
	if (!cfg->sc_group[0]) {
		if (cfg->sc_peers[0] || cfg->sc_node[0] || cfg->sc_listen.text[0])
			return err_set(err, errlen, -EINVAL,
			               "[sidecar]: node, peers and listen need group = NAME");
		return 0;
	}
	if (!sg_name_ok(cfg->sc_group))
		return err_set(err, errlen, -EINVAL,
		               "[sidecar] group '%s': 1..%d of [A-Za-z0-9._-]", cfg->sc_group,
		               SG_MAX_NAME);
	if (!sg_name_ok(cfg->sc_node))
		return err_set(err, errlen, -EINVAL,
		               "[sidecar] node '%s': this node's name in the group, 1..%d of "
		               "[A-Za-z0-9._-]",
		               cfg->sc_node, SG_MAX_NAME);
	if (!cfg->sc_key_file[0] || !cfg->sc_listen.text[0])
		return err_set(err, errlen, -EINVAL, "[sidecar] group %s needs key_file and listen",
		               cfg->sc_group);
	if (cfg->sc_dead_after_ms < 2 * cfg->sc_heartbeat_ms)
		return err_set(err, errlen, -EINVAL,
		               "[sidecar] dead_after_ms %u must be at least twice heartbeat_ms %u",
		               cfg->sc_dead_after_ms, cfg->sc_heartbeat_ms);
	struct sg_peer_cfg peers[SG_MAX_PEERS + 1];
	char why[200];
	int n = sgroup_parse_peers(cfg->sc_peers, peers, SG_MAX_PEERS + 1, why, sizeof(why));
	if (n < 0)
		return err_set(err, errlen, -EINVAL, "[sidecar] peers: %s", why);
	int others = 0;
	for (int i = 0; i < n; i++)
		others += strcmp(peers[i].name, cfg->sc_node) != 0;
	if (others > SG_MAX_PEERS)
		return err_set(err, errlen, -EINVAL, "[sidecar] peers: more than %d other nodes",
		               SG_MAX_PEERS);
	return 0;
}

int sgroup_read_key(const char *path, uint8_t key[SG_KEY_LEN], char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return err_set(err, errlen, -errno, "%s: %s", path, strerror(errno));
	struct stat st;
	uint8_t buf[4097];
	int r = 0;
	if (fstat(fd, &st) < 0) {
		r = err_set(err, errlen, -errno, "%s: %s", path, strerror(errno));
	} else if (!S_ISREG(st.st_mode)) {
		r = err_set(err, errlen, -EINVAL, "%s: not a regular file", path);
	} else if (st.st_mode & 077) {
		r = err_set(err, errlen, -EPERM,
		            "%s: the group key must not be readable by others (mode %04o; chmod "
		            "600 it)",
		            path, (unsigned)(st.st_mode & 07777));
	} else {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0)
			r = err_set(err, errlen, -errno, "%s: %s", path, strerror(errno));
		else if (n < 16 || n > 4096)
			r = err_set(
			        err, errlen, -EINVAL,
			        "%s: %zd bytes; a group key file holds 16..4096 (e.g. head -c 32 "
			        "/dev/urandom)",
			        path, n);
		else if (sodium_init() < 0)
			r = err_set(err, errlen, -EIO, "libsodium does not start");
		else
			crypto_generichash(key, SG_KEY_LEN, buf, (size_t)n, NULL, 0);
	}
	sodium_memzero(buf, sizeof(buf));
	close(fd);
	return r;
}
