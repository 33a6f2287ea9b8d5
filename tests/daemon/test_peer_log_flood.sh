#!/usr/bin/env bash
# A peer cannot flood netservd's log (issue #11): 5000 malformed datagrams to
# a node's GIST port 270 (Queries whose NSLP data is not NetServ NSLP, Queries
# with a malformed NetServ SETUP, bytes that are not GIST at all; sent by
# tests/nslp/gist_query.py flood) add at most LOG_PEER_BURST lines per log
# site to the log, the node still answers status, and when the window has
# reopened a summary line tells how many were suppressed.
#
#   attacker ── r1 (netservd, signaling on) ── user
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/tap.sh"
source "$here/../lib/topo.sh"
source "$here/../lib/signaling.sh"
B=${NETSERV_BUILD:?}

if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP needs root"
	exit 0
fi

# src/lib/log.h: LOG_PEER_BURST lines per LOG_PEER_INTERVAL_MS per site.
BURST=10
INTERVAL_S=5
SITES=2 # "not a NetServ message", "malformed SETUP"
COUNT=5000

SIG_BUILD=$B
SIG_WORK=$(mktemp -d /tmp/netserv-peerlog.XXXXXX)
cleanup_peerlog() {
	topo_destroy
	[ -n "${KEEP_LOGS:-}" ] && cat "$SIG_WORK"/r1/log >"${KEEP_LOGS}" 2>/dev/null
	rm -rf "$SIG_WORK"
}
trap cleanup_peerlog EXIT

topo_create attacker r1 user || {
	not_ok "topology"
	tap_done
	exit 1
}
A=$(topo_addr attacker)
R1=$(topo_addr r1 toward attacker)
LOG=$SIG_WORK/r1/log

if ! sig_start_node r1; then
	not_ok "netservd with signaling starts on r1"
	tap_done
	exit 1
fi
ok "netservd with signaling starts on r1"

lines() { wc -l <"$LOG"; }
# Until the log has not grown for half a second (10 s at most).
quiet__last=-1
quiet__check() {
	local n
	n=$(lines)
	[ "$n" -eq "$quiet__last" ] && return 0
	quiet__last=$n
	return 1
}
wait_quiet() {
	quiet__last=-1
	WAIT_STEP=0.5 wait_until 10 quiet__check
}

before=$(lines)
sent=$(topo_exec attacker python3 "$here/../nslp/gist_query.py" flood "$A" "$R1" 32767 "$COUNT")
check "the attacker sent $COUNT datagrams ($sent)" test -n "$sent"
wait_line "$LOG" 'not a NetServ message' 5 "$((before + 1))"
wait_line "$LOG" 'malformed SETUP' 5 "$((before + 1))"
wait_quiet
grown=$(($(lines) - before))
diag "the log grew by $grown lines during the flood"
check "r1 logged both kinds of malformed NSLP input" \
	test "$(tail -n +"$((before + 1))" "$LOG" | grep -cE 'not a NetServ message|malformed SETUP' |
		tr -d ' ')" -ge "$SITES"
check "the log grew by at most $SITES x $BURST lines ($grown), not one per datagram" \
	test "$grown" -le $((SITES * BURST))
check "netservd is still running" kill -0 "${SIG_PID[r1]}"
check "netservd still answers status" eval "sig_ctl r1 status >/dev/null"

# The window reopens: one more of each kind brings a summary line per site.
sleep "$((INTERVAL_S + 1))" &
wait $!
mark=$(lines)
topo_exec attacker python3 "$here/../nslp/gist_query.py" flood "$A" "$R1" 32767 3 >/dev/null
summary='rate limit: [0-9]+ messages like the next one suppressed'
summaries() { tail -n +"$((mark + 1))" "$LOG" | grep -cE "$summary"; }
has_summaries() { [ "$(summaries)" -ge "$SITES" ]; }
wait_until 5 has_summaries
sums=$(tail -n +"$((mark + 1))" "$LOG" | grep -oE "$summary" | grep -oE '[0-9]+' | paste -sd+)
check "after $INTERVAL_S s, a summary line per site ($sums)" \
	test "$(summaries)" -eq "$SITES"
suppressed=$((${sums:-0}))
diag "suppressed: $suppressed of the $((COUNT * 2 / 3)) NSLP-carrying datagrams"
# UDP may drop some of the flood at r1's socket; most must have been seen.
check "the summaries count the suppressed lines ($suppressed >= $((COUNT / 3)))" \
	test "$suppressed" -ge $((COUNT / 3))
check "and the lines that reopened the windows follow them" \
	test "$(tail -n +"$((mark + 1))" "$LOG" | grep -cE 'not a NetServ message|malformed SETUP')" \
	-eq "$SITES"

sig_stop_node r1
check "netservd stops cleanly" test $? -eq 0
tap_done
