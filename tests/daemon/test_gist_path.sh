#!/usr/bin/env bash
# GIST along a path of network namespaces:
#
#   querier ── r1 ── r2 ── r3 ── host
#   (querier_only)  GIST   plain  GIST   (no GIST: ICMP port unreachable)
#                   100    router 100, 101
#
# r1 and r3 run tests/gist/gist_peer with an NFQUEUE fed by an iptables rule
# (mangle FORWARD, UDP port 270), relaying what they receive along the path
# (--forward); r3 also answers upstream (--echo). Checks: a message from the
# querier reaches r1, r1's reaches r3; r3 learns it is the last node from the
# host's ICMP port unreachable quickly, and with ICMP filtered by the back-off;
# r3's answer travels back r3 → r1 → querier; a Query for NSLPID 101 passes r1
# with only its hop count changed and is answered by r3; IPv6 with Router
# Alert; C-mode end to end for a message larger than a datagram.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/tap.sh"
source "$here/../lib/topo.sh"
B=${NETSERV_BUILD:?}

if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP needs root"
	exit 0
fi
[ -x "$B/gist_peer" ] || { not_ok "gist_peer is built"; tap_done; exit 1; }

WORK=$(mktemp -d /tmp/netserv-gist.XXXXXX)
cleanup_gist() {
	topo_destroy
	rm -rf "$WORK"
}
trap cleanup_gist EXIT

topo_create querier r1 r2 r3 host || { not_ok "topology"; tap_done; exit 1; }
Q4=$(topo_addr querier)
H4=$(topo_addr host)
Q6=$(topo_addr -6 querier)
H6=$(topo_addr -6 host)
R1=$(topo_addr r1 toward host) # r1's Queries toward the host come from here
QN=$((2000 + RANDOM % 20000))

for r in r1 r3; do
	for ipt in iptables ip6tables; do
		topo_exec "$r" "$ipt" -t mangle -A FORWARD -p udp --dport 270 \
			-j NFQUEUE --queue-num "$QN" --queue-bypass ||
			{ not_ok "$ipt rule in $r"; tap_done; exit 1; }
	done
done

peer() { # NODE LOG ARGS...
	local node=$1 log=$2
	shift 2
	topo_spawn "$node" "$B/gist_peer" "$@" >"$WORK/$log" 2>&1
}

lines() { wc -l <"$1"; }
next_line() { echo $(($(lines "$1") + 1)); }
# the line of FILE (from FROM) matching REGEX
line_of() { tail -n +"$2" "$1" | grep -E -- "$3" | head -1; }
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }

# status_of FILE FROM WHAT NSLPID: the status line of the first send WHAT
# for NSLPID from line FROM on, once it is there.
status_of() {
	local f=$1 from=$2 what=$3 nslpid=$4 secs=${5:-5} h i
	for ((i = 0; i < secs * 50; i++)); do
		h=$(field "$(line_of "$f" "$from" "^sent .*nslpid=$nslpid .*what=$what")" handle)
		if [ -n "$h" ]; then
			line_of "$f" "$from" "^status handle=$h " | grep . && return 0
		fi
		sleep 0.02
	done
	return 1
}

peer r1 r1.log --id r1 --queue "$QN" --nslpid 100 --forward --router-alert --t1 100 --t2 400
peer r3 r3.log --id r3 --queue "$QN" --nslpid 100 --nslpid 101 --forward --echo --t1 100 --t2 800
if wait_line "$WORK/r1.log" '^ready' && wait_line "$WORK/r3.log" '^ready'; then
	ok "GIST nodes start on r1 and r3 with NFQUEUE $QN"
else
	not_ok "GIST nodes start on r1 and r3"
	sed 's/^/#   /' "$WORK"/r*.log
	tap_done
	exit 1
fi

query() { # LOG ARGS...: one send from the querier, until the answer arrives
	local log=$1
	shift
	ip netns exec "$(topo_ns querier)" "$B/gist_peer" --id q --querier "$@" \
		--until-up 1 --until-status 1 --timeout 6000 >"$WORK/$log" 2>&1
}

cat >"$WORK/sniff.py" <<'EOF'
import socket, struct, sys, time
ifname, out, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((ifname, 0))
s.settimeout(0.05)
open(out + ".ready", "w").close()
end = time.time() + secs
with open(out, "w") as f:
    while time.time() < end:
        try:
            pkt = s.recv(65535)
        except socket.timeout:
            continue
        eth, p = struct.unpack("!H", pkt[12:14])[0], pkt[14:]
        rao = False
        if eth == 0x0800:
            ihl = (p[0] & 15) * 4
            proto, l4, rao = p[9], p[ihl:], b"\x94\x04" in p[20:ihl]
        elif eth == 0x86DD:
            nh, off = p[6], 40
            while nh in (0, 43, 60):
                if nh == 0:
                    rao = b"\x05\x02" in p[off + 2:off + (p[off + 1] + 1) * 8]
                nh, off = p[off], off + (p[off + 1] + 1) * 8
            proto, l4 = nh, p[off:]
        else:
            continue
        if proto == 17 and len(l4) > 8 and struct.unpack("!H", l4[2:4])[0] == 270:
            f.write(("rao " if rao else "- ") + l4[8:].hex() + "\n")
            f.flush()
EOF
# sniff NODE IF OUT: captures UDP payloads to port 270 on IF (for at most 8 s,
# until sniff_wait), one per line: "rao HEX" (with Router Alert) or "- HEX".
sniff() { # NODE IF OUT
	ip netns exec "$(topo_ns "$1")" python3 "$WORK/sniff.py" "$2" "$WORK/$3" 8 &
	SNIFF_PIDS+=($!)
	for _ in $(seq 1 150); do
		[ -e "$WORK/$3.ready" ] && return 0
		sleep 0.02
	done
	return 1
}
# qry FILE NSLPID: the first Q-mode Query (type byte 0x80) of NSLPID (4 hex
# digits) captured in FILE, as "FLAG HEX".
qry() { grep -E "^[a-z-]+ 4e04bda5.{8}$2 ?80" "$WORK/$1" | head -1; }
has_qry() { [ -n "$(qry "$1" "$2" 2>/dev/null)" ]; }
# sniff_wait FILE NSLPID...: the packets are in flight a little longer than
# the answer: until each FILE holds a Query of its NSLPID (2 s at most), then
# the sniffers stop.
sniff_wait() {
	while [ $# -ge 2 ]; do
		wait_until 2 has_qry "$1" "$2"
		shift 2
	done
	for p in "${SNIFF_PIDS[@]}"; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	SNIFF_PIDS=()
}
SNIFF_PIDS=()

# ---- 1. IPv4: querier → r1 → r3, answers back hop by hop; ICMP last node --------
r1l=$(next_line "$WORK/r1.log")
r3l=$(next_line "$WORK/r3.log")
sniff r2 "$(topo_if r2 toward r1)" cap1 || not_ok "packet capture starts"
query q1.log --nslpid 100 --send hello --src "$Q4" --dst "$H4"
sniff_wait cap1 0064
l=$(line_of "$WORK/r1.log" "$r1l" '^recv nslpid=100 dir=down')
check "r1 receives the querier's message (first, from the querier)" \
	grep -qE "first=1 peer=$Q4 port=[0-9]+ peer_id=q hops=32 .*data=hello$" <<<"$l"
l=$(line_of "$WORK/r3.log" "$r3l" '^recv nslpid=100 dir=down')
check "r3 receives it from r1 (r2 is not a GIST node)" \
	grep -qE "first=1 peer=$R1 port=270 peer_id=r1 hops=32 .*data=hello$" <<<"$l"
l=$(line_of "$WORK/q1.log" 1 '^recv')
check "r3's answer reaches the querier through r1" \
	grep -qE "nslpid=100 dir=up first=0 peer=[0-9.]+ port=270 peer_id=r1 .*data=echo:r3:hello$" <<<"$l"
l=$(line_of "$WORK/r1.log" "$r1l" '^recv nslpid=100 dir=up')
check "r1 receives r3's answer from r3 (upstream)" grep -q "peer_id=r3 .*data=echo:r3:hello" <<<"$l"
check "the querier's send is reported sent" grep -q "^status .*status=sent" "$WORK/q1.log"
l=$(status_of "$WORK/r3.log" "$r3l" forward-down 100)
ms=$(field "$l" ms)
if grep -q "status=last_node ms=[0-9]* us=[0-9]* how=icmp port unreachable" <<<"$l" &&
	[ "$ms" -lt 500 ]; then
	ok "r3 is the last node, by ICMP port unreachable from the host, in $(field "$l" us) us"
else
	not_ok "r3 is the last node by ICMP in well under a second: '$l'"
fi
l=$(status_of "$WORK/r1.log" "$r1l" forward-down 100)
check "r1's send to r3 is reported sent" grep -q "status=sent" <<<"$l"
l=$(qry cap1 0064)
check "r1's Query carries the IPv4 Router Alert option, GIST hops 32" \
	grep -qE "^rao 4e04bda501200" <<<"$l"

# ---- 2. NSLPID 101 passes r1 unchanged but for the hop count ----------------------
SNIFF_PIDS=()
sniff querier "$(topo_if querier)" cap-q && sniff r2 "$(topo_if r2 toward r1)" cap-r2 ||
	not_ok "packet capture starts"
r1l=$(next_line "$WORK/r1.log")
r3l=$(next_line "$WORK/r3.log")
query q2.log --nslpid 101 --send passing --src "$Q4" --dst "$H4"
sniff_wait cap-q 0065 cap-r2 0065
before=$(qry cap-q 0065)
after=$(qry cap-r2 0065)
before=${before#- }
after=${after#- }
if [ -n "$before" ] && [ "${before:10:2}" = 20 ] && [ "${after:10:2}" = 1f ] &&
	[ "${before:0:10}${before:12}" = "${after:0:10}${after:12}" ]; then
	ok "the NSLPID 101 Query leaves r1 byte for byte, GIST hops 32 -> 31 (${#before} hex digits)"
else
	not_ok "the NSLPID 101 Query passes r1 unchanged but for the hops"
	diag "before r1: $before"
	diag "after r1:  $after"
fi
l=$(line_of "$WORK/r3.log" "$r3l" '^recv nslpid=101 dir=down')
check "r3 receives NSLPID 101 straight from the querier, 31 GIST hops left" \
	grep -qE "first=1 peer=$Q4 port=[0-9]+ peer_id=q hops=31 .*data=passing$" <<<"$l"
check "r1 hands nothing of NSLPID 101 to its NSLP" \
	bash -c "! tail -n +$r1l '$WORK/r1.log' | grep -q 'nslpid=101'"
l=$(line_of "$WORK/q2.log" 1 '^recv')
check "r3's answer for 101 comes straight back to the querier" \
	grep -qE "dir=up first=0 peer=[0-9.]+ port=270 peer_id=r3 .*data=echo:r3:passing$" <<<"$l"

# ---- 3. IPv6, the querier's Queries with a hop-by-hop Router Alert ----------------
r1l=$(next_line "$WORK/r1.log")
r3l=$(next_line "$WORK/r3.log")
sniff querier "$(topo_if querier)" cap3 || not_ok "packet capture starts"
query q3.log --nslpid 100 --router-alert --send six --src "$Q6" --dst "$H6"
sniff_wait cap3 0064
check "IPv6: the querier's Query carries a hop-by-hop Router Alert" \
	grep -qE "^rao " <<<"$(qry cap3 0064)"
check "IPv6: r1 intercepts the Query with Router Alert" \
	grep -qE "^recv nslpid=100 dir=down first=1 peer=$Q6 .*data=six$" <(tail -n +"$r1l" "$WORK/r1.log")
check "IPv6: r3 receives from r1" \
	grep -qE "^recv nslpid=100 dir=down first=1 peer=fd00:[0-9a-f:]+ port=270 peer_id=r1 .*data=six$" \
	<(tail -n +"$r3l" "$WORK/r3.log")
check "IPv6: the answer comes back through r1" \
	grep -qE "^recv nslpid=100 dir=up .*peer_id=r1 .*data=echo:r3:six$" "$WORK/q3.log"
l=$(status_of "$WORK/r3.log" "$r3l" forward-down 100)
ms=$(field "$l" ms)
if grep -q "status=last_node ms=[0-9]* us=[0-9]* how=icmp port unreachable" <<<"$l" &&
	[ "$ms" -lt 500 ]; then
	ok "IPv6: r3 is the last node by ICMPv6 port unreachable in $(field "$l" us) us"
else
	not_ok "IPv6: r3 is the last node by ICMPv6: '$l'"
fi

# ---- 4. C-mode: a message larger than a datagram, there and back ------------------
r1l=$(next_line "$WORK/r1.log")
r3l=$(next_line "$WORK/r3.log")
query q4.log --nslpid 100 --send big --size 3000 --src "$Q4" --dst "$H4"
check "C-mode: r1 receives 3000 bytes" \
	grep -qE "^recv nslpid=100 dir=down first=1 peer=$Q4 .* len=3000 data=bigd" <(tail -n +"$r1l" "$WORK/r1.log")
check "C-mode: r3 receives 3000 bytes from r1" \
	grep -qE "^recv nslpid=100 dir=down first=1 .*peer_id=r1 .* len=3000 " <(tail -n +"$r3l" "$WORK/r3.log")
check "C-mode: the 3008-byte answer comes back through r1" \
	grep -qE "^recv nslpid=100 dir=up .*peer_id=r1 .* len=3008 data=echo:r3:bigd" "$WORK/q4.log"
check "C-mode: the querier's send went over TCP" grep -q "status=sent .*how=sent (C-mode)" "$WORK/q4.log"
check "C-mode: the querier opened one messaging association" grep -q "mas_open=1" "$WORK/q4.log"

# ---- 5. ICMP filtered at the host: last node by the back-off ----------------------
topo_exec host iptables -A OUTPUT -p icmp --icmp-type port-unreachable -j DROP
r3l=$(next_line "$WORK/r3.log")
query q5.log --nslpid 100 --send quiet --src "$Q4" --dst "$H4"
l=$(status_of "$WORK/r3.log" "$r3l" forward-down 100 6)
ms=$(field "$l" ms)
# t1 100 ms doubling to t2 800 ms: 100 + 200 + 400 + 800 = 1500 ms
if grep -q "status=last_node ms=[0-9]* us=[0-9]* how=timeout" <<<"$l" && [ "$ms" -ge 1400 ] && [ "$ms" -lt 3000 ]; then
	ok "with ICMP filtered, r3 is the last node by the back-off in $ms ms"
else
	not_ok "with ICMP filtered, r3 is the last node by the back-off: '$l'"
fi
check "the querier still gets r3's answer" grep -q "data=echo:r3:quiet" "$WORK/q5.log"

# ---- statistics at exit -------------------------------------------------------------
for pid in "${TOPO_PIDS[@]}"; do topo_kill "$pid" TERM; done
TOPO_PIDS=()
s1=$(grep '^stats' "$WORK/r1.log")
s3=$(grep '^stats' "$WORK/r3.log")
check "r1 relayed the NSLPID 101 Query ($(field "$s1" queries_relayed))" \
	test "$(field "$s1" queries_relayed)" -ge 1
check "r3 counted last nodes: $(field "$s3" last_node_icmp) by ICMP, $(field "$s3" last_node_timeout) by timeout" \
	test "$(field "$s3" last_node_icmp)" -ge 3 -a "$(field "$s3" last_node_timeout)" -ge 1
if [ "$TAP_FAILED" -gt 0 ]; then
	for f in r1 r3 q1 q2 q3 q4 q5; do
		[ -f "$WORK/$f.log" ] && sed "s/^/# $f: /" "$WORK/$f.log"
	done
fi
tap_done
