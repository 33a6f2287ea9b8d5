#!/usr/bin/env bash
# NetMonitor (modules/netmonitor.c) and its visualizer (`netserv viz`), end
# to end: the module runs in a NetServ router (client -- router -- server in
# network namespaces; NETSERV_PLANE=xdp: on the AF_XDP plane) and reports
# to `netserv viz` on the server host.
#   - the counts by (source, destination, TTL) match the traffic sent (IPv4
#     with two TTLs, IPv6, both directions), packets and bytes;
#   - reports come twice a second;
#   - the viewer shows them: /data.json, the terminal table, and the live
#     page in headless Chromium (its DOM holds the numbers; a screenshot is
#     taken: SHOT=FILE keeps it).
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/tap.sh"

if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP needs root"
	exit 0
fi
source "$here/../lib/sip_router.sh"
VIZ_PORT=5678
HTTP=8080

sr_start || { not_ok "netservd starts in the router"; tap_done; exit 1; }
ok "netservd runs in the router namespace ($SR_CLIENT -- router -- $SR_SERVER)"

sr_spawn server "$SR_WORK/viz.out" "$NETSERV_BUILD/netserv" viz --port $VIZ_PORT --http $HTTP \
	--text --duration 120
VIZ_PID=$SR_LAST_PID
data() { topo_exec server curl -s --max-time 3 "http://127.0.0.1:$HTTP/data.json"; }
for _ in $(seq 1 50); do data >/dev/null && break; sleep 0.1; done
check "netserv viz serves its page on the server host" \
	bash -c "ip netns exec $(topo_ns server) curl -s --max-time 3 http://127.0.0.1:$HTTP/ | grep -q 'NetServ NetMonitor'"

out=$(sr_setup NetServ.apps.NetMonitor_1.0.0 netmonitor filter-proto:udp filter-port:7000 \
	"properties:visualizer_ip=$SR_SERVER,visualizer_port=$VIZ_PORT,label=edge-router")
check "SETUP of NetMonitor (the papers' properties: visualizer_ip, visualizer_port) answers 200" \
	grep -q '^NETSERV/0.1 200' <<<"$out"

# send NODE SRC DST TTL COUNT SIZE: COUNT UDP datagrams of SIZE payload bytes to
# DST:7000 with that TTL (hop limit), paced.
send() {
	topo_exec "$1" python3 - "$2" "$3" "$4" "$5" "$6" <<'PY'
import socket, sys, time
src, dst, ttl, n, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.bind((src, 0))
if fam == socket.AF_INET:
    s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
else:
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)
for i in range(n):
    s.sendto(b"x" * size, (dst, 7000))
    if i % 50 == 49:
        time.sleep(0.005)
PY
}
send client "$SR_CLIENT" "$SR_SERVER" 64 300 100 # seen with TTL 63 (forwarded)
send client "$SR_CLIENT" "$SR_SERVER" 20 200 200
send client "$SR_CLIENT6" "$SR_SERVER6" 64 150 100
send server "$SR_SERVER" "$SR_CLIENT" 64 100 50

# expect SRC DST TTL PACKETS BYTES: the flow in data.json
flows_ok() {
	data | python3 -c '
import json, sys
d = json.load(sys.stdin)
want = [tuple(w.split(",")) for w in sys.argv[1:]]
have = {(f["src"], f["dst"], str(f["ttl"])): (str(f["packets"]), str(f["bytes"])) for f in d["flows"]}
bad = [w for w in want if have.get(w[:3]) != w[3:]]
print("all" if not bad else "missing/wrong: %s; have %s" % (bad, have))
' "$@"
}
want=("$SR_CLIENT,$SR_SERVER,63,300,$((300 * 128))" "$SR_CLIENT,$SR_SERVER,19,200,$((200 * 228))"
	"$SR_CLIENT6,$SR_SERVER6,63,150,$((150 * 148))" "$SR_SERVER,$SR_CLIENT,63,100,$((100 * 78))")
res=
for _ in $(seq 1 30); do
	res=$(flows_ok "${want[@]}")
	[ "$res" = all ] && break
	sleep 0.2
done
check "the visualizer's counts match the traffic sent (4 flows, packets and bytes): $res" test "$res" = all
c=$(sr_counter NetServ.apps.NetMonitor_1.0.0 packets)
check "the module counted 750 packets ($c)" test "$c" = 750

# twice a second
# The two snapshots are taken somewhere inside their reads: bound the time
# between them by the reads' start and end times (a loaded machine makes
# the reads slow).
ta=$(date +%s%N)
r0=$(data | python3 -c 'import json,sys; print(json.load(sys.stdin)["reporters"][0]["reports"])')
tb=$(date +%s%N)
sleep 3
tc=$(date +%s%N)
rep=$(data | python3 -c 'import json,sys; r = json.load(sys.stdin)["reporters"][0]; print(r["reports"], round(r["interval_ms"]), r["label"], r["flows"])')
td=$(date +%s%N)
read -r r1 interval label nflows <<<"$rep"
min_ms=$(((tc - tb) / 1000000))
max_ms=$(((td - ta) / 1000000))
diag "reports: $r0 then $r1, between $min_ms and $max_ms ms later; mean interval $interval ms; label $label; $nflows flows"
check "reports arrive twice a second ($((r1 - r0)) in $min_ms..$max_ms ms, every $interval ms on average)" \
	test $((r1 - r0)) -ge $((min_ms / 500 - 1)) -a $((r1 - r0)) -le $((max_ms / 500 + 1)) \
	-a "$interval" -ge 400 -a "$interval" -le 600
check "the report names the module's label and its 4 flows" test "$label" = edge-router -a "$nflows" = 4

check "the terminal view shows the flows" \
	grep -Eq "^$SR_CLIENT +$SR_SERVER +19 +200 +$((200 * 228)) " "$SR_WORK/viz.out"

# The live page in headless Chromium: its DOM after the script ran, and a picture.
if command -v chromium >/dev/null; then
	chrome() {
		local prof
		prof=$(mktemp -d "$SR_WORK/chrome.XXXXXX")
		topo_exec server timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-quic \
			--no-first-run --disable-background-networking --disable-component-update \
			--disable-sync --disable-dev-shm-usage --user-data-dir="$prof" \
			--virtual-time-budget=4000 "$@" "http://127.0.0.1:$HTTP/" 2>/dev/null
	}
	dom=$(chrome --dump-dom)
	check "Chromium shows the page with the flow $SR_CLIENT > $SR_SERVER TTL 19: 200 packets" \
		grep -q "data-src=\"$SR_CLIENT\" data-dst=\"$SR_SERVER\" data-ttl=\"19\" data-packets=\"200\"" <<<"$dom"
	check "... and the IPv6 flow (150 packets) and the module's card" \
		bash -c 'grep -q "data-src=\"$1\" data-dst=\"$2\" data-ttl=\"63\" data-packets=\"150\"" <<<"$0" &&
			grep -q "class=\"card reporter\" data-label=\"edge-router\"" <<<"$0"' \
		"$dom" "$SR_CLIENT6" "$SR_SERVER6"
	shot=$SR_WORK/viz.png
	(cd "$SR_WORK" && chrome --screenshot="$shot" --window-size=1200,760 --hide-scrollbars >/dev/null)
	check "a screenshot of the page is taken ($(stat -c %s "$shot" 2>/dev/null || echo 0) bytes)" \
		test "$(head -c 8 "$shot" 2>/dev/null | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a
	[ -n "${SHOT:-}" ] && cp "$shot" "$SHOT"
else
	ok "# SKIP Chromium view: no chromium (Debian package chromium)"
fi

out=$(sr_remove NetServ.apps.NetMonitor_1.0.0)
check "REMOVE answers 200" grep -q '^NETSERV/0.1 200' <<<"$out"
n0=$(data | python3 -c 'import json,sys; print(json.load(sys.stdin)["reporters"][0]["reports"])')
sleep 1.2
n1=$(data | python3 -c 'import json,sys; print(json.load(sys.stdin)["reporters"][0]["reports"])')
check "after REMOVE the reports stop ($n0 then $n1)" test "$n1" -le $((n0 + 1))
kill -TERM "$VIZ_PID"
rc=0
wait "$VIZ_PID" || rc=$?
check "netserv viz exits cleanly on SIGTERM (status $rc)" test "$rc" = 0
sr_stop
check "namespaces are gone" test -z "$(topo_leftovers)"
tap_done
