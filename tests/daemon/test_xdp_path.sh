#!/usr/bin/env bash
# The AF_XDP plane end to end (src/fwd/xdp/, docs/xdp.md), with the test
# forwarder xsk_fwd in the router of sender -- router -- receiver: UDP to the
# filter's port (IPv4 and IPv6) is redirected by the XDP program to an AF_XDP
# socket and forwarded in user space (counted at the receiver, TTL/hop limit
# decremented, checksums valid: the receiver's kernel checks them); UDP to
# another port is forwarded by the kernel (XDP_PASS); UDP to a third port is
# sampled (1 in 10 copied to the samples ring and read) and forwarded by the
# kernel; detaching leaves no XDP program and no pins; SIGKILL of the forwarder while traffic flows: the
# socket leaves the XSKMAP and the traffic goes back to the kernel (the loss
# in that window is reported). Then the same split as netservd and a
# container will have it (xsk_fwd -a): the privileged parent attaches and
# makes the sockets, an unprivileged child (uid 65534, no capabilities)
# adopts them and forwards; SIGKILL of the child: the parent empties the slot
# and the kernel takes the traffic back (loss reported). Needs root; skips
# otherwise.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/tap.sh"

if [ "$(id -u)" -ne 0 ]; then
	ok "# SKIP needs root (network namespaces, XDP)"
	tap_done
	exit 0
fi
: "${NETSERV_BUILD:=$here/../../build}"
for t in xsk_fwd udpblast udpcount netserv_xdp.bpf.o; do
	[ -e "$NETSERV_BUILD/$t" ] || { not_ok "$t is built ($NETSERV_BUILD/$t)"; tap_done; exit 1; }
done
source "$here/../lib/topo.sh"

# Set before topo_create: topo's own EXIT trap runs it, then tears down.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
topo_create snd rtr rcv || { not_ok "topology created"; tap_done; exit 1; }

IN=$(topo_if rtr toward snd)
OUT=$(topo_if rtr toward rcv)
DST4=$(topo_addr -4 rcv)
DST6=$(topo_addr -6 rcv)
PX=7000 # the filter's port: user space
PK=7001 # another port: the kernel
PS=7002 # sampled 1 in 10, forwarded by the kernel
N=2000
diag "router $(topo_ns rtr): in $IN, out $OUT"

# The sender's veth would hand the router frames with the UDP checksum not
# yet computed (checksum offload); real NICs put whole frames on the wire.
topo_exec snd ethtool -K "$(topo_if snd)" tx off >/dev/null

# TTL/hop limit as the receiver sees them: counted by rules there.
topo_exec rcv iptables -t raw -A PREROUTING -p udp -m ttl --ttl-eq 63 -j ACCEPT
topo_exec rcv ip6tables -t raw -A PREROUTING -p udp -m hl --hl-eq 63 -j ACCEPT
ttl_count() { # iptables|ip6tables: packets with TTL 63 at the receiver
	topo_exec rcv "$1" -t raw -L PREROUTING -v -x -n | awk 'NR > 2 { print $1; exit }'
}

# xsk_fwd runs in a mount namespace of its own (ip netns exec makes one)
# with a bpffs of its own for libxdp: gone when it exits.
FWD_PID=
start_fwd() { # LOG [-a]
	local log=$1
	shift
	: >"$log"
	topo_spawn rtr sh -c 'mount -t bpf bpf /sys/fs/bpf && exec "$@"' _ \
		"$NETSERV_BUILD/xsk_fwd" "$@" "$NETSERV_BUILD/netserv_xdp.bpf.o" "$IN" "$OUT" "$PX" \
		>"$log" 2>&1
	FWD_PID=$TOPO_LAST_PID
	wait_line "$log" '^ready' 10
}
stat_of() { grep -v "^progress" "$1" | sed -n "s/.*\b$2=\([0-9-]*\).*/\1/p" | head -n 1; }

# count_at_receiver PORT FAMILY-ADDR COUNT [RATE [NODE]]: sends COUNT
# datagrams from the sender and prints how many the receiver (or NODE) got.
count_at_receiver() {
	local port=$1 addr=$2 n=$3 rate=${4:-20000} node=${5:-rcv} log
	log=$work/count.$port.$node
	topo_spawn "$node" "$NETSERV_BUILD/udpcount" -p "$port" -t 30 -i 1000 >"$log" 2>&1
	local pid=$TOPO_LAST_PID
	wait_line "$log" '^ready' 5 || {
		echo 0
		return
	}
	topo_exec snd "$NETSERV_BUILD/udpblast" -d "$addr" -p "$port" -n "$n" -s 100 -r "$rate" \
		>"$work/blast.$port" 2>&1
	wait_line "$log" '^received=' 10
	topo_kill "$pid"
	stat_of "$log" received
}

# ---- forwarded in user space, and by the kernel -------------------------
if start_fwd "$work/fwd1" -s "10:$PS"; then
	ok "xsk_fwd attached ($(head -n 1 "$work/fwd1"))"
else
	not_ok "xsk_fwd attached"
	sed 's/^/#   /' "$work/fwd1"
	tap_done
	exit 1
fi
check "XDP program on $IN while attached" bash -c \
	"ip -n $(topo_ns rtr) link show $IN | grep -q xdp"
got=$(count_at_receiver "$PX" "$DST4" "$N")
check "IPv4 UDP to port $PX: $got of $N at the receiver" [ "${got:-0}" -eq "$N" ]
ttl4=$(ttl_count iptables)
check "IPv4: all $N arrived with TTL 63 (got $ttl4)" [ "${ttl4:-0}" -eq "$N" ]
got=$(count_at_receiver "$PX" "$DST6" "$N")
check "IPv6 UDP to port $PX: $got of $N at the receiver" [ "${got:-0}" -eq "$N" ]
hl6=$(ttl_count ip6tables)
check "IPv6: all $N arrived with hop limit 63 (got $hl6)" [ "${hl6:-0}" -eq "$N" ]
got=$(count_at_receiver "$PK" "$DST4" "$N")
check "IPv4 UDP to port $PK (the kernel's): $got of $N at the receiver" [ "${got:-0}" -eq "$N" ]
got=$(count_at_receiver "$PS" "$DST4" "$N")
check "IPv4 UDP to port $PS (sampled): $got of $N at the receiver" [ "${got:-0}" -eq "$N" ]

# Matching, but addressed to the router itself: the FIB does not forward
# it, the kernel delivers it.
got=$(count_at_receiver "$PX" "$(topo_addr -4 rtr toward snd)" 500 20000 rtr)
check "IPv4 UDP to port $PX of the router itself: $got of 500 delivered there" [ "${got:-0}" -eq 500 ]

topo_kill "$FWD_PID" TERM
rc=$?
FWD_PID=
check "xsk_fwd ended cleanly on SIGTERM (status $rc)" [ "$rc" -eq 0 ]
sed 's/^/# /' "$work/fwd1"
fwd=$(stat_of "$work/fwd1" forwarded)
red=$(stat_of "$work/fwd1" xdp_redirected)
passed=$(stat_of "$work/fwd1" xdp_passed)
check "user space forwarded the $((2 * N)) to port $PX (forwarded=$fwd, redirected=$red)" \
	eval '[ "${fwd:-0}" -eq $((2 * N)) ] && [ "${red:-0}" -eq $((2 * N)) ]'
check "the $N to port $PK went to the kernel (xdp passed=$passed)" [ "${passed:-0}" -ge "$N" ]
smp=$(stat_of "$work/fwd1" samples)
xs=$(stat_of "$work/fwd1" xdp_sampled)
# One in 10 per CPU: 200, or a little less if the NAPI thread moved.
check "1 in 10 of the $N to port $PS sampled and read (samples=$smp, xdp sampled=$xs)" \
	eval '[ "${smp:-0}" -ge $((N / 10 - 2)) ] && [ "${smp:-0}" -le $((N / 10)) ] && [ "$smp" = "$xs" ]'
nf=$(stat_of "$work/fwd1" xdp_not_forwarded)
check "the 500 to the router matched but were not forwarded (not_forwarded=$nf)" [ "${nf:-0}" -eq 500 ]
check "detached cleanly, no pins left (detach=$(stat_of "$work/fwd1" detach) pins=$(stat_of "$work/fwd1" pins))" \
	eval '[ "$(stat_of "$work/fwd1" detach)" = 0 ] && [ "$(stat_of "$work/fwd1" pins)" = 0 ]'
check "no XDP program on $IN after detaching" bash -c \
	"! ip -n $(topo_ns rtr) link show $IN | grep -q xdp"

# ---- fail-open: SIGKILL while traffic flows -----------------------------
M=40000
RATE=20000
start_fwd "$work/fwd2" || not_ok "xsk_fwd attached again"
log=$work/count.kill
topo_spawn rcv "$NETSERV_BUILD/udpcount" -p "$PX" -t 30 -i 1000 >"$log" 2>&1
cnt=$TOPO_LAST_PID
wait_line "$log" '^ready' 5
topo_spawn snd "$NETSERV_BUILD/udpblast" -d "$DST4" -p "$PX" -n "$M" -s 100 -r "$RATE" \
	>"$work/blast.kill" 2>&1
blast=$TOPO_LAST_PID
# Killed once user space has forwarded a good part of the load.
fwd_progress() { [ "$(grep '^progress' "$work/fwd2" | tail -n 1 | sed 's/.*=//')" -ge 5000 ] 2>/dev/null; }
check "user space forwards the load before the kill" wait_until 10 fwd_progress
topo_kill "$FWD_PID" KILL
FWD_PID=
wait "$blast"
wait_line "$log" '^received=' 10
topo_kill "$cnt"
got=$(stat_of "$log" received)
lost=$((M - ${got:-0}))
diag "fail-open at $RATE pps: $got of $M arrived, $lost lost in the window after SIGKILL"
check "after SIGKILL the kernel forwards: lost $lost of $M (<= one rx ring, 2048)" \
	eval '[ "${got:-0}" -gt $((M / 2)) ] && [ "$lost" -le 2048 ]'
# The program stays attached with an empty XSKMAP slot (libxdp's legacy
# mode has no owner to detach it); the operator (netservd, later) removes it.
check "XDP program still on $IN, fail-open" bash -c \
	"ip -n $(topo_ns rtr) link show $IN | grep -q xdp"
topo_exec rtr ip link set dev "$IN" xdp off
check "removed: no XDP program on $IN" bash -c \
	"! ip -n $(topo_ns rtr) link show $IN | grep -q xdp"

# ---- split: a privileged maker, an unprivileged forwarder ----------------
if start_fwd "$work/fwd3" -a && wait_line "$work/fwd3" '^adopted uid=65534 capeff=0+$' 10; then
	ok "the child adopted the sockets as uid 65534 without capabilities"
else
	not_ok "the child adopted the sockets as uid 65534 without capabilities"
	sed 's/^/#   /' "$work/fwd3"
fi
got=$(count_at_receiver "$PX" "$DST4" "$N")
check "split: IPv4 UDP to port $PX: $got of $N at the receiver" [ "${got:-0}" -eq "$N" ]
child=$(pgrep -P "$FWD_PID" | head -n 1)
log=$work/count.kill2
topo_spawn rcv "$NETSERV_BUILD/udpcount" -p "$PX" -t 30 -i 1000 >"$log" 2>&1
cnt=$TOPO_LAST_PID
wait_line "$log" '^ready' 5
topo_spawn snd "$NETSERV_BUILD/udpblast" -d "$DST4" -p "$PX" -n "$M" -s 100 -r "$RATE" \
	>"$work/blast.kill2" 2>&1
blast=$TOPO_LAST_PID
fwd3_progress() { [ "$(grep '^progress' "$work/fwd3" | tail -n 1 | sed 's/.*=//')" -ge $((N + 5000)) ] 2>/dev/null; }
check "split: the child forwards the load before the kill" wait_until 10 fwd3_progress
if [ -n "$child" ] && [ "$child" -gt 1 ]; then
	kill -KILL "$child"
fi
wait "$blast"
wait_line "$log" '^received=' 10
topo_kill "$cnt"
got=$(stat_of "$log" received)
lost=$((M - ${got:-0}))
diag "split fail-open at $RATE pps: $got of $M arrived, $lost lost after SIGKILL of the child"
check "split: the parent emptied the slot ($(grep '^child exited' "$work/fwd3"))" \
	grep -q '^child exited .* cleared=0' "$work/fwd3"
check "split: after SIGKILL the kernel forwards: lost $lost of $M (<= 2048)" \
	eval '[ "${got:-0}" -gt $((M / 2)) ] && [ "$lost" -le 2048 ]'
topo_kill "$FWD_PID" TERM
rc=$?
FWD_PID=
check "split: the parent ended cleanly and detached (status $rc)" [ "$rc" -eq 0 ]
check "split: no XDP program on $IN" bash -c "! ip -n $(topo_ns rtr) link show $IN | grep -q xdp"

tap_done
