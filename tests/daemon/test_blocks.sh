#!/usr/bin/env bash
# The building blocks crypto/1 and storage/1 in a real node: the node lists
# them; a module that depends on them (tests/modules/storer.c) hashes, MACs,
# keeps a boot counter in its store across a SIGKILL of its container, hits
# its publisher's quota (storage_quota = 64K) with -ENOSPC; REMOVE deletes
# its objects; a publisher with storage_quota = 0 gets none.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/tap.sh"
source "$here/../lib/daemon.sh"

if [ "$(id -u)" -ne 0 ]; then
	diag "needs root (containers run as another uid)"
	tap_done
	exit 0
fi

MOD=NetServ.test.Storer_1
counter() {
	status_json "((mods.get('janedoe/$MOD') or {}).get('runtime') or {}).get('counters', {}).get('$1', -1)"
}
# wait_counter NAME VALUE: up to 10 s.
wait_counter() {
	for _ in $(seq 1 100); do
		[ "$(counter "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	diag "counter $1 is $(counter "$1"), not $2"
	return 1
}
setup() { # setup DEPENDENCIES
	printf 'SETUP %s NETSERV/0.1\nuser:janedoe\nurl:file://%s\nmodule-hash:%s\ndependencies:%s\n\n' \
		"$MOD" "$MOD_PATH" "$MOD_HASH" "$1" | ctl send -
}

PUBLISHER_EXTRA="storage_quota = 64K" write_config
start_daemon || { tap_done; exit 1; }
bb=$(status_json "s['node']['building_blocks']")
check "the node lists crypto/1 and storage/1 as building blocks ($bb)" \
	bash -c 'grep -q "crypto/1" <<<"$1" && grep -q "storage/1" <<<"$1"' _ "$bb"

make_module storer storer
out=$(setup "storage/9")
check "a SETUP that depends on storage/9 is refused" bash -c '! grep -q "^state:active" <<<"$1"' _ "$out"
out=$(setup "storage/1,crypto/1")
if grep -q '^state:active' <<<"$out"; then
	ok "a module that depends on storage/1,crypto/1 is active"
else
	not_ok "a module that depends on storage/1,crypto/1 is active"
	sed 's/^/#   /' <<<"$out"
fi
check "SHA-256 of \"abc\" is FIPS 180-2's" wait_counter sha_ok 1
check "HMAC-SHA1 is RFC 2202's" wait_counter hmac_ok 1
check "first start: boots = 1 (from its store)" wait_counter boots 1
check "filling the store ends with -ENOSPC" wait_counter enospc 1
filled=$(counter filled)
check "it filled the quota up to the limit (64K - 4 bytes of boots: $filled bytes in 1000-byte appends)" \
	test "$filled" -eq 65000
check "the store's usage after the fill was deleted: 4 bytes" wait_counter used 4
OBJ=$STATE/containers/janedoe/store/m.$MOD
check "the object is a file in the publisher's own directory" test -s "$OBJ/boots"
check "owned by the publisher's uid" test "$(stat -c %u "$OBJ/boots")" = 65534

pid=$(status_json "((mods.get('janedoe/$MOD') or {}).get('runtime') or {}).get('container_pid', 0)")
if [ "${pid:-0}" -gt 0 ]; then
	kill -KILL "$pid"
	ok "SIGKILL to the container (pid $pid)"
else
	not_ok "the container's pid is known"
fi
check "after the container's restart: boots = 2 (the object survived)" wait_counter boots 2
check "and the quota is counted again from the disk (used = 4)" wait_counter used 4

out=$(printf 'REMOVE %s NETSERV/0.1\nuser:janedoe\n\n' "$MOD" | ctl send -)
check "REMOVE answers 200" grep -q '^NETSERV/0.1 200' <<<"$out"
gone=false
for _ in $(seq 1 50); do
	[ -e "$OBJ" ] || { gone=true; break; }
	sleep 0.1
done
check "REMOVE deleted the module's objects" $gone

out=$(setup "storage/1,crypto/1")
check "set up again: active" grep -q '^state:active' <<<"$out"
check "a new install starts from an empty store: boots = 1" wait_counter boots 1
check "netservd stops cleanly" stop_daemon
check "the store survives the node's stop" test -s "$OBJ/boots"

# A publisher with no storage.
rm -f "$CONF"
PUBLISHER_EXTRA="storage_quota = 0" write_config
start_daemon || { tap_done; exit 1; }
out=$(setup "storage/1,crypto/1")
check "with storage_quota = 0: still active (storage calls return -EPERM)" \
	grep -q "^state:active" <<<"$out"
check "with storage_quota = 0 nothing is stored (boots stays unset)" wait_counter boots -1
check "and the fill stops at once, not with -ENOSPC (-EPERM)" wait_counter enospc 0
check "netservd stops cleanly" stop_daemon
tap_done
