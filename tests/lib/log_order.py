#!/usr/bin/env python3
"""log_order.py: checks that events happen in order across timestamped logs.

  log_order.py NAME=FILE... -- NAME:REGEX...

Log lines start with an ISO timestamp (2026-01-02T03:04:05.678Z), as
netservd's and netserv-origin's do (a module's lines relayed by netservd
have none: they are ordered within their log only). Each event NAME:REGEX
must match a line of log NAME after the line of the previous event of that
log, stamped no earlier than the last stamped event (of any log). Prints one line per event
found; exits 1 at the first one missing, naming it."""
import re
import sys

STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def main():
    args = sys.argv[1:]
    sep = args.index("--")
    logs, pos = {}, {}
    for a in args[:sep]:
        name, path = a.split("=", 1)
        with open(path, errors="replace") as f:
            logs[name] = f.read().splitlines()
        pos[name] = 0
    last_t = ""
    for n, ev in enumerate(args[sep + 1:], 1):
        name, rx = ev.split(":", 1)
        lines = logs[name]
        found = None
        for i in range(pos[name], len(lines)):
            t = lines[i][:24] if STAMP.match(lines[i]) else None
            if re.search(rx, lines[i]) and (t is None or t >= last_t):
                found = i
                break
        if found is None:
            print("missing event %d (%s: %s) after %s" % (n, name, rx, last_t or "the start"))
            return 1
        pos[name] = found + 1
        if STAMP.match(lines[found]):
            last_t = lines[found][:24]
        print("%d. %s: %s" % (n, name, lines[found][:160]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
