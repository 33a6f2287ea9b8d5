/* bench/media-relay's load generator: a TURN client (modules/stun.h,
 * compiled natively; OpenSSL for the long-term credentials) that allocates
 * on a TURN server, binds channel 0x4000 to an echo peer and sends
 * ChannelData with SIZE-byte payloads at RATE round trips a second for
 * SECONDS, paced in ticks of 100 us; the peer's echoes come back through the
 * relay. Or, with "direct", the same load straight to the peer (the
 * baseline of the latency the relay adds).
 *   turn_load SERVER PORT PEER PEERPORT USER PASS RATE SECONDS [SIZE]
 *   turn_load direct PEER PEERPORT RATE SECONDS [SIZE]
 * Prints one line: "sent S received R lost L rate X p50_us P p99_us Q"
 * (rate: round trips a second that came back; a datagram not back 300 ms
 * after the end is lost). IPv4 only. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "stun.h"

#define BENCH_NAME "turn_load"
#include "bench_util.h"

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static int udp_to(const char *addr, int port)
{
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (inet_pton(AF_INET, addr, &in.sin_addr) != 1)
		return -1;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	int big = 4 << 20;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	if (fd < 0 || connect(fd, (struct sockaddr *)&in, sizeof(in)) < 0)
		return -1;
	return fd;
}

/* One request/response; returns the parsed response's length in resp. */
static int transact(int fd, uint8_t *req, int32_t len, uint8_t *resp, struct stun_msg *m)
{
	for (int tries = 0; tries < 5; tries++) {
		if (send(fd, req, (size_t)len, 0) != len)
			return -1;
		struct pollfd p = {fd, POLLIN, 0};
		uint64_t deadline = now_ns() + 500000000u;
		while (poll(&p, 1, (int)((deadline - now_ns()) / 1000000u) + 1) > 0) {
			ssize_t n = recv(fd, resp, 2048, 0);
			if (n > 0 && stun_parse(resp, (uint32_t)n, m) == STUN_OK &&
			    memcmp(m->tid, req + 8, 12) == 0)
				return 0;
			if (now_ns() >= deadline)
				break;
		}
	}
	return -1;
}

static void new_tid(uint8_t *tid)
{
	for (int i = 0; i < 12; i++)
		tid[i] = (uint8_t)rand();
}

/* Allocates and binds channel 0x4000 to the peer. */
static int turn_setup(int fd, const char *peer, int pport, const char *user, const char *pass)
{
	uint8_t req[1024], resp[2048], tid[12], key[16];
	struct stun_builder b;
	struct stun_msg m;
	struct stun_attr realm, nonce;
	char rbuf[256], nbuf[256];
	new_tid(tid);
	stun_begin(&b, req, sizeof(req), TURN_ALLOCATE, STUN_REQUEST, tid);
	stun_put_u32(&b, STUN_A_REQUESTED_TRANSPORT, 17u << 24);
	if (transact(fd, req, stun_end(&b), resp, &m) < 0 || stun_get_error(&m) != 401 ||
	    !stun_find(&m, STUN_A_REALM, &realm) || !stun_find(&m, STUN_A_NONCE, &nonce) ||
	    realm.len > 255 || nonce.len > 255) {
		fprintf(stderr, "turn_load: no 401 with realm and nonce\n");
		return -1;
	}
	memcpy(rbuf, realm.val, realm.len);
	memcpy(nbuf, nonce.val, nonce.len);
	uint32_t rl = realm.len, nl = nonce.len;
	stun_long_term_key(user, (uint32_t)strlen(user), rbuf, rl, pass, (uint32_t)strlen(pass),
	                   key);
	new_tid(tid);
	stun_begin(&b, req, sizeof(req), TURN_ALLOCATE, STUN_REQUEST, tid);
	stun_put_u32(&b, STUN_A_REQUESTED_TRANSPORT, 17u << 24);
	stun_put(&b, STUN_A_USERNAME, user, (uint32_t)strlen(user));
	stun_put(&b, STUN_A_REALM, rbuf, rl);
	stun_put(&b, STUN_A_NONCE, nbuf, nl);
	stun_put_integrity(&b, key, 16);
	stun_put_fingerprint(&b);
	if (transact(fd, req, stun_end(&b), resp, &m) < 0 || m.cls != STUN_SUCCESS) {
		fprintf(stderr, "turn_load: Allocate failed (%d)\n", stun_get_error(&m));
		return -1;
	}
	struct ns_sockaddr pa = {NS_IPV4, (uint32_t)pport, {0}};
	inet_pton(AF_INET, peer, pa.addr);
	new_tid(tid);
	stun_begin(&b, req, sizeof(req), TURN_CHANNEL_BIND, STUN_REQUEST, tid);
	stun_put_u32(&b, STUN_A_CHANNEL_NUMBER, 0x4000u << 16);
	stun_put_addr(&b, STUN_A_XOR_PEER_ADDRESS, &pa, true);
	stun_put(&b, STUN_A_USERNAME, user, (uint32_t)strlen(user));
	stun_put(&b, STUN_A_REALM, rbuf, rl);
	stun_put(&b, STUN_A_NONCE, nbuf, nl);
	stun_put_integrity(&b, key, 16);
	stun_put_fingerprint(&b);
	if (transact(fd, req, stun_end(&b), resp, &m) < 0 || m.cls != STUN_SUCCESS) {
		fprintf(stderr, "turn_load: ChannelBind failed (%d)\n", stun_get_error(&m));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	bool direct = argc > 1 && strcmp(argv[1], "direct") == 0;
	if ((direct && argc < 6) || (!direct && argc < 9)) {
		fprintf(stderr,
		        "usage: turn_load SERVER PORT PEER PEERPORT USER PASS RATE SECONDS "
		        "[SIZE]\n       turn_load direct PEER PEERPORT RATE SECONDS [SIZE]\n");
		return 2;
	}
	int ai = direct ? 4 : 7;
	double rate = atof(argv[ai]), secs = atof(argv[ai + 1]);
	size_t size = argc > ai + 2 ? (size_t)atoi(argv[ai + 2]) : 172;
	if (size < 16)
		size = 16;
	if (size > 1400)
		size = 1400;
	srand((unsigned)now_ns());
	int fd = direct ? udp_to(argv[2], atoi(argv[3])) : udp_to(argv[1], atoi(argv[2]));
	if (fd < 0) {
		perror("turn_load: socket");
		return 1;
	}
	if (!direct && turn_setup(fd, argv[3], atoi(argv[4]), argv[5], argv[6]) < 0)
		return 1;
	uint32_t hdr = direct ? 0 : STUN_CD_HDR;
	size_t max = (size_t)(rate * secs) + 16;
	uint32_t *rtt = calloc(max, sizeof(*rtt));
	if (!rtt)
		return 1;
	uint8_t out[1500], in[2048];
	memset(out, 'x', sizeof(out));
	if (!direct) {
		ns_put_be16(out, 0x4000);
		ns_put_be16(out + 2, (uint16_t)size);
	}
	uint64_t sent = 0, got = 0;
	uint64_t t0 = now_ns(), end = t0 + (uint64_t)(secs * 1e9), stop = end + 300000000u;
	for (;;) {
		uint64_t t = now_ns();
		if (t >= stop)
			break;
		if (t < end) {
			uint64_t due = (uint64_t)((double)(t - t0) * rate / 1e9) + 1;
			while (sent < due && sent < max) {
				uint64_t ts = now_ns();
				memcpy(out + hdr, &ts, 8);
				if (send(fd, out, hdr + size, MSG_DONTWAIT) < 0)
					break; /* a full buffer: this one is lost */
				sent++;
			}
		}
		struct timespec tick = {0, 100000};
		struct pollfd p = {fd, POLLIN, 0};
		if (ppoll(&p, 1, &tick, NULL) <= 0)
			continue;
		for (;;) {
			ssize_t n = recv(fd, in, sizeof(in), MSG_DONTWAIT);
			if (n < 0)
				break;
			if ((size_t)n < hdr + 8 || (!direct && ns_get_be16(in) != 0x4000))
				continue; /* a STUN message (Refresh answers, Data indications) */
			uint64_t ts;
			memcpy(&ts, in + hdr, 8);
			if (got < max)
				rtt[got++] = (uint32_t)((now_ns() - ts) / 1000u);
		}
	}
	qsort(rtt, got, sizeof(*rtt), cmp_u32);
	printf("sent %llu received %llu lost %lld rate %.0f p50_us %u p99_us %u\n",
	       (unsigned long long)sent, (unsigned long long)got, (long long)(sent - got),
	       (double)got / secs, got ? rtt[got / 2] : 0, got ? rtt[got * 99 / 100] : 0);
	return 0;
}
