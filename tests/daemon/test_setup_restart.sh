#!/usr/bin/env bash
# Isolation between publishers (issue #12, item 7): a SETUP that comes while
# the publisher's container is being restarted waits for the container and
# succeeds (it was answered 503 and stored as failed). sender -- router --
# receiver in network namespaces, netservd in the router: the container of
# janedoe is killed six times within 10 s, so that the supervisor waits 2 s
# before the next start (its crash backoff); a SETUP in that gap must be
# installed once the container is back, and its module must see traffic.
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

WORK=$(mktemp -d /tmp/netserv-sr.XXXXXX)
chmod 0711 "$WORK"
SOCK=$WORK/admin.sock
DPID=
cleanup_sr() {
	[ -n "$DPID" ] && kill -KILL "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	topo_destroy
	[ -n "${KEEP_LOG:-}" ] && cp "$WORK/netservd.log" "$KEEP_LOG"
	rm -rf "$WORK"
}
trap cleanup_sr EXIT

topo_create sender router receiver || { not_ok "topology"; tap_done; exit 1; }
RCV=$(topo_addr receiver)
PREFIX=NR${TOPO_TAG}
QBASE=$((2000 + RANDOM % 20000))

mkdir -p "$WORK/keys"
"$B/netserv" keygen -d "$WORK" janedoe >/dev/null && cp "$WORK/janedoe.pub" "$WORK/keys/"
export NETSERV_KEY=$WORK/janedoe.key
cp "$B/modules/counter.wasm" "$WORK/counter.wasm"
HASH=sha256:$(sha256sum "$WORK/counter.wasm" | cut -d' ' -f1)

cat >"$WORK/netservd.conf" <<EOC
[node]
id = sr-router
state_dir = $WORK/state
admin_socket = $SOCK
[log]
level = debug
[fetch]
protocols = file
[forwarding]
driver = netfilter
chain_prefix = $PREFIX
hooks = forward
[containers]
cgroup = netserv-sr-$TOPO_TAG
queue_base = $QBASE
heartbeat_ms = 200
pool_size = 0
[security]
keys_dir = $WORK/keys
[publisher janedoe]
uid = 65534
prefixes = any
nice = 0
EOC

ctl() { "$B/netserv" ctl --socket "$SOCK" "$@"; }

start_daemon() {
	nsenter --net="/var/run/netns/$(topo_ns router)" "$B/netservd" -c "$WORK/netservd.conf" \
		>>"$WORK/netservd.log" 2>&1 &
	DPID=$!
	for _ in $(seq 1 200); do
		ctl status >/dev/null 2>&1 && return 0
		kill -0 "$DPID" 2>/dev/null || break
		sleep 0.05
	done
	diag "netservd did not start:"
	tail -20 "$WORK/netservd.log" | sed 's/^/#   /'
	return 1
}

status() {
	ctl status --json | python3 -c "import json,sys
s = json.load(sys.stdin)
mods = {m['user'] + '/' + m['module']: m for m in s['modules']}
print($1)"
}
pid_of() { status "((mods.get('janedoe/$1') or {}).get('runtime') or {}).get('container_pid', 0)"; }
deaths() { grep -c "container janedoe (pid [0-9]*) died" "$WORK/netservd.log"; }

# setup ID PORT: the counter (same file, so compiled once) for udp/PORT.
setup() {
	printf 'SETUP %s NETSERV/0.1\nuser:janedoe\nurl:file://%s\nmodule-hash:%s\nfilter-proto:udp\nfilter-port:%s\n\n' \
		"$1" "$WORK/counter.wasm" "$HASH" "$2" | ctl send -
}

start_daemon || { not_ok "netservd starts in the router"; tap_done; exit 1; }
out=$(setup NetServ.apps.First_1 7200)
check "the first SETUP answers 200 (the module is compiled and cached)" \
	grep -q '^NETSERV/0.1 200' <<<"$out"

# Six deaths within 10 s: the sixth restart waits 2 s (the supervisor's backoff).
killed=0
for i in 1 2 3 4 5 6; do
	p=
	new_pid() {
		p=$(pid_of NetServ.apps.First_1)
		[ -n "$p" ] && [ "$p" != 0 ] && [ "$p" != "${last:-}" ]
	}
	wait_until 3 new_pid || break
	last=$p
	kill -KILL "$p" && killed=$((killed + 1))
	if [ "$i" -lt 6 ]; then
		dead() { [ "$(deaths)" -ge "$i" ]; }
		wait_until 3 dead || break
	fi
done
check "janedoe's container was killed six times ($killed)" test "$killed" -eq 6
dead6() { [ "$(deaths)" -ge 6 ]; }
check "the supervisor saw the sixth death" wait_until 3 dead6
gap=$(pid_of NetServ.apps.First_1)
check "there is no container right now (the backoff gap; pid ${gap:-?})" test "${gap:-1}" = 0

now_ms
t0=$NOW_MS
out=$(setup NetServ.apps.Second_1 7201)
now_ms
diag "SETUP during the restart answered after $((NOW_MS - t0)) ms: $(head -1 <<<"$out")"
check "a SETUP during the container's restart answers 200" grep -q '^NETSERV/0.1 200' <<<"$out"
check "... with state active" grep -q '^state:active' <<<"$out"
check "the log says it waited for the restart" \
	grep -q "NetServ.apps.Second_1 waits for the container's restart" "$WORK/netservd.log"
st=$(status "(mods.get('janedoe/NetServ.apps.Second_1') or {}).get('state')")
check "status shows it active ($st)" test "$st" = active

# Its module sees its traffic, and the first one is back too.
ip netns exec "$(topo_ns receiver)" "$B/udpcount" -p 7201 -t 30 -i 700 >"$WORK/count" 2>&1 &
cpid=$!
for _ in $(seq 1 100); do grep -q ready "$WORK/count" 2>/dev/null && break; sleep 0.02; done
topo_exec sender "$B/udpblast" -d "$RCV" -p 7201 -n 500 -s 64 -r 1000 >/dev/null
wait "$cpid"
got=$(grep -o 'received=[0-9]*' "$WORK/count" | cut -d= -f2)
c=$(status "((mods.get('janedoe/NetServ.apps.Second_1') or {}).get('runtime') or {}).get('counters', {}).get('packets', -1)")
check "its module counted the 500 packets sent to udp/7201 ($c; $got arrived)" \
	test "$c" = 500 -a "$got" = 500
st=$(status "(mods.get('janedoe/NetServ.apps.First_1') or {}).get('state')")
check "the first module is active again ($st)" test "$st" = active

kill -TERM "$DPID"
rc=0
wait "$DPID" || rc=$?
DPID=
check "netservd exits cleanly (status $rc)" test "$rc" -eq 0
tap_done
