/* `netserv sidecar ...` on the admin socket (sidecar.h). */
#include "daemon/sidecar.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fwd/fwd_openflow.h"
#include "lib/log.h"
#include "ncm/ncm.h"

static struct ncm_msg *error(int code, const char *reason)
{
	struct ncm_msg *r = ncm_response_new(code, NULL);
	if (r)
		ncm_add(r, "reason", reason);
	return r;
}

struct ncm_msg *sidecar_admin(void *fwd, const struct ncm_msg *req)
{
	struct fwd_openflow *f = fwd;
	if (!f)
		return error(NCM_NOT_FOUND,
		             "no sidecar here: this node's [forwarding] driver is not "
		             "openflow");
	const char *action = ncm_get(req, "action"), *name = ncm_get(req, "node");
	if (!action)
		action = "status";
	bool drain = strcmp(action, "drain") == 0, undrain = strcmp(action, "undrain") == 0;
	if (!drain && !undrain && strcmp(action, "status") != 0)
		return error(NCM_BAD_REQUEST, "action is status, drain or undrain");
	if (drain || undrain) {
		if (!name)
			return error(NCM_BAD_REQUEST, "drain and undrain need node: NAME");
		int r = fwd_openflow_set_node_up(f, name, undrain);
		if (r == -ENOENT) {
			char why[96];
			snprintf(why, sizeof(why), "no node %.40s on the switch", name);
			return error(NCM_NOT_FOUND, why);
		}
		if (r < 0)
			return error(NCM_INTERNAL_ERROR, strerror(-r));
		log_notice("sidecar: node %s %s by the operator", name,
		           drain ? "drained" : "undrained");
	}
	struct ncm_msg *resp = ncm_response_new(NCM_OK, NULL);
	if (!resp)
		return NULL;
	struct fwd_openflow_state st;
	fwd_openflow_state(f, &st);
	ncm_addf(resp, "switch", "%s dpid=%016llx connects=%llu",
	         st.connected ? "connected" : "disconnected", (unsigned long long)st.dpid,
	         (unsigned long long)st.connects);
	ncm_addf(resp, "nodes", "%zu up of %zu%s", st.n_up, st.n_nodes,
	         st.n_up ? "" : " (fail-open: filtered traffic goes straight through)");
	for (size_t i = 0; i < st.n_nodes; i++) {
		const struct fwd_of_node *n = fwd_openflow_node(f, i);
		char mac[24] = "";
		if (n->has_mac)
			snprintf(mac, sizeof(mac), " mac=%02x:%02x:%02x:%02x:%02x:%02x", n->mac[0],
			         n->mac[1], n->mac[2], n->mac[3], n->mac[4], n->mac[5]);
		ncm_addf(resp, "node", "%s port=%u %s%s%s%s", n->name, n->of_port,
		         n->up ? "up" : "down", mac, n->drained ? " drained" : "",
		         n->dead ? " dead" : "");
	}
	size_t flows;
	const char *id;
	for (size_t i = 0; (id = fwd_openflow_rule(f, i, &flows)); i++)
		ncm_addf(resp, "module", "%s flows=%zu", id, flows);
	ncm_addf(resp, "flows", "%zu", st.n_flows);
	return resp;
}
