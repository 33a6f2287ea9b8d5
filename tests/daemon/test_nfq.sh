#!/usr/bin/env bash
# The NFQUEUE packet loop (src/fwd/nfq.c) end to end on a real router:
# sender -> router -> receiver (tests/lib/topo.sh); in the router's namespace
# the netfilter driver (fwdctl) queues udp/5060 to a queue that nfq_echo reads.
# Accept: all datagrams arrive; drop: none; rewrite: all arrive changed; no
# reader, a killed reader, a stalled reader: traffic still flows (queue bypass
# and fail-open); other ports never reach the reader. Needs root; skips
# otherwise.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/tap.sh"

if [ "$(id -u)" -ne 0 ]; then
	ok "# SKIP needs root (network namespaces, iptables, NFQUEUE)"
	tap_done
	exit 0
fi
: "${NETSERV_BUILD:=$here/../../build}"
for t in fwdctl nfq_echo udpblast udpcount; do
	[ -x "$NETSERV_BUILD/$t" ] || { not_ok "$t is built"; tap_done; exit 1; }
done
source "$here/../lib/topo.sh"
WORK=$(mktemp -d /tmp/netserv-nfq.XXXXXX)
trap 'rm -rf "$WORK"' EXIT # run by topo's EXIT trap before the teardown

N=1000       # datagrams per run
RATE=20000   # per second
QN=7         # queue numbers are per network namespace: the router is ours
P=NSQ-$TOPO_TAG

diag "run tag $TOPO_TAG"
if ! topo_create sender router receiver; then
	not_ok "topology"
	tap_done
	exit 1
fi
if topo_exec router "$NETSERV_BUILD/fwdctl" -p "$P" init &&
	topo_exec router "$NETSERV_BUILD/fwdctl" -p "$P" add test/sip proto=udp port=5060 queue=$QN; then
	ok "router: udp/5060 queued to queue $QN"
else
	not_ok "router: queue rule"
fi

# start_echo ARGS...: nfq_echo in the router; sets ECHO_PID, ECHO_OUT.
ECHO_N=0
start_echo() {
	ECHO_N=$((ECHO_N + 1))
	ECHO_OUT=$WORK/echo.$ECHO_N
	topo_spawn router "$NETSERV_BUILD/nfq_echo" "$@" >"$ECHO_OUT" 2>&1
	ECHO_PID=$TOPO_LAST_PID
	wait_line "$ECHO_OUT" '^ready' || { diag "nfq_echo did not start: $(cat "$ECHO_OUT")"; return 1; }
}

# stop_echo [SIGNAL]: ends nfq_echo; its counters go into E_packets, E_accepted...
stop_echo() {
	topo_kill "$ECHO_PID" "${1:-TERM}"
	local line
	line=$(grep '^packets=' "$ECHO_OUT" | tail -n 1)
	for kv in $line; do
		eval "E_${kv%%=*}=${kv#*=}"
	done
	[ -n "$line" ] && diag "nfq_echo: $line"
}

# blast PORT [-6]: N datagrams sender -> receiver:PORT; sets RECEIVED, MARKED.
blast() {
	local port=$1 fam=${2:--4} out=$WORK/count dst
	dst=$(topo_addr "$fam" receiver)
	topo_spawn receiver "$NETSERV_BUILD/udpcount" -p "$port" -t 10 -i 300 >"$out"
	local cpid=$TOPO_LAST_PID
	wait_line "$out" '^ready' || diag "udpcount did not start"
	topo_exec sender "$NETSERV_BUILD/udpblast" -d "$dst" -p "$port" -n "$N" -s 100 -r "$RATE" >/dev/null ||
		diag "udpblast failed"
	# udpcount ends 300 ms after the last datagram; if none came, stop it.
	for _ in $(seq 1 20); do
		kill -0 "$cpid" 2>/dev/null || break
		sleep 0.05
	done
	topo_kill "$cpid" TERM
	RECEIVED=$(sed -n 's/^received=\([0-9]*\).*/\1/p' "$out")
	MARKED=$(sed -n 's/.*marked=\([0-9]*\).*/\1/p' "$out")
	RECEIVED=${RECEIVED:-0}
	MARKED=${MARKED:-0}
}

# rule_packets: what the queue rule has matched so far (both families).
rule_packets() {
	topo_exec router "$NETSERV_BUILD/fwdctl" -p "$P" counters test/sip | sed -n 's/^packets=\([0-9]*\).*/\1/p'
}

# ---- no reader: the rule's --queue-bypass lets traffic through ----------------
blast 5060
check "no reader bound: all $N datagrams arrive (queue-bypass) [got $RECEIVED]" test "$RECEIVED" -eq "$N"

# ---- accept ------------------------------------------------------------------------
c0=$(rule_packets)
check "the rule counted the $N bypassed datagrams [${c0:-none}]" test "${c0:-0}" -eq "$N"
start_echo -q $QN -m accept
blast 5060
check "accept: all $N datagrams arrive [got $RECEIVED]" test "$RECEIVED" -eq "$N"
blast 5060 -6
check "accept, IPv6: all $N datagrams arrive [got $RECEIVED]" test "$RECEIVED" -eq "$N"
blast 5061
check "udp/5061 (no rule): all $N arrive [got $RECEIVED]" test "$RECEIVED" -eq "$N"
stop_echo
check "accept: the reader saw exactly the $((2 * N)) udp/5060 packets, none of 5061" \
	test "${E_packets:-0}" -eq $((2 * N))
check "accept: $((2 * N)) accept verdicts" test "${E_accepted:-0}" -eq $((2 * N))
check "accept: no overruns, gaps or refused verdicts" \
	test "${E_enobufs:-1}${E_missed:-1}${E_verdict_errors:-1}" = 000
check "accept: bytes counted (128 per datagram)" test "${E_bytes:-0}" -eq $((N * 128 + N * 148))
c1=$(rule_packets)
check "accept: the rule matched as many as the reader saw (none bypassed) [$((c1 - c0))]" \
	test $((c1 - c0)) -eq "${E_packets:-0}"

# ---- drop ----------------------------------------------------------------------
start_echo -q $QN -m drop
blast 5060
check "drop: no datagram arrives [got $RECEIVED]" test "$RECEIVED" -eq 0
blast 5061
check "drop: udp/5061 still arrives [got $RECEIVED]" test "$RECEIVED" -eq "$N"
stop_echo
check "drop: $N drop verdicts" test "${E_dropped:-0}" -eq "$N"

# ---- modified packets ----------------------------------------------------------
start_echo -q $QN -m rewrite
blast 5060
check "rewrite: all $N arrive [got $RECEIVED]" test "$RECEIVED" -eq "$N"
check "rewrite: all $N carry the change [got $MARKED]" test "$MARKED" -eq "$N"
blast 5060 -6
check "rewrite, IPv6 (checksum recomputed): all $N arrive changed [got $MARKED]" \
	test "$MARKED" -eq "$N"
stop_echo
check "rewrite: $((2 * N)) modified verdicts" test "${E_modified:-0}" -eq $((2 * N))

# ---- each verdict mode delivers everything ---------------------------------------
for mode in one each; do
	start_echo -q $QN -m accept -s $mode -b 8
	blast 5060
	stop_echo
	check "verdicts sent '$mode' (batch 8): all $N arrive, $N verdicts [got $RECEIVED, ${E_accepted:-0}]" \
		test "$RECEIVED" -eq "$N" -a "${E_accepted:-0}" -eq "$N"
done

# ---- a killed reader ---------------------------------------------------------------
start_echo -q $QN -m accept
stop_echo KILL
blast 5060
check "reader killed (SIGKILL): all $N still arrive [got $RECEIVED]" test "$RECEIVED" -eq "$N"

# ---- a stalled reader: fail-open ----------------------------------------------------
c0=$(rule_packets)
start_echo -q $QN -m stall -l 64
blast 5060
stop_echo
c1=$(rule_packets)
check "stalled reader: the rule matched all $N; $((c1 - c0 - ${E_packets:-0})) of them bypassed the reader" \
	test $((c1 - c0)) -eq "$N" -a "${E_packets:-1}" -eq 0
check "stalled reader, queue of 64, fail-open: at least $((N - 64)) arrive [got $RECEIVED]" \
	test "$RECEIVED" -ge $((N - 64))
start_echo -q $QN -m stall -l 64 -F
blast 5060
stop_echo
check "stalled reader without fail-open: none arrive (the contrast) [got $RECEIVED]" \
	test "$RECEIVED" -eq 0

# ---- several queues (--queue-balance) ------------------------------------------------
topo_exec router "$NETSERV_BUILD/fwdctl" -p "$P" add test/sip proto=udp port=5060 queue=$QN:$((QN + 1))
start_echo -q "$QN,$((QN + 1))" -m accept
blast 5060
blast 5060 -6
stop_echo
check "two queues, one reader: all arrive and were seen [got $RECEIVED, ${E_packets:-0}]" \
	test "$RECEIVED" -eq "$N" -a "${E_packets:-0}" -eq $((2 * N))

topo_destroy
check "teardown: nothing of the run left" test -z "$(topo_leftovers)"
tap_done
