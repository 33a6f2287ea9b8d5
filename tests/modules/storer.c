/* storer: the building blocks crypto/1 and storage/1 at work, for
 * tests/daemon/test_blocks.sh. At every start (ns_init) it
 *   - counts its starts in the object "boots" (survives container restarts):
 *     counter "boots";
 *   - checks SHA-256("abc") (FIPS 180-2) and HMAC-SHA1 (RFC 2202 case 2)
 *     with ns_ct_equal: counters "sha_ok", "hmac_ok";
 *   - fills the publisher's quota with the object "fill" in 1000-byte
 *     appends until -ENOSPC: counters "filled" (bytes) and "enospc" (1 when
 *     the quota stopped it), then deletes "fill";
 *   - reports the store's usage: counter "used".
 * Every packet is accepted. */
#include <netserv.h>

static const uint8_t sha_abc[32] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
                                    0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
                                    0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
                                    0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
static const uint8_t hmac_jefe[20] = {0xef, 0xfc, 0xdf, 0x6a, 0xe5, 0xeb, 0x2f, 0xa2, 0xd2, 0x74,
                                      0x16, 0xd5, 0xf1, 0x84, 0xdf, 0x9c, 0x25, 0x9a, 0x7c, 0x79};
static uint8_t chunk[1000];

static void set(const char *name, uint64_t v)
{
	ns_counter_add(ns_counter_id(name), v);
}

int32_t ns_init(void)
{
	uint32_t boots = 0;
	if (ns_store_read("boots", 0, &boots, 4) != 4)
		boots = 0;
	boots++;
	if (ns_store_put("boots", &boots, 4) == 0)
		set("boots", boots);

	uint8_t d[NS_HASH_MAX];
	set("sha_ok", ns_hash(NS_SHA256, "abc", 3, d) == 32 && ns_ct_equal(d, sha_abc, 32));
	const char *msg = "what do ya want for nothing?";
	set("hmac_ok", ns_hmac(NS_SHA1, "Jefe", 4, msg, ns_strlen(msg), d) == 20 &&
	                       ns_ct_equal(d, hmac_jefe, 20));

	int32_t r;
	uint64_t filled = 0;
	while ((r = ns_store_append("fill", chunk, sizeof(chunk))) > 0)
		filled = (uint64_t)r;
	set("filled", filled);
	set("enospc", r == -NS_ENOSPC);
	ns_store_delete("fill");

	struct ns_store_usage u;
	if (ns_store_usage(&u) == 0)
		set("used", u.used);
	return 0;
}

int32_t ns_packet(uint32_t len)
{
	(void)len;
	return NS_ACCEPT;
}
