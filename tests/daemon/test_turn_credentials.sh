#!/usr/bin/env bash
# Choosing the Media Relay by signaling (issue #15, examples/turn-credentials):
#   publisher -- r1 -- client
# r1 is a NetServ node with signaling; the publisher's host runs the
# credentials service, a central relay (coturn's turnserver with
# use-auth-secret), turnutils_peer and the HTTP server the module is fetched
# from. The client's first request gets the central relay and REST
# credentials that coturn takes; meanwhile the service signals a SETUP of
# the TURN module toward the client and PROBEs it, and from then on hands
# out r1, whose module relays turnutils_uclient's data with those
# credentials; PROBE shows where it runs, and its counters what it relayed.
# r1's address in the PROBE answer is the one on the publisher's side: the
# client sends to it from the other side, and the module's answers must
# come from that address (the node answers a UDP source from the address it
# sent to).
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/tap.sh"
source "$here/../lib/topo.sh"
source "$here/../lib/signaling.sh"
B=${NETSERV_BUILD:?}

if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP needs root"
	exit 0
fi
for t in turnserver turnutils_uclient turnutils_peer curl; do
	if ! command -v $t >/dev/null; then
		echo "1..0 # SKIP $t missing (scripts/install-deps installs it)"
		exit 0
	fi
done

SIG_BUILD=$B
SIG_WORK=$(mktemp -d /tmp/netserv-turncred.XXXXXX)
cleanup_tc() {
	topo_destroy
	[ -n "${KEEP_LOGS:-}" ] && cat "$SIG_WORK"/r1/log "$SIG_WORK/service.log" >"$KEEP_LOGS" 2>/dev/null
	rm -rf "$SIG_WORK"
}
trap cleanup_tc EXIT

topo_create publisher r1 client || {
	not_ok "topology"
	tap_done
	exit 1
}
PUB=$(topo_addr publisher)
CLI=$(topo_addr client)
R1=$(topo_addr r1 toward client)
SECRET=south-wind-$RANDOM
MOD=NetServ.apps.MediaRelay_1

mkdir -p "$SIG_WORK/keys"
"$B/netserv" keygen -d "$SIG_WORK/keys" janedoe >/dev/null
SIG_KEYS_DIR=$SIG_WORK/keys
sig_start_node r1 $'[publisher janedoe]\nlisten_ports = udp:3478, tcp:3478, udp:49152-49251\nconnect_destinations = any\nmax_sockets = 200'
check "netservd with signaling starts on r1" sig_ctl r1 status

mkdir -p "$SIG_WORK/www"
cp "$B/modules/turn.wasm" "$SIG_WORK/www/turn.wasm"
HASH=sha256:$(sha256sum "$SIG_WORK/www/turn.wasm" | cut -d' ' -f1)
sig_serve_http publisher "$SIG_WORK/www" 8000 || not_ok "the publisher's HTTP server starts"
topo_spawn publisher turnutils_peer -L "$PUB" -p 3480 >/dev/null 2>&1
topo_spawn publisher turnserver -n --no-cli --no-tls --no-dtls --listening-ip "$PUB" \
	--listening-port 3478 --relay-ip "$PUB" --min-port 50000 --max-port 50100 \
	--use-auth-secret --static-auth-secret "$SECRET" --realm central.test \
	--pidfile "$SIG_WORK/turnserver.pid" --log-file "$SIG_WORK/turnserver.log" --simple-log \
	>/dev/null 2>&1
topo_spawn publisher env NETSERV_KEY="$SIG_WORK/keys/janedoe.key" \
	"$here/../../examples/turn-credentials" --listen "$PUB:8080" --secret "$SECRET" \
	--central "$PUB:3478" --url "http://$PUB:8000/turn.wasm" --hash "$HASH" \
	--netserv "$B/netserv" --property realm=edge.test --timeout 10 --retry 2 \
	>"$SIG_WORK/service.log" 2>&1

ice() { topo_exec client curl -s --max-time 5 "http://$PUB:8080/ice?user=carol"; }
field() { python3 -c "import json,sys; r = json.load(sys.stdin); print($1)"; }
service_up() { ice >/dev/null; }
check "the credentials service answers" wait_until 10 service_up
first=$(ice)
check "the first answer hands out the central relay ($(field "r['relay'], r['iceServers'][0]['urls'][0]" <<<"$first"))" \
	test "$(field "r['relay'] + ' ' + r['iceServers'][0]['urls'][0]" <<<"$first")" = \
	"central turn:$PUB:3478?transport=udp"

# uclient with the service's credentials: USER CRED HOST
uclient() {
	topo_exec client timeout 60 turnutils_uclient -c -m 1 -n 50 -l 172 -z 10 -u "$1" -w "$2" \
		-e "$PUB" -r 3480 "$3" >"$SIG_WORK/uclient.out" 2>&1
	local sent recv lost
	sent=$(sed -n 's/.*tot_send_msgs=\([0-9]*\).*/\1/p' "$SIG_WORK/uclient.out" | tail -1)
	recv=$(sed -n 's/.*tot_recv_msgs=\([0-9]*\).*/\1/p' "$SIG_WORK/uclient.out" | tail -1)
	lost=$(sed -n 's/.*Total lost packets \([0-9]*\) .*/\1/p' "$SIG_WORK/uclient.out" | tail -1)
	UC="sent ${sent:-?} received ${recv:-?} lost ${lost:-?}"
	[ "${sent:-0}" -ge 50 ] && [ "${recv:-0}" = "$sent" ] && [ "${lost:-1}" = 0 ] && return 0
	tail -8 "$SIG_WORK/uclient.out" | sed 's/^/#   /'
	return 1
}
u=$(field "r['iceServers'][0]['username']" <<<"$first")
c=$(field "r['iceServers'][0]['credential']" <<<"$first")
uclient "$u" "$c" "$PUB"
check "the central relay (coturn, use-auth-secret) takes those credentials ($UC)" test $? -eq 0

edge_known() { [ "$(field "r['relay']" <<<"$(ice)")" = edge ]; }
check "after signaling toward the client, the service hands out a NetServ edge relay" \
	wait_until 30 edge_known
second=$(ice)
R1P=$(topo_addr r1 toward publisher)
check "... r1, at the address its PROBE answer gives ($(field "r['node'], r['iceServers'][0]['urls']" <<<"$second"))" \
	test "$(field "r['node'] + ' ' + ' '.join(r['iceServers'][0]['urls'])" <<<"$second")" = \
	"r1 turn:$R1P:3478?transport=udp turn:$R1P:3478?transport=tcp"
host=$(field "r['iceServers'][0]['urls'][0].split(':')[1]" <<<"$second")
u=$(field "r['iceServers'][0]['username']" <<<"$second")
c=$(field "r['iceServers'][0]['credential']" <<<"$second")
a0=$(sig_counter r1 "$MOD" allocations)
uclient "$u" "$c" "$host"
check "the module on r1 relays turnutils_uclient's data with the REST credentials ($UC)" \
	test $? -eq 0
a1=$(sig_counter r1 "$MOD" allocations)
p1=$(sig_counter r1 "$MOD" to_peer_packets)
check "... its counters show the allocation and the relayed packets ($a0 -> $a1 allocations, $p1 to the peer)" \
	test "$a1" -gt "$a0" -a "$p1" -ge 50
out=$(sig_pub probe --to "$CLI" --module "$MOD" --json --timeout 10)
check "a PROBE toward the client shows where it runs ($(sig_json "[(n['node'], n['code']) for n in nodes]" <<<"$out"))" \
	test "$(sig_json "[(n['node'], n['code']) for n in nodes]" <<<"$out")" = "[('r1', 200)]"
rel=$(topo_exec client curl -s --max-time 5 "http://$PUB:8080/relays")
check "the service's table has the client's region ($rel)" \
	test "$(field "r['${CLI%.*}.0/24']['state']" <<<"$rel")" = edge
tap_done
