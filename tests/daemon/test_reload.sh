#!/usr/bin/env bash
# Reload (issue #19, item 2): SIGHUP re-reads netservd.conf without stopping.
# sender -- router -- receiver in network namespaces, netservd in the router
# with the netfilter plane; alice's counter module counts a UDP flow of 500
# packets/s while the node reloads a configuration that
#   - narrows alice's prefixes: her other module (filter outside) is removed
#     with the reason, her counter keeps counting in the same container;
#   - removes bob: his module fails, his container stops;
#   - adds carol: her SETUP succeeds afterwards;
#   - changes a setting that needs a restart: reported, the running value kept.
# Then a broken configuration is refused (file:line in the log) and the node
# keeps running with the old one. And `netservd -t` warnings.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/tap.sh"
source "$here/../lib/topo.sh"
source "$here/../lib/wait.sh"
B=${NETSERV_BUILD:?}

if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP needs root"
	exit 0
fi

WORK=$(mktemp -d /tmp/netserv-rl.XXXXXX)
chmod 0711 "$WORK"
SOCK=$WORK/admin.sock
CONF=$WORK/netservd.conf
LOG=$WORK/netservd.log
DPID=
CPIDS=()
cleanup_rl() {
	for p in "${CPIDS[@]}"; do kill -KILL "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	[ -n "$DPID" ] && kill -KILL "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	topo_destroy
	[ -n "${KEEP_LOG:-}" ] && cp "$LOG" "$KEEP_LOG"
	rm -rf "$WORK"
}
trap cleanup_rl EXIT

# --- netservd -t warnings (no namespaces needed) -------------------------------
mkdir -p "$WORK/keys"
for u in alice bob carol; do
	"$B/netserv" keygen -d "$WORK" "$u" >/dev/null && cp "$WORK/$u.pub" "$WORK/keys/"
done
cat >"$WORK/t.conf" <<EOC
[node]
state_dir = $WORK/t-state
admin_socket = $WORK/t.sock
[fetch]
protocols = file
[security]
keys_dir = $WORK/keys
[fetch]
timeout = 5
[publisher alice]
prefixes = any
[publisher dave]
prefixes = any
[publisher Bad.Name]
[publisher erin]
EOC
out=$("$B/netservd" -t -c "$WORK/t.conf" 2>&1)
rc=$?
check "-t: a configuration with warnings is still OK (status $rc)" test "$rc" -eq 0
check "-t warns about a duplicate section, with both lines" \
	grep -q 't.conf:8: section \[fetch\] appears again (first at line 4)' <<<"$out"
check "-t warns about a publisher without a public key" \
	grep -q "warning: \[publisher dave\]: no public key $WORK/keys/dave.pub" <<<"$out"
check "-t does not warn about a publisher with its key" bash -c '! grep -q "publisher alice\]: no public key" <<<"$0"' "$out"
check "-t warns about an invalid publisher name" \
	grep -q "t.conf:14: \[publisher Bad.Name\]: 'Bad.Name' is not a valid publisher name" <<<"$out"
check "-t warns about a publisher section without keys (ignored)" \
	grep -q "t.conf:15: \[publisher erin\] has no keys: it is ignored" <<<"$out"
sed -i "s|keys_dir = .*|keys_dir = $WORK/no-such-keys|" "$WORK/t.conf"
out=$("$B/netservd" -t -c "$WORK/t.conf" 2>&1)
check "-t warns about a missing keys_dir" \
	grep -q "warning: \[security\] keys_dir $WORK/no-such-keys: No such file" <<<"$out"
printf '[publisher Bad.Name]\nprefixes = any\n' >>"$WORK/t.conf"
out=$("$B/netservd" -t -c "$WORK/t.conf" 2>&1)
rc=$?
check "-t refuses an invalid publisher name that has keys (status $rc)" \
	bash -c '[ "$0" -eq 1 ] && grep -q "t.conf:17: \[publisher Bad.Name\]: not a valid user name" <<<"$1"' "$rc" "$out"

# --- a node in a router ---------------------------------------------------------
topo_create sender router receiver || { not_ok "topology"; tap_done; exit 1; }
RCV=$(topo_addr receiver)
SND=$(topo_addr sender)
PREFIX=NR${TOPO_TAG}
QBASE=$((2000 + RANDOM % 20000))
CG=netserv-rl-$TOPO_TAG

# write_conf ALICE_PREFIXES PUBLISHERS HEARTBEAT: PUBLISHERS lists bob, carol.
write_conf() {
	{
		cat <<EOC
[node]
id = rl-router
state_dir = $WORK/state
admin_socket = $SOCK
[log]
level = info
[fetch]
protocols = file
[forwarding]
driver = netfilter
chain_prefix = $PREFIX
hooks = forward
[containers]
cgroup = $CG
queue_base = $QBASE
heartbeat_ms = $3
pool_size = 0
[security]
keys_dir = $WORK/keys
[publisher alice]
uid = 65532
nice = 0
prefixes = $1
EOC
		case " $2 " in *" bob "*) printf '[publisher bob]\nuid = 65533\nprefixes = %s/32\n' "$SND" ;; esac
		case " $2 " in *" carol "*) printf '[publisher carol]\nuid = 65531\nprefixes = %s/32\n' "$SND" ;; esac
	} >"$CONF.new"
	mv "$CONF.new" "$CONF"
}

ctl() { "$B/netserv" ctl --socket "$SOCK" "$@"; }

status() {
	ctl status --json | python3 -c "import json,sys
s = json.load(sys.stdin)
mods = {m['user'] + '/' + m['module']: m for m in s['modules']}
print($1)"
}
mod() { # USER/MODULE FIELD
	status "(mods.get('$1') or {}).get('$2')"
}
counter() {
	status "((mods.get('alice/Counter') or {}).get('runtime') or {}).get('counters', {}).get('packets', -1)"
}
ct_pid() { # USER/MODULE
	status "((mods.get('$1') or {}).get('runtime') or {}).get('container_pid', 0)"
}

setup() { # USER ID SOURCE PORT DST
	cp "$B/modules/$3.wasm" "$WORK/$2.wasm"
	local h
	h=sha256:$(sha256sum "$WORK/$2.wasm" | cut -d' ' -f1)
	printf 'SETUP %s NETSERV/0.1\nuser:%s\nurl:file://%s\nmodule-hash:%s\nfilter-proto:udp\nfilter-port:%s\nfilter-dst:%s\nttl:600\n\n' \
		"$2" "$1" "$WORK/$2.wasm" "$h" "$4" "$5" | NETSERV_KEY=$WORK/$1.key ctl send -
}

hup_and_wait() { # REGEX: sends SIGHUP, waits for REGEX in the log after it
	local from
	from=$(($(wc -l <"$LOG") + 1))
	kill -HUP "$DPID"
	wait_line "$LOG" "$1" 10 "$from"
}

write_conf "$RCV/32, 10.99.0.0/16" "bob" 200
nsenter --net="/var/run/netns/$(topo_ns router)" "$B/netservd" -c "$CONF" >>"$LOG" 2>&1 &
DPID=$!
answers() { ctl status >/dev/null 2>&1; }
wait_until 10 answers || { not_ok "netservd starts"; tail -20 "$LOG" | sed 's/^/#   /'; tap_done; exit 1; }
ok "netservd starts in the router namespace"

out=$(setup alice Counter counter 7000 "$RCV")
check "alice's counter (udp/7000 to the receiver) is active" grep -q '^state:active' <<<"$out"
out=$(setup alice Other passthrough 7001 10.99.1.1)
check "alice's module for 10.99.1.1 (inside her prefixes) is active" grep -q '^state:active' <<<"$out"
out=$(setup bob Bobs passthrough 7002 "$SND")
check "bob's module is active" grep -q '^state:active' <<<"$out"
out=$(setup carol Carols passthrough 7003 "$SND")
check "carol is not a publisher yet: her SETUP is refused (403)" grep -q '^NETSERV/0.1 403' <<<"$out"
pid_alice=$(ct_pid alice/Counter)
pid_bob=$(ct_pid bob/Bobs)
check "alice's and bob's containers run ($pid_alice, $pid_bob)" test "$pid_alice" -gt 0 -a "$pid_bob" -gt 0

# --- reload under traffic ---------------------------------------------------------
N=4000
cnt=$WORK/count.out
ip netns exec "$(topo_ns receiver)" "$B/udpcount" -p 7000 -t 40 -i 2000 >"$cnt" 2>&1 &
CPIDS+=($!)
cpid=$!
wait_until 5 grep -qs ready "$cnt" || not_ok "udpcount is ready"
c0=$(counter)
topo_exec sender "$B/udpblast" -d "$RCV" -p 7000 -n $N -s 64 -r 500 >/dev/null &
bpid=$!
CPIDS+=($bpid)
flowing() { [ "$(counter)" -ge $((c0 + 1000)) ]; }
check "the flow runs through alice's counter before the reload" wait_until 5 flowing
write_conf "$RCV/32" "carol" 300
check "SIGHUP: the node reloads" hup_and_wait 'reloaded .*: 2 publisher\(s\) \(1 added, 1 removed\), 2 module\(s\) removed'
during=$(counter)
check "the reload happened mid-flow ($((during - c0)) of $N counted at the reload)" \
	test $((during - c0)) -lt $N
wait "$bpid"
wait "$cpid"
got=$(grep -o 'received=[0-9]*' "$cnt" | cut -d= -f2)
c1=$(counter)
diag "flow: $N sent, $got received, $((c1 - c0)) counted"
check "no packet lost across the reload: $got of $N arrived" test "${got:-0}" -eq $N
check "the counter counted all of them: $((c1 - c0)) of $N" test $((c1 - c0)) -eq $N
check "alice's container is the same process ($pid_alice)" test "$(ct_pid alice/Counter)" = "$pid_alice"
check "alice's counter is still active" test "$(mod alice/Counter state)" = active

# --- the new policy ---------------------------------------------------------------
r=$(mod alice/Other reason)
check "alice's module outside her new prefixes failed" test "$(mod alice/Other state)" = failed
check "... with the reason in status ($r)" grep -q 'removed by a configuration reload: .*10.99.1.1' <<<"$r"
r=$(mod bob/Bobs reason)
check "bob's module failed: bob is no longer a publisher ($r)" \
	grep -q 'removed by a configuration reload: bob is no longer a publisher' <<<"$r"
gone() { ! kill -0 "$pid_bob" 2>/dev/null; }
check "bob's container stopped" wait_until 5 gone
check "the log says bob's module was removed" grep -q 'module bob/Bobs failed: removed by a configuration reload' "$LOG"
check "[containers] heartbeat_ms changed: needs a restart" \
	grep -q 'reload: \[containers\] heartbeat_ms changed: needs a restart' "$LOG"
rules() {
	topo_exec router iptables-save -t mangle 2>/dev/null | grep -- '--comment "\?netserv:' || true
}
check "the removed modules lost their forwarding rules" \
	test "$(rules | grep -c 'Other\|Bobs')" -eq 0
check "alice's counter kept its rule" test "$(rules | grep -c 'alice/Counter')" -eq 1
out=$(setup carol Carols passthrough 7003 "$SND")
check "carol, added by the reload, may SETUP now" grep -q '^state:active' <<<"$out"
pid_carol=$(ct_pid carol/Carols)
check "carol has her own container ($pid_carol)" test "${pid_carol:-0}" -gt 0 -a "${pid_carol:-0}" != "$pid_alice"
out=$(setup alice Other2 passthrough 7004 10.99.1.2)
check "alice's new SETUP outside her new prefixes is refused (403)" grep -q '^NETSERV/0.1 403' <<<"$out"

# --- a broken configuration is refused --------------------------------------------
cp "$CONF" "$WORK/good.conf"
printf '[modules]\nmax_ttl = soon\n' >>"$CONF"
line=$(wc -l <"$CONF")
check "a broken configuration is refused, with file:line in the log" \
	hup_and_wait "reload refused, the running configuration is kept: $CONF:$line: \[modules\] max_ttl"
check "status still answers" answers
check "carol is still a publisher (the old configuration runs)" test "$(mod carol/Carols state)" = active
c0=$(counter)
ip netns exec "$(topo_ns receiver)" "$B/udpcount" -p 7000 -t 20 -i 1000 >"$cnt" 2>&1 &
cpid=$!
CPIDS+=($cpid)
wait_until 5 grep -qs ready "$cnt" || not_ok "udpcount is ready"
topo_exec sender "$B/udpblast" -d "$RCV" -p 7000 -n 500 -s 64 -r 500 >/dev/null
wait "$cpid"
c1=$(counter)
check "alice's counter still counts (500 sent, $((c1 - c0)) counted)" test $((c1 - c0)) -eq 500

kill -TERM "$DPID"
rc=0
wait "$DPID" || rc=$?
DPID=
check "netservd exits cleanly (status $rc)" test "$rc" -eq 0
check "at exit our chains are gone" \
	test "$(topo_exec router iptables-save -t mangle | grep -c "$PREFIX")" -eq 0
tap_done
