/* Durable node state in SQLite (see store.h).
 *
 * Two tables: `modules`, keyed by (user, module_id), and `nonces` (version 2),
 * keyed by (user, nonce). The schema version is the
 * database's PRAGMA user_version; store_open() migrates older databases and
 * refuses newer ones. Every statement is prepared once at open time and reused
 * with bound parameters; no SQL is ever built from values.
 *
 * Filter prefixes are stored as columns. The address family is stored as the IP
 * version (0 = any, 4, 6) rather than the platform's AF_* value, so the file
 * means the same thing on every system.
 *
 * Removals must work on a full disk (docs/operations.md): beside the database
 * lies netserv.reserve, STORE_RESERVE_BYTES of zeros written at open time.
 * When a removal (a module's delete, a REMOVE's nonce) fails because the file
 * system is full, the reserve is deleted, which is logged once, and the write
 * retried; the reserve is written again by the next store operation that
 * finds room for it. */
#include "ctl/store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "lib/errbuf.h"
#include "lib/log.h"
#include "lib/util.h"

#define STORE_DB_NAME        "netserv.db"
#define STORE_SCHEMA_VERSION 2
#define STORE_BUSY_TIMEOUT   5000 /* ms */
#define STORE_RESERVE_NAME   "netserv.reserve"
#define STORE_RESERVE_BYTES  (1024 * 1024)

/* Schema version 1. Applied inside a transaction together with the version. */
static const char schema_v1[] = "CREATE TABLE modules ("
                                " user TEXT NOT NULL,"
                                " module_id TEXT NOT NULL,"
                                " url TEXT,"
                                " hash TEXT NOT NULL,"
                                " created_at INTEGER NOT NULL,"
                                " expires_at INTEGER NOT NULL,"
                                " state TEXT NOT NULL,"
                                " reason TEXT,"
                                " has_filter INTEGER NOT NULL CHECK (has_filter IN (0, 1)),"
                                " proto INTEGER NOT NULL CHECK (proto BETWEEN 0 AND 255),"
                                " port_lo INTEGER NOT NULL CHECK (port_lo BETWEEN 0 AND 65535),"
                                " port_hi INTEGER NOT NULL CHECK (port_hi BETWEEN 0 AND 65535),"
                                " src_family INTEGER NOT NULL CHECK (src_family IN (0, 4, 6)),"
                                " src_addr BLOB NOT NULL CHECK (length(src_addr) = 16),"
                                " src_len INTEGER NOT NULL CHECK (src_len BETWEEN 0 AND 128),"
                                " dst_family INTEGER NOT NULL CHECK (dst_family IN (0, 4, 6)),"
                                " dst_addr BLOB NOT NULL CHECK (length(dst_addr) = 16),"
                                " dst_len INTEGER NOT NULL CHECK (dst_len BETWEEN 0 AND 128),"
                                " request TEXT,"
                                " PRIMARY KEY (user, module_id)"
                                ");"
                                "CREATE INDEX modules_expires_at ON modules (expires_at);"
                                "PRAGMA user_version = 1;";

/* Schema version 2: the nonces of signed requests, remembered until their
 * timestamp leaves the node's window (replay protection across restarts). */
static const char schema_v2[] = "CREATE TABLE nonces ("
                                " user TEXT NOT NULL,"
                                " nonce TEXT NOT NULL,"
                                " expires_at INTEGER NOT NULL,"
                                " PRIMARY KEY (user, nonce)"
                                ");"
                                "CREATE INDEX nonces_expires_at ON nonces (expires_at);"
                                "PRAGMA user_version = 2;";

/* The columns of a row, in the order read_row() expects them. */
#define MODULE_COLUMNS                                                                             \
	"user, module_id, url, hash, created_at, expires_at, state, reason, has_filter, proto, "   \
	"port_lo, port_hi, src_family, src_addr, src_len, dst_family, dst_addr, dst_len, request"

static const char sql_put[] =
        "INSERT INTO modules (" MODULE_COLUMNS ") VALUES "
        "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19) "
        "ON CONFLICT (user, module_id) DO UPDATE SET "
        "url = excluded.url, hash = excluded.hash, created_at = excluded.created_at, "
        "expires_at = excluded.expires_at, state = excluded.state, reason = excluded.reason, "
        "has_filter = excluded.has_filter, proto = excluded.proto, port_lo = excluded.port_lo, "
        "port_hi = excluded.port_hi, src_family = excluded.src_family, "
        "src_addr = excluded.src_addr, src_len = excluded.src_len, "
        "dst_family = excluded.dst_family, dst_addr = excluded.dst_addr, "
        "dst_len = excluded.dst_len, request = excluded.request";
static const char sql_set_state[] =
        "UPDATE modules SET state = ?3, reason = ?4 WHERE user = ?1 AND module_id = ?2";
static const char sql_set_expiry[] =
        "UPDATE modules SET expires_at = ?3 WHERE user = ?1 AND module_id = ?2";
static const char sql_delete[] = "DELETE FROM modules WHERE user = ?1 AND module_id = ?2";
static const char sql_get[] =
        "SELECT " MODULE_COLUMNS " FROM modules WHERE user = ?1 AND module_id = ?2";
static const char sql_list[] =
        "SELECT " MODULE_COLUMNS " FROM modules ORDER BY created_at, user, module_id";
static const char sql_delete_expired[] = "DELETE FROM modules WHERE expires_at <= ?1";
static const char sql_nonce_expire[] = "DELETE FROM nonces WHERE expires_at <= ?1";
static const char sql_nonce_add[] =
        "INSERT INTO nonces (user, nonce, expires_at) VALUES (?1, ?2, ?3) "
        "ON CONFLICT (user, nonce) DO NOTHING";

struct store {
	sqlite3 *db;
	bool was_empty; /* the file existed with 0 bytes */
	char *reserve;  /* path of the reserve file */
	bool reserved;  /* the reserve file is there, whole */
	sqlite3_stmt *put;
	sqlite3_stmt *set_state;
	sqlite3_stmt *set_expiry;
	sqlite3_stmt *delete;
	sqlite3_stmt *get;
	sqlite3_stmt *list;
	sqlite3_stmt *delete_expired;
	sqlite3_stmt *nonce_expire;
	sqlite3_stmt *nonce_add;
};

/* ---- Errors ---------------------------------------------------------------- */

/* "store: <what>: <sqlite message>", returns -ENOSPC when the file system
 * is full (SQLITE_FULL), else -EIO. */
static int sql_err(sqlite3 *db, char *err, size_t errlen, const char *what)
{
	int code = db && sqlite3_errcode(db) == SQLITE_FULL ? -ENOSPC : -EIO;
	return err_set(err, errlen, code, "store: %s: %s", what,
	               db ? sqlite3_errmsg(db) : "out of memory");
}

/* ---- The reserve ------------------------------------------------------------ */

/* Writes the reserve file (through a temporary name, so that a half-written
 * one never counts) unless it is there. Quiet: on a full disk it is simply
 * not there yet. */
static void reserve_make(struct store *st)
{
	static const char zeros[64 * 1024];
	char tmp[PATH_MAX];
	struct stat sb;

	if (st->reserved)
		return;
	if (stat(st->reserve, &sb) == 0 && S_ISREG(sb.st_mode) &&
	    sb.st_size >= STORE_RESERVE_BYTES) {
		st->reserved = true;
		return;
	}
	snprintf(tmp, sizeof(tmp), "%s.new", st->reserve);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return;
	bool ok = true;
	for (size_t done = 0; ok && done < STORE_RESERVE_BYTES; done += sizeof(zeros))
		ok = write(fd, zeros, sizeof(zeros)) == (ssize_t)sizeof(zeros);
	ok = ok && fsync(fd) == 0;
	close(fd);
	if (ok && rename(tmp, st->reserve) == 0) {
		st->reserved = true;
		return;
	}
	unlink(tmp);
}

/* Frees the reserve after a removal found the disk full; returns whether
 * there was one to free (then the write is worth trying again). */
static bool reserve_release(struct store *st, const char *what)
{
	if (!st->reserved)
		return false;
	st->reserved = false;
	if (unlink(st->reserve) < 0)
		return false;
	log_warn("state: the node's disk is full: %s uses the store's reserve (%d KiB, %s); "
	         "it is written again when there is room",
	         what, STORE_RESERVE_BYTES / 1024, st->reserve);
	return true;
}

/* Resets a statement and drops its bindings (they may point at caller memory)
 * when the variable goes out of scope. */
static void stmt_resetp(sqlite3_stmt **s)
{
	if (*s) {
		sqlite3_reset(*s);
		sqlite3_clear_bindings(*s);
	}
}
#define _cleanup_reset_ _cleanup_(stmt_resetp)

/* ---- Open and schema ---------------------------------------------------- */

/* Runs constant SQL that takes no values (pragmas, schema). */
static int exec_const(sqlite3 *db, const char *sql, const char *what, char *err, size_t errlen)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return sql_err(db, err, errlen, what);
	return 0;
}

static int read_user_version(sqlite3 *db, int *ret, char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	int r, v;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK)
		return sql_err(db, err, errlen, "read schema version");
	r = sqlite3_step(s);
	if (r != SQLITE_ROW) {
		r = sql_err(db, err, errlen, "read schema version");
		sqlite3_finalize(s);
		return r;
	}
	v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	*ret = v;
	return 0;
}

/* Switches to WAL and checks that SQLite agreed (it answers with the mode it
 * is in, which is not "wal" on file systems that cannot do it). */
static int set_wal(sqlite3 *db, char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	const unsigned char *mode;
	int r;

	if (sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &s, NULL) != SQLITE_OK)
		return sql_err(db, err, errlen, "set journal mode");
	if (sqlite3_step(s) != SQLITE_ROW) {
		r = sql_err(db, err, errlen, "set journal mode");
		sqlite3_finalize(s);
		return r;
	}
	mode = sqlite3_column_text(s, 0);
	if (!mode || strcmp((const char *)mode, "wal") != 0)
		r = err_set(err, errlen, -EIO, "store: set journal mode: WAL refused (mode is %s)",
		            mode ? (const char *)mode : "unknown");
	else
		r = 0;
	sqlite3_finalize(s);
	return r;
}

/* Brings the schema to STORE_SCHEMA_VERSION. The version is read again inside
 * an immediate (write-locked) transaction so that two processes opening a new
 * database at once do not both create the table. */
static int migrate(sqlite3 *db, char *err, size_t errlen)
{
	int r, version;

	r = exec_const(db, "BEGIN IMMEDIATE", "begin migration", err, errlen);
	if (r < 0)
		return r;
	r = read_user_version(db, &version, err, errlen);
	if (r < 0)
		goto rollback;
	if (version > STORE_SCHEMA_VERSION) {
		r = err_set(err, errlen, -EPROTO,
		            "store: database schema version %d is newer than this netserv "
		            "supports (%d)",
		            version, STORE_SCHEMA_VERSION);
		goto rollback;
	}
	if (version < 1) {
		r = exec_const(db, schema_v1, "create schema v1", err, errlen);
		if (r < 0)
			goto rollback;
	}
	if (version < 2) {
		r = exec_const(db, schema_v2, "migrate schema to v2", err, errlen);
		if (r < 0)
			goto rollback;
	}
	r = exec_const(db, "COMMIT", "commit migration", err, errlen);
	if (r < 0)
		goto rollback;
	return 0;

rollback:
	/* Harmless if COMMIT failed in a way that already ended the transaction. */
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return r;
}

/* Creates dir (one level, mode 0700) if missing; it must be a directory. */
static int make_dir(const char *dir, char *err, size_t errlen)
{
	struct stat sb;

	if (mkdir(dir, 0700) == 0)
		return 0;
	if (errno != EEXIST)
		return err_set(err, errlen, -errno, "store: mkdir %s: %s", dir, strerror(errno));
	if (stat(dir, &sb) < 0)
		return err_set(err, errlen, -errno, "store: stat %s: %s", dir, strerror(errno));
	if (!S_ISDIR(sb.st_mode))
		return err_set(err, errlen, -ENOTDIR, "store: %s: not a directory", dir);
	return 0;
}

/* Creates the database file mode 0600 before SQLite does (SQLite would use
 * 0644 & ~umask: the file holds every publisher's requests and nonces), or
 * brings an existing one, and its -wal and -shm, to 0600; SQLite creates the
 * -wal and -shm with the database file's mode. Sets *empty when the file was
 * there with 0 bytes. */
static int create_private(const char *path, bool *empty, char *err, size_t errlen)
{
	static const char *const side[] = {"-wal", "-shm"};
	_cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	struct stat sb;

	*empty = false;
	if (fd < 0 && errno == EEXIST) {
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd >= 0 && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size == 0)
			*empty = true;
	}
	if (fd < 0)
		return err_set(err, errlen, -errno, "store: open %s: %s", path, strerror(errno));
	if (fchmod(fd, 0600) < 0)
		return err_set(err, errlen, -errno, "store: chmod %s: %s", path, strerror(errno));
	for (size_t i = 0; i < ARRAY_SIZE(side); i++) {
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "%s%s", path, side[i]);
		if (chmod(p, 0600) < 0 && errno != ENOENT)
			return err_set(err, errlen, -errno, "store: chmod %s: %s", p,
			               strerror(errno));
	}
	return 0;
}

/* Makes the directory entries (a new database, its WAL) survive a power loss;
 * SQLite syncs file contents but not the directory holding a new file. */
static int sync_dir(const char *dir, char *err, size_t errlen)
{
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return err_set(err, errlen, -errno, "store: open %s: %s", dir, strerror(errno));
	if (fsync(fd) < 0)
		return err_set(err, errlen, -errno, "store: fsync %s: %s", dir, strerror(errno));
	return 0;
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **ret, char *err, size_t errlen)
{
	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, ret, NULL) != SQLITE_OK)
		return sql_err(db, err, errlen, "prepare statement");
	return 0;
}

struct store *store_close(struct store *st)
{
	if (!st)
		return NULL;
	sqlite3_finalize(st->put);
	sqlite3_finalize(st->set_state);
	sqlite3_finalize(st->set_expiry);
	sqlite3_finalize(st->delete);
	sqlite3_finalize(st->get);
	sqlite3_finalize(st->list);
	sqlite3_finalize(st->delete_expired);
	sqlite3_finalize(st->nonce_expire);
	sqlite3_finalize(st->nonce_add);
	/* Every statement is finalized, so this cannot fail with SQLITE_BUSY. */
	sqlite3_close(st->db);
	free(st->reserve);
	free(st);
	return NULL;
}

static void store_closep(struct store **st)
{
	*st = store_close(*st);
}

int store_open(const char *dir, struct store **ret, char *err, size_t errlen)
{
	_cleanup_(store_closep) struct store *st = NULL;
	_cleanup_free_ char *path = NULL;
	int r, version;

	if (!dir || !*dir || !ret)
		return err_set(err, errlen, -EINVAL, "store: no directory given");
	r = make_dir(dir, err, errlen);
	if (r < 0)
		return r;
	if (asprintf(&path, "%s/%s", dir, STORE_DB_NAME) < 0) {
		path = NULL;
		return err_set(err, errlen, -ENOMEM, "store: out of memory");
	}

	st = calloc(1, sizeof(*st));
	if (!st)
		return err_set(err, errlen, -ENOMEM, "store: out of memory");
	r = create_private(path, &st->was_empty, err, errlen);
	if (r < 0)
		return r;
	/* On failure sqlite3_open_v2() may still return a handle that holds the
	 * error; store_close() releases it. */
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK)
		return err_set(err, errlen, -EIO, "store: open %s: %s", path,
		               st->db ? sqlite3_errmsg(st->db) : "out of memory");
	if (sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT) != SQLITE_OK)
		return sql_err(st->db, err, errlen, "set busy timeout");

	/* Read the version before changing anything, so that a database written
	 * by a newer netserv is left exactly as it is. This is also the first
	 * read of the file: a file that is not a database fails here. */
	if (read_user_version(st->db, &version, NULL, 0) < 0)
		return err_set(err, errlen, -EIO, "store: open %s: %s", path,
		               sqlite3_errmsg(st->db));
	if (version > STORE_SCHEMA_VERSION)
		return err_set(err, errlen, -EPROTO,
		               "store: %s: database schema version %d is newer than this netserv "
		               "supports (%d)",
		               path, version, STORE_SCHEMA_VERSION);

	r = set_wal(st->db, err, errlen);
	if (r < 0)
		return r;
	r = exec_const(st->db, "PRAGMA synchronous = FULL", "set synchronous", err, errlen);
	if (r < 0)
		return r;
	r = exec_const(st->db, "PRAGMA foreign_keys = ON", "enable foreign keys", err, errlen);
	if (r < 0)
		return r;
	r = migrate(st->db, err, errlen);
	if (r < 0)
		return r;
	r = sync_dir(dir, err, errlen);
	if (r < 0)
		return r;

	if ((r = prepare(st->db, sql_put, &st->put, err, errlen)) < 0 ||
	    (r = prepare(st->db, sql_set_state, &st->set_state, err, errlen)) < 0 ||
	    (r = prepare(st->db, sql_set_expiry, &st->set_expiry, err, errlen)) < 0 ||
	    (r = prepare(st->db, sql_delete, &st->delete, err, errlen)) < 0 ||
	    (r = prepare(st->db, sql_get, &st->get, err, errlen)) < 0 ||
	    (r = prepare(st->db, sql_list, &st->list, err, errlen)) < 0 ||
	    (r = prepare(st->db, sql_delete_expired, &st->delete_expired, err, errlen)) < 0 ||
	    (r = prepare(st->db, sql_nonce_expire, &st->nonce_expire, err, errlen)) < 0 ||
	    (r = prepare(st->db, sql_nonce_add, &st->nonce_add, err, errlen)) < 0)
		return r;

	if (asprintf(&st->reserve, "%s/%s", dir, STORE_RESERVE_NAME) < 0) {
		st->reserve = NULL;
		return err_set(err, errlen, -ENOMEM, "store: out of memory");
	}
	reserve_make(st);
	if (!st->reserved)
		log_warn("state: cannot write the store's reserve %s (is the disk full?); a "
		         "removal on a full disk may fail until it is there",
		         st->reserve);

	*ret = TAKE_PTR(st);
	return 0;
}

bool store_opened_empty(const struct store *st)
{
	return st && st->was_empty;
}

/* ---- Rows ------------------------------------------------------------------ */

/* AF_* <-> the IP version stored in the file; -1 for anything else. */
static int family_to_db(int family)
{
	switch (family) {
	case 0:
		return 0;
	case AF_INET:
		return 4;
	case AF_INET6:
		return 6;
	default:
		return -1;
	}
}

static int family_from_db(int64_t v)
{
	switch (v) {
	case 0:
		return 0;
	case 4:
		return AF_INET;
	case 6:
		return AF_INET6;
	default:
		return -1;
	}
}

static int check_prefix(const struct ncm_prefix *p, const char *which, char *err, size_t errlen)
{
	int max = p->family == AF_INET ? 32 : 128;

	if (family_to_db(p->family) < 0)
		return err_set(err, errlen, -EINVAL, "store: %s prefix: unknown address family %d",
		               which, p->family);
	if (p->len > max)
		return err_set(err, errlen, -EINVAL, "store: %s prefix: length %d out of range",
		               which, p->len);
	return 0;
}

/* Binds text, or NULL when s is NULL. */
static int bind_text(sqlite3_stmt *s, int i, const char *v)
{
	return v ? sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(s, i);
}

static int bind_key(sqlite3_stmt *s, const char *user, const char *module_id)
{
	int r = bind_text(s, 1, user);

	return r != SQLITE_OK ? r : bind_text(s, 2, module_id);
}

static int check_key(const struct store *st, const char *user, const char *module_id, char *err,
                     size_t errlen)
{
	if (!st || !user || !module_id)
		return err_set(err, errlen, -EINVAL, "store: missing store, user or module id");
	return 0;
}

/* Runs a statement that returns no rows; returns the number of rows changed. */
static int step_done(struct store *st, sqlite3_stmt *s, const char *what, char *err, size_t errlen)
{
	if (sqlite3_step(s) != SQLITE_DONE)
		return sql_err(st->db, err, errlen, what);
	return sqlite3_changes(st->db);
}

int store_module_put(struct store *st, const struct store_module *m, char *err, size_t errlen)
{
	_cleanup_reset_ sqlite3_stmt *s = NULL;
	const struct ncm_filter *f;
	int r;

	if (!m)
		return err_set(err, errlen, -EINVAL, "store: no module");
	r = check_key(st, m->user, m->module_id, err, errlen);
	if (r == 0)
		reserve_make(st);
	if (r < 0)
		return r;
	if (!m->state)
		return err_set(err, errlen, -EINVAL, "store: module %s/%s has no state", m->user,
		               m->module_id);
	if (strnlen(m->hash, sizeof(m->hash)) == sizeof(m->hash))
		return err_set(err, errlen, -EINVAL, "store: module %s/%s: hash not terminated",
		               m->user, m->module_id);
	f = &m->filter;
	r = check_prefix(&f->src, "source", err, errlen);
	if (r < 0)
		return r;
	r = check_prefix(&f->dst, "destination", err, errlen);
	if (r < 0)
		return r;

	s = st->put;
	if (bind_key(s, m->user, m->module_id) != SQLITE_OK ||
	    bind_text(s, 3, m->url) != SQLITE_OK ||
	    sqlite3_bind_text(s, 4, m->hash, (int)strnlen(m->hash, sizeof(m->hash)),
	                      SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 5, m->created_at) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 6, m->expires_at) != SQLITE_OK ||
	    bind_text(s, 7, m->state) != SQLITE_OK || bind_text(s, 8, m->reason) != SQLITE_OK ||
	    sqlite3_bind_int(s, 9, m->has_filter ? 1 : 0) != SQLITE_OK ||
	    sqlite3_bind_int(s, 10, f->proto) != SQLITE_OK ||
	    sqlite3_bind_int(s, 11, f->port_lo) != SQLITE_OK ||
	    sqlite3_bind_int(s, 12, f->port_hi) != SQLITE_OK ||
	    sqlite3_bind_int(s, 13, family_to_db(f->src.family)) != SQLITE_OK ||
	    sqlite3_bind_blob(s, 14, f->src.addr, sizeof(f->src.addr), SQLITE_STATIC) !=
	            SQLITE_OK ||
	    sqlite3_bind_int(s, 15, f->src.len) != SQLITE_OK ||
	    sqlite3_bind_int(s, 16, family_to_db(f->dst.family)) != SQLITE_OK ||
	    sqlite3_bind_blob(s, 17, f->dst.addr, sizeof(f->dst.addr), SQLITE_STATIC) !=
	            SQLITE_OK ||
	    sqlite3_bind_int(s, 18, f->dst.len) != SQLITE_OK ||
	    bind_text(s, 19, m->request) != SQLITE_OK)
		return sql_err(st->db, err, errlen, "put module: bind");
	r = step_done(st, s, "put module", err, errlen);
	return r < 0 ? r : 0;
}

int store_module_set_state(struct store *st, const char *user, const char *module_id,
                           const char *state, const char *reason, char *err, size_t errlen)
{
	_cleanup_reset_ sqlite3_stmt *s = NULL;
	int r;

	r = check_key(st, user, module_id, err, errlen);
	if (r < 0)
		return r;
	if (!state)
		return err_set(err, errlen, -EINVAL, "store: set state: no state");
	s = st->set_state;
	if (bind_key(s, user, module_id) != SQLITE_OK || bind_text(s, 3, state) != SQLITE_OK ||
	    bind_text(s, 4, reason) != SQLITE_OK)
		return sql_err(st->db, err, errlen, "set state: bind");
	r = step_done(st, s, "set state", err, errlen);
	if (r < 0)
		return r;
	if (r == 0)
		return err_set(err, errlen, -ENOENT, "store: set state: no module %s/%s", user,
		               module_id);
	return 0;
}

int store_module_set_expiry(struct store *st, const char *user, const char *module_id,
                            int64_t expires_at, char *err, size_t errlen)
{
	_cleanup_reset_ sqlite3_stmt *s = NULL;
	int r;

	r = check_key(st, user, module_id, err, errlen);
	if (r < 0)
		return r;
	s = st->set_expiry;
	if (bind_key(s, user, module_id) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 3, expires_at) != SQLITE_OK)
		return sql_err(st->db, err, errlen, "set expiry: bind");
	r = step_done(st, s, "set expiry", err, errlen);
	if (r < 0)
		return r;
	if (r == 0)
		return err_set(err, errlen, -ENOENT, "store: set expiry: no module %s/%s", user,
		               module_id);
	return 0;
}

int store_module_delete(struct store *st, const char *user, const char *module_id, char *err,
                        size_t errlen)
{
	_cleanup_reset_ sqlite3_stmt *s = NULL;
	int r;

	r = check_key(st, user, module_id, err, errlen);
	if (r < 0)
		return r;
	s = st->delete;
	if (bind_key(s, user, module_id) != SQLITE_OK)
		return sql_err(st->db, err, errlen, "delete module: bind");
	r = step_done(st, s, "delete module", err, errlen);
	if (r == -ENOSPC && reserve_release(st, "a module's removal")) {
		sqlite3_reset(s);
		r = step_done(st, s, "delete module", err, errlen);
	}
	if (r < 0)
		return r;
	if (r == 0)
		return err_set(err, errlen, -ENOENT, "store: delete: no module %s/%s", user,
		               module_id);
	return 0;
}

int store_module_delete_expired(struct store *st, int64_t now, char *err, size_t errlen)
{
	_cleanup_reset_ sqlite3_stmt *s = NULL;

	if (!st)
		return err_set(err, errlen, -EINVAL, "store: no store");
	s = st->delete_expired;
	if (sqlite3_bind_int64(s, 1, now) != SQLITE_OK)
		return sql_err(st->db, err, errlen, "delete expired: bind");
	return step_done(st, s, "delete expired", err, errlen);
}

/* ---- Nonces ------------------------------------------------------------------ */

/* One try of store_nonce_use(): forget the old nonces, remember this one. */
static int nonce_use_once(struct store *st, const char *user, const char *nonce, int64_t expires_at,
                          int64_t now, char *err, size_t errlen)
{
	int r;
	{
		_cleanup_reset_ sqlite3_stmt *s = st->nonce_expire;

		if (sqlite3_bind_int64(s, 1, now) != SQLITE_OK)
			return sql_err(st->db, err, errlen, "expire nonces: bind");
		r = step_done(st, s, "expire nonces", err, errlen);
		if (r < 0)
			return r;
	}
	_cleanup_reset_ sqlite3_stmt *s = st->nonce_add;

	if (bind_key(s, user, nonce) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 3, expires_at) != SQLITE_OK)
		return sql_err(st->db, err, errlen, "remember nonce: bind");
	r = step_done(st, s, "remember nonce", err, errlen);
	if (r < 0)
		return r;
	return r == 0 ? err_set(err, errlen, -EEXIST, "store: nonce already used") : 0;
}

int store_nonce_use(struct store *st, const char *user, const char *nonce, int64_t expires_at,
                    int64_t now, bool removal, char *err, size_t errlen)
{
	if (!st || !user || !nonce)
		return err_set(err, errlen, -EINVAL, "store: missing store, user or nonce");
	if (!removal)
		reserve_make(st);
	int r = nonce_use_once(st, user, nonce, expires_at, now, err, errlen);
	if (r == -ENOSPC && removal && reserve_release(st, "a REMOVE's nonce"))
		r = nonce_use_once(st, user, nonce, expires_at, now, err, errlen);
	return r;
}

void store_module_done(struct store_module *m)
{
	if (!m)
		return;
	free(m->user);
	free(m->module_id);
	free(m->url);
	free(m->state);
	free(m->reason);
	free(m->request);
	*m = (struct store_module){0};
}

void store_module_list_free(struct store_module *v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		store_module_done(&v[i]);
	free(v);
}

/* Copies text column i into *ret (NULL for SQL NULL). Returns 0, -ENOMEM, or
 * -EIO when the column is NULL but must not be. */
static int column_str(sqlite3_stmt *s, int i, bool nullable, char **ret)
{
	const unsigned char *t;
	size_t n;
	char *p;

	if (sqlite3_column_type(s, i) == SQLITE_NULL) {
		if (!nullable)
			return -EIO;
		*ret = NULL;
		return 0;
	}
	t = sqlite3_column_text(s, i);
	if (!t)
		return -ENOMEM;
	n = (size_t)sqlite3_column_bytes(s, i);
	p = malloc(n + 1);
	if (!p)
		return -ENOMEM;
	memcpy(p, t, n);
	p[n] = '\0';
	*ret = p;
	return 0;
}

/* Reads an integer column that must lie in [lo, hi]; -EIO otherwise. */
static int column_int(sqlite3_stmt *s, int i, int64_t lo, int64_t hi, int64_t *ret)
{
	int64_t v;

	if (sqlite3_column_type(s, i) != SQLITE_INTEGER)
		return -EIO;
	v = sqlite3_column_int64(s, i);
	if (v < lo || v > hi)
		return -EIO;
	*ret = v;
	return 0;
}

static int column_prefix(sqlite3_stmt *s, int i, struct ncm_prefix *ret)
{
	int64_t fam, len;
	const void *addr;
	int r;

	r = column_int(s, i, 0, 6, &fam);
	if (r < 0 || family_from_db(fam) < 0)
		return -EIO;
	if (sqlite3_column_type(s, i + 1) != SQLITE_BLOB)
		return -EIO;
	addr = sqlite3_column_blob(s, i + 1);
	if (sqlite3_column_bytes(s, i + 1) != (int)sizeof(ret->addr))
		return -EIO;
	if (!addr)
		return -ENOMEM;
	r = column_int(s, i + 2, 0, fam == 4 ? 32 : 128, &len);
	if (r < 0)
		return r;
	ret->family = family_from_db(fam);
	memcpy(ret->addr, addr, sizeof(ret->addr));
	ret->len = (uint8_t)len;
	return 0;
}

/* Reads the current row of a SELECT MODULE_COLUMNS statement into *ret (left
 * untouched on failure). */
static int read_row(struct store *st, sqlite3_stmt *s, struct store_module *ret, char *err,
                    size_t errlen)
{
	struct store_module m = {0};
	const unsigned char *hash;
	int64_t v;
	int r;

	if ((r = column_str(s, 0, false, &m.user)) < 0 ||
	    (r = column_str(s, 1, false, &m.module_id)) < 0 ||
	    (r = column_str(s, 2, true, &m.url)) < 0)
		goto fail;

	if (sqlite3_column_type(s, 3) != SQLITE_TEXT) {
		r = -EIO;
		goto fail;
	}
	hash = sqlite3_column_text(s, 3);
	if (!hash) {
		r = -ENOMEM;
		goto fail;
	}
	if ((size_t)sqlite3_column_bytes(s, 3) >= sizeof(m.hash)) {
		r = -EIO;
		goto fail;
	}
	memcpy(m.hash, hash, (size_t)sqlite3_column_bytes(s, 3));

	if ((r = column_int(s, 4, INT64_MIN, INT64_MAX, &m.created_at)) < 0 ||
	    (r = column_int(s, 5, INT64_MIN, INT64_MAX, &m.expires_at)) < 0 ||
	    (r = column_str(s, 6, false, &m.state)) < 0 ||
	    (r = column_str(s, 7, true, &m.reason)) < 0)
		goto fail;
	if ((r = column_int(s, 8, 0, 1, &v)) < 0)
		goto fail;
	m.has_filter = v != 0;
	if ((r = column_int(s, 9, 0, UINT8_MAX, &v)) < 0)
		goto fail;
	m.filter.proto = (uint8_t)v;
	if ((r = column_int(s, 10, 0, UINT16_MAX, &v)) < 0)
		goto fail;
	m.filter.port_lo = (uint16_t)v;
	if ((r = column_int(s, 11, 0, UINT16_MAX, &v)) < 0)
		goto fail;
	m.filter.port_hi = (uint16_t)v;
	if ((r = column_prefix(s, 12, &m.filter.src)) < 0 ||
	    (r = column_prefix(s, 15, &m.filter.dst)) < 0 ||
	    (r = column_str(s, 18, true, &m.request)) < 0)
		goto fail;

	*ret = m;
	return 0;

fail:
	store_module_done(&m);
	if (r == -ENOMEM)
		return err_set(err, errlen, r, "store: out of memory");
	return err_set(err, errlen, r, "store: corrupt row in %s: bad or missing column",
	               sqlite3_db_filename(st->db, "main"));
}

int store_module_get(struct store *st, const char *user, const char *module_id,
                     struct store_module *ret, char *err, size_t errlen)
{
	_cleanup_reset_ sqlite3_stmt *s = NULL;
	int r;

	r = check_key(st, user, module_id, err, errlen);
	if (r < 0)
		return r;
	if (!ret)
		return err_set(err, errlen, -EINVAL, "store: get: no result");
	s = st->get;
	if (bind_key(s, user, module_id) != SQLITE_OK)
		return sql_err(st->db, err, errlen, "get module: bind");
	r = sqlite3_step(s);
	if (r == SQLITE_DONE)
		return err_set(err, errlen, -ENOENT, "store: get: no module %s/%s", user,
		               module_id);
	if (r != SQLITE_ROW)
		return sql_err(st->db, err, errlen, "get module");
	return read_row(st, s, ret, err, errlen);
}

int store_module_list(struct store *st, struct store_module **ret, size_t *ret_n, char *err,
                      size_t errlen)
{
	_cleanup_reset_ sqlite3_stmt *s = NULL;
	struct store_module *v = NULL;
	size_t n = 0, cap = 0;
	int r;

	if (!st || !ret || !ret_n)
		return err_set(err, errlen, -EINVAL, "store: list: missing argument");
	s = st->list;
	for (;;) {
		r = sqlite3_step(s);
		if (r == SQLITE_DONE)
			break;
		if (r != SQLITE_ROW) {
			r = sql_err(st->db, err, errlen, "list modules");
			goto fail;
		}
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct store_module *nv;

			nv = reallocarray(v, ncap, sizeof(*v));
			if (!nv) {
				r = err_set(err, errlen, -ENOMEM, "store: out of memory");
				goto fail;
			}
			v = nv;
			cap = ncap;
		}
		r = read_row(st, s, &v[n], err, errlen);
		if (r < 0)
			goto fail;
		n++;
	}
	*ret = v;
	*ret_n = n;
	return 0;

fail:
	store_module_list_free(v, n);
	return r;
}
