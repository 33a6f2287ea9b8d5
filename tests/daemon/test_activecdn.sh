#!/usr/bin/env bash
# ActiveCDN (issue #14, modules/activecdn.c) end to end: client -- router --
# origin in network namespaces, netservd in the router, nginx in the origin
# (ETag, Last-Modified, Cache-Control per location, one location rate-limited
# so that a download takes seconds), curl in the client. Checks: miss then
# hit (counters, the origin's access log), HEAD, byte ranges (bytes=0-99,
# -100, an unsatisfiable one, one in the middle of an object still
# downloading), the first byte of a slow miss before the origin is done, two
# concurrent clients of one object sharing one origin fetch, max-age expiry
# then a revalidation answered 304 then a hit, no-store not kept, the
# publisher's quota with LRU eviction, an origin outside connect_destinations
# refused, a slowly read fetch paused (backpressure), a fetch cancelled while
# under way (no event for it afterwards, nothing left running), and the
# origin down: 502, the node and the module unaffected.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/tap.sh"
source "$here/../lib/topo.sh"
source "$here/../lib/wait.sh"
source "$here/../lib/nginx_origin.sh"
B=${NETSERV_BUILD:?}

if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP needs root"
	exit 0
fi
for tool in curl nginx; do
	if ! command -v $tool >/dev/null; then
		echo "1..0 # SKIP $tool is not installed (scripts/install-deps)"
		exit 0
	fi
done

WORK=$(mktemp -d /tmp/netserv-acdn.XXXXXX)
chmod 0711 "$WORK"
SOCK=$WORK/admin.sock
DPID=
NPID=
# kill_pid PID: only a number > 1 (never an empty pid, never -1).
kill_pid() {
	if [[ "${1:-}" =~ ^[0-9]+$ ]] && [ "$1" -gt 1 ]; then
		kill -KILL "$1" 2>/dev/null
		wait "$1" 2>/dev/null
	fi
	return 0
}
cleanup_acdn() {
	kill_pid "$DPID"
	kill_pid "$NPID"
	topo_destroy
	[ -n "${KEEP_LOG:-}" ] && cp "$WORK/netservd.log" "$KEEP_LOG"
	rm -rf "$WORK"
}
trap cleanup_acdn EXIT

topo_create client router origin || { not_ok "topology"; tap_done; exit 1; }
ORIGIN=$(topo_addr origin)
CLIENT=$(topo_addr client)
RTR=$(topo_addr router toward client)
PREFIX=NS${TOPO_TAG}
CG=netserv-acdn-$TOPO_TAG
PORT=8080
URL=http://$RTR:$PORT

# --- the origin: nginx ----------------------------------------------------------------
WWW=$WORK/www
mkdir -p "$WWW"/{q,short,nostore,slow} "$WORK/nginx"
head -c 20000 /dev/urandom >"$WWW/small"
head -c 5000 /dev/urandom >"$WWW/short/obj"
head -c 3000 /dev/urandom >"$WWW/nostore/obj"
for i in 1 2 3 4; do head -c $((2 << 20)) /dev/urandom >"$WWW/q/$i"; done
head -c $((3 << 20)) /dev/urandom >"$WWW/slow/big"
head -c $((3 << 20)) /dev/urandom >"$WWW/slow/big2"
chmod -R a+rX "$WWW"
nginx_origin_conf 'location / { add_header Cache-Control "max-age=3600"; }
		location /short/ { add_header Cache-Control "max-age=2"; }
		location /nostore/ { add_header Cache-Control "no-store"; }
		location /slow/ { limit_rate 1m; add_header Cache-Control "max-age=3600"; }'
nginx_origin_start /small || {
	tap_done
	exit 1
}
# origin_hits PATH [STATUS]: the origin's log lines for PATH (with STATUS).
origin_hits() { grep -cE "\"GET $1 HTTP/1.1\" ${2:-[0-9]+} " "$WORK/nginx/access.log"; }

# --- the node -------------------------------------------------------------------------
"$B/netserv" keygen -d "$WORK" janedoe >/dev/null
mkdir -p "$WORK/keys" && cp "$WORK/janedoe.pub" "$WORK/keys/"
cat >"$WORK/netservd.conf" <<EOC
[node]
id = acdn-router
state_dir = $WORK/state
admin_socket = $SOCK
[log]
level = debug
[fetch]
protocols = file
[forwarding]
driver = netfilter
chain_prefix = $PREFIX
hooks = forward
[containers]
program = $B/netserv-container
cgroup = $CG
queue_base = $((2000 + RANDOM % 20000))
heartbeat_ms = 200
pool_size = 0
[security]
keys_dir = $WORK/keys
[publisher janedoe]
uid = 65534
prefixes = $ORIGIN/32
listen_ports = tcp:8080-8081
storage_quota = 7M
EOC

ctl() { "$B/netserv" ctl --socket "$SOCK" "$@"; }
code() { head -1 <<<"$1" | cut -d' ' -f2; }
# setup ID PORT ORIGIN_URL: deploys activecdn.
setup() {
	local path=$WORK/$1.wasm hash
	cp "$B/modules/activecdn.wasm" "$path"
	hash=sha256:$(sha256sum "$path" | cut -d' ' -f1)
	printf 'SETUP %s NETSERV/0.1\nuser:janedoe\nurl:file://%s\nmodule-hash:%s\n' "$1" \
		"$path" "$hash" | cat - <(printf 'listen:tcp:%s\ndependencies:http/1,crypto/1,storage/1\nproperties:origin=%s,default_max_age=60\n\n' "$2" "$3") |
		NETSERV_KEY=$WORK/janedoe.key ctl send -
}
status() {
	ctl status --json | python3 -c "import json,sys
s = json.load(sys.stdin)
mods = {m['user'] + '/' + m['module']: m for m in s['modules']}
print($1)"
}
rt() { status "((mods.get('janedoe/$1') or {}).get('runtime') or {}).get('$2', -1)"; }
MOD=NetServ.apps.ActiveCDN_1
counter() { status "((mods.get('janedoe/$MOD') or {}).get('runtime') or {}).get('counters', {}).get('$1', -1)"; }
get() { topo_exec client curl -s -m 15 "$@"; }
# same PATH FILE: the body of GET URL/PATH equals FILE (sha256).
same() { [ "$(sha256sum <"$2" | cut -d' ' -f1)" = "$(sha256sum <"$WWW/$1" | cut -d' ' -f1)" ]; }

nsenter --net="/var/run/netns/$(topo_ns router)" "$B/netservd" -c "$WORK/netservd.conf" \
	>>"$WORK/netservd.log" 2>&1 &
DPID=$!
started() { ctl status >/dev/null 2>&1; }
if ! wait_until 10 started; then
	not_ok "netservd starts in the router"
	tail -20 "$WORK/netservd.log" | sed 's/^/#   /'
	tap_done
	exit 1
fi
ok "netservd starts in the router"

out=$(setup $MOD $PORT "http://$ORIGIN:8000")
check "activecdn with origin=http://$ORIGIN:8000 answers 200" test "$(code "$out")" = 200
[ "$(code "$out")" = 200 ] || sed 's/^/#   /' <<<"$out"
serving() { [ "$(get -o /dev/null -w '%{http_code}' "$URL/nothing-here")" = 404 ]; }
wait_until 5 serving
check "it serves (an object the origin lacks is 404)" serving

# --- miss, hit -------------------------------------------------------------------------
get -D "$WORK/h1" -o "$WORK/b1" "$URL/small"
check "GET /small (a miss) is the origin's object" same small "$WORK/b1"
check "... marked X-Cache: MISS, with the origin's ETag and Last-Modified" \
	bash -c 'grep -qi "^X-Cache: MISS" "$1" && grep -qi "^ETag: \"" "$1" && grep -qi "^Last-Modified: " "$1"' _ "$WORK/h1"
get -D "$WORK/h2" -o "$WORK/b2" "$URL/small"
check "GET /small again is the same object, X-Cache: HIT, Content-Length: 20000" \
	bash -c 'cmp -s "$1" "$2" && grep -qi "^X-Cache: HIT" "$3" && grep -qi "^Content-Length: 20000" "$3"' _ "$WORK/b1" "$WORK/b2" "$WORK/h2"
check "the origin saw one request for /small ($(origin_hits /small))" test "$(origin_hits /small)" = 1
check "counters: misses >= 1 ($(counter misses)), hits = 1 ($(counter hits)), bytes_from_cache = 20000 ($(counter bytes_from_cache))" \
	test "$(counter misses)" -ge 1 -a "$(counter hits)" = 1 -a "$(counter bytes_from_cache)" = 20000
check "bytes_from_origin = 20000 ($(counter bytes_from_origin))" test "$(counter bytes_from_origin)" = 20000
out=$(get -I "$URL/small")
check "HEAD /small: 200, Content-Length: 20000, no body" \
	bash -c 'grep -q "^HTTP/1.1 200" <<<"$1" && grep -qi "^Content-Length: 20000" <<<"$1"' _ "$out"
n=$(get -o /dev/null -w '%{http_code} %{size_download}' -X HEAD "$URL/small")
check "... and no body bytes ($n)" test "$n" = "200 0"
etag=$(grep -i '^ETag:' "$WORK/h2" | cut -d' ' -f2- | tr -d '\r')
st=$(get -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$URL/small")
check "If-None-Match with its ETag: 304 ($st)" test "$st" = 304
st=$(get -o /dev/null -w '%{http_code}' -X POST "$URL/small")
check "POST: 405 ($st)" test "$st" = 405

# --- ranges ------------------------------------------------------------------------------
get -D "$WORK/hr" -o "$WORK/r1" -H 'Range: bytes=0-99' "$URL/small"
check "Range bytes=0-99: 206, Content-Range: bytes 0-99/20000, the first 100 bytes" \
	bash -c 'grep -q "^HTTP/1.1 206" "$1" && grep -qi "^Content-Range: bytes 0-99/20000" "$1" && cmp -s "$2" <(head -c 100 "$3")' _ "$WORK/hr" "$WORK/r1" "$WWW/small"
get -D "$WORK/hr" -o "$WORK/r2" -H 'Range: bytes=-100' "$URL/small"
check "Range bytes=-100: 206, the last 100 bytes" \
	bash -c 'grep -qi "^Content-Range: bytes 19900-19999/20000" "$1" && cmp -s "$2" <(tail -c 100 "$3")' _ "$WORK/hr" "$WORK/r2" "$WWW/small"
get -D "$WORK/hr" -o "$WORK/r3" -H 'Range: bytes=19990-' "$URL/small"
check "Range bytes=19990-: the last 10 bytes" cmp -s "$WORK/r3" <(tail -c 10 "$WWW/small")
st=$(get -o /dev/null -w '%{http_code}' -H 'Range: bytes=30000-' "$URL/small")
check "Range bytes=30000- (past the end): 416 ($st)" test "$st" = 416

# --- quota and LRU eviction (storage_quota = 7M; 2 MiB objects) -----------------------
for i in 1 2 3; do get -o /dev/null "$URL/q/$i"; done
get -o "$WORK/q1" "$URL/q/1" # q/1 is now the most recently used
check "q/1..3 fit the quota: no eviction yet ($(counter evictions))" test "$(counter evictions)" = 0
get -o "$WORK/q4" "$URL/q/4"
check "q/4 is served (a miss beyond the quota)" same q/4 "$WORK/q4"
check "it evicted ($(counter evictions) evictions)" test "$(counter evictions)" -ge 1
get -o "$WORK/q1b" "$URL/q/1"
check "q/1 (recently used) is still cached: one origin request ($(origin_hits /q/1))" \
	test "$(origin_hits /q/1)" = 1
get -o "$WORK/q2" "$URL/q/2"
check "q/2 (the least recently used) was evicted: a second origin request ($(origin_hits /q/2))" \
	test "$(origin_hits /q/2)" = 2
check "q/2 served again is the origin's" same q/2 "$WORK/q2"
du=$(du -sb "$WORK/state/containers/janedoe/store" 2>/dev/null | cut -f1)
check "the store stays within the quota ($du bytes on disk <= 7 MiB + directories)" \
	test "${du:-0}" -le $((7 * 1048576 + 65536))

# --- serving while downloading; one origin fetch for concurrent clients -----------------
# /slow/ is sent at 1 MB/s: 3 MiB take about 3 s.
t=$(get -o "$WORK/s1" -w '%{time_starttransfer} %{time_total}' "$URL/slow/big")
check "a slow miss: the first byte comes before the origin is done ($t s)" \
	python3 -c 'import sys; a, b = map(float, sys.argv[1:]); sys.exit(not (a < 1.0 and b > 2.0))' $t
check "... and the body is the origin's" same slow/big "$WORK/s1"
: >"$WORK/c1"
topo_exec client curl -s -m 20 -o "$WORK/c1" "$URL/slow/big2" &
c1=$!
topo_exec client curl -s -m 20 -o "$WORK/c2" "$URL/slow/big2" &
c2=$!
# a range in the middle of the object while it downloads
partly() { [ -s "$WORK/c1" ]; }
wait_until 5 partly
get -D "$WORK/hr" -o "$WORK/r4" -H 'Range: bytes=2000000-2000099' "$URL/slow/big2"
wait "$c1" "$c2"
check "two concurrent clients of /slow/big2 get the origin's object" \
	bash -c 'cmp -s "$1" "$3" && cmp -s "$2" "$3"' _ "$WORK/c1" "$WORK/c2" "$WWW/slow/big2"
check "... with one origin fetch ($(origin_hits /slow/big2))" test "$(origin_hits /slow/big2)" = 1
check "a range in the middle of the object while it downloads: 206, the right 100 bytes" \
	bash -c 'grep -qi "^Content-Range: bytes 2000000-2000099/3145728" "$1" && cmp -s "$2" <(tail -c +2000001 "$3" | head -c 100)' _ "$WORK/hr" "$WORK/r4" "$WWW/slow/big2"

# --- freshness: max-age=2, then revalidation (304), then a hit -------------------------
get -o /dev/null "$URL/short/obj"
reval0=$(counter revalidations)
stale_seen() {
	get -D "$WORK/hs" -o "$WORK/bs" "$URL/short/obj"
	[ "$(counter revalidations)" -gt "$reval0" ]
}
wait_until 8 stale_seen
# at once (max-age=2 runs from the 304): the next request is a hit
n=$(origin_hits /short/obj)
get -o /dev/null "$URL/short/obj"
n2=$(origin_hits /short/obj)
check "after max-age=2 s, a request revalidates ($(counter revalidations) revalidations)" \
	test "$(counter revalidations)" -gt "$reval0"
check "... the origin answered 304 ($(origin_hits /short/obj 304)), counted as not_modified ($(counter not_modified))" \
	test "$(origin_hits /short/obj 304)" = 1 -a "$(counter not_modified)" = 1
check "... and the client got the object from the cache (200, X-Cache: HIT)" \
	bash -c 'grep -q "^HTTP/1.1 200" "$1" && grep -qi "^X-Cache: HIT" "$1" && cmp -s "$2" "$3"' _ "$WORK/hs" "$WORK/bs" "$WWW/short/obj"
check "fresh again: the next request does not reach the origin ($n -> $n2)" test "$n2" = "$n"

# --- no-store ---------------------------------------------------------------------------
get -o "$WORK/n1" "$URL/nostore/obj"
get -o "$WORK/n2" "$URL/nostore/obj"
check "no-store: both requests reach the origin ($(origin_hits /nostore/obj))" \
	test "$(origin_hits /nostore/obj)" = 2
check "... and both get the object" bash -c 'cmp -s "$1" "$3" && cmp -s "$2" "$3"' _ "$WORK/n1" "$WORK/n2" "$WWW/nostore/obj"

# --- an origin outside connect_destinations ----------------------------------------------
MOD2=NetServ.apps.ActiveCDN_2
out=$(setup $MOD2 8081 "http://$CLIENT:8000")
check "a second activecdn with origin=http://$CLIENT:8000 (outside the policy) installs" \
	test "$(code "$out")" = 200
serving2() { [ "$(get -o /dev/null -w '%{http_code}' "http://$RTR:8081/x")" = 502 ]; }
wait_until 5 serving2
check "... and answers 502: its fetch was refused" serving2
refused() { grep -q "ActiveCDN_2 warn: activecdn: cannot fetch http://$CLIENT:8000/x: error 1\$" "$WORK/netservd.log"; }
wait_until 3 refused
check "... ns_http_fetch returned -EPERM (the module logged error 1)" refused

# --- backpressure: a module that reads its fetch slowly ------------------------------------
MOD3=NetServ.test.Fetcher_1
cp "$B/modules/fetcher.wasm" "$WORK/fetcher.wasm"
out=$(printf 'SETUP %s NETSERV/0.1\nuser:janedoe\nurl:file://%s\nmodule-hash:sha256:%s\ndependencies:http/1\nproperties:url=http://%s:8000/q/3,chunk=16384,every_ms=2\n\n' \
	$MOD3 "$WORK/fetcher.wasm" "$(sha256sum "$WORK/fetcher.wasm" | cut -d' ' -f1)" "$ORIGIN" |
	NETSERV_KEY=$WORK/janedoe.key ctl send -)
check "the fetcher test module installs ($(code "$out"))" test "$(code "$out")" = 200
fc() { status "((mods.get('janedoe/$MOD3') or {}).get('runtime') or {}).get('counters', {}).get('$1', -1)"; }
fetched() { [ "$(fc done)" = 1 ]; }
wait_until 20 fetched
crc=$(python3 -c 'import sys, zlib; print(zlib.crc32(open(sys.argv[1], "rb").read()) & 0x7fffffff)' "$WWW/q/3")
check "a slowly read 2 MiB fetch completes: status 200, result 0, $(fc bytes) bytes, CRC $(fc crc) = $crc" \
	test "$(fc done)" = 1 -a "$(fc status)" = 200 -a "$(fc result)" = 0 -a "$(fc bytes)" = 2097152 -a "$(fc crc)" = "$crc"
pauses=$(status "((mods.get('janedoe/$MOD3') or {}).get('runtime') or {}).get('fetches', {}).get('pauses', -1)")
check "... and the node paused the transfer while the module did not read ($pauses pauses)" \
	test "$pauses" -gt 0

# --- a fetch cancelled while under way --------------------------------------------------------
# The fetcher again, on /slow/big (3 MiB at 1 MB/s): it cancels once it has
# read 64 KiB. The origin logs the request when the connection ends (short
# of 3 MiB): by then any event for the dead id would have come.
MOD4=NetServ.test.Fetcher_2
hits=$(origin_hits /slow/big)
out=$(printf 'SETUP %s NETSERV/0.1\nuser:janedoe\nurl:file://%s\nmodule-hash:sha256:%s\ndependencies:http/1\nproperties:url=http://%s:8000/slow/big,chunk=16384,every_ms=2,cancel_after=65536\n\n' \
	$MOD4 "$WORK/fetcher.wasm" "$(sha256sum "$WORK/fetcher.wasm" | cut -d' ' -f1)" "$ORIGIN" |
	NETSERV_KEY=$WORK/janedoe.key ctl send -)
check "a fetcher that cancels its fetch installs ($(code "$out"))" test "$(code "$out")" = 200
fc4() { status "((mods.get('janedoe/$MOD4') or {}).get('runtime') or {}).get('counters', {}).get('$1', -1)"; }
ended() { [ "$(origin_hits /slow/big)" -gt "$hits" ]; }
wait_until 20 ended
sent=$(grep -E '"GET /slow/big HTTP/1.1"' "$WORK/nginx/access.log" | tail -1 | awk '{print $10}')
check "the fetch was cancelled under way: cancel said 0 ($(fc4 cancelled)), the origin's connection ended after ${sent:-?} of 3145728 bytes" \
	test "$(fc4 cancelled)" = 1 -a "${sent:-0}" -gt 0 -a "${sent:-3145728}" -lt 3145728
check "... its id died at once (a read: -ENOENT, $(fc4 read_after)), no event came for it afterwards (late $(fc4 late), done $(fc4 done))" \
	test "$(fc4 read_after)" = 2 -a "$(fc4 late)" = 0 -a "$(fc4 done)" = 0
running=$(status "((mods.get('janedoe/$MOD4') or {}).get('runtime') or {}).get('fetches', {}).get('running', -1)")
check "... and nothing of it is left: no fetch running ($running)" test "$running" = 0

# --- the origin down ------------------------------------------------------------------------
topo_exec origin nginx -c "$WORK/nginx.conf" -e "$WORK/nginx/error.log" -s stop >/dev/null 2>&1
wait "$NPID" 2>/dev/null
NPID=
origin_down() { ! origin_up; }
wait_until 5 origin_down
check "the origin is down" origin_down
st=$(get -o /dev/null -w '%{http_code}' "$URL/not-cached")
check "the origin down: an object not cached is 502 ($st)" test "$st" = 502
get -o "$WORK/b3" "$URL/slow/big2"
check "... a cached one (/slow/big2) is still served" same slow/big2 "$WORK/b3"
check "the module is active with no trap ($(rt $MOD state), $(rt $MOD traps) traps)" \
	test "$(rt $MOD traps)" = 0
check "the container never died (libcurl's calls are in its seccomp allowlist)" \
	bash -c '! grep -qE "container janedoe \(pid [0-9]+\) died" "$1"' _ "$WORK/netservd.log"
tap_done
