/* A publisher's server using libnetserv-client: probe the path toward a user
 * for NetServ nodes, and deploy a module on all of them if there are any.
 *
 *     cc example.c $(pkg-config --cflags --libs netserv-client) -o example
 *     ./example 192.0.2.7 janedoe http://publisher.example/counter.wasm sha256:<hex>
 *
 * Exit status: 0 deployed, 1 a node refused, 2 usage, 3 no NetServ node or no
 * answer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netserv_client.h"

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: %s USER_ADDRESS PUBLISHER MODULE_URL sha256:HEX\n",
		        argv[0]);
		return 2;
	}
	struct netserv_client_options o = {.to = argv[1], .timeout_ms = 20000};
	struct netserv_result *res = NULL;
	char err[NETSERV_CLIENT_ERR_LEN], req[4096];

	/* 1. Who is on the path? */
	const char *probe = "PROBE * NETSERV/0.1\nprobe:node,capabilities\n\n";
	if (netserv_client_send(&o, probe, strlen(probe), &res, err, sizeof(err)) < 0) {
		fprintf(stderr, "probe: %s\n", err);
		return 3;
	}
	printf("%zu NetServ node(s) toward %s:\n", res->n_nodes, argv[1]);
	for (size_t i = 0; i < res->n_nodes; i++)
		printf("  %s at %s\n", res->nodes[i].node, res->nodes[i].address);
	res = netserv_result_free(res);

	/* 2. Deploy the counter on every one of them for ten minutes. */
	snprintf(req, sizeof(req),
	         "SETUP NetServ.apps.Counter_1.0 NETSERV/0.1\n"
	         "user:%s\nurl:%s\nmodule-hash:%s\nttl:600\n"
	         "filter-proto:udp\nfilter-port:5000-5099\n\n",
	         argv[2], argv[3], argv[4]);
	if (netserv_client_send(&o, req, strlen(req), &res, err, sizeof(err)) < 0) {
		fprintf(stderr, "setup: %s\n", err);
		return 3;
	}
	int rc = res->code >= 200 && res->code < 300 ? 0 : 1;
	for (size_t i = 0; i < res->n_nodes; i++)
		printf("  %s: %d %s\n", res->nodes[i].node, res->nodes[i].code,
		       res->nodes[i].reason);
	printf("setup: %d %s in %u ms\n", res->code, res->reason, res->elapsed_ms);
	netserv_result_free(res);
	return rc;
}
