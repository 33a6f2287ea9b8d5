#!/usr/bin/env bash
# Logs that journald understands: when stderr is the journal
# ($JOURNAL_STREAM names its device:inode, as systemd sets it), each line
# starts with its syslog priority ("<6>" info, "<5>" notice, "<4>" warning)
# and has no timestamp of its own; otherwise lines keep their timestamp.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/tap.sh"
source "$here/../lib/daemon.sh"

write_config
# stderr is DAEMON_LOG; JOURNAL_STREAM names exactly that file.
: >"$DAEMON_LOG"
JOURNAL_STREAM=$(stat -c '%d:%i' "$DAEMON_LOG")
export JOURNAL_STREAM
start_daemon || { not_ok "netservd starts"; tap_done; exit 1; }
unset JOURNAL_STREAM
ok "netservd starts with JOURNAL_STREAM naming its stderr"
check "stopping it works" stop_daemon
check "notice lines carry <5> (the 'ready' line)" grep -qE '^<5>notice: netservd .* ready' "$DAEMON_LOG"
check "info lines carry <6>" grep -qE '^<6>info: ' "$DAEMON_LOG"
check "no line carries a timestamp of its own" bash -c '! grep -qE "^[0-9]{4}-[0-9]{2}-[0-9]{2}T" "$0"' "$DAEMON_LOG"

# Another stream (a file that is not the journal): timestamps, no prefix.
: >"$DAEMON_LOG"
JOURNAL_STREAM=1:1 start_daemon || not_ok "netservd starts with a foreign JOURNAL_STREAM"
check "stopping it works" stop_daemon
check "with stderr not the journal, lines keep their timestamp" \
	grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T.* netservd notice: netservd .* ready' "$DAEMON_LOG"
check "... and no priority prefix" bash -c '! grep -qE "^<[0-7]>" "$0"' "$DAEMON_LOG"
tap_done
