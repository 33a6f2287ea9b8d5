#!/usr/bin/env python3
"""Extracts every GIST message from libpcap captures (Ethernet, or Linux
cooked SLL/SLL2 as `tcpdump -i any` writes; IPv4/IPv6, UDP/TCP) into hex
fixture files, one message per file.

    tests/gist/pcap2hex.py OUTDIR CAPTURE.pcap...

Each fixture is named <capture>-f<frame>[-<n>].hex and holds a comment
header (capture, frame, addresses, transport) and the GIST message as hex,
16 bytes a line. For UDP the magic number, when present, is kept (the file
then starts with 4e04bda5); TCP streams are reassembled per direction and
cut at GIST common-header boundaries (by sequence number, so that a segment
seen twice, as `-i any` shows a forwarded packet on both interfaces, counts
once). On cooked captures the header also says on which interface index the
frame was seen and whether it was going out. Standard library only; run
once, the output is committed (tests/gist/fixtures/).

    tests/gist/pcap2hex.py --prefix live- OUTDIR CAPTURE.pcap...

names the fixtures live-<capture>-f<frame>.hex."""
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
    if linktype not in (1, 113, 276):
        raise SystemExit(f"{path}: link type {linktype}, want Ethernet, SLL or SLL2")
    off, n = 24, 0
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack(end + "IIII", data[off:off + 16])
        off += 16
        n += 1
        yield n, linktype, data[off:off + incl]
        off += incl


def link_strip(linktype, frame):
    """Returns (ethertype, IP packet, where) with where = "" or a note of the
    interface and direction (cooked captures)."""
    if linktype == 1:
        return struct.unpack("!H", frame[12:14])[0], frame[14:], ""
    if linktype == 113:  # SLL: packet type (2) ... protocol (2) at 14
        ptype = struct.unpack("!H", frame[0:2])[0]
        return (struct.unpack("!H", frame[14:16])[0], frame[16:],
                " (out)" if ptype == 4 else " (in)")
    # SLL2: protocol (2), reserved (2), ifindex (4), ARPHRD (2), type (1), ...
    etype, _, ifindex = struct.unpack("!HHI", frame[0:8])
    return (etype, frame[20:], " (if%d %s)" % (ifindex, "out" if frame[10] == 4 else "in"))


def ip_payload(etype, p):
    """Returns (family, src, dst, proto, payload, note) or None."""
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
    args = sys.argv[1:]
    prefix = ""
    if len(args) > 1 and args[0] == "--prefix":
        prefix, args = args[1], args[2:]
    out = args[0]
    os.makedirs(out, exist_ok=True)
    for path in args[1:]:
        base = prefix + os.path.splitext(os.path.basename(path))[0]
        streams = {}
        nextseq = {}
        recent = []
        for n, linktype, fr in frames(path):
            etype, pkt, where = link_strip(linktype, fr)
            ip = ip_payload(etype, pkt)
            if not ip:
                continue
            fam, src, dst, proto, body, note = ip
            note += where
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
                # Only bytes past what this direction already had (a
                # segment seen on two interfaces, a retransmission).
                seen = nextseq.get(key, seq)
                skip = (seen - seq) & 0xFFFFFFFF
                if skip >= 0x80000000:
                    skip = 0  # a gap: take it as it comes
                if skip >= len(payload):
                    continue
                payload = payload[skip:]
                nextseq[key] = (seq + skip + len(payload)) & 0xFFFFFFFF
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
            if where and proto == 17:
                # A forwarded datagram shows up on both interfaces: once.
                key = (src, dst, tr, msgs[0])
                if key in recent:
                    continue
                recent.append(key)
                del recent[:-8]
            for i, m in enumerate(msgs):
                name = "%s-f%02d%s.hex" % (base, n, "" if len(msgs) == 1 else "-%d" % (i + 1))
                with open(os.path.join(out, name), "w") as f:
                    f.write("# %s frame %d: %s %s -> %s, %s, %d bytes\n" %
                            (os.path.basename(path), n, note, src, dst, tr, len(m)))
                    for o in range(0, len(m), 16):
                        f.write(m[o:o + 16].hex() + "\n")


if __name__ == "__main__":
    main()
