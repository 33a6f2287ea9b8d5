#!/usr/bin/env bash
# ActiveCDN with the publisher's side (issue #14, seed 003 §6.1 figure 7):
#   origin --- plain --- node --- client (addresses .2, .3, .4 of one /24)
# netserv-origin in the origin serves the files and the module (--direct
# /netserv/), paced at 4 MB/s; netservd with signaling (signatures required)
# on the node. Checks: the eleven steps of figure 7 in order across the
# origin's and the node's logs (step 11: the module draws a watermark on the
# H.264 video, media/1); the third user's cache hit leaves no request in
# the origin's log; a 20 MB object: the first client through the node gets
# its first byte long before the paced origin can have sent the last one,
# five concurrent clients cause one origin fetch, ranges inside and beyond
# the cached part of a half-cached object (sha256 of every response equals
# the origin's); the periodic PROBE forgets a node whose module is gone and
# the next request deploys again; SIGUSR1 sends REMOVE; bad HTTP input to
# the origin gets 4xx; a module whose TTL expires is forgotten too.
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
if ! command -v curl >/dev/null; then
	echo "1..0 # SKIP curl is not installed (scripts/install-deps)"
	exit 0
fi
if [ ! -x "$B/netserv-origin" ]; then
	echo "1..0 # SKIP $B/netserv-origin is not built"
	exit 0
fi

SIG_BUILD=$B
SIG_WORK=$(mktemp -d /tmp/netserv-acdn-origin.XXXXXX)
OPID=
# kill_pid SIG PID: only a number > 1 (never an empty pid, never -1).
kill_pid() {
	if [[ "${2:-}" =~ ^[0-9]+$ ]] && [ "$2" -gt 1 ]; then
		kill "-$1" "$2" 2>/dev/null
	fi
	return 0
}
cleanup_ao() {
	kill_pid KILL "$OPID"
	topo_destroy
	if [ -n "${KEEP_LOGS:-}" ]; then
		cat "$SIG_WORK/origin.log" "$SIG_WORK/node/log" >"$KEEP_LOGS" 2>/dev/null
	fi
	rm -rf "$SIG_WORK"
}
trap cleanup_ao EXIT

topo_create origin plain node client || {
	not_ok "topology"
	tap_done
	exit 1
}
ORIGIN=$(topo_addr origin)
C1=$(topo_addr client)
C2=${C1%.*}.3
C3=${C1%.*}.4
IF=$(topo_if client toward node)
topo_exec client ip addr add "$C2/24" dev "$IF"
topo_exec client ip addr add "$C3/24" dev "$IF"
MOD=NetServ.apps.ActiveCDN_1

mkdir -p "$SIG_WORK/keys" "$SIG_WORK/www/netserv"
"$B/netserv" keygen -d "$SIG_WORK/keys" janedoe >/dev/null
SIG_KEYS_DIR=$SIG_WORK/keys
SIG_REQUIRE_SIGNATURES=yes
sig_start_node node $'[publisher janedoe]\nlisten_ports = tcp:8080\nconnect_destinations = '"$ORIGIN"$'/32\nstorage_quota = 100M\nmedia = yes'
node_up() { sig_ctl node status >/dev/null; }
check "netservd with signaling (signatures required) starts on the node" node_up

# --- the origin ------------------------------------------------------------------------
W=$SIG_WORK/www
cp "$B/modules/activecdn.wasm" "$W/netserv/activecdn.wasm"
HASH=sha256:$(sha256sum "$W/netserv/activecdn.wasm" | cut -d' ' -f1)
# a real H.264 segment: the module draws the watermark on it (figure 7, step 11)
ffmpeg -loglevel error -f lavfi -i testsrc=size=320x240:rate=25 -t 2 -c:v libx264 -pix_fmt yuv420p \
	-f mpegts "$W/video.ts" || diag "ffmpeg could not make video.ts"
head -c $((20 << 20)) /dev/urandom >"$W/big"
head -c $((20 << 20)) /dev/urandom >"$W/big2"
chmod -R a+rX "$W"
OLOG=$SIG_WORK/origin.log
ip netns exec "$(topo_ns origin)" "$B/netserv-origin" --root "$W" --listen "$ORIGIN:8000" \
	--publisher janedoe --key "$SIG_WORK/keys/janedoe.key" \
	--module-url "http://$ORIGIN:8000/netserv/activecdn.wasm" --module-hash "$HASH" \
	--direct /netserv/ --probe-interval 2 --retry 2 --rate 4M --timeout 20 \
	--property "watermark=Test City, 3 C" 2>"$OLOG" &
OPID=$!
TOPO_PIDS+=("$OPID")
check "netserv-origin starts" wait_line "$OLOG" "serving $W on $ORIGIN port 8000" 5

# get ADDR ARGS...: curl from the client's address ADDR.
get() {
	local a=$1
	shift
	topo_exec client curl -s -m 30 --interface "$a" "$@"
}
sha() { sha256sum <"$1" | cut -d' ' -f1; }
same() { [ "$(sha "$1")" = "$(sha "$W/$2")" ]; }
# in_range FILE FIRST COUNT OBJECT: FILE holds COUNT bytes of OBJECT from FIRST.
in_range() { [ "$(sha "$1")" = "$(tail -c +$(($2 + 1)) "$W/$4" | head -c "$3" | sha256sum | cut -d' ' -f1)" ]; }
count() { grep -cE -- "$1" "$OLOG"; }

# --- figure 7: the first user -------------------------------------------------------------
r=$(get "$C1" -D "$SIG_WORK/h1" -o "$SIG_WORK/b1" -w '%{http_code} %{num_redirects}' "http://$ORIGIN:8000/video.ts")
check "user 1 ($C1) is served by the origin itself ($r)" test "$r" = "200 0"
check "... the origin's file" same "$SIG_WORK/b1" video.ts
check "the origin deploys toward user 1 and records the node (step=6 within 60 s)" \
	wait_line "$OLOG" "step=6 active node=node " 60
NODE=$(sed -n 's/.*step=6 active node=node address=\([^ ]*\) .*/\1/p' "$OLOG" | head -1)
diag "the node's address on the path: $NODE"

# --- the second user: redirected, served by the node while it caches ---------------------
r=$(get "$C2" -L -D "$SIG_WORK/h2" -o "$SIG_WORK/b2" -w '%{http_code} %{num_redirects} %{url_effective}' "http://$ORIGIN:8000/video.ts")
check "user 2 ($C2, same /24) is redirected to the node ($r)" \
	test "$r" = "200 1 http://$NODE:8080/video.ts"
check "... gets the video from the node (X-Cache: MISS)" \
	bash -c 'grep -qi "^X-Cache: MISS" "$1"' _ "$SIG_WORK/h2"
check "... processed by the node: not the origin's bytes, a video ffprobe reads" \
	bash -c '! cmp -s "$1" "$2" && ffprobe -v error -show_entries stream=codec_name -of csv=p=0 "$1" | grep -qx h264' \
	_ "$SIG_WORK/b2" "$W/video.ts"

# --- the third user: a cache hit, the origin sees only the redirect -------------------------
r=$(get "$C3" -L -D "$SIG_WORK/h3" -o "$SIG_WORK/b3" -w '%{http_code} %{num_redirects}' "http://$ORIGIN:8000/video.ts")
check "user 3 ($C3) is redirected and gets a cache hit ($r)" \
	bash -c '[ "$1" = "200 1" ] && grep -qi "^X-Cache: HIT" "$2"' _ "$r" "$SIG_WORK/h3"
check "... the same processed bytes as user 2 (watermarked once, when cached)" \
	cmp -s "$SIG_WORK/b3" "$SIG_WORK/b2"
check "the origin served /video.ts to the node once ($(count "step=10 node-fetch node=$NODE path=/video.ts$"))" \
	test "$(count "step=10 node-fetch node=$NODE path=/video.ts$")" = 1
check "... and user 3's request to the origin was only redirected" \
	bash -c '[ "$(grep -c "client=$1 " "$2")" = 2 ] && grep -q "step=8 redirect client=$1 " "$2"' _ "$C3" "$OLOG"

# --- the eleven steps, in order, from both logs ---------------------------------------------
out=$(python3 "$here/../lib/log_order.py" origin="$OLOG" node="$SIG_WORK/node/log" -- \
	"origin:step=1 request client=$C1 path=/video.ts .*node=none" \
	"origin:step=2 serve client=$C1 path=/video.ts status=200" \
	"origin:step=3 SETUP toward=$C1 module=$MOD: sending" \
	"origin:step=4 module-download node=$NODE path=/netserv/activecdn.wasm" \
	"node:module janedoe/$MOD fetched" \
	"node:module janedoe/$MOD active" \
	"origin:step=3 SETUP toward=$C1 module=$MOD code=200" \
	"origin:step=5 PROBE toward=$C1 module=$MOD code=200" \
	"origin:step=6 active node=node address=$NODE" \
	"origin:step=7 request client=$C2 path=/video.ts" \
	"origin:step=8 redirect client=$C2 to=http://$NODE:8080/video.ts" \
	"node:activecdn: miss /video.ts: fetching it from the origin" \
	"origin:step=10 node-fetch node=$NODE path=/video.ts" \
	"node:activecdn: watermarked /video.ts" 2>&1)
rc=$?
check "figure 7's eleven steps happen in order in the origin's and the node's logs" test $rc = 0
sed 's/^/#   /' <<<"$out"

# --- a 20 MB object through the node (the origin sends 4 MB/s: 5 s) -------------------------
U=http://$NODE:8080
t=$(get "$C2" -o "$SIG_WORK/big" -w '%{time_starttransfer} %{time_total}' "$U/big")
check "20 MB, the first client: first byte before the origin can have sent the last ($t s)" \
	python3 -c 'import sys; a, b = map(float, sys.argv[1:]); sys.exit(not (a < 1.5 and b > 3.5))' $t
check "... the origin's bytes" same "$SIG_WORK/big" big
pids=()
for i in 1 2 3 4 5; do
	get "$C2" -o "$SIG_WORK/c$i" "$U/big2" &
	pids+=($!)
done
half() { [ "$(stat -c %s "$SIG_WORK/c1" 2>/dev/null || echo 0)" -gt 3000000 ]; }
wait_until 10 half
sz=$(stat -c %s "$SIG_WORK/c1" 2>/dev/null || echo 0)
get "$C2" -D "$SIG_WORK/hr1" -o "$SIG_WORK/r1" -H 'Range: bytes=1000000-1999999' "$U/big2"
get "$C2" -D "$SIG_WORK/hr2" -o "$SIG_WORK/r2" -H 'Range: bytes=15000000-15999999' "$U/big2"
wait "${pids[@]}"
ok5=0
for i in 1 2 3 4 5; do same "$SIG_WORK/c$i" big2 && ok5=$((ok5 + 1)); done
check "five concurrent clients of another 20 MB object: all five get the origin's bytes ($ok5)" test $ok5 = 5
check "... with one origin fetch ($(count "step=10 node-fetch node=$NODE path=/big2$"))" \
	test "$(count "step=10 node-fetch node=$NODE path=/big2$")" = 1
check "a range inside the cached part of the half-cached object ($sz bytes in): 206, right bytes" \
	bash -c 'grep -qi "^Content-Range: bytes 1000000-1999999/20971520" "$1"' _ "$SIG_WORK/hr1"
check "... sha256 equal to the origin's" in_range "$SIG_WORK/r1" 1000000 1000000 big2
check "a range beyond the cached part: 206, right bytes (sha256)" \
	bash -c 'grep -qi "^Content-Range: bytes 15000000-15999999/20971520" "$1"' _ "$SIG_WORK/hr2"
check "... sha256 equal to the origin's" in_range "$SIG_WORK/r2" 15000000 1000000 big2

# --- the module gone: the periodic PROBE forgets the node; the process repeats --------------
out=$(ip netns exec "$(topo_ns origin)" env NETSERV_KEY="$SIG_WORK/keys/janedoe.key" \
	"$B/netserv" remove --to "$C1" --module "$MOD" --user janedoe --timeout 10 2>&1)
check "someone else removes the module (netserv remove: 200)" grep -q 200 <<<"$out"
check "the origin's periodic PROBE forgets the node" \
	wait_line "$OLOG" "forget region=${C1%.*}.0/24 node=node: the module is gone" 10
r=$(get "$C2" -o /dev/null -w '%{http_code} %{num_redirects}' -L "http://$ORIGIN:8000/video.ts")
check "the region's next request is served by the origin again ($r)" test "$r" = "200 0"
n6=$(count "step=6 active")
check "... and it deploys again (a second step=6)" \
	wait_until 60 bash -c '[ "$(grep -c "step=6 active" "$1")" -ge 2 ]' _ "$OLOG"
r=$(get "$C1" -o /dev/null -w '%{http_code} %{num_redirects}' -L "http://$ORIGIN:8000/video.ts")
check "... then redirects the region to the node again ($r)" test "$r" = "200 1"

# --- REMOVE on command ----------------------------------------------------------------------
kill_pid USR1 "$OPID"
check "SIGUSR1: the origin sends REMOVE (200)" \
	wait_line "$OLOG" "remove REMOVE toward=[^ ]+ module=$MOD code=200" 20
check "... and forgets the node" wait_line "$OLOG" "forget region=.* removed" 5
gone() { [ "$(sig_status node "len([m for m in s['modules'] if m['module'] == '$MOD'])")" = 0 ]; }
check "the module is gone from the node" wait_until 10 gone
r=$(get "$C3" -o /dev/null -w '%{http_code} %{num_redirects}' -L "http://$ORIGIN:8000/video.ts")
check "the region is served by the origin again ($r)" test "$r" = "200 0"

# --- bad HTTP input to the origin (from the plain router: a region without nodes) ---------
st() { topo_exec plain curl -s -m 10 -o /dev/null -w '%{http_code}' "$@"; }
check "POST: 405" test "$(st -X POST -d x "http://$ORIGIN:8000/video.ts")" = 405
check "a path with ..: 400" test "$(st --path-as-is "http://$ORIGIN:8000/netserv/../../etc/passwd")" = 400
check "an encoded ..: 400" test "$(st "http://$ORIGIN:8000/%2e%2e/etc/passwd")" = 400
long=$(head -c 5000 /dev/zero | tr '\0' a)
check "a target of 5000 bytes: 4xx" bash -c '[[ "$1" == 4* ]]' _ "$(st "http://$ORIGIN:8000/$long")"
check "a range past the end: 416" test "$(st -H 'Range: bytes=999999999-' "http://$ORIGIN:8000/video.ts")" = 416
check "an absurd range (past 2^64): ignored, 200" test "$(st -H 'Range: bytes=99999999999999999999999-' "http://$ORIGIN:8000/video.ts")" = 200
check "a missing file: 404" test "$(st "http://$ORIGIN:8000/nothing")" = 404
# raw REQUEST: the status line the origin answers, or "closed".
raw() {
	topo_exec plain python3 -c "import socket,sys
s = socket.create_connection(('$ORIGIN', 8000), timeout=5)
s.sendall(sys.argv[1].encode())
d = s.recv(200)
print(d.split(b'\r\n')[0].decode() if d else 'closed')" "$1"
}
r=$(raw $'GET x HTTP/1.1\r\nHost: o\r\n\r\n')
check "a target that is not a path: 400 ($r)" grep -q " 400 " <<<"$r "
r=$(raw $'GET /video.ts HTTP/1.1\r\nHost: o\r\nno colon here\r\n\r\n')
check "a header line without a colon: 400 ($r)" grep -q " 400 " <<<"$r "
r=$(raw $'GET /video.ts HTTP/7.0\r\n\r\n')
check "HTTP/7.0: 505 ($r)" grep -q " 505 " <<<"$r "
r=$(raw $'GARBAGE\r\n\r\n')
check "a request line without a target: libmicrohttpd closes the connection ($r)" test "$r" = closed
check "no deployment toward the plain router's region succeeded (no node on that path)" \
	wait_line "$OLOG" "region=10.1.0.0/24 no ActiveCDN node" 30
check "the origin is still running" kill -0 "$OPID"
kill_pid TERM "$OPID"
check "SIGTERM: it stops cleanly (exit 0)" wait "$OPID"
OPID=

# --- TTL expiry: a module of 4 s is forgotten by the periodic PROBE ---------------------------
OLOG=$SIG_WORK/origin2.log
ip netns exec "$(topo_ns origin)" "$B/netserv-origin" --root "$W" --listen "$ORIGIN:8000" \
	--publisher janedoe --key "$SIG_WORK/keys/janedoe.key" \
	--module-url "http://$ORIGIN:8000/netserv/activecdn.wasm" --module-hash "$HASH" \
	--direct /netserv/ --probe-interval 1 --module-ttl 4 --timeout 20 2>"$OLOG" &
OPID=$!
TOPO_PIDS+=("$OPID")
check "a second origin with --module-ttl 4 starts" wait_line "$OLOG" "serving $W" 5
r=$(get "$C1" -o /dev/null -w '%{http_code} %{num_redirects}' -L "http://$ORIGIN:8000/video.ts")
check "... serves user 1 itself ($r)" test "$r" = "200 0"
check "... and deploys the module again" wait_line "$OLOG" "step=6 active" 30
check "the module expires on the node after its 4 s, and the periodic PROBE forgets it" \
	wait_line "$OLOG" "forget region=${C1%.*}.0/24 node=node: the module is gone" 20
check "... it is gone from the node" wait_until 5 gone
kill_pid TERM "$OPID"
check "SIGTERM: the second origin stops cleanly" wait "$OPID"
OPID=
tap_done
