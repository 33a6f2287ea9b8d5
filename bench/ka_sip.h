/* The SIP payload of bench/forwarding-keepalive: a NAT keep-alive NOTIFY
 * (Event: keep-alive, as the NetServ papers' KeepAlive benchmark sent)
 * padded to exactly the length asked for, with a sequence number in its
 * Call-ID. Used by ka_gen.c and ka_ping.c. */
#pragma once

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define KA_MIN_LEN 290 /* the NOTIFY with an X-Pad of at least one byte */

/* Writes the NOTIFY of sequence number seq into buf, exactly len bytes
 * (KA_MIN_LEN..1472). Returns 0, or -1 if len is out of range. */
static inline int ka_notify(char *buf, size_t len, uint64_t seq)
{
	char head[512];
	int n = snprintf(head, sizeof(head),
	                 "NOTIFY sip:registrar@192.0.2.10 SIP/2.0\r\n"
	                 "Via: SIP/2.0/UDP 198.51.100.20:5060;branch=z9hG4bK%016llx;rport\r\n"
	                 "From: <sip:ua@198.51.100.20>;tag=ka1\r\n"
	                 "To: <sip:registrar@192.0.2.10>\r\n"
	                 "Call-ID: ka%016llx@ua\r\n"
	                 "CSeq: 1 NOTIFY\r\n"
	                 "Event: keep-alive\r\n"
	                 "X-Pad: ",
	                 (unsigned long long)seq, (unsigned long long)seq);
	const char *tail = "\r\nContent-Length: 0\r\n\r\n";
	size_t tl = strlen(tail);
	if (len < KA_MIN_LEN || len > 1472 || (size_t)n + tl + 1 > len)
		return -1;
	memcpy(buf, head, (size_t)n);
	memset(buf + n, 'x', len - (size_t)n - tl);
	memcpy(buf + len - tl, tail, tl);
	return 0;
}

/* The sequence number in the Call-ID of a NOTIFY from ka_notify(), or -1. */
static inline int64_t ka_seq(const char *buf, size_t len)
{
	const char *p = memmem(buf, len, "Call-ID: ka", 11);
	unsigned long long v;
	if (!p || (size_t)(p - buf) + 11 + 16 > len || sscanf(p + 11, "%16llx", &v) != 1)
		return -1;
	return (int64_t)v;
}
