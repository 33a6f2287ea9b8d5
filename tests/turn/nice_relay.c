/* nice_relay: two libnice ICE agents in one process, both forced to relay
 * through a TURN server (tests/daemon/test_turn.sh points them at the
 * Media Relay module). Each gathers a relay candidate from the server, the
 * candidates and credentials are exchanged in memory (no signaling), the
 * connectivity checks run through the relays, and the controlling agent
 * sends COUNT messages to the other one.
 *   nice_relay SERVER PORT USER PASS [COUNT]
 * Prints "relay a=IP:PORT b=IP:PORT selected=relay|other received=N/COUNT"
 * and exits 0 when a relayed pair was selected and every message arrived;
 * 1 otherwise (with the reason); gives up after 20 s. */
#include <agent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static GMainLoop *loop;
static NiceAgent *agent[2];
static guint stream[2];
static gboolean gathered[2], ready[2];
static int received, count = 50;
static const char *failure;

static void on_gathering_done(NiceAgent *a, guint sid, gpointer data)
{
	(void)a, (void)sid;
	gathered[GPOINTER_TO_INT(data)] = TRUE;
	if (gathered[0] && gathered[1])
		g_main_loop_quit(loop);
}

static void on_state(NiceAgent *a, guint sid, guint cid, guint state, gpointer data)
{
	(void)a, (void)sid, (void)cid;
	int i = GPOINTER_TO_INT(data);
	if (state == NICE_COMPONENT_STATE_READY) {
		ready[i] = TRUE;
		if (ready[0] && ready[1])
			g_main_loop_quit(loop);
	} else if (state == NICE_COMPONENT_STATE_FAILED) {
		failure = "a component failed its connectivity checks";
		g_main_loop_quit(loop);
	}
}

static void on_recv(NiceAgent *a, guint sid, guint cid, guint len, gchar *buf, gpointer data)
{
	(void)a, (void)sid, (void)cid, (void)data;
	if (len >= 4 && memcmp(buf, "msg-", 4) == 0 && ++received == count)
		g_main_loop_quit(loop);
}

static gboolean on_timeout(gpointer data)
{
	(void)data;
	failure = failure ? failure : "timed out";
	g_main_loop_quit(loop);
	return G_SOURCE_REMOVE;
}

static const char *relay_of(int i, char *buf, size_t cap)
{
	GSList *cands = nice_agent_get_local_candidates(agent[i], stream[i], 1);
	snprintf(buf, cap, "none");
	for (GSList *l = cands; l; l = l->next) {
		NiceCandidate *c = l->data;
		if (c->type == NICE_CANDIDATE_TYPE_RELAYED) {
			char ip[NICE_ADDRESS_STRING_LEN];
			nice_address_to_string(&c->addr, ip);
			snprintf(buf, cap, "%s:%u", ip, nice_address_get_port(&c->addr));
		}
	}
	g_slist_free_full(cands, (GDestroyNotify)nice_candidate_free);
	return buf;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: nice_relay SERVER PORT USER PASS [COUNT]\n");
		return 2;
	}
	if (argc > 5)
		count = atoi(argv[5]);
	loop = g_main_loop_new(NULL, FALSE);
	for (int i = 0; i < 2; i++) {
		agent[i] =
		        nice_agent_new(g_main_loop_get_context(loop), NICE_COMPATIBILITY_RFC5245);
		g_object_set(agent[i], "controlling-mode", i == 0, "force-relay", TRUE, "upnp",
		             FALSE, NULL);
		g_signal_connect(agent[i], "candidate-gathering-done",
		                 G_CALLBACK(on_gathering_done), GINT_TO_POINTER(i));
		g_signal_connect(agent[i], "component-state-changed", G_CALLBACK(on_state),
		                 GINT_TO_POINTER(i));
		stream[i] = nice_agent_add_stream(agent[i], 1);
		nice_agent_set_relay_info(agent[i], stream[i], 1, argv[1], (guint)atoi(argv[2]),
		                          argv[3], argv[4], NICE_RELAY_TYPE_TURN_UDP);
		nice_agent_attach_recv(agent[i], stream[i], 1, g_main_loop_get_context(loop),
		                       on_recv, NULL);
	}
	g_timeout_add_seconds(20, on_timeout, NULL);
	for (int i = 0; i < 2; i++)
		nice_agent_gather_candidates(agent[i], stream[i]);
	g_main_loop_run(loop);
	char ra[80], rb[80];
	relay_of(0, ra, sizeof(ra));
	relay_of(1, rb, sizeof(rb));
	if (!failure) {
		for (int i = 0; i < 2; i++) {
			int o = 1 - i;
			gchar *ufrag, *pwd;
			nice_agent_get_local_credentials(agent[o], stream[o], &ufrag, &pwd);
			nice_agent_set_remote_credentials(agent[i], stream[i], ufrag, pwd);
			g_free(ufrag);
			g_free(pwd);
			GSList *cands = nice_agent_get_local_candidates(agent[o], stream[o], 1);
			nice_agent_set_remote_candidates(agent[i], stream[i], 1, cands);
			g_slist_free_full(cands, (GDestroyNotify)nice_candidate_free);
		}
		g_main_loop_run(loop);
	}
	const char *selected = "none";
	if (!failure && ready[0] && ready[1]) {
		NiceCandidate *l = NULL, *r = NULL;
		if (nice_agent_get_selected_pair(agent[0], stream[0], 1, &l, &r))
			selected = l->type == NICE_CANDIDATE_TYPE_RELAYED ? "relay" : "other";
		char msg[64];
		for (int k = 0; k < count; k++) {
			int n = snprintf(msg, sizeof(msg), "msg-%d", k);
			nice_agent_send(agent[0], stream[0], 1, (guint)n, msg);
		}
		g_main_loop_run(loop);
	}
	printf("relay a=%s b=%s selected=%s received=%d/%d%s%s\n", ra, rb, selected, received,
	       count, failure ? " failure=" : "", failure ? failure : "");
	return strcmp(selected, "relay") == 0 && received == count ? 0 : 1;
}
