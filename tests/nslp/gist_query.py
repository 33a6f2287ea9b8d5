#!/usr/bin/env python3
"""A GIST Q-mode Query for any NSLPID, sent or received as raw UDP payload
(tests/daemon/test_signaling.sh: a Query for an NSLPID that no node runs must
pass NetServ nodes unchanged but for the GIST hop count).

  gist_query.py send SRC DST NSLPID   sends one Query from SRC to DST:270,
                                      prints its UDP payload in hex
  gist_query.py listen ADDR [SECS]    prints the UDP payload of the first
                                      datagram to ADDR:270 in hex, or nothing
  gist_query.py flood SRC DST NSLPID COUNT
                                      sends COUNT malformed datagrams from SRC
                                      to DST:270, in turn: a Query whose NSLP
                                      data is not NetServ NSLP, a Query with a
                                      malformed NetServ SETUP, and bytes that
                                      are not GIST (tests/daemon/
                                      test_peer_log_flood.sh); prints how many
                                      of each kind it sent

The Query is laid out as NSIS-ka's (../shared/interop/gist-nsis-ka.txt,
frame 1): magic number, common header (hops 32, C, S, R), path-coupled MRI,
Session ID, NLI (16-byte peer identity, IP-TTL 64, validity 30 s) and a
4-byte Query-Cookie."""
import os
import socket
import struct
import sys
import time

GIST_PORT = 270
MAGIC = 0x4E04BDA5


def obj(otype, body):
    assert len(body) % 4 == 0
    return struct.pack("!HH", otype & 0x0FFF, len(body) // 4) + body


def query(src, dst, nslpid, nslp_data=None):
    s, d = socket.inet_aton(src), socket.inet_aton(dst)
    mri = struct.pack("!BBH", 0, 0, 0x4000) + s + d + struct.pack("!BBBB", 32, 32, 0, 0)
    sid = os.urandom(16)
    nli = struct.pack("!BBH", 16, 64, 0x4000) + struct.pack("!I", 30000) + os.urandom(16) + s
    cookie = os.urandom(4)
    body = obj(0, mri) + obj(1, sid) + obj(2, nli) + obj(5, cookie)
    if nslp_data is not None:
        body += obj(8, nslp_data)  # NSLP-Data
    hdr = struct.pack("!BBHHBB", 1, 32, len(body) // 4, nslpid, 0x80 | 0, 0xC0)
    return struct.pack("!I", MAGIC) + hdr + body


# NSLP data that is not a NetServ message, and a NetServ SETUP whose TARGET
# is malformed (as tests/unit/test_nslp_node.c's).
NOT_NETSERV = b"GET / HTTP/1.0\r\n"
BAD_SETUP = bytes([1, 1, 0, 0, 0, 0, 0, 16, 0, 1, 0, 1, 0x20, 0, 0, 0])


def flood(src, dst, nslpid, count):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((src, 0))
    kinds = [0, 0, 0]
    for i in range(count):
        k = i % 3
        if k == 0:
            dgram = query(src, dst, nslpid, NOT_NETSERV)
        elif k == 1:
            dgram = query(src, dst, nslpid, BAD_SETUP)
        else:
            dgram = struct.pack("!I", MAGIC) + os.urandom(40)
        sock.sendto(dgram, (dst, GIST_PORT))
        kinds[k] += 1
        if i % 100 == 99:
            time.sleep(0.002)  # let the node's socket buffer drain a little
    print("not_netserv=%d bad_setup=%d not_gist=%d" % tuple(kinds))


def main():
    if len(sys.argv) >= 5 and sys.argv[1] == "send":
        src, dst, nslpid = sys.argv[2], sys.argv[3], int(sys.argv[4])
        q = query(src, dst, nslpid)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((src, 0))
        sock.sendto(q, (dst, GIST_PORT))
        print(q.hex())
        return 0
    if len(sys.argv) >= 6 and sys.argv[1] == "flood":
        flood(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
        return 0
    if len(sys.argv) >= 3 and sys.argv[1] == "listen":
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((sys.argv[2], GIST_PORT))
        sock.settimeout(float(sys.argv[3]) if len(sys.argv) > 3 else 5.0)
        print("ready", flush=True)
        try:
            data, _ = sock.recvfrom(65535)
        except socket.timeout:
            return 1
        print(data.hex(), flush=True)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
