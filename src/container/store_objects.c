/* storage/1's object store (see store_objects.h). */
#include "container/store_objects.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "abi/host_api.h"
#include "lib/util.h"
#include "ncm/ncm.h"

#define TMP_NAME "~tmp"               /* never a key: '~' is not a key character */
#define DIR_LEN  (NCM_MAX_TARGET + 3) /* "m." + module + NUL */

struct objstore {
	int fd; /* <own dir>/store */
	uint64_t quota, used;
	uint32_t objects;
};

/* A module's and an object's names relative to the store directory. */
struct obj_path {
	char dir[DIR_LEN];                         /* m.<module> */
	char file[DIR_LEN + NS_STORE_KEY_MAX + 1]; /* m.<module>/<key> */
	char tmp[DIR_LEN + sizeof(TMP_NAME) + 1];
};

static bool key_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

bool objstore_key_valid(const char *key, size_t len)
{
	if (len == 0 || len > NS_STORE_KEY_MAX || key[0] == '.')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!key_char((unsigned char)key[i]))
			return false;
	return true;
}

/* Module names are NCM targets: [A-Za-z0-9._+:*-], at most NCM_MAX_TARGET. */
static bool module_valid(const char *module)
{
	size_t n = strlen(module);
	if (n == 0 || n > NCM_MAX_TARGET)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)module[i];
		if (!key_char(c) && c != '+' && c != ':' && c != '*')
			return false;
	}
	return true;
}

static int obj_path(struct obj_path *p, const char *module, const char *key, size_t key_len)
{
	if (!module_valid(module) || (key && !objstore_key_valid(key, key_len)))
		return -EINVAL;
	snprintf(p->dir, sizeof(p->dir), "m.%s", module);
	snprintf(p->file, sizeof(p->file), "%s/%.*s", p->dir, key ? (int)key_len : 0,
	         key ? key : "");
	snprintf(p->tmp, sizeof(p->tmp), "%s/%s", p->dir, TMP_NAME);
	return 0;
}

/* A write's errno as the store reports it: a full disk or file system
 * quota is -ENOSPC like the store's own quota. */
static int write_errno(int e)
{
	return e == ENOSPC || e == EDQUOT ? -ENOSPC : -e;
}

static int write_all(int fd, const uint8_t *p, size_t len, off_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, p, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return write_errno(errno);
		if (n == 0)
			return -ENOSPC;
		p += n, len -= (size_t)n, off += n;
	}
	return 0;
}

/* Size of the object, or -ENOENT (or another -errno). */
static int64_t file_size(int dirfd, const char *path)
{
	struct stat st;
	if (fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -ENOENT;
	return st.st_size;
}

static int ensure_dir(struct objstore *s, const struct obj_path *p)
{
	if (mkdirat(s->fd, p->dir, 0700) < 0 && errno != EEXIST)
		return write_errno(errno);
	return 0;
}

/* Counts (and cleans) one module's directory. */
static void scan_module(struct objstore *s, const char *name)
{
	int fd = openat(s->fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		int64_t size = file_size(fd, e->d_name);
		if (size >= 0 && objstore_key_valid(e->d_name, strlen(e->d_name))) {
			s->used += (uint64_t)size;
			s->objects++;
		} else if (size >= 0 || size == -ENOENT) {
			unlinkat(fd, e->d_name, 0); /* an interrupted put's file */
		}
	}
	closedir(d);
}

int objstore_open(int dir_fd, uint64_t quota, struct objstore **ret)
{
	if (mkdirat(dir_fd, "store", 0700) < 0 && errno != EEXIST)
		return -errno;
	struct objstore *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->quota = quota;
	s->fd = openat(dir_fd, "store", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (s->fd < 0) {
		int r = -errno;
		free(s);
		return r;
	}
	int fd = fcntl(s->fd, F_DUPFD_CLOEXEC, 3);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		int r = -errno;
		if (fd >= 0)
			close(fd);
		objstore_close(s);
		return r;
	}
	struct dirent *e;
	while ((e = readdir(d)))
		if (strncmp(e->d_name, "m.", 2) == 0 && module_valid(e->d_name + 2))
			scan_module(s, e->d_name);
	closedir(d);
	*ret = s;
	return 0;
}

struct objstore *objstore_close(struct objstore *s)
{
	if (s) {
		safe_close(s->fd);
		free(s);
	}
	return NULL;
}

int objstore_put(struct objstore *s, const char *module, const char *key, size_t key_len,
                 const void *data, size_t len)
{
	struct obj_path p;
	int r = obj_path(&p, module, key, key_len);
	if (r < 0)
		return r;
	if (len > NS_STORE_OBJECT_MAX)
		return -EFBIG;
	int64_t old = file_size(s->fd, p.file);
	if (old < 0 && old != -ENOENT)
		return (int)old;
	bool created = old < 0;
	uint64_t before = created ? 0 : (uint64_t)old;
	if (created && s->objects >= OBJSTORE_MAX_OBJECTS)
		return -ENOSPC;
	if (s->used - before + len > s->quota)
		return -ENOSPC;
	if ((r = ensure_dir(s, &p)) < 0)
		return r;
	int fd = openat(s->fd, p.tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return write_errno(errno);
	r = write_all(fd, data, len, 0);
	close(fd);
	if (r == 0 && renameat(s->fd, p.tmp, s->fd, p.file) < 0)
		r = write_errno(errno);
	if (r < 0) {
		unlinkat(s->fd, p.tmp, 0);
		return r;
	}
	s->used = s->used - before + len;
	s->objects += created;
	return 0;
}

int64_t objstore_append(struct objstore *s, const char *module, const char *key, size_t key_len,
                        const void *data, size_t len)
{
	struct obj_path p;
	int r = obj_path(&p, module, key, key_len);
	if (r < 0)
		return r;
	bool created = false;
	int fd = openat(s->fd, p.file, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		if (s->objects >= OBJSTORE_MAX_OBJECTS)
			return -ENOSPC;
		if ((r = ensure_dir(s, &p)) < 0)
			return r;
		fd = openat(s->fd, p.file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		            0600);
		created = fd >= 0;
	}
	if (fd < 0)
		return write_errno(errno);
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EIO;
	}
	uint64_t old = (uint64_t)st.st_size;
	if (old + len > NS_STORE_OBJECT_MAX)
		r = -EFBIG;
	else if (s->used + len > s->quota)
		r = -ENOSPC;
	else
		r = write_all(fd, data, len, (off_t)old);
	if (r < 0 && !created && ftruncate(fd, (off_t)old) < 0)
		r = -EIO; /* cannot undo a partial append */
	close(fd);
	if (r < 0) {
		if (created)
			unlinkat(s->fd, p.file, 0);
		return r;
	}
	s->used += len;
	s->objects += created;
	return (int64_t)(old + len);
}

int64_t objstore_read(struct objstore *s, const char *module, const char *key, size_t key_len,
                      uint64_t off, void *buf, size_t cap)
{
	struct obj_path p;
	int r = obj_path(&p, module, key, key_len);
	if (r < 0)
		return r;
	int fd = openat(s->fd, p.file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ELOOP ? -ENOENT : -errno;
	if (cap > NS_STORE_OBJECT_MAX)
		cap = NS_STORE_OBJECT_MAX;
	size_t got = 0;
	while (got < cap && off <= NS_STORE_OBJECT_MAX) {
		ssize_t n = pread(fd, (uint8_t *)buf + got, cap - got, (off_t)(off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			close(fd);
			return r;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	return (int64_t)got;
}

int objstore_open_read(struct objstore *s, const char *module, const char *key, size_t key_len,
                       uint64_t *size)
{
	struct obj_path p;
	int r = obj_path(&p, module, key, key_len);
	if (r < 0)
		return r;
	int fd = openat(s->fd, p.file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ELOOP ? -ENOENT : -errno;
	struct stat st;
	r = fstat(fd, &st) < 0 ? -errno : !S_ISREG(st.st_mode) ? -ENOENT : 0;
	if (r < 0) {
		close(fd);
		return r;
	}
	*size = (uint64_t)st.st_size;
	return fd;
}

int64_t objstore_size(struct objstore *s, const char *module, const char *key, size_t key_len)
{
	struct obj_path p;
	int r = obj_path(&p, module, key, key_len);
	return r < 0 ? r : file_size(s->fd, p.file);
}

int objstore_delete(struct objstore *s, const char *module, const char *key, size_t key_len)
{
	struct obj_path p;
	int r = obj_path(&p, module, key, key_len);
	if (r < 0)
		return r;
	int64_t size = file_size(s->fd, p.file);
	if (size < 0)
		return (int)size;
	if (unlinkat(s->fd, p.file, 0) < 0)
		return -errno;
	s->used -= (uint64_t)size < s->used ? (uint64_t)size : s->used;
	s->objects -= s->objects > 0;
	return 0;
}

/* Opens the module's directory for reading, or returns NULL (errno set). */
static DIR *module_dir(struct objstore *s, const struct obj_path *p)
{
	int fd = openat(s->fd, p->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	DIR *d = fdopendir(fd);
	if (!d)
		close(fd);
	return d;
}

int objstore_next(struct objstore *s, const char *module, const char *after, size_t after_len,
                  char *out, size_t cap)
{
	struct obj_path p;
	int r = obj_path(&p, module, NULL, 0);
	if (r < 0 || (after_len && !objstore_key_valid(after, after_len)))
		return -EINVAL;
	char prev[NS_STORE_KEY_MAX + 1], best[NS_STORE_KEY_MAX + 1] = "";
	snprintf(prev, sizeof(prev), "%.*s", (int)after_len, after_len ? after : "");
	DIR *d = module_dir(s, &p);
	if (!d)
		return -ENOENT;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (!objstore_key_valid(e->d_name, n) || strcmp(e->d_name, prev) <= 0)
			continue;
		if (!best[0] || strcmp(e->d_name, best) < 0)
			memcpy(best, e->d_name, n + 1); /* n <= NS_STORE_KEY_MAX */
	}
	closedir(d);
	size_t n = strlen(best);
	if (!n)
		return -ENOENT;
	if (n > cap)
		return -ENOSPC;
	memcpy(out, best, n);
	return (int)n;
}

void objstore_usage(const struct objstore *s, uint64_t *used, uint64_t *quota)
{
	*used = s->used;
	*quota = s->quota;
}

int objstore_purge(struct objstore *s, const char *module)
{
	struct obj_path p;
	int r = obj_path(&p, module, NULL, 0);
	if (r < 0)
		return r;
	DIR *d = module_dir(s, &p);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	int fd = dirfd(d);
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		int64_t size = file_size(fd, e->d_name);
		if (unlinkat(fd, e->d_name, 0) < 0) {
			r = r ? r : -errno;
			continue;
		}
		if (size >= 0 && objstore_key_valid(e->d_name, strlen(e->d_name))) {
			s->used -= (uint64_t)size < s->used ? (uint64_t)size : s->used;
			s->objects -= s->objects > 0;
		}
	}
	closedir(d);
	if (unlinkat(s->fd, p.dir, AT_REMOVEDIR) < 0 && errno != ENOENT)
		r = r ? r : -errno;
	return r;
}
