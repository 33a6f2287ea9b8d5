/* The publisher's map of ActiveCDN nodes by region, and the signaling that
 * fills it (seed 003 §6.1, figure 7): a region (the client's /24 or /48) with
 * no node is served here while a SETUP of the module and then a PROBE go
 * toward the client; the nearest node that reports the module active serves
 * the region's later requests (302). A periodic PROBE forgets nodes where the
 * module is gone (TTL expiry, REMOVE); regions_remove_all() sends REMOVE. */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/netserv_client.h"
#include "ncm/ncm.h"
#include "origin/origin.h"
#include "policy/auth.h"

#define REGIONS_MAX 4096

enum region_state {
	REG_DEPLOYING, /* SETUP and PROBE under way */
	REG_ACTIVE,    /* a node serves it */
	REG_FAILED,    /* no node took the module: retried after cfg->retry */
};

struct region {
	char prefix[INET6_ADDRSTRLEN + 4];
	char client[INET6_ADDRSTRLEN]; /* the address signaled toward */
	enum region_state state;
	char node[128]; /* the node's identity */
	char node_addr[INET6_ADDRSTRLEN];
	time_t since;
};

static const struct origin_config *cfg;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t idle = PTHREAD_COND_INITIALIZER;
static struct region *regions;
static size_t n_regions;
static unsigned running; /* deployment threads */

int regions_init(const struct origin_config *c)
{
	cfg = c;
	regions = calloc(REGIONS_MAX, sizeof(*regions));
	return regions ? 0 : -ENOMEM;
}

/* The region of a numeric address ("10.3.0.0/24"); false if not an address. */
static bool region_of(const char *addr, char *out, size_t cap)
{
	unsigned char a[16];
	char buf[INET6_ADDRSTRLEN];
	int af = strchr(addr, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(af, addr, a) != 1)
		return false;
	unsigned plen = af == AF_INET ? cfg->prefix_len : cfg->prefix_len6;
	unsigned bytes = af == AF_INET ? 4 : 16;
	for (unsigned i = 0; i < bytes; i++) {
		unsigned keep = plen >= 8 * (i + 1) ? 8 : plen > 8 * i ? plen - 8 * i : 0;
		a[i] &= (unsigned char)(0xff00u >> keep);
	}
	inet_ntop(af, a, buf, sizeof(buf));
	snprintf(out, cap, "%s/%u", buf, plen);
	return true;
}

static struct region *find(const char *prefix)
{
	for (size_t i = 0; i < n_regions; i++)
		if (strcmp(regions[i].prefix, prefix) == 0)
			return &regions[i];
	return NULL;
}

static void forget(struct region *r)
{
	*r = regions[--n_regions];
}

static bool is_node(const char *addr)
{
	for (size_t i = 0; i < n_regions; i++)
		if (regions[i].state == REG_ACTIVE && strcmp(regions[i].node_addr, addr) == 0)
			return true;
	return false;
}

/* path is the module's, served here (--module-url under --origin-url). */
static bool is_module(const char *path)
{
	size_t ol = strlen(cfg->origin_url);
	return strncmp(cfg->module_url, cfg->origin_url, ol) == 0 &&
	       strcmp(cfg->module_url + ol, path) == 0;
}

static void node_url(const char *addr, const char *path, char *url, size_t cap)
{
	bool v6 = strchr(addr, ':') != NULL;
	snprintf(url, cap, "http://%s%s%s:%u%s", v6 ? "[" : "", addr, v6 ? "]" : "", cfg->node_port,
	         path);
}

enum route_kind regions_route(const char *client, const char *path, char *url, size_t cap,
                              bool *deploy)
{
	char prefix[sizeof(regions[0].prefix)];
	*deploy = false;
	for (size_t i = 0; i < cfg->n_direct; i++)
		if (strncmp(path, cfg->direct[i], strlen(cfg->direct[i])) == 0) {
			if (is_module(path))
				origin_log("step=4 module-download node=%s path=%s", client, path);
			else
				origin_log("direct client=%s path=%s", client, path);
			return ROUTE_DIRECT;
		}
	if (!region_of(client, prefix, sizeof(prefix)))
		return ROUTE_DIRECT;
	pthread_mutex_lock(&lock);
	if (is_node(client)) {
		pthread_mutex_unlock(&lock);
		origin_log("step=10 node-fetch node=%s path=%s", client, path);
		return ROUTE_DIRECT;
	}
	struct region *r = find(prefix);
	time_t now = time(NULL);
	if (r && r->state == REG_ACTIVE) {
		node_url(r->node_addr, path, url, cap);
		origin_log("step=7 request client=%s path=%s region=%s node=%s", client, path,
		           prefix, r->node);
		origin_log("step=8 redirect client=%s to=%s", client, url);
		pthread_mutex_unlock(&lock);
		return ROUTE_REDIRECT;
	}
	const char *why = !r ? "none" : r->state == REG_DEPLOYING ? "deploying" : "failed";
	if (!r && n_regions < REGIONS_MAX) {
		r = &regions[n_regions++];
		memset(r, 0, sizeof(*r));
		snprintf(r->prefix, sizeof(r->prefix), "%s", prefix);
		*deploy = true;
	} else if (r && r->state == REG_FAILED && now - r->since >= (time_t)cfg->retry) {
		*deploy = true;
	}
	if (*deploy) {
		snprintf(r->client, sizeof(r->client), "%s", client);
		r->state = REG_DEPLOYING;
		r->since = now;
	}
	origin_log("step=1 request client=%s path=%s region=%s node=%s", client, path, prefix, why);
	pthread_mutex_unlock(&lock);
	return ROUTE_SERVE;
}

/* ---- signaling ---------------------------------------------------------------- */

/* The request `method` for the module, signed with the publisher's key when
 * there is one and then bound to `to` (signal-to); NULL (logged) on failure.
 * Caller frees. */
static char *request(enum ncm_method method, const char *to, size_t *len)
{
	struct ncm_msg *m = ncm_request_new(method, cfg->module);
	char *text = NULL, err[NCM_ERR_LEN];
	int r = m ? 0 : -ENOMEM;
	if (r == 0 && method != NCM_METHOD_PROBE)
		r = ncm_add(m, "user", cfg->publisher);
	if (r == 0 && method == NCM_METHOD_PROBE)
		r = ncm_add(m, "probe", "modules");
	if (r == 0 && method == NCM_METHOD_SETUP) {
		char props[4096], ttl[16], listen[32];
		size_t used = 0;
		int n = snprintf(props, sizeof(props), "origin=");
		used = (size_t)n;
		r = ncm_prop_escape(cfg->origin_url, props + used, sizeof(props) - used);
		for (size_t i = 0; r >= 0 && i < cfg->n_props; i++) {
			const char *kv = cfg->props[i], *eq = strchr(kv, '=');
			used = strlen(props);
			n = snprintf(props + used, sizeof(props) - used, ",%.*s=", (int)(eq - kv),
			             kv);
			if (n < 0 || (size_t)n >= sizeof(props) - used)
				r = -ENOSPC;
			else
				r = ncm_prop_escape(eq + 1, props + used + (size_t)n,
				                    sizeof(props) - used - (size_t)n);
		}
		snprintf(ttl, sizeof(ttl), "%u", cfg->module_ttl);
		snprintf(listen, sizeof(listen), "tcp:%u", cfg->node_port);
		if (r >= 0)
			r = ncm_add(m, "url", cfg->module_url);
		if (r == 0)
			r = ncm_add(m, "module-hash", cfg->module_hash);
		if (r == 0)
			r = ncm_add(m, "ttl", ttl);
		if (r == 0)
			r = ncm_add(m, "listen", listen);
		if (r == 0)
			r = ncm_add(m, "dependencies", "http/1,crypto/1,storage/1");
		if (r == 0)
			r = ncm_add(m, "properties", props);
	}
	if (r == 0 && cfg->key_path && method != NCM_METHOD_PROBE) {
		uint8_t sk[AUTH_SECRET_LEN];
		/* bound to the user it signals toward: nodes refuse a signature
		 * without it, and a captured copy cannot be aimed at others */
		r = auth_load_secret(cfg->key_path, sk, err, sizeof(err));
		if (r == 0)
			r = auth_sign(m, sk, to, -1, NULL, err, sizeof(err));
		memset(sk, 0, sizeof(sk));
		if (r < 0)
			origin_log("error: cannot sign the %s: %s", ncm_method_name(method), err);
	} else if (r < 0) {
		origin_log("error: cannot build the %s: %s", ncm_method_name(method), strerror(-r));
	}
	if (r == 0 && ncm_serialize(m, &text, len) < 0)
		text = NULL;
	ncm_free(m);
	return text;
}

/* Sends `method` toward client; the result, or NULL (logged as step). */
static struct netserv_result *send_toward(const char *label, enum ncm_method method,
                                          const char *client)
{
	size_t len = 0;
	char *text = request(method, client, &len), err[NETSERV_CLIENT_ERR_LEN];
	struct netserv_result *res = NULL;
	if (!text)
		return NULL;
	struct netserv_client_options o = {.to = client, .timeout_ms = cfg->timeout_ms};
	origin_log("%s %s toward=%s module=%s: sending", label, ncm_method_name(method), client,
	           cfg->module);
	int r = netserv_client_send(&o, text, len, &res, err, sizeof(err));
	free(text);
	if (r < 0) {
		origin_log("%s %s toward=%s module=%s: no answer: %s", label,
		           ncm_method_name(method), client, cfg->module, err);
		return NULL;
	}
	char nodes[512] = "";
	size_t used = 0;
	for (size_t i = 0; i < res->n_nodes && used < sizeof(nodes); i++) {
		int n = snprintf(nodes + used, sizeof(nodes) - used, "%s%s(%s):%d", i ? "," : "",
		                 res->nodes[i].node, res->nodes[i].address, res->nodes[i].code);
		if (n > 0)
			used += (size_t)n;
	}
	origin_log("%s %s toward=%s module=%s code=%d nodes=%s", label, ncm_method_name(method),
	           client, cfg->module, res->code, used ? nodes : "-");
	return res;
}

/* The module is active on this node (its PROBE answer's `module:` header). */
static bool active_on(const struct netserv_node_answer *a)
{
	size_t ml = strlen(cfg->module);
	if (a->code != 200)
		return false;
	for (size_t i = 0; i < a->n_headers; i++)
		if (strcmp(a->names[i], "module") == 0 &&
		    strncmp(a->values[i], cfg->module, ml) == 0 && a->values[i][ml] == ' ' &&
		    strstr(a->values[i], " state=active"))
			return true;
	return false;
}

/* PROBEs toward client; the nearest node (last in path order) where the
 * module is active into node/addr; during a deployment (label "step=5"),
 * each is logged as step 6. */
static bool probe(const char *label, const char *client, char *node, size_t ncap, char *addr,
                  size_t acap)
{
	struct netserv_result *res = send_toward(label, NCM_METHOD_PROBE, client);
	bool found = false;
	for (size_t i = 0; res && i < res->n_nodes; i++) {
		const struct netserv_node_answer *a = &res->nodes[i];
		if (!active_on(a) || !a->address[0])
			continue;
		if (strcmp(label, "step=5") == 0)
			origin_log("step=6 active node=%s address=%s toward=%s", a->node,
			           a->address, client);
		snprintf(node, ncap, "%s", a->node);
		snprintf(addr, acap, "%s", a->address);
		found = true;
	}
	netserv_result_free(res);
	return found;
}

struct job {
	char prefix[INET6_ADDRSTRLEN + 4];
	char client[INET6_ADDRSTRLEN];
};

static void *deploy_thread(void *arg)
{
	struct job *j = arg;
	char node[128] = "", addr[INET6_ADDRSTRLEN] = "";
	netserv_result_free(send_toward("step=3", NCM_METHOD_SETUP, j->client));
	bool found = probe("step=5", j->client, node, sizeof(node), addr, sizeof(addr));
	pthread_mutex_lock(&lock);
	struct region *r = find(j->prefix);
	if (r) {
		r->since = time(NULL);
		r->state = found ? REG_ACTIVE : REG_FAILED;
		snprintf(r->node, sizeof(r->node), "%s", node);
		snprintf(r->node_addr, sizeof(r->node_addr), "%s", addr);
	}
	if (found) {
		char url[512];
		node_url(addr, "/", url, sizeof(url));
		origin_log("region=%s node=%s url=%s", j->prefix, node, url);
	} else {
		origin_log("region=%s no ActiveCDN node (retried after %u s)", j->prefix,
		           cfg->retry);
	}
	if (--running == 0)
		pthread_cond_broadcast(&idle);
	pthread_mutex_unlock(&lock);
	free(j);
	return NULL;
}

void regions_deploy(const char *client)
{
	struct job *j = calloc(1, sizeof(*j));
	pthread_t t;
	if (!j || !region_of(client, j->prefix, sizeof(j->prefix))) {
		free(j);
		return;
	}
	snprintf(j->client, sizeof(j->client), "%s", client);
	pthread_mutex_lock(&lock);
	running++;
	pthread_mutex_unlock(&lock);
	if (pthread_create(&t, NULL, deploy_thread, j) != 0) {
		origin_log("error: cannot start a deployment thread");
		pthread_mutex_lock(&lock);
		struct region *r = find(j->prefix);
		if (r)
			forget(r);
		running--;
		pthread_mutex_unlock(&lock);
		free(j);
		return;
	}
	pthread_detach(t);
}

/* A copy of the regions with a node, for signaling without the lock. */
static size_t active_regions(struct region **ret)
{
	pthread_mutex_lock(&lock);
	struct region *copy = calloc(n_regions ? n_regions : 1, sizeof(*copy));
	size_t n = 0;
	for (size_t i = 0; copy && i < n_regions; i++)
		if (regions[i].state == REG_ACTIVE)
			copy[n++] = regions[i];
	pthread_mutex_unlock(&lock);
	*ret = copy;
	return n;
}

static void forget_prefix(const char *prefix, const char *why)
{
	pthread_mutex_lock(&lock);
	struct region *r = find(prefix);
	if (r && r->state == REG_ACTIVE) {
		origin_log("forget region=%s node=%s: %s", prefix, r->node, why);
		forget(r);
	}
	pthread_mutex_unlock(&lock);
}

void regions_probe_all(void)
{
	struct region *copy;
	size_t n = active_regions(&copy);
	for (size_t i = 0; i < n; i++) {
		char node[128], addr[INET6_ADDRSTRLEN];
		if (!probe("recheck", copy[i].client, node, sizeof(node), addr, sizeof(addr)))
			forget_prefix(copy[i].prefix, "the module is gone");
	}
	free(copy);
}

void regions_remove_all(void)
{
	struct region *copy;
	size_t n = active_regions(&copy);
	origin_log("remove: %zu region(s) with a node", n);
	for (size_t i = 0; i < n; i++) {
		netserv_result_free(send_toward("remove", NCM_METHOD_REMOVE, copy[i].client));
		forget_prefix(copy[i].prefix, "removed");
	}
	free(copy);
}

void regions_done(void)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 2 + cfg->timeout_ms / 500; /* SETUP and PROBE */
	pthread_mutex_lock(&lock);
	while (running > 0 && pthread_cond_timedwait(&idle, &lock, &until) == 0)
		;
	unsigned left = running;
	pthread_mutex_unlock(&lock);
	if (left == 0) {
		free(regions);
		regions = NULL;
	} /* else the threads still use it: left to the exit */
}
