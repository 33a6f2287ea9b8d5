#!/usr/bin/env bash
# The test-topology library (tests/lib/topo.sh): builds sender-router-receiver
# and a chain of three routers, pings end to end over IPv4 and IPv6, and checks
# that teardown leaves nothing behind: after topo_destroy, after a normal exit,
# after a failure, and when the script is killed with SIGTERM (before and
# during the build). Needs root; skips otherwise.
set -u
here=$(cd "$(dirname "$0")" && pwd)

# ---- child mode: a script that builds a topology and gets killed ----------
if [ "${1:-}" = --child ]; then
	mode=$2 out=$3
	source "$here/../lib/topo.sh"
	echo "tag $TOPO_TAG" >>"$out"
	case $mode in
	ready)
		topo_create s r t || exit 1
		topo_spawn r sleep 300
		echo "pid $TOPO_LAST_PID" >>"$out"
		echo ready >>"$out"
		while :; do sleep 0.1; done
		;;
	early)
		echo started >>"$out"
		topo_create a1 b1 c1 d1 e1 f1 g1 h1 || exit 1
		topo_create a2 b2 c2 d2 e2 f2 g2 h2 || exit 1
		topo_create a3 b3 c3 d3 e3 f3 g3 h3 || exit 1
		echo ready >>"$out"
		while :; do sleep 0.1; done
		;;
	fail)
		topo_create s r t || exit 1
		echo ready >>"$out"
		exit 7
		;;
	esac
	exit 0
fi

source "$here/../lib/tap.sh"

if [ "$(id -u)" -ne 0 ]; then
	ok "# SKIP needs root (network namespaces)"
	tap_done
	exit 0
fi
source "$here/../lib/topo.sh"
WORK=$(mktemp -d /tmp/netserv-topo.XXXXXX)
trap 'rm -rf "$WORK"' EXIT # kept and run by topo's own EXIT trap

# ping_ok NODE [-6] ADDR: one echo answered.
ping_ok() {
	local node=$1
	shift
	topo_exec "$node" ping -c 1 -W 2 "$@" >/dev/null 2>&1
}

# ping_ttl NODE [-6] ADDR: the TTL (hop limit) of the reply.
ping_ttl() {
	local node=$1
	shift
	topo_exec "$node" ping -c 1 -W 2 "$@" 2>/dev/null | sed -n 's/.*ttl=\([0-9]*\).*/\1/p'
}

diag "run tag $TOPO_TAG"

# ---- sender - router - receiver --------------------------------------------
t0=$(date +%s%N)
if topo_create sender router receiver; then
	ok "topo_create sender router receiver ($((($(date +%s%N) - t0) / 1000000)) ms)"
else
	not_ok "topo_create sender router receiver"
fi
check "three namespaces with the run prefix" \
	test "$(topo__all_ns | grep -c "^ns-$TOPO_TAG-")" -eq 3
check "namespace name is ns-<tag>-<node>" test "$(topo_ns router)" = "ns-$TOPO_TAG-router"
names=$(for n in sender router receiver; do topo_exec $n ip -o link show type veth; done |
	awk -F': ' '{ sub(/@.*/, "", $2); print $2 }')
check "four veth ends, all named with the run prefix" \
	test "$(grep -c "^v$TOPO_TAG" <<<"$names")" -eq 4
check "veth names fit in 15 characters" \
	test "$(awk 'length($0) > 15' <<<"$names" | wc -l)" -eq 0
check "nothing of ours in the caller's namespace" \
	test -z "$(ip -o link show | grep "v$TOPO_TAG")"
check "topo_addr receiver" test "$(topo_addr receiver)" = 10.2.0.2
check "topo_addr router toward receiver" test "$(topo_addr router toward receiver)" = 10.2.0.1
check "topo_addr router toward sender" test "$(topo_addr router toward sender)" = 10.1.0.2
check "topo_addr -6 receiver" test "$(topo_addr -6 receiver)" = fd00:2::2
check "topo_if router toward receiver" \
	test "$(topo_if router toward receiver)" = "v${TOPO_TAG}02a"
check "router forwards IPv4 and IPv6" \
	test "$(topo_exec router sysctl -n net.ipv4.ip_forward net.ipv6.conf.all.forwarding | tr '\n' ' ')" = "1 1 "
check "hosts do not forward" test "$(topo_exec sender sysctl -n net.ipv4.ip_forward)" = 0
check "static neighbour for the gateway (v4)" \
	grep -q PERMANENT <<<"$(topo_exec sender ip neigh show "$(topo_addr router)")"
check "static neighbour for the gateway (v6)" \
	grep -q PERMANENT <<<"$(topo_exec sender ip -6 neigh show "$(topo_addr -6 router)")"
check "ping sender -> receiver (v4)" ping_ok sender "$(topo_addr receiver)"
check "ping sender -> receiver (v6)" ping_ok sender -6 "$(topo_addr -6 receiver)"
check "ping receiver -> sender (v4)" ping_ok receiver "$(topo_addr sender)"
check "one hop: reply TTL 63" test "$(ping_ttl sender "$(topo_addr receiver)")" = 63

# ---- a chain of three routers, beside the first topology -------------------
if topo_create left r1 r2 r3 right; then ok "topo_create left r1 r2 r3 right"; else not_ok "topo_create chain"; fi
check "chain: 5 more namespaces" test "$(topo__all_ns | grep -c "^ns-$TOPO_TAG-")" -eq 8
check "chain: its links are numbered after the first topology's" \
	test "$(topo_addr right)" = 10.6.0.2
check "chain: r2 toward right" test "$(topo_addr r2 toward right)" = 10.5.0.1
check "chain: ping left -> right (v4)" ping_ok left "$(topo_addr right)"
check "chain: ping left -> right (v6)" ping_ok left -6 "$(topo_addr -6 right)"
check "chain: ping right -> left (v6)" ping_ok right -6 "$(topo_addr -6 left)"
check "chain: ping left -> r3 (a router's far address)" ping_ok left "$(topo_addr r3 toward right)"
check "chain: three hops: reply TTL 61" test "$(ping_ttl left "$(topo_addr right)")" = 61
check "chain: three hops (v6): hop limit 61" \
	test "$(ping_ttl left -6 "$(topo_addr -6 right)")" = 61
not() { ! "$@"; }
check "the two topologies are separate (left cannot reach receiver)" \
	not ping_ok left "$(topo_addr receiver)"
check "topo_create refuses an existing node name" not topo_create sender x 2>/dev/null

# ---- teardown --------------------------------------------------------------
topo_spawn router sleep 300
spawned=$TOPO_LAST_PID
topo_exec receiver sleep 300 2>/dev/null &
unmanaged=$!
# (a subshell here, whose sleep runs in the receiver's namespace)
in_receiver() { [ -n "$(ip netns pids "$(topo_ns receiver)" 2>/dev/null)" ]; }
check "a process started in a namespace by hand runs there" wait_until 5 in_receiver
topo_destroy
check "topo_destroy: no namespace or link of the run left" test -z "$(topo_leftovers)"
check "topo_destroy: the spawned process is gone" not kill -0 "$spawned" 2>/dev/null
wait "$unmanaged" 2>/dev/null
check "topo_destroy: a process started in a namespace by hand is gone too" \
	not kill -0 "$unmanaged" 2>/dev/null
topo_destroy
check "topo_destroy again is harmless" test -z "$(topo_leftovers)"

# ---- a child script killed or failing ---------------------------------------
# alive PID: running and not a zombie.
alive() {
	local st
	st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	[[ $st != Z* ]]
}

# run_child MODE: starts the child script in the background.
run_child() {
	: >"$WORK/$1"
	bash "$0" --child "$1" "$WORK/$1" 2>"$WORK/$1.err" &
	CHILD=$!
}

run_child ready
if wait_line "$WORK/ready" '^ready' 20; then
	tag=$(awk '/^tag/ { print $2 }' "$WORK/ready")
	cpid=$(awk '/^pid/ { print $2 }' "$WORK/ready")
	check "killed child: its topology exists before the kill" \
		test "$(topo_leftovers "$tag" | grep -c netns)" -eq 3
	kill -TERM "$CHILD"
	rc=0
	wait "$CHILD" || rc=$?
	check "killed child exits with 143 (SIGTERM)" test "$rc" -eq 143
	check "killed child: no namespace or link left" test -z "$(topo_leftovers "$tag")"
	check "killed child: its process in the router namespace is gone" not alive "$cpid"
else
	not_ok "killed child: topology built"
	kill -KILL "$CHILD" 2>/dev/null
	wait "$CHILD" 2>/dev/null
fi

run_child early
if wait_line "$WORK/early" '^started' 20; then
	tag=$(awk '/^tag/ { print $2 }' "$WORK/early")
	# Kill as soon as the first namespace exists, mid-way through the build.
	for _ in $(seq 1 400); do
		topo__all_ns | grep -q "^ns-$tag-" && break
		sleep 0.005
	done
	kill -TERM "$CHILD"
	wait "$CHILD" 2>/dev/null
	if grep -q ready "$WORK/early"; then
		diag "the build had finished before the kill"
	fi
	[ -s "$WORK/early.err" ] && diag "the killed build said: $(tr '\n' ' ' <"$WORK/early.err")"
	check "child killed while building: no namespace or link left" \
		test -z "$(topo_leftovers "$tag")"
else
	not_ok "child killed while building: started"
	kill -KILL "$CHILD" 2>/dev/null
	wait "$CHILD" 2>/dev/null
fi

run_child fail
rc=0
wait "$CHILD" || rc=$?
tag=$(awk '/^tag/ { print $2 }' "$WORK/fail")
check "failing child keeps its exit status (7)" test "$rc" -eq 7
check "failing child built its topology" grep -q ready "$WORK/fail"
check "failing child: no namespace or link left" test -z "$(topo_leftovers "$tag")"

tap_done
