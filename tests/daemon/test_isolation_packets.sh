#!/usr/bin/env bash
# Isolation between publishers on the packet path (issue #12, items 1 and 6):
# sender -- router -- receiver in network namespaces, netservd in the router.
# Publisher alice owns the receiver's address and 203.0.113.0/24; bob owns
# the sender's address. Bob attacks, alice's module keeps counting her own
# traffic (at least 95 % of it) meanwhile:
#   1. bob's module rewrites the source of his own flow to an address of
#      alice's (NS_MODIFIED): the node drops those packets (policy_drops),
#      none reaches the receiver in alice's name;
#   6. bob's modules flood with ns_send_udp and ns_send_packet: the node holds
#      all of bob's sends to his send_rate and send_bytes (the modules get
#      -NS_EAGAIN, counted as sends_limited), and refuses sends outside his
#      send_destinations (-NS_EPERM).
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/tap.sh"
source "$here/../lib/topo.sh"
source "$here/../lib/router_node.sh"
source "$here/../lib/wait.sh"
B=${NETSERV_BUILD:?}

if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP needs root"
	exit 0
fi

WORK=$(mktemp -d /tmp/netserv-ip.XXXXXX)
chmod 0711 "$WORK"
SOCK=$WORK/admin.sock
DPID=
CPIDS=()
cleanup_ip() {
	for p in "${CPIDS[@]}"; do kill -KILL "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	[ -n "$DPID" ] && kill -KILL "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	topo_destroy
	[ -n "${KEEP_LOG:-}" ] && cp "$WORK/netservd.log" "$KEEP_LOG"
	rm -rf "$WORK"
}
trap cleanup_ip EXIT

topo_create sender router receiver || { not_ok "topology"; tap_done; exit 1; }
RCV=$(topo_addr receiver)
SND=$(topo_addr sender)
PREFIX=NI${TOPO_TAG}
QBASE=$((2000 + RANDOM % 20000))
CG=netserv-ip-$TOPO_TAG
SPOOF=203.0.113.5 # inside alice's prefix
RATE=300          # bob's send_rate, packets/s
BYTES=150000      # bob's send_bytes, bytes/s

mkdir -p "$WORK/keys"
for u in alice bob; do
	"$B/netserv" keygen -d "$WORK" "$u" >/dev/null && cp "$WORK/$u.pub" "$WORK/keys/"
done

cat >"$WORK/netservd.conf" <<EOC
[node]
id = ip-router
state_dir = $WORK/state
admin_socket = $SOCK
[log]
level = info
[fetch]
protocols = file
[forwarding]
driver = netfilter
chain_prefix = $PREFIX
hooks = forward
[containers]
cgroup = $CG
queue_base = $QBASE
heartbeat_ms = 200
pool_size = 0
[security]
keys_dir = $WORK/keys
[publisher alice]
uid = 65532
nice = 0
prefixes = $RCV/32, 203.0.113.0/24
[publisher bob]
uid = 65533
prefixes = $SND/32
send_destinations = $RCV/32
send_rate = $RATE
send_bytes = $BYTES
EOC

as() { NETSERV_KEY=$WORK/$1.key ctl send -; }

# setup USER ID SOURCE [HEADER LINES]: deploys build/modules/SOURCE.wasm.
setup() {
	local path=$WORK/$2.wasm hash
	cp "$B/modules/$3.wasm" "$path"
	hash=sha256:$(sha256sum "$path" | cut -d' ' -f1)
	{
		printf 'SETUP %s NETSERV/0.1\nuser:%s\nurl:file://%s\nmodule-hash:%s\n' "$2" "$1" \
			"$path" "$hash"
		[ -n "${4:-}" ] && printf '%s\n' "$4"
		printf '\n'
	} | as "$1"
}

# listen PORT SECONDS: starts a UDP counter on the receiver (background, its
# output in $WORK/rcv.PORT: "from_spoof=N total=M bytes=B" at the end, after
# SECONDS or once $WORK/stop.PORT exists).
listen() {
	local out=$WORK/rcv.$1
	ip netns exec "$(topo_ns receiver)" python3 -c "import os,socket,sys,time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('0.0.0.0', int(sys.argv[1])))
s.settimeout(0.2)
print('ready', flush=True)
end = time.monotonic() + float(sys.argv[2])
spoof = total = nbytes = 0
while time.monotonic() < end and not os.path.exists(sys.argv[4]):
    try:
        data, (a, p) = s.recvfrom(4096)
    except socket.timeout:
        continue
    total += 1
    nbytes += len(data)
    spoof += a == sys.argv[3]
print('from_spoof=%d total=%d bytes=%d' % (spoof, total, nbytes), flush=True)" "$1" "$2" "$SPOOF" "$WORK/stop.$1" \
		>"$out" 2>&1 &
	CPIDS+=($!)
	wait_until 5 grep -q ready "$out"
}
field() { grep -o "$2=[0-9]*" "$WORK/rcv.$1" | cut -d= -f2; }

# alice_traffic PORT COUNT RATE: her traffic sender -> receiver; prints how
# many arrived.
alice_traffic() {
	local out=$WORK/count.$RANDOM
	ip netns exec "$(topo_ns receiver)" "$B/udpcount" -p "$1" -t 60 -i 1000 >"$out" 2>&1 &
	local cpid=$!
	CPIDS+=("$cpid")
	wait_until 5 grep -q ready "$out"
	topo_exec sender "$B/udpblast" -d "$RCV" -p "$1" -n "$2" -s 64 -r "$3" >/dev/null
	wait "$cpid"
	grep -o 'received=[0-9]*' "$out" | cut -d= -f2
}

start_daemon || { not_ok "netservd starts in the router"; tap_done; exit 1; }
ok "netservd starts in the router with publishers alice and bob"

out=$(setup alice NetServ.apps.AliceCounter_1 counter "filter-proto:udp
filter-port:5060
filter-dst:$RCV")
check "alice's counter for udp/5060 to $RCV answers 200" grep -q '^NETSERV/0.1 200' <<<"$out"

# --- 1. a modified packet in alice's name -------------------------------------------
out=$(setup bob NetServ.apps.Hijack_1 hijack "filter-proto:udp
filter-port:5070
filter-src:$SND
properties:mode=src,src=$SPOOF")
check "bob's module rewriting his own flow's source installs (200)" \
	grep -q '^NETSERV/0.1 200' <<<"$out"
listen 5070 30
topo_exec sender "$B/udpblast" -d "$RCV" -p 5070 -n 300 -s 64 -r 1000 >/dev/null &
bpid=$!
CPIDS+=("$bpid")
a=$(alice_traffic 5060 1000 500)
wait "$bpid"
hijacked() { [ "$(rt bob/NetServ.apps.Hijack_1 "" modified)" -ge 300 ]; }
wait_until 5 hijacked
drops=$(rt bob/NetServ.apps.Hijack_1 policy_drops)
mods=$(rt bob/NetServ.apps.Hijack_1 "" modified)
check "bob's module modified all 300 packets of his flow ($mods)" test "$mods" -ge 300
check "the node dropped them: policy_drops $drops" test "$drops" -ge 300
touch "$WORK/stop.5070"
wait_until 5 grep -q from_spoof "$WORK/rcv.5070"
sp=$(field 5070 from_spoof)
check "no packet reached the receiver from alice's address $SPOOF (${sp:-none})" test "${sp:-x}" = 0
c=$(rt alice/NetServ.apps.AliceCounter_1 packets)
check "meanwhile alice's module processed >= 95 % of her 1000 packets ($c, $a arrived)" \
	test "$c" -ge 950 -a "${a:-0}" -ge 950

# --- 6. flooding with the send imports --------------------------------------------------
out=$(setup bob NetServ.apps.FloodUdp_1 hijack "properties:mode=flood,dst=$RCV,dport=5999,size=1000,burst=64")
check "bob's ns_send_udp flood toward alice's address installs (200)" grep -q '^NETSERV/0.1 200' <<<"$out"
out=$(setup bob NetServ.apps.FloodPkt_1 hijack "properties:mode=flood,kind=packet,src=$SND,dst=$RCV,dport=5999,size=10,burst=64")
check "bob's ns_send_packet flood installs (200)" grep -q '^NETSERV/0.1 200' <<<"$out"
out=$(setup bob NetServ.apps.FloodOff_1 hijack "properties:mode=flood,dst=$SND,dport=5999,size=10,burst=8,period_ms=10")
check "bob's flood outside his send_destinations installs (200)" grep -q '^NETSERV/0.1 200' <<<"$out"
limited() { [ "$(rt bob/NetServ.apps.FloodUdp_1 "" limited)" -gt 0 ]; }
wait_until 5 limited # the buckets are empty: the window below starts at the limit
u0=$(rt bob/NetServ.apps.FloodUdp_1 "" sent)
p0=$(rt bob/NetServ.apps.FloodPkt_1 "" sent)
now_ms
t0=$NOW_MS
a=$(alice_traffic 5060 1500 500)
u1=$(rt bob/NetServ.apps.FloodUdp_1 "" sent)
p1=$(rt bob/NetServ.apps.FloodPkt_1 "" sent)
now_ms
dt=$((NOW_MS - t0))
pk=$((u1 - u0 + p1 - p0))
by=$(((u1 - u0) * 1028 + (p1 - p0) * 38))
diag "in $dt ms bob sent $((u1 - u0)) datagrams of 1000 bytes and $((p1 - p0)) packets of 38 bytes"
check "bob's sends stay within send_rate $RATE/s ($pk packets in $dt ms)" \
	test "$pk" -le $((RATE * (dt + 1000) / 1000))
check "... and within send_bytes $BYTES/s ($by bytes in $dt ms)" \
	test "$by" -le $((BYTES * (dt + 1000) / 1000))
lu=$(rt bob/NetServ.apps.FloodUdp_1 "" limited)
lp=$(rt bob/NetServ.apps.FloodPkt_1 "" limited)
check "the modules got -NS_EAGAIN beyond the limit (udp $lu, packet $lp)" test "$lu" -gt 0 -a "$lp" -gt 0
sl=$(rt bob/NetServ.apps.FloodUdp_1 sends_limited)
check "... counted in the stats (sends_limited $sl)" test "$sl" -gt 0
c=$(rt bob/NetServ.apps.FloodOff_1 "" sent)
r=$(rt bob/NetServ.apps.FloodOff_1 "" refused)
check "sends outside send_destinations are refused (sent $c, refused $r)" test "$c" = 0 -a "$r" -gt 0
c=$(rt alice/NetServ.apps.AliceCounter_1 packets)
check "meanwhile alice's module processed >= 95 % of her 1500 packets ($((c - 1000)) more, $a arrived)" \
	test "$((c - 1000))" -ge 1425 -a "${a:-0}" -ge 1425

kill -TERM "$DPID"
wait "$DPID"
rc=$?
DPID=
check "netservd exits cleanly (status $rc)" test "$rc" -eq 0

tap_done
