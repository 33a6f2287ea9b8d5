/* The compiled modules as netservd hands them to containers: one sealed memfd
 * (lib/memfd_image.h) per compiled module file, kept here and passed to every
 * container that loads that module, so their mappings share its pages. Before,
 * each container copied the file into a memfd of its own: at 1,000
 * publishers of one module that was 1,000 copies of the same code, each cold
 * in the CPU's caches when its container woke (docs/performance.md,
 * "containers").
 *
 * Sharing is safe across publishers: nobody can change a sealed memfd (no
 * write, grow, shrink or new seal), and a container's private mapping of it
 * is copy-on-write. What a module's code is, any container loading the same
 * compiled file sees anyway.
 *
 * The cache holds at most max_bytes of images (least recently used go
 * first); a container keeps its own image as long as it maps it. Not
 * thread-safe: the supervisor's event loop only. */
#pragma once

#include <stddef.h>

struct module_images;

/* A new, empty cache holding at most max_bytes of images (0: none kept,
 * every open makes a new image). NULL when out of memory. */
struct module_images *module_images_new(size_t max_bytes);

/* Closes every image the cache holds (containers keep theirs). NULL-safe. */
void module_images_free(struct module_images *imgs);

/* Returns a new descriptor (O_CLOEXEC, the caller's to close) of the sealed
 * image of the file at path: the cached one while path still names the same
 * file (device, inode, size, modification time), else a fresh copy, which
 * replaces it. Negative errno (that of open, or of the copy). */
int module_images_open(struct module_images *imgs, const char *path);

/* How many images, and how many bytes of them, the cache holds. */
size_t module_images_count(const struct module_images *imgs);
size_t module_images_bytes(const struct module_images *imgs);
