#!/usr/bin/env bash
# Daemon tests: a real netservd with a temporary config and state dir, driven
# through `netserv ctl` over the admin socket.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/tap.sh"
source "$here/../lib/daemon.sh"

# ncm_setup ID URL HASH [TTL] [EXTRA HEADER LINES]
ncm_setup() {
	printf 'SETUP %s NETSERV/0.1\nuser:janedoe\nurl:%s\n' "$1" "$2"
	[ -n "$3" ] && printf 'module-hash:%s\n' "$3"
	[ -n "${4:-}" ] && printf 'ttl:%s\n' "$4"
	[ -n "${5:-}" ] && printf '%s\n' "$5"
	printf '\n'
}

write_config
start_daemon || { not_ok "netservd starts"; tap_done; exit 1; }
ok "netservd starts and answers status"

check "admin socket has mode 0600" test "$(stat -c %a "$SOCK")" = 600

# --- SETUP by file:// with the right hash -----------------------------------
make_module counter
out=$(ncm_setup NetServ.apps.Counter_1.0.0 "file://$MOD_PATH" "$MOD_HASH" 600 \
	'filter-proto:udp
filter-port:5060
properties:a=1,b=two' | ctl send -)
rc=$?
check "SETUP with the right hash answers 200" grep -q '^NETSERV/0.1 200' <<<"$out"
check "ctl send exits 0 on 200" test "$rc" -eq 0
check "SETUP response says the module is active" grep -q '^state:active' <<<"$out"
check "module listed in status" \
	test "$(status_json "mods['janedoe/NetServ.apps.Counter_1.0.0']['state']")" = active
check "status carries the filter and properties" \
	test "$(status_json "(lambda m: (m['filter']['proto'], m['filter']['port_lo'], m['properties']['b']))(mods['janedoe/NetServ.apps.Counter_1.0.0'])")" = "('udp', 5060, 'two')"
check "module cached under its hash" test -f "$STATE/modules/${MOD_HASH#sha256:}.wasm"
text=$(ctl status)
check "human status lists the module" grep -q 'janedoe .*NetServ.apps.Counter_1.0.0 .*active' <<<"$text"

# --- wrong hash ---------------------------------------------------------------
make_module other
bad=sha256:$(printf '%064d' 0)
out=$(ncm_setup NetServ.apps.Bad_1.0 "file://$MOD_PATH" "$bad" | ctl send -)
rc=$?
check "wrong hash answers 422" grep -q '^NETSERV/0.1 422' <<<"$out"
check "wrong hash reason names the mismatch" grep -q "reason:module-hash mismatch: expected $bad" <<<"$out"
# A file:// URL names a file of the node: the answer must not give its hash
# (over http the publisher serves the file and learns nothing new).
check "a file:// mismatch does not reveal the file's SHA-256" \
	bash -c '! grep -q "$1" <<<"$2" && ! grep -q "got" <<<"$2"' _ "${MOD_HASH#sha256:}" "$out"
check "ctl send exits 1 on an error response" test "$rc" -eq 1
check "failed module shows as failed in status" \
	test "$(status_json "mods['janedoe/NetServ.apps.Bad_1.0']['state']")" = failed
check "nothing left in the cache for the wrong hash" test ! -e "$STATE/modules/$(printf '%064d' 0).wasm"

# --- modules the runtime refuses ----------------------------------------------
printf '\0asm\1\0\0\0garbage' >"$TEST_DIR/garbage.wasm"
ghash=sha256:$(sha256sum "$TEST_DIR/garbage.wasm" | cut -d' ' -f1)
out=$(ncm_setup NetServ.apps.Garbage_1.0 "file://$TEST_DIR/garbage.wasm" "$ghash" | ctl send -)
check "a malformed wasm module answers 422 invalid module" \
	bash -c 'grep -q "^NETSERV/0.1 422" <<<"$1" && grep -q "^reason:invalid module" <<<"$1"' _ "$out"
make_module imp bad_import
out=$(ncm_setup NetServ.apps.Import_1.0 "file://$MOD_PATH" "$MOD_HASH" | ctl send -)
check "a module importing an unknown building block answers 422 naming it" \
	bash -c 'grep -q "^NETSERV/0.1 422" <<<"$1" && grep -q "ns_bogus" <<<"$1"' _ "$out"
make_module stranger
out=$(ncm_setup NetServ.apps.Stranger_1.0 "file://$MOD_PATH" "$MOD_HASH" | sed 's/^user:janedoe/user:mallory/' | ctl send -)
check "a SETUP of an unconfigured publisher answers 403" grep -q '^NETSERV/0.1 403' <<<"$out"

# --- unreachable URLs ---------------------------------------------------------
# (hashes nobody has: a module in the cache would not be fetched at all)
out=$(ncm_setup NetServ.apps.Gone_1.0 "http://127.0.0.1:1/m.wasm" "sha256:$(printf '%064d' 1)" | ctl send -)
check "unreachable http URL answers 502" grep -q '^NETSERV/0.1 502' <<<"$out"
check "unreachable URL reason says why" grep -qi 'reason:fetching http://127.0.0.1:1/m.wasm failed' <<<"$out"
out=$(ncm_setup NetServ.apps.Gone_1.0 "file://$TEST_DIR/missing.wasm" "sha256:$(printf '%064d' 2)" | ctl send -)
check "missing file:// answers 502" grep -q '^NETSERV/0.1 502' <<<"$out"

# --- file:// names a FIFO or a device: refused at once, the loop never blocks --------
# (curl's own open() of a FIFO waits for a writer: the daemon's loop with it.)
mkfifo "$TEST_DIR/fifo.wasm"
ln -s "$TEST_DIR/fifo.wasm" "$TEST_DIR/fifolink.wasm"
out=$(ncm_setup NetServ.apps.Fifo_1.0 "file://$TEST_DIR/fifo.wasm" "sha256:$(printf '%064d' 6)" | timeout 5 "$NETSERV" ctl --socket "$SOCK" send -)
check "a file:// FIFO answers 422 at once" grep -q '^NETSERV/0.1 422' <<<"$out"
check "... naming the reason" grep -q 'reason:fetching file://.*/fifo.wasm refused: a FIFO, the node reads only regular files' <<<"$out"
status_quick() { timeout 2 "$NETSERV" ctl --socket "$SOCK" status >/dev/null; }
check "status answers after a file:// FIFO" status_quick
# (before the fix the loop is stuck in open(): a writer lets the test go on)
timeout 1 bash -c ': >"$1"' _ "$TEST_DIR/fifo.wasm" 2>/dev/null || true
out=$(ncm_setup NetServ.apps.FifoLink_1.0 "file://$TEST_DIR/fifolink.wasm" "sha256:$(printf '%064d' 6)" | timeout 5 "$NETSERV" ctl --socket "$SOCK" send -)
check "a symlink to a FIFO answers 422" grep -q '^NETSERV/0.1 422' <<<"$out"
timeout 1 bash -c ': >"$1"' _ "$TEST_DIR/fifo.wasm" 2>/dev/null || true
out=$(ncm_setup NetServ.apps.Dev_1.0 "file:///dev/zero" "sha256:$(printf '%064d' 6)" | timeout 5 "$NETSERV" ctl --socket "$SOCK" send -)
check "a file:// device answers 422 naming it" grep -q 'reason:.*a character device' <<<"$out"

# --- malformed NCMs -----------------------------------------------------------
out=$(printf 'SETUP\nuser:x\n\n' | ctl send -)
check "malformed start line answers 400 with a reason" \
	bash -c 'grep -q "^NETSERV/0.1 400" <<<"$1" && grep -q "^reason:." <<<"$1"' _ "$out"
out=$(printf 'SETUP m NETSERV/0.1\nuser:janedoe\nurl:file:///x\nttl:abc\n\n' | ctl send -)
check "bad ttl answers 400 naming ttl" bash -c 'grep -q "^NETSERV/0.1 400" <<<"$1" && grep -qi "ttl" <<<"$1"' _ "$out"
out=$(printf 'SETUP m NETSERV/0.1\nurl:file:///x\nmodule-hash:%s\n\n' "$MOD_HASH" | ctl send -)
check "SETUP without user answers 400" grep -q '^NETSERV/0.1 400' <<<"$out"
out=$(printf 'SETUP m NETSERV/0.1\nuser:janedoe\nurl:file:///x\n\n' | ctl send -)
check "SETUP without module-hash answers 400 (require_hash)" grep -q '^NETSERV/0.1 400.*' <<<"$out"
out=$(printf 'SETUP m NETSERV/9.9\nuser:janedoe\n\n' | ctl send -)
check "unknown version answers 505" grep -q '^NETSERV/0.1 505' <<<"$out"
out=$(head -c 3000 /dev/urandom | ctl send - 2>&1)
check "random bytes get an error answer" grep -qE '^NETSERV/0.1 (400|413)' <<<"$out"
out=$( (printf 'SETUP m NETSERV/0.1\n'; for i in $(seq 1 100); do printf 'x-%d:y\n' "$i"; done; printf '\n') | ctl send -)
check "too many headers answers 400 or 413" grep -qE '^NETSERV/0.1 (400|413)' <<<"$out"
python3 - "$SOCK" <<'PY' && ok "a client that disconnects mid-request does no harm" || not_ok "a client that disconnects mid-request does no harm"
import socket, sys
for _ in range(20):
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.send(b"SETUP half NETSERV/0.1\nuser:"); s.close()
PY
check "daemon still answers after malformed input" bash -c '"$0" ctl --socket "$1" status >/dev/null' "$NETSERV" "$SOCK"

# --- PROBE --------------------------------------------------------------------
out=$(printf 'PROBE * NETSERV/0.1\nprobe:node,capabilities,building-blocks,modules\n\n' | ctl send -)
check "PROBE answers 200 with the node id" grep -q '^node:test-node' <<<"$out"
check "PROBE lists capabilities" grep -q '^capabilities:ncm/0.1,runtime:wasm,fwd:none' <<<"$out"
check "PROBE lists the installed module" grep -q '^module:NetServ.apps.Counter_1.0.0 user=janedoe state=active ttl=' <<<"$out"
check "PROBE lists the module's packet statistics" grep -q '^module-stats:NetServ.apps.Counter_1.0.0 packets=0' <<<"$out"
check "PROBE lists the building blocks" grep -q '^building-blocks:ns_log,ns_clock_ns,' <<<"$out"
out=$(printf 'PROBE NetServ.apps.Nothing NETSERV/0.1\nprobe:modules\n\n' | ctl send -)
check "PROBE of an absent module reports 0 modules" grep -q '^modules:0' <<<"$out"

# --- the loop never blocks on a fetch -----------------------------------------
# The server writes its port, then "accepted" for each connection it takes.
python3 - "$TEST_DIR/slow.port" "$TEST_DIR/slow.accepted" <<'PY' &
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
conns = []
end = time.time() + 15
while time.time() < end:
    s.settimeout(1)
    try:
        c, _ = s.accept(); conns.append(c)  # accept, never answer
        open(sys.argv[2], "a").write("accepted\n")
    except socket.timeout:
        pass
PY
HELPER_PIDS+=($!)
wait_until 5 test -s "$TEST_DIR/slow.port" || diag "the hanging server did not start"
port=$(cat "$TEST_DIR/slow.port")
ncm_setup NetServ.apps.Slow_1.0 "http://127.0.0.1:$port/m.wasm" "sha256:$(printf '%064d' 3)" >"$TEST_DIR/slow.ncm"
ctl send "$TEST_DIR/slow.ncm" >"$TEST_DIR/slow.out" &
slow_pid=$!
# The node's fetch has connected and now hangs (its timeout is 3 s).
check "the node's fetch connects to the hanging server" wait_line "$TEST_DIR/slow.accepted" '^accepted' 2.5
t0=$(date +%s%N)
state=$(status_json "mods['janedoe/NetServ.apps.Slow_1.0']['state']")
t1=$(date +%s%N)
check "status answers while a fetch hangs (state fetching)" test "$state" = fetching
# The fetch hangs for its whole 3 s timeout: an answer well inside that shows
# the loop is not blocked (1.5 s leaves room for a loaded machine).
check "status answered in under 1500 ms during the hung fetch" test $(((t1 - t0) / 1000000)) -lt 1500
wait "$slow_pid"
check "hung fetch ends with 504 after the fetch timeout" grep -q '^NETSERV/0.1 504' "$TEST_DIR/slow.out"

# --- module fetched over HTTP; size limit ---------------------------------------
make_module web
mkdir -p "$TEST_DIR/www"
cp "$MOD_PATH" "$TEST_DIR/www/web.wasm"
head -c 2M /dev/zero >"$TEST_DIR/www/big.wasm"
big_hash=sha256:$(sha256sum "$TEST_DIR/www/big.wasm" | cut -d' ' -f1)
python3 -m http.server --bind 127.0.0.1 --directory "$TEST_DIR/www" 0 >"$TEST_DIR/http.log" 2>&1 &
HELPER_PIDS+=($!)
http_port() { hport=$(grep -oE 'port [0-9]+' "$TEST_DIR/http.log" | grep -oE '[0-9]+' | head -1); [ -n "$hport" ]; }
wait_until 5 http_port || diag "the HTTP server did not start"
out=$(ncm_setup NetServ.apps.Web_1.0 "http://127.0.0.1:$hport/web.wasm" "$MOD_HASH" | ctl send -)
check "SETUP over http answers 200" grep -q '^NETSERV/0.1 200' <<<"$out"
out=$(ncm_setup NetServ.apps.Big_1.0 "http://127.0.0.1:$hport/big.wasm" "$big_hash" | ctl send -)
check "module over max_size answers 413" grep -q '^NETSERV/0.1 413' <<<"$out"
out=$(ncm_setup NetServ.apps.Web404_1.0 "http://127.0.0.1:$hport/nothere.wasm" "sha256:$(printf '%064d' 404)" | ctl send -)
check "HTTP 404 answers 502 naming the status" grep -q 'HTTP status 404' <<<"$out"
out=$(ncm_setup NetServ.apps.WebBad_1.0 "http://127.0.0.1:$hport/web.wasm" "sha256:$(printf '%064d' 5)" | ctl send -)
check "an http mismatch answers 422 naming both hashes" \
	grep -q "reason:module-hash mismatch: expected sha256:$(printf '%064d' 5), got $MOD_HASH" <<<"$out"

# --- a second SETUP of a cached module fetches nothing ---------------------------
out=$(ncm_setup NetServ.apps.WebCopy_1.0 "http://127.0.0.1:1/unreachable.wasm" "$MOD_HASH" | ctl send -)
check "a cached module installs without fetching" grep -q '^NETSERV/0.1 200' <<<"$out"

# --- TTL: refresh and expiry ----------------------------------------------------
# A ttl 1 module, refreshed at once with ttl 2: listed right after its SETUP;
# the refresh answers ttl:2 and moves the expiry to 2 s from the refresh;
# the module is gone within 2 s after that expiry, and not before it (which
# shows that it outlived its first ttl).
short_listed() { [ "$(status_json "'janedoe/NetServ.apps.Short_1.0' in mods")" = True ]; }
short_gone() { [ "$(status_json "'janedoe/NetServ.apps.Short_1.0' in mods")" = False ]; }
make_module short
ncm_setup NetServ.apps.Short_1.0 "file://$MOD_PATH" "$MOD_HASH" 1 | ctl send - >/dev/null
check "ttl 1 module listed right after its SETUP" short_listed
now_ms
t_refresh=$NOW_MS
out=$(ncm_setup NetServ.apps.Short_1.0 "file://$MOD_PATH" "$MOD_HASH" 2 | ctl send -)
check "a repeated SETUP refreshes the ttl (ttl:2)" grep -q '^ttl:2$' <<<"$out"
expires=$(status_json "mods['janedoe/NetServ.apps.Short_1.0']['expires_at_ms']")
check "... and the expiry is 2 s from the refresh ($((expires - t_refresh)) ms)" \
	test $((expires - t_refresh)) -ge 2000 -a $((expires - t_refresh)) -lt 2500
wait_until $((2 + 2)) short_gone
now_ms
check "refreshed module gone within 2 s after its new expiry" short_gone
check "... not before it: $((NOW_MS - t_refresh)) ms after the refresh (first ttl: 1000 ms)" \
	test $((NOW_MS - t_refresh)) -ge 2000
check "expiry counted" test "$(status_json "s['counters']['expired']")" -ge 1

# --- REMOVE ---------------------------------------------------------------------
out=$(printf 'REMOVE NetServ.apps.Web_1.0 NETSERV/0.1\nuser:janedoe\n\n' | ctl send -)
check "REMOVE answers 200" grep -q '^NETSERV/0.1 200' <<<"$out"
check "removed module gone from status" test "$(status_json "'janedoe/NetServ.apps.Web_1.0' in mods")" = False
out=$(printf 'REMOVE NetServ.apps.Web_1.0 NETSERV/0.1\nuser:janedoe\n\n' | ctl send -)
check "REMOVE of an absent module answers 404" grep -q '^NETSERV/0.1 404' <<<"$out"
out=$(printf 'REMOVE NetServ.apps.Counter_1.0.0 NETSERV/0.1\nuser:mallory\n\n' | ctl send -)
check "REMOVE by a user who is no publisher here answers 403" grep -q '^NETSERV/0.1 403' <<<"$out"
check "... and leaves the module in place" \
	test "$(status_json "'janedoe/NetServ.apps.Counter_1.0.0' in mods")" = True

# --- a module's log lines name its publisher ---------------------------------------
# (issue #12: one publisher's module must not write lines that read as
# another's; the counter logs at ns_fini)
make_module logger counter
log_from=$(($(wc -l <"$DAEMON_LOG") + 1))
ncm_setup NetServ.apps.Log_1.0 "file://$MOD_PATH" "$MOD_HASH" 600 | ctl send - >/dev/null
printf 'REMOVE NetServ.apps.Log_1.0 NETSERV/0.1\nuser:janedoe\n\n' | ctl send - >/dev/null
check "a module's log line carries its publisher (module janedoe/ID info: ...)" \
	wait_line "$DAEMON_LOG" '^module janedoe/NetServ\.apps\.Log_1\.0 info: counter: ' 5 "$log_from"

# --- SIGKILL + restart ------------------------------------------------------------
ttl_before=$(status_json "mods['janedoe/NetServ.apps.Counter_1.0.0']['ttl_remaining']")
make_module late
ncm_setup NetServ.apps.Late_1.0 "file://$MOD_PATH" "$MOD_HASH" 1 | ctl send - >/dev/null
late_expires=$(status_json "mods['janedoe/NetServ.apps.Late_1.0']['expires_at_ms']")
kill_daemon
# Down until Late's ttl has passed.
past() { now_ms; [ "$NOW_MS" -gt "$1" ]; }
wait_until 3 past $((late_expires + 100)) || diag "Late's expiry ($late_expires) did not pass within 3 s"
start_daemon || not_ok "netservd restarts after SIGKILL"
check "module still listed after SIGKILL and restart" \
	test "$(status_json "mods['janedoe/NetServ.apps.Counter_1.0.0']['state']")" = active
ttl_after=$(status_json "mods['janedoe/NetServ.apps.Counter_1.0.0']['ttl_remaining']")
check "restored module keeps its remaining ttl ($ttl_before -> $ttl_after)" \
	test "$ttl_after" -le "$ttl_before" -a "$ttl_after" -gt $((ttl_before - 10))
check "module that expired while the daemon was down is dropped" \
	test "$(status_json "'janedoe/NetServ.apps.Late_1.0' in mods")" = False
check "failed module restored as failed with its reason" \
	bash -c '[[ "$1" == *mismatch* ]]' _ "$(status_json "mods['janedoe/NetServ.apps.Bad_1.0']['reason']")"
check "restart log says what was restored" grep -q 'restoring module janedoe/NetServ.apps.Counter_1.0.0' "$DAEMON_LOG"
check "netservd stops cleanly on SIGTERM (no leaks under ASan)" stop_daemon
check "admin socket removed at exit" test ! -e "$SOCK"
check "netserv.db is mode 0600" test "$(stat -c %a "$STATE/netserv.db")" = 600

# --- a 0-byte database: the node starts empty and says so -------------------------------
rm -f "$STATE/netserv.db-wal" "$STATE/netserv.db-shm"
: >"$STATE/netserv.db"
start_daemon || not_ok "netservd starts on a 0-byte database"
check "a 0-byte database is named in a warning at start" \
	grep -q 'warn.*netserv.db was an empty file (0 bytes): starting with no modules' "$DAEMON_LOG"
check "... and the node starts with no modules" test "$(status_json "len(s['modules'])")" = 0
stop_daemon

# --- configuration errors -----------------------------------------------------------
printf '[node]\nbogus = 1\n' >"$TEST_DIR/bad.conf"
out=$("$NETSERVD" -c "$TEST_DIR/bad.conf" 2>&1)
rc=$?
check "bad config: exit 1" test "$rc" -eq 1
check "bad config: message names file, line and key" grep -q "bad.conf:2: unknown key 'bogus' in section \[node\]" <<<"$out"
check "--check-config accepts the sample config" bash -c '"$0" --check-config -c "$1" >/dev/null' "$NETSERVD" "$here/../../etc/netservd.conf"

# --- CLI exit codes --------------------------------------------------------------------
"$NETSERV" ctl --socket "$TEST_DIR/none.sock" status >/dev/null 2>&1
check "ctl exits 3 when no daemon listens" test $? -eq 3
"$NETSERV" ctl bogus >/dev/null 2>&1
check "ctl exits 2 on an unknown command" test $? -eq 2
"$NETSERV" ctl send "$TEST_DIR/does-not-exist" >/dev/null 2>&1
check "ctl send exits 2 on an unreadable file" test $? -eq 2
check "netserv --help works" bash -c '"$0" --help >/dev/null' "$NETSERV"
check "netserv ctl --help works" bash -c '"$0" ctl --help >/dev/null' "$NETSERV"
check "netserv ctl send --help works" bash -c '"$0" ctl send --help >/dev/null' "$NETSERV"

tap_done
