#!/usr/bin/env python3
"""Concurrent TCP echo clients: opens N connections to HOST PORT at once,
sends a distinct payload on each, and reads it back.

    echo_load.py HOST PORT N [--bytes B] [--timeout S] [--hold]

Prints one line: "opened O echoed E refused R reset X mismatched M timeout T".
A connection counts as echoed when all its bytes came back unchanged; as
refused when it could not be established or was reset before any byte came
back. --hold keeps every connection open until all are echoed (so that N
connections are open at once at the server)."""
import selectors
import socket
import sys
import time


def main():
    args = sys.argv[1:]
    if len(args) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    host, port, n = args[0], int(args[1]), int(args[2])
    size, timeout, hold = 64, 20.0, "--hold" in args
    if "--bytes" in args:
        size = int(args[args.index("--bytes") + 1])
    if "--timeout" in args:
        timeout = float(args[args.index("--timeout") + 1])
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sel = selectors.DefaultSelector()
    conns = {}
    stats = dict(opened=0, echoed=0, refused=0, reset=0, mismatched=0, timeout=0)
    for i in range(n):
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect_ex((host, port))
        except OSError:
            stats["refused"] += 1
            s.close()
            continue
        want = (b"%08d" % i) * (size // 8 + 1)
        want = want[:size]
        conns[s] = dict(want=want, sent=0, got=b"")
        sel.register(s, selectors.EVENT_WRITE | selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    done = []
    while conns and time.monotonic() < deadline:
        for key, ev in sel.select(timeout=0.2):
            s = key.fileobj
            c = conns.get(s)
            if c is None:
                continue
            try:
                if ev & selectors.EVENT_WRITE and c["sent"] < len(c["want"]):
                    if c["sent"] == 0:
                        stats["opened"] += 1
                    c["sent"] += s.send(c["want"][c["sent"]:])
                    if c["sent"] == len(c["want"]):
                        sel.modify(s, selectors.EVENT_READ)
                if ev & selectors.EVENT_READ:
                    data = s.recv(65536)
                    if not data:
                        raise ConnectionResetError
                    c["got"] += data
            except (ConnectionRefusedError, ConnectionResetError, BrokenPipeError, OSError):
                stats["refused" if not c["got"] else "reset"] += 1
                sel.unregister(s)
                s.close()
                del conns[s]
                continue
            if len(c["got"]) >= len(c["want"]):
                stats["echoed" if c["got"] == c["want"] else "mismatched"] += 1
                sel.unregister(s)
                del conns[s]
                if hold:
                    done.append(s)
                else:
                    s.close()
    stats["timeout"] = len(conns)
    for s in list(conns) + done:
        s.close()
    print(" ".join("%s %d" % (k, v) for k, v in stats.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
