#!/usr/bin/env bash
# The OpenFlow controller connection (src/fwd/of_conn.c) against a real Open
# vSwitch: ovsdb-server and ovs-vswitchd started here, in a network namespace
# of the test's own, with their own database, run directory and logs
# (userspace datapath), a bridge br0 (fail-mode secure, OpenFlow 1.3) with
# three patch ports whose controller is tests/openflow/of_ctl. Checks: the
# table (a select group over ports 1-3, UDP to 270 over IPv4 and IPv6 -> 1,
# UDP to 7000 -> the group, NORMAL below) is in the switch once, as
# ovs-ofctl dump-flows/dump-groups print it; a restarted controller installs
# it again without duplicates; garbage, an oversized message and messages
# out of order reset the connection with a reason, the controller carries
# on and the switch gets the table again; a stopped switch is declared dead
# by the echo timeout and gets the table again when it resumes. Needs root
# and Open vSwitch; skips otherwise.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/tap.sh"

if [ "$(id -u)" -ne 0 ]; then
	ok "# SKIP needs root (network namespace)"
	tap_done
	exit 0
fi
if ! command -v ovs-vswitchd >/dev/null || ! command -v ovsdb-server >/dev/null; then
	ok "# SKIP Open vSwitch is not installed (scripts/install-deps)"
	tap_done
	exit 0
fi
: "${NETSERV_BUILD:=$here/../../build}"
[ -x "$NETSERV_BUILD/of_ctl" ] || { not_ok "of_ctl is built"; tap_done; exit 1; }

NS=nsof-$$-$RANDOM
D=$(mktemp -d /tmp/netserv-ovs.XXXXXX)
export OVS_RUNDIR=$D OVS_LOGDIR=$D OVS_DBDIR=$D OVS_SYSCONFDIR=$D
DB=unix:$D/db.sock
CTL_PID=
CTL_N=0

in_ns() { ip netns exec "$NS" "$@"; }
vsctl() { in_ns ovs-vsctl --db="$DB" --timeout=10 "$@"; }
ofctl() { in_ns ovs-ofctl -O OpenFlow13 "$@"; }

# pid_of FILE: the pid in an OVS pidfile, or nothing.
pid_of() { [ -s "$1" ] && head -n 1 "$1" | grep -E '^[0-9]+$'; }

cleanup() {
	local p
	if [ -n "$CTL_PID" ]; then
		kill "$CTL_PID" 2>/dev/null
		wait "$CTL_PID" 2>/dev/null
	fi
	for d in vswitchd ovsdb; do
		p=$(pid_of "$D/$d.pid")
		[ -n "$p" ] && kill -CONT "$p" 2>/dev/null
		timeout 10 ovs-appctl -t "$D/$d.ctl" exit >/dev/null 2>&1
		if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
			kill -KILL "$p" 2>/dev/null
		fi
	done
	ip netns del "$NS" 2>/dev/null
	rm -rf "$D"
}
trap cleanup EXIT

# start_ctl: of_ctl in the namespace; sets CTL_PID and CTL_OUT.
start_ctl() {
	CTL_N=$((CTL_N + 1))
	CTL_OUT=$D/ctl.$CTL_N
	# Not through in_ns: $! must be of_ctl itself (ip netns exec execs it).
	ip netns exec "$NS" "$NETSERV_BUILD/of_ctl" --listen 127.0.0.1:6653 --flow-port 1 \
		--group-ports 1,2,3 --echo-interval 300 --echo-timeout 1500 \
		--max-msg 16384 >"$CTL_OUT" 2>&1 &
	CTL_PID=$!
	wait_line "$CTL_OUT" '^listening' 5
}

# stop_ctl: SIGTERM; CTL_RC is its exit status (0: clean, sanitizers quiet).
stop_ctl() {
	CTL_RC=0
	[ -n "$CTL_PID" ] || return 0
	kill "$CTL_PID" 2>/dev/null
	wait "$CTL_PID" 2>/dev/null
	CTL_RC=$?
	CTL_PID=
}

# ready_count: how many times the current controller saw its table confirmed.
ready_count() { grep -c '^ready dpid=0000000000000abc refused=0$' "$CTL_OUT"; }
ready_at_least() { [ "$(ready_count)" -ge "$1" ]; }

# table_once: each of our flows and the group exactly once, nothing else.
table_once() {
	local flows groups
	flows=$(ofctl dump-flows br0 2>&1) || return 1
	groups=$(ofctl dump-groups br0 2>&1) || return 1
	[ "$(grep -c 'cookie=' <<<"$flows")" -eq 4 ] &&
		[ "$(grep -c 'priority=100,udp,tp_dst=270 actions=output:1' <<<"$flows")" -eq 1 ] &&
		[ "$(grep -c 'priority=100,udp6,tp_dst=270 actions=output:1' <<<"$flows")" -eq 1 ] &&
		[ "$(grep -c 'priority=100,udp,tp_dst=7000 actions=group:1' <<<"$flows")" -eq 1 ] &&
		[ "$(grep -c 'priority=0 actions=NORMAL' <<<"$flows")" -eq 1 ] &&
		[ "$(grep -c 'group_id=' <<<"$groups")" -eq 1 ] &&
		grep -q 'group_id=1,type=select,bucket=actions=output:1,bucket=actions=output:2,bucket=actions=output:3' <<<"$groups"
}

show_table() {
	diag "flows: $(ofctl dump-flows br0 2>&1 | tr '\n' '|')"
	diag "groups: $(ofctl dump-groups br0 2>&1 | tr '\n' '|')"
	diag "controller: $(tr '\n' '|' <"$CTL_OUT")"
}

# bad_peer BYTES-AS-PRINTF: a peer that connects to the controller and sends
# them; returns when the controller closes the connection (or after 5 s).
bad_peer() {
	in_ns timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/6653 || exit 1; printf "$1" >&3; cat <&3 >/dev/null' _ "$1"
}

# ---- Open vSwitch, in our namespace ---------------------------------------------

ip netns add "$NS" && in_ns ip link set lo up || { not_ok "namespace $NS"; tap_done; exit 1; }
if ovsdb-tool create "$D/conf.db" /usr/share/openvswitch/vswitch.ovsschema &&
	in_ns ovsdb-server "$D/conf.db" --remote="punix:$D/db.sock" --pidfile="$D/ovsdb.pid" \
		--unixctl="$D/ovsdb.ctl" --log-file="$D/ovsdb.log" --detach --no-chdir 2>/dev/null &&
	vsctl --no-wait init &&
	in_ns ovs-vswitchd "$DB" --pidfile="$D/vswitchd.pid" --unixctl="$D/vswitchd.ctl" \
		--log-file="$D/vswitchd.log" --detach --no-chdir 2>/dev/null; then
	ok "ovsdb-server and ovs-vswitchd run without systemd (own db, run dir, logs)"
else
	not_ok "ovsdb-server and ovs-vswitchd start"
	tap_done
	exit 1
fi
if vsctl add-br br0 -- set bridge br0 datapath_type=netdev fail-mode=secure \
	protocols=OpenFlow13 other-config:datapath-id=0000000000000abc \
	-- add-br br1 -- set bridge br1 datapath_type=netdev \
	-- add-port br0 p1 -- set interface p1 type=patch options:peer=q1 ofport_request=1 \
	-- add-port br0 p2 -- set interface p2 type=patch options:peer=q2 ofport_request=2 \
	-- add-port br0 p3 -- set interface p3 type=patch options:peer=q3 ofport_request=3 \
	-- add-port br1 q1 -- set interface q1 type=patch options:peer=p1 \
	-- add-port br1 q2 -- set interface q2 type=patch options:peer=p2 \
	-- add-port br1 q3 -- set interface q3 type=patch options:peer=p3; then
	ok "bridge br0 (userspace datapath, fail-mode secure) with ports 1, 2, 3"
else
	not_ok "bridge br0"
fi

# ---- The controller installs its table ------------------------------------------

check "of_ctl listens on 127.0.0.1:6653" start_ctl
# max_backoff in a transaction of its own: Open vSwitch (3.1) applies it to
# the connection only when the controller record changes after it was made
# (set with set-controller, the switch backed off 2, 4, 8 s between the bad
# peers below).
vsctl set-controller br0 tcp:127.0.0.1:6653
vsctl set controller br0 max_backoff=1000
if wait_line "$CTL_OUT" '^ready dpid=0000000000000abc refused=0$' 15; then
	ok "the switch connected: HELLO, FEATURES (dpid 0xabc), table confirmed by BARRIER, nothing refused"
else
	not_ok "the switch connected and the table was confirmed"
	show_table
fi
if wait_until 5 table_once; then
	ok "dump-flows/dump-groups: the 4 flows and the select group, each once"
else
	not_ok "the table is in the switch, once"
	show_table
fi

# ---- A restarted controller ----------------------------------------------------

stop_ctl
check "flows stay while the controller is away (fail-mode secure)" table_once
check "a new controller starts" start_ctl
if wait_line "$CTL_OUT" '^ready dpid=0000000000000abc refused=0$' 15 && table_once; then
	ok "the switch reconnected, got the table again, no duplicates"
else
	not_ok "the table after a controller restart"
	show_table
fi

# ---- Bad input -------------------------------------------------------------------

# Each bad peer replaces the switch's connection; the switch comes back.
try_bad() { # NAME BYTES REASON-REGEX
	local before
	before=$(ready_count)
	bad_peer "$2"
	if wait_line "$CTL_OUT" "$3" 5 && kill -0 "$CTL_PID" 2>/dev/null; then
		ok "$1: connection reset ($(grep -E "$3" "$CTL_OUT" | tail -n 1)), controller alive"
	else
		not_ok "$1: connection reset with a reason"
		show_table
	fi
	if wait_until 15 ready_at_least $((before + 1)) && table_once; then
		ok "$1: the switch is back with the table, once"
	else
		not_ok "$1: the switch is back with the table"
		show_table
	fi
}
try_bad "garbage" 'GET / HTTP/1.1\r\n\r\n' '^down: bad stream from the switch: message length .* (below|above)'
try_bad "length below 8" '\x04\x00\x00\x04\x00\x00\x00\x01' '^down: bad stream from the switch: message length 4 below'
try_bad "oversized" '\x04\x0d\xff\xff\x00\x00\x00\x01' '^down: bad stream from the switch: message length 65535 above the cap 16384'
try_bad "FLOW_MOD before HELLO" '\x04\x0e\x00\x08\x00\x00\x00\x01' '^down: expected HELLO, got FLOW_MOD'
# HELLO, then a FLOW_MOD (the codec's sample, tests/openflow/golden/).
flow_mod=$(sed 's/../\\x&/g' "$here/../openflow/golden/enc-flow_modify_normal.hex")
try_bad "a controller's message" "\\x04\\x00\\x00\\x08\\x00\\x00\\x00\\x01$flow_mod" '^down: the switch sent FLOW_MOD, a controller'"'"'s message'
try_bad "OpenFlow 1.0 only" '\x01\x00\x00\x08\x00\x00\x00\x01' '^down: the switch does not speak OpenFlow 1.3'

# ---- A switch that stops answering -----------------------------------------------

VSW=$(pid_of "$D/vswitchd.pid")
if [ -n "$VSW" ]; then
	before=$(ready_count)
	kill -STOP "$VSW"
	now_ms
	t0=$NOW_MS
	if wait_line "$CTL_OUT" '^down: no answer from the switch' 5; then
		now_ms
		ok "a stopped switch is declared dead by the echo timeout ($((NOW_MS - t0)) ms, timeout 1500)"
	else
		not_ok "a stopped switch is declared dead"
	fi
	kill -CONT "$VSW"
	if wait_until 15 ready_at_least $((before + 1)) && table_once; then
		ok "the resumed switch gets the table again, once"
	else
		not_ok "the resumed switch gets the table again"
		show_table
	fi
else
	not_ok "ovs-vswitchd's pid"
fi
check "no error from the switch about our messages" bash -c "! grep -q '^msg ERROR' $D/ctl.*"

stop_ctl
check "the controller exits cleanly on SIGTERM (status $CTL_RC, no sanitizer report)" \
	bash -c "[ $CTL_RC -eq 0 ] && ! grep -qE 'Sanitizer|runtime error' $D/ctl.*"
cleanup
trap - EXIT
# gone PID: not running (a detached daemon may stay a zombie until reaped).
gone() { ! kill -0 "$1" 2>/dev/null || [ "$(ps -o stat= -p "$1" | cut -c1)" = Z ]; }
nothing_left() { ! ip netns list | grep -qw "$NS" && gone "${VSW:-999999999}" && [ ! -d "$D" ]; }
check "nothing left: namespace, daemons, run directory" nothing_left
tap_done
