#!/usr/bin/env bash
# The operator's authority (issue #19): on the admin socket (root), an
# operator removes, suspends or resumes any publisher's module, or stops a
# publisher (target *), without that publisher's signature; each action is
# logged and shown in status and PROBE.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/tap.sh"
source "$here/../lib/daemon.sh"

setup_module() { # ID: a signed SETUP of a passthrough module
	make_module "$1"
	printf 'SETUP %s NETSERV/0.1\nuser:janedoe\nurl:file://%s\nmodule-hash:%s\nttl:600\n\n' \
		"$1" "$MOD_PATH" "$MOD_HASH" | ctl send -
}
# op ACTION TARGET: an operator request, unsigned (no publisher key at hand)
op() {
	printf 'REMOVE %s NETSERV/0.1\nuser:janedoe\noperator:%s\n\n' "$2" "$1" |
		env -u NETSERV_KEY "$NETSERV" ctl --socket "$SOCK" send -
}
state_of() { status_json "mods.get('janedoe/$1', {}).get('state')"; }
reason_of() { status_json "mods.get('janedoe/$1', {}).get('reason')"; }

write_config
start_daemon || { not_ok "netservd starts"; tap_done; exit 1; }
setup_module NetServ.apps.A_1.0 | grep -q '^state:active' && ok "module A active" || not_ok "module A active"
setup_module NetServ.apps.B_1.0 | grep -q '^state:active' && ok "module B active" || not_ok "module B active"

out=$(printf 'REMOVE NetServ.apps.A_1.0 NETSERV/0.1\nuser:janedoe\n\n' |
	env -u NETSERV_KEY "$NETSERV" ctl --socket "$SOCK" send -)
check "an unsigned REMOVE without operator: is refused (401)" grep -q '^NETSERV/0.1 401' <<<"$out"

out=$(op suspend NetServ.apps.A_1.0)
check "operator suspend answers 200, by:operator" \
	bash -c 'grep -q "^NETSERV/0.1 200" <<<"$0" && grep -q "^by:operator" <<<"$0" && grep -q "^module:NetServ.apps.A_1.0 suspended" <<<"$0"' "$out"
check "the suspended module is failed in status" test "$(state_of NetServ.apps.A_1.0)" = failed
check "... with the reason 'suspended by the operator'" \
	test "$(reason_of NetServ.apps.A_1.0)" = "suspended by the operator"
check "the other module is untouched" test "$(state_of NetServ.apps.B_1.0)" = active
out=$(printf 'PROBE * NETSERV/0.1\nprobe:modules\n\n' | ctl send -)
check "PROBE shows it suspended by the operator" \
	grep -q '^module-reason:NetServ.apps.A_1.0 suspended by the operator' <<<"$out"
check "the action is logged" wait_line "$DAEMON_LOG" 'module janedoe/NetServ.apps.A_1.0 suspended by the operator' 3
check "it is in the events" \
	test "$(status_json "any(e.get('reason') == 'suspended by the operator' for e in s.get('events', []))")" = True

kill_daemon
start_daemon || not_ok "netservd restarts"
check "a suspension survives a restart" test "$(reason_of NetServ.apps.A_1.0)" = "suspended by the operator"

out=$(op resume NetServ.apps.A_1.0)
check "operator resume answers 200" grep -q '^module:NetServ.apps.A_1.0 resumed' <<<"$out"
active_a() { [ "$(state_of NetServ.apps.A_1.0)" = active ]; }
check "the resumed module is active again" wait_until 10 active_a

out=$(op bogus NetServ.apps.A_1.0)
check "an unknown operator action answers 400" grep -q '^NETSERV/0.1 400' <<<"$out"
out=$(op remove NetServ.apps.Nope_1.0)
check "an operator action on no module answers 404" grep -q '^NETSERV/0.1 404' <<<"$out"

out=$(op remove '*')
check "stopping the publisher (remove *) answers 200 for both modules" grep -q '^modules:2' <<<"$out"
check "no module of the publisher is left" test "$(status_json "len([m for m in s['modules'] if m['user'] == 'janedoe'])")" = 0
check "netservd stops cleanly" stop_daemon
tap_done
