#!/usr/bin/env bash
# Attack tests (docs/security.md) against a real netservd: forged, stale,
# replayed and wrong-user requests; REMOVE of another publisher's module;
# policy (prefixes, protocols, ports, listen ports, quotas, dependencies);
# module-hash; the reverse-routability check; a memory bomb that hurts only
# its own container; the publisher's tools (keygen, sign, verify).
# tests/daemon/test_security_path.sh covers the packet path (filters, crafted
# packets, seccomp, network namespaces).
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/tap.sh"
source "$here/../lib/daemon.sh"

now() { date +%s; }

# Keys: janedoe's comes from daemon.sh; bob is a second publisher; mallory
# has a key pair but is no publisher of this node.
"$NETSERV" keygen -d "$TEST_DIR" bob >/dev/null && cp "$TEST_DIR/bob.pub" "$KEYS/"
"$NETSERV" keygen -d "$TEST_DIR" mallory >/dev/null
JANE=$TEST_DIR/janedoe.key
BOB=$TEST_DIR/bob.key
MALLORY=$TEST_DIR/mallory.key

# --- the publisher's tools ----------------------------------------------------
check "keygen writes the secret key with mode 0600" test "$(stat -c %a "$JANE")" = 600
check "keygen writes the public key for keys_dir" grep -q '^netserv-ed25519-public ' "$KEYS/janedoe.pub"
"$NETSERV" keygen -d "$TEST_DIR" janedoe >/dev/null 2>&1
check "keygen never overwrites a key (exit 2)" test $? -eq 2
printf 'SETUP m NETSERV/0.1\nuser:janedoe\nurl:http://x/m.wasm\n' >"$TEST_DIR/plain.ncm"
"$NETSERV" sign -k "$JANE" "$TEST_DIR/plain.ncm" >"$TEST_DIR/signed.ncm"
check "sign adds timestamp, nonce and signature" \
	bash -c 'grep -q "^timestamp:[0-9]*$" "$1" && grep -q "^nonce:" "$1" && grep -q "^signature:" "$1"' _ "$TEST_DIR/signed.ncm"
check "verify accepts the signed request" \
	bash -c '"$0" verify -p "$1" "$2" >/dev/null' "$NETSERV" "$KEYS/janedoe.pub" "$TEST_DIR/signed.ncm"
sed 's|^url:.*|url:http://evil.example/m.wasm|' "$TEST_DIR/signed.ncm" >"$TEST_DIR/tampered.ncm"
"$NETSERV" verify -p "$KEYS/janedoe.pub" "$TEST_DIR/tampered.ncm" >/dev/null
check "verify refuses a tampered request (exit 1)" test $? -eq 1
chmod 644 "$MALLORY"
"$NETSERV" sign -k "$MALLORY" "$TEST_DIR/plain.ncm" >/dev/null 2>&1
check "sign refuses a secret key readable by others" test $? -eq 2
chmod 600 "$MALLORY"

# --- a node: janedoe with a narrow policy, bob, an HTTP server for the
# reverse-routability check --------------------------------------------------------
mkdir -p "$TEST_DIR/www/.well-known/netserv-rrc"
python3 -m http.server --bind 127.0.0.1 --directory "$TEST_DIR/www" 0 >"$TEST_DIR/http.log" 2>&1 &
HELPER_PIDS+=($!)
hport=
http_port() { hport=$(grep -oE 'port [0-9]+' "$TEST_DIR/http.log" | grep -oE '[0-9]+' | head -1); [ -n "$hport" ]; }
wait_until 5 http_port || diag "the HTTP server did not start"
LPORT=$((20000 + RANDOM % 10000))
PUBLISHER_POLICY="prefixes = 192.0.2.0/24, 2001:db8::/32
filter_protocols = udp
filter_ports = 5060-5069
listen_ports = tcp:$LPORT
max_modules = 4"
SECURITY_EXTRA="timestamp_window = 60
rrc_port = $hport
rrc_timeout = 2"
write_config
cat >>"$CONF" <<EOC
[publisher bob]
uid = 65533
rrc = yes
EOC
start_daemon || { not_ok "netservd starts with two publishers"; tap_done; exit 1; }
ok "netservd starts with two publishers and [security] settings"

# ncm ID [HEADER LINES]: a SETUP of janedoe for $MOD_PATH/$MOD_HASH.
ncm() {
	printf 'SETUP %s NETSERV/0.1\nuser:%s\nurl:file://%s\nmodule-hash:%s\n' "$1" \
		"${USER_:-janedoe}" "$MOD_PATH" "$MOD_HASH"
	[ -n "${2:-}" ] && printf '%s\n' "$2"
	printf '\n'
}
send_raw() { NETSERV_KEY= ctl send -; }     # as given: no signing by ctl
send_as() { NETSERV_KEY=$1 ctl send -; }    # signed with key $1
installed() { status_json "'$1' in mods"; }
code() { head -1 <<<"$1" | cut -d' ' -f2; }

make_module jane counter

# --- unsigned, forged, wrong user, stale, replayed ------------------------------------
out=$(ncm NetServ.apps.A_1 "filter-proto:udp
filter-port:5060
filter-dst:192.0.2.10" | send_raw)
check "an unsigned SETUP answers 401" test "$(code "$out")" = 401
check "... saying the node requires signatures" grep -q '^reason:.*not signed' <<<"$out"
check "... and installs nothing" test "$(installed janedoe/NetServ.apps.A_1)" = False
check "... and fetches nothing" test ! -e "$STATE/modules/${MOD_HASH#sha256:}.wasm"

ncm NetServ.apps.A_1 "filter-proto:udp
filter-port:5060
filter-dst:192.0.2.10" | "$NETSERV" sign -k "$JANE" - >"$TEST_DIR/a.ncm"
sed 's|^filter-dst:.*|filter-dst:198.51.100.0/24|' "$TEST_DIR/a.ncm" | send_raw >"$TEST_DIR/out"
out=$(cat "$TEST_DIR/out")
check "a SETUP changed after signing answers 401" test "$(code "$out")" = 401
check "... saying the signature does not verify" grep -q '^reason:.*signature does not verify' <<<"$out"

out=$(ncm NetServ.apps.A_1 "filter-proto:udp
filter-port:5060
filter-dst:192.0.2.10" | send_as "$BOB")
check "janedoe's SETUP signed with bob's key answers 401" test "$(code "$out")" = 401
out=$(ncm NetServ.apps.A_1 | send_as "$MALLORY")
check "janedoe's SETUP signed by mallory (no publisher) answers 401" test "$(code "$out")" = 401
out=$(USER_=mallory ncm NetServ.apps.A_1 | send_as "$MALLORY")
check "mallory's own SETUP answers 403 (not a publisher here)" test "$(code "$out")" = 403
check "... saying so" grep -q '^reason:.*mallory is not a publisher on this node' <<<"$out"

ncm NetServ.apps.A_1 | "$NETSERV" sign -k "$JANE" -t $(($(now) - 3600)) - | send_raw >"$TEST_DIR/out"
out=$(cat "$TEST_DIR/out")
check "a SETUP signed an hour ago answers 401" test "$(code "$out")" = 401
check "... naming the stale timestamp" grep -q '^reason:.*stale timestamp' <<<"$out"
out=$(ncm NetServ.apps.A_1 | "$NETSERV" sign -k "$JANE" -t $(($(now) + 3600)) - | send_raw)
check "a SETUP signed an hour ahead answers 401" test "$(code "$out")" = 401
check "nothing was installed by any of them" test "$(installed janedoe/NetServ.apps.A_1)" = False

out=$(send_raw <"$TEST_DIR/a.ncm")
check "the genuine signed SETUP answers 200" test "$(code "$out")" = 200
out=$(send_raw <"$TEST_DIR/a.ncm")
check "the same bytes again (a replay) answer 401" test "$(code "$out")" = 401
check "... naming the replayed nonce" grep -q '^reason:.*replayed request' <<<"$out"

# --- REMOVE: nobody removes another publisher's module ---------------------------------
rm_ncm() { printf 'REMOVE %s NETSERV/0.1\nuser:%s\n\n' "$1" "$2"; }
out=$(rm_ncm NetServ.apps.A_1 janedoe | send_raw)
check "an unsigned REMOVE answers 401" test "$(code "$out")" = 401
out=$(rm_ncm NetServ.apps.A_1 janedoe | send_as "$BOB")
check "bob's REMOVE of janedoe's module (user janedoe) answers 401" test "$(code "$out")" = 401
out=$(rm_ncm NetServ.apps.A_1 bob | send_as "$BOB")
check "bob's REMOVE under his own name answers 404 (modules are per publisher)" test "$(code "$out")" = 404
out=$(rm_ncm NetServ.apps.A_1 janedoe | send_as "$MALLORY")
check "mallory's REMOVE answers 401" test "$(code "$out")" = 401
check "janedoe's module is still active" \
	test "$(status_json "mods['janedoe/NetServ.apps.A_1']['state']")" = active
rm_ncm NetServ.apps.A_1 janedoe | "$NETSERV" sign -k "$JANE" - >"$TEST_DIR/rm.ncm"
out=$(send_raw <"$TEST_DIR/rm.ncm")
check "janedoe's signed REMOVE answers 200" test "$(code "$out")" = 200
out=$(send_raw <"$TEST_DIR/rm.ncm")
check "the same REMOVE replayed answers 401" test "$(code "$out")" = 401

# --- policy ---------------------------------------------------------------------------
out=$(ncm NetServ.apps.B_1 "filter-proto:udp
filter-port:5060
filter-dst:198.51.100.7" | ctl send -)
check "a filter for a prefix janedoe does not hold answers 403" test "$(code "$out")" = 403
check "... naming the filter and the prefixes" grep -q '^reason:filter (src any, dst 198.51.100.7/32) is outside the prefixes authorized for janedoe' <<<"$out"
check "... and installs nothing" test "$(installed janedoe/NetServ.apps.B_1)" = False
out=$(ncm NetServ.apps.B_1 "filter-proto:udp
filter-port:5060" | ctl send -)
check "a filter with no address (everyone's traffic) answers 403" test "$(code "$out")" = 403
out=$(ncm NetServ.apps.B_1 "filter-proto:tcp
filter-port:5060
filter-dst:192.0.2.10" | ctl send -)
check "a protocol outside filter_protocols answers 403" \
	bash -c '[ "$(head -1 <<<"$1" | cut -d" " -f2)" = 403 ] && grep -q "protocol tcp" <<<"$1"' _ "$out"
out=$(ncm NetServ.apps.B_1 "filter-proto:udp
filter-port:80
filter-dst:192.0.2.10" | ctl send -)
check "a port outside filter_ports answers 403" \
	bash -c '[ "$(head -1 <<<"$1" | cut -d" " -f2)" = 403 ] && grep -q "port 80-80" <<<"$1"' _ "$out"
out=$(ncm NetServ.apps.B_1 "listen:tcp:22" | ctl send -)
check "listening on a port outside listen_ports answers 403" \
	bash -c '[ "$(head -1 <<<"$1" | cut -d" " -f2)" = 403 ] && grep -q "tcp:22" <<<"$1"' _ "$out"
out=$(ncm NetServ.apps.B_1 "properties:netserv.listen=tcp:22" | ctl send -)
check "a property in the node's reserved namespace answers 403" test "$(code "$out")" = 403
out=$(ncm NetServ.apps.B_1 "filter-proto:udp
filter-port:5061
filter-dst:2001:db8::7" | ctl send -)
check "an IPv6 filter inside the prefixes answers 200" test "$(code "$out")" = 200

# A listening socket the policy allows: the container opens it for the module
# (in the node's namespace here) and closes it with the module.
make_module srv passthrough
out=$(ncm NetServ.apps.Srv_1 "listen:tcp:$LPORT" | ctl send -)
check "a SETUP listening on an allowed port answers 200" test "$(code "$out")" = 200
banner=$(timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$LPORT && head -1 <&3" 2>/dev/null)
check "its container answers on tcp:$LPORT ('$banner')" \
	test "$banner" = "netserv janedoe NetServ.apps.Srv_1 tcp:$LPORT"
rm_ncm NetServ.apps.Srv_1 janedoe | ctl send - >/dev/null
timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$LPORT" 2>/dev/null
check "after REMOVE the port is closed" test $? -ne 0

# Quota: at most 4 modules for janedoe.
for i in 1 2 3; do
	make_module q$i passthrough
	ncm NetServ.apps.Q${i}_1 | ctl send - >/dev/null
done
make_module q4 passthrough
out=$(ncm NetServ.apps.Q4_1 | ctl send -)
check "a fifth module answers 403 (max_modules = 4)" \
	bash -c '[ "$(head -1 <<<"$1" | cut -d" " -f2)" = 403 ] && grep -q "its limit" <<<"$1"' _ "$out"
out=$(ncm NetServ.apps.Q3_1 "ttl:60" | ctl send -)
check "... while replacing one of the four is fine" test "$(code "$out")" = 200
for i in 1 2 3; do rm_ncm NetServ.apps.Q${i}_1 janedoe | ctl send - >/dev/null; done

# --- module hash, dependencies ----------------------------------------------------------
make_module dep passthrough
good_hash=$MOD_HASH
MOD_HASH=sha256:$(printf '%064d' 7)
out=$(ncm NetServ.apps.H_1 | ctl send -)
check "a module-hash mismatch answers 422" test "$(code "$out")" = 422
check "... naming the expected hash, not the file's (file://)" \
	bash -c 'grep -q "^reason:module-hash mismatch: expected $1$" <<<"$3" && ! grep -q "${2#sha256:}" <<<"$3"' _ "$MOD_HASH" "$good_hash" "$out"
MOD_HASH=$good_hash
out=$(ncm NetServ.apps.D_1 "dependencies:ns_log,ns_send_packet" | ctl send -)
check "dependencies among the node's building blocks answer 200" test "$(code "$out")" = 200
out=$(ncm NetServ.apps.D_2 "dependencies:ns_log,ns_socket_listen" | ctl send -)
check "a missing dependency answers 422" test "$(code "$out")" = 422
check "... naming it" grep -q "^reason:missing dependency 'ns_socket_listen'" <<<"$out"
out=$(ncm NetServ.apps.D_3 "dependencies:NetServ.apps.D_1" | ctl send -)
check "a dependency on an installed module of the same publisher answers 200" test "$(code "$out")" = 200
out=$(USER_=bob ncm NetServ.apps.D_4 "dependencies:NetServ.apps.D_1" | send_as "$BOB")
check "... but not on another publisher's module (422)" test "$(code "$out")" = 422
for m in D_1 D_3 B_1; do rm_ncm NetServ.apps.$m janedoe | ctl send - >/dev/null; done

# --- the reverse-routability check (bob: rrc = yes, no prefixes) ----------------------------
make_module rrc counter
bob_ncm() {
	USER_=bob ncm "$1" "filter-proto:udp
filter-port:5060
filter-dst:$2"
}
out=$(bob_ncm NetServ.apps.R_1 127.0.0.1 | send_as "$BOB")
check "bob's filter for 127.0.0.1 without proof answers 403" test "$(code "$out")" = 403
pw=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
echo "$pw" >"$TEST_DIR/www/.well-known/netserv-rrc/bob"
out=$(bob_ncm NetServ.apps.R_1 127.0.0.1 | NETSERV_KEY= "$NETSERV" sign -k "$BOB" \
	--rrc-address 127.0.0.1 --rrc-password "$pw" - 2>"$TEST_DIR/sign.err" | send_raw)
check "sign --rrc-address says where to serve the password" \
	grep -q "http://127.0.0.1/.well-known/netserv-rrc/bob" "$TEST_DIR/sign.err"
check "with the password served at the address, the SETUP answers 200" test "$(code "$out")" = 200
check "the node fetched the password from the address" \
	grep -q 'GET /.well-known/netserv-rrc/bob' "$TEST_DIR/http.log"
out=$(bob_ncm NetServ.apps.R_2 127.0.0.1 | NETSERV_KEY= "$NETSERV" sign -k "$BOB" \
	--rrc-address 127.0.0.1 --rrc-password "$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')" - 2>/dev/null | send_raw)
check "with another password there, it answers 403" test "$(code "$out")" = 403
check "... saying the address does not serve it" grep -q '^reason:.*does not serve the SETUP' <<<"$out"
out=$(bob_ncm NetServ.apps.R_3 127.0.0.1 | NETSERV_KEY= "$NETSERV" sign -k "$BOB" \
	--rrc-address 127.0.0.3 --rrc-password "$pw" - 2>/dev/null | send_raw)
check "proving another address than the filter's answers 403 without a fetch" test "$(code "$out")" = 403

# A claimed address that accepts and never answers: the check runs on the
# event loop; the node goes on answering meanwhile. The server writes
# "listening", then "accepted" for each connection.
python3 - "$hport" "$TEST_DIR/hang.server" <<'PY' &
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.2", int(sys.argv[1]))); s.listen(8)
log = open(sys.argv[2], "a", buffering=1)
log.write("listening\n")
conns = []
end = time.time() + 10
while time.time() < end:
    s.settimeout(0.5)
    try:
        c, _ = s.accept(); conns.append(c)
        log.write("accepted\n")
    except socket.timeout:
        pass
PY
HELPER_PIDS+=($!)
wait_line "$TEST_DIR/hang.server" '^listening' || diag "the hanging server did not start"
bob_ncm NetServ.apps.R_4 127.0.0.2 | NETSERV_KEY= "$NETSERV" sign -k "$BOB" \
	--rrc-address 127.0.0.2 --rrc-password "$pw" - 2>/dev/null >"$TEST_DIR/hang.ncm"
send_raw <"$TEST_DIR/hang.ncm" >"$TEST_DIR/hang.out" &
hang_pid=$!
# The node's check has connected and now hangs (rrc_timeout 2 s).
check "the node's check connects to the claimed address (and hangs there)" \
	wait_line "$TEST_DIR/hang.server" '^accepted' 1.5
t0=$(date +%s%N)
ctl status >/dev/null
t1=$(date +%s%N)
check "status answers in under 500 ms while a check hangs ($(((t1 - t0) / 1000000)) ms)" \
	test $(((t1 - t0) / 1000000)) -lt 500
wait "$hang_pid"
check "the hung check ends in 403 after rrc_timeout" \
	bash -c 'grep -q "^NETSERV/0.1 403" "$1" && grep -q "did not answer within 2 s" "$1"' _ "$TEST_DIR/hang.out"

# --- a memory bomb hurts only its own container -------------------------------------------
make_module bobcounter counter
USER_=bob ncm NetServ.apps.BobCounter_1 | send_as "$BOB" >/dev/null
pid_of() { status_json "mods['$1']['runtime']['container_pid']"; }
bob_pid=$(pid_of bob/NetServ.apps.BobCounter_1)
make_module jc counter
ncm NetServ.apps.JaneCounter_1 | ctl send - >/dev/null
jane_pid=$(pid_of janedoe/NetServ.apps.JaneCounter_1)
make_module bomb bad_membomb
out=$(ncm NetServ.apps.Bomb_1 "properties:bomb_in=init" | ctl send -)
check "a module that exhausts its memory is refused (422)" test "$(code "$out")" = 422
check "... stopped by its memory limit (memory.grow failed)" grep -q 'memory.grow failed at' "$DAEMON_LOG"
check "its publisher's container lives on (same pid, other module active)" \
	test "$(pid_of janedoe/NetServ.apps.JaneCounter_1)" = "$jane_pid"
check "the other publisher's container is untouched (same pid $bob_pid)" \
	test "$(pid_of bob/NetServ.apps.BobCounter_1)" = "$bob_pid"
check "... and its module is active" \
	test "$(status_json "mods['bob/NetServ.apps.BobCounter_1']['state']")" = active

# --- counters, restarts -------------------------------------------------------------------
check "status counts the refusals (replayed, stale, bad signatures, forbidden)" \
	test "$(status_json "(lambda c: c['replayed'] >= 2 and c['stale'] >= 2 and c['bad_signature'] >= 3 and c['forbidden'] >= 5)(s['security']['counters'])")" = True

# A replay after a restart is still a replay (nonces are in the database).
make_module late passthrough
ncm NetServ.apps.Late_1 | "$NETSERV" sign -k "$JANE" - >"$TEST_DIR/late.ncm"
send_raw <"$TEST_DIR/late.ncm" >/dev/null
rm_ncm NetServ.apps.Late_1 janedoe | ctl send - >/dev/null
kill_daemon
start_daemon || not_ok "netservd restarts"
out=$(send_raw <"$TEST_DIR/late.ncm")
check "after a restart (SIGKILL) the replayed SETUP still answers 401" test "$(code "$out")" = 401
check "janedoe's modules survived the restart" \
	test "$(installed janedoe/NetServ.apps.JaneCounter_1)" = True

# The operator narrows a policy: at the next start, what it no longer allows fails.
make_module narrow counter
out=$(ncm NetServ.apps.N_1 "filter-proto:udp
filter-port:5062
filter-dst:192.0.2.99" | ctl send -)
check "a module inside 192.0.2.0/24 answers 200" test "$(code "$out")" = 200
stop_daemon
sed -i 's|^prefixes = 192.0.2.0/24, 2001:db8::/32|prefixes = 2001:db8::/32|' "$CONF"
start_daemon || not_ok "netservd restarts with the narrower policy"
check "after the policy changed, the module is failed with the reason" \
	test "$(status_json "(lambda m: m['state'] + ' ' + str('outside the prefixes' in (m['reason'] or '')))(mods['janedoe/NetServ.apps.N_1'])")" = "failed True"
check "netservd stops cleanly" stop_daemon

# --- signatures off, explicitly ---------------------------------------------------------------
PUBLISHER_POLICY="prefixes = any" SECURITY_EXTRA="require_signatures = no" write_config
start_daemon || not_ok "netservd starts with require_signatures = no"
make_module nosig passthrough
out=$(ncm NetServ.apps.U_1 | send_raw)
check "with require_signatures = no an unsigned SETUP answers 200" test "$(code "$out")" = 200
out=$(ncm NetServ.apps.U_2 | send_as "$BOB")
check "... but a signature that does not verify still answers 401" test "$(code "$out")" = 401
check "the node warns that signatures are off" grep -q 'require_signatures = no' "$DAEMON_LOG"
check "netservd stops cleanly" stop_daemon

tap_done
