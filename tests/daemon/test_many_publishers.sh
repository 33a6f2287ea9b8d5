#!/usr/bin/env bash
# Many publishers on one node (issue #18 item 2): netservd with 300
# configured publishers (NS_PUBS) in a network namespace of its own, netfilter
# plane on: every publisher gets its container (forked from the zygote), its
# uid, its cgroup and its NFQUEUE number, all ready within a deadline; a few
# of them deploy a module; status lists them all; SIGTERM stops every
# container quickly and leaves no process, cgroup or rule behind. Then the
# configuration errors of the limits: a 4097th publisher, NFQUEUE numbers
# past 65535.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/tap.sh"
source "$here/../lib/daemon.sh"

if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP needs root (namespaces, cgroups, other uids)"
	exit 0
fi

N=${NS_PUBS:-300}
NS=ns-manypub-$$
UID_BASE=$((500000 + ($$ % 1000) * 5000)) # a range no other test uses
QBASE=20000
ip netns add "$NS" || {
	echo "1..0 # SKIP cannot make a network namespace"
	exit 0
}
ip -n "$NS" link set lo up
trap 'cleanup; ip netns del "$NS" 2>/dev/null' EXIT

# The publishers that deploy, each with its key pair.
DEPLOY="p0 p$((N / 2)) p$((N - 1))"
for p in $DEPLOY; do
	"$NETSERV" keygen -d "$TEST_DIR" "$p" >/dev/null && cp "$TEST_DIR/$p.pub" "$KEYS/"
done

# many_config N QUEUE_BASE: the node with N publishers p0 .. p(N-1).
many_config() {
	cat <<EOC
[node]
id = many
state_dir = $STATE
admin_socket = $SOCK
[log]
level = info
[fetch]
protocols = file
[forwarding]
driver = netfilter
chain_prefix = NSM$$
[containers]
cgroup = netserv-test-$$
queue_base = $2
uid_base = $UID_BASE
[security]
keys_dir = $KEYS
EOC
	for ((i = 0; i < $1; i++)); do
		printf '[publisher p%d]\nprefixes = any\nmemory = 64M\n' "$i"
	done
}
many_config "$N" "$QBASE" >"$CONF"

# ready_count: containers that reported ready in the log.
ready_count() {
	local n
	n=$(grep -c 'netservd info: container p[0-9]* ready' "$DAEMON_LOG" 2>/dev/null)
	echo "${n:-0}"
}
all_ready() { [ "$(ready_count)" -ge "$N" ]; }

now_ms
t0=$NOW_MS
# nsenter, not ip netns exec: /sys (the cgroups) stays the host's.
nsenter --net="/run/netns/$NS" "$NETSERVD" -c "$CONF" >>"$DAEMON_LOG" 2>&1 &
DAEMON_PID=$!
wait_until 30 all_ready
now_ms
start_ms=$((NOW_MS - t0))
check "all $N containers ready within 30 s (took $start_ms ms, $(ready_count) ready)" all_ready
diag "start-up with $N publishers: $start_ms ms"
check "no container failed, was restarted or lacks its limits" \
	test "$(grep -cE 'died|cannot|refused its assignment|not applied' "$DAEMON_LOG")" = 0

# One process per publisher, each with its own uid from uid_base.
uids=$(ps -e -o uid= -o comm= | awk -v lo="$UID_BASE" -v hi="$((UID_BASE + N))" \
	'$1 >= lo && $1 < hi && $2 ~ /^netserv-con/ {print $1}' | sort -u | wc -l)
check "$N container processes, each under its own uid (uid_base + i): $uids" test "$uids" = "$N"

# Its own cgroup each (v2: one directory per publisher; v1: in memory).
cg_count() {
	local d
	for d in /sys/fs/cgroup/netserv-test-$$ /sys/fs/cgroup/memory/netserv-test-$$; do
		[ -d "$d" ] && find "$d" -mindepth 1 -maxdepth 1 -type d -name 'p*' | wc -l && return
	done
	echo 0
}
check "$N cgroups, one per publisher ($(cg_count))" test "$(cg_count)" = "$N"

status=$(ctl status --json)
[ -n "${NS_DEBUG:-}" ] && diag "$status"
check "status lists all $N containers" test "$(python3 -c 'import json,sys
s = json.load(sys.stdin)
print(len({c["publisher"] for c in s["containers"]}))' <<<"$status")" = "$N"
# queues: the NFQUEUE numbers bound in the node's namespace.
queues=$(ip netns exec "$NS" awk '{print $1}' /proc/net/netfilter/nfnetlink_queue 2>/dev/null | sort -n)
check "publisher i reads NFQUEUE queue_base + i: $N queues bound, $QBASE .. $((QBASE + N - 1))" \
	test "$(wc -l <<<"$queues") $(head -1 <<<"$queues") $(tail -1 <<<"$queues")" = \
	"$N $QBASE $((QBASE + N - 1))"

# A module for a few publishers, each on its own port.
make_module manypub passthrough
port=7000
for p in $DEPLOY; do
	port=$((port + 1))
	out=$(printf 'SETUP NetServ.apps.Many_1.0 NETSERV/0.1\nuser:%s\nurl:file://%s\nmodule-hash:%s\nfilter-proto:udp\nfilter-port:%d\n\n' \
		"$p" "$MOD_PATH" "$MOD_HASH" "$port" | NETSERV_KEY=$TEST_DIR/$p.key ctl send -)
	[ -n "${NS_DEBUG:-}" ] && diag "$out"
	check "SETUP for $p (udp port $port) answers 200, active" \
		grep -q '^state:active' <<<"$out"
done
active=$(status_json "sorted(m['user'] for m in s['modules'] if m['state'] == 'active')")
check "status lists the three modules active ($active)" \
	test "$active" = "$(python3 -c "print(sorted('$DEPLOY'.split()))")"
check "their NFQUEUE rules are in the node's namespace" \
	test "$(ip netns exec "$NS" iptables -t mangle -S 2>/dev/null | grep -c 'NFQUEUE')" -ge 3

# One copy of the module's code for all three: their containers map the same
# sealed image (runtime/module_image.h), not a copy each. Prints "COUNT INODE"
# per executable memfd mapping's inode over the three containers.
image_inodes() {
	local p pid
	for p in $DEPLOY; do
		pid=$(pgrep -u $((UID_BASE + ${p#p})) | head -1)
		[ -n "$pid" ] && awk '$2 ~ /x/ && $6 ~ /^\/memfd:/ {print $5}' "/proc/$pid/maps" | sort -u
	done | sort | uniq -c | awk '{print $1, $2}'
}
images=$(image_inodes)
check "the three containers run the module from one shared image (count inode: $images)" \
	test "$(wc -l <<<"$images") ${images%% *}" = "1 3"

# Stop: every container goes, quickly.
pids=$(pgrep -P "$DAEMON_PID" | tr '\n' ' ')
now_ms
t0=$NOW_MS
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
rc=$?
now_ms
stop_ms=$((NOW_MS - t0))
DAEMON_PID=
check "netservd stops cleanly (status $rc)" test "$rc" = 0
check "stop with $N containers within 10 s (took $stop_ms ms)" test "$stop_ms" -lt 10000
diag "shutdown with $N publishers: $stop_ms ms"
left=0
for p in $pids; do kill -0 "$p" 2>/dev/null && left=$((left + 1)); done
check "no container or zygote process left ($left of $(wc -w <<<"$pids"))" test "$left" = 0
check "no process of the publishers' uids left" \
	test "$(ps -e -o uid= | awk -v lo="$UID_BASE" -v hi="$((UID_BASE + N))" '$1 >= lo && $1 < hi' | wc -l)" = 0
check "no publisher cgroup left ($(cg_count))" test "$(cg_count)" = 0
check "no netfilter rule left in the namespace" \
	test "$(ip netns exec "$NS" iptables -t mangle -S 2>/dev/null | grep -c "NSM$$")" = 0

# The limits as configuration errors, clear ones.
many_config 4097 1000 >"$TEST_DIR/too-many.conf"
out=$("$NETSERVD" -t -c "$TEST_DIR/too-many.conf" 2>&1)
check "a 4097th publisher is a configuration error naming the limit" \
	grep -q 'publisher p4096\]: more than 4096 publishers' <<<"$out"
many_config 600 65000 >"$TEST_DIR/queues.conf"
out=$("$NETSERVD" -t -c "$TEST_DIR/queues.conf" 2>&1)
check "queue_base + publishers past 65535 is a configuration error" \
	grep -q 'queue_base 65000 with 600 publishers needs NFQUEUE numbers up to 65599, past 65535' <<<"$out"
# Open files it may not raise its limit to: a clear error, no start.
if command -v setpriv >/dev/null && command -v prlimit >/dev/null; then
	out=$(nsenter --net="/run/netns/$NS" prlimit --nofile=256:256 setpriv --bounding-set=-sys_resource \
		--inh-caps=-sys_resource "$NETSERVD" -c "$CONF" 2>&1)
	rc=$?
	check "without the open files $N containers need, netservd refuses to start, saying why" \
		test "$rc" = 1 -a "$(grep -c "$N publishers (and 1 spare containers) need $((N * 6 + 6 + 1024)) open files, and RLIMIT_NOFILE cannot be raised" <<<"$out")" = 1
else
	ok "# SKIP no setpriv or prlimit"
fi
tap_done
