#!/usr/bin/env bash
# The module SDK: `netserv module build`, the shape of the modules it makes
# (imports, exports, memory), the modules built by CMake, and that the SDK
# header's constants agree with the node's ABI (src/abi/host_api.h).
# Needs clang, lld and wabt (wasm-objdump, wasm-interp).
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
source "$here/../lib/tap.sh"
: "${NETSERV_BUILD:?set NETSERV_BUILD to a build directory}"
NETSERV=$NETSERV_BUILD/netserv
MODULES=$NETSERV_BUILD/modules
SDK=$top/sdk
T=$(mktemp -d /tmp/netserv-sdk.XXXXXX)
trap 'rm -rf "$T"' EXIT
export NETSERV_SDK_DIR=$SDK

for tool in clang wasm-objdump wasm-interp; do
	command -v "$tool" >/dev/null || { not_ok "$tool is installed"; tap_done; exit 1; }
done

# wasm_summary FILE: one line per import, export and memory of a module:
#   import MODULE.NAME PARAMS RESULTS | export NAME KIND [PARAMS RESULTS] |
#   memory INITIAL MAX
# with the wasm types as in host_api.h ('i' i32, 'I' i64, '-' for none).
wasm_summary() {
	wasm-objdump -x "$1" | python3 -c '
import re, sys
letters = {"i32": "i", "i64": "I", "f32": "f", "f64": "F"}
def sig(params, results):
    p = "".join(letters.get(t.strip(), "?") for t in params.split(",") if t.strip())
    r = "" if results.strip() == "nil" else "".join(letters.get(t.strip(), "?") for t in results.split(","))
    return (p or "-") + " " + (r or "-")
types, funcs, out = {}, {}, []
for line in sys.stdin:
    m = re.match(r" - type\[(\d+)\] \((.*)\) -> (.*)$", line)
    if m:
        types[m[1]] = sig(m[2], m[3]); continue
    m = re.match(r" - func\[(\d+)\] sig=(\d+) <[^>]*> <- (\S+)$", line)
    if m:
        funcs[m[1]] = m[2]; out.append("import %s %s" % (m[3], types[m[2]])); continue
    m = re.match(r" - func\[(\d+)\] sig=(\d+)", line)
    if m:
        funcs[m[1]] = m[2]; continue
    m = re.match(r" - func\[(\d+)\] .*-> \"(.*)\"$", line)
    if m:
        out.append("export %s func %s" % (m[2], types[funcs[m[1]]])); continue
    m = re.match(r" - (memory|global|table)\[\d+\] .*-> \"(.*)\"$", line)
    if m:
        out.append("export %s %s" % (m[2], m[1])); continue
    m = re.match(r" - memory\[\d+\] pages: initial=(\d+)(?: max=(\d+))?", line)
    if m:
        out.append("memory %s %s" % (m[1], m[2] or "none"))
print("\n".join(sorted(out)))
'
}

# --- the node's side of the ABI, from src/abi/host_api.h ------------------
cat >"$T/host_abi.c" <<'EOF'
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "abi/host_api.h"

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "flags")) {
		printf("-DH_ABI_VERSION=%d -DH_PACKET_MAX=%d ", NS_ABI_VERSION, NS_PACKET_MAX);
		printf("-DH_ACCEPT=%d -DH_DROP=%d -DH_MODIFIED=%d ", NS_ACCEPT, NS_DROP, NS_MODIFIED);
		printf("-DH_LOG_ERR=%d -DH_LOG_WARN=%d -DH_LOG_INFO=%d -DH_LOG_DEBUG=%d ", NS_LOG_ERR,
		       NS_LOG_WARN, NS_LOG_INFO, NS_LOG_DEBUG);
		printf("-DH_META_SIZE=%zu ", sizeof(struct ns_pkt_meta));
#define OFF(f) printf("-DH_META_" #f "=%zu ", offsetof(struct ns_pkt_meta, f))
		OFF(hook);
		OFF(indev);
		OFF(outdev);
		OFF(mark);
		OFF(queue);
		OFF(sample_every);
		OFF(rx_time_ns);
#define E(e) printf("-DH_" #e "=%d ", e)
		E(EPERM);
		E(ENOENT);
		E(EAGAIN);
		E(ENOMEM);
		E(EACCES);
		E(EFAULT);
		E(EEXIST);
		E(EINVAL);
		E(ENOSPC);
		E(ERANGE);
		E(ENOSYS);
		E(EMSGSIZE);
		E(ENOTSUP);
		E(EHOSTUNREACH);
		E(EAFNOSUPPORT);
		E(EIO);
		E(EFBIG);
		E(ETIME);
		printf("-DH_MD5=%d -DH_SHA1=%d -DH_SHA256=%d -DH_SHA512=%d -DH_HASH_MAX=%d ", NS_MD5,
		       NS_SHA1, NS_SHA256, NS_SHA512, NS_HASH_MAX);
		printf("-DH_FETCH_HEADERS=%d -DH_FETCH_DATA=%d -DH_FETCH_DONE=%d ",
		       NS_HTTP_FETCH_HEADERS, NS_HTTP_FETCH_DATA, NS_HTTP_FETCH_DONE);
		printf("-DH_FETCH_GET=%d -DH_FETCH_HEAD=%d -DH_FETCH_STATUS=%d -DH_FETCH_RESULT=%d "
		       "-DH_FETCH_HDRS=%d ",
		       NS_FETCH_GET, NS_FETCH_HEAD, NS_FETCH_STATUS, NS_FETCH_RESULT,
		       NS_FETCH_HEADERS);
		printf("-DH_STORE_KEY_MAX=%d -DH_STORE_OBJECT_MAX=%u -DH_STORE_USAGE_SIZE=%zu ",
		       NS_STORE_KEY_MAX, NS_STORE_OBJECT_MAX, sizeof(struct ns_store_usage));
		printf("-DH_MEDIA_INPUT_MAX=%u -DH_MEDIA_TEXT_MAX=%d -DH_MEDIA_TIME_MS=%d ",
		       NS_MEDIA_INPUT_MAX, NS_MEDIA_TEXT_MAX, NS_MEDIA_TIME_MS);
		printf("\n");
		return 0;
	}
	/* The import list, as wasm_summary prints it. */
#define IMP(name, res, params, c_res, c_params)                                                    \
	printf("import netserv.%s %s %s\n", #name, *params ? params : "-", *res ? res : "-");
	NS_HOST_IMPORTS(IMP)
#define EXP(name, res, params, required)                                                           \
	printf("%s %s %s %d\n", #name, *params ? params : "-", *res ? res : "-", required);
	NS_MODULE_EXPORTS(EXP)
	return 0;
}
EOF
if cc -std=c17 -Wall -Wextra -Werror -Wno-unused-parameter -I"$top/src" "$T/host_abi.c" \
	-o "$T/host_abi" 2>"$T/host_abi.err"; then
	ok "a host-side program compiles against src/abi/host_api.h"
else
	not_ok "a host-side program compiles against src/abi/host_api.h"
	sed 's/^/# /' "$T/host_abi.err"
fi
"$T/host_abi" | grep '^import ' | sort >"$T/abi_imports"
"$T/host_abi" | grep -v '^import ' >"$T/abi_exports"
H_FLAGS=$("$T/host_abi" flags)

# --- the SDK header's constants equal the node's -----------------------------
cat >"$T/sdk_abi.c" <<'EOF'
#include <netserv.h>

#define EQ(a, b) _Static_assert((a) == (b), #a " == " #b);
EQ(NS_ABI_VERSION, H_ABI_VERSION)
EQ(NS_PACKET_MAX, H_PACKET_MAX)
EQ(NS_ACCEPT, H_ACCEPT)
EQ(NS_DROP, H_DROP)
EQ(NS_MODIFIED, H_MODIFIED)
EQ(NS_LOG_ERR, H_LOG_ERR)
EQ(NS_LOG_WARN, H_LOG_WARN)
EQ(NS_LOG_INFO, H_LOG_INFO)
EQ(NS_LOG_DEBUG, H_LOG_DEBUG)
EQ(sizeof(struct ns_pkt_meta), H_META_SIZE)
EQ(offsetof(struct ns_pkt_meta, hook), H_META_hook)
EQ(offsetof(struct ns_pkt_meta, indev), H_META_indev)
EQ(offsetof(struct ns_pkt_meta, outdev), H_META_outdev)
EQ(offsetof(struct ns_pkt_meta, mark), H_META_mark)
EQ(offsetof(struct ns_pkt_meta, queue), H_META_queue)
EQ(offsetof(struct ns_pkt_meta, sample_every), H_META_sample_every)
EQ(offsetof(struct ns_pkt_meta, rx_time_ns), H_META_rx_time_ns)
EQ(NS_EPERM, H_EPERM)
EQ(NS_ENOENT, H_ENOENT)
EQ(NS_EAGAIN, H_EAGAIN)
EQ(NS_ENOMEM, H_ENOMEM)
EQ(NS_EACCES, H_EACCES)
EQ(NS_EFAULT, H_EFAULT)
EQ(NS_EEXIST, H_EEXIST)
EQ(NS_EINVAL, H_EINVAL)
EQ(NS_ENOSPC, H_ENOSPC)
EQ(NS_ERANGE, H_ERANGE)
EQ(NS_ENOSYS, H_ENOSYS)
EQ(NS_EMSGSIZE, H_EMSGSIZE)
EQ(NS_ENOTSUP, H_ENOTSUP)
EQ(NS_EHOSTUNREACH, H_EHOSTUNREACH)
EQ(NS_EAFNOSUPPORT, H_EAFNOSUPPORT)
EQ(NS_EIO, H_EIO)
EQ(NS_EFBIG, H_EFBIG)
EQ(NS_ETIME, H_ETIME)
EQ(NS_MD5, H_MD5)
EQ(NS_SHA1, H_SHA1)
EQ(NS_SHA256, H_SHA256)
EQ(NS_SHA512, H_SHA512)
EQ(NS_HASH_MAX, H_HASH_MAX)
EQ(NS_STORE_KEY_MAX, H_STORE_KEY_MAX)
EQ(NS_STORE_OBJECT_MAX, H_STORE_OBJECT_MAX)
EQ(sizeof(struct ns_store_usage), H_STORE_USAGE_SIZE)
EQ(NS_MEDIA_INPUT_MAX, H_MEDIA_INPUT_MAX)
EQ(NS_MEDIA_TEXT_MAX, H_MEDIA_TEXT_MAX)
EQ(NS_MEDIA_TIME_MS, H_MEDIA_TIME_MS)
EQ(NS_HTTP_FETCH_HEADERS, H_FETCH_HEADERS)
EQ(NS_HTTP_FETCH_DATA, H_FETCH_DATA)
EQ(NS_HTTP_FETCH_DONE, H_FETCH_DONE)
EQ(NS_FETCH_GET, H_FETCH_GET)
EQ(NS_FETCH_HEAD, H_FETCH_HEAD)
EQ(NS_FETCH_STATUS, H_FETCH_STATUS)
EQ(NS_FETCH_RESULT, H_FETCH_RESULT)
EQ(NS_FETCH_HEADERS, H_FETCH_HDRS)
EOF
# shellcheck disable=SC2086
if out=$(clang --target=wasm32 -ffreestanding -nostdlibinc -fsyntax-only -I"$SDK/include" \
	$H_FLAGS "$T/sdk_abi.c" 2>&1); then
	ok "netserv.h constants and struct ns_pkt_meta (wasm32) agree with host_api.h and errno.h"
else
	not_ok "netserv.h constants and struct ns_pkt_meta (wasm32) agree with host_api.h and errno.h"
	sed 's/^/# /' <<<"$out"
fi
# shellcheck disable=SC2086
if out=$(cc -std=c17 -fsyntax-only -Wall -Wextra -Werror -I"$SDK/include" $H_FLAGS \
	"$T/sdk_abi.c" 2>&1); then
	ok "the same checks hold for a native build of netserv.h (no __wasm__)"
else
	not_ok "the same checks hold for a native build of netserv.h (no __wasm__)"
	sed 's/^/# /' <<<"$out"
fi
check "the SDK's ns_abi_version returns NS_ABI_VERSION" \
	grep -q 'return NS_ABI_VERSION;' "$SDK/src/netserv_sdk.c"

# --- netserv module build ---------------------------------------------------------
out=$("$NETSERV" module --help 2>&1)
rc=$?
check "netserv module --help exits 0 and names build" \
	bash -c '[ "$1" -eq 0 ] && grep -q "build SRC.c" <<<"$2"' _ "$rc" "$out"
out=$("$NETSERV" module build --help 2>&1)
check "netserv module build --help documents the options" \
	bash -c 'grep -q -- "--max-memory" <<<"$1" && grep -q -- "-o, --output" <<<"$1"' _ "$out"
check "netserv --help lists the module command" bash -c '"$1" --help | grep -q "module build"' _ "$NETSERV"

# A module that uses every import and defines every entry point.
cat >"$T/all.c" <<'EOF'
#include <netserv.h>

static int32_t c_pk;
static uint8_t addr[4] = {192, 0, 2, 1};

int32_t ns_init(void)
{
	char buf[32];
	c_pk = ns_counter_id("packets");
	ns_logf(NS_LOG_INFO, "init at %llu ms, %llu ns, x=%u", (unsigned long long)ns_time_ms(),
		(unsigned long long)ns_clock_ns(), ns_prop_u32("x", 7));
	if (ns_prop_get("name", buf, sizeof(buf)) >= 0)
		ns_logs(NS_LOG_DEBUG, buf);
	return ns_timer_set(1, 100, true);
}

void ns_fini(void)
{
	ns_timer_cancel(1);
	ns_store_delete("count");
}

void ns_socket(uint32_t id, uint32_t events)
{
	struct ns_sockaddr a, b;
	char data[64];
	int32_t c = ns_sock_accept(id, &a);
	if (c >= 0 && (events & NS_SOCK_READABLE) && ns_sock_recv((uint32_t)c, data, 64, &b) > 0 &&
	    ns_sock_send((uint32_t)c, data, 64, 0) > 0 && ns_sock_name((uint32_t)c, &a, &b) == 0)
		ns_sock_shutdown((uint32_t)c);
	ns_sock_close(id);
}

void ns_http(uint32_t req, uint32_t event)
{
	char m[16], h[64];
	uint8_t body[64];
	if (event == NS_HTTP_REQUEST && ns_http_info(req, NS_HTTP_METHOD, m, sizeof(m)) > 0 &&
	    ns_http_header(req, "Host", h, sizeof(h)) >= 0)
		ns_http_respond(req, 200, "Content-Type: text/plain", "ok\n", 3);
	else if (event == NS_HTTP_END && ns_http_body_read(req, body, sizeof(body)) >= 0 &&
	         ns_http_respond_start(req, 200, 0) == 0 && ns_http_write(req, body, 1) > 0)
		ns_http_end(req);
	else if (event == NS_HTTP_FETCH_DATA && ns_http_fetch_read(req, body, sizeof(body)) > 0 &&
	         ns_http_fetch_info(req, NS_FETCH_HEADERS, body, sizeof(body)) >= 0 &&
	         ns_http_fetch_header(req, "ETag", h, sizeof(h)) >= 0)
		ns_http_fetch_cancel(req);
	else if (event == NS_HTTP_FETCH_DONE)
		ns_http_fetch(NS_FETCH_GET, "http://192.0.2.1/", "Host: x");
	else if (event == NS_HTTP_WRITABLE)
		ns_http_abort(req);
	else if (event == NS_HTTP_CLOSED)
		ns_http_respond_stored(req, 200, "Content-Type: text/plain", "obj", 0, 1);
}

void ns_timer(uint32_t id)
{
	struct ns_sockaddr to = {NS_IPV4, 7, {127, 0, 0, 1}};
	ns_send_udp(NS_IPV4, addr, 9, 0, "tick", 4);
	ns_log(NS_LOG_DEBUG, "tick", 4 + 0 * id);
	if (ns_sock_listen(NS_SOCK_TCP, NS_IPV4, 8080) < 0)
		ns_sock_connect(NS_SOCK_UDP, &to);
	ns_http_listen(0, 8081);
}

int32_t ns_packet(uint32_t len)
{
	struct ns_pkt_meta meta;
	struct ns_ip ip;
	uint8_t *pkt = ns_pkt_data();
	uint8_t d[NS_HASH_MAX], h[NS_HASH_MAX];
	char key[NS_STORE_KEY_MAX + 1];
	struct ns_store_usage u;
	ns_counter_add(c_pk, 1);
	if (ns_hash(NS_SHA256, pkt, len, d) == NS_SHA256_LEN &&
	    ns_hmac(NS_SHA1, d, 16, pkt, len, h) == NS_SHA1_LEN && !ns_ct_equal(d, h, 20) &&
	    ns_crc32(0, pkt, len) != 0 && ns_store_append("log", d, 32) > 0 &&
	    ns_store_put("count", h, 4) == 0 && ns_store_read("count", 0, d, 4) == 4 &&
	    ns_store_size("log") > 0 && ns_store_next(NULL, key, sizeof(key)) > 0 &&
	    ns_store_usage(&u) == 0 && u.used > u.quota &&
	    ns_media_overlay_text(pkt, len, d, sizeof(d), "x", 0, 0, 0) > 0)
		return NS_DROP;
	if (ns_pkt_meta(&meta) == 0 && meta.hook == NS_HOOK_FORWARD && len > 40) {
		ns_send_packet(pkt, len);
		if (ns_ip_parse(pkt, len, &ip) == 0 && ns_pkt_set_len(len - 1) == 0 &&
		    ns_pkt_fixup(pkt, len - 1) == 0)
			return NS_MODIFIED;
	}
	return NS_ACCEPT;
}
EOF
"$NETSERV" module build "$T/all.c" -o "$T/all.wasm" 2>"$T/all.err"
rc=$?
check "module build of a module using every import exits 0" test "$rc" -eq 0
[ "$rc" -eq 0 ] || sed 's/^/# /' "$T/all.err"
check "module build is quiet on success" test ! -s "$T/all.err"
check "the output is a wasm binary" \
	test "$(head -c 4 "$T/all.wasm" 2>/dev/null | od -An -c | tr -d ' ')" = '\0asm'
wasm_summary "$T/all.wasm" >"$T/all.sum"
grep '^import ' "$T/all.sum" >"$T/all.imports"
check "it imports only netserv.* functions" \
	bash -c '! grep "^import " "$1" | grep -qv "^import netserv\."' _ "$T/all.sum"
if diff -u "$T/abi_imports" "$T/all.imports" >"$T/imports.diff"; then
	ok "its imports are exactly NS_HOST_IMPORTS, with the same wasm signatures"
else
	not_ok "its imports are exactly NS_HOST_IMPORTS, with the same wasm signatures"
	sed 's/^/# /' "$T/imports.diff"
fi
for e in memory ns_abi_version ns_packet_buffer ns_packet ns_init ns_fini ns_timer ns_socket ns_http; do
	check "it exports $e" grep -qE "^export $e " "$T/all.sum"
done
bad_sig=
while read -r name params res _; do
	line=$(grep -E "^export $name func " "$T/all.sum") || continue
	[ "$line" = "export $name func $params $res" ] || bad_sig="$bad_sig $line (want $params $res)"
done <"$T/abi_exports"
check "exported functions have the signatures of NS_MODULE_EXPORTS${bad_sig:+:$bad_sig}" \
	test -z "$bad_sig"
check "it exports nothing else" \
	bash -c '! grep "^export " "$1" | grep -qvE "^export (memory|ns_abi_version|ns_packet_buffer|ns_packet|ns_init|ns_fini|ns_timer|ns_socket|ns_http) "' _ "$T/all.sum"
check "default memory limit is 16 MiB (256 pages)" grep -qE '^memory [0-9]+ 256$' "$T/all.sum"

# Run the exports without parameters in wabt's interpreter (imports stubbed).
out=$(wasm-interp --dummy-import-func --run-all-exports "$T/all.wasm" 2>&1)
check "ns_abi_version() returns 2" grep -q 'ns_abi_version() => i32:2$' <<<"$out"
buf=$(sed -n 's/.*ns_packet_buffer() => i32:\([0-9]*\)$/\1/p' <<<"$out")
pages=$(sed -n 's/^memory \([0-9]*\) .*/\1/p' "$T/all.sum")
check "ns_packet_buffer() is 16-byte aligned, past the stack, and its NS_PACKET_MAX bytes fit in the initial memory" \
	test -n "$buf" -a $((${buf:-1} % 16)) -eq 0 -a "${buf:-0}" -ge 65536 \
	-a $((${buf:-0} + 65535)) -le $((${pages:-0} * 65536))

# Options.
"$NETSERV" module build "$T/all.c" -o "$T/small.wasm" --max-memory 1M -O s -D FOO=1 -I "$T" \
	--stack-size 32K 2>"$T/err"
check "--max-memory 1M -O s -D -I --stack-size build" test $? -eq 0
check "--max-memory sets the module's memory maximum" \
	bash -c 'wasm-objdump -x "$1" | grep -q "max=16$"' _ "$T/small.wasm"
"$NETSERV" module build "$T/all.c" -o "$T/x.wasm" --max-memory 100000 2>"$T/err"
check "--max-memory that is not a multiple of 64 KiB is a usage error (2)" test $? -eq 2
out=$("$NETSERV" module build "$T/all.c" -o "$T/v.wasm" --verbose 2>&1)
check "--verbose prints the clang command with the SDK flags" \
	bash -c 'grep -q -- "--target=wasm32" <<<"$1" && grep -q -- "-Wl,--stack-first" <<<"$1" && grep -q "netserv_sdk.c" <<<"$1"' _ "$out"

# Errors.
printf '#include <netserv.h>\nint32_t ns_packet(uint32_t len)\n{\n\treturn len +;\n}\n' >"$T/syntax.c"
"$NETSERV" module build "$T/syntax.c" -o "$T/syntax.wasm" >"$T/out" 2>"$T/err"
rc=$?
check "a syntax error fails with exit status 1 (got $rc)" test "$rc" -eq 1
check "the compiler's message (file:line: error) is shown" grep -q 'syntax.c:4:.*error' "$T/err"
check "and the failure is named" grep -q 'module build failed' "$T/err"
check "no output file is left" test ! -e "$T/syntax.wasm"
printf '#include <netserv.h>\nint32_t ns_packet(uint32_t len)\n{\n\treturn printf("%%u", len);\n}\n' \
	>"$T/libc.c"
"$NETSERV" module build "$T/libc.c" -o "$T/libc.wasm" 2>"$T/err"
check "a module calling libc (printf) does not build" test $? -ne 0 -a ! -e "$T/libc.wasm"
"$NETSERV" module build "$T/missing.c" -o "$T/m.wasm" 2>"$T/err"
rc=$?
check "a missing source is a usage error (2)" \
	bash -c '[ "$1" -eq 2 ] && grep -q "cannot read" "$2"' _ "$rc" "$T/err"
"$NETSERV" module build "$T/all.c" 2>"$T/err"
check "a missing -o is a usage error (2)" test $? -eq 2
NETSERV_CLANG=/nonexistent/clang "$NETSERV" module build "$T/all.c" -o "$T/c.wasm" 2>"$T/err"
rc=$?
check "a missing clang fails (1) and says so" \
	bash -c '[ "$1" -eq 1 ] && grep -q "clang not found.*apt-get install clang lld" "$2"' _ "$rc" "$T/err"
NETSERV_SDK_DIR=$T/nosdk "$NETSERV" module build "$T/all.c" -o "$T/c.wasm" 2>"$T/err"
rc=$?
check "a bad NETSERV_SDK_DIR fails (1) and says so" \
	bash -c '[ "$1" -eq 1 ] && grep -q "NETSERV_SDK_DIR" "$2"' _ "$rc" "$T/err"

# The installed layout: <prefix>/bin/netserv finds <prefix>/share/netserv/sdk.
mkdir -p "$T/prefix/bin" "$T/prefix/share/netserv/sdk/include" "$T/prefix/share/netserv/sdk/src"
cp "$NETSERV" "$T/prefix/bin/netserv"
cp "$SDK/include/netserv.h" "$SDK/include/netserv_util.h" "$T/prefix/share/netserv/sdk/include/"
cp "$SDK/src/netserv_sdk.c" "$SDK/src/netserv_util.c" "$T/prefix/share/netserv/sdk/src/"
out=$(env -u NETSERV_SDK_DIR "$T/prefix/bin/netserv" module build -v "$T/all.c" -o "$T/i.wasm" 2>&1)
check "an installed netserv uses <bin>/../share/netserv/sdk" \
	bash -c 'grep -q -- "-I$2/prefix/share/netserv/sdk/include" <<<"$1"' _ "$out" "$T"

# The example in docs/module-api.md builds as shown.
sed -n '/^<!-- example: portwatch.c -->$/,/^```$/p' "$top/docs/module-api.md" | sed '1,2d;$d' \
	>"$T/portwatch.c"
"$NETSERV" module build "$T/portwatch.c" -o "$T/portwatch.wasm" -X -Wextra -X -Werror 2>"$T/err"
rc=$?
check "the example module of docs/module-api.md builds with -Wextra -Werror" \
	test -s "$T/portwatch.c" -a "$rc" -eq 0
[ "$rc" -eq 0 ] || sed 's/^/# /' "$T/err"

# --- the modules built by CMake ---------------------------------------------------
for m in passthrough counter dropper rewrite timer bad_oob bad_loop bad_membomb bad_membomb_big \
	bad_import; do
	if [ ! -s "$MODULES/$m.wasm" ]; then
		not_ok "modules/$m.wasm is built"
		continue
	fi
	wasm_summary "$MODULES/$m.wasm" >"$T/$m.sum"
	extra=$(grep '^import ' "$T/$m.sum" | grep -vxFf "$T/abi_imports")
	if [ "$m" = bad_import ]; then
		check "bad_import.wasm imports netserv.ns_bogus" \
			grep -qx 'import netserv.ns_bogus i i' <<<"$extra"
	else
		check "$m.wasm imports only functions of NS_HOST_IMPORTS${extra:+: $extra}" \
			test -z "$extra"
	fi
	check "$m.wasm exports memory, ns_abi_version and ns_packet_buffer" \
		bash -c 'grep -q "^export memory memory" "$1" && grep -q "^export ns_abi_version func - i" "$1" && grep -q "^export ns_packet_buffer func - i" "$1"' _ "$T/$m.sum"
done
for m in passthrough counter dropper rewrite bad_oob bad_loop bad_membomb bad_membomb_big bad_import; do
	check "$m.wasm exports ns_packet" grep -q '^export ns_packet func i i' "$T/$m.sum"
done
check "timer.wasm exports ns_timer and no ns_packet" \
	bash -c 'grep -q "^export ns_timer func i -" "$1" && ! grep -q "^export ns_packet " "$1"' _ "$T/timer.sum"
check "bad_membomb.wasm declares the default maximum memory (256 pages)" \
	grep -qE '^memory [0-9]+ 256$' "$T/bad_membomb.sum"
check "bad_membomb_big.wasm declares the wasm32 maximum memory (65536 pages)" \
	grep -qE '^memory [0-9]+ 65536$' "$T/bad_membomb_big.sum"
check "passthrough.wasm is small (< 1 KiB)" test "$(stat -c %s "$MODULES/passthrough.wasm")" -lt 1024
out=$(wasm-interp --run-all-exports "$MODULES/passthrough.wasm" 2>&1)
check "passthrough.wasm runs in wabt's interpreter with no imports at all" \
	bash -c 'grep -q "ns_abi_version() => i32:2$" <<<"$1" && ! grep -q "called host" <<<"$1"' _ "$out"

tap_done
