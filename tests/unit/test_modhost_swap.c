/* Unit tests: the module host's hot swap (modhost_swap): a module compiled
 * quickly (-O0) runs, then its -O2 build takes its place with the running
 * instance's state; builds of another module, or the same object, are
 * refused and the module runs on. Compiles with the real wasm2c and cc (as
 * `nobody` when run as root). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "abi/glue.h"
#include "container/modhost_internal.h"
#include "lib/evloop.h"
#include "lib/memfd_image.h"
#include "../lib/loop_wait.h"
#include "runtime/aot.h"
#include "runtime/wasm_check.h"

static struct evloop *g_loop;
static char g_dir[] = "/tmp/test_modhost_swap.XXXXXX";

struct build {
	bool done;
	int status;
	char so[512];
	char reason[512];
};

static void on_done(void *ctx, const struct aot_result *res)
{
	struct build *b = ctx;
	b->done = true;
	b->status = res->status;
	snprintf(b->so, sizeof(b->so), "%s", res->so_path ? res->so_path : "");
	snprintf(b->reason, sizeof(b->reason), "%s", res->reason);
}

/* Compiles tests/unit/wat/NAME at `optimize` into its own cache. */
static void build(const char *name, const char *optimize, struct build *b)
{
	static const char *const o0_flags[] = {"-ffunction-sections", "-Wl,--gc-sections", NULL};
	char path[512], cache[256], err[AOT_ERR_LEN];
	uint8_t buf[65536], sha[32];
	struct wasm_check_result chk;
	const struct wasm_check_limits lim = {.max_memory_pages = 16};
	snprintf(path, sizeof(path), "%s/%s.wasm", TEST_WASM_DIR, name);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	crypto_hash_sha256(sha, buf, n);
	assert_int_equal(wasm_check(buf, n, &lim, &chk, err, sizeof(err)), 0);
	snprintf(cache, sizeof(cache), "%s/cache%s", g_dir, optimize);
	struct aot_config cfg = {
	        .cache_dir = cache,
	        .runtime_dir = SOURCE_DIR "/src/abi",
	        .optimize = optimize,
	        .cflags = strcmp(optimize, "-O0") == 0 ? o0_flags : NULL,
	};
	struct aot *aot = NULL;
	assert_int_equal(aot_new(g_loop, &cfg, &aot, err, sizeof(err)), 0);
	memset(b, 0, sizeof(*b));
	assert_int_equal(aot_compile(aot, path, sha, &chk, on_done, b, NULL, err, sizeof(err)), 0);
	assert_true(loop_wait_flag(g_loop, &b->done, 120000));
	if (b->status != 0)
		fail_msg("%s %s: %s", name, optimize, b->reason);
	aot_free(aot);
}

static const struct modhost_limits lim = {.budget_ms = 100,
                                          .mem_max_pages = 8,
                                          .trap_limit = 3,
                                          .trap_window_s = 60,
                                          .log_per_s = 10};

static uint32_t word8(const struct mod *m)
{
	uint32_t v;
	memcpy(&v, m->mem->data + 8, sizeof(v));
	return v;
}

static void packet(struct modhost *h)
{
	uint8_t pkt[NS_PACKET_MAX] = {0x45};
	uint32_t len = 20;
	struct ns_pkt_meta meta = {.hook = 2};
	modhost_packet(h, pkt, &len, sizeof(pkt), &meta);
}

static void test_swap_keeps_state(void **state)
{
	struct build quick, full, other;
	struct modhost *h = NULL;
	char err[256];
	(void)state;

	build("ok_state", "-O0", &quick);
	build("ok_state", "-O2", &full);
	build("ok_packet", "-O2", &other);
	assert_int_equal(modhost_new(g_loop, &lim, NULL, NULL, NULL, &h, err, sizeof(err)), 0);
	assert_int_equal(modhost_install(h, "st", quick.so, -1, NULL, NULL, 0, err, sizeof(err)),
	                 0);
	struct mod *m = h->mods;
	const struct ns_glue *g0 = m->g;
	packet(h);
	packet(h); /* the module's memory grows to 3 pages */
	assert_int_equal(word8(m), 4);
	assert_int_equal(m->mem->pages, 3);

	/* refused: another module's build, the same object; it runs on */
	assert_int_equal(modhost_swap(h, "st", other.so, -1, err, sizeof(err)), -EINVAL);
	assert_int_equal(modhost_swap(h, "st", quick.so, -1, err, sizeof(err)), -EALREADY);
	assert_int_equal(modhost_swap(h, "nope", full.so, -1, err, sizeof(err)), -ENOENT);
	assert_ptr_equal(m->g, g0);
	assert_int_equal(word8(m), 4);

	assert_int_equal(modhost_swap(h, "st", full.so, -1, err, sizeof(err)), 0);
	assert_ptr_not_equal(m->g, g0);
	assert_int_equal(m->swaps, 1);
	assert_int_equal(m->mem->pages, 3);
	assert_int_equal(m->mem->max_pages, 4); /* the module's own maximum, under the cap */
	assert_int_equal(word8(m), 4);
	packet(h);
	assert_int_equal(word8(m), 6); /* the state went on in the new build */
	assert_int_equal(m->packets, 3);
	assert_string_equal(m->so_path, full.so);
	assert_int_equal(modhost_remove(h, "st"), 0);
	modhost_free(h);
}

/* One sealed image (what netservd sends: runtime/module_image.h) for two
 * modules of one host: each gets a load of its own (glibc would hand the
 * second dlopen() the first one's object: same device and inode), its own
 * instance and state; a swap of one of them to that same image too. Any
 * other file is loaded from a sealed copy. */
static void test_one_image_two_modules(void **state)
{
	struct build b;
	struct modhost *h = NULL;
	char err[256];
	(void)state;

	build("ok_state", "-O2", &b);
	int so = open(b.so, O_RDONLY | O_CLOEXEC);
	assert_true(so >= 0);
	int img = memfd_image_copy(so, "ok_state");
	close(so);
	assert_true(img >= 0 && memfd_image_is_sealed(img));
	assert_int_equal(modhost_new(g_loop, &lim, NULL, NULL, NULL, &h, err, sizeof(err)), 0);
	assert_int_equal(modhost_install(h, "a", b.so, img, NULL, NULL, 0, err, sizeof(err)), 0);
	assert_int_equal(modhost_install(h, "b", b.so, img, NULL, NULL, 0, err, sizeof(err)), 0);
	struct mod *ma = h->mods, *mb = ma ? ma->next : NULL;
	assert_non_null(mb);
	assert_ptr_not_equal(ma->g, mb->g); /* two objects */
	packet(h);
	packet(h); /* each module sees both packets, in its own memory */
	assert_int_equal(word8(ma), 4);
	assert_int_equal(word8(mb), 4);

	/* b swapped to the image a runs: a load of its own again, state kept */
	assert_int_equal(modhost_swap(h, "b", b.so, img, err, sizeof(err)), 0);
	assert_ptr_not_equal(ma->g, mb->g);
	packet(h);
	assert_int_equal(word8(ma), 6);
	assert_int_equal(word8(mb), 6);

	/* Not an image (a file of the node): loaded from a sealed copy; a
	 * descriptor that cannot be copied is refused, nothing installed. */
	so = open(b.so, O_RDONLY | O_CLOEXEC);
	assert_true(so >= 0);
	assert_int_equal(modhost_install(h, "c", b.so, so, NULL, NULL, 0, err, sizeof(err)), 0);
	close(so);
	struct mod *mc = mb->next;
	assert_non_null(mc);
	assert_true(memfd_image_is_sealed(mc->so_fd));
	int dir = open(g_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dir >= 0);
	assert_int_equal(modhost_install(h, "d", b.so, dir, NULL, NULL, 0, err, sizeof(err)),
	                 -EISDIR);
	close(dir);
	assert_null(mc->next);
	assert_int_equal(modhost_remove(h, "a"), 0);
	assert_int_equal(modhost_remove(h, "b"), 0);
	assert_int_equal(modhost_remove(h, "c"), 0);
	close(img);
	modhost_free(h);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_swap_keeps_state),
	        cmocka_unit_test(test_one_image_two_modules),
	};
	if (sodium_init() < 0 || evloop_new(&g_loop) < 0 || !mkdtemp(g_dir) ||
	    chmod(g_dir, 0755) < 0)
		return 1;
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	evloop_free(g_loop);
	return r;
}
