/* Unit tests: sealed memfd images (lib/memfd_image.h) and the cache of the
 * compiled modules' shared images (runtime/module_image.h). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/memfd_image.h"
#include "runtime/module_image.h"

static char dir[64];

static void path_of(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", dir, name);
}

/* Writes size bytes of fill into dir/name (replacing the file: a new inode). */
static void write_file(const char *name, char fill, size_t size)
{
	char p[128], tmp[140];
	path_of(p, sizeof(p), name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", p);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	char *buf = malloc(size ? size : 1);
	assert_non_null(buf);
	memset(buf, fill, size);
	assert_int_equal(write(fd, buf, size), (ssize_t)size);
	free(buf);
	close(fd);
	assert_int_equal(rename(tmp, p), 0);
}

static ino_t ino_of(int fd)
{
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	return st.st_ino;
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_module_image.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_copy_is_sealed_and_equal(void **state)
{
	(void)state;
	write_file("a.so", 'a', 100000); /* more than one read of the copy */
	char p[128];
	path_of(p, sizeof(p), "a.so");
	int fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	assert_false(memfd_image_is_sealed(fd)); /* a file of the node */
	int m = memfd_image_copy(fd, "a.so");
	close(fd);
	assert_true(m >= 0);
	assert_true(memfd_image_is_sealed(m));
	struct stat st;
	assert_int_equal(fstat(m, &st), 0);
	assert_int_equal(st.st_size, 100000);
	char c = 0;
	assert_int_equal(pread(m, &c, 1, 99999), 1);
	assert_int_equal(c, 'a');
	/* Nobody changes it: no write, no growing, no shrinking, no shared
	 * writable mapping, no removing the seals. */
	assert_int_equal(pwrite(m, "x", 1, 0), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(ftruncate(m, 10), -1);
	assert_int_equal(ftruncate(m, 200000), -1);
	assert_ptr_equal(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0), MAP_FAILED);
	assert_int_equal(fcntl(m, F_ADD_SEALS, F_SEAL_FUTURE_WRITE), -1);
	close(m);

	/* A memfd that is not sealed is not an image. */
	int u = memfd_create("open", MFD_ALLOW_SEALING);
	assert_true(u >= 0);
	assert_false(memfd_image_is_sealed(u));
	assert_int_equal(fcntl(u, F_ADD_SEALS, F_SEAL_WRITE), 0);
	assert_false(memfd_image_is_sealed(u)); /* still growable, seals open */
	close(u);
}

static void test_copy_of_unreadable(void **state)
{
	(void)state;
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	assert_int_equal(memfd_image_copy(fd, "dir"), -EISDIR);
	close(fd);
}

static void test_one_image_per_file(void **state)
{
	(void)state;
	struct module_images *imgs = module_images_new(1u << 20);
	assert_non_null(imgs);
	write_file("k.so", 'k', 5000);
	write_file("c.so", 'c', 7000);
	char k[128], c[128];
	path_of(k, sizeof(k), "k.so");
	path_of(c, sizeof(c), "c.so");

	int a = module_images_open(imgs, k), b = module_images_open(imgs, k);
	assert_true(a >= 0 && b >= 0 && a != b);
	assert_true(memfd_image_is_sealed(a));
	assert_int_equal(ino_of(a), ino_of(b)); /* the same pages */
	int o = module_images_open(imgs, c);
	assert_true(o >= 0);
	assert_int_not_equal(ino_of(o), ino_of(a));
	assert_int_equal(module_images_count(imgs), 2);
	assert_int_equal(module_images_bytes(imgs), 12000);

	/* The file is replaced (a new compile): a new image, the old one stays
	 * with whoever holds it. */
	write_file("k.so", 'K', 6000);
	int n = module_images_open(imgs, k);
	assert_true(n >= 0);
	assert_int_not_equal(ino_of(n), ino_of(a));
	char ch = 0;
	assert_int_equal(pread(n, &ch, 1, 0), 1);
	assert_int_equal(ch, 'K');
	assert_int_equal(pread(a, &ch, 1, 0), 1);
	assert_int_equal(ch, 'k');
	assert_int_equal(module_images_count(imgs), 2);
	assert_int_equal(module_images_bytes(imgs), 13000);

	char missing[128];
	path_of(missing, sizeof(missing), "missing.so");
	assert_int_equal(module_images_open(imgs, missing), -ENOENT);
	assert_int_equal(module_images_count(imgs), 2);
	close(a);
	close(b);
	close(o);
	close(n);
	module_images_free(imgs);
}

static void test_bounded(void **state)
{
	(void)state;
	struct module_images *imgs = module_images_new(10000);
	assert_non_null(imgs);
	write_file("x.so", 'x', 4000);
	write_file("y.so", 'y', 4000);
	write_file("z.so", 'z', 4000);
	write_file("big.so", 'b', 20000);
	char x[128], y[128], z[128], big[128];
	path_of(x, sizeof(x), "x.so");
	path_of(y, sizeof(y), "y.so");
	path_of(z, sizeof(z), "z.so");
	path_of(big, sizeof(big), "big.so");

	int fx = module_images_open(imgs, x), fy = module_images_open(imgs, y);
	close(module_images_open(imgs, x));   /* x is now the most recently used */
	int fz = module_images_open(imgs, z); /* 12000 > 10000: y goes */
	assert_int_equal(module_images_count(imgs), 2);
	assert_int_equal(module_images_bytes(imgs), 8000);
	int fx2 = module_images_open(imgs, x), fy2 = module_images_open(imgs, y);
	assert_int_equal(ino_of(fx2), ino_of(fx));     /* kept */
	assert_int_not_equal(ino_of(fy2), ino_of(fy)); /* made again */

	/* Larger than the whole cache: an image, but not kept. */
	int b1 = module_images_open(imgs, big), b2 = module_images_open(imgs, big);
	assert_true(b1 >= 0 && b2 >= 0);
	assert_true(memfd_image_is_sealed(b1));
	assert_int_not_equal(ino_of(b1), ino_of(b2));
	assert_true(module_images_bytes(imgs) <= 10000);
	int fds[] = {fx, fy, fz, fx2, fy2, b1, b2};
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		close(fds[i]);
	module_images_free(imgs);
	module_images_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_copy_is_sealed_and_equal),
	        cmocka_unit_test(test_copy_of_unreadable),
	        cmocka_unit_test(test_one_image_per_file),
	        cmocka_unit_test(test_bounded),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
