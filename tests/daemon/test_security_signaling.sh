#!/usr/bin/env bash
# Forged signaling (docs/security.md): requests that reach a node through
# GIST and the NetServ NSLP pass the same checks as the admin socket's. A
# node that requires signatures, on the path publisher -- ra -- user:
# unsigned, wrongly signed and replayed SETUPs are refused, signed ones work
# (the NSLP carries every header unchanged, so the signature survives).
# A second path, attacker -- rb -- victim, whose node never saw the captured
# SETUP: replayed there by raw GIST toward another user, the signature's
# binding (signal-to, the MRI destination it was signed for) refuses it (403).
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/tap.sh"
source "$here/../lib/topo.sh"
source "$here/../lib/signaling.sh"
SIG_BUILD=${NETSERV_BUILD:?}
B=$SIG_BUILD

if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP needs root"
	exit 0
fi

SIG_WORK=$(mktemp -d /tmp/netserv-ss.XXXXXX)
chmod 0755 "$SIG_WORK"
trap 'topo_destroy; rm -rf "$SIG_WORK"' EXIT

topo_create publisher ra user || { not_ok "topology"; tap_done; exit 1; }
topo_create attacker rb victim || { not_ok "second topology"; tap_done; exit 1; }
VICTIM_ADDR=$(topo_addr victim)
USER_ADDR=$(topo_addr user)
PUB_ADDR=$(topo_addr publisher)
mkdir -p "$SIG_WORK/keys"
for u in janedoe mallory; do "$B/netserv" keygen -d "$SIG_WORK" "$u" >/dev/null; done
cp "$SIG_WORK/janedoe.pub" "$SIG_WORK/keys/"
# The harness turns signatures off; a later [security] section turns them on.
sig_start_node ra $'[security]\nrequire_signatures = yes\nkeys_dir = '"$SIG_WORK/keys" ||
	{ not_ok "netservd starts on ra"; tap_done; exit 1; }
ok "netservd on ra requires signatures"
mkdir -p "$SIG_WORK/www"
cp "$B/modules/counter.wasm" "$SIG_WORK/www/"
HASH=sha256:$(sha256sum "$SIG_WORK/www/counter.wasm" | cut -d' ' -f1)
sig_serve_http publisher "$SIG_WORK/www" 8000

fields=(--module NetServ.apps.C_1 --user janedoe --url "http://$PUB_ADDR:8000/counter.wasm"
	--hash "$HASH" --filter-proto udp --filter-port 7000)
pub() { topo_exec publisher env "NETSERV_KEY=${KEY:-}" "$B/netserv" "$@" 2>&1; }

out=$(KEY= pub setup --to "$USER_ADDR" "${fields[@]}")
check "an unsigned SETUP by signaling answers 401 from the node" \
	grep -q '^  1. ra .*SETUP 401' <<<"$out"
out=$(KEY=$SIG_WORK/mallory.key pub setup --to "$USER_ADDR" "${fields[@]}")
check "a SETUP in janedoe's name signed by mallory answers 401" \
	grep -q 'signature does not verify' <<<"$out"
check "nothing is installed on ra" test "$(sig_status ra "len(s['modules'])")" = 0

printf 'SETUP NetServ.apps.C_1 NETSERV/0.1\nuser:janedoe\nurl:http://%s:8000/counter.wasm\nmodule-hash:%s\nfilter-proto:udp\nfilter-port:7000\n\n' \
	"$PUB_ADDR" "$HASH" |
	"$B/netserv" sign -k "$SIG_WORK/janedoe.key" --to "$USER_ADDR" - >"$SIG_WORK/setup.ncm"
out=$(KEY= pub setup --to "$USER_ADDR" --ncm "$SIG_WORK/setup.ncm")
check "the signed SETUP answers 200 through GIST and the NSLP" \
	grep -q '^SETUP NetServ.apps.C_1 toward .*: 200' <<<"$out"
check "... and the module is active on ra" \
	test "$(sig_status ra "mods['janedoe/NetServ.apps.C_1']['state']")" = active
out=$(KEY= pub setup --to "$USER_ADDR" --ncm "$SIG_WORK/setup.ncm")
check "the same signed SETUP replayed by signaling answers 401" \
	grep -q 'replayed request' <<<"$out"
out=$(KEY= pub remove --to "$USER_ADDR" --module NetServ.apps.C_1 --user janedoe)
check "an unsigned REMOVE answers 401 and the module stays" \
	bash -c 'grep -q "REMOVE 401" <<<"$1" && [ "$2" = active ]' _ "$out" \
	"$(sig_status ra "mods['janedoe/NetServ.apps.C_1']['state']")"
out=$(KEY=$SIG_WORK/janedoe.key pub remove --to "$USER_ADDR" --module NetServ.apps.C_1 \
	--user janedoe)
check "netserv remove with \$NETSERV_KEY signs, and answers 200" \
	grep -q '^REMOVE NetServ.apps.C_1 toward .*: 200' <<<"$out"

# The captured SETUP, replayed toward another user to a node that did not see it.
sig_start_node rb $'[security]\nrequire_signatures = yes\nkeys_dir = '"$SIG_WORK/keys" ||
	{ not_ok "netservd starts on rb"; tap_done; exit 1; }
att() { topo_exec attacker env NETSERV_KEY= "$B/netserv" "$@" 2>&1; }
out=$(att setup --to "$VICTIM_ADDR" --ncm "$SIG_WORK/setup.ncm")
check "the captured SETUP re-aimed at another user answers 403 from rb" \
	grep -q '^  1. rb .*SETUP 403' <<<"$out"
check "... saying it was signed for another destination" \
	grep -q "signed for signal-to toward $USER_ADDR/32, but it arrived on a path toward $VICTIM_ADDR/32" <<<"$out"
check "... and nothing is installed on rb" test "$(sig_status rb "len(s['modules'])")" = 0
# A signature bound to nothing (signed before signal-to existed) is refused
# by GIST unless the node says accept_unbound_signatures = yes.
printf 'SETUP NetServ.apps.C_1 NETSERV/0.1\nuser:janedoe\nurl:http://%s:8000/counter.wasm\nmodule-hash:%s\n\n' \
	"$PUB_ADDR" "$HASH" | "$B/netserv" sign -k "$SIG_WORK/janedoe.key" - >"$SIG_WORK/unbound.ncm"
out=$(att setup --to "$VICTIM_ADDR" --ncm "$SIG_WORK/unbound.ncm")
check "an unbound signed SETUP answers 403 (this node refuses unbound signatures)" \
	grep -q 'refuses unbound signatures' <<<"$out"
check "rb counts two misdirected requests" \
	test "$(sig_status rb "s['security']['counters']['misdirected']")" = 2
check "netservd stops cleanly" sig_stop_node ra
check "netservd on rb stops cleanly" sig_stop_node rb

tap_done
