#!/usr/bin/env bash
# `netserv module run` and `netserv module test` (issue #20 item 2), as a
# user without root (uid 65534 when this runs as root): no node, no
# namespaces. The cases of tests/modules/cases/ (gen_pcaps.py: the packets the
# namespace tests send) must give their expected outputs, and those outputs
# must say what the namespace tests assert:
#   keepalive  test_sip_keepalive.sh: "the router answered every one" (each
#              keep-alive NOTIFY/OPTIONS dropped, a 200 with the module's To
#              tag sent from the server's address and port), "other requests
#              (NOTIFY message-summary) reach the server" (accepted), the
#              CRLF, STUN (IPv4, IPv6) and IPv6 NOTIFY answers "from the
#              server's address and port", and its counter check
#              (notify, options, crlf, stun, answered, passed);
#   overload   test_sip_overload.sh: "rejected calls got 503 ... from the
#              server's address", "a 503 carries Retry-After: 2 and a To tag
#              of the module", "the ACKs to the 503s stop at the router",
#              "INVITEs ... reaching the server carry ;oc;oc-algo=\"loss\"",
#              "in-dialog requests all reached the server", "the module
#              follows the server's oc" and "the module's counts agree"
#              (rejected = 503s sent, acks_absorbed);
#   counter    test_packet_path.sh: "all arrive" and "the counter module
#              counted" them (1 000 here, 10 000 there);
#   dropper    test_packet_path.sh: "with the dropper none of 1 000 packets
#              arrive" (100 here).
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
source "$here/../lib/tap.sh"
B=${NETSERV_BUILD:-$top/build}
CASES=$top/tests/modules/cases

if [ ! -x "$B/netserv" ] || [ ! -f "$B/modules/keepalive.wasm" ]; then
	echo "1..0 # SKIP needs a build ($B/netserv and its modules)"
	exit 0
fi

T=$(mktemp -d /tmp/netserv-modrun.XXXXXX)
trap 'rm -rf "$T"' EXIT
chmod 755 "$T"
# What the user runs: copies in a directory it can read (the build tree may
# be in a home it cannot), the runtime sources (glue.c) too.
mkdir -p "$T/bin" "$T/runtime" "$T/cases" "$T/home"
cp "$B/netserv" "$T/bin/"
cp "$top"/src/abi/*.c "$top"/src/abi/*.h "$T/runtime/"
cp -r "$CASES"/keepalive "$CASES"/overload "$CASES"/counter "$CASES"/dropper "$T/cases/"
for m in keepalive overload counter dropper; do cp "$B/modules/$m.wasm" "$T/cases/$m/"; done
chmod -R a+rX "$T"
as_user=()
if [ "$(id -u)" -eq 0 ]; then
	chown -R 65534:65534 "$T/home" "$T/cases"
	as_user=(setpriv --reuid 65534 --regid 65534 --clear-groups)
fi
# netserv ARGS...: as the unprivileged user, with its own HOME and cache.
netserv() {
	env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$T/home" XDG_CACHE_HOME="$T/home/.cache" \
		NETSERV_RUNTIME_DIR="$T/runtime" ${ASAN_OPTIONS:+ASAN_OPTIONS=$ASAN_OPTIONS} \
		${UBSAN_OPTIONS:+UBSAN_OPTIONS=$UBSAN_OPTIONS} "${as_user[@]}" "$T/bin/netserv" "$@"
}

whoami_out=$(netserv module run --help >/dev/null 2>&1; "${as_user[@]}" id -u)
check "runs as a user without root (uid $whoami_out)" test "$whoami_out" != 0

# --- the cases, with module test -------------------------------------------------
for m in keepalive overload counter dropper; do
	out=$(cd "$T" && netserv module test "cases/$m" 2>&1)
	rc=$?
	check "module test cases/$m: every case gives its expected output (status $rc)" \
		test "$rc" = 0
	[ "$rc" = 0 ] || diag "$out"
done
so=$(find "$T/home/.cache/netserv/so" -name '*.so' 2>/dev/null | head -1)
check "the compiled modules are in the user's cache, owned by it" \
	test -n "$so" -a "$(stat -c %u "$so" 2>/dev/null)" = "$(${as_user[@]+"${as_user[@]}"} id -u)"

# run CASE_DIR NAME: the output of module run for a case (with its props).
run() {
	local d=$T/cases/$1 args=()
	while IFS= read -r l; do [ -n "$l" ] && args+=(--property "$l"); done <"$d/$2.props"
	(cd "$T" && netserv module run "$d/$1.wasm" --pcap "$d/$2.pcap" --hex "${args[@]}" "${@:3}")
}
# sent_payloads: the SIP payloads (from hex) of the crafted packets in stdin.
sent_payloads() {
	python3 -c '
import sys
lines = sys.stdin.read().split("\n")
for i, l in enumerate(lines):
    if l.startswith("  send packet") and i + 1 < len(lines) and lines[i + 1].startswith("  hex "):
        p = bytes.fromhex(lines[i + 1][6:])
        off = (p[0] & 15) * 4 + 8 if p[0] >> 4 == 4 else 48
        print(p[off:].decode("latin-1").replace("\r\n", "|").replace("\0", "."))'
}
counter() { sed -n "s/^counter $2: //p" <<<"$1"; }

# --- KeepAlive ---------------------------------------------------------------------
ka=$(run keepalive keepalive)
verdicts=$(grep -E '^[0-9]+ ' <<<"$ka" | sed 's/.*: //' | tr '\n' ' ')
check "keep-alives (3 NOTIFY, 2 OPTIONS, CRLF, STUN v4/v6, NOTIFY v6) dropped, message-summary accepted" \
	test "$verdicts" = "drop drop drop drop drop accept accept drop drop drop drop "
sends=$(grep '^  send packet' <<<"$ka")
check "each keep-alive answered from the server's address and port (9 answers)" \
	test "$(grep -cE 'udp (10\.200\.2\.2|\[fd00:200:2::2\]):5060 > ' <<<"$sends")" = 9
payloads=$(sent_payloads <<<"$ka")
check "the SIP answers are 200 OK whose To carries the module's tag (nska)" \
	test "$(grep -c '^SIP/2.0 200 OK|.*|To: <sip:registrar@[^|]*>;tag=nska' <<<"$payloads")" = 6
check "the CRLF ping is answered with one CRLF" grep -qx '|' <<<"$payloads"
check "the counters: notify=4 options=2 crlf=1 stun=2 answered=9 passed=2" \
	test "$(counter "$ka" notify) $(counter "$ka" options) $(counter "$ka" crlf) $(counter "$ka" stun) $(counter "$ka" answered) $(counter "$ka" passed)" = "4 2 1 2 9 2"

# --- Overload ----------------------------------------------------------------------
oc=$(run overload overload)
payloads=$(sent_payloads <<<"$oc")
n503=$(grep -c '^SIP/2.0 503 Service Unavailable|' <<<"$payloads")
check "shed INVITEs are dropped and answered with 503 from the server's address ($n503)" \
	test "$n503" = "$(counter "$oc" rejected)" -a "$n503" -gt 0 -a \
	"$(grep '^  send packet' <<<"$oc" | grep -vc 'udp 10\.200\.2\.2:5060 > 10\.200\.1\.2:5061')" = 0
check "a 503 carries Retry-After: 2 and a To tag of the module (nsoc)" \
	test "$(grep -c '|Retry-After: 2|' <<<"$payloads")" = "$n503" -a \
	"$(grep -c '|To: [^|]*;tag=nsoc' <<<"$payloads")" = "$n503"
check "the ACK to a 503 stops at the router (packet 13 dropped; acks_absorbed=1)" \
	test "$(grep '^13 ' <<<"$oc" | sed 's/.*: //')" = drop -a "$(counter "$oc" acks_absorbed)" = 1
mods=$(python3 -c '
import sys
lines = sys.stdin.read().split("\n")
for i, l in enumerate(lines):
    if l.endswith("bytes)") and ": modified" in l:
        p = bytes.fromhex(lines[i + 1][6:])
        print(p[28:].decode("latin-1").split("\r\n")[1])' <<<"$oc")
check "INVITEs and in-dialog requests that pass carry ;oc;oc-algo=\"loss\" in their Via (7)" \
	test "$(grep -c ';oc;oc-algo="loss"' <<<"$mods")" = 7
check "in-dialog requests (ACK, BYE) reach the server (packets 3, 14 not dropped)" \
	test "$(grep -E '^(3|14) ' <<<"$oc" | grep -c ': drop')" = 0
check "the module follows the server's oc=50 (oc_percent), half the new INVITEs shed under it" \
	test "$(counter "$oc" oc_percent)" = 50 -a "$(counter "$oc" invites)" = 10 -a \
	"$(counter "$oc" admitted)" = 6
check "after the feedback expired (validity 2 s, 5 s later) an INVITE is admitted (packet 15)" \
	grep -q '^15 .*: modified' <<<"$oc"
check "the server's feedback is logged" grep -q '^  log info: overload: 10.200.2.2:5060 oc=50' <<<"$oc"

# --- counter, dropper --------------------------------------------------------------------
c=$(cd "$T" && netserv module run cases/counter/counter.wasm --pcap cases/counter/udp5060.pcap \
	--out "$T/home/out.pcap")
check "counter: every packet accepted and counted (1000)" \
	test "$(counter "$c" packets)" = 1000 -a "$(grep -c ': accept$' <<<"$c")" = 1000
n_out=$(python3 -c '
import struct, sys
d = open(sys.argv[1], "rb").read()
n, o = 0, 24
while o + 16 <= len(d):
    o += 16 + struct.unpack("<I", d[o + 8:o + 12])[0]
    n += 1
print(n)' "$T/home/out.pcap" 2>/dev/null)
check "--out writes the packets that leave (1000)" test "$n_out" = 1000
c2=$(cd "$T" && netserv module run -q cases/counter/counter.wasm --pcap "$T/home/out.pcap")
check "... and that capture runs again to the same count" test "$(counter "$c2" packets)" = 1000
d=$(cd "$T" && netserv module run cases/dropper/dropper.wasm --pcap cases/dropper/udp5062.pcap)
check "dropper: none of the 100 packets go on" test "$(grep -c ': drop$' <<<"$d")" = 100

# --- timers on the virtual clock ------------------------------------------------------------
cp "$B/modules/timer.wasm" "$T/cases/" && chmod a+r "$T/cases/timer.wasm"
t=$(cd "$T" && netserv module run cases/timer.wasm --pcap cases/counter/udp5060.pcap -q \
	--property period_ms=100 --property oneshot_ms=500 --after 1001)
# 1000 packets 1 ms apart: 999 ms, then 1001 ms more: 2000 ms of virtual time
check "timers fire on the capture's clock (20 ticks of 100 ms in 2 s, one one-shot)" \
	test "$(counter "$t" ticks) $(counter "$t" oneshot)" = "20 1"

# --- the test can fail ---------------------------------------------------------------------
sed -i 's/^13 \(.*\): drop$/13 \1: accept/' "$T/cases/overload/overload.expected"
out=$(cd "$T" && netserv module test cases/overload 2>&1)
rc=$?
check "module test fails on an expected verdict that differs (status $rc)" \
	bash -c 'test "$0" = 1 && grep -q "^not ok 1 - overload" <<<"$1" && grep -q "got: *13 .*: drop" <<<"$1"' "$rc" "$out"
out=$(cd "$T" && netserv module test --update cases/overload 2>&1) &&
	out=$(cd "$T" && netserv module test cases/overload 2>&1)
check "module test --update rewrites it, and then passes" test $? = 0

out=$(cd "$T" && netserv module run cases/keepalive/keepalive.wasm --pcap cases/counter/udp5060.pcap \
	--property server=nonsense 2>&1)
rc=$?
check "a module that refuses to start: status 1 and its own message ($rc)" \
	bash -c 'test "$0" = 1 && grep -q "property server is not an address" <<<"$1"' "$rc" "$out"
tap_done
