#!/usr/bin/env bash
# KeepAlive Responder (modules/keepalive.c), end to end: a SIPp client behind
# a NetServ router sends NAT keep-alives to a SIPp server (client -- router
# -- server in network namespaces, netservd with the netfilter plane, or the
# AF_XDP plane with NETSERV_PLANE=xdp).
#   - without the module the server answers every keep-alive;
#   - with it, the router answers every NOTIFY keep-alive and OPTIONS ping
#     on the server's behalf (the 200's To tag is the module's) and the
#     server receives none; other requests (NOTIFY of another event) still
#     reach the server and are answered by it;
#   - the RFC 5626 CRLF ping and STUN Binding keep-alives, and a NOTIFY over
#     IPv6, are answered from the server's address and port (a Python client
#     checks the bytes; its kernel checks the UDP checksums);
#   - after REMOVE the server answers again.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
source "$here/../lib/tap.sh"

if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP needs root"
	exit 0
fi
if ! command -v sipp >/dev/null; then
	echo "1..0 # SKIP needs sipp (Debian package sip-tester)"
	exit 0
fi
source "$here/../lib/sip_router.sh"
SC=$top/tests/sip
N=${KA_COUNT:-100}
RATE=${KA_RATE:-50}

sr_start || { not_ok "netservd starts in the router"; tap_done; exit 1; }
ok "netservd runs in the router namespace ($SR_CLIENT -- router -- $SR_SERVER)"

# The SIP server: answers NOTIFY, OPTIONS and REGISTER with its own To tag.
mkdir -p "$SR_WORK/server"
sr_spawn server "$SR_WORK/server/out" bash -c "cd '$SR_WORK/server' && exec sipp -sf '$SC/uas.xml' \
	-i $SR_SERVER -p 5060 -trace_counts -nostdin"
SERVER_PID=$SR_LAST_PID
sipp_listens() { [ -n "$(topo_exec server ss -Hlun "sport = :5060")" ]; }
wait_until 5 sipp_listens || diag "the SIP server does not listen on 5060"

# client PHASE SCENARIO COUNT [SIPP ARGS...]: runs the SIPp client; sets
# C_OK (calls that got their 200), C_BY_ROUTER, C_BY_SERVER (whose To tag
# is the module's or the server's).
client() {
	local phase=$1 sc=$2 n=$3 dir=$SR_WORK/$1
	shift 3
	mkdir -p "$dir"
	topo_exec client bash -c "cd '$dir' && timeout 60 sipp $SR_SERVER:5060 -sf '$SC/$sc.xml' \
		-i $SR_CLIENT -p 5061 -m $n -r $RATE -l 50 -trace_logs -trace_counts -nostdin $* \
		>'$dir/out' 2>&1"
	C_RC=$?
	C_OK=$(sr_counts "$(ls "$dir"/*_counts.csv)" 1_200_Recv)
	C_BY_ROUTER=$(cat "$dir"/*_logs.log 2>/dev/null | grep -c 'answered-by nska')
	C_BY_SERVER=$(cat "$dir"/*_logs.log 2>/dev/null | grep -c 'answered-by srv')
}

# --- 1. without the module -----------------------------------------------------
client plain ka_notify "$N" -key event keep-alive
check "without the module: $N keep-alive NOTIFYs all answered (sipp status $C_RC, $C_OK answered)" \
	test "$C_RC" = 0 -a "$C_OK" = "$N"
check "without the module: the server answered all of them ($C_BY_SERVER)" test "$C_BY_SERVER" = "$N"
SERVER_EXPECT=$N

# --- 2. with the module --------------------------------------------------------
# `answer` carries commas, escaped (docs/protocol.md): the SETUP succeeds only
# if the node decodes them and the module gets the list whole (a split value
# is a malformed header; an undecoded one a list the module refuses).
out=$(sr_setup NetServ.apps.KeepAlive_1.0.0 keepalive filter-proto:udp filter-port:5060 \
	'properties:server_port=5060,answer=notify\,options\,crlf\,stun')
check "SETUP of the KeepAlive Responder answers 200 (answer=notify\\,options\\,crlf\\,stun)" \
	grep -q '^NETSERV/0.1 200' <<<"$out"

client ka ka_notify "$N" -key event keep-alive
check "with the module: $N keep-alive NOTIFYs all answered (sipp status $C_RC, $C_OK answered)" \
	test "$C_RC" = 0 -a "$C_OK" = "$N"
check "with the module: the router answered every one ($C_BY_ROUTER by the module, $C_BY_SERVER by the server)" \
	test "$C_BY_ROUTER" = "$N" -a "$C_BY_SERVER" = 0

client options ka_options 20
check "OPTIONS pings: all 20 answered by the router ($C_BY_ROUTER; server $C_BY_SERVER)" \
	test "$C_RC" = 0 -a "$C_BY_ROUTER" = 20 -a "$C_BY_SERVER" = 0

client other ka_notify 20 -key event message-summary
check "other requests (NOTIFY message-summary) reach the server and are answered by it ($C_BY_SERVER of 20)" \
	test "$C_RC" = 0 -a "$C_BY_SERVER" = 20 -a "$C_BY_ROUTER" = 0
SERVER_EXPECT=$((SERVER_EXPECT + 20))

# RFC 5626 keep-alives and IPv6, from a Python client on the SIP port.
py_out=$(topo_exec client python3 - "$SR_CLIENT" "$SR_SERVER" "$SR_CLIENT6" "$SR_SERVER6" <<'PY'
import socket, struct, sys, os
c4, s4, c6, s6 = sys.argv[1:5]

def exchange(fam, local, server, payload):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.bind((local, 5062))
    s.settimeout(2)
    s.sendto(payload, (server, 5060))
    try:
        data, peer = s.recvfrom(65535)
    except socket.timeout:
        return None, None
    finally:
        s.close()
    return data, peer[:2]

# CRLF ping -> CRLF pong, from the server's address and port
d, p = exchange(socket.AF_INET, c4, s4, b"\r\n\r\n")
print("crlf", "ok" if d == b"\r\n" and p == (s4, 5060) else "bad %r %r" % (d, p))

# STUN Binding over IPv4 and IPv6 -> success with XOR-MAPPED-ADDRESS
for fam, local, server, alen in ((socket.AF_INET, c4, s4, 4), (socket.AF_INET6, c6, s6, 16)):
    tid = os.urandom(12)
    d, p = exchange(fam, local, server, struct.pack("!HHI", 1, 0, 0x2112A442) + tid)
    good = False
    if d and len(d) == 24 + 4 + alen and d[:2] == b"\x01\x01" and d[8:20] == tid and p == (server, 5060):
        xport = struct.unpack("!H", d[26:28])[0] ^ 0x2112
        key = d[4:20] if alen == 16 else d[4:8]
        addr = bytes(a ^ b for a, b in zip(d[28:28 + alen], key))
        good = xport == 5062 and addr == socket.inet_pton(fam, local)
    print("stun%d" % (4 if alen == 4 else 6), "ok" if good else "bad %r" % (d,))

# A keep-alive NOTIFY over IPv6, compact headers, no rport
msg = ("NOTIFY sip:registrar@[%s] SIP/2.0\r\n"
       "v: SIP/2.0/UDP [%s]:5062;branch=z9hG4bK6six\r\n"
       "f: <sip:ua@[%s]>;tag=six\r\nt: <sip:registrar@[%s]>\r\n"
       "i: v6-keepalive\r\nCSeq: 9 NOTIFY\r\no: keep-alive\r\nl: 0\r\n\r\n") % (s6, c6, c6, s6)
d, p = exchange(socket.AF_INET6, c6, s6, msg.encode())
text = d.decode() if d else ""
good = (text.startswith("SIP/2.0 200 OK\r\n") and p == (s6, 5060)
        and "\r\nVia: SIP/2.0/UDP [%s]:5062;branch=z9hG4bK6six\r\n" % c6 in text
        and "\r\nTo: <sip:registrar@[%s]>;tag=nska" % s6 in text
        and "\r\nCall-ID: v6-keepalive\r\n" in text and "\r\nCSeq: 9 NOTIFY\r\n" in text
        and text.endswith("\r\nContent-Length: 0\r\n\r\n"))
print("notify6", "ok" if good else "bad %r" % (text,))
PY
)
for what in crlf stun4 stun6 notify6; do
	line=$(grep "^$what " <<<"$py_out")
	check "$what keep-alive answered from the server's address and port (${line#* })" \
		test "${line#* }" = ok
done

c_notify=$(sr_counter NetServ.apps.KeepAlive_1.0.0 notify)
c_options=$(sr_counter NetServ.apps.KeepAlive_1.0.0 options)
c_crlf=$(sr_counter NetServ.apps.KeepAlive_1.0.0 crlf)
c_stun=$(sr_counter NetServ.apps.KeepAlive_1.0.0 stun)
c_answered=$(sr_counter NetServ.apps.KeepAlive_1.0.0 answered)
c_passed=$(sr_counter NetServ.apps.KeepAlive_1.0.0 passed)
diag "module counters: notify=$c_notify options=$c_options crlf=$c_crlf stun=$c_stun answered=$c_answered passed=$c_passed"
check "the module counted $((N + 1)) NOTIFY, 20 OPTIONS, 1 CRLF and 2 STUN keep-alives, $((N + 24)) answers" \
	test "$c_notify" = $((N + 1)) -a "$c_options" = 20 -a "$c_crlf" = 1 -a "$c_stun" = 2 \
	-a "$c_answered" = $((N + 24))
check "the module passed the 20 other requests" test "$c_passed" = 20

# --- 3. after REMOVE -----------------------------------------------------------
out=$(sr_remove NetServ.apps.KeepAlive_1.0.0)
check "REMOVE answers 200" grep -q '^NETSERV/0.1 200' <<<"$out"
client after ka_notify 20 -key event keep-alive
check "after REMOVE the server answers the keep-alives again ($C_BY_SERVER of 20)" \
	test "$C_RC" = 0 -a "$C_BY_SERVER" = 20
SERVER_EXPECT=$((SERVER_EXPECT + 20))

# --- the server's own count ------------------------------------------------------
sr_sipp_stop "$SERVER_PID"
got=$(sr_counts "$(ls "$SR_WORK"/server/*_counts.csv)" 0_NOTIFY_Recv)
opt=$(sr_counts "$(ls "$SR_WORK"/server/*_counts.csv)" 1_OPTIONS_Recv)
diag "the server received $got NOTIFYs and $opt OPTIONS in all"
check "the server received exactly the NOTIFYs not answered by the router ($got = $SERVER_EXPECT: none of the $N keep-alives)" \
	test "$got" = "$SERVER_EXPECT"
check "the server received no OPTIONS ping ($opt)" test "$opt" = 0

sr_stop
check "namespaces are gone" test -z "$(topo_leftovers)"
tap_done
