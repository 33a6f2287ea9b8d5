/* The building blocks crypto/1 and storage/1 in the container, natively:
 * the imports (Z_netservZ_*) over a fake module memory, checked against the
 * standards' test vectors, and the object store (store_objects.h) with its
 * keys, quota and persistence. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "container/host_crypto.h"
#include "container/modhost_internal.h"
#include "container/store_objects.h"

#define DECLARE_IMPORT(name, rw, pw, cret, cparams) cret Z_netservZ_##name cparams;
NS_HOST_IMPORTS(DECLARE_IMPORT)

/* A module with 64 KiB of memory. */
static uint8_t mem_data[65536];
static wasm_rt_memory_t mem = {.data = mem_data, .pages = 1, .max_pages = 1, .size = 65536};
static struct modhost host;
static struct mod mod = {.h = &host, .name = "mod1", .mem = &mem};
static struct Z_netserv_instance_t *ctx = &mod.ctx;

static void hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

/* Puts bytes at addr in module memory. */
static uint32_t put(uint32_t addr, const void *p, size_t n)
{
	memcpy(mem_data + addr, p, n);
	return addr;
}

/* ns_hash over the import, the digest as hex. */
static const char *hash_hex(uint32_t alg, const void *data, size_t len)
{
	static char out[2 * NS_HASH_MAX + 1];
	uint32_t d = put(1000, data, len);
	int32_t n = (int32_t)Z_netservZ_ns_hash(ctx, alg, d, (uint32_t)len, 60000);
	if (n <= 0)
		return "error";
	hex(mem_data + 60000, (size_t)n, out);
	return out;
}

static const char *hmac_hex(uint32_t alg, const void *key, size_t klen, const void *data,
                            size_t len)
{
	static char out[2 * NS_HASH_MAX + 1];
	uint32_t k = put(100, key, klen);
	uint32_t d = put(1000, data, len);
	int32_t n =
	        (int32_t)Z_netservZ_ns_hmac(ctx, alg, k, (uint32_t)klen, d, (uint32_t)len, 60000);
	if (n <= 0)
		return "error";
	hex(mem_data + 60000, (size_t)n, out);
	return out;
}

static void test_hash_vectors(void **state)
{
	(void)state;
	/* RFC 1321 A.5 */
	assert_string_equal(hash_hex(NS_MD5, "", 0), "d41d8cd98f00b204e9800998ecf8427e");
	assert_string_equal(hash_hex(NS_MD5, "abc", 3), "900150983cd24fb0d6963f7d28e17f72");
	assert_string_equal(hash_hex(NS_MD5, "message digest", 14),
	                    "f96b697d7cb7938d525a2f31aaf161d0");
	/* FIPS 180-2 appendix A / B */
	assert_string_equal(hash_hex(NS_SHA1, "abc", 3),
	                    "a9993e364706816aba3e25717850c26c9cd0d89d");
	const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	assert_string_equal(hash_hex(NS_SHA1, two, strlen(two)),
	                    "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
	assert_string_equal(hash_hex(NS_SHA256, "abc", 3),
	                    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_string_equal(hash_hex(NS_SHA256, two, strlen(two)),
	                    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	assert_string_equal(hash_hex(NS_SHA512, "abc", 3),
	                    "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
	                    "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
	/* TURN's long-term key: MD5("user:realm:pass") (RFC 5389 15.4) */
	assert_string_equal(hash_hex(NS_MD5, "user:realm:pass", 15),
	                    "8493fbc53ba582fb4c044c456bdc40eb");
	/* Unknown algorithm; the digest may overlap the data. */
	assert_int_equal((int32_t)Z_netservZ_ns_hash(ctx, 0, 1000, 3, 60000), -EINVAL);
	assert_int_equal((int32_t)Z_netservZ_ns_hash(ctx, 9, 1000, 3, 60000), -EINVAL);
	put(2000, "abc", 3);
	assert_int_equal((int32_t)Z_netservZ_ns_hash(ctx, NS_SHA1, 2000, 3, 2000), 20);
	char h[41];
	hex(mem_data + 2000, 20, h);
	assert_string_equal(h, "a9993e364706816aba3e25717850c26c9cd0d89d");
	uint8_t d[NS_HASH_MAX];
	assert_int_equal(host_hash(NS_SHA256, "", 0, d), 32);
}

static void test_hmac_vectors(void **state)
{
	(void)state;
	uint8_t k20[20], kaa[131], dd[50];
	memset(k20, 0x0b, sizeof(k20));
	memset(kaa, 0xaa, sizeof(kaa));
	memset(dd, 0xdd, sizeof(dd));
	/* RFC 2202 test cases 1, 2, 3, 6 */
	assert_string_equal(hmac_hex(NS_SHA1, k20, 20, "Hi There", 8),
	                    "b617318655057264e28bc0b6fb378c8ef146be00");
	assert_string_equal(hmac_hex(NS_SHA1, "Jefe", 4, "what do ya want for nothing?", 28),
	                    "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
	assert_string_equal(hmac_hex(NS_SHA1, kaa, 20, dd, 50),
	                    "125d7342b9ac11cd91a39af48aa17b4f63f175d3");
	const char *big = "Test Using Larger Than Block-Size Key - Hash Key First";
	assert_string_equal(hmac_hex(NS_SHA1, kaa, 80, big, strlen(big)),
	                    "aa4ae5e15272d00e95705637ce8a3b55ed402112");
	/* RFC 2202 HMAC-MD5 test case 2 */
	assert_string_equal(hmac_hex(NS_MD5, "Jefe", 4, "what do ya want for nothing?", 28),
	                    "750c783e6ab0b503eaa86e310a5db738");
	/* RFC 4231 test cases 1, 2, 6 */
	assert_string_equal(hmac_hex(NS_SHA256, k20, 20, "Hi There", 8),
	                    "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
	assert_string_equal(hmac_hex(NS_SHA256, "Jefe", 4, "what do ya want for nothing?", 28),
	                    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	assert_string_equal(hmac_hex(NS_SHA256, kaa, 131, big, strlen(big)),
	                    "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
	assert_string_equal(hmac_hex(NS_SHA512, k20, 20, "Hi There", 8),
	                    "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
	                    "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854");
	/* Empty key and data. */
	assert_string_equal(hmac_hex(NS_SHA256, "", 0, "", 0),
	                    "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
	assert_int_equal((int32_t)Z_netservZ_ns_hmac(ctx, 5, 100, 1, 1000, 1, 60000), -EINVAL);
}

static void test_ct_equal(void **state)
{
	(void)state;
	put(3000, "secret-digest-1", 15);
	put(4000, "secret-digest-1", 15);
	put(5000, "secret-digest-2", 15);
	assert_int_equal(Z_netservZ_ns_ct_equal(ctx, 3000, 4000, 15), 1);
	assert_int_equal(Z_netservZ_ns_ct_equal(ctx, 3000, 5000, 15), 0);
	assert_int_equal(Z_netservZ_ns_ct_equal(ctx, 3000, 5000, 14), 1);
	assert_int_equal(Z_netservZ_ns_ct_equal(ctx, 3000, 5000, 0), 1);
}

/* ---- storage ----------------------------------------------------------------- */

static char dir[64];
static int dir_fd = -1;

static int store_setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_blocks.XXXXXX");
	assert_non_null(mkdtemp(dir));
	dir_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(dir_fd >= 0);
	return 0;
}

static int store_teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	close(dir_fd);
	return 0;
}

#define K(s) (s), strlen(s)

static void test_store_basic(void **state)
{
	(void)state;
	struct objstore *s;
	assert_int_equal(objstore_open(dir_fd, 1 << 20, &s), 0);
	char buf[64];
	assert_int_equal(objstore_size(s, "m", K("count")), -ENOENT);
	assert_int_equal(objstore_read(s, "m", K("count"), 0, buf, 64), -ENOENT);
	assert_int_equal(objstore_put(s, "m", K("count"), "hello", 5), 0);
	assert_int_equal(objstore_size(s, "m", K("count")), 5);
	assert_int_equal(objstore_append(s, "m", K("count"), " world", 6), 11);
	assert_int_equal(objstore_read(s, "m", K("count"), 0, buf, 64), 11);
	assert_memory_equal(buf, "hello world", 11);
	assert_int_equal(objstore_read(s, "m", K("count"), 6, buf, 3), 3);
	assert_memory_equal(buf, "wor", 3);
	assert_int_equal(objstore_read(s, "m", K("count"), 11, buf, 64), 0);
	assert_int_equal(objstore_read(s, "m", K("count"), 1000, buf, 64), 0);
	/* put replaces */
	assert_int_equal(objstore_put(s, "m", K("count"), "x", 1), 0);
	assert_int_equal(objstore_size(s, "m", K("count")), 1);
	/* append creates; empty objects exist */
	assert_int_equal(objstore_append(s, "m", K("log-1.txt"), "a", 1), 1);
	assert_int_equal(objstore_put(s, "m", K("empty"), "", 0), 0);
	assert_int_equal(objstore_size(s, "m", K("empty")), 0);
	uint64_t used, quota;
	objstore_usage(s, &used, &quota);
	assert_int_equal(used, 2);
	assert_int_equal(quota, 1 << 20);
	/* iteration in byte order, per module */
	assert_int_equal(objstore_put(s, "other", K("zzz"), "12345", 5), 0);
	char key[NS_STORE_KEY_MAX];
	assert_int_equal(objstore_next(s, "m", NULL, 0, key, sizeof(key)), 5);
	assert_memory_equal(key, "count", 5);
	assert_int_equal(objstore_next(s, "m", K("count"), key, sizeof(key)), 5);
	assert_memory_equal(key, "empty", 5);
	assert_int_equal(objstore_next(s, "m", K("empty"), key, sizeof(key)), 9);
	assert_memory_equal(key, "log-1.txt", 9);
	assert_int_equal(objstore_next(s, "m", K("log-1.txt"), key, sizeof(key)), -ENOENT);
	assert_int_equal(objstore_next(s, "m", NULL, 0, key, 3), -ENOSPC);
	assert_int_equal(objstore_next(s, "nobody", NULL, 0, key, sizeof(key)), -ENOENT);
	assert_int_equal(objstore_size(s, "m", K("zzz")), -ENOENT); /* other's namespace */
	/* delete */
	assert_int_equal(objstore_delete(s, "m", K("log-1.txt")), 0);
	assert_int_equal(objstore_delete(s, "m", K("log-1.txt")), -ENOENT);
	objstore_usage(s, &used, &quota);
	assert_int_equal(used, 6);
	/* survives a re-open (a container restart); counted again */
	objstore_close(s);
	assert_int_equal(objstore_open(dir_fd, 1 << 20, &s), 0);
	objstore_usage(s, &used, &quota);
	assert_int_equal(used, 6);
	assert_int_equal(objstore_read(s, "m", K("count"), 0, buf, 64), 1);
	assert_memory_equal(buf, "x", 1);
	/* purge deletes one module's objects, not another's */
	assert_int_equal(objstore_purge(s, "m"), 0);
	assert_int_equal(objstore_size(s, "m", K("count")), -ENOENT);
	assert_int_equal(objstore_size(s, "other", K("zzz")), 5);
	objstore_usage(s, &used, &quota);
	assert_int_equal(used, 5);
	assert_int_equal(objstore_purge(s, "m"), 0);
	assert_int_equal(objstore_purge(s, "other"), 0);
	objstore_close(s);
}

static void test_store_bad_keys(void **state)
{
	(void)state;
	struct objstore *s;
	assert_int_equal(objstore_open(dir_fd, 1 << 20, &s), 0);
	char long_key[NS_STORE_KEY_MAX + 2];
	memset(long_key, 'a', sizeof(long_key));
	const struct {
		const char *k;
		size_t n;
	} bad[] = {
	        {"../x", 4}, {"", 0},     {long_key, NS_STORE_KEY_MAX + 1},
	        {"a\0b", 3}, {"a/b", 3},  {"..", 2},
	        {".", 1},    {".hid", 4}, {"sp ace", 6},
	        {"~tmp", 4}, {"a\\b", 3}, {"\xc3\xa9", 2},
	};
	char buf[8];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(objstore_put(s, "m", bad[i].k, bad[i].n, "x", 1), -EINVAL);
		assert_int_equal(objstore_append(s, "m", bad[i].k, bad[i].n, "x", 1), -EINVAL);
		assert_int_equal(objstore_read(s, "m", bad[i].k, bad[i].n, 0, buf, 8), -EINVAL);
		assert_int_equal(objstore_size(s, "m", bad[i].k, bad[i].n), -EINVAL);
		assert_int_equal(objstore_delete(s, "m", bad[i].k, bad[i].n), -EINVAL);
		if (bad[i].n)
			assert_int_equal(objstore_next(s, "m", bad[i].k, bad[i].n, buf, 8),
			                 -EINVAL);
	}
	/* the longest key is fine; so are odd module names (NCM targets) */
	assert_int_equal(objstore_put(s, "m", long_key, NS_STORE_KEY_MAX, "x", 1), 0);
	assert_int_equal(objstore_put(s, "sip:proxy+1*", K("a"), "x", 1), 0);
	assert_int_equal(objstore_put(s, "../up", K("a"), "x", 1), -EINVAL);
	assert_int_equal(objstore_put(s, "a/b", K("a"), "x", 1), -EINVAL);
	/* nothing was created outside the store */
	struct stat st;
	assert_int_equal(fstatat(dir_fd, "x", &st, 0), -1);
	assert_int_equal(fstatat(dir_fd, "store/x", &st, 0), -1);
	assert_int_equal(objstore_purge(s, "m"), 0);
	assert_int_equal(objstore_purge(s, "sip:proxy+1*"), 0);
	objstore_close(s);
}

static void test_store_quota(void **state)
{
	(void)state;
	struct objstore *s;
	assert_int_equal(objstore_open(dir_fd, 100, &s), 0);
	char data[101];
	memset(data, 'q', sizeof(data));
	assert_int_equal(objstore_put(s, "m", K("a"), data, 101), -ENOSPC);
	assert_int_equal(objstore_size(s, "m", K("a")), -ENOENT);
	assert_int_equal(objstore_put(s, "m", K("a"), data, 60), 0);
	/* another module of the publisher shares the quota */
	assert_int_equal(objstore_append(s, "n", K("b"), data, 41), -ENOSPC);
	assert_int_equal(objstore_size(s, "n", K("b")), -ENOENT);        /* not created */
	assert_int_equal(objstore_append(s, "n", K("b"), data, 40), 40); /* exactly full */
	assert_int_equal(objstore_append(s, "n", K("b"), data, 1), -ENOSPC);
	assert_int_equal(objstore_size(s, "n", K("b")), 40); /* unchanged */
	assert_int_equal(objstore_put(s, "m", K("c"), data, 1), -ENOSPC);
	/* replacing counts the difference */
	assert_int_equal(objstore_put(s, "m", K("a"), data, 61), -ENOSPC);
	assert_int_equal(objstore_put(s, "m", K("a"), data, 60), 0);
	assert_int_equal(objstore_put(s, "m", K("a"), data, 10), 0);
	assert_int_equal(objstore_put(s, "m", K("c"), data, 50), 0);
	uint64_t used, quota;
	objstore_usage(s, &used, &quota);
	assert_int_equal(used, 100);
	/* deleting frees; the quota holds across a re-open */
	assert_int_equal(objstore_delete(s, "m", K("c")), 0);
	objstore_close(s);
	assert_int_equal(objstore_open(dir_fd, 100, &s), 0);
	objstore_usage(s, &used, &quota);
	assert_int_equal(used, 50);
	assert_int_equal(objstore_append(s, "m", K("a"), data, 51), -ENOSPC);
	assert_int_equal(objstore_append(s, "m", K("a"), data, 50), 60);
	objstore_close(s);
	/* a smaller quota later: what is there stays readable, nothing grows */
	assert_int_equal(objstore_open(dir_fd, 10, &s), 0);
	assert_int_equal(objstore_append(s, "m", K("a"), data, 1), -ENOSPC);
	assert_int_equal(objstore_size(s, "m", K("a")), 60);
	assert_int_equal(objstore_delete(s, "m", K("a")), 0);
	assert_int_equal(objstore_delete(s, "n", K("b")), 0);
	objstore_usage(s, &used, &quota);
	assert_int_equal(used, 0);
	objstore_close(s);
}

/* Leftovers of a put that was killed halfway are removed at open. */
static void test_store_leftovers(void **state)
{
	(void)state;
	struct objstore *s;
	assert_int_equal(objstore_open(dir_fd, 1000, &s), 0);
	assert_int_equal(objstore_put(s, "m", K("a"), "abc", 3), 0);
	objstore_close(s);
	int fd = openat(dir_fd, "store/m.m/~tmp", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "12345", 5), 5);
	close(fd);
	assert_int_equal(objstore_open(dir_fd, 1000, &s), 0);
	uint64_t used, quota;
	objstore_usage(s, &used, &quota);
	assert_int_equal(used, 3);
	struct stat st;
	assert_int_equal(fstatat(dir_fd, "store/m.m/~tmp", &st, 0), -1);
	assert_int_equal(objstore_purge(s, "m"), 0);
	objstore_close(s);
}

/* objstore_open_read, which ns_http_respond_stored sends from: an fd and the
 * size for a stored object; -ENOENT for a missing key, and for a key whose
 * file is not a regular file (a directory, a symbolic link) planted in the
 * module's directory, never an fd of it. */
static void test_store_open_read(void **state)
{
	(void)state;
	struct objstore *s;
	uint64_t size = 99;
	assert_int_equal(objstore_open(dir_fd, 1 << 20, &s), 0);
	assert_int_equal(objstore_open_read(s, "m", K("obj"), &size), -ENOENT);
	assert_int_equal(objstore_put(s, "m", K("obj"), "hello", 5), 0);
	int fd = objstore_open_read(s, "m", K("obj"), &size);
	assert_true(fd >= 0);
	assert_int_equal(size, 5);
	close(fd);
	assert_int_equal(mkdirat(dir_fd, "store/m.m/adir", 0700), 0);
	assert_int_equal(objstore_open_read(s, "m", K("adir"), &size), -ENOENT);
	assert_int_equal(symlinkat("obj", dir_fd, "store/m.m/alink"), 0);
	assert_int_equal(objstore_open_read(s, "m", K("alink"), &size), -ENOENT);
	assert_int_equal(size, 5); /* not set by a refusal */
	objstore_close(s);
}

/* The storage imports: module namespaces by name, memory checks, -EPERM
 * without a store. */
static void test_store_imports(void **state)
{
	(void)state;
	host.store = NULL;
	put(100, "key", 3);
	put(200, "value", 5);
	assert_int_equal((int32_t)Z_netservZ_ns_store_put(ctx, 100, 3, 200, 5), -EPERM);
	assert_int_equal((int32_t)Z_netservZ_ns_store_usage(ctx, 300), -EPERM);
	assert_int_equal(objstore_open(dir_fd, 1000, &host.store), 0);
	assert_int_equal((int32_t)Z_netservZ_ns_store_put(ctx, 100, 3, 200, 5), 0);
	assert_int_equal((int32_t)Z_netservZ_ns_store_append(ctx, 100, 3, 200, 5), 10);
	assert_int_equal((int32_t)Z_netservZ_ns_store_size(ctx, 100, 3), 10);
	memset(mem_data + 400, 0, 16);
	assert_int_equal((int32_t)Z_netservZ_ns_store_read(ctx, 100, 3, 3, 400, 16), 7);
	assert_memory_equal(mem_data + 400, "uevalue", 7);
	assert_int_equal((int32_t)Z_netservZ_ns_store_next(ctx, 0, 0, 500, 16), 3);
	assert_memory_equal(mem_data + 500, "key", 3);
	assert_int_equal((int32_t)Z_netservZ_ns_store_next(ctx, 100, 3, 500, 16), -ENOENT);
	assert_int_equal((int32_t)Z_netservZ_ns_store_usage(ctx, 600), 0);
	struct ns_store_usage u;
	memcpy(&u, mem_data + 600, sizeof(u));
	assert_int_equal(u.used, 10);
	assert_int_equal(u.quota, 1000);
	assert_int_equal(objstore_size(host.store, "mod1", K("key")), 10);
	put(100, "../k", 4);
	assert_int_equal((int32_t)Z_netservZ_ns_store_put(ctx, 100, 4, 200, 5), -EINVAL);
	put(100, "key", 3);
	assert_int_equal((int32_t)Z_netservZ_ns_store_delete(ctx, 100, 3), 0);
	assert_int_equal((int32_t)Z_netservZ_ns_store_delete(ctx, 100, 3), -ENOENT);
	host.store = objstore_close(host.store);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_hash_vectors),
	        cmocka_unit_test(test_hmac_vectors),
	        cmocka_unit_test(test_ct_equal),
	        cmocka_unit_test_setup_teardown(test_store_basic, store_setup, store_teardown),
	        cmocka_unit_test_setup_teardown(test_store_bad_keys, store_setup, store_teardown),
	        cmocka_unit_test_setup_teardown(test_store_quota, store_setup, store_teardown),
	        cmocka_unit_test_setup_teardown(test_store_leftovers, store_setup, store_teardown),
	        cmocka_unit_test_setup_teardown(test_store_open_read, store_setup, store_teardown),
	        cmocka_unit_test_setup_teardown(test_store_imports, store_setup, store_teardown),
	};
	mod.ctx.m = &mod;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
