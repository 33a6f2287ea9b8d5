#!/usr/bin/env bash
# Packet path, end to end on a real router: sender -- router -- receiver in
# network namespaces; netservd in the router with the netfilter forwarding
# plane (NETSERV_PLANE=xdp: the AF_XDP plane, docs/xdp.md); modules deployed
# with `netserv ctl`; UDP traffic (IPv4 and IPv6) from sender to receiver
# through the publisher's container, forwarded with TTL/hop limit - 1.
set -u
PLANE=${NETSERV_PLANE:-netfilter}
SIGNALING=
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/tap.sh"
source "$here/../lib/topo.sh"
source "$here/../lib/router_node.sh"
B=${NETSERV_BUILD:?}

if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP needs root"
	exit 0
fi

WORK=$(mktemp -d /tmp/netserv-pp.XXXXXX)
chmod 0711 "$WORK"
SOCK=$WORK/admin.sock
DPID=
cleanup_pp() {
	[ -n "$DPID" ] && kill -KILL "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	topo_destroy
	rm -rf "$WORK"
}
trap cleanup_pp EXIT
[ -n "${KEEP_LOG:-}" ] && trap "cp $WORK/netservd.log /tmp/pp.log; cleanup_pp" EXIT

topo_create sender router receiver || { not_ok "topology"; tap_done; exit 1; }
RCV=$(topo_addr receiver)
PREFIX=NP${TOPO_TAG}
QBASE=$((2000 + RANDOM % 20000))

IN=$(topo_if router toward sender)
OUT=$(topo_if router toward receiver)
RCV6=$(topo_addr -6 receiver)
case $PLANE in
netfilter)
	FORWARDING="driver = netfilter
chain_prefix = $PREFIX
hooks = forward"
	PER=2 # rules per filter: iptables and ip6tables
	;;
xdp)
	# chain_prefix, hooks: the netfilter driver beside the plane (GIST
	# interception, a publisher without AF_XDP sockets)
	FORWARDING="driver = xdp
interfaces = $IN, $OUT
stall_ms = 150
chain_prefix = $PREFIX
hooks = forward"
	SIGNALING="[signaling]
enable = yes
t1_ms = 100
t2_ms = 800"
	PER=1 # one rule in the program of each interface
	export NODE_BPFFS=1
	;;
*)
	not_ok "NETSERV_PLANE=$PLANE: want netfilter or xdp"
	tap_done
	exit 1
	;;
esac
diag "plane $PLANE"
# Real NICs put whole frames on the wire: the sender's veth would hand over
# UDP checksums not yet computed, which user-space forwarding passes on.
topo_exec sender ethtool -K "$(topo_if sender)" tx off >/dev/null
# TTL/hop limit as the receiver sees them: counted by rules there.
topo_exec receiver iptables -t raw -A PREROUTING -p udp -m ttl --ttl-eq 63 -j ACCEPT
topo_exec receiver ip6tables -t raw -A PREROUTING -p udp -m hl --hl-eq 63 -j ACCEPT
ttl_count() { # iptables|ip6tables: packets with TTL/hop limit 63 at the receiver
	topo_exec receiver "$1" -t raw -L PREROUTING -v -x -n | awk 'NR > 2 { print $1; exit }'
}
xdp_progs() { # IF: XDP programs attached to the router's interface IF
	topo_exec router ip -d link show dev "$1" | grep -c 'prog/xdp'
}

# janedoe signs her requests (docs/security.md); ctl send signs with $NETSERV_KEY.
mkdir -p "$WORK/keys"
"$B/netserv" keygen -d "$WORK" janedoe >/dev/null && cp "$WORK/janedoe.pub" "$WORK/keys/"
export NETSERV_KEY=$WORK/janedoe.key

cat >"$WORK/netservd.conf" <<EOC
[node]
id = pp-router
state_dir = $WORK/state
admin_socket = $SOCK
[log]
level = debug
[fetch]
protocols = file
[forwarding]
$FORWARDING
[containers]
cgroup = netserv-pp-$TOPO_TAG
queue_base = $QBASE
heartbeat_ms = 200
pool_size = 0
[security]
keys_dir = $WORK/keys
[publisher janedoe]
uid = 65534
; the queue reader must keep up with the generator on a busy 2-core machine
nice = 0
; its filters name no address: authorized for every prefix
prefixes = any
$SIGNALING
EOC

# status EXPR: python expression over s (status JSON) and mods.
counter_of() { # MODULE COUNTER
	status "((mods.get('janedoe/$1') or {}).get('runtime') or {}).get('counters', {}).get('$2', -1)"
}

module_module() { # NAME SOURCE: copies build/modules/SOURCE.wasm; sets MOD_PATH, MOD_HASH
	MOD_PATH=$WORK/$1.wasm
	cp "$B/modules/$2.wasm" "$MOD_PATH"
	MOD_HASH=sha256:$(sha256sum "$MOD_PATH" | cut -d' ' -f1)
}

setup() { # ID SOURCE PORT [TTL [PROPERTIES]]
	module_module "$1" "$2"
	printf 'SETUP %s NETSERV/0.1\nuser:janedoe\nurl:file://%s\nmodule-hash:%s\nfilter-proto:udp\nfilter-port:%s\nttl:%s\n%s\n' \
		"$1" "$MOD_PATH" "$MOD_HASH" "$3" "${4:-600}" "${5:+properties:$5
}" | ctl send -
}

remove() {
	printf 'REMOVE %s NETSERV/0.1\nuser:janedoe\n\n' "$1" | ctl send -
}

rules() { # our rules: in the router's tables (iptables and ip6tables), or the XDP program's
	if [ "$PLANE" = xdp ]; then
		status "s['node']['forwarding']['state']" | sed -n 's/.*rules:\([^;]*\).*/\1/p' |
			tr ',' '\n' | sed -n 's/^ *\([^ ].*\)$/netserv:\1/p'
		return
	fi
	{
		topo_exec router iptables-save -t mangle
		topo_exec router ip6tables-save -t mangle
	} 2>/dev/null | grep -- '--comment "\?netserv:' || true
}

# blast PORT COUNT [RATE [DST]]: sends COUNT datagrams of 64 bytes from
# sender to receiver (DST: its IPv4 address); prints how many arrived, and
# leaves the bytes received in $WORK/bytes.
blast() {
	local port=$1 n=$2 rate=${3:-5000} dst=${4:-$RCV} out=$WORK/count.$RANDOM
	: >"$out"
	ip netns exec "$(topo_ns receiver)" "$B/udpcount" -p "$port" -t 30 -i 700 -u >"$out" 2>&1 &
	local cpid=$!
	for _ in $(seq 1 100); do grep -q ready "$out" && break; sleep 0.02; done
	topo_exec sender "$B/udpblast" -d "$dst" -p "$port" -n "$n" -s 64 -r "$rate" >/dev/null
	kill -USR1 "$cpid" # the sender is done: from now on 700 ms without one ends the count
	wait "$cpid"
	grep -o 'bytes=[0-9]*' "$out" | cut -d= -f2 >"$WORK/bytes"
	grep -o 'received=[0-9]*' "$out" | cut -d= -f2
}

start_daemon || { not_ok "netservd starts in the router namespace"; tap_done; exit 1; }
ok "netservd starts in the router namespace with the $PLANE plane"
if [ "$PLANE" = xdp ]; then
	text=$(ctl status)
	check "status shows the AF_XDP plane, native mode on both interfaces" \
		grep -q "^forwarding: xdp ($IN native, $OUT native;" <<<"$text"
	check "one XDP program on each router interface" \
		test "$(xdp_progs "$IN")$(xdp_progs "$OUT")" = 11
	gist_rule() { topo_exec router iptables-save -t mangle | grep 'netserv:gist' | grep -q -- '--queue-num 270'; }
	check "GIST Queries are intercepted by the netfilter driver beside the plane (udp/270 to queue 270)" \
		gist_rule
fi

out=$(setup NetServ.apps.Counter_1.0 counter 5060)
check "SETUP of the counter for udp/5060 answers 200 active" grep -q '^state:active' <<<"$out"
check "one rule of ours steers udp/5060 to the publisher's queue" \
	test "$(rules | grep -c "netserv:janedoe/NetServ.apps.Counter_1.0")" -eq $PER
[ "$PLANE" = netfilter ] &&
	check "the rule queues to queue $QBASE with bypass" bash -c 'grep -q -- "--queue-num $0 --queue-bypass" <<<"$1"' "$QBASE" "$(rules)"

got=$(blast 5060 10000)
check "10 000 UDP packets to port 5060 all arrive (got $got)" test "$got" = 10000
c=$(counter_of NetServ.apps.Counter_1.0 packets)
check "the counter module counted 10 000 (got $c)" test "$c" = 10000
text=$(ctl status)
check "text status shows the module's packets and traps (10000, 0)" \
	grep -qE 'janedoe +NetServ\.apps\.Counter_1\.0 +active +[0-9]+s +10000 +0 ' <<<"$text"
check "text status shows the module's own counters" grep -qE '^ +counters: .*packets=10000' <<<"$text"
q=$(status "[m['runtime']['container_pid'] for m in s['modules']][0]")
ttl4=$(ttl_count iptables)
check "IPv4: all arrived with TTL 63 (got $ttl4)" test "${ttl4:-0}" -eq 10000
got=$(blast 5060 2000 5000 "$RCV6")
check "2 000 IPv6 UDP packets to port 5060 all arrive (got $got)" test "$got" = 2000
hl6=$(ttl_count ip6tables)
check "IPv6: all arrived with hop limit 63 (got $hl6)" test "${hl6:-0}" -eq 2000
c=$(counter_of NetServ.apps.Counter_1.0 packets)
check "the counter module counted them too (12 000: $c)" test "$c" = 12000
if [ "$PLANE" = xdp ]; then
	q=$(status "s['containers'][0]['queue']")
	x=$(status "s['containers'][0]['queue'].get('packets', -1)")
	check "they came to the container through its AF_XDP sockets (12 000: $q)" test "$x" = 12000
fi
got=$(blast 5061 1000)
check "1 000 packets to port 5061 arrive (got $got)" test "$got" = 1000
c=$(counter_of NetServ.apps.Counter_1.0 packets)
check "packets to 5061 bypass the container (counter still 12 000: $c)" test "$c" = 12000

out=$(setup NetServ.apps.Dropper_1.0 dropper 5062)
check "SETUP of the dropper for udp/5062 answers 200" grep -q '^NETSERV/0.1 200' <<<"$out"
got=$(blast 5062 1000)
check "with the dropper none of 1 000 packets arrive (got $got)" test "$got" = 0
out=$(remove NetServ.apps.Dropper_1.0)
check "REMOVE of the dropper answers 200" grep -q '^NETSERV/0.1 200' <<<"$out"
got=$(blast 5062 1000)
check "after REMOVE all 1 000 arrive again (got $got)" test "$got" = 1000
check "the dropper's rule is gone" test "$(rules | grep -c Dropper)" -eq 0

# NS_MODIFIED with a length change: 10 bytes appended to each payload.
out=$(setup NetServ.apps.Rewrite_1.0 rewrite 5064 600 resize=10)
check "SETUP of the rewriter (resize=10) for udp/5064 answers 200" grep -q '^NETSERV/0.1 200' <<<"$out"
got=$(blast 5064 1000)
bytes=$(cat "$WORK/bytes")
check "with the rewriter 1 000 packets arrive (got $got)" test "$got" = 1000
check "each 10 bytes longer: 74 000 bytes of payload (got $bytes)" test "$bytes" = 74000
remove NetServ.apps.Rewrite_1.0 >/dev/null

out=$(setup NetServ.apps.Short_1.0 passthrough 5063 2)
check "a module with ttl 2 has its rule" test "$(rules | grep -c Short)" -eq $PER
gone=no
for _ in $(seq 1 50); do
	[ "$(rules | grep -c Short)" -eq 0 ] && { gone=yes; break; }
	sleep 0.1
done
check "TTL expiry removes its rule" test "$gone" = yes

# --- the container dies while traffic flows ------------------------------------
pid=$(status "mods['janedoe/NetServ.apps.Counter_1.0']['runtime']['container_pid']")
out=$WORK/kill.count
: >"$out"
ip netns exec "$(topo_ns receiver)" "$B/udpcount" -p 5060 -t 30 -i 1000 >"$out" 2>&1 &
cpid=$!
for _ in $(seq 1 100); do grep -q ready "$out" && break; sleep 0.02; done
c0=$(counter_of NetServ.apps.Counter_1.0 packets)
topo_exec sender "$B/udpblast" -d "$RCV" -p 5060 -n 20000 -s 64 -r 10000 >/dev/null &
bpid=$!
# Kill it while traffic flows: once its counter has moved by 1 000 packets.
flowing() { [ "$(counter_of NetServ.apps.Counter_1.0 packets)" -ge $((c0 + 1000)) ]; }
check "traffic flows through the container before the kill" wait_until 2 flowing
t0=$(date +%s%N)
kill -KILL "$pid"
back=
while [ $((($(date +%s%N) - t0) / 1000000)) -lt 3000 ]; do
	np=$(status "((mods.get('janedoe/NetServ.apps.Counter_1.0') or {}).get('runtime') or {}).get('container_pid', 0)" 2>/dev/null)
	if [ -n "$np" ] && [ "$np" != 0 ] && [ "$np" != "$pid" ]; then
		back=$((($(date +%s%N) - t0) / 1000000))
		break
	fi
	sleep 0.02
done
wait "$bpid"
wait "$cpid"
got=$(grep -o 'received=[0-9]*' "$out" | cut -d= -f2)
diag "container killed: back with its modules after ${back:-never} ms; $got of 20000 packets arrived"
check "the container is back with its modules within 1 s (${back:-never} ms)" \
	test -n "$back" -a "${back:-9999}" -lt 1000
if [ "$PLANE" = xdp ]; then
	# netservd empties the dead container's slot when it learns of the death:
	# at 10 000 packets/s, 50 ms are 500 packets.
	# What the dead container had taken from the driver and not yet sent is
	# lost however fast the slot empties: netservd logs it.
	waiting=$(sed -n 's/.*slot [0-9]* emptied.* \([0-9]*\) frames were waiting.*/\1/p' \
		"$WORK/netservd.log" | tail -n 1)
	lost=$((20000 - ${got:-0}))
	diag "container killed: $lost of 20000 lost, ${waiting:-?} of them in its receive ring"
	check "traffic resumes through the kernel within 50 ms (lost $lost, ${waiting:-?} in its ring)" \
		test -n "$waiting" -a $((lost - ${waiting:-0})) -le 500
else
	check "packets kept flowing while it was down (>= 98% arrived: $got)" test "${got:-0}" -ge 19600
fi
# The restarted container takes its traffic only once its modules are back
# (its queue parked, its slot empty until then: the kernel forwards): every
# packet it received went through the Counter, reinstalled with a count of 0.
qp=$(status "next(c for c in s['containers'] if c.get('publisher') == 'janedoe').get('queue', {}).get('packets', -1)")
cp=$(counter_of NetServ.apps.Counter_1.0 packets)
diag "restarted container: $qp packets received, $cp counted by its module"
check "the restarted container got its traffic only once its module was back ($qp received, $cp counted)" \
	test "${qp:--1}" -gt 0 -a "${qp:--1}" = "${cp:--2}"
check "netservd logs when the container takes its traffic (at its start and its restart)" \
	test "$(grep -c "container janedoe takes its traffic" "$WORK/netservd.log")" -ge 2
c0=$(counter_of NetServ.apps.Counter_1.0 packets)
blast 5060 1000 >/dev/null
c1=$(counter_of NetServ.apps.Counter_1.0 packets)
check "the restarted container counts again ($c0 -> $c1)" test $((c1 - c0)) -eq 1000

# --- the container stalls (AF_XDP: netservd's watchdog) -------------------------
# Stopped for 400 ms under 10 000 packets/s: its receive ring (2048 frames)
# would overflow after ~200 ms; the watchdog empties its slot after 150 ms
# without progress (stall_ms here), the kernel forwards meanwhile, and the
# slot comes back once the container has drained its ring.
if [ "$PLANE" = xdp ]; then
	pid=$(status "mods['janedoe/NetServ.apps.Counter_1.0']['runtime']['container_pid']")
	out=$WORK/stall.count
	: >"$out"
	ip netns exec "$(topo_ns receiver)" "$B/udpcount" -p 5060 -t 30 -i 1000 >"$out" 2>&1 &
	cpid=$!
	for _ in $(seq 1 100); do grep -q ready "$out" && break; sleep 0.02; done
	c0=$(counter_of NetServ.apps.Counter_1.0 packets)
	topo_exec sender "$B/udpblast" -d "$RCV" -p 5060 -n 20000 -s 64 -r 10000 >/dev/null &
	bpid=$!
	check "traffic flows through the container before the stall" wait_until 2 flowing
	kill -STOP "$pid"
	sleep 0.4 # the stall's length, not a wait for a condition
	kill -CONT "$pid"
	wait "$bpid"
	wait "$cpid"
	got=$(grep -o 'received=[0-9]*' "$out" | cut -d= -f2)
	diag "container stopped 400 ms: $got of 20000 arrived"
	check "a 400 ms stall loses nothing (>= 99.5% arrived: $got)" test "${got:-0}" -ge 19900
	check "the watchdog emptied the stalled slot" grep -q "the container has read none for" \
		"$WORK/netservd.log"
	check "status counts the stall" grep -q "stalls [1-9]" <<<"$(ctl status)"
	check "the slot came back once drained" grep -q "drained: its traffic goes to the container again" \
		"$WORK/netservd.log"
	check "the container is the same (not restarted)" test "$(status "mods['janedoe/NetServ.apps.Counter_1.0']['runtime']['container_pid']")" = "$pid"
	c0=$(counter_of NetServ.apps.Counter_1.0 packets)
	blast 5060 1000 >/dev/null
	c1=$(counter_of NetServ.apps.Counter_1.0 packets)
	check "after the stall the container counts again ($c0 -> $c1)" test $((c1 - c0)) -eq 1000
fi

# --- netservd dies and restarts -------------------------------------------------
cpids=$(status "' '.join(str(m['runtime']['container_pid']) for m in s['modules'] if (m.get('runtime') or {}).get('container_pid'))")
kill -KILL "$DPID"
wait "$DPID" 2>/dev/null
DPID=
# The containers follow netservd (their parent death signal); on the AF_XDP
# plane a frame redirected into a dying container's ring is lost, so the
# check begins once they are gone (what that window loses: docs/xdp.md).
containers_gone() { for p in $cpids; do kill -0 "$p" 2>/dev/null && return 1; done; return 0; }
check "the containers end with netservd" wait_until 5 containers_gone
got=$(blast 5060 1000)
check "while netservd is down, traffic bypasses the queue (got $got of 1000)" test "$got" = 1000
start_daemon || not_ok "netservd restarts"
check "after a restart the module is active again" \
	test "$(status "mods['janedoe/NetServ.apps.Counter_1.0']['state']")" = active
check "after a restart its rule is there exactly once per family" \
	test "$(rules | grep -c "netserv:janedoe/NetServ.apps.Counter_1.0")" -eq $PER
if [ "$PLANE" = xdp ]; then
	check "after a restart netservd replaced its old programs" \
		grep -q "replaced 2 XDP program(s) of an earlier netservd" "$WORK/netservd.log"
	check "after a restart there is one XDP program on each interface, not two" \
		test "$(xdp_progs "$IN")$(xdp_progs "$OUT")" = 11
	check "after a restart the GIST rule is in netfilter once per family, one jump into its chain" \
		test "$(topo_exec router iptables-save -t mangle | grep -c -e 'netserv:gist' -e "-A FORWARD -j $PREFIX-FWD")/$(topo_exec router ip6tables-save -t mangle | grep -c 'netserv:gist')" = 2/1
else
	check "after a restart there is one jump into our chain" \
		test "$(topo_exec router iptables-save -t mangle | grep -c -- "-A FORWARD -j $PREFIX-FWD")" -eq 1
fi
got=$(blast 5060 1000)
c=$(counter_of NetServ.apps.Counter_1.0 packets)
check "traffic flows through the restored module ($got arrived, counter $c)" \
	test "$got" = 1000 -a "$c" = 1000

# --- on the AF_XDP plane: on-path signaling and a second publisher ---------------
if [ "$PLANE" = xdp ]; then
	# A SETUP the sender signals toward the receiver, not addressed to the
	# router: its netservd intercepts the Query (the netfilter rule sees
	# what the XDP program passed) and installs the module.
	module_module NetServ.apps.OnPath_1.0 passthrough
	out=$(topo_exec sender env "NETSERV_KEY=$NETSERV_KEY" "$B/netserv" setup --to "$RCV" \
		--module NetServ.apps.OnPath_1.0 --user janedoe --url "file://$MOD_PATH" \
		--hash "$MOD_HASH" --filter-proto udp --filter-port 5066 --timeout 20 2>&1)
	check "a SETUP signaled toward the receiver is intercepted by the router and answers 200" \
		grep -q '^  1\. pp-router .*SETUP 200' <<<"$out"
	check "... and the module is active there" \
		test "$(status "(mods.get('janedoe/NetServ.apps.OnPath_1.0') or {}).get('state')")" = active
	remove NetServ.apps.OnPath_1.0 >/dev/null

	# bob, added by a reload: janedoe's container holds the device queue,
	# so bob's gets no AF_XDP sockets and his traffic takes the NFQUEUE
	# path through netfilter beside the plane.
	"$B/netserv" keygen -d "$WORK" bob >/dev/null && cp "$WORK/bob.pub" "$WORK/keys/"
	printf '[publisher bob]\nuid = 65533\nnice = 0\nprefixes = any\n' >>"$WORK/netservd.conf"
	kill -HUP "$DPID"
	bob_up() { grep -q "container bob: AF_XDP sockets: .*NFQUEUE path" "$WORK/netservd.log"; }
	check "bob's container gets no AF_XDP sockets and takes the NFQUEUE path" wait_until 10 bob_up
	module_module NetServ.apps.Bob_1.0 counter
	out=$(printf 'SETUP NetServ.apps.Bob_1.0 NETSERV/0.1\nuser:bob\nurl:file://%s\nmodule-hash:%s\nfilter-proto:udp\nfilter-port:5070\nttl:600\n\n' \
		"$MOD_PATH" "$MOD_HASH" | NETSERV_KEY=$WORK/bob.key ctl send -)
	check "bob's SETUP of a counter for udp/5070 answers 200 active" grep -q '^state:active' <<<"$out"
	check "bob's filter is a netfilter NFQUEUE rule" \
		test "$(topo_exec router iptables-save -t mangle | grep -c -- 'netserv:bob/NetServ.apps.Bob_1.0.*NFQUEUE')" -ge 1
	got=$(blast 5070 2000)
	c=$(status "((mods.get('bob/NetServ.apps.Bob_1.0') or {}).get('runtime') or {}).get('counters', {}).get('packets', -1)")
	check "bob's 2 000 datagrams all arrive, counted by his module ($got arrived, counter $c)" \
		test "$got" = 2000 -a "$c" = 2000
	st=$(status "s['node']['forwarding']['state']")
	check "the status shows janedoe on af_xdp, bob on nfqueue ($st)" \
		grep -q "paths: .*janedoe af_xdp, bob nfqueue" <<<"$st"
	x0=$(status "[c['queue'] for c in s['containers'] if 'rx_ring_full' in (c.get('queue') or {})][0]['packets']")
	got=$(blast 5060 1000)
	c=$(counter_of NetServ.apps.Counter_1.0 packets)
	x1=$(status "[c['queue'] for c in s['containers'] if 'rx_ring_full' in (c.get('queue') or {})][0]['packets']")
	check "janedoe's traffic is unaffected ($got arrived, counter $c, AF_XDP rx $x0 -> $x1)" \
		test "$got" = 1000 -a "$c" = 2000 -a "$x1" -eq $((x0 + 1000))

	# netservd dies and restarts with both publishers: the restored rules go
	# first to the program, then the publisher whose container finds the
	# device queue taken (whichever comes up second) has its rules moved to
	# netfilter: each rule once, in one place; both count again.
	kill -KILL "$DPID"
	wait "$DPID" 2>/dev/null
	DPID=
	start_daemon || not_ok "netservd restarts with two publishers"
	paths() { status "s['node']['forwarding']['state']" | sed -n 's/.*paths: \([^;]*\);.*/\1/p'; }
	two_paths() {
		[ "$(status "sorted(m['state'] for m in s['modules'])")" = "['active', 'active']" ] &&
			paths | grep -Eq '(janedoe|bob) af_xdp' && paths | grep -Eq '(janedoe|bob) nfqueue'
	}
	check "after a restart one publisher is on af_xdp, the other on nfqueue ($(paths))" wait_until 10 two_paths
	nq=$(paths | grep -Eo '(janedoe|bob) nfqueue' | cut -d' ' -f1)
	n4=$(topo_exec router iptables-save -t mangle | grep -c -e 'netserv:janedoe/' -e 'netserv:bob/')
	n6=$(topo_exec router ip6tables-save -t mangle | grep -c "netserv:$nq/")
	check "... the NFQUEUE one's rule is in netfilter once per family, the other's not at all ($nq: $n4, $n6)" \
		test "$n4/$n6/$(topo_exec router iptables-save -t mangle | grep -c "netserv:$nq/")" = 1/1/1
	got=$(blast 5060 500)
	c=$(counter_of NetServ.apps.Counter_1.0 packets)
	got2=$(blast 5070 500)
	c2=$(status "((mods.get('bob/NetServ.apps.Bob_1.0') or {}).get('runtime') or {}).get('counters', {}).get('packets', -1)")
	check "... both count again (janedoe $got arrived, counted $c; bob $got2, $c2)" \
		test "$got/$c/$got2/$c2" = 500/500/500/500
	out=$(printf 'REMOVE NetServ.apps.Bob_1.0 NETSERV/0.1\nuser:bob\n\n' | NETSERV_KEY=$WORK/bob.key ctl send -)
	check "REMOVE of bob's counter answers 200, and its netfilter rule goes" \
		test "$(grep -c '^NETSERV/0.1 200' <<<"$out")/$(topo_exec router iptables-save -t mangle | grep -c netserv:bob)" = 1/0
fi

out=$(remove NetServ.apps.Counter_1.0)
check "REMOVE of the counter answers 200" grep -q '^NETSERV/0.1 200' <<<"$out"
check "no rule of ours is left but GIST's ($PLANE)" test -z "$(rules | grep -v netserv:gist)"
kill -TERM "$DPID"
rc=0
wait "$DPID" || rc=$?
DPID=
check "netservd exits cleanly (status $rc)" test "$rc" -eq 0
if [ "$PLANE" = xdp ]; then
	check "at exit no XDP program is left on the router's interfaces" \
		test "$(xdp_progs "$IN")$(xdp_progs "$OUT")" = 00
else
	check "at exit our chains are gone" \
		test "$(topo_exec router iptables-save -t mangle | grep -c "$PREFIX")" -eq 0
fi

tap_done
