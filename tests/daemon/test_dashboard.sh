#!/usr/bin/env bash
# The dashboard (docs/operations.md): netservd's metrics listener serves the
# page at / and the STATUS JSON at /status.json. On a router (sender --
# router -- receiver in namespaces, the netfilter plane) running the counter
# and NetMonitor modules while UDP traffic flows, headless Chromium loads the
# page: two loads a second apart show growing counters (in the DOM, and in
# the screenshots' pixels where the counters are), the modules' names and
# states, the NetMonitor view, and a module whose failure reason carries
# <script> and an <img onerror> shows them as text: nothing of it runs.
# The screenshots stay in $NETSERV_BUILD/test-output/dashboard/.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/tap.sh"
source "$here/../lib/topo.sh"
B=${NETSERV_BUILD:?}

if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP needs root"
	exit 0
fi
for tool in chromium curl python3; do
	if ! command -v "$tool" >/dev/null; then
		echo "1..0 # SKIP no $tool (scripts/install-deps installs it)"
		exit 0
	fi
done

WORK=$(mktemp -d /tmp/netserv-dashboard.XXXXXX)
chmod 0711 "$WORK"
OUT=$B/test-output/dashboard
rm -rf "$OUT" && mkdir -p "$OUT"
SOCK=$WORK/admin.sock
DPID=
cleanup_d() {
	[ -n "$DPID" ] && kill -KILL "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	topo_destroy
	rm -rf "$WORK"
}
trap cleanup_d EXIT
[ -n "${KEEP_LOG:-}" ] && trap "cp $WORK/netservd.log /tmp/dashboard.log; cleanup_d" EXIT

topo_create sender router receiver || { not_ok "topology"; tap_done; exit 1; }
RCV=$(topo_addr receiver)
PREFIX=ND${TOPO_TAG}
QBASE=$((2000 + RANDOM % 20000))
MPORT=$((20000 + RANDOM % 20000))
MOD=NetServ.apps.Counter_1.0
NMON=NetServ.apps.NetMonitor_1.0
EVIL=NetServ.apps.Evil_1.0
# The "URL" of a module that cannot be fetched: its failure's reason (and
# the setup event's) holds it, markup and all.
EVIL_URL="file://$WORK/<script>document.title='PWNED'</script><img/src=x/onerror=document.body.setAttribute('data-pwned',1)>.wasm"

mkdir -p "$WORK/keys"
"$B/netserv" keygen -d "$WORK" janedoe >/dev/null && cp "$WORK/janedoe.pub" "$WORK/keys/"
export NETSERV_KEY=$WORK/janedoe.key

cat >"$WORK/netservd.conf" <<EOC
[node]
id = dashboard-router
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
cgroup = netserv-dashboard-$TOPO_TAG
queue_base = $QBASE
heartbeat_ms = 200
pool_size = 0
[security]
keys_dir = $WORK/keys
[publisher janedoe]
uid = 65534
nice = 0
prefixes = any
[metrics]
listen = 127.0.0.1:$MPORT
EOC

ctl() { "$B/netserv" ctl --socket "$SOCK" "$@"; }
rx() { topo_exec router "$@"; } # in the router's namespace (its loopback)

nsenter --net="/var/run/netns/$(topo_ns router)" "$B/netservd" -c "$WORK/netservd.conf" \
	>>"$WORK/netservd.log" 2>&1 &
DPID=$!
if ! wait_until 10 ctl status >/dev/null 2>&1; then
	not_ok "netservd starts"
	tail -20 "$WORK/netservd.log" | sed 's/^/#   /'
	tap_done
	exit 1
fi
URL=http://127.0.0.1:$MPORT

# --- the endpoints ----------------------------------------------------------------
rx curl -sS -m 5 -D "$WORK/h.page" -o "$WORK/page.html" "$URL/"
check "GET / answers 200 with HTML" \
	bash -c 'grep -q "^HTTP/1.1 200" "$0" && grep -qi "^Content-Type: text/html" "$0"' "$WORK/h.page"
check "the page has a Content-Security-Policy allowing only its own script, by hash" \
	grep -qi "^Content-Security-Policy: default-src 'none'; script-src 'sha256-" "$WORK/h.page"
check "the page loads nothing from elsewhere (no http(s) URL in it)" \
	bash -c '! grep -Eq "(src|href)=\"?(https?:)?//" "$0"' "$WORK/page.html"
rx curl -sS -m 5 -D "$WORK/h.json" -o "$WORK/status.json" "$URL/status.json"
check "GET /status.json answers 200 application/json" \
	bash -c 'grep -q "^HTTP/1.1 200" "$0" && grep -qi "^Content-Type: application/json" "$0"' "$WORK/h.json"
check "/status.json is the STATUS JSON: node, no events yet, janedoe's container" python3 -c "import json,sys
s = json.load(open(sys.argv[1]))
assert s['node']['id'] == 'dashboard-router', s['node']
assert s['events'] == [], s['events']
assert [c['publisher'] for c in s['containers']] == ['janedoe'], s['containers']
assert isinstance(s['node']['time_ms'], int) and s['runtime_stats_up'] is True, s" "$WORK/status.json"
check "POST /status.json answers 405" \
	test "$(rx curl -s -m 5 -o /dev/null -w '%{http_code}' -X POST --data x "$URL/status.json")" = 405
check "/metrics still answers" bash -c "ip netns exec $(topo_ns router) curl -sf -m 5 $URL/metrics | grep -q '^netserv_runtime_stats_up 1'"

# --- modules --------------------------------------------------------------------------
setup() { # NAME MODULE-FILE HEADER...: a signed SETUP of a module of build/modules
	local name=$1 path=$WORK/$2.wasm h
	shift 2
	cp "$B/modules/$(basename "$path")" "$path"
	{
		printf 'SETUP %s NETSERV/0.1\nuser:janedoe\nurl:file://%s\nmodule-hash:sha256:%s\nttl:600\n' \
			"$name" "$path" "$(sha256sum "$path" | cut -d' ' -f1)"
		for h in "$@"; do printf '%s\n' "$h"; done
		printf '\n'
	} | ctl send -
}
out=$(setup "$MOD" counter filter-proto:udp filter-port:5060)
check "SETUP of the counter for udp/5060 answers active" grep -q '^state:active' <<<"$out"
out=$(setup "$NMON" netmonitor filter-proto:udp filter-port:5062 \
	"properties:visualizer_ip=$RCV,visualizer_port=5678,label=dash-test")
check "SETUP of NetMonitor for udp/5062 answers active" grep -q '^state:active' <<<"$out"
out=$(printf 'SETUP %s NETSERV/0.1\nuser:janedoe\nurl:%s\nmodule-hash:sha256:%064d\nttl:600\n\n' \
	"$EVIL" "$EVIL_URL" 0 | ctl send -)
check "a SETUP whose URL carries markup fails (cannot be fetched)" grep -q '^state:failed' <<<"$out"

# Traffic through both modules for the rest of the test (killed at the end).
topo_spawn sender "$B/udpblast" -d "$RCV" -p 5060 -n 60000 -s 64 -r 2000 >/dev/null 2>&1
BLAST1=$TOPO_LAST_PID
topo_spawn sender "$B/udpblast" -d "$RCV" -p 5062 -n 15000 -s 100 -r 500 >/dev/null 2>&1
BLAST2=$TOPO_LAST_PID
pkts() { ctl status --json | python3 -c "import json,sys
s = json.load(sys.stdin)
print([m for m in s['modules'] if m['module'] == '$MOD'][0]['runtime']['packets'])"; }
pkts_over() { [ "$(pkts)" -gt "$1" ]; }
check "traffic flows through the counter module" wait_until 10 pkts_over 100

# --- the page in a browser ---------------------------------------------------------------
chrome() { # ARGS...: headless Chromium in the router's namespace
	local ud
	ud=$(mktemp -d "$WORK/chrome.XXXXXX")
	timeout 60 ip netns exec "$(topo_ns router)" chromium --headless --no-sandbox --disable-gpu \
		--disable-background-networking --disable-component-update --disable-sync \
		--no-first-run --hide-scrollbars --user-data-dir="$ud" --window-size=1280,900 \
		--virtual-time-budget=2500 "$@" "$URL/" 2>>"$WORK/chrome.log"
}
chrome --dump-dom >"$OUT/dom1.html"
chrome --screenshot="$OUT/shot1.png" >/dev/null
sleep 1.2
chrome --dump-dom >"$OUT/dom2.html"
chrome --screenshot="$OUT/shot2.png" >/dev/null
# A longer look (20 s of the page's time: 20 polls) for the charts; what
# docs/dashboard.png shows.
chrome --screenshot="$OUT/shot-charts.png" --virtual-time-budget=20000 >/dev/null

# What the page shows, from its DOM: JSON of the values the tests look at.
cat >"$WORK/dom.py" <<'PY'
import html.parser, json, sys
class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self.scripts, self.stack, self.text = [], 0, [], {}
        self.body, self.title, self.in_title, self.reasons = {}, "", False, []
        self.tiles, self.netmon, self.cur_reason = {}, [], None
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script": self.scripts += 1
        if tag == "body": self.body = a
        if tag == "title": self.in_title = True
        if tag == "tr" and a.get("class") == "module": self.rows.append(a)
        if tag == "div" and a.get("class") == "netmon": self.netmon.append(a)
        if tag == "div" and a.get("class", "") == "tile": self.tile = a.get("id")
        if tag == "div" and a.get("class") == "big" and a.get("data-value") and getattr(self, "tile", None):
            self.tiles[self.tile] = int(a["data-value"])
        if tag == "td" and a.get("class") == "reason": self.cur_reason = ""
    def handle_endtag(self, tag):
        if tag == "title": self.in_title = False
        if tag == "td" and self.cur_reason is not None:
            self.reasons.append(self.cur_reason); self.cur_reason = None
    def handle_data(self, d):
        if self.in_title: self.title += d
        if self.cur_reason is not None: self.cur_reason += d
p = P()
p.feed(open(sys.argv[1], encoding="utf-8").read())
print(json.dumps({"modules": {r["data-module"]: {"state": r["data-state"], "packets": int(r["data-packets"])} for r in p.rows},
                  "scripts": p.scripts, "title": p.title, "polls": int(p.body.get("data-polls", 0)),
                  "pwned": "data-pwned" in p.body, "reasons": p.reasons, "tiles": p.tiles,
                  "netmon": [n.get("data-module") for n in p.netmon]}))
PY
dom() { python3 "$WORK/dom.py" "$1"; }
d1=$(dom "$OUT/dom1.html") && d2=$(dom "$OUT/dom2.html")
diag "first load: $d1"
q() { python3 -c "import json,sys; d = json.loads(sys.argv[1]); print($2)" "$1"; }
check "the page polled /status.json and rendered (polls: $(q "$d1" "d['polls']"))" \
	test "$(q "$d1" "d['polls'] >= 2")" = True
check "the page shows the counter module, active" \
	test "$(q "$d2" "d['modules'].get('$MOD', {}).get('state')")" = active
check "the page shows NetMonitor, active, and its own view" \
	test "$(q "$d2" "d['modules'].get('$NMON', {}).get('state') == 'active' and d['netmon'] == ['$NMON']")" = True
c1=$(q "$d1" "d['modules']['$MOD']['packets']")
c2=$(q "$d2" "d['modules']['$MOD']['packets']")
check "a second later the module's packet counter has grown on the page ($c1 -> $c2)" \
	test "$c2" -gt "$c1"
t1=$(q "$d1" "d['tiles'].get('t-packets', -1)")
t2=$(q "$d2" "d['tiles'].get('t-packets', -1)")
check "and so has the node's total of packets ($t1 -> $t2)" test "$t2" -gt "$t1"
check "the failed module is on the page, failed" \
	test "$(q "$d2" "d['modules'].get('$EVIL', {}).get('state')")" = failed
check "its reason with <script> and <img onerror> is shown as text" \
	test "$(q "$d2" "any(\"<script>document.title='PWNED'</script><img/src=x/onerror=\" in r for r in d['reasons'])")" = True
check "and nothing of it became markup: one script (the page's), not PWNED" \
	test "$(q "$d2" "d['scripts'] == 1 and 'PWNED' not in d['title'] and not d['pwned']")" = True
check "the DOM has the markup only escaped" \
	bash -c '! grep -q "<script>document" "$0" && grep -q "&lt;script&gt;document" "$0"' "$OUT/dom2.html"
check "the recent events list the setup, the activations and the failure" \
	bash -c 'for w in setup active failed; do grep -q "class=\"event\" data-seq=\"[0-9]*\" data-what=\"$w\"" "$0" || exit 1; done' "$OUT/dom2.html"

# The screenshots: the band of the counter tiles (below the header) differs.
cat >"$WORK/png.py" <<'PY'
import struct, sys, zlib
def load(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, inter = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and ctype in (2, 6) and inter == 0, "unexpected PNG format"
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw, stride, rows, prev = zlib.decompress(idat), w * bpp, [], bytearray(w * bpp)
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1: line[i] = (line[i] + a) & 255
            elif f == 2: line[i] = (line[i] + b) & 255
            elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line)); prev = line
    return w, h, rows
y0, y1 = int(sys.argv[3]), int(sys.argv[4])
w1, h1, a = load(sys.argv[1]); w2, h2, b = load(sys.argv[2])
assert (w1, h1) == (w2, h2) and h1 >= y1, "sizes differ"
print(sum(a[y] != b[y] for y in range(y0, y1)))
PY
ndiff=$(python3 "$WORK/png.py" "$OUT/shot1.png" "$OUT/shot2.png" 55 140 2>&1)
check "the two screenshots differ in the counters' band (rows 55-140: $ndiff rows differ)" \
	test "${ndiff:-0}" -gt 0 2>/dev/null

topo_kill "$BLAST1" KILL
topo_kill "$BLAST2" KILL
rc=0
kill -TERM "$DPID"
wait "$DPID" || rc=$?
DPID=
check "netservd exits cleanly (status $rc)" test "$rc" -eq 0
diag "screenshots and DOM dumps: $OUT"
tap_done
