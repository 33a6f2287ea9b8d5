#!/usr/bin/env bash
# Attack tests on the packet path (docs/security.md): sender -- router --
# receiver in network namespaces, netservd in the router with the netfilter
# plane and the test build of the container (netserv-container-testing,
# which misbehaves on "NSTEST" packets). Checks that a publisher's container
# receives no packet outside its filters; that crafted packets with a foreign
# source address are refused and counted; that a container making a
# forbidden system call is killed by seccomp and restarted, and only it; what
# a container keeps of its privileges; and that two publishers' containers,
# each in its own network namespace, both serve port 80.
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

WORK=$(mktemp -d /tmp/netserv-sp.XXXXXX)
chmod 0711 "$WORK"
SOCK=$WORK/admin.sock
DPID=
NETNS_NAMES=()
cleanup_sp() {
	[ -n "$DPID" ] && kill -KILL "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	for n in "${NETNS_NAMES[@]}"; do ip netns del "$n" 2>/dev/null; done
	topo_destroy
	[ -n "${KEEP_LOG:-}" ] && cp "$WORK/netservd.log" "$KEEP_LOG"
	rm -rf "$WORK"
}
trap cleanup_sp EXIT

topo_create sender router receiver || { not_ok "topology"; tap_done; exit 1; }
RCV=$(topo_addr receiver)
SND=$(topo_addr sender)
PREFIX=NS${TOPO_TAG}
QBASE=$((2000 + RANDOM % 20000))
CG=netserv-sp-$TOPO_TAG
NET=$((100 + RANDOM % 100)) # 10.$NET.{1,2}.0/24 for the namespaces
NETNS_NAMES=("$CG-alice" "$CG-carol")

mkdir -p "$WORK/keys"
for u in janedoe bob alice carol; do
	"$B/netserv" keygen -d "$WORK" "$u" >/dev/null && cp "$WORK/$u.pub" "$WORK/keys/"
done

cat >"$WORK/netservd.conf" <<EOC
[node]
id = sp-router
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
[publisher janedoe]
uid = 65534
prefixes = $RCV/32
[publisher bob]
uid = 65533
prefixes = $SND/32
[publisher alice]
uid = 65532
listen_ports = tcp:80
netns = yes
netns_address = 10.$NET.1.2/24
netns_gateway = 10.$NET.1.1
[publisher carol]
uid = 65531
listen_ports = tcp:80
netns = yes
netns_address = 10.$NET.2.2/24
netns_gateway = 10.$NET.2.1
EOC

as() { # USER: ctl send, signed with USER's key
	NETSERV_KEY=$WORK/$1.key ctl send -
}

# setup USER ID SOURCE PORT [HEADER LINES]: deploys build/modules/SOURCE.wasm
# for udp/PORT toward the receiver (no filter when PORT is "").
setup() {
	local path=$WORK/$2.wasm hash
	cp "$B/modules/$3.wasm" "$path"
	hash=sha256:$(sha256sum "$path" | cut -d' ' -f1)
	{
		printf 'SETUP %s NETSERV/0.1\nuser:%s\nurl:file://%s\nmodule-hash:%s\n' "$2" "$1" \
			"$path" "$hash"
		[ -n "$4" ] && printf 'filter-proto:udp\nfilter-port:%s\nfilter-dst:%s\n' "$4" "$RCV"
		[ -n "${5:-}" ] && printf '%s\n' "$5"
		printf '\n'
	} | as "$1"
}

# blast PORT COUNT: COUNT datagrams sender -> receiver:PORT; prints how many arrived.
blast() {
	local out=$WORK/count.$RANDOM
	ip netns exec "$(topo_ns receiver)" "$B/udpcount" -p "$1" -t 30 -i 700 >"$out" 2>&1 &
	local cpid=$!
	for _ in $(seq 1 100); do grep -q ready "$out" 2>/dev/null && break; sleep 0.02; done
	topo_exec sender "$B/udpblast" -d "$RCV" -p "$1" -n "$2" -s 64 -r 10000 >/dev/null
	wait "$cpid"
	grep -o 'received=[0-9]*' "$out" | cut -d= -f2
}

# send_text PORT TEXT: one UDP datagram sender -> receiver:PORT.
send_text() {
	topo_exec sender python3 -c "import socket,sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(sys.argv[2].encode(), (sys.argv[1], int(sys.argv[3])))" "$RCV" "$2" "$1"
}

cap_eff() { awk '/^CapEff:/ { print $2 }' "/proc/$1/status"; }

start_daemon || { not_ok "netservd starts in the router"; tap_done; exit 1; }
ok "netservd starts in the router with four publishers (two in network namespaces)"

# --- each container sees only its own filters' packets -----------------------------
out=$(setup janedoe NetServ.apps.JaneCounter_1 counter 5060)
check "janedoe's counter for udp/5060 answers 200" grep -q '^NETSERV/0.1 200' <<<"$out"
# bob holds the sender's address: his filter names it as the source.
out=$(setup bob NetServ.apps.BobCounter_1 counter "" "filter-proto:udp
filter-port:5070
filter-src:$SND")
check "bob's counter for udp/5070 from $SND answers 200" grep -q '^NETSERV/0.1 200' <<<"$out"
out=$(setup bob NetServ.apps.Steal_1 counter 5060)
check "bob's filter on janedoe's traffic (dst $RCV) answers 403" grep -q '^NETSERV/0.1 403' <<<"$out"
out=$(setup bob NetServ.apps.Wide_1 counter "" "filter-proto:udp
filter-port:5060")
check "bob's filter for udp/5060 toward any address answers 403" grep -q '^NETSERV/0.1 403' <<<"$out"
j=$(blast 5060 1000)
b=$(blast 5070 500)
n=$(blast 5080 300)
check "all traffic arrives (5060: $j/1000, 5070: $b/500, 5080: $n/300)" \
	test "$j" = 1000 -a "$b" = 500 -a "$n" = 300
c=$(rt janedoe/NetServ.apps.JaneCounter_1 packets)
check "janedoe's module saw exactly her 1000 packets ($c)" test "$c" = 1000
c=$(rt bob/NetServ.apps.BobCounter_1 packets)
check "bob's module saw exactly his 500 packets ($c)" test "$c" = 500
jpid=$(rt janedoe/NetServ.apps.JaneCounter_1 container_pid)
bpid=$(rt bob/NetServ.apps.BobCounter_1 container_pid)
check "a container with a packet queue keeps no capability (its queue is netservd's; $(cap_eff "$jpid"))" \
	test "$(cap_eff "$jpid")" = 0000000000000000
check "its seccomp filter is in force" grep -q '^Seccomp:[[:space:]]*2' "/proc/$jpid/status"

# --- crafted packets ------------------------------------------------------------------
out=$(setup janedoe NetServ.apps.Spoof_1 spoofer 5061 "properties:src=198.51.100.1,dst=$SND")
check "a module crafting packets from 198.51.100.1 installs (200)" grep -q '^NETSERV/0.1 200' <<<"$out"
blast 5061 100 >/dev/null
c=$(rt janedoe/NetServ.apps.Spoof_1 "" refused)
check "its 100 crafted packets with a foreign source are refused ($c)" test "$c" = 100
c=$(rt janedoe/NetServ.apps.Spoof_1 sends_refused)
check "... and the node counts them (sends_refused $c)" test "$c" = 100
out=$(setup janedoe NetServ.apps.Own_1 spoofer 5062 "properties:src=$RCV,dst=$SND")
blast 5062 50 >/dev/null
c=$(rt janedoe/NetServ.apps.Own_1 "" sent)
check "crafted packets from inside her prefixes are sent ($c of 50)" test "$c" = 50

# --- a forbidden system call -------------------------------------------------------------
starts=$(grep -c "container janedoe ready" "$WORK/netservd.log")
send_text 5060 "NSTEST exec"
back=
for _ in $(seq 1 150); do
	np=$(rt janedoe/NetServ.apps.JaneCounter_1 container_pid 2>/dev/null)
	if [ -n "$np" ] && [ "$np" != -1 ] && [ "$np" != "$jpid" ]; then back=$np; break; fi
	sleep 0.02
done
check "a container that calls execve is killed by seccomp (SIGSYS)" \
	grep -q "container janedoe (pid $jpid) died: .*killed by signal 31 (SYS)" "$WORK/netservd.log"
check "... and restarted (new pid ${back:-none})" test -n "$back"
check "... with its modules (JaneCounter active)" \
	test "$(status "mods['janedoe/NetServ.apps.JaneCounter_1']['state']")" = active
check "the other publisher's container is untouched (pid $bpid)" \
	test "$(rt bob/NetServ.apps.BobCounter_1 container_pid)" = "$bpid"
restarted() { [ "$(grep -c "container janedoe ready" "$WORK/netservd.log")" -gt "$starts" ]; }
check "... and ready again (its log line)" wait_until 3 restarted
j=$(blast 5060 500)
c=$(rt janedoe/NetServ.apps.JaneCounter_1 packets)
check "traffic flows through the restarted container ($j arrived, counter $c)" \
	test "$j" = 500 -a "$c" = 500

# --- two network namespaces, both on port 80 -------------------------------------------------
for u in alice carol; do
	out=$(setup $u NetServ.apps.Web_1 passthrough "" "listen:tcp:80")
	check "$u's module listening on tcp:80 answers 200" grep -q '^NETSERV/0.1 200' <<<"$out"
done
apid=$(rt alice/NetServ.apps.Web_1 container_pid)
cpid=$(rt carol/NetServ.apps.Web_1 container_pid)
check "alice's and carol's containers are in network namespaces of their own" \
	test "$(readlink "/proc/$apid/ns/net")" != "$(readlink "/proc/$cpid/ns/net")" -a \
	"$(readlink "/proc/$apid/ns/net")" != "$(readlink /proc/$$/ns/net)"
fetch() { # NODE ADDRESS: the line served on ADDRESS:80, seen from NODE
	topo_exec "$1" timeout 5 bash -c "exec 3<>/dev/tcp/$2/80 && head -1 <&3" 2>/dev/null
}
a=$(fetch router 10.$NET.1.2)
c=$(fetch router 10.$NET.2.2)
check "alice's container serves 10.$NET.1.2:80 ('$a')" test "$a" = "netserv alice NetServ.apps.Web_1 tcp:80"
check "carol's container serves 10.$NET.2.2:80 ('$c')" test "$c" = "netserv carol NetServ.apps.Web_1 tcp:80"
a=$(fetch sender 10.$NET.1.2)
check "a host on the path reaches alice's port 80 through the router ('$a')" \
	test "$a" = "netserv alice NetServ.apps.Web_1 tcp:80"
check "a container in its own namespace keeps no CAP_NET_BIND_SERVICE ($(cap_eff "$apid"))" \
	test "$(cap_eff "$apid")" = 0000000000000000

kill -TERM "$DPID"
wait "$DPID"
rc=$?
DPID=
check "netservd exits cleanly (status $rc)" test "$rc" -eq 0
check "at exit the namespaces are gone" bash -c '! ip netns list | grep -q "$0"' "$CG-"

tap_done
