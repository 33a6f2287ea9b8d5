#!/usr/bin/env python3
"""Seeds for tests/fuzz/fuzz_gist_node.c: GIST messages of the NSIS-ka
captures (tests/gist/fixtures) wrapped in IPv4 (with and without the Router
Alert option) and IPv6 (with a hop-by-hop Router Alert, with a destination
options header, as an atomic fragment) UDP packets with right checksums, plus
the bare and truncated payloads (as an ICMP error quotes them).

    tests/gist/mknodecorpus.py tests/gist/fixtures tests/fuzz/corpus/gist_node
"""
import hashlib
import os
import struct
import sys


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def udp(src, dst, sport, dport, payload, v6):
    ulen = 8 + len(payload)
    hdr = struct.pack("!HHHH", sport, dport, ulen, 0)
    if v6:
        pseudo = src + dst + struct.pack("!I3xB", ulen, 17)
    else:
        pseudo = src + dst + struct.pack("!xBH", 17, ulen)
    c = csum(pseudo + hdr + payload) or 0xFFFF
    return struct.pack("!HHHH", sport, dport, ulen, c) + payload


def ipv4(payload, rao):
    src, dst = bytes([10, 77, 0, 1]), bytes([10, 77, 0, 2])
    opts = bytes([148, 4, 0, 0]) if rao else b""
    seg = udp(src, dst, 270, 270, payload, False)
    ihl = 5 + len(opts) // 4
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, 4 * ihl + len(seg), 1, 0x4000, 64,
                      17, 0, src, dst) + opts
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return hdr + seg


def ipv6(payload, ext):
    src = bytes.fromhex("fd000001000000000000000000000001")
    dst = bytes.fromhex("fd000001000000000000000000000002")
    seg = udp(src, dst, 270, 270, payload, True)
    if ext == "hbh":
        first, exts = 0, bytes([17, 0, 5, 2, 0, 42, 1, 0])
    elif ext == "dst":
        first, exts = 60, bytes([17, 0, 1, 4, 0, 0, 0, 0])
    else:  # atomic fragment
        first, exts = 44, bytes([17, 0, 0, 0, 0, 0, 0, 1])
    body = exts + seg
    return struct.pack("!IHBB", 6 << 28, len(body), first, 64) + src + dst + body


def main(fixtures, out):
    os.makedirs(out, exist_ok=True)
    seeds = []
    for name in sorted(os.listdir(fixtures)):
        if not name.endswith(".hex"):
            continue
        lines = open(os.path.join(fixtures, name)).read().splitlines()
        if "UDP" not in lines[0]:
            continue
        payload = bytes.fromhex("".join(l for l in lines if not l.startswith("#")))
        if payload[4 + 6] & 0x7F != 0:  # Queries only
            continue
        seeds += [payload, payload[:40], ipv4(payload, True), ipv4(payload, False)]
        for ext in ("hbh", "dst", "frag"):
            seeds.append(ipv6(payload, ext))
    for s in seeds:
        path = os.path.join(out, "seed-" + hashlib.sha1(s).hexdigest()[:16])
        with open(path, "wb") as f:
            f.write(s)
    print("%d seeds" % len(seeds))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
