# The sidecar's topology (docs/openflow.md), for tests/daemon/test_sidecar.sh,
# test_sidecar_spread.sh, test_sidecar_kill.sh, bench/sidecar and the demo:
# network namespaces
#
#   snd --- [ OVS br0, userspace datapath, in namespace sw ] --- rcv
#             |port 3      |port 4      |port 5
#             n1           n2           n3        (NetServ nodes; n4 on port 6
#                                                   with sc_create 4)
#
# one L2 segment 10.77.0.0/16 (snd .0.1 and, for flows of many sources,
# 10.77.1-2.1-250 (sc_sources), rcv .0.2, node k .0.1k, MAC
# 02:77:00:00:00:1k); n1 also has an out-of-band management link to sw
# (192.168.77.2 <-> .1) on which its netservd, driver = openflow, is the
# switch's controller, and by default one of the nodes (local_node = n1) and
# the signaling node (SC_LOCAL, SC_OF_NODES, SC_SIG_PORT change that). Every node is a netservd with the netfilter plane (hooks
# forward) that routes the steered packets back out of the same interface
# (ip_forward on, send_redirects off). ovsdb-server and ovs-vswitchd run with
# their own db, run dir and logs in $SC_WORK (no systemd).
#
#   SC_BUILD=build SC_WORK=$(mktemp -d)
#   sc_create N            namespaces, switch, N nodes' links (1..4)
#   sc_start_node K [EXTRA] netservd on node K (n1: the controller)
#   sc_stop_node K         SIGTERM and wait
#   sc_kill_node K...      SIGKILL and reap
#   sc_group K             node K's [sidecar] section (all nodes one group)
#   sc_destroy             everything (safe to call twice, from a trap)
#   sc_test_setup TAG [PIDVAR...]  a test's head: skips unless root with Open
#                          vSwitch, SC_WORK=/tmp/netserv-TAG.XXXXXX, and an EXIT
#                          trap that stops the processes whose pids are in the
#                          variables PIDVAR, then sc_destroy
#   sc_in NS CMD...        run in namespace NS (snd, rcv, sw, n1, ...)
#   sc_ctl K ARGS...       netserv ctl on node K's admin socket
#   sc_ofctl ARGS...       ovs-ofctl -O OpenFlow13 in sw
# shellcheck shell=bash

SC_TAG=${SC_TAG:-$((RANDOM % 9000 + 1000))}
SC_NODES=0
SC_SIG_PORT=3
declare -A SC_PID
SC_OVS_UP=no

sc_ns() { echo "sc$SC_TAG-$1"; }
sc_in() {
	local n=$1
	shift
	ip netns exec "$(sc_ns "$n")" "$@"
}
sc_mac() { printf '02:77:00:00:00:%02x' "$((0x10 + $1))"; }
sc_addr() {
	case $1 in
	snd) echo 10.77.0.1 ;;
	rcv) echo 10.77.0.2 ;;
	n*) echo "10.77.0.1${1#n}" ;;
	esac
}
sc_vsctl() { sc_in sw ovs-vsctl --db="unix:$SC_WORK/db.sock" --timeout=10 "$@"; }
sc_ofctl() { sc_in sw ovs-ofctl -O OpenFlow13 "$@"; }
sc_ctl() {
	local k=$1
	shift
	"$SC_BUILD/netserv" ctl --socket "$SC_WORK/n$k/admin.sock" "$@"
}

sc__pid_of() { [ -s "$1" ] && head -n 1 "$1" | grep -E '^[0-9]+$'; }

# A veth from sw (named $2 there, a port of br0 with ofport $3) to eth0 in $1.
sc__link() {
	local ns=$1 swif=$2 port=$3 mac=${4:-}
	ip link add "$swif" netns "$(sc_ns sw)" type veth peer name eth0 netns "$(sc_ns "$ns")" ||
		return 1
	[ -n "$mac" ] && sc_in "$ns" ip link set eth0 address "$mac"
	sc_in "$ns" ip addr add "$(sc_addr "$ns")/16" dev eth0
	sc_in "$ns" ip link set eth0 up
	sc_in "$ns" ip link set lo up
	sc_in sw ip link set "$swif" up
	# The userspace datapath and veth offloads: checksums done in software.
	sc_in "$ns" ethtool -K eth0 tx off tso off gso off >/dev/null 2>&1
	sc_in sw ethtool -K "$swif" tx off tso off gso off gro off >/dev/null 2>&1
	sc_vsctl add-port br0 "$swif" -- set interface "$swif" ofport_request="$port"
}

sc_create() {
	local n=$1 k
	export OVS_RUNDIR=$SC_WORK OVS_LOGDIR=$SC_WORK OVS_DBDIR=$SC_WORK OVS_SYSCONFDIR=$SC_WORK
	for ns in sw snd rcv $(seq -f 'n%g' 1 "$n"); do
		ip netns add "$(sc_ns "$ns")" || return 1
		sc_in "$ns" ip link set lo up
	done
	SC_NODES=$n
	ovsdb-tool create "$SC_WORK/conf.db" /usr/share/openvswitch/vswitch.ovsschema &&
		sc_in sw ovsdb-server "$SC_WORK/conf.db" --remote="punix:$SC_WORK/db.sock" \
			--pidfile="$SC_WORK/ovsdb.pid" --unixctl="$SC_WORK/ovsdb.ctl" \
			--log-file="$SC_WORK/ovsdb.log" --detach --no-chdir 2>/dev/null &&
		SC_OVS_UP=yes && sc_vsctl --no-wait init &&
		sc_in sw ovs-vswitchd "unix:$SC_WORK/db.sock" --pidfile="$SC_WORK/vswitchd.pid" \
			--unixctl="$SC_WORK/vswitchd.ctl" --log-file="$SC_WORK/vswitchd.log" \
			--detach --no-chdir 2>/dev/null || return 1
	sc_vsctl add-br br0 -- set bridge br0 datapath_type=netdev fail-mode=secure \
		protocols=OpenFlow13 other-config:datapath-id=00000000000051de \
		other-config:disable-in-band=true || return 1
	sc__link snd "s$SC_TAG-snd" 1 && sc__link rcv "s$SC_TAG-rcv" 2 || return 1
	for k in $(seq 1 "$n"); do
		sc__link "n$k" "s$SC_TAG-n$k" $((k + 2)) "$(sc_mac "$k")" || return 1
		sc_in "n$k" sysctl -q -w net.ipv4.ip_forward=1 net.ipv4.conf.all.send_redirects=0 \
			net.ipv4.conf.default.send_redirects=0 net.ipv4.conf.eth0.send_redirects=0
	done
	# n1's management link: the switch's controller connection.
	ip link add "m$SC_TAG" netns "$(sc_ns sw)" type veth peer name mgmt0 \
		netns "$(sc_ns n1)" || return 1
	sc_in sw ip addr add 192.168.77.1/30 dev "m$SC_TAG"
	sc_in sw ip link set "m$SC_TAG" up
	sc_in n1 ip addr add 192.168.77.2/30 dev mgmt0
	sc_in n1 ip link set mgmt0 up
	sc_vsctl set-controller br0 tcp:192.168.77.2:6653 -- set controller br0 max_backoff=1000 \
		inactivity_probe=3000
}

# sc_sources N: N more source addresses on snd (10.77.1.1, ...), for flows
# that the switch's select group tells apart (see docs/openflow.md: Open
# vSwitch's default group hash leaves UDP ports out).
sc_sources() {
	local i
	for ((i = 0; i < $1; i++)); do
		echo "addr add 10.77.$((1 + i / 250)).$((1 + i % 250))/32 dev eth0"
	done | sc_in snd ip -batch -
}

# sc_warm: the sender and each node resolve the receiver's MAC (and it
# theirs) before traffic, so that no burst starts behind an ARP queue.
sc_warm() {
	local k
	sc_in snd ping -c 1 -W 2 "$(sc_addr rcv)" >/dev/null 2>&1
	for k in $(seq 1 "$SC_NODES"); do
		sc_in "n$k" ping -c 1 -W 2 "$(sc_addr rcv)" >/dev/null 2>&1
	done
	return 0
}

# sc_restart_switch: ovs-vswitchd exits (its flows go with it) and starts
# again from the database (bridge, ports, controller).
sc_restart_switch() {
	local p
	p=$(sc__pid_of "$SC_WORK/vswitchd.pid")
	timeout 10 ovs-appctl -t "$SC_WORK/vswitchd.ctl" exit >/dev/null 2>&1
	sc__gone() { [ -z "$p" ] || ! kill -0 "$p" 2>/dev/null; }
	wait_until 10 sc__gone || return 1
	sc_in sw ovs-vswitchd "unix:$SC_WORK/db.sock" --pidfile="$SC_WORK/vswitchd.pid" \
		--unixctl="$SC_WORK/vswitchd.ctl" --log-file="$SC_WORK/vswitchd.log" \
		--detach --no-chdir 2>/dev/null
}

# The node list of [openflow] nodes for the first N nodes.
sc_node_list() {
	local k list=
	for k in $(seq 1 "${1:-$SC_NODES}"); do
		list+="${list:+, }n$k:$((k + 2)):$(sc_mac "$k")"
	done
	echo "$list"
}

# sc_start_node K [EXTRA]: writes node K's netservd.conf (EXTRA appended) and
# starts it; waits until its admin socket answers. For n1: SC_OF_NODES (the
# [openflow] nodes, default all) and SC_LOCAL (local_node, default n1; empty:
# the controller is not a node).
sc_start_node() {
	local k=$1 extra=${2:-} d=$SC_WORK/n$1 driver=netfilter of=
	mkdir -p "$d"
	chmod 0711 "$SC_WORK" "$d"
	if [ "$k" = 1 ]; then
		driver=openflow
		of="[openflow]
listen = 192.168.77.2:6653
signaling_port = $SC_SIG_PORT
nodes = ${SC_OF_NODES:-$(sc_node_list)}
local_node = ${SC_LOCAL-n1}
echo_interval_ms = 500
echo_timeout_ms = 2000
[signaling]
enable = yes
t1_ms = 100
t2_ms = 800
response_timeout = 20"
	fi
	cat >"$d/netservd.conf" <<EOC
[node]
id = n$k
state_dir = $d/state
admin_socket = $d/admin.sock
[log]
level = info
[fetch]
protocols = http,file
[forwarding]
driver = $driver
chain_prefix = SC$SC_TAG
hooks = forward
[containers]
cgroup = netserv-sc-$SC_TAG-n$k
pool_size = 0
heartbeat_ms = 500
[publisher janedoe]
uid = 65534
prefixes = any
[security]
require_signatures = yes
keys_dir = $SC_WORK/keys
$of
$extra
EOC
	nsenter --net="/var/run/netns/$(sc_ns "n$k")" "$SC_BUILD/netservd" -c "$d/netservd.conf" \
		>>"$d/log" 2>&1 &
	SC_PID[$k]=$!
	sc__up() { sc_ctl "$k" status >/dev/null 2>&1 || ! kill -0 "${SC_PID[$k]}" 2>/dev/null; }
	wait_until 10 sc__up && sc_ctl "$k" status >/dev/null 2>&1 && return 0
	echo "netservd on n$k did not start:" >&2
	tail -n 20 "$d/log" >&2
	return 1
}

# sc_group K: a [sidecar] section for node K (sc_start_node's EXTRA): group
# sc$SC_TAG of n1..n$SC_NODES over their eth0 addresses, udp/7400, key
# $SC_WORK/group.key (mode 0600, made on first use), heartbeat 100 ms, dead
# after 500 ms, answers awaited 15 s (modules compiled on every node at once
# on a shared machine).
sc_group() {
	local k peers=
	if [ ! -s "$SC_WORK/group.key" ]; then
		(umask 077 && head -c 32 /dev/urandom >"$SC_WORK/group.key")
	fi
	for k in $(seq 1 "$SC_NODES"); do
		peers+="${peers:+, }n$k@$(sc_addr "n$k"):7400"
	done
	printf '[sidecar]\ngroup = sc%s\nnode = n%s\nkey_file = %s\nlisten = %s:7400\npeers = %s\nheartbeat_ms = 100\ndead_after_ms = 500\nanswer_wait_ms = 15000\n' \
		"$SC_TAG" "$1" "$SC_WORK/group.key" "$(sc_addr "n$1")" "$peers"
}

# sc_kill_node K...: SIGKILL those nodes' netservd (no clean stop), all
# first, then reap them.
sc_kill_node() {
	local k pids=()
	for k in "$@"; do
		[ -n "${SC_PID[$k]:-}" ] || return 1
		pids+=("${SC_PID[$k]}")
	done
	kill -KILL "${pids[@]}"
	for k in "$@"; do
		wait "${SC_PID[$k]}" 2>/dev/null
		unset "SC_PID[$k]"
	done
	return 0
}

sc_stop_node() {
	local pid=${SC_PID[$1]:-} rc=0
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null || rc=$?
	unset "SC_PID[$1]"
	return "$rc"
}

sc_destroy() {
	local k p d
	for k in "${!SC_PID[@]}"; do
		sc_stop_node "$k"
	done
	if [ "$SC_OVS_UP" = yes ]; then
		for d in vswitchd ovsdb; do
			p=$(sc__pid_of "$SC_WORK/$d.pid")
			timeout 10 ovs-appctl -t "$SC_WORK/$d.ctl" exit >/dev/null 2>&1
			if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
				kill -KILL "$p" 2>/dev/null
			fi
		done
		SC_OVS_UP=no
	fi
	for ns in sw snd rcv n1 n2 n3 n4; do
		ip netns del "$(sc_ns "$ns")" 2>/dev/null
	done
	# A SIGKILLed node leaves its containers' cgroups (netserv-sc-TAG-nK/USER
	# in every hierarchy): their processes end when their supervisor socket
	# closes; wait for that (with a deadline), then remove the groups
	# depth-first.
	local g groups=() deadline=$((SECONDS + 5))
	for k in 1 2 3 4; do
		for g in /sys/fs/cgroup/netserv-sc-"$SC_TAG"-n$k /sys/fs/cgroup/*/netserv-sc-"$SC_TAG"-n$k; do
			[ -d "$g" ] && groups+=("$g")
		done
	done
	for g in "${groups[@]}"; do
		while [ -n "$(find "$g" -name cgroup.procs -exec cat {} + 2>/dev/null)" ] &&
			[ $SECONDS -lt $deadline ]; do
			find "$g" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -KILL 2>/dev/null
			sleep 0.05
		done
		find "$g" -depth -type d -exec rmdir {} \; 2>/dev/null
	done
	return 0
}

# sc_test_setup TAG [PIDVAR...]: the head of tests/daemon/test_sidecar*.sh.
# Skips the whole test (exit 0) unless root with Open vSwitch; sets SC_BUILD
# from NETSERV_BUILD and SC_WORK to a new /tmp/netserv-TAG.XXXXXX; traps EXIT
# to stop (SIGTERM, then reap) each background process whose pid is in a
# variable PIDVAR (empty: none), then sc_destroy, keep the nodes' logs in
# $KEEP_LOGS if set, and remove SC_WORK.
sc_test_setup() {
	local tag=$1
	shift
	if [ "$(id -u)" -ne 0 ]; then
		echo "1..0 # SKIP needs root"
		exit 0
	fi
	if ! command -v ovs-vswitchd >/dev/null; then
		echo "1..0 # SKIP Open vSwitch is not installed (scripts/install-deps)"
		exit 0
	fi
	SC_BUILD=${NETSERV_BUILD:?}
	SC_WORK=$(mktemp -d "/tmp/netserv-$tag.XXXXXX")
	SC__BG_VARS=("$@")
	trap sc__test_cleanup EXIT
}
sc__test_cleanup() {
	local v p
	for v in "${SC__BG_VARS[@]}"; do
		p=${!v:-}
		if [[ "$p" =~ ^[0-9]+$ ]] && [ "$p" -gt 1 ]; then
			kill "$p" 2>/dev/null
			wait "$p" 2>/dev/null
		fi
	done
	sc_destroy
	[ -n "${KEEP_LOGS:-}" ] && cat "$SC_WORK"/n*/log >"$KEEP_LOGS" 2>/dev/null
	rm -rf "$SC_WORK"
}

# sc_revalidated: waits until ovs-vswitchd's flow statistics are up to date
# (a revalidator pass: they lag the datapath by up to half a second).
sc_revalidated() {
	sc_in sw timeout 5 ovs-appctl -t "$SC_WORK/vswitchd.ctl" revalidator/wait >/dev/null 2>&1
}

# sc_group_ports: group 1's buckets counted by output port, "PORT:N ..." in
# port order (each bucket sets eth_dst to that port's node MAC: checked).
sc_group_ports() {
	sc_ofctl dump-groups br0 2>/dev/null | grep -o 'group_id=1,type=select.*' | tr ',' '\n' |
		python3 -c "import sys, re
macs = {str(k + 2): '02:77:00:00:00:%02x' % (0x10 + k) for k in (1, 2, 3, 4)}
last, n, bad = None, {}, 0
for l in sys.stdin:
    m = re.search(r'set_field:([0-9a-f:]+)->eth_dst', l)
    if m:
        last = m.group(1)
    m = re.search(r'output:([0-9]+)', l)
    if m:
        p = m.group(1)
        bad += last != macs.get(p)
        n[p] = n.get(p, 0) + 1
        last = None
print(' '.join('%s:%d' % (p, n[p]) for p in sorted(n)) + (' BAD-MAC' if bad else ''))"
}

# sc_flows: our flows in the switch (cookie 0x4e53...), one per line.
sc_flows() { sc_ofctl dump-flows br0 2>/dev/null | grep 'cookie=0x4e53' || true; }

# sc_sidecar ARGS...: `netserv sidecar` against n1.
sc_sidecar() { "$SC_BUILD/netserv" sidecar --socket "$SC_WORK/n1/admin.sock" "$@"; }

# sc_setup K: a signed SETUP of the counter (udp/7000) sent to node K's admin
# socket (the other nodes of a group; n1 gets it by signaling).
sc_setup() {
	local k=$1 ttl=${2:-600}
	printf 'SETUP NetServ.apps.Counter_1.0 NETSERV/0.1\nuser:janedoe\nurl:file://%s\nmodule-hash:%s\nttl:%s\nfilter-proto:udp\nfilter-port:7000\n\n' \
		"$SC_WORK/counter.wasm" "$SC_HASH" "$ttl" |
		NETSERV_KEY=$SC_WORK/keys/janedoe.key sc_ctl "$k" send -
}

# sc_counter K: node K's counter of packets (-1 if none).
sc_counter() {
	sc_ctl "$1" status --json | python3 -c "import json,sys
s = json.load(sys.stdin)
m = [m for m in s['modules'] if m['module'] == 'NetServ.apps.Counter_1.0']
print(((m[0].get('runtime') or {}).get('counters') or {}).get('packets', -1) if m else -1)"
}

# sc_prepare: the publisher's key and module (in $SC_WORK).
sc_prepare() {
	mkdir -p "$SC_WORK/keys"
	"$SC_BUILD/netserv" keygen -d "$SC_WORK/keys" janedoe >/dev/null 2>&1 || return 1
	cp "$SC_BUILD/modules/counter.wasm" "$SC_WORK/counter.wasm" || return 1
	chmod 0644 "$SC_WORK/counter.wasm"
	SC_HASH=sha256:$(sha256sum "$SC_WORK/counter.wasm" | cut -d' ' -f1)
}
