/* Durable node state in SQLite: the installed modules, their expiry times and
 * their filters, and the nonces of signed requests (replay protection, schema
 * version 2). The controller writes a module's row before it acknowledges a
 * request, so that nothing acknowledged is lost when the daemon is killed
 * (WAL journal, synchronous=FULL). On start the controller reads every row
 * back, drops the expired ones and reinstalls the rest.
 *
 * Functions return 0 (or a count) on success and a negative errno on failure
 * (-EIO for an SQLite error, whose text goes into err when err is not NULL).
 * Nothing here logs. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ncm/ncm.h"

struct store;

/* One module row. Strings are owned by the struct (store_module_done()). */
struct store_module {
	char *user;      /* publisher */
	char *module_id; /* NCM target */
	char *url;
	char hash[72];            /* "sha256:<hex>" or "" */
	int64_t created_at;       /* unix ms, first SETUP */
	int64_t expires_at;       /* unix ms */
	char *state;              /* lifecycle state name */
	char *reason;             /* why failed / no runtime, or NULL */
	bool has_filter;          /* the SETUP has at least one filter */
	struct ncm_filter filter; /* its first filter (a summary for the operator) */
	char *request;            /* the full SETUP NCM, serialized: everything else is here,
	                           * every filter included (a restart decodes them from it) */
};

/* Opens (creating if needed) <dir>/netserv.db and migrates its schema.
 * Stores the handle in *ret (free with store_close()). The file (and its -wal
 * and -shm) are made mode 0600, whatever the umask or their mode before. */
int store_open(const char *dir, struct store **ret, char *err, size_t errlen);

/* Whether store_open() found the database file there but empty (0 bytes): it
 * starts as a new database, and whatever it held (a truncated file) is lost.
 * The caller says so in its log. */
bool store_opened_empty(const struct store *st);

/* Closes the database; NULL is allowed. Returns NULL. */
struct store *store_close(struct store *st);

/* Inserts or replaces the row of (m->user, m->module_id). Durable on return. */
int store_module_put(struct store *st, const struct store_module *m, char *err, size_t errlen);

/* Updates the state and reason (NULL clears it) of one module.
 * Returns -ENOENT if there is no such row. */
int store_module_set_state(struct store *st, const char *user, const char *module_id,
                           const char *state, const char *reason, char *err, size_t errlen);

/* Updates the expiry time of one module. Returns -ENOENT if absent. */
int store_module_set_expiry(struct store *st, const char *user, const char *module_id,
                            int64_t expires_at, char *err, size_t errlen);

/* Deletes one module. Returns -ENOENT if absent. On a full file system
 * (-ENOSPC) it uses the store's reserve (netserv.reserve, logged once) and
 * tries again: removals do not depend on free space. */
int store_module_delete(struct store *st, const char *user, const char *module_id, char *err,
                        size_t errlen);

/* Reads one module into *ret (release with store_module_done()).
 * Returns -ENOENT if absent. */
int store_module_get(struct store *st, const char *user, const char *module_id,
                     struct store_module *ret, char *err, size_t errlen);

/* Reads every module, ordered by creation time then user and id. Stores a
 * malloc'd array in *ret and its length in *ret_n (release with
 * store_module_list_free()). */
int store_module_list(struct store *st, struct store_module **ret, size_t *ret_n, char *err,
                      size_t errlen);

/* Deletes every module with expires_at <= now; returns how many. */
int store_module_delete_expired(struct store *st, int64_t now, char *err, size_t errlen);

/* Replay protection: remembers that `user` used `nonce`, until expires_at
 * (unix seconds), after forgetting every nonce whose time is up (expires_at <=
 * now). Returns 0 when the nonce was new (durable on return), -EEXIST when it
 * is remembered already (a replay), or another negative errno (-ENOSPC: the
 * disk is full). A removal's nonce (a REMOVE) may use the store's reserve as
 * store_module_delete() does; any other use first writes the reserve again
 * if it was used. */
int store_nonce_use(struct store *st, const char *user, const char *nonce, int64_t expires_at,
                    int64_t now, bool removal, char *err, size_t errlen);

/* Releases the strings of one row and zeroes it. */
void store_module_done(struct store_module *m);

/* Releases an array from store_module_list(). */
void store_module_list_free(struct store_module *v, size_t n);
