# TAP helpers for shell tests: ok/not_ok/check, and a summary at exit.
# shellcheck shell=bash
# Tests wait for conditions with a deadline (wait_until, wait_line): wait.sh.
source "$(dirname "${BASH_SOURCE[0]}")/wait.sh"
TAP_N=0
TAP_FAILED=0

ok() {
	TAP_N=$((TAP_N + 1))
	echo "ok $TAP_N - $*"
}

not_ok() {
	TAP_N=$((TAP_N + 1))
	TAP_FAILED=$((TAP_FAILED + 1))
	echo "not ok $TAP_N - $*"
}

# check DESCRIPTION CMD... : ok when CMD succeeds.
check() {
	local desc=$1
	shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

# diag TEXT... : a TAP comment line.
diag() {
	echo "# $*"
}

tap_done() {
	echo "1..$TAP_N"
	[ "$TAP_FAILED" -eq 0 ]
}
