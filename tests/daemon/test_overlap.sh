#!/usr/bin/env bash
# Overlapping filters of two publishers (issue #12, item 2): sender -- router
# -- receiver in network namespaces, netservd in the router. Alice owns the
# receiver's address, bob the sender's. Netfilter hands a packet to the first
# queue whose rule matches, so a filter bob installs first on his own source
# (any destination) would take every packet from his hosts to alice's
# address and port away from her module. The node resolves overlaps at
# SETUP (docs/security.md, "Overlapping filters"):
#   - bob's source-only filter installs while nobody else's overlaps it;
#   - alice's filter on her destination takes precedence: it installs, bob's
#     module fails with the reason (not silently shadowed);
#   - alice's module processes >= 95 % of her traffic from bob's host;
#   - bob's SETUP of the same filter again is refused (409), a filter of his
#     that overlaps nobody's still installs.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/tap.sh"
source "$here/../lib/topo.sh"
source "$here/../lib/router_node.sh"
source "$here/../lib/wait.sh"
B=${NETSERV_BUILD:?}

if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP needs root"
	exit 0
fi

WORK=$(mktemp -d /tmp/netserv-ov.XXXXXX)
chmod 0711 "$WORK"
SOCK=$WORK/admin.sock
DPID=
CPIDS=()
cleanup_ov() {
	for p in "${CPIDS[@]}"; do kill -KILL "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	[ -n "$DPID" ] && kill -KILL "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	topo_destroy
	[ -n "${KEEP_LOG:-}" ] && cp "$WORK/netservd.log" "$KEEP_LOG"
	rm -rf "$WORK"
}
trap cleanup_ov EXIT

topo_create sender router receiver || { not_ok "topology"; tap_done; exit 1; }
RCV=$(topo_addr receiver)
SND=$(topo_addr sender)
PREFIX=NO${TOPO_TAG}
QBASE=$((2000 + RANDOM % 20000))
CG=netserv-ov-$TOPO_TAG
PORT=7000

mkdir -p "$WORK/keys"
for u in alice bob; do
	"$B/netserv" keygen -d "$WORK" "$u" >/dev/null && cp "$WORK/$u.pub" "$WORK/keys/"
done

cat >"$WORK/netservd.conf" <<EOC
[node]
id = ov-router
state_dir = $WORK/state
admin_socket = $SOCK
[log]
level = info
[fetch]
protocols = file
[forwarding]
driver = netfilter
chain_prefix = $PREFIX
hooks = forward
[containers]
cgroup = $CG
queue_base = $QBASE
heartbeat_ms = 200
pool_size = 0
[security]
keys_dir = $WORK/keys
[publisher alice]
uid = 65532
prefixes = $RCV/32
[publisher bob]
uid = 65533
prefixes = $SND/32
EOC

as() { NETSERV_KEY=$WORK/$1.key ctl send -; }

mod() { status "(mods.get('$1') or {}).get('$2', '')"; }

# setup USER ID [HEADER LINES]: deploys build/modules/counter.wasm.
setup() {
	local path=$WORK/$2.wasm hash
	cp "$B/modules/counter.wasm" "$path"
	hash=sha256:$(sha256sum "$path" | cut -d' ' -f1)
	{
		printf 'SETUP %s NETSERV/0.1\nuser:%s\nurl:file://%s\nmodule-hash:%s\n' "$2" "$1" \
			"$path" "$hash"
		[ -n "${3:-}" ] && printf '%s\n' "$3"
		printf '\n'
	} | as "$1"
}

# traffic PORT COUNT RATE: sender -> receiver; prints how many arrived.
traffic() {
	local out=$WORK/count.$RANDOM
	ip netns exec "$(topo_ns receiver)" "$B/udpcount" -p "$1" -t 60 -i 1000 >"$out" 2>&1 &
	local cpid=$!
	CPIDS+=("$cpid")
	wait_until 5 grep -q ready "$out"
	topo_exec sender "$B/udpblast" -d "$RCV" -p "$1" -n "$2" -s 64 -r "$3" >/dev/null
	wait "$cpid"
	grep -o 'received=[0-9]*' "$out" | cut -d= -f2
}

start_daemon || { not_ok "netservd starts in the router"; tap_done; exit 1; }
ok "netservd starts in the router with publishers alice ($RCV) and bob ($SND)"

BOB_FILTER="filter-proto:udp
filter-port:$PORT
filter-src:$SND"
out=$(setup bob NetServ.apps.BobFirst_1 "$BOB_FILTER")
check "bob's filter on his source, any destination, port $PORT, installs first (200)" \
	grep -q '^NETSERV/0.1 200' <<<"$out"

out=$(setup alice NetServ.apps.AliceCounter_1 "filter-proto:udp
filter-port:$PORT
filter-dst:$RCV")
check "alice's filter on her destination $RCV, port $PORT, installs second (200)" \
	grep -q '^NETSERV/0.1 200' <<<"$out"
st=$(mod bob/NetServ.apps.BobFirst_1 state)
why=$(mod bob/NetServ.apps.BobFirst_1 reason)
check "bob's overlapping module failed with the reason ($st: $why)" \
	test "$st" = failed -a -n "$(grep 'takes precedence' <<<"$why")"
check "the reason does not name alice or her filter" \
	test -z "$(grep -e alice -e "$RCV" <<<"$why")"

a=$(traffic $PORT 1000 500)
c=$(rt alice/NetServ.apps.AliceCounter_1 packets)
b=$(rt bob/NetServ.apps.BobFirst_1 packets)
diag "alice's module: $c packets, bob's: $b, arrived: ${a:-none}"
check "alice's module processed >= 95 % of the 1000 packets from bob's host to her ($c)" \
	test "$c" -ge 950
check "... and they went on to the receiver (${a:-none} arrived)" test "${a:-0}" -ge 950

out=$(setup bob NetServ.apps.BobAgain_1 "$BOB_FILTER")
check "bob's SETUP of the same filter now is refused (409)" grep -q '^NETSERV/0.1 409' <<<"$out"
check "... with the reason, naming nobody" \
	test -n "$(grep 'destination of another publisher' <<<"$out")" -a -z "$(grep alice <<<"$out")"
out=$(setup bob NetServ.apps.BobOther_1 "filter-proto:udp
filter-port:$((PORT + 1))
filter-src:$SND")
check "a filter of bob's that overlaps nobody's installs (200)" grep -q '^NETSERV/0.1 200' <<<"$out"
out=$(setup alice NetServ.apps.AliceAll_1 "filter-proto:udp
filter-dst:$RCV")
check "alice's filter on all udp to her address takes precedence over it too (200)" \
	grep -q '^NETSERV/0.1 200' <<<"$out"
check "... bob's port $((PORT + 1)) module failed" \
	test "$(mod bob/NetServ.apps.BobOther_1 state)" = failed

kill -TERM "$DPID"
wait "$DPID"
rc=$?
DPID=
check "netservd exits cleanly (status $rc)" test "$rc" -eq 0

tap_done
