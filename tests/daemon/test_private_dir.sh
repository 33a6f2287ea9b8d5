#!/usr/bin/env bash
# A node that lives in private directories, as a checkout in root's home
# (mode 0700) does: the module compiler runs as an unprivileged user and must
# not need to read the source tree, the installation or the state directory.
#   1. an installed node (cmake --install into a prefix under a 0700
#      directory): the installed SDK builds a module, the node finds its own
#      runtime sources, compiles the module as the sandbox user, runs it;
#   2. (normal build's pass only: it builds the project once more, the
#      targets the checks use) a copy of the checkout inside a 0700
#      directory: its build, its test_aot and its `make demo` script pass.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
source "$here/../lib/tap.sh"
source "$here/../lib/daemon.sh"

if [ "$(id -u)" -ne 0 ]; then
	diag "needs root (the sandbox user exists only for a root node)"
	tap_done
	exit 0
fi

PRIV=$TEST_DIR/home
mkdir -m 0700 "$PRIV"
check "the test's home is private (0700, root's)" test "$(stat -c '%a %U' "$PRIV")" = "700 root"

# --- 1. an installed node ------------------------------------------------------
PREFIX=$PRIV/prefix
if cmake --install "$NETSERV_BUILD" --prefix "$PREFIX" >"$TEST_DIR/install.log" 2>&1; then
	ok "cmake --install into a prefix under a 0700 directory"
else
	not_ok "cmake --install into a prefix under a 0700 directory"
	sed 's/^/#   /' "$TEST_DIR/install.log" | tail -n 20
fi
NETSERVD=$PREFIX/sbin/netservd
NETSERV=$PREFIX/bin/netserv

mkdir -m 0700 "$PRIV/src"
cp "$top/modules/counter.c" "$PRIV/src/"
out=$("$NETSERV" module build "$PRIV/src/counter.c" -o "$PRIV/counter.wasm" 2>&1)
check "the installed netserv module build makes a module from a private directory" \
	test -s "$PRIV/counter.wasm"
[ -s "$PRIV/counter.wasm" ] || diag "$out"

write_config
if start_daemon; then
	ok "the installed netservd starts"
	check "it takes the runtime sources from its own prefix" \
		grep -q "runtime sources from $PREFIX/share/netserv/runtime" "$DAEMON_LOG"
	hash=sha256:$(sha256sum "$PRIV/counter.wasm" | cut -d' ' -f1)
	out=$(printf 'SETUP NetServ.apps.Counter_1.0 NETSERV/0.1\nuser:janedoe\nurl:file://%s\nmodule-hash:%s\nfilter-proto:udp\nfilter-port:7000\n\n' \
		"$PRIV/counter.wasm" "$hash" | "$NETSERV" ctl --socket "$SOCK" send -)
	if grep -q '^state:active' <<<"$out"; then
		ok "a module fetched from, compiled in and run from private directories is active"
	else
		not_ok "a module fetched from, compiled in and run from private directories is active"
		sed 's/^/#   /' <<<"$out"
	fi
	check "the compiled module is in the private state directory" \
		test -f "$STATE/so/${hash#sha256:}-g3.so"
	check "netservd stops cleanly" stop_daemon
else
	not_ok "the installed netservd starts"
fi

# --- 2. a checkout inside a 0700 directory ---------------------------------------
if [ "$(basename "$NETSERV_BUILD")" != build ]; then
	diag "the private checkout is built and run once, in the normal build's pass"
	tap_done
	exit
fi
CO=$PRIV/netserv
mkdir "$CO"
tar -C "$top" --exclude='./build' --exclude='./build-*' --exclude='./.git' -cf - . |
	tar -C "$CO" -xf -
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
if cmake -S "$CO" -B "$CO/build" "${gen[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	>"$TEST_DIR/build.log" 2>&1 && cmake --build "$CO/build" --target netservd netserv \
	netserv-container modules udpblast udpcount test_aot >>"$TEST_DIR/build.log" 2>&1; then
	ok "a checkout inside a 0700 directory builds"
else
	not_ok "a checkout inside a 0700 directory builds"
	tail -n 20 "$TEST_DIR/build.log" | sed 's/^/#   /'
fi

if out=$("$CO/build/test_aot" 2>&1); then
	ok "its test_aot passes (compiles as the sandbox user from the private tree)"
else
	not_ok "its test_aot passes (compiles as the sandbox user from the private tree)"
	grep -E 'ERROR|FAILED|error' <<<"$out" | head -n 20 | sed 's/^/#   /'
fi

if env -u NETSERV_BUILD -u NETSERV_KEY "$CO/scripts/demo" >"$TEST_DIR/demo.log" 2>&1; then
	ok "its make demo script runs to the end"
else
	not_ok "its make demo script runs to the end"
	tail -n 30 "$TEST_DIR/demo.log" | sed 's/^/#   /'
fi
# A user who cannot read the checkout is told why the SDK is not found.
PUB=$(mktemp -d /tmp/netserv-pub.XXXXXX)
trap 'rm -rf "$PUB"; cleanup' EXIT
chmod 0755 "$PUB"
cp "$CO/build/netserv" "$top/modules/counter.c" "$PUB/"
chmod 0755 "$PUB/netserv"
chmod 0644 "$PUB/counter.c"
out=$(cd "$PUB" && setpriv --reuid=65534 --regid=65534 --clear-groups \
	"$PUB/netserv" module build "$PUB/counter.c" -o "$PUB/c.wasm" 2>&1)
if grep -q "the module SDK of this build ($CO/sdk) is not readable by this user" <<<"$out"; then
	ok "a user who cannot read the checkout is told why netserv module build finds no SDK"
else
	not_ok "a user who cannot read the checkout is told why netserv module build finds no SDK"
	diag "$out"
fi
check "the demo's module counted the publisher's 1000 datagrams on both nodes" \
	test "$(grep -cE 'packets[=: ]+1000\b' "$TEST_DIR/demo.log")" -ge 2
tap_done
