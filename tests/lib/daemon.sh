# Helpers to run a real netservd with a temporary config and state dir.
# shellcheck shell=bash
# Needs NETSERV_BUILD (a build directory holding netservd and netserv).
source "$(dirname "${BASH_SOURCE[0]}")/cgroup.sh"
: "${NETSERV_BUILD:?set NETSERV_BUILD to a build directory}"
NETSERVD=$NETSERV_BUILD/netservd
NETSERV=$NETSERV_BUILD/netserv

TEST_DIR=$(mktemp -d /tmp/netserv-test.XXXXXX)
SOCK=$TEST_DIR/admin.sock
STATE=$TEST_DIR/state
CONF=$TEST_DIR/netservd.conf
DAEMON_LOG=$TEST_DIR/netservd.log
DAEMON_PID=
HELPER_PIDS=()

# Publishers sign their requests (docs/security.md): janedoe's key pair, her
# public key in the node's keys_dir, and `netserv ctl send` (and `netserv
# setup`) signing with $NETSERV_KEY whatever is not signed yet.
KEYS=$TEST_DIR/keys
mkdir -p "$KEYS"
"$NETSERV" keygen -d "$TEST_DIR" janedoe >/dev/null && cp "$TEST_DIR/janedoe.pub" "$KEYS/"
export NETSERV_KEY=$TEST_DIR/janedoe.key

cleanup() {
	if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
		kill -KILL "$DAEMON_PID" 2>/dev/null
		wait "$DAEMON_PID" 2>/dev/null
	fi
	for p in "${HELPER_PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	rm -rf "$TEST_DIR"
	cgroups_remove "netserv-test-$$"
}
trap cleanup EXIT

# write_config: the test config, with file:// allowed. Variables add lines:
# MODULES_EXTRA, FORWARDING_EXTRA, SECURITY_EXTRA, PUBLISHER_EXTRA; and
# PUBLISHER_POLICY replaces janedoe's policy (default: every prefix, so that
# tests that are not about policy may filter any traffic).
write_config() {
	cat >"$CONF" <<EOC
[node]
id = test-node
state_dir = $STATE
admin_socket = $SOCK
[log]
level = debug
[fetch]
timeout = ${FETCH_TIMEOUT:-3}
max_size = ${FETCH_MAX_SIZE:-1M}
protocols = http,https,file
[modules]
default_ttl = 3600
${MODULES_EXTRA:-}
[forwarding]
driver = ${FWD_DRIVER:-none}
chain_prefix = NST$$
${FORWARDING_EXTRA:-}
[containers]
cgroup = netserv-test-$$
heartbeat_ms = 200
[security]
keys_dir = $KEYS
${SECURITY_EXTRA:-}
[publisher janedoe]
uid = 65534
${PUBLISHER_POLICY-prefixes = any}
${PUBLISHER_EXTRA:-}
EOC
}

# start_daemon: starts netservd and waits until its socket answers.
start_daemon() {
	[ -f "$CONF" ] || write_config
	"$NETSERVD" -c "$CONF" >>"$DAEMON_LOG" 2>&1 &
	DAEMON_PID=$!
	for _ in $(seq 1 100); do
		if "$NETSERV" ctl --socket "$SOCK" status >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.05
	done
	diag "netservd did not start; log:"
	sed 's/^/#   /' "$DAEMON_LOG"
	return 1
}

# stop_daemon: SIGTERM and wait; returns netservd's exit status (sanitizer
# builds exit non-zero on a leak or error).
stop_daemon() {
	local rc=0
	kill -TERM "$DAEMON_PID" 2>/dev/null
	wait "$DAEMON_PID" || rc=$?
	DAEMON_PID=
	if [ "$rc" -ne 0 ]; then
		diag "netservd exited with status $rc; last log lines:"
		tail -n 30 "$DAEMON_LOG" | sed 's/^/#   /'
	fi
	return "$rc"
}

# kill_daemon: SIGKILL, as a crash.
kill_daemon() {
	kill -KILL "$DAEMON_PID" 2>/dev/null
	wait "$DAEMON_PID" 2>/dev/null
	DAEMON_PID=
}

ctl() {
	"$NETSERV" ctl --socket "$SOCK" "$@"
}

# make_module NAME [SOURCE]: writes a module file (SOURCE, default passthrough,
# from the build's modules/) made unique by a custom section naming it; sets
# MOD_PATH and MOD_HASH.
make_module() {
	MOD_PATH=$TEST_DIR/$1.wasm
	python3 - "$NETSERV_BUILD/modules/${2:-passthrough}.wasm" "$MOD_PATH" "$1-$RANDOM-$RANDOM" <<'PY'
import sys
src, dst, tag = sys.argv[1], sys.argv[2], sys.argv[3].encode()
name = b"netserv.test"
body = bytes([len(name)]) + name + tag
assert len(body) < 128
open(dst, "wb").write(open(src, "rb").read() + bytes([0, len(body)]) + body)
PY
	MOD_HASH=sha256:$(sha256sum "$MOD_PATH" | cut -d' ' -f1)
}

# status_json PYTHON-EXPR: evaluates EXPR with `s` bound to the status JSON
# and `mods` to a dict "user/module" -> module; prints the result.
status_json() {
	ctl status --json | python3 -c "import json,sys
s = json.load(sys.stdin)
mods = {m['user'] + '/' + m['module']: m for m in s['modules']}
print($1)"
}
