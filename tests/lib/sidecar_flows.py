#!/usr/bin/env python3
"""Flows for the sidecar's tests and bench (tests/daemon/test_sidecar*.sh,
bench/sidecar): many UDP flows (distinct source ports), and a receiver that
tells, from each frame's source MAC, which node routed it (or the sender's
MAC: straight through the switch).

  tx --dst ADDR --port P --flows N --rounds K [--rate PPS] [--base-sport S]
     [--src-net A.B] [--stamp]
      sends K rounds of one datagram per flow (flow i from source port S+i,
      and with --src-net from address A.B.(1 + i / 250).(1 + i % 250)),
      paced at PPS; prints "sent=N". --stamp puts CLOCK_REALTIME ns in the
      payload (for one-way delays in one machine's namespaces). --seq-log
      FILE: the payload also has the packet's number (k = round * N + flow,
      after the stamp) and FILE gets the send times, a JSON list by k.
  rx --ifname IF --port P[,P...] [--idle-ms MS] [--max-s S] [--out FILE]
      counts incoming frames of UDP to those ports on IF by (source MAC,
      destination port, source port) until no packet for MS after the first
      (or S seconds; with --expect N, 0.3 s once N arrived), writes JSON {"macs": {mac: {"DPORT/SPORT": packets}},
      "total": n, "delays_ns": [...], "first_ns": {mac: wall-clock ns of its
      first frame}} and prints "ready" once the socket is bound. --seq-log
      FILE: FILE gets every frame as [k, source MAC, wall-clock ns] (the
      sender's --seq-log numbers).
"""
import argparse
import json
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


def tx(a):
    socks = []
    for i in range(a.flows):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        src = "0.0.0.0"
        if a.src_net:
            src = f"{a.src_net}.{1 + i // 250}.{1 + i % 250}"
        s.bind((src, a.base_sport + i))
        socks.append(s)
    gap = 1.0 / a.rate if a.rate else 0.0
    sent = 0
    t0 = time.monotonic()
    rounds = range(a.rounds) if a.rounds else iter(int, 1)  # 0: until killed
    log = [] if a.seq_log else None
    for _ in rounds:
        for s in socks:
            now = time.time_ns()
            payload = struct.pack("!Q", now) if a.stamp or a.seq_log else b"x" * 8
            if log is not None:
                payload += struct.pack("!I", sent)
                log.append(now)
            s.sendto(payload + b"\0" * (32 - len(payload)), (a.dst, a.port))
            sent += 1
            if gap:
                delay = t0 + sent * gap - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
    if log is not None:
        with open(a.seq_log, "w") as f:
            json.dump(log, f)
    print(f"sent={sent}", flush=True)


def rx(a):
    ports = {int(x) for x in a.port.split(",")}
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind((a.ifname, 0))
    s.settimeout(0.05)
    print("ready", flush=True)
    macs = {}
    firsts = {}
    total = 0
    delays = []
    pkts = []
    first = last = None
    start = time.monotonic()
    while True:
        now = time.monotonic()
        if now - start > a.max_s:
            break
        idle = a.idle_ms if not a.expect or total < a.expect else 300
        if last is not None and (now - last) * 1000 > idle:
            break
        try:
            frame, addr = s.recvfrom(2048)
        except socket.timeout:
            continue
        if addr[2] == PACKET_OUTGOING or len(frame) < 42:
            continue
        if frame[12:14] != b"\x08\x00" or frame[23] != 17:
            continue
        ihl = (frame[14] & 0x0F) * 4
        udp = 14 + ihl
        sport, dport = struct.unpack("!HH", frame[udp:udp + 4])
        if dport not in ports:
            continue
        now = time.monotonic()
        first = first or now
        last = now
        mac = ":".join(f"{b:02x}" for b in frame[6:12])
        if mac not in macs:
            firsts[mac] = time.time_ns()
        per = macs.setdefault(mac, {})
        key = f"{dport}/{sport}"
        per[key] = per.get(key, 0) + 1
        total += 1
        if a.seq_log and len(frame) >= udp + 20:
            (k,) = struct.unpack("!I", frame[udp + 16:udp + 20])
            pkts.append([k, mac, time.time_ns()])
        if a.stamp and len(frame) >= udp + 16:
            (sent_ns,) = struct.unpack("!Q", frame[udp + 8:udp + 16])
            delays.append(time.time_ns() - sent_ns)
    out = {"macs": macs, "total": total, "delays_ns": delays, "first_ns": firsts}
    if a.seq_log:
        with open(a.seq_log, "w") as f:
            json.dump(pkts, f)
    with open(a.out, "w") if a.out != "-" else sys.stdout as f:
        json.dump(out, f)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("tx")
    t.add_argument("--dst", required=True)
    t.add_argument("--port", type=int, required=True)
    t.add_argument("--flows", type=int, default=1)
    t.add_argument("--rounds", type=int, default=1)
    t.add_argument("--rate", type=float, default=0)
    t.add_argument("--base-sport", type=int, default=20000)
    t.add_argument("--stamp", action="store_true")
    t.add_argument("--src-net", default="")
    t.add_argument("--seq-log", default="")
    r = sub.add_parser("rx")
    r.add_argument("--ifname", required=True)
    r.add_argument("--port", required=True)
    r.add_argument("--idle-ms", type=int, default=1000)
    r.add_argument("--max-s", type=float, default=30)
    r.add_argument("--out", default="-")
    r.add_argument("--expect", type=int, default=0)
    r.add_argument("--stamp", action="store_true")
    r.add_argument("--seq-log", default="")
    a = p.parse_args()
    tx(a) if a.cmd == "tx" else rx(a)


if __name__ == "__main__":
    main()
