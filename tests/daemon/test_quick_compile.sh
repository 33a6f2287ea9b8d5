#!/usr/bin/env bash
# The tiered compile ([modules] quick_compile = yes, issue #18 item 3): a
# SETUP of a module the node has not compiled is answered once a quick -O0
# build runs; the -O2 build follows in the background and is swapped into the
# running container (the module's state kept, modhost_swap); packets sent
# across the swap are all seen; a restarted container gets the -O2 build, and
# a SETUP of a module whose -O2 build is cached compiles nothing quick.
# sender -- router -- receiver in network namespaces, netservd in the router.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/tap.sh"
source "$here/../lib/topo.sh"
source "$here/../lib/wait.sh"
B=${NETSERV_BUILD:?}

if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP needs root"
	exit 0
fi

WORK=$(mktemp -d /tmp/netserv-qc.XXXXXX)
chmod 0711 "$WORK"
SOCK=$WORK/admin.sock
DPID=
cleanup_qc() {
	[ -n "$DPID" ] && kill -KILL "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	topo_destroy
	[ -n "${KEEP_LOG:-}" ] && cp "$WORK/netservd.log" "$KEEP_LOG"
	rm -rf "$WORK"
}
trap cleanup_qc EXIT

topo_create sender router receiver || { not_ok "topology"; tap_done; exit 1; }
RCV=$(topo_addr receiver)
QBASE=$((2000 + RANDOM % 20000))
cp "$B/modules/counter.wasm" "$WORK/counter.wasm"
HASH=sha256:$(sha256sum "$WORK/counter.wasm" | cut -d' ' -f1)
HEX=${HASH#sha256:}

cat >"$WORK/netservd.conf" <<EOC
[node]
id = qc-router
state_dir = $WORK/state
admin_socket = $SOCK
[log]
level = debug
[fetch]
protocols = file
[modules]
quick_compile = yes
[forwarding]
driver = netfilter
chain_prefix = NQ${TOPO_TAG}
hooks = forward
[containers]
cgroup = netserv-qc-$TOPO_TAG
queue_base = $QBASE
heartbeat_ms = 200
pool_size = 0
[security]
require_signatures = no
[publisher janedoe]
uid = 65534
prefixes = any
nice = 0
EOC

ctl() { "$B/netserv" ctl --socket "$SOCK" "$@"; }
status() {
	ctl status --json | python3 -c "import json,sys
s = json.load(sys.stdin)
mods = {m['user'] + '/' + m['module']: m for m in s['modules']}
print($1)"
}
rt() { status "((mods.get('janedoe/$1') or {}).get('runtime') or {}).get('$2', -1)"; }
packets() { status "((mods.get('janedoe/$1') or {}).get('runtime') or {}).get('counters', {}).get('packets', -1)"; }
setup() {
	printf 'SETUP %s NETSERV/0.1\nuser:janedoe\nurl:file://%s\nmodule-hash:%s\nfilter-proto:udp\nfilter-port:%s\n\n' \
		"$1" "$WORK/counter.wasm" "$HASH" "$2" | ctl send -
}

nsenter --net="/var/run/netns/$(topo_ns router)" "$B/netservd" -c "$WORK/netservd.conf" \
	>>"$WORK/netservd.log" 2>&1 &
DPID=$!
up() { ctl status >/dev/null 2>&1; }
if ! wait_until 10 up; then
	not_ok "netservd starts in the router"
	tail -20 "$WORK/netservd.log" | sed 's/^/#   /'
	tap_done
	exit 1
fi

# Packets all along: the swap happens while they flow.
ip netns exec "$(topo_ns receiver)" "$B/udpcount" -p 7300 -t 30 -i 1500 >"$WORK/count" 2>&1 &
cpid=$!
for _ in $(seq 1 100); do grep -q ready "$WORK/count" 2>/dev/null && break; sleep 0.02; done

out=$(setup NetServ.apps.Tier_1 7300)
check "the SETUP of an uncompiled module answers 200, active" \
	grep -q '^state:active' <<<"$out"
swapped_line() { grep -q "Tier_1: full build swapped in, state kept" "$WORK/netservd.log"; }
check "... before the -O2 build was swapped in" bash -c '! grep -q "full build swapped in" "$0"' \
	"$WORK/netservd.log"
check "the quick build is in the quick cache" test -f "$WORK/state/so-quick/$HEX-g3.so"
topo_exec sender "$B/udpblast" -d "$RCV" -p 7300 -n 500 -s 64 -r 1000 >/dev/null &
bpid=$!
check "the -O2 build is swapped in (log)" wait_until 30 swapped_line
wait "$bpid"
topo_exec sender "$B/udpblast" -d "$RCV" -p 7300 -n 1000 -s 64 -r 2000 >/dev/null
wait "$cpid"
got=$(grep -o 'received=[0-9]*' "$WORK/count" | cut -d= -f2)
check "the -O2 build is in the cache" test -f "$WORK/state/so/$HEX-g3.so"
c=$(packets NetServ.apps.Tier_1)
check "the module counted all 1500 packets, across the swap ($c; $got arrived)" \
	test "$c" = 1500 -a "$got" = 1500
sw=$(ctl status --json | grep -o '"swaps": *[0-9]*' | head -1 | grep -o '[0-9]*$')
check "the container reports one swap for the module (${sw:-none})" test "${sw:-0}" = 1

# A restarted container gets the -O2 build.
pid=$(rt NetServ.apps.Tier_1 container_pid)
kill -KILL "$pid"
back() {
	local p
	p=$(rt NetServ.apps.Tier_1 container_pid)
	[ -n "$p" ] && [ "$p" != "$pid" ] && [ "$p" != 0 ] && [ "$p" != -1 ]
}
check "the killed container is restarted with the module" wait_until 10 back
check "... from the -O2 build" \
	grep -q "reinstalling NetServ.apps.Tier_1 from $WORK/state/so/$HEX-g3.so" "$WORK/netservd.log"

# The -O2 build cached: a second SETUP compiles nothing quick.
out=$(setup NetServ.apps.Tier_2 7301)
check "a SETUP of the same module answers 200, active" grep -q '^state:active' <<<"$out"
check "... and nothing was swapped for it (the -O2 build was cached)" \
	bash -c '! grep -q "Tier_2: full build swapped in" "$0"' "$WORK/netservd.log"

kill -TERM "$DPID"
rc=0
wait "$DPID" || rc=$?
DPID=
check "netservd exits cleanly (status $rc)" test "$rc" -eq 0
tap_done
