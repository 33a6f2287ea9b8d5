#!/usr/bin/env bash
# Overload Control (modules/overload.c), end to end: SIPp callers behind a
# NetServ router call a SIPp server at 3x what it accepts (client -- router
# -- server in network namespaces, netservd with the netfilter plane, or
# the AF_XDP plane with NETSERV_PLANE=xdp). The server is an RFC 7339
# receiving entity with fixed feedback: the Via of each of its responses
# says oc=<the share to shed>, oc-algo="loss", oc-validity, oc-seq
# (tests/sip/oc_uas.xml).
#   - without the module the server sees every call (3x its capacity);
#   - with it, the server sees no more than its capacity (in total and in
#     every second), every shed call gets 503 + Retry-After at the caller
#     from the server's address, every admitted call completes (INVITE, 180,
#     200, ACK, BYE, 200: in-dialog requests and responses all pass), the
#     ACKs to the 503s stop at the router, and the INVITEs that pass carry
#     the RFC 7339 announcement (;oc;oc-algo="loss").
# The publisher's policy names only the server's address (no `any`): the
# module is deployed with ONE SETUP carrying two filters, one for each
# direction (filter-dst:SERVER, filter-2-src:SERVER; docs/apps.md), and a
# filter on all UDP is refused. Both filters survive a restart of netservd.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
source "$here/../lib/tap.sh"

if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP needs root"
	exit 0
fi
if ! command -v sipp >/dev/null; then
	echo "1..0 # SKIP needs sipp (Debian package sip-tester)"
	exit 0
fi
source "$here/../lib/sip_router.sh"
SC=$top/tests/sip
CAP=${OC_CAPACITY:-40}         # calls per second the server accepts
RATE=$((3 * CAP))              # offered: 3x
SECONDS_RUN=${OC_SECONDS:-10}
CALLS=$((RATE * SECONDS_RUN))
# The server asks to shed what exceeds 95% of its capacity (headroom for
# the callers' pacing jitter): oc = ceil(100 - 100 * 0.95 * CAP / RATE).
OC=$(((10000 * RATE - 9500 * CAP + 100 * RATE - 1) / (100 * RATE)))

SR_PREFIXES=server
sr_start || { not_ok "netservd starts in the router"; tap_done; exit 1; }
ok "netservd runs in the router namespace ($SR_CLIENT -- router -- $SR_SERVER)"

sipp_listens() { [ -n "$(topo_exec server ss -Hlun "sport = :5060")" ]; }
# server PHASE: starts the RFC 7339 server; sets SERVER_PID.
server() {
	mkdir -p "$SR_WORK/$1-server"
	sr_spawn server "$SR_WORK/$1-server/out" bash -c "cd '$SR_WORK/$1-server' && exec sipp \
		-sf '$SC/oc_uas.xml' -i $SR_SERVER -p 5060 -key oc $OC -key oc_validity 2000 \
		-trace_counts -trace_stat -fd 1 -trace_msg -nostdin"
	SERVER_PID=$SR_LAST_PID
	wait_until 5 sipp_listens || diag "the SIP server does not listen on 5060"
}

# callers PHASE COUNT: runs the callers at RATE; sets C_RC, C_503, C_DONE.
callers() {
	local dir=$SR_WORK/$1-client
	mkdir -p "$dir"
	topo_exec client bash -c "cd '$dir' && timeout 120 sipp $SR_SERVER:5060 -sf '$SC/oc_uac.xml' \
		-i $SR_CLIENT -p 5061 -m $2 -r $RATE -l 1000 -trace_counts -trace_msg -nostdin \
		>'$dir/out' 2>&1"
	C_RC=$?
	local counts
	counts=$(ls "$dir"/*_counts.csv)
	C_503=$(sr_counts "$counts" 2_503_Recv)
	C_DONE=$(sr_counts "$counts" 8_200_Recv)
}

# server_stop PHASE: stops the server; sets S_INVITE, S_ACK, S_BYE, S_MAX (the
# most new calls in one second).
server_stop() {
	local dir=$SR_WORK/$1-server counts
	sr_sipp_stop "$SERVER_PID"
	counts=$(ls "$dir"/*_counts.csv)
	S_INVITE=$(sr_counts "$counts" 0_INVITE_Recv)
	S_ACK=$(sr_counts "$counts" 3_ACK_Recv)
	S_BYE=$(sr_counts "$counts" 4_BYE_Recv)
	S_MAX=$(python3 - "$(ls "$dir"/*_.csv)" <<'PY'
import sys
rows = [l.rstrip("\n").split(";") for l in open(sys.argv[1]) if l.strip()]
i = rows[0].index("IncomingCall(P)")
print(max(int(r[i]) for r in rows[1:-1]) if len(rows) > 2 else 0)
PY
)
}

# --- 1. without the module: the server sees every call ---------------------------
server plain
callers plain $((RATE * 3))
server_stop plain
diag "without the module: $((RATE * 3)) calls offered in 3 s, the server saw $S_INVITE (up to $S_MAX in a second; capacity $CAP)"
check "without the module the server sees all $((RATE * 3)) calls (3x its capacity): $S_INVITE" \
	test "$S_INVITE" = $((RATE * 3)) -a "$C_DONE" = $((RATE * 3))

# --- 2. with the module -----------------------------------------------------------
m=NetServ.apps.OverloadControl_1.0.0
props="properties:server=$SR_SERVER,server_port=5060,retry_after=2"
out=$(sr_setup $m overload filter-proto:udp "$props")
check "a filter on all UDP is refused: the publisher is authorized only for the server (403)" \
	grep -q '^NETSERV/0.1 403' <<<"$out"
# To the server (its SIP port), and from it (to the callers' ports).
out=$(sr_setup $m overload filter-proto:udp filter-port:5060 "filter-dst:$SR_SERVER" \
	filter-2-proto:udp "filter-2-src:$SR_SERVER" "$props")
check "SETUP of Overload Control with both directions' filters answers 200" \
	grep -q '^NETSERV/0.1 200' <<<"$out"
rules() { sr_rules $m; }
check "one rule per filter in the $SR_PLANE plane (2)" test "$(rules)" = 2
filters="[(f['proto'], f['port_lo'], f['src'], f['dst']) for f in mods['$SR_USER/$m']['filters']]"
want="[('udp', 5060, 'any', '$SR_SERVER/32'), ('udp', 0, '$SR_SERVER/32', 'any')]"
check "status shows both filters" test "$(sr_status "$filters")" = "$want"
server oc
callers oc "$CALLS"
server_stop oc
diag "with the module: $CALLS calls offered at $RATE/s (server's feedback oc=$OC):" \
	"$C_503 rejected with 503, $C_DONE completed; the server saw $S_INVITE INVITEs," \
	"at most $S_MAX in one second (capacity $CAP/s)"
check "every call ended: rejected ($C_503) + completed ($C_DONE) = $CALLS (sipp status $C_RC)" \
	test "$C_RC" = 0 -a $((C_503 + C_DONE)) = "$CALLS"
limit=$((CAP * SECONDS_RUN))
check "the server saw no more than its capacity: $S_INVITE INVITEs <= $limit ($CAP/s for ${SECONDS_RUN} s)" \
	test "$S_INVITE" -le "$limit" -a "$S_INVITE" -gt $((limit * 8 / 10))
check "... and in no second more than $CAP new calls (at most $S_MAX)" test "$S_MAX" -le "$CAP"
check "rejected calls got 503 at the client ($C_503, about $OC% of $CALLS)" \
	test "$C_503" -ge $((CALLS * (OC - 2) / 100)) -a "$C_503" -le $((CALLS * (OC + 2) / 100))
check "every admitted call completed ($C_DONE = the server's $S_INVITE INVITEs)" \
	test "$C_DONE" = "$S_INVITE"
check "in-dialog requests all reached the server (ACK $S_ACK, BYE $S_BYE of $S_INVITE)" \
	test "$S_ACK" = "$S_INVITE" -a "$S_BYE" = "$S_INVITE"

msgs=$(ls "$SR_WORK"/oc-client/*_messages.log)
r503=$(grep -a -A12 '^SIP/2.0 503 Service Unavailable' "$msgs" | head -13)
check "a 503 carries Retry-After: 2 and a To tag of the module" \
	bash -c 'grep -q "^Retry-After: 2" <<<"$0" && grep -q "^To: .*;tag=nsoc" <<<"$0"' "$r503"
smsgs=$(ls "$SR_WORK"/oc-server/*_messages.log)
ann=$(grep -a -c '^Via: SIP/2.0/UDP .*;oc;oc-algo="loss"' "$smsgs")
diag "Via lines at the server with the announcement: $ann"
check "INVITEs and in-dialog requests reaching the server carry ;oc;oc-algo=\"loss\" (>= $((S_INVITE * 2)) Vias)" \
	test "$ann" -ge $((S_INVITE * 2))

c_inv=$(sr_counter $m invites)
c_adm=$(sr_counter $m admitted)
c_rej=$(sr_counter $m rejected)
c_ack=$(sr_counter $m acks_absorbed)
c_oc=$(sr_counter $m oc_percent)
c_fb=$(sr_counter $m feedback)
diag "module counters: invites=$c_inv admitted=$c_adm rejected=$c_rej acks_absorbed=$c_ack feedback=$c_fb oc_percent=$c_oc"
check "the module's counts agree: $c_inv INVITEs, $c_adm admitted, $c_rej rejected, $c_ack ACKs absorbed" \
	test "$c_inv" = "$CALLS" -a "$c_adm" = "$S_INVITE" -a "$c_rej" = "$C_503" -a "$c_ack" = "$C_503"
check "the module follows the server's oc=$OC ($c_oc)" test "$c_oc" = "$OC"

# --- 3. a restart keeps both filters --------------------------------------------------
sr_restart || not_ok "netservd starts again"
active() { test "$(sr_status "mods['$SR_USER/$m']['state']")" = active; }
wait_until 20 active
check "after a restart the module is active again" active
check "... with both filters (status)" test "$(sr_status "$filters")" = "$want"
check "... and both rules" test "$(rules)" = 2

out=$(sr_remove $m)
check "REMOVE answers 200" grep -q '^NETSERV/0.1 200' <<<"$out"
check "REMOVE took both rules away" test "$(rules)" = 0
sr_stop
check "namespaces are gone" test -z "$(topo_leftovers)"
tap_done
