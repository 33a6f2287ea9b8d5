#!/usr/bin/env bash
# The tutorial of docs/module-api.md, followed as written: every fenced block
# marked `sh tutorial` runs, in order, in one shell (set -e) in an empty
# directory, with the build's netserv first in PATH, as a user without root
# (uid 65534 when this runs as root); the output the doc shows
# (`tutorial-output` comments) must be what the command prints. So the doc
# cannot rot.
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

# The blocks, in order.
python3 - "$DOC" >"$T/tutorial.sh" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
blocks = re.findall(r"^```sh tutorial\n(.*?)^```$", text, re.S | re.M)
print("set -e")
for b in blocks:
    print(b)
PY
n=$(grep -c '^```sh tutorial$' "$DOC")
check "docs/module-api.md has the tutorial's blocks ($n)" test "$n" -ge 3
chmod a+r "$T/tutorial.sh"

# run CMD...: in the tutorial's environment, as the unprivileged user.
run() {
	env -i PATH="$T/bin:/usr/local/bin:/usr/bin:/bin" HOME="$T/home" \
		XDG_CACHE_HOME="$T/home/.cache" NETSERV_RUNTIME_DIR="$T/runtime" \
		NETSERV_SDK_DIR="$T/sdk" ${ASAN_OPTIONS:+ASAN_OPTIONS=$ASAN_OPTIONS} \
		${UBSAN_OPTIONS:+UBSAN_OPTIONS=$UBSAN_OPTIONS} "${as_user[@]}" "$@"
}
out=$(cd "$T/work" && run timeout 300 bash "$T/tutorial.sh" 2>&1)
rc=$?
check "the tutorial's commands all succeed, as written (status $rc)" test "$rc" = 0
[ "$rc" = 0 ] || diag "$(tail -30 <<<"$out")"
check "it built the module and kept a passing test case" \
	test -s "$T/work/portcount/portcount.wasm" -a -s "$T/work/portcount/cases/sample.expected"
check "the case's test passed (the last command's TAP line)" grep -q '^ok 1 - sample$' <<<"$out"

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
