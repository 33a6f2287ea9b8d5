#!/usr/bin/env bash
# On-path signaling end to end, with the real GIST and netservd: a chain
#   publisher - r1 - r2 - r3 - r4 - r5 - user
# in network namespaces, where r1, r3 and r4 are NetServ nodes and r2, r5
# plain routers. The publisher signals toward the user with `netserv`:
# PROBE stacks in path order, SETUP installs on every NetServ node and only
# those (and traffic goes through all three modules), a node that refuses
# says so in the stack, REMOVE removes everywhere, TTL expiry, TRIGGER's
# reverse path, the last node found by ICMP (fast) and by back-off when ICMP
# is filtered, and a Query for an unknown NSLPID passing unchanged.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/tap.sh"
source "$here/../lib/topo.sh"
source "$here/../lib/signaling.sh"
B=${NETSERV_BUILD:?}

if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP needs root"
	exit 0
fi

SIG_BUILD=$B
SIG_WORK=$(mktemp -d /tmp/netserv-sig.XXXXXX)
cleanup_sig() {
	topo_destroy
	[ -n "${KEEP_LOGS:-}" ] && cat "$SIG_WORK"/r*/log >"${KEEP_LOGS}" 2>/dev/null
	rm -rf "$SIG_WORK"
}
trap cleanup_sig EXIT

topo_create publisher r1 r2 r3 r4 r5 user || {
	not_ok "topology"
	tap_done
	exit 1
}
# The user's host answers every Query with ICMP port unreachable: without
# its rate limit (a burst of 6, then 1/s), so that how each request finds
# its last node does not depend on how many came just before.
topo_exec user sysctl -q -w net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0
NETSERV=(r1 r3 r4)
PLAIN=(r2 r5)
USER_ADDR=$(topo_addr user)
PUB_ADDR=$(topo_addr publisher)
MOD=NetServ.apps.Counter_1.0

# janedoe's key pair, if this build has signatures: every node knows her
# public key (and checks signatures that are present); r3 will later
# require them.
SIGNING=no
if "$B/netserv" keygen --help >/dev/null 2>&1 &&
	[ -n "$(sig__if_known $'[security]\nrequire_signatures = yes\nkeys_dir = /tmp')" ]; then
	mkdir -p "$SIG_WORK/keys"
	"$B/netserv" keygen -d "$SIG_WORK/keys" janedoe >/dev/null 2>&1 && SIGNING=yes
	SIG_KEYS_DIR=$SIG_WORK/keys
fi

# r1 and r4 also host publisher bob; r3 does not (it refuses his SETUP).
BOB=$'[publisher bob]\nuid = 65533\n'$(sig__if_known $'[publisher bob]\nprefixes = any' | tail -n +2)
started=yes
for n in "${NETSERV[@]}"; do
	extra=
	[ "$n" != r3 ] && extra=$BOB
	sig_start_node "$n" "$extra" || started=no
done
check "netservd with signaling starts on r1, r3 and r4" test "$started" = yes
[ "$started" = yes ] || {
	tap_done
	exit 1
}
check "each NetServ node intercepts udp/270: one rule per IP family, rule id gist" \
	test "$(for n in "${NETSERV[@]}"; do sig_rules "$n" | grep -c 'netserv:gist'; done | sort -u)" = 2

mkdir -p "$SIG_WORK/www"
cp "$B/modules/counter.wasm" "$SIG_WORK/www/counter.wasm"
HASH=sha256:$(sha256sum "$SIG_WORK/www/counter.wasm" | cut -d' ' -f1)
sig_serve_http publisher "$SIG_WORK/www" 8000 || not_ok "the publisher's HTTP server starts"
URL=http://$PUB_ADDR:8000/counter.wasm

field() { sig_json "$1" <<<"$out"; }
order() { field "','.join(n['node'] for n in nodes)"; }

# --- PROBE: the stack, in path order; the last node by ICMP ---------------------
out=$(sig_pub probe --to "$USER_ADDR" --probe node,capabilities --json --timeout 10)
rc=$?
check "PROBE toward the user exits 0" test "$rc" -eq 0
check "PROBE stack is r1, r3, r4: the NetServ nodes in path order ($(order))" \
	test "$(order)" = r1,r3,r4
check "each entry carries the node's address on the path" \
	test "$(field "','.join(n['address'] for n in nodes)")" = \
	"$(topo_addr r1),$(topo_addr r3),$(topo_addr r4)"
check "each entry says what was probed and the node's answer" \
	test "$(field "all(n['probed'] == 'node,capabilities' and n['code'] == 200 and
		['node', n['node']] in n['headers'] for n in nodes)")" = True
last=$(field "nodes[-1]['last_node']")
check "r4 knows it is the last node from ICMP port unreachable ($last)" \
	grep -qi icmp <<<"$last"
check "only the last entry is marked last" \
	test "$(field "[n['last_node'] is None for n in nodes[:-1]]")" = "[True, True]"
ms=$(field "r['elapsed_ms']")
diag "PROBE over 5 routers (3 NetServ) answered in $ms ms"
check "with ICMP the PROBE is answered in well under a second ($ms ms < 300)" \
	test "$ms" -lt 300

out=$(sig_pub probe --to "$(topo_addr -6 user)" --json --timeout 10)
check "over IPv6 too: PROBE stack r1, r3, r4 with IPv6 addresses ($(field "[n['address'] for n in nodes]"))" \
	test "$?/$(order)/$(field "all(':' in n['address'] for n in nodes)")" = 0/r1,r3,r4/True

# --- SETUP installs on every NetServ node and only there --------------------------
out=$(sig_pub setup --to "$USER_ADDR" -m "$MOD" -u janedoe --url "$URL" --hash "$HASH" \
	--ttl 600 --filter-proto udp --filter-port 7000 --json --timeout 60)
rc=$?
check "SETUP exits 0" test "$rc" -eq 0
check "SETUP stack is r1, r3, r4 ($(order))" test "$(order)" = r1,r3,r4
check "every node answers 200 with the module active" \
	test "$(field "all(n['code'] == 200 and ['state', 'active'] in n['headers'] for n in nodes)")" = True
diag "SETUP (download and compile on 3 nodes) took $(field "r['elapsed_ms']") ms"
for n in "${NETSERV[@]}"; do
	check "$n: the counter is active and steered (a rule per IP family)" \
		test "$(sig_status "$n" "mods['janedoe/$MOD']['state']")/$(sig_rules "$n" | grep -c "netserv:janedoe/$MOD")" = active/2
done
for n in "${PLAIN[@]}"; do
	check "$n (plain): no NetServ rule, no daemon" \
		test -z "$(topo_exec "$n" iptables-save 2>/dev/null | grep -i netserv)" -a \
		-z "$(ip netns pids "$(topo_ns "$n")")"
done

# Traffic from the publisher to the user passes all three counters.
cnt=$SIG_WORK/count.out
ip netns exec "$(topo_ns user)" "$B/udpcount" -p 7000 -t 20 -i 700 >"$cnt" 2>&1 &
cpid=$!
for _ in $(seq 1 100); do grep -q ready "$cnt" && break; sleep 0.02; done
topo_exec publisher "$B/udpblast" -d "$USER_ADDR" -p 7000 -n 1000 -s 64 -r 5000 >/dev/null
wait "$cpid"
got=$(grep -o 'received=[0-9]*' "$cnt" | cut -d= -f2)
check "1000 datagrams to udp/7000 reach the user (got $got)" test "${got:-0}" = 1000
for n in "${NETSERV[@]}"; do
	c=$(sig_counter "$n" "$MOD" packets)
	check "$n's counter saw the 1000 packets (got $c)" test "$c" = 1000
done

# --- a node that refuses says so in the stack ------------------------------------------
out=$(sig_pub setup --to "$USER_ADDR" -m NetServ.apps.Bob_1.0 -u bob --url "$URL" --hash "$HASH" \
	--ttl 600 --json --timeout 60)
rc=$?
check "a SETUP that r3 refuses exits 1" test "$rc" -eq 1
check "the stack still lists r1, r3, r4 ($(order))" test "$(order)" = r1,r3,r4
codes=$(field "','.join(str(n['code']) for n in nodes)")
check "r1 and r4 install, r3 refuses (codes $codes)" \
	test "$(field "nodes[0]['code'] == 200 and nodes[1]['code'] >= 400 and nodes[2]['code'] == 200")" = True
check "the overall status is r3's, and names it ($(field "r['reason']"))" \
	test "$(field "r['code'] == nodes[1]['code'] and r['reason'].startswith('r3: ')")" = True
out=$(sig_pub remove --to "$USER_ADDR" -m NetServ.apps.Bob_1.0 -u bob --json --timeout 20)
check "REMOVE takes bob's module off r1 and r4: $(field "[n['code'] for n in nodes]")" \
	test "$(field "[nodes[0]['code'], nodes[2]['code']]")/$(for n in "${NETSERV[@]}"; do
		sig_status "$n" "'janedoe/$MOD' in mods and 'bob/NetServ.apps.Bob_1.0' not in mods"; done | sort -u)" = \
	"[200, 200]/True"

# --- REMOVE removes everywhere ------------------------------------------------------------
out=$(sig_pub remove --to "$USER_ADDR" -m "$MOD" -u janedoe --json --timeout 20)
rc=$?
check "REMOVE exits 0 with r1, r3, r4 answering 'removed' ($(order))" \
	test "$rc/$(order)/$(field "all(['state', 'removed'] in n['headers'] for n in nodes)")" = \
	0/r1,r3,r4/True
for n in "${NETSERV[@]}"; do
	check "$n: no module and no rule of it left" \
		test "$(sig_status "$n" "len(s['modules'])")/$(sig_rules "$n" | grep -c "netserv:janedoe")" = 0/0
done

# --- TTL expiry ---------------------------------------------------------------------------------
out=$(sig_pub setup --to "$USER_ADDR" -m "$MOD" -u janedoe --url "$URL" --hash "$HASH" \
	--ttl 2 --filter-proto udp --filter-port 7000 --json --timeout 60)
check "a SETUP with ttl 2 is active on the three nodes" \
	test "$?/$(field "[n['code'] for n in nodes]")" = "0/[200, 200, 200]"
ms=$(field "r['elapsed_ms']")
diag "SETUP of a cached module on 3 nodes took $ms ms"
gone=no
for _ in $(seq 1 60); do
	left=0
	for n in "${NETSERV[@]}"; do
		left=$((left + $(sig_status "$n" "len(s['modules'])") + $(sig_rules "$n" | grep -c janedoe)))
	done
	[ "$left" -eq 0 ] && { gone=yes; break; }
	sleep 0.1
done
check "the module expires on every node by itself, rules included" test "$gone" = yes

# --- TRIGGER: the reverse path -----------------------------------------------------------------
out=$(sig_pub probe --to "$USER_ADDR" --trigger --json --timeout 10)
rc=$?
check "a TRIGGERed PROBE exits 0" test "$rc" -eq 0
check "its stack is the reverse path: r4, r3, r1 ($(order))" test "$(order)" = r4,r3,r1
check "answered as TRIGGER, entries are PROBEs" \
	test "$(field "r['method'] + '/' + ','.join(n['method'] for n in nodes)")" = TRIGGER/PROBE,PROBE,PROBE

out=$(sig_pub setup --to "$USER_ADDR" --trigger -m NetServ.apps.Reverse_1.0 -u janedoe \
	--url "$URL" --hash "$HASH" --ttl 600 --json --timeout 30)
rc=$?
check "a TRIGGERed SETUP installs on the reverse path r4, r3, r1 ($(order))" \
	test "$rc/$(order)/$(field "[n['code'] for n in nodes]")" = "0/r4,r3,r1/[200, 200, 200]"
out=$(sig_pub remove --to "$USER_ADDR" -m NetServ.apps.Reverse_1.0 -u janedoe --json --timeout 30)
check "and a REMOVE takes it away again" test "$?" -eq 0

# --- the last node by back-off when ICMP is filtered ----------------------------------------------
topo_exec user iptables -A OUTPUT -p icmp --icmp-type port-unreachable -j DROP
out=$(sig_pub probe --to "$USER_ADDR" --json --timeout 15)
rc=$?
topo_exec user iptables -D OUTPUT -p icmp --icmp-type port-unreachable -j DROP
ms=$(field "r['elapsed_ms']")
last=$(field "nodes[-1]['last_node']")
diag "with ICMP filtered at the user: answered in $ms ms, last node by '$last'"
check "with ICMP filtered, PROBE still returns r1, r3, r4 ($(order))" \
	test "$rc/$(order)" = 0/r1,r3,r4
check "r4 found it is the last node by the back-off, not ICMP ($last)" \
	test -n "$last" -a "$(grep -ci icmp <<<"$last")" = 0
check "the back-off took its time (t1 100 ms doubling to t2 800 ms: $ms ms in 700..5000)" \
	test "$ms" -ge 700 -a "$ms" -lt 5000

# --- a Query for an NSLPID no node runs passes unchanged ------------------------------------------
qout=$SIG_WORK/query.out
ip netns exec "$(topo_ns user)" python3 "$here/../nslp/gist_query.py" listen "$USER_ADDR" 5 \
	>"$qout" 2>&1 &
lpid=$!
for _ in $(seq 1 100); do grep -q ready "$qout" 2>/dev/null && break; sleep 0.02; done
sent=$(topo_exec publisher python3 "$here/../nslp/gist_query.py" send "$PUB_ADDR" "$USER_ADDR" 4242)
wait "$lpid"
recvd=$(sed -n 2p "$qout")
check "a Query for NSLPID 4242 reaches the user" test -n "$recvd"
# The GIST hop count (byte 5 of the payload, after the magic number) drops by
# one per NetServ node (3); every other byte is the same.
mask() { echo "${1:0:10}xx${1:12}"; }
check "it arrives unchanged but for the GIST hop count" test "$(mask "$sent")" = "$(mask "$recvd")"
check "its GIST hop count went from 32 to 29 (three NetServ nodes)" \
	test "${sent:10:2}/${recvd:10:2}" = 20/1d
check "no node logged the foreign Query as a NetServ request" \
	test "$(cat "$SIG_WORK"/r*/log | grep -c 'signaling: .* from .*' )" -gt 0 -a \
	"$(grep -l 4242 "$SIG_WORK"/r*/log | wc -l)" = 0

# --- a signed SETUP: the signature survives the binary form -------------------------------------
# r3 now requires signatures; r1 and r4 check them when they are there.
if [ "$SIGNING" = yes ]; then
	sig_stop_node r3
	sed -i "s|^require_signatures = no\$|require_signatures = yes|" "$SIG_WORK/r3/netservd.conf"
	sig_start_node r3 || not_ok "r3 restarts with signatures required"
	printf 'SETUP NetServ.apps.Signed_1.0 NETSERV/0.1\nuser:janedoe\nurl:%s\nmodule-hash:%s\nttl:600\n\n' \
		"$URL" "$HASH" >"$SIG_WORK/signed.in"
	"$B/netserv" sign -k "$SIG_WORK/keys/janedoe.key" --to "$USER_ADDR" "$SIG_WORK/signed.in" >"$SIG_WORK/signed.ncm"
	# Changed after signing: the ttl (r3 must refuse it).
	sed 's/^ttl:600$/ttl:601/; s/^nonce:.*/nonce:AAAAAAAAAAAAAAAAAAAA/' "$SIG_WORK/signed.ncm" \
		>"$SIG_WORK/tampered.ncm"
	out=$(sig_pub setup --to "$USER_ADDR" --ncm "$SIG_WORK/tampered.ncm" --json --timeout 30)
	check "a SETUP changed after signing is refused by every node: 401 ($(field "[n['code'] for n in nodes]"))" \
		test "$(field "[n['code'] for n in nodes]")" = "[401, 401, 401]"
	out=$(sig_pub setup --to "$USER_ADDR" --ncm "$SIG_WORK/signed.ncm" --json --timeout 60)
	rc=$?
	check "the signed SETUP, carried as NSLP objects, verifies on r3: all install ($(field "[n['code'] for n in nodes]"))" \
		test "$rc/$(field "[n['code'] for n in nodes]")" = "0/[200, 200, 200]"
	printf 'REMOVE NetServ.apps.Signed_1.0 NETSERV/0.1\nuser:janedoe\n\n' |
		"$B/netserv" sign -k "$SIG_WORK/keys/janedoe.key" --to "$USER_ADDR" - >"$SIG_WORK/remove.ncm"
	out=$(sig_pub remove --to "$USER_ADDR" --ncm "$SIG_WORK/remove.ncm" --json --timeout 30)
	check "a signed REMOVE takes it off the three nodes" \
		test "$?/$(field "[n['code'] for n in nodes]")" = "0/[200, 200, 200]"
else
	ok "# SKIP no signatures in this build (netserv keygen, [security])"
fi

# --- no NetServ node on a path --------------------------------------------------------------------
out=$(ip netns exec "$(topo_ns r5)" "$B/netserv" probe --to "$USER_ADDR" --timeout 5 2>&1)
rc=$?
check "from r5 toward the user there is no NetServ node: exit 3 ($out)" \
	test "$rc" -eq 3 -a "$(grep -c 'no NetServ node' <<<"$out")" = 1

# --- clean stop -----------------------------------------------------------------------------------
for n in "${NETSERV[@]}"; do
	sig_stop_node "$n"
	rc=$?
	check "$n: netservd stops cleanly (status $rc) and leaves no rule" \
		test "$rc" -eq 0 -a -z "$(sig_rules "$n")"
done
tap_done
