#!/usr/bin/env bash
# Issue #12 item 4: no container may hold a socket or capability that lets it
# reconfigure the router or take another publisher's traffic
# (docs/security.md, "Packet queues"). sender -- router -- receiver in network
# namespaces, netservd in the router with the netfilter plane and the test
# build of the container (netserv-container-testing: "NSTEST" packets make it
# act as a module that escaped WebAssembly). alice's counter reads udp/5060
# toward the receiver; bob's container is the escaped one. bob tries to bind
# a free queue and alice's queue during her container's restart, to send an
# nf_tables message on his queue socket, to send a verdict for alice's queue
# through his verdict channel, and to open a netlink socket; alice's module
# keeps >= 95% of her traffic meanwhile and her replacement comes up.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/tap.sh"
source "$here/../lib/topo.sh"
source "$here/../lib/router_node.sh"
B=${NETSERV_BUILD:?}

if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP needs root"
	exit 0
fi
if [ ! -x "$B/netserv-container-testing" ]; then
	echo "1..0 # SKIP no netserv-container-testing in $B (NETSERV_TESTS=OFF)"
	exit 0
fi

WORK=$(mktemp -d /tmp/netserv-qo.XXXXXX)
chmod 0711 "$WORK"
SOCK=$WORK/admin.sock
DPID=
SPAM=
cleanup_qo() {
	[ -n "$SPAM" ] && kill -KILL "$SPAM" 2>/dev/null && wait "$SPAM" 2>/dev/null
	[ -n "$DPID" ] && kill -KILL "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	topo_destroy
	[ -n "${KEEP_LOG:-}" ] && cp "$WORK/netservd.log" "$KEEP_LOG"
	rm -rf "$WORK"
}
trap cleanup_qo EXIT

topo_create sender router receiver || { not_ok "topology"; tap_done; exit 1; }
RCV=$(topo_addr receiver)
SND=$(topo_addr sender)
PREFIX=QO${TOPO_TAG}
QBASE=$((2000 + RANDOM % 20000))
QA=$QBASE               # alice's queue (first publisher)
FREEQ=$((QBASE + 9))    # nobody's
TABLE=nstest$TOPO_TAG
CG=netserv-qo-$TOPO_TAG

mkdir -p "$WORK/keys"
for u in alice bob; do
	"$B/netserv" keygen -d "$WORK" "$u" >/dev/null && cp "$WORK/$u.pub" "$WORK/keys/"
done
cat >"$WORK/netservd.conf" <<EOC
[node]
id = qo-router
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
program = $B/netserv-container-testing
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

# setup USER ID FILTER-LINES: the counter module for USER with FILTER-LINES.
setup() {
	local path=$WORK/$2.wasm hash
	cp "$B/modules/counter.wasm" "$path"
	hash=sha256:$(sha256sum "$path" | cut -d' ' -f1)
	printf 'SETUP %s NETSERV/0.1\nuser:%s\nurl:file://%s\nmodule-hash:%s\n%s\n\n' "$2" "$1" \
		"$path" "$hash" "$3" | NETSERV_KEY=$WORK/$1.key ctl send -
}
# blast PORT COUNT RATE: datagrams sender -> receiver:PORT; prints how many arrived.
blast() {
	local out=$WORK/count.$RANDOM
	ip netns exec "$(topo_ns receiver)" "$B/udpcount" -p "$1" -t 30 -i 700 >"$out" 2>&1 &
	local cpid=$!
	for _ in $(seq 1 100); do grep -q ready "$out" 2>/dev/null && break; sleep 0.02; done
	topo_exec sender "$B/udpblast" -d "$RCV" -p "$1" -n "$2" -s 64 -r "$3" >/dev/null
	wait "$cpid"
	grep -o 'received=[0-9]*' "$out" | cut -d= -f2
}
# nstest TEXT [COUNT [RATE]]: bob's escaped module runs TEXT (COUNT times, RATE/s).
nstest() {
	topo_exec sender python3 -c "import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
n, rate = int(sys.argv[3]), float(sys.argv[4])
for i in range(n):
    s.sendto(('NSTEST ' + sys.argv[2]).encode(), (sys.argv[1], 5070))
    time.sleep(1 / rate)" "$RCV" "$1" "${2:-1}" "${3:-1000}"
}
ran() { grep -c "NSTEST $1\$" "$WORK/netservd.log"; }
# bound Q: the portid holding queue Q in the router's namespace (empty: none).
bound() {
	topo_exec router awk -v q="$1" '$1 == q { print $2 }' /proc/net/netfilter/nfnetlink_queue
}
# nft_table FAMILY NAME: whether nf_tables table NAME of FAMILY (1 inet, 2 ip)
# exists in the router (an nf_tables GETTABLE, as netservd's root).
nft_table() {
	topo_exec router python3 -c "import socket, struct, sys
name = sys.argv[2].encode() + b'\0'
attr = struct.pack('=HH', 4 + len(name), 1) + name
attr += b'\0' * (-len(attr) % 4)
body = struct.pack('=BBH', int(sys.argv[1]), 0, 0) + attr   # nfgenmsg
msg = struct.pack('=IHHII', 16 + len(body), (10 << 8) | 1, 1 | 4, 1, 0) + body
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)
s.send(msg)
d = s.recv(65536)
t = struct.unpack_from('=H', d, 4)[0]
if t == 2:                                              # NLMSG_ERROR
    sys.exit(0 if struct.unpack_from('=i', d, 16)[0] == 0 else 1)
sys.exit(0)" "$1" "$2"
}
not() { ! "$@"; }
cap_eff() { awk '/^CapEff:/ { print $2 }' "/proc/$1/status"; }

start_daemon || { not_ok "netservd starts in the router"; tap_done; exit 1; }
ok "netservd starts in the router with publishers alice and bob"
out=$(setup alice NetServ.apps.Count_1 "filter-proto:udp
filter-port:5060
filter-dst:$RCV")
check "alice's counter for udp/5060 answers 200" grep -q '^NETSERV/0.1 200' <<<"$out"
out=$(setup bob NetServ.apps.Count_1 "filter-proto:udp
filter-port:5070
filter-src:$SND")
check "bob's counter for udp/5070 from the sender answers 200" grep -q '^NETSERV/0.1 200' <<<"$out"
a=$(blast 5060 500 5000)
c=$(rt alice/NetServ.apps.Count_1 packets)
check "alice's module sees her traffic ($a arrived, counter $c)" test "$a" = 500 -a "$c" = 500
check "alice's queue $QA is bound (portid $(bound "$QA"))" test -n "$(bound "$QA")"
check "netservd relays her verdicts in a relay thread of its own (nsrelay-*)" \
	bash -c 'cat "$0"/task/*/comm | grep -q "^nsrelay-"' "/proc/$DPID"
bpid=$(rt bob/NetServ.apps.Count_1 container_pid)
check "bob's container has no capability at all (CapEff $(cap_eff "$bpid"))" \
	test "$(cap_eff "$bpid")" = 0000000000000000

# (a) bind a queue nobody holds, on his own queue socket
nstest "nfq-bind $FREEQ"
wait_until 3 test "$(ran "nfq-bind $FREEQ")" -ge 1
check "bob's container ran 'nfq-bind $FREEQ'" test "$(ran "nfq-bind $FREEQ")" -ge 1
check "... and the kernel did not bind queue $FREEQ to it (portid '$(bound "$FREEQ")')" \
	test -z "$(bound "$FREEQ")"

# (b) an nf_tables message on his queue socket
nstest "nft $TABLE"
wait_until 3 test "$(ran "nft $TABLE")" -ge 1
check "bob's container ran 'nft $TABLE'" test "$(ran "nft $TABLE")" -ge 1
check "... and no table inet $TABLE exists in the router" not nft_table 1 "$TABLE"
if iptables -V | grep -q nf_tables; then # the check can see a table: iptables-nft's
	check "(the table check sees netservd's table ip mangle)" nft_table 2 mangle
fi

# (d) a verdict for alice's queue through his verdict channel
nstest "verdict $QA"
wait_until 3 test "$(ran "verdict $QA")" -ge 1
check "bob's container ran 'verdict $QA'" test "$(ran "verdict $QA")" -ge 1
refused() { grep -q "security: container bob sent on its verdict channel what is not a verdict for its queue" "$WORK/netservd.log"; }
check "netservd refuses it and says so once" wait_until 2 refused
r=$(status "([c for c in s['containers'] if c.get('publisher') == 'bob'] or [{}])[0].get('verdicts_refused', -1)")
check "... and counts it (verdicts_refused $r)" test "$r" -ge 1

# (a) alice's queue while her container restarts, bob binding it 1000 times a second
apid=$(rt alice/NetServ.apps.Count_1 container_pid)
starts=$(grep -c "container alice ready" "$WORK/netservd.log")
nstest "nfq-bind $QA" 5000 1000 &
SPAM=$!
sleep 0.3 # the attack runs (not an assertion: the checks below wait with deadlines)
kill -KILL "$apid"
back() { [ "$(grep -c "container alice ready" "$WORK/netservd.log")" -gt "$starts" ]; }
check "alice's replacement container comes up during the attack" wait_until 5 back
napid=$(rt alice/NetServ.apps.Count_1 container_pid)
check "... with a new pid ($apid -> $napid) and her module active" \
	test "$napid" != "$apid" -a "$napid" != -1 -a \
	"$(status "mods['alice/NetServ.apps.Count_1']['state']")" = active
before=$(rt alice/NetServ.apps.Count_1 packets)
a=$(blast 5060 1000 1000)
after=$(rt alice/NetServ.apps.Count_1 packets)
seen=$((after - before))
check "while bob keeps trying, alice's module processes >= 95% of 1000 packets at 1000/s ($seen, $a arrived)" \
	test "$seen" -ge 950
check "(bob's attack was still running then)" kill -0 "$SPAM"
wait "$SPAM"
SPAM=
n=$(ran "nfq-bind $QA")
check "bob's container ran 'nfq-bind $QA' during her restart and after ($n times)" test "$n" -ge 2500
q=$(bound "$QA")
qb=$(bound $((QBASE + 1)))
check "queue $QA is bound, and not by bob's socket (portid $q; bob's $qb)" \
	test -n "$q" -a "$q" != "$qb"
check "her replacement did not fail on its queue" not grep -q "alice.*packet queue" "$WORK/netservd.log"

# (c) a new netlink socket: seccomp kills the container
bstarts=$(grep -c "container bob ready" "$WORK/netservd.log")
nstest netlink
bdead() { grep -q "container bob (pid $bpid) died: .*killed by signal 31 (SYS)" "$WORK/netservd.log"; }
check "bob's container that opens a netlink socket is killed by seccomp (SIGSYS)" wait_until 5 bdead
bback() { [ "$(grep -c "container bob ready" "$WORK/netservd.log")" -gt "$bstarts" ]; }
check "... and restarted" wait_until 5 bback

kill -TERM "$DPID"
wait "$DPID"
rc=$?
DPID=
check "netservd exits cleanly (status $rc)" test "$rc" -eq 0
tap_done
