#!/usr/bin/env bash
# ActiveCDN (modules/activecdn.c) against bad input (issue #14): client --
# router -- origin in namespaces, netservd in the router, a misbehaving
# origin (tests/lib/bad_origin.py) in the origin. The origin stalls, resets
# mid-body, says less or more than it sends (Content-Length), sends 5 GiB
# (with a length and chunked, generated); the stalled fetch fails after the
# publisher's fetch_stall (6 s here, not 30); the client asks for absurd ranges
# and thousands of distinct objects; an object larger than the quota. Each
# gets a clear error (502, 416, a cut body) or eviction, never a wrong body
# in the cache; the module keeps serving, has no trap, and another
# publisher's module (http_hello, bob) on the same node keeps answering.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/tap.sh"
source "$here/../lib/topo.sh"
source "$here/../lib/router_node.sh"
B=${NETSERV_BUILD:?}

if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP needs root"
	exit 0
fi
if ! command -v curl >/dev/null; then
	echo "1..0 # SKIP curl is not installed (scripts/install-deps)"
	exit 0
fi

WORK=$(mktemp -d /tmp/netserv-acdn-bad.XXXXXX)
chmod 0711 "$WORK"
SOCK=$WORK/admin.sock
DPID=
cleanup_bad() {
	if [[ "$DPID" =~ ^[0-9]+$ ]] && [ "$DPID" -gt 1 ]; then
		kill -KILL "$DPID" 2>/dev/null
		wait "$DPID" 2>/dev/null
	fi
	topo_destroy
	[ -n "${KEEP_LOG:-}" ] && cp "$WORK/netservd.log" "$KEEP_LOG"
	rm -rf "$WORK"
}
trap cleanup_bad EXIT

topo_create client router origin || { not_ok "topology"; tap_done; exit 1; }
ORIGIN=$(topo_addr origin)
RTR=$(topo_addr router toward client)
U=http://$RTR:8080
OLOG=$WORK/origin.log
: >"$OLOG"
topo_spawn origin python3 "$here/../lib/bad_origin.py" "$ORIGIN" 8000 "$OLOG"
origin_up() { topo_exec router curl -s -m 1 -o /dev/null "http://$ORIGIN:8000/ok/up"; }
wait_until 10 origin_up || { not_ok "the bad origin serves"; tap_done; exit 1; }

mkdir -p "$WORK/keys"
for u in janedoe bob; do
	"$B/netserv" keygen -d "$WORK" "$u" >/dev/null && cp "$WORK/$u.pub" "$WORK/keys/"
done
cat >"$WORK/netservd.conf" <<EOC
[node]
id = acdn-bad
state_dir = $WORK/state
admin_socket = $SOCK
[fetch]
protocols = file
[forwarding]
driver = netfilter
chain_prefix = NS${TOPO_TAG}
hooks = forward
[containers]
program = $B/netserv-container
cgroup = netserv-acdnbad-$TOPO_TAG
queue_base = $((2000 + RANDOM % 20000))
heartbeat_ms = 200
pool_size = 0
[security]
keys_dir = $WORK/keys
[publisher janedoe]
uid = 65534
prefixes = $ORIGIN/32
listen_ports = tcp:8080
storage_quota = 4M
fetch_stall = 6
[publisher bob]
uid = 65533
prefixes = $ORIGIN/32
listen_ports = tcp:8082
EOC
start_daemon || { not_ok "netservd starts"; tap_done; exit 1; }
ok "netservd starts in the router"

# setup USER ID MODULE HEADERS: deploys build/modules/MODULE.wasm.
setup() {
	local path=$WORK/$2.wasm
	cp "$B/modules/$3.wasm" "$path"
	printf 'SETUP %s NETSERV/0.1\nuser:%s\nurl:file://%s\nmodule-hash:sha256:%s\n%s\n\n' "$2" \
		"$1" "$path" "$(sha256sum "$path" | cut -d' ' -f1)" "$4" |
		NETSERV_KEY=$WORK/$1.key ctl send - | head -1 | cut -d' ' -f2
}
MOD=NetServ.apps.ActiveCDN_1
check "activecdn (janedoe, quota 4M) installs" test "$(setup janedoe $MOD activecdn \
	$'listen:tcp:8080\ndependencies:http/1,crypto/1,storage/1\nproperties:origin=http://'"$ORIGIN"':8000')" = 200
check "http_hello (bob, another publisher) installs" test "$(setup bob NetServ.test.Hello_1 http_hello \
	$'listen:tcp:8082\ndependencies:http/1\nfilter-proto:udp\nfilter-port:5999\nfilter-dst:'"$ORIGIN"/32)" = 200
get() { topo_exec client curl -s -m "${T:-15}" "$@"; }
serving() { [ "$(get -o /dev/null -w '%{http_code}' "$U/ok/first")" = 200 ]; }
wait_until 5 serving
check "it serves /ok/first (200)" serving
bob_ok() { [ "$(get "http://$RTR:8082/")" = hello ]; }
check "bob's module answers hello" bob_ok
c() { rt "janedoe/$MOD" x "$1"; }
fetches() { grep -c "^GET $1\$" "$OLOG"; }
sent() { sed -n "s|^END $1 ||p" "$OLOG" | tail -1; }

# --- a stalling origin: the client is not stuck forever, others are served meanwhile -------
get -o "$WORK/stall1" "$U/stall" -m 4 &
sp=$!
stalled() { [ "$(fetches /stall)" -ge 1 ]; }
wait_until 5 stalled
r=$(get -o /dev/null -w '%{http_code}' "$U/ok/during-stall")
check "while /stall stalls, another object is served (200: $r)" test "$r" = 200
wait "$sp"
n=$(stat -c %s "$WORK/stall1")
check "the stalled client got what came (10000 bytes: $n) and its own timeout ended it" test "$n" = 10000
# Checked here, before the cache churns below: once failed in a full run
# when checked only at the end (the line never came; not reproduced).
check "the stalled fetch ends as an origin error (janedoe's fetch_stall: 6 s)" \
	wait_line "$WORK/netservd.log" "activecdn: fetching /stall failed: error" 40

# --- a reset mid-body: the client is cut, nothing truncated is cached ----------------------
r=$(get -o "$WORK/reset1" -w '%{http_code} %{size_download}' "$U/reset"; echo " rc=$?")
check "a reset after 100000 of 1000000 bytes: the client is cut short ($r)" \
	bash -c '[[ "$1" == "200 100000 rc=18" ]] || [[ "$1" == "502 "* ]]' _ "$r"
r=$(get -o /dev/null -w '%{http_code}' "$U/reset"; echo " rc=$?")
check "... and the next request asks the origin again: not cached ($(fetches /reset) fetches)" \
	test "$(fetches /reset)" = 2

# --- Content-Length that lies -------------------------------------------------------------
r=$(get -o "$WORK/short" -w '%{http_code} %{size_download}' "$U/short")
check "Content-Length 1000 with 2000 bytes sent: the client gets 1000 ($r)" test "$r" = "200 1000"
r=$(get -o "$WORK/short2" -D "$WORK/hs" -w '%{http_code} %{size_download}' "$U/short")
check "... then a hit of those 1000 bytes ($r)" \
	bash -c '[ "$1" = "200 1000" ] && grep -qi "^X-Cache: HIT" "$2" && cmp -s "$3" "$4"' _ "$r" "$WORK/hs" "$WORK/short" "$WORK/short2"
r=$(get -o "$WORK/long" -w '%{http_code} %{size_download}' "$U/long"; echo " rc=$?")
check "Content-Length 2000 with 1000 bytes sent: the client is cut short ($r)" \
	bash -c '[[ "$1" == "200 1000 rc=18" ]] || [[ "$1" == "502 "* ]]' _ "$r"
get -o /dev/null "$U/long"
check "... and it is not cached ($(fetches /long) origin fetches)" test "$(fetches /long)" = 2

# --- 5 GiB from the origin (generated) -----------------------------------------------------
r=$(T=30 get -o /dev/null -w '%{http_code} %{size_download}' "$U/huge")
check "/huge (Content-Length 5 GiB, more than the quota): 502 at once ($r)" test "$r" = "502 12"
ended() { [ -n "$(sent "$1")" ]; }
wait_until 10 ended /huge
check "... and the node dropped the origin's transfer ($(sent /huge) bytes sent)" \
	bash -c '[ -n "$1" ] && [ "$1" -lt $((64 << 20)) ]' _ "$(sent /huge)"
r=$(T=30 get -o /dev/null -w '%{http_code} %{size_download}' "$U/huge-chunked"; echo " rc=$?")
check "/huge-chunked (no length, endless): cut at the quota, and curl knows it is incomplete ($r)" \
	bash -c 'read -r st sz rc <<<"$1"; [ "$st" = 200 ] && [ "$sz" -le $((4 << 20)) ] && [ "$rc" = rc=18 ]' _ "$r"
wait_until 10 ended /huge-chunked
check "... and the node stopped the origin's transfer ($(sent /huge-chunked) bytes sent)" \
	bash -c '[ -n "$1" ] && [ "$1" -lt $((64 << 20)) ]' _ "$(sent /huge-chunked)"
r=$(get -o /dev/null -w '%{http_code}' "$U/huge-chunked")
check "... nothing of it is cached: the next request fetches again ($(fetches /huge-chunked))" \
	test "$(fetches /huge-chunked)" = 2

# --- absurd ranges --------------------------------------------------------------------------
get -o /dev/null "$U/ok/r"
for h in 'bytes=99999999999999999999999-' 'bytes=5-1' 'bytes=-0' 'bytes=--5' 'bytes=0-0,1-1,2-2' \
	'bytes=abc' 'bits=0-10' 'bytes=4294967295-4294967296' 'bytes=999-999' "bytes=$(head -c 3000 /dev/zero | tr '\0' 9)-"; do
	r=$(get -o "$WORK/rb" -w '%{http_code} %{size_download}' -H "Range: $h" "$U/ok/r")
	case $r in
	"200 1000" | "206 "* | "416 "*) ok "Range: ${h:0:40}: $r" ;;
	*) not_ok "Range: ${h:0:40}: $r" ;;
	esac
done

# --- thousands of distinct objects (256 entries, 4M quota) -------------------------------------
cfg=$WORK/many.curl
for i in $(seq 1 2000); do printf 'url = "%s/ok/many-%d"\noutput = "/dev/null"\n' "$U" "$i"; done >"$cfg"
codes=$(T=120 get -w '%{http_code}\n' -K "$cfg" | sort | uniq -c | tr -s ' ' | tr '\n' ';')
check "2000 distinct objects in a row, one connection: all 200 ($codes)" test "$codes" = " 2000 200;"
check "... the module evicted to make room ($(c evictions) evictions)" test "$(c evictions)" -gt 0
r=$(get -o "$WORK/m5" -w '%{http_code}' "$U/ok/many-2000")
check "... and the last one is still served ($r)" test "$r" = 200

# --- a full quota: two 3 MB downloads at once under 4 MiB, neither evictable ----------------
get -o "$WORK/f1" -w '%{http_code} %{size_download}\n' "$U/slow/one" >"$WORK/f1.out" 2>&1 &
f1=$!
first_in() { [ "$(fetches /slow/one)" = 1 ]; }
wait_until 5 first_in
r2=$(get -o "$WORK/f2" -w '%{http_code} %{size_download}' "$U/slow/two"; echo " rc=$?")
wait "$f1"
r1=$(cat "$WORK/f1.out")
check "the first of two 3 MB downloads that cannot both fit gets its whole object ($r1)" \
	test "$r1" = "200 3000000"
check "... the second a clear error: 502, or a body cut short of its Content-Length ($r2)" \
	bash -c '[[ "$1" == "502 "* ]] || [[ "$1" == "200 "*" rc=18" ]]' _ "$r2"
r=$(get -o /dev/null -D "$WORK/hf" -w '%{http_code} %{size_download}' "$U/slow/one")
check "... the first is cached (a hit: $r)" \
	bash -c '[ "$1" = "200 3000000" ] && grep -qi "^X-Cache: HIT" "$2"' _ "$r" "$WORK/hf"

# --- after all that -------------------------------------------------------------------------
r=$(get -o "$WORK/after" -w '%{http_code}' "$U/ok/after")
check "activecdn still serves (200: $r), no trap ($(rt janedoe/$MOD traps)), state $(rt janedoe/$MOD state)" \
	bash -c '[ "$1" = 200 ] && [ "$2" = 0 ] && [ "$3" = active ]' _ "$r" "$(rt janedoe/$MOD traps)" "$(rt janedoe/$MOD state)"
check "bob's module still answers hello, no trap" bash -c '[ "$1" = hello ] && [ "$2" = 0 ]' _ \
	"$(get "http://$RTR:8082/")" "$(rt bob/NetServ.test.Hello_1 traps)"
du=$(du -sb "$WORK/state/containers/janedoe/store" 2>/dev/null | cut -f1)
check "janedoe's store stays within its quota ($du bytes <= 4 MiB + directories)" \
	test "${du:-0}" -le $((4 * 1048576 + 65536))
check "no container died" bash -c '! grep -qE "container [a-z]+ \(pid [0-9]+\) died" "$1"' _ "$WORK/netservd.log"
tap_done
