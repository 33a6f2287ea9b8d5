#!/usr/bin/env bash
# Sampled modules (SETUP `sample: 1/N`, docs/module-api.md "Sampled modules")
# on the netfilter plane (or NETSERV_PLANE=xdp: the AF_XDP plane, docs/xdp.md;
# NETSERV_PLANE=tc: the netfilter plane with its tc sampler),
# end to end: netservd in a router between a client and a server (network
# namespaces of this run), NetMonitor deployed with sample:1/10, 10,000 UDP
# datagrams through the router:
#   - netfilter: the filter is a statistic+NFLOG rule, no NFQUEUE rule:
#     nothing holds the packets; xdp: a sampling rule of the XDP program,
#     whose samples netservd hands to the container; tc: no netfilter rule
#     at all, the tc program on the router's interfaces (only while a
#     sampled module is there), its samples handed over as on xdp;
#   - every datagram arrives at the server, unchanged;
#   - NetMonitor's estimate (samples x 10) is within 2% of the 10,000 sent
#     (nth sampling copies exactly one in 10: the tolerance is for copies the
#     kernel could not queue on a busy machine), and its report says it is
#     an estimate (sample=1/10 estimated=1);
#   - its container killed, the replacement samples again (the NFLOG group
#     is bound anew for it);
#   - the same traffic with NetMonitor unsampled counts exactly 10,000;
#   - with a module of the same publisher on the path for the same filter,
#     the sampling rule comes first: both see their packets;
#   - bad sample headers are refused with a 400 that names the header.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/tap.sh"

if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP needs root"
	exit 0
fi
source "$here/../lib/sip_router.sh"
N=10000
EVERY=10
PORT=7000
VIZ_PORT=5679
NAME=NetServ.apps.NetMonitor_1.0.0

sr_start || { not_ok "netservd starts in the router"; tap_done; exit 1; }
ok "netservd runs in the router namespace ($SR_CLIENT -- router -- $SR_SERVER)"

# Bad sample headers: 400, the header named, nothing installed.
for bad in "sample:0" "sample:1/0" "sample:1/99999999" "sample:one" "sample:2/10"; do
	out=$(sr_setup "$NAME" netmonitor filter-proto:udp "filter-port:$PORT" "$bad" \
		"properties:visualizer_ip=$SR_SERVER,visualizer_port=$VIZ_PORT" 2>&1)
	check "SETUP with $bad is refused (400, names the header)" \
		bash -c "grep -q '^NETSERV/0.1 400' <<<\"\$1\" && grep -q \"header 'sample'\" <<<\"\$1\"" _ "$out"
done
out=$(sr_setup "$NAME" netmonitor filter-proto:udp "filter-port:$PORT" sample:1/10 \
	sample-bytes:0 "properties:visualizer_ip=$SR_SERVER,visualizer_port=$VIZ_PORT" 2>&1)
diag "$(grep -m1 reason <<<"$out")"
check "SETUP with sample-bytes:0 is refused (400, names the header)" \
	bash -c "grep -q '^NETSERV/0.1 400' <<<\"\$1\" && grep -q \"header 'sample-bytes'\" <<<\"\$1\"" _ "$out"
out=$(sr_setup "$NAME" netmonitor sample:1/10 \
	"properties:visualizer_ip=$SR_SERVER,visualizer_port=$VIZ_PORT" 2>&1)
check "SETUP with sample but no filter is refused (400: a sampled module needs a filter)" \
	bash -c "grep -q '^NETSERV/0.1 400' <<<\"\$1\" && grep -q 'needs a filter' <<<\"\$1\"" _ "$out"

# The reports go to a plain UDP listener on the server (its last datagram kept).
sr_spawn server "$SR_WORK/reports" python3 -u -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('$SR_SERVER', $VIZ_PORT))
while True:
    d = s.recv(65535).decode(errors='replace')
    open('$SR_WORK/report.tmp', 'w').write(d)
    __import__('os').replace('$SR_WORK/report.tmp', '$SR_WORK/report')
"

# receive: counts the datagrams to $PORT on the server that arrive intact
# (payload: 8-byte sequence number, then 'x' up to 100 bytes), until N have
# come or 30 s passed; prints "received=R intact=I".
receive() {
	topo_exec server python3 -c "
import socket, struct, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
# SO_RCVBUFFORCE (root): past rmem_max, so that a busy machine that stalls
# this reader drops nothing here (the test is about the router)
s.setsockopt(socket.SOL_SOCKET, getattr(socket, 'SO_RCVBUFFORCE', 33), 32 << 20)
s.bind(('$SR_SERVER', $PORT))
s.settimeout(0.5)
print('ready', flush=True)
got = intact = 0
seen = set()
end = time.time() + 30
while got < $N and time.time() < end:
    try:
        d = s.recv(2048)
    except socket.timeout:
        continue
    got += 1
    if len(d) == 100 and d[8:] == b'x' * 92:
        seq = struct.unpack('!Q', d[:8])[0]
        if seq not in seen:
            seen.add(seq)
            intact += 1
print('received=%d intact=%d' % (got, intact), flush=True)
" >"$SR_WORK/recv.out" 2>&1 &
	RECV_PID=$!
	SR_PIDS+=("$RECV_PID")
	local deadline=$((SECONDS + 10))
	until grep -q ready "$SR_WORK/recv.out" 2>/dev/null; do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.05
	done
}

# send: N datagrams of 100 bytes from the client to the server, paced.
send() {
	topo_exec client python3 -c "
import socket, struct, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range($N):
    s.sendto(struct.pack('!Q', i) + b'x' * 92, ('$SR_SERVER', $PORT))
    if i % 100 == 99:
        time.sleep(0.002)
"
}

# wait_for EXPR SECONDS: until the python expression on the status is true.
wait_for() {
	local deadline=$((SECONDS + $2))
	while [ $SECONDS -lt $deadline ]; do
		[ "$(sr_status "$1" 2>/dev/null)" = True ] && return 0
		sleep 0.2
	done
	return 1
}

# received: waits for the receiver (it ends by itself: all N, or 30 s) and
# sets res to its result line. Not in a $(...): wait needs the parent shell.
received() {
	wait "$RECV_PID" 2>/dev/null
	res=$(tail -1 "$SR_WORK/recv.out")
}

# ---- sampled ----------------------------------------------------------------
# tc_progs: how many of the router's two interfaces have the tc sampler.
tc_progs() {
	local i n=0
	for i in "$(topo_if router toward client)" "$(topo_if router toward server)"; do
		topo_exec router tc filter show dev "$i" ingress | grep -q 'name netserv_tc' && n=$((n + 1))
	done
	echo $n
}
if [ "$SR_PLANE" = tc ]; then
	check "no tc sampler on the interfaces before a sampled module ($(tc_progs))" \
		test "$(tc_progs)" = 0
fi
out=$(sr_setup "$NAME" netmonitor filter-proto:udp "filter-port:$PORT" "sample:1/$EVERY" \
	"properties:visualizer_ip=$SR_SERVER,visualizer_port=$VIZ_PORT,period_ms=200,label=sampled")
check "SETUP of NetMonitor with sample:1/$EVERY answers 200" grep -q '^NETSERV/0.1 200' <<<"$out"
if [ "$SR_PLANE" = netfilter ]; then
	rules=$(topo_exec router iptables-save -t mangle | grep "netserv:$SR_USER/$NAME")
	diag "rule: $rules"
	check "its rule samples one in $EVERY to NFLOG (statistic nth, the module's prefix)" \
		grep -q -- "-m statistic --mode nth --every $EVERY --packet 0 -j NFLOG --nflog-prefix \"\?$NAME\"\? --nflog-group [0-9]* --nflog-size 128" <<<"$rules"
	check "and nothing queues its packets (no NFQUEUE rule)" \
		bash -c "! grep -q NFQUEUE <<<\"\$1\"" _ "$rules"
elif [ "$SR_PLANE" = tc ]; then
	check "it has no netfilter rule ($(sr_rules "$NAME"))" test "$(sr_rules "$NAME")" = 0
	check "the tc sampler is on both router interfaces ($(tc_progs))" test "$(tc_progs)" = 2
	state=$(sr_status "s['node']['forwarding']['state']")
	check "the status says so ($state)" grep -q 'tc sampler on .* (attached)' <<<"$state"
else
	check "its filter is one rule of the XDP programs ($(sr_rules "$NAME"))" \
		test "$(sr_rules "$NAME")" = 1
fi
check "the node's status shows the module sampled (every $EVERY, 128 bytes)" \
	test "$(sr_status "mods['$SR_USER/$NAME'].get('sample') == {'every': $EVERY, 'bytes': 128}")" = True

receive || not_ok "the receiver starts"
send
received
check "every datagram arrives at the server, unchanged ($res of $N)" \
	test "$res" = "received=$N intact=$N"
want=$((N / EVERY))
lo=$((N * 98 / 100)) hi=$((N * 102 / 100))
wait_for "((mods.get('$SR_USER/$NAME') or {}).get('runtime') or {}).get('counters', {}).get('samples', 0) >= $want" 10
samples=$(sr_counter "$NAME" samples)
packets=$(sr_counter "$NAME" packets)
diag "sampled: $samples samples, estimate $packets packets (truth $N)"
[ "$SR_PLANE" != netfilter ] && diag "plane: $(sr_status "s['node']['forwarding']['state']")"
check "NetMonitor got about one sample in $EVERY ($samples, want $want +-2%)" \
	test "$samples" -ge $((want * 98 / 100)) -a "$samples" -le $((want * 102 / 100))
check "its estimate is samples x $EVERY and within 2% of the truth ($packets, $lo..$hi)" \
	test "$packets" -eq $((samples * EVERY)) -a "$packets" -ge $lo -a "$packets" -le $hi
deadline=$((SECONDS + 5))
until grep -q "packets=$packets .*sample=1/$EVERY estimated=1" "$SR_WORK/report" 2>/dev/null; do
	[ $SECONDS -lt $deadline ] || break
	sleep 0.1
done
check "its report says the counts are estimates (sample=1/$EVERY estimated=1)" \
	grep -q "packets=$packets .*sample=1/$EVERY estimated=1" "$SR_WORK/report"
diag "report: $(head -1 "$SR_WORK/report" 2>/dev/null)"

# ---- the container crashes: its replacement samples again ---------------------
pid_of() { sr_status "((mods.get('$SR_USER/$NAME') or {}).get('runtime') or {}).get('container_pid', 0)"; }
old_pid=$(pid_of)
before=$(sr_counter "$NAME" samples)
if [ "${old_pid:-0}" -gt 0 ] 2>/dev/null; then
	kill -KILL "$old_pid"
	wait_for "((mods.get('$SR_USER/$NAME') or {}).get('runtime') or {}).get('container_pid', 0) not in (0, $old_pid) and mods['$SR_USER/$NAME']['state'] == 'active'" 15
	new_pid=$(pid_of)
	check "the container, killed, is back (pid $old_pid -> $new_pid)" \
		test "${new_pid:-0}" -gt 0 -a "${new_pid:-0}" != "$old_pid"
	fresh=$(sr_counter "$NAME" samples)
	check "its NetMonitor starts afresh in the new container (samples: $fresh)" test "$fresh" -le 0
	receive || not_ok "the receiver starts"
	send
	received
	check "every datagram arrives meanwhile ($res)" test "$res" = "received=$N intact=$N"
	wait_for "((mods.get('$SR_USER/$NAME') or {}).get('runtime') or {}).get('counters', {}).get('samples', 0) >= $want * 98 // 100" 10
	again=$(sr_counter "$NAME" samples)
	diag "after the restart: $again samples (before the kill: $before)"
	check "the restarted container's NetMonitor samples again (~$want: $again)" \
		test "$again" -ge $((want * 98 / 100)) -a "$again" -le $((want * 102 / 100))
else
	not_ok "no container pid in the status"
fi

# ---- unsampled, the same traffic ----------------------------------------------
out=$(sr_remove "$NAME")
check "REMOVE answers 200" grep -q '^NETSERV/0.1 200' <<<"$out"
if [ "$SR_PLANE" = netfilter ]; then
	check "the sampled rule is gone" \
		bash -c "! ip netns exec $(topo_ns router) iptables-save -t mangle | grep -q NFLOG"
elif [ "$SR_PLANE" = tc ]; then
	check "the tc sampler is gone from the interfaces with the last sampled module ($(tc_progs))" \
		test "$(tc_progs)" = 0
else
	check "the sampled rule is gone" test "$(sr_rules "$NAME")" = 0
fi
out=$(sr_setup "$NAME" netmonitor filter-proto:udp "filter-port:$PORT" \
	"properties:visualizer_ip=$SR_SERVER,visualizer_port=$VIZ_PORT,period_ms=200,label=plain")
check "SETUP of NetMonitor unsampled answers 200" grep -q '^NETSERV/0.1 200' <<<"$out"
receive || not_ok "the receiver starts"
send
received
# On the path, packets wait in the container's queue and leave in bursts of
# verdicts; on a busy machine a burst can overflow the router's backlog after
# the container (seen: 11% lost in 2 of 15 runs). Not what this test is
# about: at least 80% here, all of them in the sampled runs above.
onpath_ok() { # RESULT
	python3 -c "import sys; r = dict(kv.split('=') for kv in sys.argv[1].split()); \
sys.exit(0 if int(r.get('intact', 0)) >= $N * 8 // 10 and r.get('received') == r.get('intact') else 1)" "$1"
}
check "datagrams arrive through the unsampled NetMonitor, unchanged ($res of $N)" onpath_ok "$res"
wait_for "((mods.get('$SR_USER/$NAME') or {}).get('runtime') or {}).get('counters', {}).get('packets', 0) >= $N" 10
packets=$(sr_counter "$NAME" packets)
check "the unsampled NetMonitor counts exactly $N ($packets), and no samples" \
	test "$packets" -eq $N -a "$(sr_counter "$NAME" samples)" -eq 0
sr_remove "$NAME" >/dev/null

# ---- a queued module and a sampled one of the same publisher, one filter ------
COUNTER=NetServ.apps.Counter_1.0
out=$(sr_setup "$COUNTER" counter filter-proto:udp "filter-port:$PORT")
check "SETUP of the counter (on the path, udp/$PORT) answers 200" grep -q '^NETSERV/0.1 200' <<<"$out"
out=$(sr_setup "$NAME" netmonitor filter-proto:udp "filter-port:$PORT" "sample:1/$EVERY" \
	"properties:visualizer_ip=$SR_SERVER,visualizer_port=$VIZ_PORT,period_ms=200")
check "then NetMonitor sampled 1/$EVERY on the same filter answers 200" grep -q '^NETSERV/0.1 200' <<<"$out"
if [ "$SR_PLANE" = netfilter ]; then
	order=$(topo_exec router iptables-save -t mangle | grep -o -- '-j NFLOG\|-j NFQUEUE' | tr '\n' ' ')
	check "the sampling rule comes first, before the queue's, which would take its packets ($order)" \
		test "$order" = "-j NFLOG -j NFQUEUE "
elif [ "$SR_PLANE" = tc ]; then # tc ingress runs before netfilter's hooks
	check "the counter's is a netfilter rule, NetMonitor's the tc sampler's ($(sr_rules "$COUNTER") $(tc_progs))" \
		test "$(sr_rules "$COUNTER") $(sr_rules "$NAME") $(tc_progs)" = "1 0 2"
else # the XDP program's sampling rules do not end its scan (docs/xdp.md)
	check "both are rules of the XDP programs" \
		test "$(sr_rules "$COUNTER")$(sr_rules "$NAME")" = 11
fi
receive || not_ok "the receiver starts"
send
received
check "datagrams arrive through the counter, unchanged ($res of $N)" onpath_ok "$res"
wait_for "((mods.get('$SR_USER/$COUNTER') or {}).get('runtime') or {}).get('counters', {}).get('packets', 0) >= $N and ((mods.get('$SR_USER/$NAME') or {}).get('runtime') or {}).get('counters', {}).get('samples', 0) >= $want * 98 // 100" 10
counted=$(sr_counter "$COUNTER" packets)
samples=$(sr_counter "$NAME" samples)
check "the counter counts all $N ($counted) and NetMonitor samples ~$want ($samples)" \
	test "$counted" -eq $N -a "$samples" -ge $((want * 98 / 100)) -a "$samples" -le $((want * 102 / 100))
sr_remove "$NAME" >/dev/null
sr_remove "$COUNTER" >/dev/null

tap_done
