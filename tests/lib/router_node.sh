# A netservd in a test topology's router namespace (tests/lib/topo.sh), as
# the namespace tests run it. Uses $B (a build directory), $SOCK (the admin
# socket of its config) and $WORK (netservd.conf, netservd.log); NODE_NS
# names the node when it is not "router". Needs tests/lib/tap.sh.
#   ctl ARGS...          netserv ctl on the node's admin socket
#   start_daemon         starts netservd, sets DPID, waits (10 s) until it answers;
#                        with NODE_BPFFS=1 in a mount namespace of its own
#                        with a bpffs of its own (the AF_XDP plane's libxdp)
#   status PY-EXPR       prints PY-EXPR over the status JSON, with `s` the
#                        status and `mods` its modules by "user/module"
#   rt USER/MODULE FIELD [COUNTER]
#                        a runtime statistic, or the module's counter COUNTER
#                        (-1 if none)
# shellcheck shell=bash
source "$(dirname "${BASH_SOURCE[0]}")/wait.sh"

ctl() { "$B/netserv" ctl --socket "$SOCK" "$@"; }

start_daemon() {
	if [ -n "${NODE_BPFFS:-}" ]; then
		nsenter --net="/var/run/netns/$(topo_ns "${NODE_NS:-router}")" \
			unshare -m --propagation private sh -c \
			'mount -t bpf bpf /sys/fs/bpf && exec "$@"' _ "$B/netservd" \
			-c "$WORK/netservd.conf" >>"$WORK/netservd.log" 2>&1 &
	else
		nsenter --net="/var/run/netns/$(topo_ns "${NODE_NS:-router}")" "$B/netservd" \
			-c "$WORK/netservd.conf" >>"$WORK/netservd.log" 2>&1 &
	fi
	DPID=$!
	# answers, or is gone (then the wait ends at once and reports it)
	node__ready() { ctl status >/dev/null 2>&1 || ! kill -0 "$DPID" 2>/dev/null; }
	wait_until 10 node__ready && ctl status >/dev/null 2>&1 && return 0
	diag "netservd did not start:"
	tail -20 "$WORK/netservd.log" | sed 's/^/#   /'
	return 1
}

status() {
	ctl status --json | python3 -c "import json,sys
s = json.load(sys.stdin)
mods = {m['user'] + '/' + m['module']: m for m in s['modules']}
print($1)"
}

rt() {
	if [ -n "${3:-}" ]; then
		status "((mods.get('$1') or {}).get('runtime') or {}).get('counters', {}).get('$3', -1)"
	else
		status "((mods.get('$1') or {}).get('runtime') or {}).get('$2', -1)"
	fi
}
