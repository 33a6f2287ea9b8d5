#!/usr/bin/env bash
# Issue #20 (items 1 and 4): a module's log lines for its publisher, and
# notifications of a module's events to the publisher.
#   1. A module whose ns_init refuses says why in the SETUP's answer (its own
#      last log line); a signed PROBE of its publisher shows its last log
#      lines; another publisher's signed PROBE, and an unsigned one, do not;
#      the operator's status shows them all.
#   2. notification: udp:ADDR:PORT: `netserv notifications` receives
#      "active", the failure's reason when the module traps out, and
#      "removed"; a destination outside the publisher's policy is refused 403.
# A real netservd (no forwarding plane), driven through its admin socket.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/tap.sh"
source "$here/../lib/daemon.sh"

"$NETSERV" keygen -d "$TEST_DIR" bob >/dev/null && cp "$TEST_DIR/bob.pub" "$KEYS/"
JANE_KEY=$TEST_DIR/janedoe.key
BOB_KEY=$TEST_DIR/bob.key
# janedoe may send (and be notified) only to 127.0.0.1; bob is a publisher too.
PUBLISHER_EXTRA='send_destinations = 127.0.0.1/32
[publisher bob]
uid = 65534
prefixes = any'
write_config
start_daemon || { not_ok "netservd starts"; tap_done; exit 1; }
ok "netservd starts"

# setup ID EXTRA-HEADERS: a SETUP of bad_log (a copy unique to ID), signed by janedoe.
setup() {
	make_module "$1" bad_log
	printf 'SETUP %s NETSERV/0.1\nuser:janedoe\nurl:file://%s\nmodule-hash:%s\nttl:600\n%s\n\n' \
		"$1" "$MOD_PATH" "$MOD_HASH" "$2" | NETSERV_KEY=$JANE_KEY ctl send -
}
# probe_as KEY USER: a PROBE of every module, signed by USER (no KEY: unsigned).
probe_as() {
	if [ -n "$1" ]; then
		printf 'PROBE * NETSERV/0.1\nuser:%s\nprobe:modules\n\n' "$2" | NETSERV_KEY=$1 ctl send -
	else
		printf 'PROBE * NETSERV/0.1\nprobe:modules\n\n' | NETSERV_KEY= ctl send -
	fi
}

# --- 1. logs ------------------------------------------------------------------
out=$(setup NetServ.test.Refuse_1.0 'properties:refuse=1')
check "a SETUP whose ns_init refuses is answered 4xx" grep -qE '^NETSERV/0.1 4[0-9][0-9]' <<<"$out"
check "its reason carries the module's own last log line" \
	grep -q '^reason:.*ns_init() refused to start (returned -22): bad property x' <<<"$out"

out=$(setup NetServ.test.Logs_1.0 'properties:refuse=0,trap_ms=3600000,lines=35')
check "a module that logs 36 lines at start installs" grep -q '^NETSERV/0.1 200' <<<"$out"
out=$(probe_as "$JANE_KEY" janedoe)
check "the publisher's signed PROBE shows its module's last log lines" \
	grep -q '^module-log:NetServ.test.Logs_1.0 debug: line 34$' <<<"$out"
check "... and how many lines it did not keep" \
	grep -qE '^module-logs-dropped:NetServ.test.Logs_1.0 [1-9][0-9]*$' <<<"$out"
out=$(probe_as "$BOB_KEY" bob)
check "another publisher's signed PROBE shows none of them" \
	bash -c '! grep -q "^module-log" <<<"$1" && grep -q "^module:NetServ.test.Logs_1.0" <<<"$1"' _ "$out"
out=$(probe_as "" "")
check "an unsigned PROBE shows none of them" \
	bash -c '! grep -q "^module-log" <<<"$1" && grep -q "^module:NetServ.test.Logs_1.0" <<<"$1"' _ "$out"
out=$(probe_as "$BOB_KEY" janedoe)
check "a PROBE in janedoe's name signed by bob is refused 401" grep -q '^NETSERV/0.1 401' <<<"$out"
check "the operator's status has the lines (the ring's 32, the last one last)" \
	test "$(status_json "(lambda r: (len(r['logs']), r['logs'][-1]['text'], r['logs_dropped'] > 0))(mods['janedoe/NetServ.test.Logs_1.0']['runtime'])")" = "(32, 'line 34', True)"

# --- 2. notifications -----------------------------------------------------------
NPORT=$((20000 + RANDOM % 20000))
NOTES=$TEST_DIR/notes
"$NETSERV" notifications --listen "127.0.0.1:$NPORT" >"$NOTES" 2>"$TEST_DIR/notes.err" &
RCV=$!
HELPER_PIDS+=("$RCV")
check "netserv notifications listens" wait_line "$TEST_DIR/notes.err" "listening on 127.0.0.1:$NPORT"

out=$(setup NetServ.test.Traps_1.0 "notification:udp:127.0.0.1:$NPORT
properties:refuse=0,trap_ms=20")
check "a SETUP with notification: toward an allowed destination is answered 200" \
	grep -q '^NETSERV/0.1 200' <<<"$out"
# note EVENT [REGEX]: a notification of Traps with that event (and reason).
note() {
	python3 - "$NOTES" "$1" "${2:-}" <<'PY'
import json, re, sys
path, event, regex = sys.argv[1:]
for line in open(path):
    n = json.loads(line)
    if (n["node"], n["user"], n["module"], n["event"]) == ("test-node", "janedoe", "NetServ.test.Traps_1.0", event) \
            and (not regex or re.search(regex, n["reason"] or "")) and n["time_ms"] > 1e12:
        sys.exit(0)
sys.exit(1)
PY
}
check "the receiver gets 'active'" wait_until 5 note active
check "... then 'failed' with the reason when the module traps out" \
	wait_until 10 note failed '^5 traps within 60 s; last: trap in ns_timer: [Ii]nteger divide by zero'
check "... after its traps, each notified ('trap')" note trap 'trap in ns_timer'
out=$(printf 'REMOVE NetServ.test.Traps_1.0 NETSERV/0.1\nuser:janedoe\n\n' | NETSERV_KEY=$JANE_KEY ctl send -)
check "REMOVE of the failed module answers 200" grep -q '^NETSERV/0.1 200' <<<"$out"
check "... and the receiver gets 'removed'" wait_until 5 note removed
check "every notification is one line of JSON under 1200 bytes" \
	python3 -c 'import json,sys
ls = open(sys.argv[1]).read().splitlines()
assert ls and all(len(l.encode()) < 1200 and json.loads(l) for l in ls)' "$NOTES"
kill -TERM "$RCV"
rc=0
wait "$RCV" || rc=$?
check "netserv notifications exits 0 on SIGTERM" test "$rc" -eq 0

out=$(setup NetServ.test.Far_1.0 "notification:udp:127.0.0.2:$NPORT")
check "a notification destination outside send_destinations is refused 403" \
	grep -q '^NETSERV/0.1 403' <<<"$out"
check "... with the reason" grep -q "^reason:header 'notification': 127.0.0.2 is not a destination janedoe may send to" <<<"$out"
out=$(setup NetServ.test.Url_1.0 "notification:https://publisher.example/notes")
check "an https notification is refused 400 (not supported)" grep -q '^NETSERV/0.1 400' <<<"$out"

# A file of its own: the first receiver's "listening" line in notes.err
# let the datagram go before this one was bound, and it waited forever.
"$NETSERV" notifications --listen "127.0.0.1:$NPORT" --count 1 >"$NOTES" 2>"$TEST_DIR/notes1.err" &
RCV=$!
HELPER_PIDS+=("$RCV")
wait_line "$TEST_DIR/notes1.err" "listening" >/dev/null
printf '{"event":"x"}' >/dev/udp/127.0.0.1/$NPORT
check "netserv notifications --count 1 exits 0 after one" wait_until 5 bash -c "! kill -0 $RCV 2>/dev/null"
kill "$RCV" 2>/dev/null # still there: the check failed; never wait on it unbounded
wait "$RCV"
check "... having printed it" grep -qx '{"event":"x"}' "$NOTES"

check "netservd stops cleanly" stop_daemon
tap_done
