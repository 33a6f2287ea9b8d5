#!/usr/bin/env bash
# media/1 in a real container, through ActiveCDN's watermark (issue #14 item
# 2, seed 003 §7): client -- router -- origin in network namespaces, an HLS
# stream (H.264 + AAC, 2 s segments) made with ffmpeg at test time and served
# by nginx in the origin, netservd in the router with activecdn deployed with
# `watermark=...` (a comma in it, escaped). Checks: ffmpeg as an HLS client
# plays the whole stream through the node, twice; each segment is processed
# once (the module's counter, the origin's log); the playlist passes
# unchanged; in every segment from the node, a decoded frame differs clearly
# from the origin's in the watermark's box and stays close elsewhere (PSNR);
# timestamps and audio are kept; a garbage .ts is served as the origin sent
# it and counted as a failure, a .ts over 4 MiB is streamed unprocessed; a
# 720p segment whose processing outlasts three heartbeats (heartbeat_ms =
# 100) does not get the container killed; the module's calls stay within a
# 20 ms budget. One watermarked frame is saved as a PNG (its path is
# printed).
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
for tool in curl nginx ffmpeg ffprobe python3; do
	if ! command -v $tool >/dev/null; then
		echo "1..0 # SKIP $tool is not installed (scripts/install-deps)"
		exit 0
	fi
done

WORK=$(mktemp -d /tmp/netserv-media.XXXXXX)
chmod 0711 "$WORK"
OUT=$B/test-output/media
mkdir -p "$OUT"
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
cleanup_media() {
	kill_pid "$DPID"
	kill_pid "$NPID"
	topo_destroy
	[ -n "${KEEP_LOG:-}" ] && cp "$WORK/netservd.log" "$KEEP_LOG"
	rm -rf "$WORK"
}
trap cleanup_media EXIT

topo_create client router origin || { not_ok "topology"; tap_done; exit 1; }
ORIGIN=$(topo_addr origin)
RTR=$(topo_addr router toward client)
PREFIX=NS${TOPO_TAG}
CG=netserv-media-$TOPO_TAG
PORT=8080
URL=http://$RTR:$PORT
# The watermark: a comma (escaped in the SETUP) and a non-ASCII character.
TEXT='NetServ GEC9, Madrid 21°C'
TEXT_ESC='NetServ GEC9\, Madrid 21°C'

# --- the stream and its origin ------------------------------------------------------------
WWW=$WORK/www
mkdir -p "$WWW/hls" "$WORK/nginx"
if ! ffmpeg -nostdin -hide_banner -loglevel error -f lavfi -i testsrc=size=320x240:rate=25 \
	-f lavfi -i sine=frequency=440:sample_rate=44100 -t 6 -c:v libx264 -preset veryfast \
	-g 50 -pix_fmt yuv420p -c:a aac -b:a 64k -f hls -hls_time 2 -hls_playlist_type vod \
	-hls_segment_filename "$WWW/hls/seg%d.ts" "$WWW/hls/index.m3u8" 2>"$WORK/ffmpeg-gen.log"; then
	not_ok "ffmpeg makes the HLS stream"
	sed 's/^/#   /' "$WORK/ffmpeg-gen.log" | tail -10
	tap_done
	exit 1
fi
NSEG=$(grep -c '\.ts$' "$WWW/hls/index.m3u8")
check "ffmpeg made an HLS stream of $NSEG segments" test "$NSEG" -ge 3
head -c 50000 /dev/urandom >"$WWW/hls/garbage.ts"
head -c $((5 << 20)) /dev/urandom >"$WWW/hls/big.ts" # over activecdn's 4 MiB
# A segment whose processing (~0.5-1 s) outlasts three heartbeats (0.3 s).
ffmpeg -nostdin -v error -f lavfi -i testsrc=size=1280x720:rate=25 -t 3 -c:v libx264 \
	-preset veryfast -g 75 -pix_fmt yuv420p -f mpegts "$WWW/hls/slow.ts"
chmod -R a+rX "$WWW"
nginx_origin_conf 'location / { add_header Cache-Control "max-age=3600"; }' 'types { application/vnd.apple.mpegurl m3u8; video/mp2t ts; }'
nginx_origin_start /hls/index.m3u8 || {
	tap_done
	exit 1
}
# origin_hits PATH: the origin's log lines for GET PATH.
origin_hits() { grep -cE "\"GET $1 HTTP/1.1\" " "$WORK/nginx/access.log"; }

# --- the node -------------------------------------------------------------------------------
"$B/netserv" keygen -d "$WORK" janedoe >/dev/null
mkdir -p "$WORK/keys" && cp "$WORK/janedoe.pub" "$WORK/keys/"
cat >"$WORK/netservd.conf" <<EOC
[node]
id = media-router
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
heartbeat_ms = 100
pool_size = 0
[security]
keys_dir = $WORK/keys
[publisher janedoe]
uid = 65534
prefixes = $ORIGIN/32
listen_ports = tcp:8080
storage_quota = 32M
; a module call's budget far below a segment's processing (~0.1 s): the
; media call must not count against it; FFmpeg under the cgroup's memory
budget_ms = 20
memory = 256M
; media/1 is granted per publisher (FFmpeg is loaded into its container)
media = yes
EOC

ctl() { "$B/netserv" ctl --socket "$SOCK" "$@"; }
code() { head -1 <<<"$1" | cut -d' ' -f2; }
MOD=NetServ.apps.ActiveCDN_1
setup() {
	local path=$WORK/acdn.wasm hash
	cp "$B/modules/activecdn.wasm" "$path"
	hash=sha256:$(sha256sum "$path" | cut -d' ' -f1)
	{
		printf 'SETUP %s NETSERV/0.1\nuser:janedoe\nurl:file://%s\nmodule-hash:%s\n' \
			"$MOD" "$path" "$hash"
		printf 'listen:tcp:%s\ndependencies:http/1,crypto/1,storage/1,media/1\n' "$PORT"
		printf 'properties:origin=http://%s:8000,watermark=%s,watermark_x=8,watermark_y=8,watermark_size=20\n\n' \
			"$ORIGIN" "$TEXT_ESC"
	} | NETSERV_KEY=$WORK/janedoe.key ctl send -
}
status() {
	ctl status --json | python3 -c "import json,sys
s = json.load(sys.stdin)
mods = {m['user'] + '/' + m['module']: m for m in s['modules']}
print($1)"
}
counter() { status "((mods.get('janedoe/$MOD') or {}).get('runtime') or {}).get('counters', {}).get('$1', -1)"; }
rt() { status "((mods.get('janedoe/$MOD') or {}).get('runtime') or {}).get('$1', -1)"; }
get() { topo_exec client curl -s -m 15 "$@"; }

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
bb=$(status "s.get('node', {}).get('building_blocks', s.get('building_blocks'))")
check "the node lists media/1 among its building blocks ($bb)" grep -q "media/1" <<<"$bb"

out=$(setup)
check "activecdn with watermark=... and dependencies media/1 answers 200" test "$(code "$out")" = 200
[ "$(code "$out")" = 200 ] || sed 's/^/#   /' <<<"$out"
serving() { [ "$(get -o /dev/null -w '%{http_code}' "$URL/nothing-here")" = 404 ]; }
wait_until 5 serving
check "it serves (an object the origin lacks is 404)" serving

# --- play the stream through the node, twice ----------------------------------------------------
play() { # N: ffmpeg as the HLS client, into $WORK/play$N.ts
	topo_exec client timeout 60 ffmpeg -nostdin -hide_banner -loglevel error \
		-i "$URL/hls/index.m3u8" -c copy -y "$WORK/play$1.ts" 2>"$WORK/play$1.log"
}
frames() { ffprobe -v error -count_frames -select_streams v:0 -show_entries \
	stream=nb_read_frames -of default=nw=1:nk=1 "$1" | grep -m1 .; }
# pkts TS STREAM: its packets' pts and sizes, one a line, in pts order.
pkts() { ffprobe -v error -select_streams "$2" -show_entries packet=pts,size \
	-of csv=p=0 "$1" | grep . | cut -d, -f1,2 | sort -n; }
t0=$(date +%s%N)
check "ffmpeg plays $URL/hls/index.m3u8 through the node to the end" play 1
t1=$(date +%s%N)
sed 's/^/#   /' "$WORK/play1.log" | tail -5
diag "first play (every segment a miss, watermarked): $(((t1 - t0) / 1000000)) ms"
n1=$(frames "$WORK/play1.ts")
check "the played stream has all 150 frames ($n1)" test "$n1" = 150
acodec=$(ffprobe -v error -select_streams a -show_entries stream=codec_name \
	-of default=nw=1:nk=1 "$WORK/play1.ts" | grep -m1 .)
check "its audio came along ($acodec)" test "$acodec" = aac
check "ffmpeg plays it again (cache hits)" play 2
check "... the same bytes both times" cmp -s "$WORK/play1.ts" "$WORK/play2.ts"
wm=$(counter watermarked)
check "every segment was watermarked once: watermarked = $NSEG ($wm), failures 0 ($(counter watermark_failures))" \
	test "$wm" = "$NSEG" -a "$(counter watermark_failures)" = 0
once=yes
for ((i = 0; i < NSEG; i++)); do
	[ "$(origin_hits "/hls/seg$i.ts")" = 1 ] || once="no (seg$i: $(origin_hits "/hls/seg$i.ts"))"
done
check "the origin saw one request per segment: $once" test "$once" = yes
get -o "$WORK/index.node" "$URL/hls/index.m3u8"
check "the playlist passes unchanged" cmp -s "$WORK/index.node" "$WWW/hls/index.m3u8"

# --- each segment carries the watermark; the rest of the frame is unchanged ------------------------
cat >"$WORK/cmp.py" <<'PY'
# cmp.py A B W H X0 Y0 X1 Y1: luma planes A, B (gray, W x H); prints the mean
# absolute difference inside the box [X0,X1) x [Y0,Y1) and the PSNR outside.
import math, sys
a, b = open(sys.argv[1], 'rb').read(), open(sys.argv[2], 'rb').read()
w, h, x0, y0, x1, y1 = map(int, sys.argv[3:9])
assert len(a) == len(b) == w * h, (len(a), len(b))
din = n_in = 0
se = n_out = 0
for y in range(h):
    for x in range(w):
        d = a[y * w + x] - b[y * w + x]
        if x0 <= x < x1 and y0 <= y < y1:
            din += abs(d); n_in += 1
        else:
            se += d * d; n_out += 1
psnr = 99.0 if se == 0 else 10 * math.log10(255 * 255 / (se / n_out))
print("%.1f %.1f" % (din / n_in, psnr))
PY
gray() { # TS OUT: the middle frame's luma of segment TS
	ffmpeg -nostdin -v error -i "$1" -vf "select=eq(n\,25)" -frames:v 1 -f rawvideo \
		-pix_fmt gray -y "$2"
}
for ((i = 0; i < NSEG; i++)); do
	get -o "$WORK/node$i.ts" "$URL/hls/seg$i.ts"
	gray "$WORK/node$i.ts" "$WORK/node$i.gray"
	gray "$WWW/hls/seg$i.ts" "$WORK/orig$i.gray"
	# the box: from (8, 8), 20 px text and a 4 px border, up to the right edge
	read -r din psnr < <(python3 "$WORK/cmp.py" "$WORK/node$i.gray" "$WORK/orig$i.gray" \
		320 240 0 0 320 44 2>&1)
	check "seg$i: the watermark's box differs clearly (mean |diff| $din >= 20)" \
		python3 -c "import sys; sys.exit(not float('$din') >= 20)"
	check "seg$i: the rest of the frame is unchanged (PSNR $psnr dB >= 30)" \
		python3 -c "import sys; sys.exit(not float('$psnr') >= 30)"
	po=$(pkts "$WWW/hls/seg$i.ts" v:0 | cut -d, -f1 | md5sum)
	pn=$(pkts "$WORK/node$i.ts" v:0 | cut -d, -f1 | md5sum)
	check "seg$i: the video's timestamps are the origin's" test "$po" = "$pn"
	ao=$(pkts "$WWW/hls/seg$i.ts" a:0 | md5sum)
	an=$(pkts "$WORK/node$i.ts" a:0 | md5sum)
	check "seg$i: the audio packets are copied (timestamps, sizes)" test "$ao" = "$an"
done
ffmpeg -nostdin -v error -i "$WORK/node1.ts" -vf "select=eq(n\,25)" -frames:v 1 -y \
	"$OUT/watermarked.png"
check "a watermarked frame saved: $OUT/watermarked.png" test -s "$OUT/watermarked.png"
diag "watermarked frame: $OUT/watermarked.png"

# --- bad input ----------------------------------------------------------------------------------
get -o "$WORK/garbage" -w '%{http_code}' "$URL/hls/garbage.ts" >"$WORK/garbage.code"
check "a garbage .ts is served as the origin sent it ($(cat "$WORK/garbage.code"))" \
	bash -c '[ "$(cat "$1")" = 200 ] && cmp -s "$2" "$3"' _ "$WORK/garbage.code" "$WORK/garbage" "$WWW/hls/garbage.ts"
check "... and counted: watermark_failures = 1 ($(counter watermark_failures))" \
	test "$(counter watermark_failures)" = 1
get -o "$WORK/big" "$URL/hls/big.ts"
check "a .ts over 4 MiB is streamed as the origin sent it, counted (failures $(counter watermark_failures))" \
	bash -c 'cmp -s "$1" "$2" && [ "$3" = 2 ]' _ "$WORK/big" "$WWW/hls/big.ts" "$(counter watermark_failures)"
# --- a media call longer than three heartbeats ------------------------------------------------------
done0=$(($(counter watermarked) + $(counter watermark_failures)))
get -o "$WORK/slow" "$URL/hls/slow.ts"
media=$(status "((mods.get('janedoe/$MOD') or {}).get('runtime') or {}).get('media')")
diag "after slow.ts (1280x720, 3 s): media/1 statistics $media"
check "a 720p segment processed longer than three heartbeats is served (watermarked $(counter watermarked), failures $(counter watermark_failures))" \
	bash -c '[ -s "$1" ] && [ "$2" = "$(($3 + 1))" ]' _ "$WORK/slow" \
	"$(($(counter watermarked) + $(counter watermark_failures)))" "$done0"
check "the module never trapped nor overran its 20 ms budget (traps $(rt traps), timeouts $(rt timeouts))" \
	test "$(rt traps)" = 0 -a "$(rt timeouts)" = 0
media=$(status "((mods.get('janedoe/$MOD') or {}).get('runtime') or {}).get('media')")
diag "media/1 statistics: $media"
check "media/1 statistics: $((NSEG + 2)) calls, 1 or 2 failures (the garbage; slow.ts may hit the time limit on a loaded machine)" \
	python3 -c "import ast, sys; m = ast.literal_eval(sys.argv[1]); sys.exit(not (m['calls'] == $NSEG + 2 and m['failures'] in (1, 2)))" "$media"
check "no container was killed, though heartbeat_ms = 100 (netservd's log)" bash -c '! grep -q "killed by signal" "$1"' _ "$WORK/netservd.log"
get -D "$WORK/h0" -o "$WORK/again0.ts" "$URL/hls/seg0.ts"
check "it still serves: seg0 again is a hit with the watermarked bytes" \
	bash -c 'grep -qi "^X-Cache: HIT" "$1" && cmp -s "$2" "$3"' _ "$WORK/h0" "$WORK/again0.ts" "$WORK/node0.ts"
tap_done
