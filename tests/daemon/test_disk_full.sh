#!/usr/bin/env bash
# A full disk is the node's error, not the publisher's (issue #12, item 8):
# the node's state directory is a small tmpfs (in a private mount namespace:
# it goes away with the test), filled up after a first module is installed.
#   1. a SETUP whose compile runs out of room answers 507 naming the disk,
#      not 422 with the C compiler's "unknown type name";
#   2. with the file system 100% full, a signed REMOVE still takes the first
#      module away (container, status) and answers 200; once there is room
#      again, and after a restart, the module stays removed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" -ne 0 ]; then
	source "$here/../lib/tap.sh"
	diag "needs root (mount namespace, tmpfs)"
	tap_done
	exit 0
fi
# Private mount and network namespaces: the tmpfs and the netfilter rules
# disappear with this process, whatever happens to the test.
if [ -z "${NS_DISK_FULL_NS:-}" ]; then
	exec unshare -m -n --propagation private env NS_DISK_FULL_NS=1 bash "$0" "$@"
fi
source "$here/../lib/tap.sh"
source "$here/../lib/wait.sh"
source "$here/../lib/daemon.sh"

trap 'cleanup_disk' EXIT
cleanup_disk() {
	umount -l "$STATE" 2>/dev/null
	cleanup
}

mkdir -p "$STATE"
mount -t tmpfs -o size=40M,mode=0711 "netserv-diskfull-$$" "$STATE" || {
	not_ok "tmpfs for the state directory"
	tap_done
	exit 1
}

ncm_setup() {
	printf 'SETUP %s NETSERV/0.1\nuser:janedoe\nurl:%s\nmodule-hash:%s\nttl:600\nfilter-proto:udp\nfilter-dst:192.0.2.0/24\n\n' \
		"$1" "$2" "$3"
}
rm_ncm() { printf 'REMOVE %s NETSERV/0.1\nuser:janedoe\n\n' "$1"; }
code() { head -1 <<<"$1" | cut -d' ' -f2; }

ip link set lo up
FWD_DRIVER=netfilter
start_daemon || { not_ok "netservd starts"; tap_done; exit 1; }
make_module first
out=$(ncm_setup NetServ.apps.First_1.0 "file://$MOD_PATH" "$MOD_HASH" | ctl send -)
check "a module installs while there is room" test "$(code "$out")" = 200

# The second module is in the cache already (as if fetched), then the disk fills.
make_module second
cp "$MOD_PATH" "$STATE/modules/${MOD_HASH#sha256:}.wasm"
# A little room is left: the store records the request's nonce (a few KiB),
# the compile needs far more.
dd if=/dev/zero of="$STATE/reserve" bs=16k count=2 2>/dev/null
dd if=/dev/zero of="$STATE/fill" bs=1M 2>/dev/null
dd if=/dev/zero of="$STATE/fill2" bs=4k 2>/dev/null
check "the state directory is full" test "$(df --output=avail -k "$STATE" | tail -1)" -lt 8
rm "$STATE/reserve"

out=$(ncm_setup NetServ.apps.Second_1.0 "http://127.0.0.1:1/unreachable.wasm" "$MOD_HASH" | ctl send -)
check "a compile on a full disk answers 507 (the node's error)" test "$(code "$out")" = 507
check "... naming the disk" grep -q "^reason:compiling the module failed, the node's disk is full: .*No space left on device" <<<"$out"
check "... not as the publisher's compile error" bash -c '! grep -q "unknown type name" <<<"$1"' _ "$out"
check "the node logs it as its error" grep -q "err.*Second_1.0: compiling the module failed, the node's disk is full" "$DAEMON_LOG"


# 2. REMOVE on a completely full disk.
rules() { iptables-save | grep -c -- "-j NFQUEUE"; }
check "the first module's rule is in place ($(rules))" test "$(rules)" -ge 1
dd if=/dev/zero of="$STATE/fill3" bs=1k 2>/dev/null
dd if=/dev/zero of="$STATE/fill4" bs=512 2>/dev/null
check "the state directory is 100% full" test "$(df --output=avail -k "$STATE" | tail -1)" -eq 0
out=$(rm_ncm NetServ.apps.First_1.0 | ctl send -)
check "a signed REMOVE on a full disk answers 200 ($(head -1 <<<"$out"))" test "$(code "$out")" = 200
gone() { [ "$(status_json "'janedoe/NetServ.apps.First_1.0' in mods")" = False ]; }
check "the module is gone from status" gone
check "its steering rule is gone" test "$(rules)" = 0
check "the node says it used its reserve, once" test "$(grep -c "disk is full.*reserve" "$DAEMON_LOG")" = 1

rm -f "$STATE"/fill*
stop_daemon
check "netservd restarts once there is room" start_daemon
check "the module stays removed after the restart" gone
check "the reserve is written again" test "$(stat -c %s "$STATE/netserv.reserve")" = 1048576
check "no error about the state on restart" bash -c '! grep -q "state: cannot" "$1"' _ "$DAEMON_LOG"
check "netservd exits cleanly" stop_daemon

tap_done
