#!/usr/bin/env python3
"""A small TURN client (RFC 8656, long-term credentials) for the refusal
cases of tests/daemon/test_turn.sh, where coturn's clients cannot be made to
misbehave on purpose. Each scenario prints one line of results and exits 0;
a protocol surprise prints it and exits 1.

  turn_client.py [--tcp] SERVER PORT SCENARIO ARGS...

Scenarios:
  allocate USER PASS           -> "allocate CODE"
  wrongpass USER PASS          -> "wrongpass CODE" (expects 401)
  rest SECRET USER SECS        -> "rest CODE" (username "now+SECS:USER")
  stale USER PASS              -> "stale first=CODE later=CODE after=MS"
  quota USER PASS N            -> "quota CODE CODE ..." (N allocations, each its own port)
  permission USER PASS PEER PORT -> "permission before=data|nodata after=data|nodata"
  bandwidth USER PASS PEER PORT N -> "bandwidth sent=N echoed=M"
  malformed USER PASS          -> "malformed answers=N binding=CODE"
  restart USER PASS PEER PORT GOFILE -> "restart refresh=CODE realloc=CODE echo=data|nodata"
  media USER PASS MYFILE PEERFILE COUNT -> "media relay=IP:PORT sent=N received=M"
      allocates, writes its relayed address to MYFILE, waits for the other
      party's in PEERFILE, binds a channel to it and sends COUNT RTP-sized
      (172-byte) packets, 50 a second, counting what arrives from it
"""
import base64
import binascii
import hashlib
import hmac
import os
import socket
import struct
import sys
import time

MAGIC = 0x2112A442
BINDING, ALLOCATE, REFRESH, SEND, DATA, PERMISSION, CHANBIND = 1, 3, 4, 6, 7, 8, 9
A_USERNAME, A_MI, A_ERROR, A_CHANNEL, A_LIFETIME = 0x6, 0x8, 0x9, 0xC, 0xD
A_PEER, A_DATA, A_REALM, A_NONCE, A_RELAYED = 0x12, 0x13, 0x14, 0x15, 0x16
A_TRANSPORT, A_MAPPED, A_FP = 0x19, 0x20, 0x8028


def mtype(method, cls):
    return (method & 0xF) | ((method & 0x70) << 1) | ((method & 0xF80) << 2) | \
        ((cls & 1) << 4) | ((cls & 2) << 7)


def attr(t, v):
    return struct.pack("!HH", t, len(v)) + v + b"\0" * (-len(v) % 4)


def xaddr(ip, port, tid):
    if ":" in ip:
        raw = socket.inet_pton(socket.AF_INET6, ip)
        x = struct.pack("!I", MAGIC) + tid
        return struct.pack("!BBH", 0, 2, port ^ 0x2112) + bytes(a ^ b for a, b in zip(raw, x))
    raw = socket.inet_aton(ip)
    return struct.pack("!BBH", 0, 1, port ^ 0x2112) + bytes(
        a ^ b for a, b in zip(raw, struct.pack("!I", MAGIC)))


def build(method, cls, attrs, key=None, tid=None, fp=True):
    tid = tid or os.urandom(12)
    body = b"".join(attr(t, v) for t, v in attrs)
    if key is not None:
        hdr = struct.pack("!HHI", mtype(method, cls), len(body) + 24, MAGIC) + tid
        mac = hmac.new(key, hdr + body, hashlib.sha1).digest()
        body += attr(A_MI, mac)
    if fp:
        hdr = struct.pack("!HHI", mtype(method, cls), len(body) + 8, MAGIC) + tid
        crc = (binascii.crc32(hdr + body) ^ 0x5354554E) & 0xFFFFFFFF
        body += attr(A_FP, struct.pack("!I", crc))
    return struct.pack("!HHI", mtype(method, cls), len(body), MAGIC) + tid + body, tid


def parse(buf):
    if len(buf) < 20:
        return None
    t, n, magic = struct.unpack("!HHI", buf[:8])
    if magic != MAGIC or len(buf) < 20 + n:
        return None
    attrs, off = {}, 20
    while off + 4 <= 20 + n:
        at, al = struct.unpack("!HH", buf[off:off + 4])
        attrs.setdefault(at, buf[off + 4:off + 4 + al])
        off += 4 + al + (-al % 4)
    cls = ((t >> 4) & 1) | ((t >> 7) & 2)
    method = (t & 0xF) | ((t & 0xE0) >> 1) | ((t & 0x3E00) >> 2)
    code = 200
    if A_ERROR in attrs:
        e = attrs[A_ERROR]
        code = (e[2] & 7) * 100 + e[3]
    return {"method": method, "cls": cls, "tid": buf[8:20], "attrs": attrs, "code": code}


class Client:
    def __init__(self, server, port, tcp=False):
        fam = socket.AF_INET6 if ":" in server else socket.AF_INET
        self.tcp = tcp
        self.s = socket.socket(fam, socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM)
        self.s.settimeout(2)
        self.s.connect((server, port))
        self.rbuf = b""
        self.realm = self.nonce = self.key = self.user = None

    def send(self, b):
        self.s.send(b)

    def recv(self, timeout=2.0):
        self.s.settimeout(timeout)
        try:
            if not self.tcp:
                return self.s.recv(65536)
            while True:
                if len(self.rbuf) >= 4:
                    n = struct.unpack("!H", self.rbuf[2:4])[0]
                    total = 20 + n if self.rbuf[0] < 0x40 else 4 + n + (-n % 4)
                    if len(self.rbuf) >= total:
                        out, self.rbuf = self.rbuf[:total], self.rbuf[total:]
                        return out
                d = self.s.recv(65536)
                if not d:
                    return None
                self.rbuf += d
        except (socket.timeout, ConnectionError, OSError):
            return None

    def answer(self, tid, timeout=3):
        """The answer to transaction tid (None if none came in timeout s), and
        how many other messages came before it."""
        deadline, others = time.time() + timeout, 0
        while time.time() < deadline:
            d = self.recv(deadline - time.time())
            if d is None:
                break
            r = parse(d)
            if r and r["tid"] == tid:
                return r, others
            others += 1
        return None, others

    def transact(self, method, attrs, auth=True):
        for _ in range(3):
            a = list(attrs)
            key = None
            if auth and self.nonce is not None:
                a += [(A_USERNAME, self.user.encode()), (A_REALM, self.realm), (A_NONCE, self.nonce)]
                key = self.key
            msg, tid = build(method, 0, a, key)
            self.send(msg)
            r, _ = self.answer(tid)
            if r is None:
                return None
            if auth and r["code"] in (401, 438) and A_NONCE in r["attrs"] and \
                    (self.nonce is None or r["code"] == 438):
                self.nonce = r["attrs"][A_NONCE]
                self.realm = r["attrs"][A_REALM]
                self.key = hashlib.md5(self.user.encode() + b":" + self.realm + b":" +
                                       self.password.encode()).digest()
                continue
            return r
        return r

    def login(self, user, password):
        self.user, self.password = user, password

    def allocate(self):
        return self.transact(ALLOCATE, [(A_TRANSPORT, b"\x11\0\0\0")])


def code(r):
    return "none" if r is None else str(r["code"])


def data_back(c, expect, timeout=1.5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        d = c.recv(deadline - time.time())
        if d is None:
            return False
        if d[0] >= 0x40 and d[4:4 + len(expect)] == expect:
            return True
        r = parse(d)
        if r and r["method"] == DATA and r["attrs"].get(A_DATA) == expect:
            return True
    return False


def main():
    args = sys.argv[1:]
    tcp = False
    if args and args[0] == "--tcp":
        tcp, args = True, args[1:]
    server, port, scen = args[0], int(args[1]), args[2]
    a = args[3:]
    c = Client(server, port, tcp)
    if scen == "allocate":
        c.login(a[0], a[1])
        print("allocate", code(c.allocate()))
    elif scen == "wrongpass":
        c.login(a[0], a[1])
        print("wrongpass", code(c.allocate()))
    elif scen == "rest":
        user = "%d:%s" % (int(time.time()) + int(a[2]), a[1])
        pw = base64.b64encode(hmac.new(a[0].encode(), user.encode(), hashlib.sha1).digest())
        c.login(user, pw.decode())
        print("rest", code(c.allocate()))
    elif scen == "stale":
        c.login(a[0], a[1])
        first = c.allocate()
        t0, later = time.time(), None
        while time.time() - t0 < 15:
            msg, tid = build(REFRESH, 0, [(A_USERNAME, c.user.encode()), (A_REALM, c.realm),
                                          (A_NONCE, c.nonce)], c.key)
            c.send(msg)
            later = parse(c.recv() or b"")
            if later is None or later["code"] != 200:
                break
            time.sleep(0.25)
        print("stale first=%s later=%s after=%d" % (code(first), code(later),
                                                   (time.time() - t0) * 1000))
    elif scen == "quota":
        out, keep = [], []
        for _ in range(int(a[2])):
            k = Client(server, port, tcp)
            k.login(a[0], a[1])
            out.append(code(k.allocate()))
            keep.append(k)
        print("quota", " ".join(out))
        for k, r in zip(keep, out):  # free them for the next scenarios
            if r == "200":
                k.transact(REFRESH, [(A_LIFETIME, b"\0\0\0\0")])
    elif scen in ("permission", "bandwidth"):
        c.login(a[0], a[1])
        r = c.allocate()
        if r is None or r["code"] != 200:
            print(scen, "allocate", code(r))
            return 1
        peer = xaddr(a[2], int(a[3]), b"\0" * 12)
        if scen == "permission":
            payload = b"hello-without-permission"
            c.send(build(SEND, 1, [(A_PEER, peer), (A_DATA, payload)], fp=False)[0])
            before = data_back(c, payload, 0.5)  # a relayed echo takes a few ms
            r = c.transact(PERMISSION, [(A_PEER, peer)])
            payload = b"hello-with-permission"
            c.send(build(SEND, 1, [(A_PEER, peer), (A_DATA, payload)], fp=False)[0])
            after = data_back(c, payload)
            print("permission before=%s after=%s" % ("data" if before else "nodata",
                                                     "data" if after else "nodata"))
        else:
            r = c.transact(CHANBIND, [(A_CHANNEL, b"\x40\x00\0\0"), (A_PEER, peer)])
            n, got = int(a[4]), 0
            for i in range(n):
                c.send(struct.pack("!HH", 0x4000, 172) + (b"%05d" % i) + b"x" * 167)
            deadline = time.time() + 2  # at most; the echoes end 0.5 s before
            while time.time() < deadline:
                d = c.recv(min(0.5, deadline - time.time()))
                if d is None:
                    break
                if d[:2] == b"\x40\x00":
                    got += 1
            print("bandwidth sent=%d echoed=%d" % (n, got))
    elif scen == "malformed":
        c.login(a[0], a[1])
        answers = 0
        junk = [os.urandom(100), b"\0\1\0\0" + os.urandom(16), b"\0\1\0\x08" + b"\x21\x12\xa4\x42" +
                os.urandom(20), b"\x40\x00\x01\x00abc", b"\xff" * 30]
        bad, _ = build(BINDING, 0, [(0x8022, b"x")])
        junk.append(bad[:-1] + bytes([bad[-1] ^ 1]))  # a wrong FINGERPRINT
        lenbad, _ = build(ALLOCATE, 0, [(A_TRANSPORT, b"\x11\0\0\0")], fp=False)
        junk.append(lenbad[:22] + b"\x00\x40" + lenbad[24:])  # an attribute past the end
        if tcp:  # each on its own connection (a stream of junk is closed), all at once
            ks = []
            for j in junk:
                k = Client(server, port, True)
                k.send(j)
                ks.append(k)
            deadline = time.time() + 0.3  # each connection has 0.3 s or more to answer
            for k in ks:
                answers += k.recv(max(0.0, deadline - time.time()) + 0.001) is not None
        else:
            # then a Binding: the module reads the datagrams in order, so an
            # answer to any junk would come before the Binding's
            for j in junk:
                c.send(j)
            msg, tid = build(BINDING, 0, [])
            c.send(msg)
            answers += c.answer(tid)[1]
        b = Client(server, port, tcp)
        r = b.transact(BINDING, [], auth=False)
        print("malformed answers=%d binding=%s" % (answers, code(r)))
    elif scen == "restart":
        c.login(a[0], a[1])
        r = c.allocate()
        if r is None or r["code"] != 200:
            print("restart allocate", code(r))
            return 1
        print("allocated", flush=True)
        deadline = time.time() + 30
        while not os.path.exists(a[4]) and time.time() < deadline:
            time.sleep(0.05)
        if not tcp:  # the module restarted: the allocation is gone (437)
            ref = c.transact(REFRESH, [(A_LIFETIME, b"\0\0\x02\x58")])
        else:  # the connection died with the container
            ref = {"code": "closed"}
            c = Client(server, port, tcp)
            c.login(a[0], a[1])
        re = c.allocate()
        peer = xaddr(a[2], int(a[3]), b"\0" * 12)
        c.transact(CHANBIND, [(A_CHANNEL, b"\x40\x01\0\0"), (A_PEER, peer)])
        c.send(struct.pack("!HH", 0x4001, 5) + b"again" + b"\0\0\0")
        echo = data_back(c, b"again")
        print("restart refresh=%s realloc=%s echo=%s" % (ref["code"] if ref else "none", code(re),
                                                         "data" if echo else "nodata"))
    elif scen == "media":
        c.login(a[0], a[1])
        r = c.allocate()
        if r is None or r["code"] != 200:
            print("media allocate", code(r))
            return 1
        x = r["attrs"][A_RELAYED]
        port = struct.unpack("!H", x[2:4])[0] ^ 0x2112
        ip = socket.inet_ntoa(bytes(b ^ m for b, m in zip(x[4:8], struct.pack("!I", MAGIC))))
        with open(a[2] + ".tmp", "w") as f:
            f.write("%s %d\n" % (ip, port))
        os.rename(a[2] + ".tmp", a[2])
        deadline = time.time() + 30
        while not os.path.exists(a[3]) and time.time() < deadline:
            time.sleep(0.05)
        pip, pport = open(a[3]).read().split()
        peer = xaddr(pip, int(pport), b"\0" * 12)
        r = c.transact(CHANBIND, [(A_CHANNEL, b"\x40\x00\0\0"), (A_PEER, peer)])
        n, got = int(a[4]), 0
        t0 = time.time()
        for i in range(n):
            c.send(struct.pack("!HH", 0x4000, 172) + (b"rtp-%05d" % i) + b"\0" * 163)
            while True:
                left = t0 + (i + 1) * 0.02 - time.time()
                if left <= 0:
                    break
                d = c.recv(left)
                if d and (d[:4] == b"\x40\x00\x00\xac" or (parse(d) or {}).get("method") == DATA):
                    got += 1
        deadline = time.time() + 1
        while time.time() < deadline:
            d = c.recv(deadline - time.time())
            if d is None:
                break
            if d[:4] == b"\x40\x00\x00\xac" or (parse(d) or {}).get("method") == DATA:
                got += 1
        print("media relay=%s:%d sent=%d received=%d" % (ip, port, n, got))
    else:
        print("unknown scenario", scen)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
