#!/usr/bin/env bash
# The netfilter forwarding-plane driver (src/fwd/fwd_netfilter.c), driven by
# fwdctl inside a network namespace of the test's own, with chain prefixes
# unique to the run: leftovers cleaned at start, filters become exactly the
# expected iptables/ip6tables rules, replace, remove, flush, fini, and rules
# that are not ours (foreign rules, another prefix's chains) are never
# touched. Needs root; skips otherwise.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/tap.sh"

if [ "$(id -u)" -ne 0 ]; then
	ok "# SKIP needs root (network namespaces, iptables)"
	tap_done
	exit 0
fi
: "${NETSERV_BUILD:=$here/../../build}"
FWDCTL=$NETSERV_BUILD/fwdctl
[ -x "$FWDCTL" ] || { not_ok "fwdctl is built ($FWDCTL)"; tap_done; exit 1; }
source "$here/../lib/topo.sh"

topo_node fw forward || { not_ok "namespace created"; tap_done; exit 1; }
P=NST-$TOPO_TAG # our chain prefix: unique to this run
Q=${P}x         # another "user" of the driver, in the same tables
diag "namespace $(topo_ns fw), chain prefixes $P and $Q"

fwdctl() { topo_exec fw "$FWDCTL" "$@"; }
ipt() { topo_exec fw iptables "$@"; }
ip6t() { topo_exec fw ip6tables "$@"; }
# save4/save6 [PATTERN]: the rule and chain lines of mangle (and filter),
# without comments and counters, optionally only those matching PATTERN.
save4() { topo_exec fw iptables-save | grep -E '^(:|-A|\*)' | sed 's/ \[[0-9]*:[0-9]*\]$//'; }
save6() { topo_exec fw ip6tables-save | grep -E '^(:|-A|\*)' | sed 's/ \[[0-9]*:[0-9]*\]$//'; }
ours4() { save4 | grep -E -- "(^|[ :])$P-" || true; }
ours6() { save6 | grep -E -- "(^|[ :])$P-" || true; }
foreign4() { save4 | grep -vE -- "(^|[ :])$P-" || true; }
foreign6() { save6 | grep -vE -- "(^|[ :])$P-" || true; }

not() { ! "$@"; }

# same DESC EXPECTED ACTUAL: ok when equal; shows a diff otherwise.
same() {
	if [ "$2" = "$3" ]; then
		ok "$1"
	else
		not_ok "$1"
		diff <(echo "$2") <(echo "$3") | sed 's/^/#   /'
	fi
}

# ---- foreign rules, and leftovers of a "crashed" earlier run ----------------
ipt -t mangle -A FORWARD -p udp --dport 53 -j ACCEPT
ipt -t mangle -A INPUT -p tcp --dport 22 -j MARK --set-mark 7
ipt -t mangle -N FOREIGN-FWD
ipt -t mangle -A FOREIGN-FWD -p udp --dport 5060 -m comment --comment "netserv:alice/sip" -j ACCEPT
ipt -t mangle -A FORWARD -j FOREIGN-FWD
ipt -A FORWARD -p udp --dport 5060 -j ACCEPT
ip6t -t mangle -A FORWARD -p udp --dport 53 -j ACCEPT
ipt -t mangle -N "$P-FWD"
ipt -t mangle -A "$P-FWD" -p udp --dport 1 -m comment --comment netserv:stale/x -j NFQUEUE --queue-num 1
ipt -t mangle -I FORWARD 1 -j "$P-FWD"
ipt -t mangle -A FORWARD -j "$P-FWD" # a duplicate jump
ipt -t mangle -N "$P-OUT"
ipt -t mangle -A OUTPUT -j "$P-OUT"
ip6t -t mangle -N "$P-IN"
ip6t -t mangle -A INPUT -j "$P-IN"
before4=$(foreign4)
before6=$(foreign6)

# ---- init: cleanup and creation --------------------------------------------
if out=$(fwdctl -p "$P" init 2>&1); then ok "fwdctl init"; else not_ok "fwdctl init: $out"; fi
expect_chains4=":$P-FWD -
:$P-IN -
-A INPUT -j $P-IN
-A FORWARD -j $P-FWD"
same "init: leftovers gone, our two chains and one jump each (v4)" "$expect_chains4" "$(ours4)"
same "init: the same for IPv6" "$expect_chains4" "$(ours6)"
same "init: foreign IPv4 rules untouched" "$before4" "$(foreign4)"
same "init: foreign IPv6 rules untouched" "$before6" "$(foreign6)"
check "init: our jumps come first in FORWARD" \
	test "$(save4 | grep -m1 '^-A FORWARD')" = "-A FORWARD -j $P-FWD"
if fwdctl -p "$P" init >/dev/null 2>&1; then ok "init again"; else not_ok "init again"; fi
same "init again: still one jump each" "$expect_chains4" "$(ours4)"

# another driver instance with its own prefix, in the same tables
fwdctl -p "$Q" -H forward init && fwdctl -p "$Q" -H forward add bob/x proto=udp port=7000 queue=11
before_q4=$(save4 | grep -E -- "(^|[ :])$Q-")
# its chain, its bucket's sub-chain (udp 7000 is in 6976..7007), the hook's
# jump, the bucket's jump and the rule
check "a second prefix has its own chains and rule" test "$(grep -c -- "$Q" <<<"$before_q4")" -eq 5

# ---- filters ------------------------------------------------------------------
ok_add() {
	local out
	if out=$(fwdctl -p "$P" add "$@" 2>&1); then ok "add $*"; else not_ok "add $*: $out"; fi
}
ok_add alice/sip proto=udp port=5060 queue=3
ok_add bob/web proto=tcp port=8000-8080 queue=4:7
ok_add carol/v4 proto=udp port=9000 dst=10.9.0.0/16 queue=5
ok_add dave/v6 proto=udp src=fd00:9::/64 queue=6
ok_add erin/any src=192.0.2.0/24 dst=198.51.100.7 queue=8

r_sip='-p udp -m udp --dport 5060 -m comment --comment "netserv:alice/sip" -j NFQUEUE --queue-num 3 --queue-bypass'
r_web='-p tcp -m tcp --dport 8000:8080 -m comment --comment "netserv:bob/web" -j NFQUEUE --queue-balance 4:7 --queue-bypass'
r_v4='-d 10.9.0.0/16 -p udp -m udp --dport 9000 -m comment --comment "netserv:carol/v4" -j NFQUEUE --queue-num 5 --queue-bypass'
r_v6='-s fd00:9::/64 -p udp -m comment --comment "netserv:dave/v6" -j NFQUEUE --queue-num 6 --queue-bypass'
r_any='-s 192.0.2.0/24 -d 198.51.100.7/32 -m comment --comment "netserv:erin/any" -j NFQUEUE --queue-num 8 --queue-bypass'
rules() { # rules CHAIN-SUFFIX RULE...: the expected -A lines
	local c=$1
	shift
	for r in "$@"; do echo "-A $P-$c $r"; done
}
# The dispatch (src/fwd/fwd_netfilter.c): a filter on one port protocol
# whose ports lie in one bucket of 32 (alice: udp 5056..5087 = bucket 0x09e,
# carol: 8992..9023 = 0x119) goes to the bucket's sub-chain, "-Fu09e.0" for
# FORWARD, udp, run 0, behind a jump; the others stay in the hook chain and
# end a run (bob's ports span buckets, so carol's bucket is in run 1). A
# packet meets the rules in the order they were added, as in one chain.
j_sip() { echo "-p udp -m udp --dport 5056:5087 -j $P-${1}u09e.0"; }
j_v4() { echo "-p udp -m udp --dport 8992:9023 -j $P-${1}u119.1"; }
expect4=":$P-FWD -
:$P-Fu09e.0 -
:$P-Fu119.1 -
:$P-IN -
:$P-Iu09e.0 -
:$P-Iu119.1 -
-A INPUT -j $P-IN
-A FORWARD -j $P-FWD
$(rules FWD "$(j_sip F)" "$r_web" "$(j_v4 F)" "$r_any")
$(rules Fu09e.0 "$r_sip")
$(rules Fu119.1 "$r_v4")
$(rules IN "$(j_sip I)" "$r_web" "$(j_v4 I)" "$r_any")
$(rules Iu09e.0 "$r_sip")
$(rules Iu119.1 "$r_v4")"
expect6=":$P-FWD -
:$P-Fu09e.0 -
:$P-IN -
:$P-Iu09e.0 -
-A INPUT -j $P-IN
-A FORWARD -j $P-FWD
$(rules FWD "$(j_sip F)" "$r_web" "$r_v6")
$(rules Fu09e.0 "$r_sip")
$(rules IN "$(j_sip I)" "$r_web" "$r_v6")
$(rules Iu09e.0 "$r_sip")"
same "iptables-save shows exactly the expected IPv4 rules" "$expect4" "$(ours4)"
same "ip6tables-save shows exactly the expected IPv6 rules" "$expect6" "$(ours6)"
same "foreign IPv4 rules untouched after adds" "$before4" "$(foreign4 | grep -v -- "$Q")"
same "the other prefix's rules untouched" "$before_q4" "$(save4 | grep -E -- "(^|[ :])$Q-")"

# replace: the same id again replaces, never duplicates
ok_add alice/sip proto=udp port=5060-5061 queue=9
check "re-adding an id replaces its rule (v4: one per chain)" \
	test "$(ours4 | grep -c 'netserv:alice/sip')" -eq 2
check "the replacement has the new port range and queue" \
	grep -q -- '--dport 5060:5061 .*--queue-num 9 ' <<<"$(ours4)"
check "the replacement comes after erin's rule: a new run's sub-chain" \
	grep -q -- "^-A $P-Fu09e.2 .*netserv:alice/sip" <<<"$(ours4)"
check "re-adding an id replaces its rule (v6)" test "$(ours6 | grep -c 'netserv:alice/sip')" -eq 2
ok_add alice/sip proto=udp port=5060 dst=10.1.0.0/16 queue=3
check "an id changed to IPv4 only leaves no IPv6 rule" \
	test "$(ours6 | grep -c 'netserv:alice/sip')" -eq 0

# refused filters change nothing
snap4=$(save4)
snap6=$(save6)
check "a port without a protocol is refused" \
	not fwdctl -p $P add x port=80 2>/dev/null
check "mixed address families are refused" \
	not fwdctl -p $P add x src=10.0.0.0/8 dst=fd00::/8 2>/dev/null
check "a rule id with a quote is refused" \
	not fwdctl -p $P add 'x"y' proto=udp 2>/dev/null
check "a bad chain prefix is refused" \
	not fwdctl -p 'a b' init 2>/dev/null
same "refused filters changed nothing (v4)" "$snap4" "$(save4)"
same "refused filters changed nothing (v6)" "$snap6" "$(save6)"

# ---- counters and specs -----------------------------------------------------------
check "counters of a rule that matched nothing" \
	test "$(fwdctl -p "$P" counters carol/v4)" = "packets=0 bytes=0"
rc=0
fwdctl -p "$P" counters nobody/x 2>/dev/null || rc=$?
check "counters of no such rule: exit status 3" test "$rc" -eq 3
same "spec: icmpv6 is IPv6 only" "ipv4 -
ipv6 -p icmpv6 -m comment --comment \"netserv:x\" -j NFQUEUE --queue-num 0 --queue-bypass" \
	"$("$FWDCTL" spec x proto=icmpv6)"
same "spec: icmp is IPv4 only" "ipv4 -p icmp -m comment --comment \"netserv:x\" -j NFQUEUE --queue-num 0 --queue-bypass
ipv6 -" "$("$FWDCTL" spec x proto=icmp)"
same "spec: a protocol by number" "ipv4 -p 47 -d 10.0.0.0/8 -m comment --comment \"netserv:x\" -j NFQUEUE --queue-num 2 --queue-bypass
ipv6 -" "$("$FWDCTL" spec x proto=47 dst=10.0.0.0/8 queue=2)"

# ---- remove, flush, fini ---------------------------------------------------------
if fwdctl -p "$P" remove bob/web; then ok "remove bob/web"; else not_ok "remove bob/web"; fi
check "bob/web gone from IPv4 and IPv6" \
	test "$(ours4 | grep -c netserv:bob/web)$(ours6 | grep -c netserv:bob/web)" = 00
check "the other rules stay" test "$(ours4 | grep -c 'netserv:carol/v4')" -eq 2
rc=0
fwdctl -p "$P" remove bob/web 2>/dev/null || rc=$?
check "removing it again: exit status 3 (no such rule)" test "$rc" -eq 3
check "the foreign rule with a netserv comment was never touched" \
	grep -q -- '-A FOREIGN-FWD .*netserv:alice/sip' <<<"$(save4)"

if fwdctl -p "$P" flush; then ok "flush"; else not_ok "flush"; fi
same "flush: our chains are empty, jumps stay (v4)" "$expect_chains4" "$(ours4)"
same "flush: the same for IPv6" "$expect_chains4" "$(ours6)"

ok_add alice/sip proto=udp port=5060 queue=3
if fwdctl -p "$P" fini; then ok "fini"; else not_ok "fini"; fi
same "fini: nothing of ours remains (v4)" "" "$(ours4)"
same "fini: nothing of ours remains (v6)" "" "$(ours6)"
same "fini: foreign IPv4 rules untouched" "$before4" "$(foreign4 | grep -v -- "$Q")"
same "fini: foreign IPv6 rules untouched" "$before6" "$(foreign6 | grep -v -- "$Q")"
same "fini: the other prefix's rules untouched" "$before_q4" "$(save4 | grep -E -- "(^|[ :])$Q-")"

# ---- missing tools are named -----------------------------------------------------
# In a mount namespace of its own, hide the iptables binaries behind /dev/null.
out=$(topo_exec fw unshare -m sh -c \
	"mount --bind /dev/null \$(readlink -f /usr/sbin/ip6tables-restore) && '$FWDCTL' -p '$P' init" 2>&1)
rc=$?
check "tools missing: init fails" test "$rc" -ne 0
check "tools missing: the message names them [$out]" \
	grep -q 'missing .*ip6tables-restore.*(Debian package iptables)' <<<"$out"
same "tools missing: nothing created" "" "$(ours4)"

# ---- hooks --------------------------------------------------------------------
fwdctl -p "$P" -H forward,input,output init && fwdctl -p "$P" -H forward,input,output add z/out proto=udp port=1 queue=1
check "with the output hook: three jumps" test "$(ours4 | grep -c '^-A \(INPUT\|FORWARD\|OUTPUT\) -j')" -eq 3
check "with the output hook: the rule is in all three chains" test "$(ours4 | grep -c netserv:z/out)" -eq 3
fwdctl -p "$P" fini
fwdctl -p "$Q" -H forward fini

# a prefix too long for the sub-chains' names (28 characters) keeps one chain
L=${P}-long-prefix-xx
L=${L:0:24}
fwdctl -p "$L" -H forward init && fwdctl -p "$L" -H forward add z/long proto=udp port=1 queue=1
same "a 24-character prefix (FWD_NF_PREFIX_MAX): the rule in the hook chain itself" \
	"-A $L-FWD -p udp -m udp --dport 1 -m comment --comment \"netserv:z/long\" -j NFQUEUE --queue-num 1 --queue-bypass" \
	"$(save4 | grep -- "^-A $L-")"
fwdctl -p "$L" -H forward fini
same "all prefixes gone: only the foreign rules remain" "$before4" "$(foreign4 | grep -v -- "$P")"

tap_done
