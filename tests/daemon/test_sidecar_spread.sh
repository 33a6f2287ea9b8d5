#!/usr/bin/env bash
# The OpenFlow sidecar with three nodes (docs/openflow.md "The driver"): a
# real Open vSwitch between a sender and a receiver, nodes n1, n2, n3 on its
# ports 3, 4, 5; n1's netservd (driver = openflow) is the switch's
# controller and one of the nodes. The counter module is installed on each
# node by a signed SETUP sent to its admin socket (deploying it on the whole
# group is the coordination channel's job, not the driver's). Checks: with
# 300 UDP flows (distinct source ports and addresses: Open vSwitch 3.1's
# select-group hash leaves UDP ports out, docs/openflow.md) each node routes 25-42% of the
# flows, no flow is split between nodes, and the nodes' counters add up to
# the packets sent; draining a node under traffic moves its flows to the
# others (the loss is reported); with every node drained the filtered
# traffic goes straight through (fail-open) and comes back to the group on
# undrain. Root and Open vSwitch; skips otherwise.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/tap.sh"
source "$here/../lib/sidecar.sh"

RX_PID=
sc_test_setup scg RX_PID
FLOWS=$here/../lib/sidecar_flows.py
N_FLOWS=300

if sc_create 3 && sc_sources "$N_FLOWS" && sc_prepare; then
	ok "namespaces, Open vSwitch, sender, receiver, nodes n1 n2 n3 on ports 3 4 5"
else
	not_ok "the topology"
	tap_done
	exit 1
fi
SND_MAC=$(sc_in snd cat /sys/class/net/eth0/address)
started=yes
for k in 1 2 3; do
	sc_start_node "$k" || started=no
done
check "netservd on the three nodes (n1: driver openflow, the controller)" test "$started" = yes
connected() { sc_sidecar status 2>/dev/null | grep -q '^switch: connected'; }
check "the switch connects to n1's netservd" wait_until 15 connected

installed=yes
for k in 1 2 3; do
	sc_setup "$k" >"$SC_WORK/setup$k.out" 2>&1 || {
		installed=no
		diag "n$k: $(tr '\n' '|' <"$SC_WORK/setup$k.out")"
	}
done
check "the signed SETUP of the counter (udp/7000) is active on each node" test "$installed" = yes
out=$("$SC_BUILD/netserv" sidecar --socket "$SC_WORK/n2/admin.sock" status 2>&1)
rc=$?
check "netserv sidecar on a node whose driver is netfilter: exit 1, says why ($out)" \
	eval '[ "$rc" -eq 1 ] && grep -q "driver is not openflow" <<<"$out"'
group3() { [ "$(sc_group_ports)" = "3:8 4:8 5:8" ]; }
check "the select group has 8 buckets per node (eth_dst rewritten to each node's): $(sc_group_ports)" group3
check "the filter's flows point at it" \
	eval '[ "$(sc_flows | grep -c "priority=500,udp6\?,tp_dst=7000 actions=group:1")" -eq 2 ]'

# burst NAME ROUNDS [RATE]: N_FLOWS flows x ROUNDS packets to udp/7000; the
# receiver's view in $SC_WORK/NAME.json. DURING (a command) runs in the
# background DELAY seconds after the start when set.
burst() {
	local name=$1 rounds=$2 rate=${3:-1500}
	local ovs0 ctr0
	# The switch's datapath keeps the flows it cached before the last
	# OpenFlow change until a revalidator pass replaces them: after an
	# undrain, a busy machine's first few hundred packets otherwise still
	# took the fail-open NORMAL path.
	sc_revalidated
	ovs0=$(ovs_filter_pkts)
	ctr0=$(counters)
	ip netns exec "$(sc_ns rcv)" python3 "$FLOWS" rx --ifname eth0 --port 7000 --idle-ms 3000 --max-s 40 \
		--expect $((N_FLOWS * rounds)) --out "$SC_WORK/$name.json" >"$SC_WORK/$name.log" 2>&1 &
	RX_PID=$!
	wait_line "$SC_WORK/$name.log" '^ready' 5
	sc_in snd python3 "$FLOWS" tx --dst "$(sc_addr rcv)" --port 7000 --flows "$N_FLOWS" \
		--rounds "$rounds" --rate "$rate" --src-net 10.77 >"$SC_WORK/$name.tx" &
	local tx=$!
	if [ -n "${DURING:-}" ]; then
		sleep "$DELAY" # the middle of a running burst, not a condition
		$DURING
	fi
	wait "$tx"
	wait "$RX_PID"
	RX_PID=
	SENT=$((N_FLOWS * rounds))
	sc_revalidated
	OVS=$(($(ovs_filter_pkts) - ovs0))
	CTR=$(($(counters) - ctr0))
	RX=$(view "$name" "r['total']")
	diag "$name: sent $SENT, took the filter's flows in the switch $OVS, counted by the nodes $CTR, received $RX"
}
# The packets the switch sent to the filter's flows (both families).
ovs_filter_pkts() {
	sc_flows | grep 'priority=500,' | grep -o 'n_packets=[0-9]*' | cut -d= -f2 |
		awk '{s += $1} END {print s + 0}'
}
# conserved [COUNTED]: no packet lost or added between the switch's filter
# flows, the nodes (which counted COUNTED, default all of them) and the
# receiver, and at most 2% lost before the switch (this shared machine's
# veths under load; the sender cannot be paced exactly).
conserved() {
	[ "$CTR" = "${1:-$OVS}" ] && [ "$OVS" = "$RX" ] && [ $((OVS * 100)) -ge $((SENT * 98)) ]
}
# view NAME EXPR: a python expression over the burst's result: macs
# {mac: {"7000/sport": n}}, node (mac -> name), flows (node name -> set of
# source ports).
view() {
	python3 -c "import json
r = json.load(open('$SC_WORK/$1.json'))
macs = r['macs']
node = {'$(sc_mac 1)': 'n1', '$(sc_mac 2)': 'n2', '$(sc_mac 3)': 'n3', '$SND_MAC': 'direct'}
flows = {node.get(m, m): set(k for k in v) for m, v in macs.items()}
pkts = {node.get(m, m): sum(v.values()) for m, v in macs.items()}
print($2)"
}
counters() { echo $(($(sc_counter 1) + $(sc_counter 2) + $(sc_counter 3))); }

# --- 300 flows over three nodes ---------------------------------------------------
sc_warm
burst spread 5
sent=$((N_FLOWS * 5))
shares=$(view spread "' '.join(f'{n}={len(flows.get(n, ()))}' for n in ('n1', 'n2', 'n3', 'direct'))")
diag "flows per node: $shares"
check "each node routes 25-42% of the 300 flows (75..126 each; $shares)" \
	test "$(view spread "all(75 <= len(flows.get(n, ())) <= 126 for n in ('n1', 'n2', 'n3')) and 'direct' not in flows")" = True
check "no flow is split between nodes" \
	test "$(view spread "sum(len(s) for s in flows.values()) == len(set().union(*flows.values())) == $N_FLOWS")" = True
check "the nodes' counters add up to the packets the switch steered, all received ($SENT sent, $OVS steered, $CTR counted, $RX received)" \
	conserved

# --- Draining n3 under traffic -------------------------------------------------------
drain3() { sc_sidecar drain n3 >"$SC_WORK/drain.out" 2>&1; }
DURING=drain3 DELAY=1 burst drain 10 1500
DURING=
diag "draining n3 under traffic (1500 packets/s): $((SENT - RX)) of $SENT packets lost ($((OVS - RX)) between the switch and the receiver)"
check "draining under traffic: the nodes counted what the switch steered, the receiver got it" conserved
check "n3 drained: sidecar status says so, its 8 buckets now go to n1 and n2 in turn ($(sc_group_ports))" \
	eval 'grep -q "^node: n3 port=5 down" "$SC_WORK/drain.out" && [ "$(sc_group_ports)" = "3:12 4:12" ]'
moved=$(python3 -c "import json
a = json.load(open('$SC_WORK/spread.json'))['macs'].get('$(sc_mac 3)', {})
b = json.load(open('$SC_WORK/drain.json'))['macs']
after = set(b.get('$(sc_mac 1)', {})) | set(b.get('$(sc_mac 2)', {}))
print(sum(1 for k in a if k in after), len(a))")
diag "n3's flows seen on n1 or n2 during the drain burst: ${moved% *} of ${moved#* }"
check "every one of n3's flows moved to n1 or n2 ($moved)" test "${moved% *}" = "${moved#* }"
c3=$(sc_counter 3)
burst after 2
stayed=$(python3 -c "import json
node = {'$(sc_mac 1)': 'n1', '$(sc_mac 2)': 'n2', '$(sc_mac 3)': 'n3'}
def where(name):
    m = json.load(open('$SC_WORK/' + name + '.json'))['macs']
    return {f: node.get(mac, mac) for mac, v in m.items() for f in v}
a, b = where('spread'), where('after')
kept = [f for f, n in a.items() if n != 'n3']
print(sum(1 for f in kept if b.get(f) == a[f]), len(kept))")
check "the flows of n1 and n2 stay on their node when n3 leaves (${stayed% *} of ${stayed#* })" \
	test "${stayed% *}" = "${stayed#* }"
after_ok() { test "$(sc_counter 3)/$(view after "set(pkts) <= {'n1', 'n2'}")" = "$c3/True" && conserved; }
check "after the drain no packet reaches n3: its counter stays $c3, all arrive via n1 and n2 ($(view after "sorted(pkts.items())"))" \
	after_ok

# --- Every node drained: fail-open ----------------------------------------------------
sc_sidecar drain n1 >/dev/null && sc_sidecar drain n2 >"$SC_WORK/drain.out"
check "sidecar status: 0 nodes up, fail-open" grep -q '^nodes: 0 up of 3 (fail-open' "$SC_WORK/drain.out"
check "the filter's flows go NORMAL" \
	eval '[ "$(sc_flows | grep -c "priority=500,udp6\?,tp_dst=7000 actions=NORMAL")" -eq 2 ]'
burst open 2
open_ok() { test "$(view open "list(pkts) == ['direct']")/$CTR" = True/0 && conserved 0; }
check "the filtered packets go straight through to the receiver, no node counts them ($(view open "sorted(pkts.items())"))" \
	open_ok

sc_sidecar undrain n1 >/dev/null && sc_sidecar undrain n2 >/dev/null && sc_sidecar undrain n3 >/dev/null
check "undrain: the group has three buckets again, the flows point at it" \
	eval 'group3 && [ "$(sc_flows | grep -c "priority=500,udp6\?,tp_dst=7000 actions=group:1")" -eq 2 ]'
burst back 2
back_ok() { test "$(view back "'direct' not in pkts")" = True && conserved; }
check "and the traffic goes through the nodes again ($(view back "sorted(pkts.items())"))" \
	back_ok

# --- A controller that is not one of the nodes ----------------------------------------
check "netservd on n1 stops cleanly" sc_stop_node 1
SC_LOCAL= SC_OF_NODES="n2:4:$(sc_mac 2), n3:5:$(sc_mac 3)" sc_start_node 1
check "n1 restarts as a controller only (nodes n2, n3; no local node)" wait_until 15 connected
check "its restored module's filter is steered to the group {n2, n3}, nothing to n1" \
	eval 'group2() { [ "$(sc_group_ports)" = "4:8 5:8" ]; }; wait_until 5 group2 &&
		[ "$(sc_flows | grep -c "priority=500,udp6\?,tp_dst=7000 actions=group:1")" -eq 2 ] &&
		! sc_in n1 iptables-save -t mangle | grep -q netserv:'
c1=$(sc_counter 1)
burst ctlonly 2
ctlonly_ok() { test "$(view ctlonly "set(pkts) == {'n2', 'n3'}")/$(sc_counter 1)" = "True/$c1" && conserved; }
check "the flows go through n2 and n3 only ($(view ctlonly "sorted(pkts.items())")), n1's counter stays $c1" \
	ctlonly_ok

for k in 1 2 3; do
	check "netservd on n$k stops cleanly" sc_stop_node "$k"
done
tap_done
