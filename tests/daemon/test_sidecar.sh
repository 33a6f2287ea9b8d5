#!/usr/bin/env bash
# The OpenFlow sidecar with one node (docs/openflow.md "The driver"): a real
# Open vSwitch (userspace datapath) between a sender and a receiver, node n1
# on its port 3 running netservd with driver = openflow (the switch's
# controller, the signaling node, and itself the one node: local_node).
# Checks: the fixed table once; a signed SETUP signaled by the sender
# through the switch reaches n1 (GIST Query steered to the signaling port)
# and installs the counter; the filter's flows point at the select group;
# the counter counts every packet of its filter (udp/7000) and none of the
# others, which go straight through (OVS flow counters and the receiver's
# view of who routed each frame); sidecar status and metrics; REMOVE
# leaves no flow of the module; a restart of netservd, and one of
# ovs-vswitchd, leave exactly one copy of the table; tshark's openflow_v4 dissector reads every message netservd
# sent without a malformed mark. Root and Open vSwitch; skips otherwise.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/tap.sh"
source "$here/../lib/sidecar.sh"

if ! command -v tshark >/dev/null; then
	echo "1..0 # SKIP tshark is not installed (scripts/install-deps)"
	exit 0
fi
CAP_PID=
sc_test_setup sc CAP_PID
FLOWS=$here/../lib/sidecar_flows.py
SND_MAC=
N1_MAC=$(sc_mac 1)

if sc_create 1 && sc_prepare; then
	ok "namespaces, Open vSwitch (own db and run dir), sender, receiver, node n1 on port 3"
else
	not_ok "the topology"
	tap_done
	exit 1
fi
SND_MAC=$(sc_in snd cat /sys/class/net/eth0/address)
METRICS_PORT=$((9100 + SC_TAG % 800))

# Everything netservd sends to the switch, for tshark.
# (not through sc_in, a function: $! must be dumpcap itself)
ip netns exec "$(sc_ns sw)" dumpcap -q -i "m$SC_TAG" -f "tcp port 6653" -w "$SC_WORK/of.pcapng" \
	2>"$SC_WORK/dumpcap.err" &
CAP_PID=$!
wait_line "$SC_WORK/dumpcap.err" 'Capturing on' 5 || diag "dumpcap: $(cat "$SC_WORK/dumpcap.err")"

check "netservd on n1 starts (driver openflow, local node n1, signaling)" \
	sc_start_node 1 $'[metrics]\nlisten = 127.0.0.1:'"$METRICS_PORT"
connected() { sc_sidecar status 2>/dev/null | grep -q '^switch: connected dpid=00000000000051de'; }
check "the switch connects to netservd: sidecar status says connected, dpid 0x51de" \
	wait_until 15 connected

# flows_are N: exactly N flows of ours.
flows_are() { [ "$(sc_flows | wc -l)" -eq "$1" ]; }
fixed_table() {
	local f
	f=$(sc_flows)
	[ "$(wc -l <<<"$f")" -eq 4 ] &&
		grep -q 'priority=1000,in_port=3 actions=NORMAL' <<<"$f" &&
		grep -q "priority=900,udp,tp_dst=270 actions=set_field:$N1_MAC->eth_dst,output:3" <<<"$f" &&
		grep -q "priority=900,udp6,tp_dst=270 actions=set_field:$N1_MAC->eth_dst,output:3" <<<"$f" &&
		grep -q 'priority=0 actions=NORMAL' <<<"$f"
}
if wait_until 5 fixed_table && [ "$(sc_group_ports)" = "3:8" ]; then
	ok "the fixed table, once: from n1 NORMAL, udp/270 (v4, v6) to n1, NORMAL below; group 1: 8 buckets to n1"
else
	not_ok "the fixed table"
	diag "$(sc_ofctl dump-flows br0 | tr '\n' '|')"
fi

# --- SETUP by signaling through the switch --------------------------------------
out=$(sc_in snd env NETSERV_KEY="$SC_WORK/keys/janedoe.key" "$SC_BUILD/netserv" setup \
	--to "$(sc_addr rcv)" -m NetServ.apps.Counter_1.0 -u janedoe \
	--url "file://$SC_WORK/counter.wasm" --hash "$SC_HASH" --ttl 600 \
	--filter-proto udp --filter-port 7000 --json --timeout 60 2>&1)
rc=$?
stack=$(python3 -c "import json,sys; r=json.load(sys.stdin); print(','.join(n['node']+':'+str(n['code']) for n in r['nodes']))" <<<"$out" 2>/dev/null)
check "a signed SETUP signaled toward the receiver is answered by n1 through the switch ($stack)" \
	test "$rc/$stack" = "0/n1:200"
sig_pkts=$(sc_flows | grep 'udp,tp_dst=270' | grep -o 'n_packets=[0-9]*' | cut -d= -f2)
check "the GIST Query went by the signaling flow (its n_packets: $sig_pkts)" test "${sig_pkts:-0}" -ge 1
module_flows() {
	local f
	f=$(sc_flows | grep -v 'cookie=0x4e53000000000000,')
	[ "$(wc -l <<<"$f")" -eq 2 ] &&
		grep -q 'priority=500,udp,tp_dst=7000 actions=group:1' <<<"$f" &&
		grep -q 'priority=500,udp6,tp_dst=7000 actions=group:1' <<<"$f" &&
		[ "$(grep -o 'cookie=0x[0-9a-f]*' <<<"$f" | sort -u | wc -l)" -eq 1 ]
}
check "the filter became 2 flows (udp, udp6 to 7000) -> group 1, under one cookie of their own" \
	wait_until 5 module_flows
check "n1 steers them into the module locally too (its netfilter rule)" \
	test "$(sc_in n1 iptables-save -t mangle | grep -c 'netserv:janedoe/NetServ.apps.Counter_1.0')" -ge 1

# --- Traffic: the filter's packets, and others ----------------------------------------
rx_start() { # OUT PORTS
	ip netns exec "$(sc_ns rcv)" python3 "$FLOWS" rx --ifname eth0 --port "$2" --idle-ms 3000 --max-s 20 --expect 700 \
		--out "$1" >"$1.log" 2>&1 &
	RX_PID=$!
	wait_line "$1.log" '^ready' 5
}
rx_json() { python3 -c "import json,sys; r=json.load(open('$1')); macs=r['macs']; print($2)"; }
sc_warm
rx_start "$SC_WORK/rx1.json" 7000,7001
sc_in snd python3 "$FLOWS" tx --dst "$(sc_addr rcv)" --port 7000 --flows 50 --rounds 10 \
	--rate 1000 >/dev/null
sc_in snd python3 "$FLOWS" tx --dst "$(sc_addr rcv)" --port 7001 --flows 20 --rounds 10 \
	--rate 1000 --base-sport 30000 >/dev/null
wait "$RX_PID"
via_n1=$(rx_json "$SC_WORK/rx1.json" "sum(v for k, v in macs.get('$N1_MAC', {}).items() if k.startswith('7000/'))")
other_n1=$(rx_json "$SC_WORK/rx1.json" "sum(v for k, v in macs.get('$N1_MAC', {}).items() if not k.startswith('7000/'))")
direct=$(rx_json "$SC_WORK/rx1.json" "sum(v for k, v in macs.get('$SND_MAC', {}).items() if k.startswith('7001/'))")
c=$(sc_counter 1)
sc_revalidated
grp=$(sc_flows | grep 'priority=500,udp,tp_dst=7000' | grep -o 'n_packets=[0-9]*' | cut -d= -f2)
diag "udp/7000: 500 sent, $grp took the filter's flow in the switch, n1 counted $c, $via_n1 reached the receiver through n1"
# At most 2% may be lost before the switch (this shared machine's veths
# under load); from the switch on, every packet is accounted for.
check "n1's counter counted every packet of its filter the switch steered, all reached the receiver ($c = $grp = $via_n1 >= 490)" \
	test "$c" = "$grp" -a "$grp" = "$via_n1" -a "$grp" -ge 490
check "the udp/7001 packets came straight from the sender, none through n1 ($direct of 200 direct, $other_n1 via n1)" \
	test "$direct" -ge 196 -a "$other_n1" = 0
st=$(sc_sidecar status)
check "sidecar status: n1 up, the module with its 2 flows, 6 flows in all" \
	eval 'grep -q "^node: n1 port=3 up mac=$N1_MAC" <<<"$st" &&
		grep -q "^module: janedoe/NetServ.apps.Counter_1.0 flows=2" <<<"$st" &&
		grep -q "^flows: 6" <<<"$st"'
m=$(sc_in n1 curl -s "http://127.0.0.1:$METRICS_PORT/metrics")
check "metrics: switch connected, 6 flows, 1 node up" \
	eval 'grep -qx "netserv_sidecar_switch_connected 1" <<<"$m" &&
		grep -qx "netserv_sidecar_flows 6" <<<"$m" &&
		grep -qx "netserv_sidecar_nodes{state=\"up\"} 1" <<<"$m"'
if command -v promtool >/dev/null; then
	check "promtool check metrics passes the scrape with the sidecar's families" \
		eval 'promtool check metrics <<<"$m" >/dev/null 2>&1'
fi

# --- Restart of netservd: one copy of the table ------------------------------------
sc_stop_node 1
check "with netservd stopped the switch keeps the flows (fail-mode secure)" flows_are 6
before=$(sc_flows | sed 's/duration=[^,]*, //; s/n_packets=[0-9]*, n_bytes=[0-9]*, //' | sort)
check "netservd on n1 restarts (module restored)" sc_start_node 1 $'[metrics]\nlisten = 127.0.0.1:'"$METRICS_PORT"
wait_until 15 connected
restarted_table() {
	[ "$(sc_flows | sed 's/duration=[^,]*, //; s/n_packets=[0-9]*, n_bytes=[0-9]*, //' | sort)" = "$before" ] &&
		[ "$(sc_flows | grep -c 'duration=[0-9.]*s,' )" -eq 6 ]
}
if wait_until 20 eval 'connected && sc_sidecar status | grep -q "^flows: 6" && restarted_table'; then
	ok "after the restart: the same 6 flows, exactly once"
else
	not_ok "the table after a restart"
	diag "$(sc_flows | tr '\n' '|')"
fi

# --- Restart of the switch: the table again, once -----------------------------------
check "ovs-vswitchd restarts (its flows gone with it)" sc_restart_switch
reconnected() { sc_sidecar status 2>/dev/null | grep -q '^switch: connected dpid=00000000000051de connects=2'; }
if wait_until 20 eval 'reconnected && restarted_table'; then
	ok "the restarted switch reconnects (connects=2) and gets the same 6 flows, once"
else
	not_ok "the table after a switch restart"
	diag "$(sc_sidecar status | tr '\n' '|') $(sc_flows | tr '\n' '|')"
fi

# --- REMOVE leaves no flow of the module ----------------------------------------------
out=$(sc_in snd env NETSERV_KEY="$SC_WORK/keys/janedoe.key" "$SC_BUILD/netserv" remove \
	--to "$(sc_addr rcv)" -m NetServ.apps.Counter_1.0 -u janedoe --json --timeout 20 2>&1)
rc=$?
check "REMOVE by signaling exits 0" test "$rc" = 0
check "REMOVE: no flow of the module left, the fixed table remains" wait_until 5 fixed_table

# --- tshark reads every message we sent ---------------------------------------------
# netservd stops first: once its FIN is in the capture, so is every message
# it sent before.
check "netservd stops cleanly" sc_stop_node 1
fin_captured() {
	[ -n "$(tshark -n -r "$SC_WORK/of.pcapng" -Y 'tcp.flags.fin == 1 && ip.src == 192.168.77.2' 2>/dev/null)" ]
}
wait_until 5 fin_captured || diag "no FIN from netservd in the capture"
kill "$CAP_PID" 2>/dev/null
wait "$CAP_PID" 2>/dev/null
CAP_PID=
# One line per OpenFlow message of ours: its type, Wireshark's expert
# severities (8388608 error: malformed; 6291456 warning), the malformed mark.
tshark -n -r "$SC_WORK/of.pcapng" -Y 'openflow_v4 && ip.src == 192.168.77.2' -T fields \
	-E separator='|' -e openflow_v4.type -e _ws.expert.severity -e _ws.malformed \
	>"$SC_WORK/of.txt" 2>"$SC_WORK/tshark.err"
[ -n "${KEEP_PCAP:-}" ] && cp "$SC_WORK/of.pcapng" "$KEEP_PCAP"
dec=$(cut -d'|' -f1 "$SC_WORK/of.txt" | tr ',' '\n' | sort -n | uniq -c | awk '{printf "%s:%s ", $2, $1}')
bad=$(grep -cE '8388608|6291456|\|.*[^|]$' <(cut -d'|' -f2- "$SC_WORK/of.txt"))
diag "OpenFlow messages netservd sent, type:count (tshark): $dec"
# Three connections (start, netservd's restart, the switch's): HELLO,
# FEATURES_REQUEST, SET_CONFIG, the table (delete ours, delete groups, the
# group, the flows), BARRIER each;
# FLOW_MODs: 1 + 4 fixed, 2 at SETUP, 1 + 6 after netservd's restart, 1 + 6
# after the switch's, 1 at REMOVE.
check "tshark decodes all of netservd's messages: HELLO 3, FEATURES 3, SET_CONFIG 3, FLOW_MOD 22, GROUP_MOD 6, BARRIER 3 (and ECHOs)" \
	eval 'grep -Eq "^0:3 (2:[0-9]+ )?5:3 9:3 14:22 15:6 20:3 $" <<<"$dec"'
check "none with a malformed mark or an expert error or warning ($bad of $(wc -l <"$SC_WORK/of.txt") frames)" \
	test "$bad" = 0 -a -s "$SC_WORK/of.txt"

tap_done
