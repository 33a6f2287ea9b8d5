#!/usr/bin/env python3
"""Extracts every GIST message from libpcap captures (Ethernet, IPv4/IPv6,
UDP/TCP) into hex fixture files, one message per file.

    tests/gist/pcap2hex.py OUTDIR CAPTURE.pcap...

Each fixture is named <capture>-f<frame>[-<n>].hex and holds a comment
header (capture, frame, addresses, transport) and the GIST message as hex,
16 bytes a line. For UDP the magic number, when present, is kept (the file
then starts with 4e04bda5); TCP streams are reassembled per direction and
cut at GIST common-header boundaries. Standard library only; run once, the
output is committed (tests/gist/fixtures/)."""
import os
import socket
import struct
import sys

MAGIC = b"\x4e\x04\xbd\xa5"


def frames(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    if magic == 0xA1B2C3D4:
        end = "<"
    elif magic == 0xD4C3B2A1:
        end = ">"
    else:
        raise SystemExit(f"{path}: not a libpcap file")
    linktype = struct.unpack(end + "I", data[20:24])[0]
    if linktype != 1:
        raise SystemExit(f"{path}: link type {linktype}, want Ethernet")
    off, n = 24, 0
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack(end + "IIII", data[off:off + 16])
        off += 16
        n += 1
        yield n, data[off:off + incl]
        off += incl


def ip_payload(frame):
    """Returns (family, src, dst, proto, payload, note) or None."""
    etype = struct.unpack("!H", frame[12:14])[0]
    p = frame[14:]
    if etype == 0x0800:
        ihl = (p[0] & 0xF) * 4
        total = struct.unpack("!H", p[2:4])[0]
        note = "IPv4" + (" options" if ihl > 20 else "")
        if ihl > 20 and p[20] == 0x94:
            note = "IPv4 Router-Alert value %d" % struct.unpack("!H", p[22:24])[0]
        return (4, socket.inet_ntop(socket.AF_INET, p[12:16]),
                socket.inet_ntop(socket.AF_INET, p[16:20]), p[9], p[ihl:total], note)
    if etype == 0x86DD:
        plen = struct.unpack("!H", p[4:6])[0]
        nxt = p[6]
        src = socket.inet_ntop(socket.AF_INET6, p[8:24])
        dst = socket.inet_ntop(socket.AF_INET6, p[24:40])
        body = p[40:40 + plen]
        note = "IPv6"
        while nxt in (0, 43, 60):  # hop-by-hop, routing, destination options
            hlen = (body[1] + 1) * 8
            if nxt == 0:
                opts, i = body[2:hlen], 0
                while i < len(opts):
                    if opts[i] == 0:
                        i += 1
                        continue
                    if opts[i] == 5:
                        note = "IPv6 HBH Router-Alert value %d" % struct.unpack(
                            "!H", opts[i + 2:i + 4])[0]
                    i += 2 + opts[i + 1]
            nxt, body = body[0], body[hlen:]
        return (6, src, dst, nxt, body, note)
    return None


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for path in sys.argv[2:]:
        base = os.path.splitext(os.path.basename(path))[0]
        streams = {}
        for n, fr in frames(path):
            ip = ip_payload(fr)
            if not ip:
                continue
            fam, src, dst, proto, body, note = ip
            msgs = []
            if proto == 17:
                sport, dport, ulen = struct.unpack("!HHH", body[:6])
                payload = body[8:ulen]
                if len(payload) < 8:
                    continue
                msgs.append(payload)
                tr = "UDP %d->%d" % (sport, dport)
            elif proto == 6:
                sport, dport, seq = struct.unpack("!HHI", body[:8])
                doff = (body[12] >> 4) * 4
                payload = body[doff:]
                tr = "TCP %d->%d" % (sport, dport)
                if not payload:
                    continue
                key = (src, sport, dst, dport)
                buf = streams.get(key, b"") + payload
                while len(buf) >= 8:
                    mlen = 8 + 4 * struct.unpack("!H", buf[2:4])[0]
                    if len(buf) < mlen:
                        break
                    msgs.append(buf[:mlen])
                    buf = buf[mlen:]
                streams[key] = buf
            else:
                continue
            for i, m in enumerate(msgs):
                name = "%s-f%02d%s.hex" % (base, n, "" if len(msgs) == 1 else "-%d" % (i + 1))
                with open(os.path.join(out, name), "w") as f:
                    f.write("# %s frame %d: %s %s -> %s, %s, %d bytes\n" %
                            (os.path.basename(path), n, note, src, dst, tr, len(m)))
                    for o in range(0, len(m), 16):
                        f.write(m[o:o + 16].hex() + "\n")


if __name__ == "__main__":
    main()
