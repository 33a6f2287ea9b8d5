#!/usr/bin/env bash
# The Prometheus endpoint ([metrics] listen, docs/operations.md): off unless
# configured; a bad address is a config error; on a router (sender -- router
# -- receiver in namespaces, the netfilter plane, a signed SETUP of the
# counter module) its output passes `promtool check metrics`, malformed HTTP
# gets an error and the node lives on, and a real Prometheus scraping it
# returns, through its HTTP API, the module's packet count after N packets.
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
for tool in promtool prometheus curl; do
	if ! command -v "$tool" >/dev/null; then
		echo "1..0 # SKIP no $tool (scripts/install-deps installs it)"
		exit 0
	fi
done

WORK=$(mktemp -d /tmp/netserv-metrics.XXXXXX)
chmod 0711 "$WORK"
SOCK=$WORK/admin.sock
DPID=
PPID_PROM=
cleanup_m() {
	[ -n "$DPID" ] && kill -KILL "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	[ -n "$PPID_PROM" ] && kill -KILL "$PPID_PROM" 2>/dev/null && wait "$PPID_PROM" 2>/dev/null
	topo_destroy
	rm -rf "$WORK"
}
trap cleanup_m EXIT
[ -n "${KEEP_LOG:-}" ] && trap "cp $WORK/netservd.log /tmp/metrics.log; cleanup_m" EXIT

# --- configuration ------------------------------------------------------------
badconf() { # VALUE: netservd -t on a config whose [metrics] listen is VALUE
	printf '[node]\nstate_dir = %s/s\nadmin_socket = %s/a.sock\n[metrics]\nlisten = %s\n' \
		"$WORK" "$WORK" "$1" >"$WORK/bad.conf"
	"$B/netservd" -t -c "$WORK/bad.conf" 2>&1
}
for v in 127.0.0.1 localhost:9473 127.0.0.1:0 127.0.0.1:70000 ::1:9473 '[::1]'; do
	out=$(badconf "$v")
	rc=$?
	check "netservd -t refuses listen = $v with a clear message" \
		bash -c '[ "$0" -eq 1 ] && grep -q "bad.conf:5: \[metrics\] listen: .* is not ADDRESS:PORT" <<<"$1"' "$rc" "$out"
done
out=$(badconf '[::1]:9473')
check "netservd -t accepts listen = [::1]:9473" grep -q 'configuration OK' <<<"$out"

topo_create sender router receiver || { not_ok "topology"; tap_done; exit 1; }
RCV=$(topo_addr receiver)
PREFIX=NM${TOPO_TAG}
QBASE=$((2000 + RANDOM % 20000))
MPORT=$((20000 + RANDOM % 20000))
PPORT=$((MPORT + 1))
MOD=NetServ.apps.Counter_1.0
N=2000

mkdir -p "$WORK/keys"
"$B/netserv" keygen -d "$WORK" janedoe >/dev/null && cp "$WORK/janedoe.pub" "$WORK/keys/"
export NETSERV_KEY=$WORK/janedoe.key

write_conf() { # [METRICS-SECTION]
	cat >"$WORK/netservd.conf" <<EOC
[node]
id = metrics-router
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
cgroup = netserv-metrics-$TOPO_TAG
queue_base = $QBASE
heartbeat_ms = 200
pool_size = 0
[security]
keys_dir = $WORK/keys
[publisher janedoe]
uid = 65534
nice = 0
prefixes = any
${1:-}
EOC
}

rx() { topo_exec router "$@"; } # in the router's namespace (its loopback)

stop_daemon() {
	local rc=0
	kill -TERM "$DPID"
	wait "$DPID" || rc=$?
	DPID=
	return "$rc"
}

# --- off unless configured ------------------------------------------------------
write_conf
start_daemon || { not_ok "netservd starts"; tap_done; exit 1; }

# `netserv ctl -c FILE` finds the admin socket in netservd's configuration.
check "netserv ctl -c netservd.conf status reaches the node" \
	bash -c '"$0" ctl -c "$1" status | grep -q "node metrics-router"' "$B/netserv" "$WORK/netservd.conf"
check "ctl -c wins over \$NETSERV_SOCKET" \
	bash -c 'NETSERV_SOCKET=/nonexistent.sock "$0" ctl -c "$1" status >/dev/null' \
	"$B/netserv" "$WORK/netservd.conf"
out=$("$B/netserv" ctl -c "$WORK/nonexistent.conf" status 2>&1)
check "ctl -c with a missing file: exit 2 and the file named (${out})" \
	bash -c '[ "$0" -eq 2 ] && grep -q "nonexistent.conf: cannot open" <<<"$1"' "$?" "$out"
"$B/netserv" ctl -c "$WORK/netservd.conf" --socket "$SOCK" status >/dev/null 2>&1
check "ctl with both -c and --socket is a usage error" test $? -eq 2
check "without [metrics], netservd listens on no TCP port" \
	test -z "$(rx ss -Hltn 2>/dev/null)"
stop_daemon
check "netservd exits cleanly" test $? -eq 0

# --- on -----------------------------------------------------------------------
write_conf "[metrics]
listen = 127.0.0.1:$MPORT
[signaling]
enable = yes
t1_ms = 100
t2_ms = 800"
start_daemon || { not_ok "netservd starts with [metrics]"; tap_done; exit 1; }
URL=http://127.0.0.1:$MPORT/metrics
check "with [metrics], netservd listens on 127.0.0.1:$MPORT" \
	bash -c 'grep -q "127.0.0.1:$0 " <<<"$1"' "$MPORT" "$(rx ss -Hltn)"

module_hash() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }
cp "$B/modules/counter.wasm" "$WORK/counter.wasm"
out=$(printf 'SETUP %s NETSERV/0.1\nuser:janedoe\nurl:file://%s\nmodule-hash:%s\nfilter-proto:udp\nfilter-port:5060\nttl:600\n\n' \
	"$MOD" "$WORK/counter.wasm" "$(module_hash "$WORK/counter.wasm")" | ctl send -)
check "signed SETUP of the counter for udp/5060 answers 200 active" grep -q '^state:active' <<<"$out"

blast() { # PORT COUNT: prints how many arrived
	local port=$1 n=$2 out=$WORK/count.$RANDOM
	ip netns exec "$(topo_ns receiver)" "$B/udpcount" -p "$port" -t 30 -i 700 >"$out" 2>&1 &
	local cpid=$!
	wait_until 5 grep -qs ready "$out"
	topo_exec sender "$B/udpblast" -d "$RCV" -p "$port" -n "$n" -s 64 -r 5000 >/dev/null
	wait "$cpid"
	grep -o 'received=[0-9]*' "$out" | cut -d= -f2
}
got=$(blast 5060 $N)
check "$N UDP packets to port 5060 arrive (got $got)" test "$got" = "$N"
own=$(ctl status --json | python3 -c "import json,sys
s = json.load(sys.stdin)
m = [m for m in s['modules'] if m['module'] == '$MOD'][0]
print(m['runtime']['counters']['packets'])")
check "the counter module's own count is $N (got $own)" test "$own" = "$N"

rx curl -sS -m 5 -D "$WORK/headers" -o "$WORK/metrics.txt" "$URL"
check "GET /metrics answers 200" grep -q '^HTTP/1.1 200' "$WORK/headers"
check "with the text format's content type" \
	grep -qi '^Content-Type: text/plain; version=0.0.4' "$WORK/headers"
if promtool check metrics <"$WORK/metrics.txt" >"$WORK/promtool.out" 2>&1; then
	ok "promtool check metrics passes"
else
	not_ok "promtool check metrics passes"
	sed 's/^/#   /' "$WORK/promtool.out" | head -20
fi
metric() { # SERIES-PREFIX: the value of the first sample line starting with it
	grep -v '^#' "$WORK/metrics.txt" | grep -F -- "$1" | head -1 | awk '{print $NF}'
}
L="publisher=\"janedoe\",module=\"$MOD\""
check "netserv_module_packets_total{$L} is $N" \
	test "$(metric "netserv_module_packets_total{$L}")" = "$N"
check "the module's own counter is exported: netserv_module_events_total{...,name=\"packets\"} $N" \
	test "$(metric "netserv_module_events_total{$L,name=\"packets\"}")" = "$N"
check "the queue's packets are exported per publisher" \
	test "$(metric 'netserv_queue_packets_total{publisher="janedoe"}')" = "$N"
check "the SETUP is counted: netserv_requests_total{method=\"setup\",code=\"200\"} 1" \
	test "$(metric 'netserv_requests_total{method="setup",code="200"}')" = 1
check "the compile time histogram has one observation" \
	test "$(metric 'netserv_module_compile_duration_seconds_count')" = 1
check "no container restarts" \
	test "$(metric 'netserv_container_restarts_total{publisher="janedoe"}')" = 0
check "no verdict refused by the relay (netserv_queue_refused_verdicts_total 0)" \
	test "$(metric 'netserv_queue_refused_verdicts_total{publisher="janedoe"}')" = 0

# --- GIST and NSLP: a signaling PROBE from the sender, through the router --------
gq='netserv_gist_messages_received_total{type="query"}'
check "GIST and NSLP families are there before any signaling ($gq $(metric "$gq"))" \
	bash -c '[ "$1" = 0 ] && [ "$2" = 0 ] && [ -n "$3" ]' _ "$(metric "$gq")" \
	"$(metric 'netserv_nslp_requests_total ')" \
	"$(metric 'netserv_gist_messaging_associations{state="established"}')"
out=$(topo_exec sender env NETSERV_KEY= "$B/netserv" probe --to "$RCV" --timeout 20 2>&1)
check "a signaling PROBE toward the receiver is answered by the router" \
	grep -q 'metrics-router' <<<"$out" || sed 's/^/#   /' <<<"$out"
rx curl -sS -m 5 -o "$WORK/metrics.txt" "$URL"
if promtool check metrics <"$WORK/metrics.txt" >"$WORK/promtool.out" 2>&1; then
	ok "promtool check metrics passes with the GIST series moved"
else
	not_ok "promtool check metrics passes with the GIST series moved"
	sed 's/^/#   /' "$WORK/promtool.out" | head -20
fi
ge1() { [ "${1:-0}" -ge 1 ] 2>/dev/null; }
for s in "$gq" 'netserv_gist_messages_sent_total{type="response"}' \
	'netserv_gist_messages_received_total{type="data"}' 'netserv_nslp_requests_total ' \
	'netserv_nslp_responses_total ' 'netserv_requests_total{method="probe",code="200"}'; do
	check "after the PROBE, ${s% } >= 1 (got $(metric "$s"))" ge1 "$(metric "$s")"
done
check "the router sent no GIST Error (got $(metric 'netserv_gist_messages_sent_total{type="error"}'))" \
	test "$(metric 'netserv_gist_messages_sent_total{type="error"}')" = 0
check "netserv_gist_retransmissions_total is exported ($(metric 'netserv_gist_retransmissions_total '))" \
	test -n "$(metric 'netserv_gist_retransmissions_total ')"

# --- bad requests ---------------------------------------------------------------
code() { rx curl -s -m 5 -o /dev/null -w '%{http_code}' "$@"; }
check "POST /metrics answers 405" test "$(code -X POST --data x "$URL")" = 405
check "GET /other answers 404" test "$(code "http://127.0.0.1:$MPORT/other")" = 404
raw() { # BYTES: sends them raw, prints the status line of the answer
	rx python3 - "$MPORT" "$1" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(sys.argv[2].encode("latin-1").decode("unicode_escape").encode("latin-1"))
try:
    data = s.recv(4096)
except socket.timeout:
    data = b""
print(data.split(b"\r\n")[0].decode("latin-1"))
PY
}
r=$(raw 'GARBAGE\r\n\r\n')
check "a request line that is not HTTP gets a 4xx or the connection closed (${r:-closed})" \
	grep -qE '^(HTTP/1.[01] 4|$)' <<<"$r"
r=$(raw 'GET /metrics\r\n\r\n')
check "a request line without a version gets a 4xx ($r)" grep -q '^HTTP/1.[01] 4' <<<"$r"
r=$(raw 'GET /metrics HTTP/9.9\r\n\r\n')
check "an unknown HTTP version gets 505 ($r)" grep -q '^HTTP/1.[01] 505' <<<"$r"
r=$(raw 'GET /metrics HTTP/1.1\r\nbad header line\r\n\r\n')
check "a header line without a colon gets a 4xx ($r)" grep -q '^HTTP/1.[01] 4' <<<"$r"
r=$(raw 'GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: zz\r\n\r\n')
check "a bad Content-Length gets a 4xx ($r)" grep -q '^HTTP/1.[01] 4' <<<"$r"
r=$(raw "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Long: $(head -c 40000 /dev/zero | tr '\0' a)\r\n\r\n")
check "a header larger than the connection's memory gets a 4xx ($r)" grep -q '^HTTP/1.[01] 4' <<<"$r"
r=$(raw 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n')
check "a well-formed raw request still gets 200 ($r)" grep -q '^HTTP/1.1 200' <<<"$r"
check "after the malformed requests netservd is alive and answers STATUS" \
	bash -c '"$0" ctl --socket "$1" status >/dev/null' "$B/netserv" "$SOCK"

# --- a real Prometheus ----------------------------------------------------------
cat >"$WORK/prometheus.yml" <<EOC
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: netserv
    static_configs:
      - targets: ['127.0.0.1:$MPORT']
EOC
mkdir -p "$WORK/prom-data"
topo_spawn router prometheus --config.file="$WORK/prometheus.yml" \
	--storage.tsdb.path="$WORK/prom-data" --web.listen-address="127.0.0.1:$PPORT" \
	--log.level=warn >"$WORK/prometheus.log" 2>&1
PPID_PROM=$TOPO_LAST_PID

promql() { # QUERY: prints the first result's value, or nothing
	rx curl -s -m 3 -G "http://127.0.0.1:$PPORT/api/v1/query" --data-urlencode "query=$1" |
		python3 -c "import json,sys
try:
    r = json.load(sys.stdin)['data']['result']
    print(r[0]['value'][1] if r else '')
except Exception:
    pass"
}
prom_is() { [ "$(promql "$1")" = "$2" ]; }
if wait_until 60 prom_is 'up{job="netserv"}' 1; then
	ok "Prometheus scrapes the node (up == 1)"
else
	not_ok "Prometheus scrapes the node (up == 1)"
	tail -20 "$WORK/prometheus.log" | sed 's/^/#   /'
fi
Q="netserv_module_packets_total{publisher=\"janedoe\",module=\"$MOD\"}"
wait_until 15 prom_is "$Q" "$own"
v=$(promql "$Q")
check "Prometheus' query $Q returns the module's own count $own (got '$v')" test "$v" = "$own"
got=$(blast 5060 500)
own2=$((own + got))
wait_until 15 prom_is "netserv_module_events_total{publisher=\"janedoe\",module=\"$MOD\",name=\"packets\"}" "$own2"
v=$(promql "netserv_module_events_total{publisher=\"janedoe\",module=\"$MOD\",name=\"packets\"}")
check "after $got more packets the module's counter through Prometheus is $own2 (got '$v')" \
	test "$v" = "$own2"
n_scrapes=$(promql 'count_over_time(up{job="netserv"}[1h])')
check "every scrape so far succeeded (min up over them: $(promql 'min_over_time(up{job="netserv"}[1h])'), $n_scrapes scrapes)" \
	prom_is 'min_over_time(up{job="netserv"}[1h])' 1
topo_kill "$PPID_PROM"
PPID_PROM=

rc=0
stop_daemon || rc=$?
check "netservd exits cleanly (status $rc)" test "$rc" -eq 0
check "at exit nothing listens on the metrics port" \
	bash -c '! grep -q "127.0.0.1:$0 " <<<"$1"' "$MPORT" "$(rx ss -Hltn)"
tap_done
