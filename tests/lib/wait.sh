# Waiting for a condition with a deadline, instead of sleeping a fixed time
# and then asserting. Sourced by tests/daemon/*.sh and tests/lib/*.sh.
# shellcheck shell=bash
#
#   wait_until SECONDS CMD...   runs CMD until it succeeds (true) or SECONDS
#                               (may be fractional) have passed (false)
#   wait_line FILE REGEX [SECONDS] [FROM]
#                               until FILE has a line matching REGEX (grep -E)
#                               at or after line FROM (1); SECONDS default 5
#   now_ms                      sets NOW_MS to the wall clock in ms (no fork)
#
# CMD is tried every WAIT_STEP seconds (default 0.02), once more at the
# deadline; it runs in the current shell (functions, variables it sets stay).
[ -n "${NS_WAIT_SH:-}" ] && return 0
NS_WAIT_SH=1

now_ms() {
	local t=${EPOCHREALTIME//[.,]/}
	NOW_MS=$((t / 1000))
}

wait_until() {
	local secs=$1 whole frac deadline
	shift
	# SECONDS as "S" or "S.FFF" -> ms, in the shell.
	whole=${secs%%.*}
	frac=0
	[ "$whole" != "$secs" ] && frac=${secs#*.}000 && frac=$((10#${frac:0:3}))
	now_ms
	deadline=$((NOW_MS + ${whole:-0} * 1000 + frac))
	while :; do
		"$@" && return 0
		now_ms
		[ "$NOW_MS" -ge "$deadline" ] && return 1
		sleep "${WAIT_STEP:-0.02}"
	done
}

wait__line_in() { # FILE REGEX FROM
	tail -n +"$3" "$1" 2>/dev/null | grep -qE -- "$2"
}

wait_line() {
	wait_until "${3:-5}" wait__line_in "$1" "$2" "${4:-1}"
}
