/* storage/1's object store: the publisher's objects on the node's disk, in
 * the container's own directory (the only one landlock lets it reach):
 *   <own dir>/store/m.<module>/<key>
 * one directory per module (its namespace of keys: module names are NCM
 * targets, keys [A-Za-z0-9._-] not starting with '.', so no name can climb
 * out or collide), one file per object. The quota counts the bytes of every
 * module of the publisher together (one container, one store, one thread).
 * Every file is opened with openat() relative to the store's directory fd.
 * Objects survive the container (its directory is kept per publisher);
 * objstore_purge() deletes a module's. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Most objects a publisher may hold (each costs an inode). */
#define OBJSTORE_MAX_OBJECTS 10000u

struct objstore;

/* Opens (creating) the store under directory dir_fd (borrowed) with a quota
 * in bytes, and counts what it holds (removing leftovers of interrupted
 * writes). Returns 0 or a negative errno. */
int objstore_open(int dir_fd, uint64_t quota, struct objstore **ret);

/* Closes the store; NULL allowed. Returns NULL. */
struct objstore *objstore_close(struct objstore *s);

/* Whether key (len bytes) is a valid key. */
bool objstore_key_valid(const char *key, size_t len);

/* Creates or replaces module's object key with data, atomically (a new file
 * renamed over the old). Returns 0, -EINVAL (bad key), -EFBIG (over
 * NS_STORE_OBJECT_MAX), -ENOSPC (quota, object count, full disk) or -errno. */
int objstore_put(struct objstore *s, const char *module, const char *key, size_t key_len,
                 const void *data, size_t len);

/* Appends data to the object (created if missing). Returns the new size or
 * -EINVAL, -EFBIG, -ENOSPC, -errno; nothing is appended on failure. */
int64_t objstore_append(struct objstore *s, const char *module, const char *key, size_t key_len,
                        const void *data, size_t len);

/* Reads up to cap bytes from offset off. Returns the bytes read (0 at or
 * past the end), -EINVAL, -ENOENT or -errno. */
int64_t objstore_read(struct objstore *s, const char *module, const char *key, size_t key_len,
                      uint64_t off, void *buf, size_t cap);

/* Opens the object for reading: returns a file descriptor (the caller's to
 * close; it keeps the bytes it opened even if the object is replaced or
 * deleted meanwhile) and its size in *size, or -EINVAL, -ENOENT, -errno. */
int objstore_open_read(struct objstore *s, const char *module, const char *key, size_t key_len,
                       uint64_t *size);

/* Returns the object's size, -EINVAL or -ENOENT. */
int64_t objstore_size(struct objstore *s, const char *module, const char *key, size_t key_len);

/* Deletes the object. Returns 0, -EINVAL, -ENOENT or -errno. */
int objstore_delete(struct objstore *s, const char *module, const char *key, size_t key_len);

/* Writes into out (cap bytes, not terminated) the module's smallest key
 * greater than `after` (after_len 0: the smallest key) in byte order.
 * Returns its length, -ENOENT past the last, -ENOSPC when cap is too small,
 * -EINVAL for a bad `after`. */
int objstore_next(struct objstore *s, const char *module, const char *after, size_t after_len,
                  char *out, size_t cap);

/* The bytes stored (all modules) and the quota. */
void objstore_usage(const struct objstore *s, uint64_t *used, uint64_t *quota);

/* Deletes every object of the module. Returns 0 (also when it had none) or
 * -errno. */
int objstore_purge(struct objstore *s, const char *module);
