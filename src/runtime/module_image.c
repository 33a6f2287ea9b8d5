/* The compiled modules' shared, sealed images (module_image.h). */
#include "runtime/module_image.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/memfd_image.h"
#include "lib/util.h"

struct image {
	struct image *next; /* most recently used first */
	char *path;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	int fd; /* the sealed memfd */
};

struct module_images {
	struct image *head;
	size_t max_bytes;
	size_t bytes;
	size_t count;
};

struct module_images *module_images_new(size_t max_bytes)
{
	struct module_images *imgs = calloc(1, sizeof(*imgs));
	if (imgs)
		imgs->max_bytes = max_bytes;
	return imgs;
}

static void image_free(struct module_images *imgs, struct image *im)
{
	imgs->bytes -= (size_t)im->size;
	imgs->count--;
	safe_close(im->fd);
	free(im->path);
	free(im);
}

void module_images_free(struct module_images *imgs)
{
	if (!imgs)
		return;
	while (imgs->head) {
		struct image *im = imgs->head;
		imgs->head = im->next;
		image_free(imgs, im);
	}
	free(imgs);
}

static bool same_file(const struct image *im, const struct stat *st)
{
	return im->dev == st->st_dev && im->ino == st->st_ino && im->size == st->st_size &&
	       im->mtime.tv_sec == st->st_mtim.tv_sec && im->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

/* Unlinks path's entry, if any, and returns it. */
static struct image *take(struct module_images *imgs, const char *path)
{
	for (struct image **pp = &imgs->head; *pp; pp = &(*pp)->next) {
		if (strcmp((*pp)->path, path) == 0) {
			struct image *im = *pp;
			*pp = im->next;
			return im;
		}
	}
	return NULL;
}

/* Drops the least recently used images until bytes fit. */
static void trim(struct module_images *imgs)
{
	while (imgs->head && imgs->bytes > imgs->max_bytes) {
		struct image **pp = &imgs->head;
		while ((*pp)->next)
			pp = &(*pp)->next;
		struct image *last = *pp;
		*pp = NULL;
		image_free(imgs, last);
	}
}

static int dup_fd(int fd)
{
	int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	return d < 0 ? -errno : d;
}

int module_images_open(struct module_images *imgs, const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	struct image *im = take(imgs, path);
	if (im && same_file(im, &st)) {
		im->next = imgs->head;
		imgs->head = im;
		return dup_fd(im->fd);
	}
	if (im) /* the file was replaced: a new image */
		image_free(imgs, im);
	const char *base = strrchr(path, '/');
	int mfd = memfd_image_copy(fd, base ? base + 1 : path);
	if (mfd < 0)
		return mfd;
	if ((size_t)st.st_size > imgs->max_bytes)
		return mfd; /* too large to keep: this container's alone */
	im = calloc(1, sizeof(*im));
	char *copy = im ? strdup(path) : NULL;
	if (!copy) {
		free(im);
		return mfd; /* not kept; the image itself is fine */
	}
	*im = (struct image){.next = imgs->head,
	                     .path = copy,
	                     .dev = st.st_dev,
	                     .ino = st.st_ino,
	                     .size = st.st_size,
	                     .mtime = st.st_mtim,
	                     .fd = -1};
	int d = dup_fd(mfd);
	if (d < 0) {
		free(copy);
		free(im);
		return mfd;
	}
	im->fd = d;
	imgs->head = im;
	imgs->bytes += (size_t)st.st_size;
	imgs->count++;
	trim(imgs);
	return mfd;
}

size_t module_images_count(const struct module_images *imgs)
{
	return imgs->count;
}

size_t module_images_bytes(const struct module_images *imgs)
{
	return imgs->bytes;
}
