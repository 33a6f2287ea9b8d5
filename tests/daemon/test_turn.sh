#!/usr/bin/env bash
# The Media Relay (modules/turn.c, issue #15): client -- router -- server in
# network namespaces, netservd in the router, the TURN module deployed by a
# signed SETUP. coturn's clients (Debian package coturn) against it:
# turnutils_uclient over UDP and TCP, with channels and with Send/Data
# indications, long-term and TURN REST credentials, IPv4 and IPv6 relays,
# exchanging data with turnutils_peer in the server namespace with no loss;
# turnutils_stunclient gets its reflexive address. Refusals, with a small
# client of our own (tests/lib/turn_client.py): wrong password (401), stale
# nonce (438), expired REST credential (401), a peer without permission
# (dropped), the allocation quota (486), the bandwidth quota (dropped),
# malformed STUN (dropped), none of them a crash. Two libnice agents
# (tests/turn/nice_relay.c) gather relay candidates and exchange data. SIGKILL of the container:
# allocations are lost (437), clients allocate again and go on.
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
for t in turnutils_uclient turnutils_peer turnutils_stunclient; do
	if ! command -v $t >/dev/null; then
		echo "1..0 # SKIP $t missing (package coturn; scripts/install-deps installs it)"
		exit 0
	fi
done

WORK=$(mktemp -d /tmp/netserv-turn.XXXXXX)
declare -A UC_PID=() # the turnutils_uclient runs in the background
chmod 0711 "$WORK"
SOCK=$WORK/admin.sock
DPID=
cleanup_turn() {
	local p
	for p in "${UC_PID[@]}"; do kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	[ -n "$DPID" ] && kill -KILL "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	topo_destroy
	cgroups_remove "$CG"
	[ -n "${KEEP_LOG:-}" ] && cp "$WORK/netservd.log" "$KEEP_LOG"
	rm -rf "$WORK"
}
trap cleanup_turn EXIT

topo_create client router server || { not_ok "topology"; tap_done; exit 1; }
R4=$(topo_addr router toward client)
R6=$(topo_addr -6 router toward client)
RS4=$(topo_addr router toward server)
RS6=$(topo_addr -6 router toward server)
SRV=$(topo_addr server)
SRV6=$(topo_addr -6 server)
CG=netserv-turn-$TOPO_TAG
MOD=NetServ.apps.MediaRelay_1
SECRET=north-wind-$RANDOM

mkdir -p "$WORK/keys"
for u in janedoe bob; do
	"$B/netserv" keygen -d "$WORK" $u >/dev/null && cp "$WORK/$u.pub" "$WORK/keys/"
done

cat >"$WORK/netservd.conf" <<EOC
[node]
id = turn-router
state_dir = $WORK/state
admin_socket = $SOCK
[log]
level = debug
[fetch]
protocols = file
[forwarding]
driver = none
[containers]
cgroup = $CG
pool_size = 0
[security]
keys_dir = $WORK/keys
[publisher janedoe]
uid = 65534
prefixes = $SRV/32
listen_ports = udp:3478,tcp:3478,udp:49152-49251
connect_destinations = $SRV/32, $SRV6/128, $RS4/32
max_sockets = 300
[publisher bob]
uid = 65533
listen_ports = udp:7
EOC

ctr() { # COUNTER: the module's counter (-1 if none)
	status "((mods.get('janedoe/$MOD') or {}).get('runtime') or {}).get('counters', {}).get('$1', -1)"
}

setup() { # PROPERTIES
	local path=$WORK/turn.wasm hash
	cp "$B/modules/turn.wasm" "$path"
	hash=sha256:$(sha256sum "$path" | cut -d' ' -f1)
	printf 'SETUP %s NETSERV/0.1\nuser:janedoe\nurl:file://%s\nmodule-hash:%s\nlisten:udp:3478,tcp:3478\ndependencies:socket/1,crypto/1\nproperties:%s\n\n' \
		"$MOD" "$path" "$hash" "$1" | NETSERV_KEY=$WORK/janedoe.key ctl send -
}
remove() {
	printf 'REMOVE %s NETSERV/0.1\nuser:janedoe\n\n' "$MOD" | NETSERV_KEY=$WORK/janedoe.key ctl send -
}

start_daemon || { tap_done; exit 1; }
# One turnutils_peer on port 3480 (v4 and v6) for the single runs, and one
# for each of the eight concurrent uclient runs (3481-3488): a peer shared by
# all eight echoes 1,600 messages a second from one socket, and a stall of
# ~0.15 s on a loaded machine overflows its receive buffer (seen in CI: 14 of
# 1,600 echoes never sent, every datagram through the relay counted).
peers_listening() { # PORT...: each has a UDP socket bound in the server namespace
	local have p
	have=$(topo_exec server ss -Hluna 2>/dev/null)
	for p in "$@"; do grep -qE "[]:.]$p[[:space:]]" <<<"$have" || return 1; done
}
topo_spawn server turnutils_peer -L "$SRV" -p 3480 >/dev/null 2>&1
topo_spawn server turnutils_peer -L "$SRV6" -p 3480 >/dev/null 2>&1
for port in 3481 3482 3483 3484 3485 3486; do
	topo_spawn server turnutils_peer -L "$SRV" -p $port >/dev/null 2>&1
done
for port in 3487 3488; do
	topo_spawn server turnutils_peer -L "$SRV6" -p $port >/dev/null 2>&1
done

PROPS="realm=netserv.test,users=alice:wonderland bob:builder,secret=$SECRET,relay_ip4=$RS4,relay_ip6=$RS6,relay_ports=49152-49251"
out=$(setup "$PROPS")
check "the TURN module deploys (200)" grep -q '^NETSERV/0.1 200' <<<"$out" ||
	diag "$out"

# --- coturn's clients ---------------------------------------------------------------------------
stun_answers() {
	topo_exec client timeout 3 turnutils_stunclient "$R4" >"$WORK/stun.out" 2>&1
	grep -q "UDP reflexive addr: $(topo_addr client):" "$WORK/stun.out"
}
check "turnutils_stunclient gets its reflexive address" wait_until 5 stun_answers ||
	sed 's/^/#   /' "$WORK/stun.out"

# uclient_start LABEL ARGS...: starts turnutils_uclient from the client
# namespace in the background (2 clients, 172-byte messages, 100 each 10 ms
# apart, no RTCP); uclient_check LABEL waits for it and checks that every
# message came back through the relay from turnutils_peer. uclient waits
# 1 to 6 s (at random, hard-wired) before its clients send: the runs overlap.
uclient_start() {
	local label=$1
	shift
	topo_spawn client timeout 60 turnutils_uclient -c -m 2 -n 100 -l 172 -z 10 "$@" \
		>"$WORK/uclient-${label//[^A-Za-z0-9]/_}.out" 2>&1
	UC_PID[$label]=$TOPO_LAST_PID
}
uclient_check() {
	local label=$1 o=$WORK/uclient-${1//[^A-Za-z0-9]/_}.out rc=0 sent recv lost
	wait "${UC_PID[$label]}" || rc=$?
	unset "UC_PID[$label]"
	sent=$(sed -n 's/.*tot_send_msgs=\([0-9]*\).*/\1/p' "$o" | tail -1)
	recv=$(sed -n 's/.*tot_recv_msgs=\([0-9]*\).*/\1/p' "$o" | tail -1)
	lost=$(sed -n 's/.*Total lost packets \([0-9]*\) .*/\1/p' "$o" | tail -1)
	if [ "$rc" -eq 0 ] && [ "${sent:-0}" -ge 200 ] && [ "${recv:-0}" = "$sent" ] &&
		[ "${lost:-1}" = 0 ]; then
		ok "uclient $label: $recv of $sent messages came back, none lost"
	else
		not_ok "uclient $label (rc $rc, sent ${sent:-?}, received ${recv:-?}, lost ${lost:-?})"
		grep -iE "error|fail|lost|tot_" "$o" | tail -8 | sed 's/^/#   /'
		drops_diag
	fi
}
# drops_diag: where datagrams went missing: the module's own drop counters
# and each namespace's UDP receive-buffer and checksum errors.
drops_diag() {
	local c n
	for c in to_peer_packets to_client_packets permission_drops bandwidth_drops send_errors malformed; do
		printf '#   module %s=%s\n' "$c" "$(ctr "$c")"
	done
	for n in client router server; do
		printf '#   %s: %s\n' "$n" "$(topo_exec "$n" nstat -az 2>/dev/null |
			awk '$1 ~ /^Udp6?(RcvbufErrors|SndbufErrors|InErrors|NoPorts)$/ && $2 != 0 {printf "%s=%s ", $1, $2}')"
	done
}
uclient() { # LABEL ARGS...: one run, alone
	uclient_start "$@"
	uclient_check "$1"
}
check "turnutils_peer listens on 3480-3488" wait_until 10 peers_listening 3480 3481 3482 3483 3484 3485 3486 3487 3488
# the eight at once (each has its own allocations: 16 clients)
UC_RUNS=("UDP, channels, long-term" "UDP, Send/Data indications" "TCP, channels"
	"TCP, Send/Data indications" "UDP, REST credentials (-W secret)"
	"TCP, REST credentials, Send/Data" "IPv6 client, IPv6 relay (-x)" "IPv4 client, IPv6 relay (-x)")
uclient_start "${UC_RUNS[0]}" -u alice -w wonderland -e "$SRV" -r 3481 "$R4"
uclient_start "${UC_RUNS[1]}" -s -u bob -w builder -e "$SRV" -r 3482 "$R4"
uclient_start "${UC_RUNS[2]}" -t -u alice -w wonderland -e "$SRV" -r 3483 "$R4"
uclient_start "${UC_RUNS[3]}" -t -s -u alice -w wonderland -e "$SRV" -r 3484 "$R4"
uclient_start "${UC_RUNS[4]}" -W "$SECRET" -u carol -e "$SRV" -r 3485 "$R4"
uclient_start "${UC_RUNS[5]}" -t -s -W "$SECRET" -u dave -e "$SRV" -r 3486 "$R4"
uclient_start "${UC_RUNS[6]}" -x -u alice -w wonderland -e "$SRV6" -r 3487 "$R6"
uclient_start "${UC_RUNS[7]}" -x -u alice -w wonderland -e "$SRV6" -r 3488 "$R4"
for l in "${UC_RUNS[@]}"; do uclient_check "$l"; done
a=$(ctr allocations)
check "the module counted the allocations ($a >= 16)" test "$a" -ge 16
p=$(ctr to_peer_packets)
c=$(ctr to_client_packets)
check "... and the relayed packets each way ($p to peers, $c to clients; >= 1600)" \
	test "$p" -ge 1600 -a "$c" -ge 1600 || drops_diag

# libnice: two ICE agents forced to relay, each gathering a relay candidate
# from the module; their checks and data go relay to relay (the peers are
# the relayed addresses: connect_destinations has the router's own address).
if [ -x "$B/nice_relay" ]; then
	out=$(topo_exec client timeout 30 "$B/nice_relay" "$R4" 3478 alice wonderland 50 2>&1 | tail -1)
	check "libnice agents gather relay candidates and exchange 50 messages through the module ($out)" \
		grep -q "^relay a=$RS4:[0-9]* b=$RS4:[0-9]* selected=relay received=50/50$" <<<"$out"
else
	ok "libnice agents through the module # SKIP nice_relay not built (libnice-dev missing)"
fi

# --- refusals -----------------------------------------------------------------------------------
tc() { topo_exec client timeout 40 python3 "$here/../lib/turn_client.py" "$@" 2>&1; }
f=$(ctr auth_failures)
out=$(tc "$R4" 3478 wrongpass alice not-the-password)
check "a wrong password gets 401 ($out)" test "$out" = "wrongpass 401"
out=$(tc --tcp "$R4" 3478 wrongpass alice not-the-password)
check "... over TCP too ($out)" test "$out" = "wrongpass 401"
out=$(tc "$R4" 3478 wrongpass mallory wonderland)
check "an unknown user gets 401 ($out)" test "$out" = "wrongpass 401"
out=$(tc "$R4" 3478 rest "$SECRET" erin -10)
check "an expired REST credential gets 401 ($out)" test "$out" = "rest 401"
out=$(tc "$R4" 3478 rest "not-$SECRET" erin 600)
check "a REST credential from another secret gets 401 ($out)" test "$out" = "rest 401"
out=$(tc "$R4" 3478 rest "$SECRET" erin 600)
check "a valid REST credential allocates ($out)" test "$out" = "rest 200"
f2=$(ctr auth_failures)
check "auth failures are counted ($f -> $f2)" test "$f2" -ge $((f + 5))
out=$(tc "$R4" 3478 permission alice wonderland "$SRV" 3480)
check "a Send to a peer without permission is dropped, with one it is relayed ($out)" \
	test "$out" = "permission before=nodata after=data"
check "... counted as a permission drop" test "$(ctr permission_drops)" -ge 1
# a peer that sends to a relay address without a permission: dropped
topo_exec server bash -c "for p in \$(seq 49152 49251); do echo x >/dev/udp/$RS4/\$p; done" \
	2>/dev/null
pd() { [ "$(ctr permission_drops)" -ge 3 ]; }
check "datagrams from peers without permission are dropped and counted" wait_until 3 pd
m=$(ctr malformed)
out=$(tc "$R4" 3478 malformed alice wonderland)
check "malformed STUN over UDP gets no answer, and Binding still works ($out)" \
	test "$out" = "malformed answers=0 binding=200"
out=$(tc --tcp "$R4" 3478 malformed alice wonderland)
check "... over TCP too ($out)" test "$out" = "malformed answers=0 binding=200"
check "... counted ($(ctr malformed) > $m)" test "$(ctr malformed)" -gt "$m"

# --- SIGKILL of the container ----------------------------------------------------------------------
pid=$(status "mods['janedoe/$MOD']['runtime']['container_pid']")
rm -f "$WORK/go"
topo_exec client timeout 60 python3 "$here/../lib/turn_client.py" "$R4" 3478 restart alice \
	wonderland "$SRV" 3480 "$WORK/go" >"$WORK/restart.out" 2>&1 &
RPID=$!
check "a client allocates before the kill" wait_line "$WORK/restart.out" '^allocated' 10
if [[ "$pid" =~ ^[0-9]+$ ]] && [ "$pid" -gt 1 ]; then
	kill -KILL "$pid"
fi
check "the module answers again after SIGKILL of its container" wait_until 10 stun_answers
touch "$WORK/go"
wait "$RPID"
out=$(tail -1 "$WORK/restart.out")
check "the allocation was lost (437), the client allocated again and relays ($out)" \
	test "$out" = "restart refresh=437 realloc=200 echo=data"
uclient "after the restart" -u alice -w wonderland -e "$SRV" -r 3480 "$R4"

# --- quotas and nonces: the module again with small limits --------------------------------------------
remove >/dev/null
out=$(setup "$PROPS,max_allocations=2,nonce_lifetime=2,bandwidth=3440")
check "redeployed with max_allocations=2, nonce_lifetime=2 s, bandwidth 3440 B/s (200)" \
	grep -q '^NETSERV/0.1 200' <<<"$out"
out=$(tc "$R4" 3478 quota alice wonderland 3)
check "the third allocation gets 486 ($out)" test "$out" = "quota 200 200 486"
check "... counted" test "$(ctr quota_refusals)" -ge 1
out=$(tc "$R4" 3478 stale alice wonderland)
ms=${out##*after=}
check "a nonce is good until it expires, then 438 ($out)" \
	test "${out% after=*}" = "stale first=200 later=438" -a "$ms" -ge 1000 -a "$ms" -lt 6000
check "... counted" test "$(ctr stale_nonces)" -ge 1
p0=$(ctr to_peer_packets)
out=$(tc "$R4" 3478 bandwidth alice wonderland "$SRV" 3480 100)
e=$(sed -n 's/.*echoed=\([0-9]*\).*/\1/p' <<<"$out")
p1=$(ctr to_peer_packets)
# both directions count: about 3440 / 172 = 20 datagrams pass, out and back together
t=$((p1 - p0 + ${e:-100}))
check "100 x 172 bytes at once through a 3440 B/s allocation: about 20 relayed ($t; $out)" \
	test "$t" -ge 15 -a "$t" -le 30
check "... the rest counted as bandwidth drops" test "$(ctr bandwidth_drops)" -ge 70
# --- a flood of Allocates at janedoe's relay does not starve another publisher ----------------------
# bob's udp-echo, in his own container, answers paced datagrams while a
# client floods janedoe's relay with Allocates for 4 s (each answered 401).
ep=$WORK/udp_echo.wasm
cp "$B/modules/udp_echo.wasm" "$ep"
out=$(printf 'SETUP NetServ.apps.Echo_1 NETSERV/0.1\nuser:bob\nurl:file://%s\nmodule-hash:sha256:%s\nlisten:udp:7\n\n' \
	"$ep" "$(sha256sum "$ep" | cut -d' ' -f1)" | NETSERV_KEY=$WORK/bob.key ctl send -)
check "bob's udp-echo deploys beside the relay (200)" grep -q '^NETSERV/0.1 200' <<<"$out"
dgrams_in() { status "(((mods.get('janedoe/$MOD') or {}).get('runtime') or {}).get('sockets') or {}).get('datagrams_in', -1)"; }
a0=$(dgrams_in)
topo_exec client timeout 10 python3 - "$R4" >"$WORK/flood.out" 2>&1 <<'PY' &
import os, socket, struct, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setblocking(False)
attr = struct.pack("!HHBBH", 0x0019, 4, 17, 0, 0)  # REQUESTED-TRANSPORT: UDP
n, end = 0, time.monotonic() + 4
while time.monotonic() < end:
    msg = struct.pack("!HHI", 0x0003, len(attr), 0x2112A442) + os.urandom(12) + attr
    try:
        s.sendto(msg, (sys.argv[1], 3478))
        n += 1
    except BlockingIOError:
        time.sleep(0.0005)
    try:
        while s.recv(2048):
            pass
    except BlockingIOError:
        pass
print("sent", n)
PY
flood=$!
echo_probe() {
	topo_exec client timeout 10 python3 - "$R4" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.2)
got = 0
for i in range(200):
    s.sendto(b"probe %d" % i, (sys.argv[1], 7))
    try:
        if s.recv(64) == b"probe %d" % i:
            got += 1
    except socket.timeout:
        pass
    time.sleep(0.01)
print(got)
PY
}
flood_running() { grep -q . "$WORK/flood.out" && return 1; [ "$(dgrams_in)" -gt "$((a0 + 1000))" ]; }
wait_until 3 flood_running
got=$(echo_probe)
wait "$flood"
a1=$(dgrams_in)
check "during a flood of $((a1 - a0)) Allocates at janedoe's relay ($(cat "$WORK/flood.out")), bob's udp-echo answered $got of 200 (>= 190)" \
	test "$((a1 - a0))" -ge 1000 -a "${got:-0}" -ge 190

node_answers() { ctl status >/dev/null 2>&1; }
check "the node still answers" node_answers
check "the module never trapped" test "$(status "mods['janedoe/$MOD']['runtime'].get('traps', 0)")" = 0

kill -TERM "$DPID"
wait "$DPID"
rc=$?
DPID=
check "netservd exits cleanly (status $rc)" test "$rc" -eq 0
tap_done
