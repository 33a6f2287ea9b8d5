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
	grep -q '^reason:.*ns_init() refused to start (returned -22): bad property x' <<<"$out" ||
	diag "$out"

out=$(setup NetServ.test.Logs_1.0 'properties:refuse=0,trap_ms=3600000,lines=35')
check "a module that logs 36 lines at start installs" grep -q '^NETSERV/0.1 200' <<<"$out" ||
	diag "$out"
out=$(probe_as "$JANE_KEY" janedoe)
check "the publisher's signed PROBE shows its module's last log lines" \
	grep -q '^module-log:NetServ.test.Logs_1.0 debug: line 34$' <<<"$out" || diag "$out"
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

tap_done
