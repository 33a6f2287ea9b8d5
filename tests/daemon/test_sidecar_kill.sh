#!/usr/bin/env bash
# The OpenFlow sidecar's health path (issue #16: "Killing one node under
# traffic: its flows reach the remaining nodes within a second; losses only
# in that window; killing all nodes: traffic flows straight through";
# docs/openflow.md "How it is tested"). The topology of tests/lib/sidecar.sh
# with four namespaces: n1 is the switch's controller but not a node
# ([openflow] nodes = n2, n3, n4 on ports 4, 5, 6), n2 the signaling node
# (signaling_port 4); all four are one [sidecar] group (heartbeat 100 ms,
# dead after 500 ms). Checks: at start the controller steers to no node
# until it hears them; ONE signed SETUP by signaling (snd -> switch -> n2)
# installs the counter on every node and the filter's flows on the switch;
# under 1500 packets/s over 300 flows, SIGKILL n3's netservd: the controller
# marks it down and n3's flows arrive through n2 and n4 within 1 s of the
# kill (measured from the receiver's frames); the packets lost in that
# second are n3's flows' (quoted; meanwhile n3's kernel routes most of them
# unprocessed, NFQUEUE --queue-bypass, also quoted, and none after that
# second); outside the seconds of the kills at most 2% lost (this loaded
# machine's background loss); SIGKILL n2 and n4: every flow goes straight
# through to the receiver within 1 s (fail-open); PROBE on the controller
# lists the group's members up/down; a drained node that dies and comes back
# stays drained, a restarted node rejoins at its first heartbeat; a
# restarted controller steers to the nodes again once it hears them. Root
# and Open vSwitch; skips otherwise.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/tap.sh"
source "$here/../lib/sidecar.sh"

RX_PID=
TX_PID=
sc_test_setup sck TX_PID RX_PID
FLOWS=$here/../lib/sidecar_flows.py
N_FLOWS=300 ROUNDS=30 RATE=1500
N1LOG=$SC_WORK/n1/log

if sc_create 4 && sc_sources "$N_FLOWS" && sc_prepare; then
	ok "namespaces, Open vSwitch, sender, receiver; n1 (controller) on port 3, nodes n2 n3 n4 on 4 5 6"
else
	not_ok "the topology"
	tap_done
	exit 1
fi
check "the group key is mode 0600" eval '[ "$(sc_group 1 >/dev/null; stat -c %a "$SC_WORK/group.key")" = 600 ]'
SND_MAC=$(sc_in snd cat /sys/class/net/eth0/address)
nodes="n2:4:$(sc_mac 2), n3:5:$(sc_mac 3), n4:6:$(sc_mac 4)"
if SC_SIG_PORT=4 SC_LOCAL='' SC_OF_NODES=$nodes sc_start_node 1 "$(sc_group 1)"; then
	ok "netservd on n1: the controller, not a node, in the group"
else
	not_ok "netservd on n1"
	tap_done
	exit 1
fi
connected() { sc_sidecar status 2>/dev/null | grep -q '^switch: connected'; }
check "the switch connects to n1's netservd" wait_until 15 connected
st=$(sc_sidecar status 2>&1)
check "before any heartbeat no node is up: nodes dead, fail-open ($(grep -c 'dead$' <<<"$st") dead)" \
	eval 'grep -q "^nodes: 0 up of 3 (fail-open" <<<"$st" && [ "$(grep -c "^node: n[234] port=[456] down mac=.* dead$" <<<"$st")" = 3 ]'
check "no warning about the controller itself not being one of the nodes" \
	eval '! grep -q "member n1 is not one of" "$N1LOG"'

started=yes
sig=$'[signaling]\nenable = yes\nt1_ms = 100\nt2_ms = 800\nresponse_timeout = 20'
for k in 2 3 4; do
	extra=$(sc_group "$k")
	[ "$k" = 2 ] && extra+=$'\n'$sig
	sc_start_node "$k" "$extra" || started=no
done
check "netservd on n2 (signaling), n3, n4 (driver netfilter, in the group)" test "$started" = yes
all_up() { sc_sidecar status 2>/dev/null | grep -q '^nodes: 3 up of 3'; }
check "the controller steers to the three nodes once it hears them" wait_until 5 all_up
group3() { [ "$(sc_group_ports)" = "4:8 5:8 6:8" ]; }
check "the select group has 8 buckets per node ($(sc_group_ports))" group3
probe() { printf 'PROBE * NETSERV/0.1\nprobe:node\n\n' | sc_ctl 1 send - 2>&1; }
out=$(probe)
check "PROBE on the controller lists the group's members up ($(grep '^group-node' <<<"$out" | tr '\n' ' '))" \
	eval 'grep -q "^group-node:n1 up self" <<<"$out" && grep -q "^group-node:n2 up" <<<"$out" &&
		grep -q "^group-node:n3 up" <<<"$out" && grep -q "^group-node:n4 up" <<<"$out"'

# --- ONE signed SETUP by signaling: the group installs it on every node -------
out=$(sc_in snd env NETSERV_KEY="$SC_WORK/keys/janedoe.key" "$SC_BUILD/netserv" setup \
	--to "$(sc_addr rcv)" -m NetServ.apps.Counter_1.0 -u janedoe \
	--url "file://$SC_WORK/counter.wasm" --hash "$SC_HASH" --ttl 600 \
	--filter-proto udp --filter-port 7000 --timeout 60 2>&1)
rc=$?
check "one SETUP signaled toward the receiver: n2 answers 200 with every node's outcome" \
	eval '[ "$rc" = 0 ] && grep -q "group-node: n1 200" <<<"$out" && grep -q "group-node: n3 200" <<<"$out" && grep -q "group-node: n4 200" <<<"$out"'
[ "$rc" = 0 ] || diag "$(tr '\n' '|' <<<"$out")"
active() { [ "$(sc_counter "$1")" != -1 ]; }
for k in 2 3 4; do
	check "the counter is active on n$k" wait_until 5 active "$k"
done
check "the filter's flows point at the group" \
	eval '[ "$(sc_flows | grep -c "priority=500,udp6\?,tp_dst=7000 actions=group:1")" -eq 2 ]'

# --- Under traffic: SIGKILL n3, then n2 and n4 ----------------------------------
sc_warm
ip netns exec "$(sc_ns rcv)" python3 "$FLOWS" rx --ifname eth0 --port 7000 --idle-ms 3000 \
	--max-s 40 --expect $((N_FLOWS * ROUNDS)) --out "$SC_WORK/rx.json" \
	--seq-log "$SC_WORK/rx.seq" >"$SC_WORK/rx.log" 2>&1 &
RX_PID=$!
wait_line "$SC_WORK/rx.log" '^ready' 5
sc_in snd python3 "$FLOWS" tx --dst "$(sc_addr rcv)" --port 7000 --flows "$N_FLOWS" \
	--rounds "$ROUNDS" --rate "$RATE" --src-net 10.77 --seq-log "$SC_WORK/tx.seq" \
	>"$SC_WORK/tx.log" 2>&1 &
TX_PID=$!
# kill_at SECONDS K...: SIGKILL those nodes' netservd SECONDS after the
# traffic started (the middle of a running burst, not a condition); sets
# T_KILL (ns) and the controller log's line count before.
t_tx=$(date +%s%N)
kill_at() {
	local at=$1 k
	shift
	while [ $(($(date +%s%N) - t_tx)) -lt $((at * 1000000)) ]; do sleep 0.01; done
	LOG0=$(wc -l <"$N1LOG")
	T_KILL=$(date +%s%N)
	sc_kill_node "$@"
}
down_in_log() { # NAME...: the controller logged each down after LOG0
	local n
	for n in "$@"; do
		wait__line_in "$N1LOG" "member $n down" "$((LOG0 + 1))" || return 1
	done
}
kill_at 1500 3
WAIT_STEP=0.01 wait_until 3 down_in_log n3
DOWN1=$((($(date +%s%N) - T_KILL) / 1000000))
T1=$T_KILL
kill_at 3500 2 4
WAIT_STEP=0.01 wait_until 3 down_in_log n2 n4
DOWN2=$((($(date +%s%N) - T_KILL) / 1000000))
T2=$T_KILL
wait "$TX_PID"
TX_PID=
wait "$RX_PID"
RX_PID=
diag "the controller logged n3 down $DOWN1 ms after its SIGKILL, n2 and n4 $DOWN2 ms after theirs (heartbeat 100 ms, dead after 500 ms; 10 ms log polling)"
check "n3 marked down within 1 s of its kill ($DOWN1 ms)" test "$DOWN1" -le 1000
check "n2 and n4 marked down within 1 s of theirs ($DOWN2 ms)" test "$DOWN2" -le 1000

# The receiver's frames against the sender's log: each flow's node before
# the kill, the first frame of each of n3's flows through n2 or n4 after it,
# the lost packets' send times, the first direct frame of each flow after
# the second kill.
read -r MOVED0 MOVED NMOVED N3FLOWS LOST SENT LOST1 LOST1_OUT LOST2 LOST_BG BG_SPAN OPEN0 OPEN NOPEN LATE_NODE SPLIT BYP1 BYP1_LATE BYP2 < <(
	python3 - "$SC_WORK" "$N_FLOWS" "$T1" "$T2" "$(sc_mac 2)" "$(sc_mac 3)" "$(sc_mac 4)" "$SND_MAC" <<'PY'
import json, sys
work, n, t1, t2 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
m2, m3, m4, direct = sys.argv[5:9]
sent = json.load(open(work + "/tx.seq"))
pkts = json.load(open(work + "/rx.seq"))
W = 1_000_000_000  # the window: 1 s
before, first_moved, first_open, got = {}, {}, {}, set()
split = late_node = byp1 = byp1_late = byp2 = 0
for k, mac, ns in pkts:
    got.add(k)
    f = k % n
    if sent[k] < t1 - W // 5:
        split += before.setdefault(f, mac) != mac
    if ns > t1 and sent[k] < t2 and mac in (m2, m4):
        first_moved.setdefault(f, ns)
    if ns > t2 and mac == direct:
        first_open.setdefault(f, ns)
    if sent[k] > t2 + W and mac != direct:
        late_node += 1
    # through a killed node's kernel (NFQUEUE --queue-bypass), not counted
    if sent[k] > t1 and mac == m3:
        byp1 += 1
        byp1_late += sent[k] > t1 + W
    if sent[k] > t2 and mac in (m2, m4):
        byp2 += 1
f3 = [f for f, mac in before.items() if mac == m3]
moved = [first_moved[f] - t1 for f in f3 if f in first_moved]
opened = [first_open[f] - t2 for f in range(n) if f in first_open]
lost = [k for k in range(len(sent)) if k not in got]
# the windows: from 200 ms before a kill (frames queued to the killed
# netservd) to 1 s after it
w1 = [k for k in lost if t1 - W // 5 <= sent[k] <= t1 + W]
w2 = [k for k in lost if t2 - W // 5 <= sent[k] <= t2 + W]
l1_out = sum(1 for k in w1 if k % n not in f3)  # in the first window, not n3's
bg = sorted(sent[k] for k in lost if k not in set(w1) | set(w2))
span = "%d..%d" % ((bg[0] - t1) // 1_000_000, (bg[-1] - t1) // 1_000_000) if bg else "-"
ms = lambda v: v // 1_000_000
print(ms(min(moved)) if moved else -1, ms(max(moved)) if moved else -1, len(moved), len(f3), len(lost), len(sent),
      len(w1), l1_out, len(w2), len(bg), span,
      ms(min(opened)) if opened else -1, ms(max(opened)) if len(opened) == n else -1, len(opened), late_node, split, byp1, byp1_late, byp2)
PY
)
diag "sent $SENT packets (300 flows, $RATE/s), lost ${LOST:-?}: $LOST1 sent within 1 s of n3's kill, $LOST2 within 1 s of n2's and n4's, $LOST_BG at other times (sent $BG_SPAN ms from n3's kill)"
diag "sent after a kill, routed by the killed node's kernel without netservd (NFQUEUE --queue-bypass) until the switch moved them: $BYP1 (n3), $BYP2 (n2, n4)"
diag "n3's flows through n2 or n4: the first $MOVED0 ms after the kill, all $NMOVED of $N3FLOWS within $MOVED ms (each flow sends every $((N_FLOWS * 1000 / RATE)) ms)"
diag "straight through: the first flow $OPEN0 ms after the last kill, all $NOPEN of $N_FLOWS within $OPEN ms"
check "the flows had one node each before the kill, n3 about a third ($N3FLOWS; $SPLIT split)" \
	eval '[ "${SPLIT:-1}" = 0 ] && [ "${N3FLOWS:-0}" -ge 60 ] && [ "$N3FLOWS" -le 140 ]'
check "every one of n3's flows reached n2 or n4 within 1 s of the kill ($NMOVED of $N3FLOWS, $MOVED ms)" \
	eval '[ "$NMOVED" = "$N3FLOWS" ] && [ "$MOVED" -ge 0 ] && [ "$MOVED" -le 1000 ]'
check "no packet sent more than 1 s after n3's kill went through n3 ($BYP1_LATE)" test "${BYP1_LATE:-1}" = 0
check "the $LOST1 packets lost in the second of n3's kill were n3's flows' ($LOST1_OUT not)" \
	test "${LOST1_OUT:-1}" = 0
# Outside the windows only this loaded machine's background loss (the
# sender's veth; test_sidecar_spread allows 2% before the switch too).
check "outside those seconds at most 2% lost ($LOST_BG of $SENT)" \
	test "$((${LOST_BG:-$SENT} * 50))" -le "${SENT:-0}"
check "killing the last nodes: every flow goes straight through within 1 s ($NOPEN flows, $OPEN ms)" \
	eval '[ "$NOPEN" = "$N_FLOWS" ] && [ "$OPEN" -ge 0 ] && [ "$OPEN" -le 1000 ]'
check "more than 1 s after the last kill no packet went through a node ($LATE_NODE)" \
	test "${LATE_NODE:-1}" = 0
st=$(sc_sidecar status 2>&1)
check "sidecar status: 0 nodes up of 3 (fail-open), each dead" \
	eval 'grep -q "^nodes: 0 up of 3 (fail-open" <<<"$st" && [ "$(grep -c "^node: n[234] .* dead$" <<<"$st")" = 3 ]'
out=$(probe)
check "PROBE on the controller lists n2, n3, n4 down ($(grep '^group-node' <<<"$out" | tr '\n' ' '))" \
	eval 'grep -q "^group-node:n1 up self" <<<"$out" && grep -q "^group-node:n2 down" <<<"$out" &&
		grep -q "^group-node:n3 down" <<<"$out" && grep -q "^group-node:n4 down" <<<"$out"'

# --- Drained, dead, back: stays drained; restarted: rejoins ----------------------
sc_sidecar drain n4 >/dev/null
sc_start_node 4 "$(sc_group 4)"
sc_start_node 3 "$(sc_group 3)"
n3_up() { sc_sidecar status 2>/dev/null | grep -q "^node: n3 port=5 up"; }
check "n3 restarted: back in the group at its first heartbeat" wait_until 5 n3_up
n4_heard() { grep -q "member n4 up" <(tail -n +"$((LOG0 + 1))" "$N1LOG"); }
check "n4, drained while dead, restarted: the controller hears it" wait_until 5 n4_heard
check "... and it stays out (drained): $(sc_sidecar status | grep '^node: n4')" \
	eval 'sc_sidecar status | grep -q "^node: n4 port=6 down mac=[0-9a-f:]* drained$"'
check "the select group: n3's buckets and n4's, all to n3 ($(sc_group_ports))" \
	eval '[ "$(sc_group_ports)" = "5:24" ]'
sc_sidecar undrain n4 >/dev/null
check "undrained, n4 is back; n2's buckets to n3 and n4 in turn ($(sc_group_ports))" \
	eval '[ "$(sc_group_ports)" = "5:12 6:12" ]'

# --- The controller restarts: the nodes are steered to once heard again -------
check "netservd on n1 stops cleanly" sc_stop_node 1
SC_SIG_PORT=4 SC_LOCAL='' SC_OF_NODES=$nodes sc_start_node 1 "$(sc_group 1)"
two_up() { sc_sidecar status 2>/dev/null | grep -q '^nodes: 2 up of 3'; }
check "n1 restarted: the switch reconnects, n3 and n4 up again at their heartbeats (drain is not kept)" \
	eval 'wait_until 15 connected && wait_until 5 two_up'
check "its restored filter's flows point at the group of n3 and n4 ($(sc_group_ports))" \
	eval '[ "$(sc_group_ports)" = "5:12 6:12" ] && [ "$(sc_flows | grep -c "priority=500,udp6\?,tp_dst=7000 actions=group:1")" -eq 2 ]'

for k in 1 3 4; do
	check "netservd on n$k stops cleanly" sc_stop_node "$k"
done
tap_done
