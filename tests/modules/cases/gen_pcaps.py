#!/usr/bin/env python3
"""Writes the captures of the offline test cases (netserv module test) in
tests/modules/cases/<module>/: the packets the namespace tests send, built
from raw bytes (IPv4/IPv6 + UDP with checksums, pcap with LINKTYPE_RAW), with
fixed timestamps so that the outputs are reproducible.

  keepalive/   test_sip_keepalive.sh: keep-alive NOTIFYs (sipp ka_notify.xml,
               -key event keep-alive), OPTIONS pings (ka_options.xml), NOTIFYs
               of another event (message-summary), the CRLF ping, STUN Binding
               over IPv4 and IPv6 and a compact NOTIFY over IPv6 (its Python
               client)
  overload/    test_sip_overload.sh: INVITEs (oc_uac.xml) before and under the
               server's feedback (oc_uas.xml: a Via with oc, oc-algo="loss",
               oc-validity, oc-seq), a retransmission, the ACK to a 503, a BYE
               in a dialog, and an INVITE after the feedback expired
  counter/     test_packet_path.sh: UDP packets to port 5060 (1 000 of them,
               where the namespace test sends 10 000)
  dropper/     test_packet_path.sh: UDP packets to port 5062

Run it again after changing it, then `netserv module test --update` on the
directory, and review the diff of the .expected files.
"""
import os
import socket
import struct
import sys

CLIENT4, SERVER4 = "10.200.1.2", "10.200.2.2"
CLIENT6, SERVER6 = "fd00:200:1::2", "fd00:200:2::2"
T0 = 1700000000  # the captures' first second


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def udp_packet(src, dst, sport, dport, payload, ident=1):
    """A whole IPv4 or IPv6 packet with a UDP datagram, both checksums set."""
    v6 = ":" in src
    fam = socket.AF_INET6 if v6 else socket.AF_INET
    s, d = socket.inet_pton(fam, src), socket.inet_pton(fam, dst)
    ulen = 8 + len(payload)
    if v6:
        pseudo = s + d + struct.pack("!I3xB", ulen, 17)
    else:
        pseudo = s + d + struct.pack("!xBH", 17, ulen)
    u = struct.pack("!HHHH", sport, dport, ulen, 0) + payload
    c = csum(pseudo + u) or 0xFFFF
    u = u[:6] + struct.pack("!H", c) + u[8:]
    if v6:
        return struct.pack("!IHBB", 6 << 28, ulen, 17, 64) + s + d + u
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + ulen, ident & 0xFFFF, 0x4000, 64, 17, 0, s, d)
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + u


def write_pcap(path, packets):
    """packets: (seconds after T0, bytes) pairs; LINKTYPE_RAW (101)."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101))
        for t, p in packets:
            us = round(t * 1e6)
            f.write(struct.pack("<IIII", T0 + us // 1000000, us % 1000000, len(p), len(p)))
            f.write(p)
    print("wrote %s (%d packets)" % (path, len(packets)))


def sip(lines):
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def ka_notify(n, event):
    """sipp's ka_notify.xml for call n."""
    c, s = CLIENT4, SERVER4
    return sip([
        "NOTIFY sip:registrar@%s:5060 SIP/2.0" % s,
        "Via: SIP/2.0/UDP %s:5061;branch=z9hG4bK-4242-%d-0;rport" % (c, n),
        "Max-Forwards: 70",
        "From: <sip:ua%d@%s:5061>;tag=4242ka%d" % (n, c, n),
        "To: <sip:registrar@%s:5060>" % s,
        "Call-ID: %d-4242@%s" % (n, c),
        "CSeq: 1 NOTIFY",
        "Contact: <sip:ua%d@%s:5061>" % (n, c),
        "Event: %s" % event,
        "Subscription-State: active",
        "User-Agent: SIPp keep-alive test",
        "Content-Length: 0",
    ])


def ka_options(n):
    """sipp's ka_options.xml for call n: an OPTIONS outside a dialog."""
    c, s = CLIENT4, SERVER4
    return sip([
        "OPTIONS sip:registrar@%s:5060 SIP/2.0" % s,
        "Via: SIP/2.0/UDP %s:5061;branch=z9hG4bK-4242-%d-1;rport" % (c, n),
        "Max-Forwards: 70",
        "From: <sip:ua%d@%s:5061>;tag=4242op%d" % (n, c, n),
        "To: <sip:registrar@%s:5060>" % s,
        "Call-ID: op%d-4242@%s" % (n, c),
        "CSeq: 1 OPTIONS",
        "Contact: <sip:ua%d@%s:5061>" % (n, c),
        "Accept: application/sdp",
        "Content-Length: 0",
    ])


def keepalive(d):
    pk, t = [], 0.0

    def add(src, dst, sport, payload):
        nonlocal t
        pk.append((t, udp_packet(src, dst, sport, 5060, payload, ident=len(pk) + 1)))
        t += 0.02  # RATE 50/s

    for n in range(1, 4):
        add(CLIENT4, SERVER4, 5061, ka_notify(n, "keep-alive"))
    for n in range(1, 3):
        add(CLIENT4, SERVER4, 5061, ka_options(n))
    for n in range(4, 6):
        add(CLIENT4, SERVER4, 5061, ka_notify(n, "message-summary"))
    add(CLIENT4, SERVER4, 5062, b"\r\n\r\n")
    tid = bytes(range(1, 13))
    stun = struct.pack("!HHI", 1, 0, 0x2112A442) + tid
    add(CLIENT4, SERVER4, 5062, stun)
    add(CLIENT6, SERVER6, 5062, stun)
    c6, s6 = CLIENT6, SERVER6
    add(c6, s6, 5062, sip([
        "NOTIFY sip:registrar@[%s] SIP/2.0" % s6,
        "v: SIP/2.0/UDP [%s]:5062;branch=z9hG4bK6six" % c6,
        "f: <sip:ua@[%s]>;tag=six" % c6, "t: <sip:registrar@[%s]>" % s6,
        "i: v6-keepalive", "CSeq: 9 NOTIFY", "o: keep-alive", "l: 0",
    ]))
    write_pcap(os.path.join(d, "keepalive.pcap"), pk)


def invite(n, branch=None):
    c, s = CLIENT4, SERVER4
    return sip([
        "INVITE sip:service@%s:5060 SIP/2.0" % s,
        "Via: SIP/2.0/UDP %s:5061;branch=%s" % (c, branch or "z9hG4bK-77-%d-0" % n),
        "From: sipp <sip:sipp@%s:5061>;tag=77SIPpTag%d" % (c, n),
        "To: service <sip:service@%s:5060>" % s,
        "Call-ID: %d-77@%s" % (n, c),
        "CSeq: 1 INVITE",
        "Contact: sip:sipp@%s:5061" % c,
        "Max-Forwards: 70",
        "Subject: Overload test",
        "Content-Length: 0",
    ])


def fnv(h, s):
    for b in s.encode():
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


def module_tag(n, branch=None):
    """modules/sip.h sip_make_tag("nsoc", INVITE n): the To tag of its 503."""
    h = fnv(2166136261, "%d-77@%s" % (n, CLIENT4))
    h = fnv((h * 16777619) & 0xFFFFFFFF, "77SIPpTag%d" % n)
    h = fnv((h * 16777619) & 0xFFFFFFFF, branch or "z9hG4bK-77-%d-0" % n)
    return "nsoc%08x" % h


def in_dialog(n, method, to_tag, cseq, branch):
    c, s = CLIENT4, SERVER4
    return sip([
        "%s sip:service@%s:5060 SIP/2.0" % (method, s),
        "Via: SIP/2.0/UDP %s:5061;branch=%s" % (c, branch),
        "From: sipp <sip:sipp@%s:5061>;tag=77SIPpTag%d" % (c, n),
        "To: service <sip:service@%s:5060>;tag=%s" % (s, to_tag),
        "Call-ID: %d-77@%s" % (n, c),
        "CSeq: %d %s" % (cseq, method),
        "Max-Forwards: 70",
        "Content-Length: 0",
    ])


def response_200(n):
    """oc_uas.xml's 200 to INVITE n, with the server's RFC 7339 feedback."""
    c, s = CLIENT4, SERVER4
    return sip([
        "SIP/2.0 200 OK",
        "Via: SIP/2.0/UDP %s:5061;branch=z9hG4bK-77-%d-0;oc=50;oc-algo=\"loss\";"
        "oc-validity=2000;oc-seq=1700000000.1" % (c, n),
        "From: sipp <sip:sipp@%s:5061>;tag=77SIPpTag%d" % (c, n),
        "To: service <sip:service@%s:5060>;tag=srv%d" % (s, n),
        "Call-ID: %d-77@%s" % (n, c),
        "CSeq: 1 INVITE",
        "Contact: <sip:%s:5060;transport=UDP>" % s,
        "Content-Length: 0",
    ])


def overload(d):
    pk, t = [], 0.0

    def add(payload, to_server=True, dt=0.01):
        nonlocal t
        if to_server:
            p = udp_packet(CLIENT4, SERVER4, 5061, 5060, payload, ident=len(pk) + 1)
        else:
            p = udp_packet(SERVER4, CLIENT4, 5060, 5061, payload, ident=len(pk) + 1)
        pk.append((t, p))
        t += dt

    add(invite(1))                     # no feedback yet: admitted, announced
    add(response_200(1), False)        # feedback: shed 50%, for 2 s
    add(in_dialog(1, "ACK", "srv1", 1, "z9hG4bK-77-1-ack"))
    for n in range(2, 10):             # under control: every other one shed
        add(invite(n))
    add(invite(2))                     # a retransmission of a shed INVITE
    add(in_dialog(2, "ACK", module_tag(2), 1, "z9hG4bK-77-2-0"))  # to our 503
    add(in_dialog(1, "BYE", "srv1", 2, "z9hG4bK-77-1-bye"), dt=5.0)
    add(invite(10))                    # the feedback expired: admitted
    write_pcap(os.path.join(d, "overload.pcap"), pk)


def plain_udp(path, dport, count):
    write_pcap(path, [(i * 0.001, udp_packet(CLIENT4, SERVER4, 40000, dport,
                                             b"netserv packet path %05d" % i, ident=i + 1))
                      for i in range(count)])


def main():
    top = os.path.dirname(os.path.abspath(__file__))
    for sub in ("keepalive", "overload", "counter", "dropper"):
        os.makedirs(os.path.join(top, sub), exist_ok=True)
    keepalive(os.path.join(top, "keepalive"))
    overload(os.path.join(top, "overload"))
    plain_udp(os.path.join(top, "counter", "udp5060.pcap"), 5060, 1000)
    plain_udp(os.path.join(top, "dropper", "udp5062.pcap"), 5062, 100)
    return 0


if __name__ == "__main__":
    sys.exit(main())
