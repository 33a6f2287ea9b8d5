#!/usr/bin/env bash
# The tutorial of docs/module-api.md, followed as written, from an empty
# directory to a deployed module. Every fenced block marked `sh tutorial`
# (the publisher's) runs as a user without root (uid 65534 when this runs as
# root), starting in an empty directory, with the build's netserv first in
# PATH; every block marked `sh tutorial-node` (the node operator's) runs as
# root. Blocks run in order, consecutive ones of one role in one shell
# (set -e). As root, the deployment is real: publisher -- node -- server in
# network namespaces of this test, netservd in the node with the installed
# etc/netservd.conf but for its state directory, admin socket, keys_dir and
# cgroup (this run's own); the doc's $SERVER, $PUBLISHER and $CONF are the
# test's. Without root only the blocks before the first node block run. The
# outputs the doc shows must be what the commands print: `tutorial-output`
# comments (a command, rerun afterwards, prints exactly that block) and
# `tutorial-shows` comments (those lines, `...` matching anything, appear in
# that order in what the tutorial printed). So the doc cannot rot.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
source "$here/../lib/tap.sh"
B=${NETSERV_BUILD:-$top/build}
DOC=$top/docs/module-api.md

if [ ! -x "$B/netserv" ]; then
	echo "1..0 # SKIP needs a build ($B/netserv)"
	exit 0
fi
if ! command -v clang >/dev/null; then
	echo "1..0 # SKIP needs clang and lld"
	exit 0
fi

T=$(mktemp -d /tmp/netserv-tutorial.XXXXXX)
trap 'rm -rf "$T"' EXIT
chmod 755 "$T"
mkdir -p "$T/bin" "$T/runtime" "$T/sdk" "$T/home" "$T/work"
cp "$B/netserv" "$T/bin/"
cp "$top"/src/abi/*.c "$top"/src/abi/*.h "$T/runtime/"
cp -r "$top/sdk/include" "$top/sdk/src" "$T/sdk/"
chmod -R a+rX "$T"
as_user=()
if [ "$(id -u)" -eq 0 ]; then
	chown 65534:65534 "$T/home" "$T/work"
	as_user=(setpriv --reuid 65534 --regid 65534 --clear-groups)
fi

# The blocks, in order, by role: `sh tutorial` (the publisher) and
# `sh tutorial-node` (the node's operator). Consecutive blocks of one role
# form a segment, run in one shell (set -e) that starts in the directory the
# role's previous segment ended in.
python3 - "$DOC" "$T/seg" <<'PY2'
import os, re, sys
text = open(sys.argv[1]).read()
os.makedirs(sys.argv[2])
segs = []
for role, body in re.findall(r"^```sh (tutorial|tutorial-node)\n(.*?)^```$", text, re.S | re.M):
    role = "pub" if role == "tutorial" else "node"
    if segs and segs[-1][0] == role:
        segs[-1][1].append(body)
    else:
        segs.append((role, [body]))
for i, (role, bodies) in enumerate(segs):
    with open(os.path.join(sys.argv[2], "%02d.%s" % (i, role)), "w") as f:
        f.write('set -e\ncd "$(cat "$CWD_FILE")"\n')
        f.write("\n".join(bodies))
        f.write('\npwd >"$CWD_FILE"\n')
PY2
n=$(grep -c '^```sh tutorial$' "$DOC")
nn=$(grep -c '^```sh tutorial-node$' "$DOC")
check "docs/module-api.md has the tutorial's blocks ($n publisher's, $nn the node's)" \
	test "$n" -ge 3 -a "$nn" -ge 1
chmod -R a+rX "$T/seg"
mkdir -p "$T/cwd"
echo "$T/work" >"$T/cwd/pub"
chown -R 65534:65534 "$T/cwd" 2>/dev/null

# The node (root only): publisher -- node -- server in network namespaces of
# this test; netservd's configuration is the installed one (etc/netservd.conf)
# with this run's own state directory, admin socket, keys and cgroup.
deploy=
if [ "$(id -u)" -eq 0 ] && command -v ip >/dev/null && [ -x "$B/netservd" ]; then
	deploy=1
fi
in_ns=()
if [ -n "$deploy" ]; then
	source "$here/../lib/topo.sh"
	cleanup_tut() {
		topo_destroy
		cgroups_remove "netserv-tut-$TOPO_TAG"
		[ -n "${KEEP_LOG:-}" ] && cp "$T/node/netservd.log" "$KEEP_LOG" 2>/dev/null
		[ -n "${KEEP_OUT:-}" ] && cp "$T/out" "$KEEP_OUT"
		rm -rf "$T"
	}
	trap cleanup_tut EXIT
	topo_create publisher node server || { not_ok "topology"; tap_done; exit 1; }
	SERVER=$(topo_addr server)
	PUBLISHER=$(topo_addr publisher)
	mkdir -p "$T/node" "$T/etc/keys"
	chmod 0711 "$T/node"
	echo "$T/node" >"$T/cwd/node"
	CONF=$T/etc/netservd.conf
	sed -e "s|^state_dir = .*|state_dir = $T/node/state|" \
		-e "s|^admin_socket = .*|admin_socket = $T/node/admin.sock|" \
		-e "s|^cgroup = .*|cgroup = netserv-tut-$TOPO_TAG|" \
		-e "s|^;keys_dir = .*|keys_dir = $T/etc/keys|" "$top/etc/netservd.conf" >"$CONF"
	check "the node's configuration is the installed one but for its paths and cgroup" \
		test "$(diff "$top/etc/netservd.conf" "$CONF" | grep -c '^>')" = 4
	in_ns=(ip netns exec "$(topo_ns publisher)")
fi

# run CMD...: in the tutorial's environment, as the unprivileged user (on the
# publisher's host when there is one).
run() {
	"${in_ns[@]}" env -i PATH="$T/bin:/usr/local/bin:/usr/bin:/bin" HOME="$T/home" \
		XDG_CACHE_HOME="$T/home/.cache" NETSERV_RUNTIME_DIR="$T/runtime" \
		NETSERV_SDK_DIR="$T/sdk" ${ASAN_OPTIONS:+ASAN_OPTIONS=$ASAN_OPTIONS} \
		${UBSAN_OPTIONS:+UBSAN_OPTIONS=$UBSAN_OPTIONS} \
		${SERVER:+SERVER=$SERVER PUBLISHER=$PUBLISHER} "${as_user[@]}" "$@"
}
# run_node CMD...: as root on the node.
run_node() {
	topo_exec node env -i PATH="$B:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
		HOME="$T/node" CONF="$CONF" SERVER="$SERVER" PUBLISHER="$PUBLISHER" \
		${ASAN_OPTIONS:+ASAN_OPTIONS=$ASAN_OPTIONS} \
		${UBSAN_OPTIONS:+UBSAN_OPTIONS=$UBSAN_OPTIONS} "$@"
}

rc=0
: >"$T/out"
chmod a+r "$T/out"
for s in "$T"/seg/*; do
	role=${s##*.}
	if [ "$role" = node ]; then
		[ -n "$deploy" ] || break
		# the publisher hands the operator her public key
		cp "$(cat "$T/cwd/pub")"/*.pub "$T/node/" 2>/dev/null
		run_node env CWD_FILE="$T/cwd/node" timeout 120 bash "$s" >>"$T/out" 2>&1
	else
		run env CWD_FILE="$T/cwd/pub" timeout 300 bash "$s" >>"$T/out" 2>&1
	fi
	rc=$?
	[ "$rc" = 0 ] || { diag "$(basename "$s") failed"; break; }
done
out=$(cat "$T/out")
check "the tutorial's commands all succeed, as written (status $rc)" test "$rc" = 0
[ "$rc" = 0 ] || diag "$(tail -30 <<<"$out")"
check "it built the module and kept a passing test case" \
	test -s "$T/work/portcount/portcount.wasm" -a -s "$T/work/portcount/cases/sample.expected"
check "the case's test passed (its TAP line)" grep -q '^ok 1 - sample$' <<<"$out"

if [ -n "$deploy" ]; then
	ctl() { topo_exec node "$B/netserv" ctl -c "$CONF" "$@"; }
	check "the publisher's SETUP was answered 200 by the node" \
		grep -qE '^SETUP portcount_1 toward [0-9.]+: 200 OK$' <<<"$out"
	check "the module counted the datagrams (status showed datagrams=3 empty=1)" \
		grep -qE '^ +counters: .*datagrams=3 empty=1' <<<"$out"
	left=$(ctl status --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["modules"]))')
	check "after the REMOVE the node runs no module ($left)" test "$left" = 0
	# Each excerpt the doc shows (`tutorial-shows`): its lines, in the doc's
	# order, are lines the tutorial printed (blanks at the ends aside; `...`
	# stands for anything).
	shows=$(python3 - "$DOC" "$T/out" <<'PY2'
import re, sys
text = open(sys.argv[1]).read()
out = [l.strip() for l in open(sys.argv[2], errors="replace").read().splitlines()]
at = 0
for body in re.findall(r"^<!-- tutorial-shows -->\n```\n(.*?)^```$", text, re.S | re.M):
    for want in body.splitlines():
        rx = re.compile(".*".join(re.escape(p) for p in want.strip().split("...")))
        for i in range(at, len(out)):
            if rx.fullmatch(out[i]):
                at = i + 1
                print("ok", want.strip())
                break
        else:
            print("missing", want.strip())
PY2
)
	n=$(grep -c '^<!-- tutorial-shows -->$' "$DOC")
	check "the doc shows excerpts of the deployment's outputs ($n)" test "$n" -ge 4
	while read -r verdict line; do
		check "the tutorial printed, in order, what the doc shows: '$line'" test "$verdict" = ok
	done <<<"$shows"
else
	ok "# SKIP deploying to a node needs root (network namespaces, netservd)"
fi

# Each output the doc shows: the command after `tutorial-output:` (run in the
# tutorial's directory) prints exactly the block that follows.
python3 - "$DOC" "$T/outputs" <<'PY'
import os, re, sys
text = open(sys.argv[1]).read()
os.makedirs(sys.argv[2], exist_ok=True)
for i, (cmd, body) in enumerate(re.findall(
        r"^<!-- tutorial-output: (.*?) -->\n```\n(.*?)^```$", text, re.S | re.M)):
    open(os.path.join(sys.argv[2], "%d.cmd" % i), "w").write(cmd)
    open(os.path.join(sys.argv[2], "%d.out" % i), "w").write(body)
PY
shown=0
for c in "$T"/outputs/*.cmd; do
	[ -e "$c" ] || continue
	shown=$((shown + 1))
	got=$(cd "$T/work/portcount" && run bash -c "$(cat "$c")" 2>/dev/null)
	want=$(cat "${c%.cmd}.out")
	check "the doc shows what '$(cat "$c")' prints" test "$got" = "$want"
	[ "$got" = "$want" ] || diag "$(diff <(echo "$want") <(echo "$got"))"
done
check "the doc shows at least one output" test "$shown" -ge 1

# The test can fail: a tutorial block that fails is reported.
printf 'set -e\nnetserv module run nothing.wasm --pcap none.pcap\n' >"$T/broken.sh"
chmod a+r "$T/broken.sh"
(cd "$T/work" && run bash "$T/broken.sh" >/dev/null 2>&1)
check "a failing command fails the run (so this test can fail)" test $? != 0
tap_done
