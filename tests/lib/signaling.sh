# Helpers for signaling runs in namespaces (tests/daemon/test_signaling.sh,
# scripts/demo, bench/signaling): netservd on NetServ routers with signaling
# on, and the publisher's `netserv`. Needs tests/lib/topo.sh sourced first.
# shellcheck shell=bash
#
#   SIG_BUILD=build SIG_WORK=/tmp/x
#   sig_start_node ra [EXTRA_CONFIG_TEXT]  # netservd in ra's namespace
#   sig_ctl ra status --json               # netserv ctl against ra
#   sig_stop_node ra
#
# Each node's files are in $SIG_WORK/<node>/ (netservd.conf, log, state/,
# admin.sock). Its forwarding chains are named after the topology's tag, its
# cgroup after the tag and the node.

declare -A SIG_PID

# Prints TEXT if this netservd accepts it as configuration (keys that older
# or newer builds may not know).
sig__if_known() {
	local probe=$SIG_WORK/.probe.conf
	printf '%s\n' "$1" >"$probe"
	if "$SIG_BUILD/netservd" -t -c "$probe" >/dev/null 2>&1; then
		printf '%s\n' "$1"
	fi
	rm -f "$probe"
}

# Publisher policy (filters anywhere) and no signatures required unless
# SIG_REQUIRE_SIGNATURES=yes: these runs are about signaling;
# tests/daemon/test_security*.sh are about the rest.
sig__policy() {
	sig__if_known $'[publisher janedoe]\nprefixes = any'
	sig__if_known $'[security]\nrequire_signatures = '"${SIG_REQUIRE_SIGNATURES:-no}"
	# Signatures present are checked against SIG_KEYS_DIR/<publisher>.pub.
	if [ -n "${SIG_KEYS_DIR:-}" ]; then
		sig__if_known $'[security]\nkeys_dir = '"$SIG_KEYS_DIR" | tail -n +2
	fi
	return 0
}

# sig_start_node NODE [EXTRA]: writes the node's config (EXTRA is appended:
# more sections or keys of a last section) and starts netservd in NODE's
# namespace (nsenter: /sys/fs/cgroup stays visible). Waits until its admin
# socket answers; returns 1 (log shown on stderr) if it does not.
sig_start_node() {
	local n=$1 extra=${2:-} d=$SIG_WORK/$1
	mkdir -p "$d"
	chmod 0711 "$SIG_WORK" "$d"
	if [ ! -f "$d/netservd.conf" ] || [ -n "$extra" ]; then
		cat >"$d/netservd.conf" <<EOC
[node]
id = $n
state_dir = $d/state
admin_socket = $d/admin.sock
[log]
level = ${SIG_LOG_LEVEL:-info}
[fetch]
protocols = http,file
[forwarding]
driver = netfilter
chain_prefix = NS$TOPO_TAG
hooks = forward
[containers]
cgroup = netserv-sig-$TOPO_TAG-$n
pool_size = 1
heartbeat_ms = 500
[publisher janedoe]
uid = 65534
$(sig__policy)
[signaling]
enable = yes
t1_ms = ${SIG_T1_MS:-100}
t2_ms = ${SIG_T2_MS:-800}
response_timeout = ${SIG_RESPONSE_TIMEOUT:-20}
$extra
EOC
	fi
	nsenter --net="/var/run/netns/$(topo_ns "$n")" "$SIG_BUILD/netservd" -c "$d/netservd.conf" \
		>>"$d/log" 2>&1 &
	SIG_PID[$n]=$!
	TOPO_PIDS+=("$!")
	for _ in $(seq 1 200); do
		if sig_ctl "$n" status >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "${SIG_PID[$n]}" 2>/dev/null || break
		sleep 0.05
	done
	echo "netservd on $n did not start:" >&2
	tail -n 20 "$d/log" >&2
	return 1
}

# sig_stop_node NODE: SIGTERM, and wait; returns netservd's exit status.
sig_stop_node() {
	local pid=${SIG_PID[$1]:-} rc=0
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null || rc=$?
	unset "SIG_PID[$1]"
	return "$rc"
}

# sig_ctl NODE ARGS...: `netserv ctl` against NODE's admin socket.
sig_ctl() {
	local n=$1
	shift
	"$SIG_BUILD/netserv" ctl --socket "$SIG_WORK/$n/admin.sock" "$@"
}

# sig_pub ARGS...: `netserv` run in the publisher's namespace.
sig_pub() {
	ip netns exec "$(topo_ns publisher)" "$SIG_BUILD/netserv" "$@"
}

# sig_status NODE EXPR: a python expression over s (the node's status JSON)
# and mods ({"user/module": module}).
sig_status() {
	sig_ctl "$1" status --json | python3 -c "import json,sys
s = json.load(sys.stdin)
mods = {m['user'] + '/' + m['module']: m for m in s['modules']}
print($2)"
}

# sig_counter NODE MODULE COUNTER: a module's counter on NODE (-1 if none).
sig_counter() {
	sig_status "$1" "((mods.get('janedoe/$2') or {}).get('runtime') or {}).get('counters', {}).get('$3', -1)"
}

# sig_rules NODE: our rules in NODE's mangle tables.
sig_rules() {
	{
		topo_exec "$1" iptables-save -t mangle
		topo_exec "$1" ip6tables-save -t mangle
	} 2>/dev/null | grep -- '--comment "\?netserv:' || true
}

# sig_json EXPR: a python expression over r (a `netserv ... --json` result on
# stdin) and nodes (its stack).
sig_json() {
	python3 -c "import json,sys
r = json.load(sys.stdin)
nodes = r['nodes']
print($1)"
}

# sig_serve_http NODE DIR PORT: a static HTTP server in NODE's namespace.
sig_serve_http() {
	topo_spawn "$1" python3 -m http.server --bind "$(topo_addr "$1")" --directory "$2" "$3" \
		>/dev/null 2>&1
	local i
	for i in $(seq 1 100); do
		topo_exec "$1" python3 -c "import socket,sys
s = socket.create_connection(('$(topo_addr "$1")', $3), timeout=0.2)" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}
