# A NetServ router between a client and a server, for the tests and demos
# of the SIP applications (tests/daemon/test_sip_*.sh, scripts/demo-*):
#   client -- router -- server   (tests/lib/topo.sh namespaces)
# netservd runs in the router with the netfilter forwarding plane, or with
# NETSERV_PLANE=xdp the AF_XDP plane (docs/xdp.md) on the router's two
# interfaces; modules come from the build's modules/ and are deployed with
# `netserv ctl send`.
# shellcheck shell=bash
#
#   source tests/lib/sip_router.sh     # needs NETSERV_BUILD
#   sr_start || exit 1                 # topology + netservd; SR_CLIENT, SR_SERVER...
#   sr_setup NAME MODULE "filter-proto:udp" "properties:a=1,b=2"
#   sr_counter NAME COUNTER            # a module counter from the node's status
#   sr_restart                         # netservd stopped (SIGTERM) and started again
#   sr_remove NAME
#   sr_rules NAME                      # filters of NAME the plane holds
#   sr_stop                            # also at exit (topo_destroy)
#
# Everything lives in SR_WORK (a temporary directory) and the run's
# namespaces; both go at exit.
: "${NETSERV_BUILD:?set NETSERV_BUILD to a build directory}"
SR_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=topo.sh
source "$SR_LIB/topo.sh"

SR_WORK=$(mktemp -d /tmp/netserv-sip.XXXXXX)
chmod 0711 "$SR_WORK"
SR_SOCK=$SR_WORK/admin.sock
SR_DPID=
SR_PIDS=()
SR_USER=${SR_USER:-janedoe}
SR_PLANE=${NETSERV_PLANE:-netfilter}

sr_cleanup() {
	local p
	for p in "${SR_PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ -n "$SR_DPID" ]; then
		# SIGTERM first: netservd then removes its rules and cgroups.
		kill -TERM "$SR_DPID" 2>/dev/null
		for _ in $(seq 1 50); do
			kill -0 "$SR_DPID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$SR_DPID" 2>/dev/null
		wait "$SR_DPID" 2>/dev/null
	fi
	SR_DPID=
	topo_destroy
	# What a killed netservd left of this run's cgroups (empty by now).
	local cg
	for cg in /sys/fs/cgroup/*/netserv-sip-"$TOPO_TAG" /sys/fs/cgroup/netserv-sip-"$TOPO_TAG"; do
		[ -d "$cg" ] && find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null
	done
	if [ -n "${KEEP_LOG:-}" ] && [ -f "$SR_WORK/netservd.log" ]; then
		cp "$SR_WORK/netservd.log" "$KEEP_LOG"
	fi
	rm -rf "$SR_WORK"
}
trap sr_cleanup EXIT

sr_ctl() { "$NETSERV_BUILD/netserv" ctl --socket "$SR_SOCK" "$@"; }

# sr_start: the topology and netservd in the router. Sets SR_CLIENT,
# SR_SERVER (IPv4), SR_CLIENT6, SR_SERVER6, SR_ROUTER_S (the router's address
# toward the server). The publisher is authorized for every address, or with
# SR_PREFIXES=server only for the server's (its IPv4 and IPv6 host prefixes).
sr_start() {
	topo_create client router server || return 1
	SR_CLIENT=$(topo_addr client)
	SR_SERVER=$(topo_addr server)
	SR_CLIENT6=$(topo_addr -6 client)
	SR_SERVER6=$(topo_addr -6 server)
	SR_ROUTER_S=$(topo_addr router toward server)
	local qbase=$((2000 + RANDOM % 20000)) forwarding
	case $SR_PLANE in
	netfilter)
		forwarding="driver = netfilter
chain_prefix = NS${TOPO_TAG}
hooks = forward"
		;;
	tc) # the netfilter plane with its tc sampler (sampled modules only)
		forwarding="driver = netfilter
chain_prefix = NS${TOPO_TAG}
hooks = forward
sampler = tc
interfaces = $(topo_if router toward client), $(topo_if router toward server)"
		;;
	xdp)
		forwarding="driver = xdp
interfaces = $(topo_if router toward client), $(topo_if router toward server)"
		# Real NICs put whole frames on the wire: a veth would hand over UDP
		# checksums not yet computed, which user-space forwarding passes on.
		topo_exec client ethtool -K "$(topo_if client)" tx off >/dev/null || return 1
		topo_exec server ethtool -K "$(topo_if server)" tx off >/dev/null || return 1
		;;
	*)
		echo "sip_router: NETSERV_PLANE=$SR_PLANE: want netfilter, tc or xdp" >&2
		return 1
		;;
	esac
	# Requests are signed (docs/security.md): the publisher's key pair, its
	# public key in the node's keys_dir; `netserv ctl send` signs with
	# $NETSERV_KEY what is not signed yet.
	mkdir -p "$SR_WORK/keys"
	[ -f "$SR_WORK/$SR_USER.key" ] ||
		"$NETSERV_BUILD/netserv" keygen -d "$SR_WORK" "$SR_USER" >/dev/null
	cp "$SR_WORK/$SR_USER.pub" "$SR_WORK/keys/"
	export NETSERV_KEY=$SR_WORK/$SR_USER.key
	cat >"$SR_WORK/netservd.conf" <<EOC
[node]
id = sip-router
state_dir = $SR_WORK/state
admin_socket = $SR_SOCK
[log]
level = ${SR_LOG_LEVEL:-info}
[fetch]
protocols = file
[forwarding]
$forwarding
[containers]
cgroup = netserv-sip-$TOPO_TAG
queue_base = $qbase
heartbeat_ms = 500
pool_size = 0
[security]
keys_dir = $SR_WORK/keys
[publisher $SR_USER]
uid = 65534
EOC
	# A node with per-publisher policy (docs/security.md) authorizes the
	# test publisher for every address, or for the server's only; an older
	# node knows no such keys.
	local policy="prefixes = 0.0.0.0/0, ::/0"
	[ "${SR_PREFIXES:-any}" = server ] && policy="prefixes = $SR_SERVER/32, $SR_SERVER6/128"
	if "$NETSERV_BUILD/netservd" --check-config -c <(cat "$SR_WORK/netservd.conf"; echo "$policy") \
		>/dev/null 2>&1; then
		echo "$policy" >>"$SR_WORK/netservd.conf"
	fi
	sr_daemon
}

# sr_daemon: starts netservd in the router (sr_start wrote its configuration)
# and waits for its admin socket, 5 s at most. On the AF_XDP plane in a mount
# namespace of its own with a bpffs of its own (libxdp needs one; nothing it
# pins outlives it).
sr_daemon() {
	if [ "$SR_PLANE" = xdp ]; then
		nsenter --net="/var/run/netns/$(topo_ns router)" \
			unshare -m --propagation private sh -c \
			'mount -t bpf bpf /sys/fs/bpf && exec "$@"' _ "$NETSERV_BUILD/netservd" \
			-c "$SR_WORK/netservd.conf" >>"$SR_WORK/netservd.log" 2>&1 &
	else
		nsenter --net="/var/run/netns/$(topo_ns router)" "$NETSERV_BUILD/netservd" \
			-c "$SR_WORK/netservd.conf" >>"$SR_WORK/netservd.log" 2>&1 &
	fi
	SR_DPID=$!
	for _ in $(seq 1 100); do
		sr_ctl status >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	echo "sip_router: netservd did not start:" >&2
	tail -20 "$SR_WORK/netservd.log" >&2
	return 1
}

# sr_restart: stops netservd (SIGTERM, waits) and starts it again on the same
# state directory: it restores its modules from its store.
sr_restart() {
	if [ -n "$SR_DPID" ]; then
		kill -TERM "$SR_DPID" 2>/dev/null
		wait "$SR_DPID" 2>/dev/null
		SR_DPID=
	fi
	sr_daemon
}

# sr_stop: stops netservd (SIGTERM, waits) and tears the namespaces down.
sr_stop() {
	if [ -n "$SR_DPID" ]; then
		kill -TERM "$SR_DPID" 2>/dev/null
		wait "$SR_DPID" 2>/dev/null
		SR_DPID=
	fi
	topo_destroy
}

# sr_ncm NAME MODULE HEADER...: writes the SETUP of build/modules/MODULE.wasm
# as NAME (the module file copied into SR_WORK, its hash computed) with the
# extra header lines given, to stdout.
sr_ncm() {
	local name=$1 module=$2 path hash h
	shift 2
	path=$SR_WORK/$module.wasm
	cp "$NETSERV_BUILD/modules/$module.wasm" "$path"
	hash=$(sha256sum "$path" | cut -d' ' -f1)
	printf 'SETUP %s NETSERV/0.1\nuser:%s\nurl:file://%s\nmodule-hash:sha256:%s\nttl:600\n' \
		"$name" "$SR_USER" "$path" "$hash"
	for h in "$@"; do printf '%s\n' "$h"; done
	printf '\n'
}

# sr_setup NAME MODULE HEADER...: deploys; prints the node's answer; status 0
# if it is a 2xx.
sr_setup() {
	sr_ncm "$@" | sr_ctl send -
}

sr_remove() {
	printf 'REMOVE %s NETSERV/0.1\nuser:%s\n\n' "$1" "$SR_USER" | sr_ctl send -
}

# sr_rules NAME: how many filters of NAME the plane holds: its rules in the
# router's mangle table (iptables), or in the XDP programs (the status's
# forwarding state: "rules: USER/NAME (N filters), ...").
sr_rules() {
	if [ "$SR_PLANE" = xdp ]; then
		sr_status "s['node']['forwarding']['state']" | python3 -c '
import re, sys
m = re.search(r"rules:([^;]*)", sys.stdin.read())
n = 0
for r in (m.group(1).split(",") if m else []):
    r = r.strip()
    k = re.fullmatch(re.escape(sys.argv[1]) + r"(?: \((\d+) filters\))?", r)
    if k:
        n += int(k.group(1) or 1)
print(n)' "$SR_USER/$1"
		return
	fi
	topo_exec router iptables-save -t mangle | grep -c "netserv:$SR_USER/$1\""
}

# sr_status PYTHON-EXPR: evaluates EXPR with s (the status JSON) and mods
# ("user/module" -> module).
sr_status() {
	sr_ctl status --json | python3 -c "import json,sys
s = json.load(sys.stdin)
mods = {m['user'] + '/' + m['module']: m for m in s['modules']}
print($1)"
}

# sr_counter NAME COUNTER: the module's counter, -1 if there is none.
sr_counter() {
	sr_status "((mods.get('$SR_USER/$1') or {}).get('runtime') or {}).get('counters', {}).get('$2', -1)"
}

# sr_spawn NODE LOGFILE CMD...: starts CMD in NODE's namespace in the
# background (output to LOGFILE); sets SR_LAST_PID; killed at exit.
sr_spawn() {
	local node=$1 log=$2
	shift 2
	ip netns exec "$(topo_ns "$node")" "$@" >"$log" 2>&1 &
	SR_LAST_PID=$!
	SR_PIDS+=("$SR_LAST_PID")
}

# sr_sipp_stop PID: ends a SIPp (SIGUSR1: it finishes its calls and writes its
# files) and waits for it, 5 s at most, then kills it.
sr_sipp_stop() {
	local pid=$1
	kill -USR1 "$pid" 2>/dev/null
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

# sr_counts CSV COLUMN: the value of COLUMN in the last row of a SIPp
# -trace_counts file (0 if there is no such column).
sr_counts() {
	python3 - "$1" "$2" <<'PY'
import sys
rows = [l.rstrip("\n").split(";") for l in open(sys.argv[1]) if l.strip()]
head, last = rows[0], rows[-1]
print(last[head.index(sys.argv[2])] if sys.argv[2] in head else 0)
PY
}
