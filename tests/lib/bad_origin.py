#!/usr/bin/env python3
"""bad_origin.py ADDRESS PORT LOG: an HTTP origin that misbehaves on purpose,
for tests of a caching proxy (tests/daemon/test_activecdn_bad.sh). Every
request is logged to LOG as "GET PATH" and, when its connection ends,
"END PATH SENT" (body bytes sent). Paths:

  /ok/NAME    200, 1000 bytes derived from NAME, Cache-Control max-age=3600
  /stall      Content-Length 1000000, 10000 bytes, then nothing (60 s)
  /reset      Content-Length 1000000, 100000 bytes, then a TCP reset
  /short      Content-Length 1000, then 2000 bytes and close (says less)
  /long       Content-Length 2000, then 1000 bytes and close (says more)
  /huge       Content-Length 5 GiB of zeros, generated, until the peer closes
  /huge-chunked  the same without a length (chunked), endless
  /slow/NAME  200, 3000000 bytes derived from NAME at about 1 MB/s
  anything else: 404"""
import hashlib
import socket
import struct
import sys
import threading
import time

LOG_LOCK = threading.Lock()


def log(path, line):
    with LOG_LOCK, open(path, "a") as f:
        f.write(line + "\n")


def body_of(name):
    out, i = b"", 0
    while len(out) < 1000:
        out += hashlib.sha256(("%s/%d" % (name, i)).encode()).digest()
        i += 1
    return out[:1000]


def head(status, length=None, extra=""):
    h = "HTTP/1.1 %s\r\nCache-Control: max-age=3600\r\nConnection: close\r\n" % status
    if length is not None:
        h += "Content-Length: %d\r\n" % length
    return (h + extra + "\r\n").encode()


def serve(conn, logpath):
    sent, path = 0, "?"
    try:
        req = b""
        while b"\r\n\r\n" not in req and len(req) < 65536:
            d = conn.recv(4096)
            if not d:
                return
            req += d
        path = req.split(b" ")[1].decode(errors="replace")
        log(logpath, "GET " + path)
        zeros = bytes(65536)
        if path.startswith("/ok/"):
            b = body_of(path)
            conn.sendall(head("200 OK", len(b)) + b)
            sent = len(b)
        elif path.startswith("/slow/"):
            b = body_of(path) * 3000
            conn.sendall(head("200 OK", len(b)))
            for i in range(0, len(b), 100000):
                conn.sendall(b[i:i + 100000])
                sent += 100000
                time.sleep(0.1)
        elif path == "/stall":
            conn.sendall(head("200 OK", 1000000) + zeros[:10000])
            sent = 10000
            conn.settimeout(60)
            conn.recv(1)  # until the peer gives up (or 60 s)
        elif path == "/reset":
            conn.sendall(head("200 OK", 1000000) + zeros[:65536] + zeros[:34464])
            sent = 100000
            time.sleep(0.2)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif path == "/short":
            conn.sendall(head("200 OK", 1000) + b"s" * 2000)
            sent = 2000
        elif path == "/long":
            conn.sendall(head("200 OK", 2000) + b"l" * 1000)
            sent = 1000
        elif path == "/huge":
            conn.sendall(head("200 OK", 5 << 30))
            while sent < (5 << 30):
                conn.sendall(zeros)
                sent += len(zeros)
        elif path == "/huge-chunked":
            conn.sendall(head("200 OK", None, "Transfer-Encoding: chunked\r\n"))
            chunk = b"%x\r\n" % len(zeros) + zeros + b"\r\n"
            while True:
                conn.sendall(chunk)
                sent += len(zeros)
        else:
            conn.sendall(head("404 Not Found", 0))
    except OSError:
        pass
    finally:
        log(logpath, "END %s %d" % (path, sent))
        conn.close()


def main():
    addr, port, logpath = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(128)
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c, logpath), daemon=True).start()


if __name__ == "__main__":
    main()
