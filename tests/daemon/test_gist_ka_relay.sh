#!/usr/bin/env bash
# The publisher's `netserv` through a relay that behaves as NSIS-ka did in
# the live captures d4/d6 (../shared/interop/live): a chain
#   publisher - r1 - r2 - user
# in network namespaces, where r1 runs tests/gist/ka_relay (it intercepts
# every Query, drops it and re-sends it as its own packet from UDP port 270,
# with Router Alert, the Peer Identity re-padded to a multiple of 4) and r2
# runs netservd. The responder (r2) answers such a Query on port 270 of the
# querier's NLI address: a querier on an ephemeral port never hears it (the
# live failure), a querier on port 270 does; `netserv probe` and `netserv
# setup` complete through r1, over IPv4 and IPv6.
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
for t in ka_relay gist_peer netservd netserv; do
	[ -x "$B/$t" ] || { not_ok "$t is built"; tap_done; exit 1; }
done

SIG_BUILD=$B
SIG_WORK=$(mktemp -d /tmp/netserv-karelay.XXXXXX)
cleanup_karelay() {
	topo_destroy
	[ -n "${KEEP_LOGS:-}" ] && cat "$SIG_WORK"/r2/log "$SIG_WORK"/*.log >"${KEEP_LOGS}" 2>/dev/null
	rm -rf "$SIG_WORK"
}
trap cleanup_karelay EXIT

topo_create publisher r1 r2 user || { not_ok "topology"; tap_done; exit 1; }
USER4=$(topo_addr user)
USER6=$(topo_addr -6 user)
PUB4=$(topo_addr publisher)
R1_4=$(topo_addr r1 toward user)

# wait_for FILE REGEX [SECONDS]: a line of FILE matches REGEX (deadline).
wait_for() {
	local f=$1 re=$2 secs=${3:-5} i
	for ((i = 0; i < secs * 50; i++)); do
		grep -qE -- "$re" "$f" 2>/dev/null && return 0
		sleep 0.02
	done
	return 1
}

# r1: the NSIS-ka-like relay on an NFQUEUE fed with every UDP/270 packet.
QN=$((2000 + RANDOM % 20000))
for ipt in iptables ip6tables; do
	topo_exec r1 "$ipt" -t mangle -A PREROUTING -p udp --dport 270 \
		-j NFQUEUE --queue-num "$QN" --queue-bypass ||
		{ not_ok "$ipt rule in r1"; tap_done; exit 1; }
done
topo_spawn r1 "$B/ka_relay" --queue "$QN" >"$SIG_WORK/relay.log" 2>&1
check "the NSIS-ka-like relay runs on r1 (NFQUEUE $QN)" wait_for "$SIG_WORK/relay.log" '^ready'

sig_start_node r2
check "netservd with signaling starts on r2" eval "sig_ctl r2 status >/dev/null"

# --- the live failure and its fix, at the GIST level ------------------------------
gp() { # LOG ARGS...: one send from the publisher, until its status
	local log=$1
	shift
	ip netns exec "$(topo_ns publisher)" "$B/gist_peer" --id nsq --querier --nslpid 32767 \
		--send hello --dst "$USER4" --t1 100 --t2 400 --until-status 1 --timeout 6000 "$@" \
		>"$SIG_WORK/$log" 2>&1
}
gp eph.log --ephemeral
st=$(grep -o '^status .*' "$SIG_WORK/eph.log")
check "a querier on an ephemeral port never hears the Response to the re-sent Query ($st)" \
	grep -q 'status=last_node .*how=timeout' <<<"$st"
check "... although r1 re-sent its Query as its own packet (from $R1_4, port 270), hops 31" \
	grep -qE "^relayed family=4 nslpid=32767 hops=31 pi=4->4 from=$PUB4:[0-9]+" \
	"$SIG_WORK/relay.log"
gp p270.log
st=$(grep -o '^status .*' "$SIG_WORK/p270.log")
check "a querier on port 270 completes the handshake through r1 ($st)" \
	grep -q 'status=sent' <<<"$st"
check "its Query left from port 270" grep -qE "from=$PUB4:270$" "$SIG_WORK/relay.log"

# --- the publisher's tool through r1 --------------------------------------------
field() { sig_json "$1" <<<"$out"; }
order() { field "','.join(n['node'] for n in nodes)"; }

out=$(sig_pub probe --to "$USER4" --json --timeout 10)
rc=$?
check "netserv probe through the relay exits 0 with stack r2 ($rc, $(order))" \
	test "$rc/$(order)" = 0/r2
check "r1 relayed the client's Query (Peer Identity \"netserv-client\" padded: 16 -> 16)" \
	grep -qE "^relayed family=4 nslpid=32767 hops=31 pi=16->16 from=$PUB4:270$" \
	"$SIG_WORK/relay.log"

out=$(sig_pub probe --to "$USER6" --json --timeout 10)
rc=$?
check "over IPv6 (hop-by-hop Router Alert) too: exit 0, stack r2 ($rc, $(order))" \
	test "$rc/$(order)" = 0/r2
check "r1 intercepted and re-sent the IPv6 Query" \
	grep -qE "^relayed family=6 nslpid=32767 hops=31 pi=16->16" "$SIG_WORK/relay.log"

mkdir -p "$SIG_WORK/www"
cp "$B/modules/counter.wasm" "$SIG_WORK/www/counter.wasm"
HASH=sha256:$(sha256sum "$SIG_WORK/www/counter.wasm" | cut -d' ' -f1)
sig_serve_http publisher "$SIG_WORK/www" 8000 || not_ok "the publisher's HTTP server starts"
MOD=NetServ.apps.Counter_1.0
out=$(sig_pub setup --to "$USER4" -m "$MOD" -u janedoe --url "http://$PUB4:8000/counter.wasm" \
	--hash "$HASH" --ttl 600 --json --timeout 60)
rc=$?
check "netserv setup through the relay exits 0, r2 installs ($rc, $(order))" \
	test "$rc/$(order)/$(field "nodes[0]['code']")" = 0/r2/200
check "r2 runs the module" test "$(sig_status r2 "mods['janedoe/$MOD']['state']")" = active
out=$(sig_pub remove --to "$USER4" -m "$MOD" -u janedoe --json --timeout 20)
rc=$?
check "netserv remove through the relay exits 0 ($rc, $(order))" test "$rc/$(order)" = 0/r2

tap_done
