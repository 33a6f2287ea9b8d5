#!/usr/bin/env bash
# netservd in a delegated cgroup, as systemd's Delegate=yes gives it (issue
# #19, docs/operations.md "cgroups"): the test makes a cgroup
# netserv-deleg-PID/svc (the same path in each v1 hierarchy, and on the
# unified one, where systemd's mark trusted.delegate=1 goes), starts
# netservd inside it, and checks that netservd moved itself into svc/netservd
# (the "no internal processes" rule of cgroup v2), that the publisher's
# container runs in svc/<prefix>/janedoe beside it with its memory limit, and
# that without the mark netservd keeps its groups where it always did.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/tap.sh"
if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP needs root (cgroups)"
	exit 0
fi
source "$here/../lib/daemon.sh"

CGR=/sys/fs/cgroup
DELEG=netserv-deleg-$$
if [ -f "$CGR/cgroup.controllers" ]; then
	MODE=v2
	HIER=("$CGR")
	UNIFIED=$CGR
elif [ -f "$CGR/memory/cgroup.procs" ]; then
	MODE=v1
	HIER=()
	for c in memory pids cpu; do [ -d "$CGR/$c" ] && HIER+=("$CGR/$c"); done
	UNIFIED=
	[ -f "$CGR/unified/cgroup.procs" ] && UNIFIED=$CGR/unified
else
	echo "1..0 # SKIP no usable cgroup controllers"
	exit 0
fi
if [ -z "$UNIFIED" ]; then
	echo "1..0 # SKIP no unified cgroup hierarchy to carry systemd's delegation mark"
	exit 0
fi

trap 'cleanup; cgroups_remove "$DELEG"' EXIT

# The delegated cgroup, made as systemd makes a Delegate=yes service's:
# controllers enabled down to it (v2), the mark on it.
all_dirs=("${HIER[@]}")
[ "$UNIFIED" != "${HIER[0]}" ] && all_dirs+=("$UNIFIED")
for h in "${all_dirs[@]}"; do
	mkdir -p "$h/$DELEG/svc"
done
if [ "$MODE" = v2 ]; then
	echo "+memory +pids +cpu" >"$CGR/cgroup.subtree_control" 2>/dev/null
	echo "+memory +pids +cpu" >"$CGR/$DELEG/cgroup.subtree_control"
fi
setfattr -n trusted.delegate -v 1 "$UNIFIED/$DELEG/svc" 2>/dev/null ||
	python3 -c 'import os,sys; os.setxattr(sys.argv[1], "trusted.delegate", b"1")' \
		"$UNIFIED/$DELEG/svc"
check "the test's delegated cgroup carries trusted.delegate=1" \
	python3 -c 'import os,sys; assert os.getxattr(sys.argv[1], "trusted.delegate") == b"1"' \
	"$UNIFIED/$DELEG/svc"

PUBLISHER_EXTRA="memory = 48M"
write_config
# start_in: netservd started from a shell that first joins the delegated
# cgroup in every hierarchy (as systemd starts a service in its cgroup).
start_in() {
	local dirs=()
	for h in "${all_dirs[@]}"; do dirs+=("$h/$DELEG/svc"); done
	bash -c 'nsd=$1 conf=$2; shift 2
for d in "$@"; do echo $$ >"$d/cgroup.procs" || exit 1; done
exec "$nsd" -c "$conf"' _ "$NETSERVD" "$CONF" "${dirs[@]}" >>"$DAEMON_LOG" 2>&1 &
	DAEMON_PID=$!
	up() { ctl status >/dev/null 2>&1; }
	wait_until 10 up
}

if start_in; then ok "netservd starts in the delegated cgroup"; else
	not_ok "netservd starts in the delegated cgroup"
	sed 's/^/#   /' "$DAEMON_LOG"
	tap_done
	exit 1
fi
check "it logs the delegated subtree" \
	grep -q "cgroups: delegated subtree /$DELEG/svc: netservd in /$DELEG/svc/netservd" "$DAEMON_LOG"
for h in "${all_dirs[@]}"; do
	[ "$h" = "$UNIFIED" ] && [ "$MODE" = v1 ] && continue # the mark's hierarchy only
	check "netservd moved itself into $h/$DELEG/svc/netservd" \
		grep -qx "$DAEMON_PID" "$h/$DELEG/svc/netservd/cgroup.procs"
	check "... and no process is left in $h/$DELEG/svc itself" \
		test -z "$(cat "$h/$DELEG/svc/cgroup.procs")"
done
if [ "$MODE" = v2 ]; then
	check "memory, pids and cpu are enabled in svc/cgroup.subtree_control" \
		bash -c 'for c in memory pids cpu; do grep -qw $c "$1"; done' _ \
		"$CGR/$DELEG/svc/cgroup.subtree_control"
fi

make_module deleg
out=$(printf 'SETUP NetServ.apps.Deleg_1.0 NETSERV/0.1\nuser:janedoe\nurl:file://%s\nmodule-hash:%s\nttl:600\nfilter-proto:udp\nfilter-dst:192.0.2.0/24\n\n' \
	"$MOD_PATH" "$MOD_HASH" | ctl send -)
check "a SETUP answers 200 ($(head -1 <<<"$out"))" grep -q '^NETSERV/0.1 200' <<<"$out"
cpid=$(status_json "((mods.get('janedoe/NetServ.apps.Deleg_1.0') or {}).get('runtime') or {}).get('container_pid', 0)")
G=$DELEG/svc/netserv-test-$$/janedoe
mem=${HIER[0]}
[ "$MODE" = v1 ] && mem=$CGR/memory
check "the container ($cpid) runs in the publisher's group beside netservd: $G" \
	grep -qx "$cpid" "$mem/$G/cgroup.procs"
if [ "$MODE" = v2 ]; then
	limit=$(cat "$mem/$G/memory.max")
	used=$(cat "$mem/$G/memory.current")
else
	limit=$(cat "$mem/$G/memory.limit_in_bytes")
	used=$(cat "$mem/$G/memory.usage_in_bytes")
fi
check "its memory limit is the publisher's 48M there ($limit)" test "$limit" = $((48 << 20))
check "and its memory is charged there ($used bytes)" test "$used" -gt 0
check "nothing was made at the hierarchy's root (no $mem/netserv-test-$$)" \
	test ! -e "$mem/netserv-test-$$"
check "netservd exits cleanly" stop_daemon
check "... and removes the publisher's group" test ! -e "$mem/$G"

# Without the mark (a plain root process, as in every other test): today's
# behaviour, whatever cgroup it was started in.
python3 -c 'import os,sys; os.removexattr(sys.argv[1], "trusted.delegate")' "$UNIFIED/$DELEG/svc"
if start_in; then ok "netservd starts there without the mark"; else not_ok "netservd starts there without the mark"; fi
out=$(printf 'SETUP NetServ.apps.Deleg_1.0 NETSERV/0.1\nuser:janedoe\nurl:file://%s\nmodule-hash:%s\nttl:600\nfilter-proto:udp\nfilter-dst:192.0.2.0/24\n\n' \
	"$MOD_PATH" "$MOD_HASH" | ctl send -)
cpid=$(status_json "((mods.get('janedoe/NetServ.apps.Deleg_1.0') or {}).get('runtime') or {}).get('container_pid', 0)")
check "without the mark the container's group is /netserv-test-$$/janedoe, as before" \
	grep -qx "$cpid" "$mem/netserv-test-$$/janedoe/cgroup.procs"
check "netservd stayed in svc (it did not move)" grep -qx "$DAEMON_PID" "$mem/$DELEG/svc/cgroup.procs"
check "netservd exits cleanly" stop_daemon

out=$(sed 's/^\[containers\]$/[containers]\ncgroup_delegated = maybe/' "$CONF" >"$TEST_DIR/bad.conf"; "$NETSERVD" -t -c "$TEST_DIR/bad.conf" 2>&1)
check "netservd -t refuses cgroup_delegated = maybe ($out)" grep -q "cgroup_delegated 'maybe' is not auto, yes or no" <<<"$out"

tap_done
