/* Unit tests of the durable state store (src/ctl/store.c). Each test gets a
 * fresh directory from mkdtemp() that the teardown removes. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "ctl/store.h"

#define ERR_LEN 256

struct fixture {
	char dir[1024]; /* the mkdtemp() directory */
	char db[1100];  /* dir/netserv.db */
};

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	return remove(path);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/test_store.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->db, sizeof(f->db), "%s/netserv.db", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	int r = nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);

	free(f);
	return r;
}

/* ---- Helpers --------------------------------------------------------------- */

static char *xstrdup(const char *s)
{
	char *p = s ? strdup(s) : NULL;

	assert_true(!s || p);
	return p;
}

static void set_prefix(struct ncm_prefix *p, int family, const char *addr, uint8_t len)
{
	memset(p, 0, sizeof(*p));
	p->family = family;
	if (addr)
		assert_int_equal(inet_pton(family, addr, p->addr), 1);
	p->len = len;
}

/* A module whose strings are malloc'd (release with store_module_done()). */
static void make_module(struct store_module *m, const char *user, const char *id,
                        int64_t created_at, int64_t expires_at)
{
	memset(m, 0, sizeof(*m));
	m->user = xstrdup(user);
	m->module_id = xstrdup(id);
	m->url = xstrdup("http://content-publisher.com/modules/m.wasm");
	snprintf(m->hash, sizeof(m->hash), "sha256:%064x", 0);
	m->created_at = created_at;
	m->expires_at = expires_at;
	m->state = xstrdup("running");
	m->reason = NULL;
	m->request = xstrdup("SETUP x NETSERV/0.1\nuser:u\n\n");
}

/* A module with an IPv4 filter: udp 10.0.0.0/8 -> 192.168.1.0/24 ports 5000-5010. */
static void make_module_v4(struct store_module *m, const char *user, const char *id)
{
	make_module(m, user, id, 1700000000, 1700003600);
	m->has_filter = true;
	m->filter.proto = NCM_PROTO_UDP;
	m->filter.port_lo = 5000;
	m->filter.port_hi = 5010;
	set_prefix(&m->filter.src, AF_INET, "10.0.0.0", 8);
	set_prefix(&m->filter.dst, AF_INET, "192.168.1.0", 24);
}

static void assert_str_or_null(const char *a, const char *b)
{
	if (!a || !b)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

static void assert_prefix_equal(const struct ncm_prefix *a, const struct ncm_prefix *b)
{
	assert_int_equal(a->family, b->family);
	assert_memory_equal(a->addr, b->addr, sizeof(a->addr));
	assert_int_equal(a->len, b->len);
}

static void assert_module_equal(const struct store_module *a, const struct store_module *b)
{
	assert_str_or_null(a->user, b->user);
	assert_str_or_null(a->module_id, b->module_id);
	assert_str_or_null(a->url, b->url);
	assert_string_equal(a->hash, b->hash);
	assert_int_equal(a->created_at, b->created_at);
	assert_int_equal(a->expires_at, b->expires_at);
	assert_str_or_null(a->state, b->state);
	assert_str_or_null(a->reason, b->reason);
	assert_int_equal(a->has_filter, b->has_filter);
	assert_int_equal(a->filter.proto, b->filter.proto);
	assert_int_equal(a->filter.port_lo, b->filter.port_lo);
	assert_int_equal(a->filter.port_hi, b->filter.port_hi);
	assert_prefix_equal(&a->filter.src, &b->filter.src);
	assert_prefix_equal(&a->filter.dst, &b->filter.dst);
	assert_str_or_null(a->request, b->request);
}

static struct store *open_ok(const char *dir)
{
	char err[ERR_LEN] = "";
	struct store *st = NULL;
	int r = store_open(dir, &st, err, sizeof(err));

	if (r != 0)
		fail_msg("store_open(%s): %d %s", dir, r, err);
	assert_non_null(st);
	return st;
}

static void put_ok(struct store *st, const struct store_module *m)
{
	char err[ERR_LEN] = "";
	int r = store_module_put(st, m, err, sizeof(err));

	if (r != 0)
		fail_msg("store_module_put: %d %s", r, err);
}

/* Reads one integer or text result of a constant query on a database opened
 * directly (not through the store). */
static int64_t sql_int(const char *db, const char *sql)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *s = NULL;
	int64_t v;

	assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(h);
	return v;
}

static void sql_text(const char *db, const char *sql, char *buf, size_t len)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *s = NULL;

	assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_non_null(sqlite3_column_text(s, 0));
	snprintf(buf, len, "%s", (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	sqlite3_close(h);
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *fp = fopen(path, "wb");

	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

/* ---- Tests ----------------------------------------------------------------- */

static void test_open_creates(void **state)
{
	struct fixture *f = *state;
	char dir[1100], db[1200], mode[16];
	struct store *st;
	struct stat sb;

	/* A directory that does not exist yet. */
	snprintf(dir, sizeof(dir), "%s/state", f->dir);
	snprintf(db, sizeof(db), "%s/netserv.db", dir);
	assert_int_equal(stat(dir, &sb), -1);

	st = open_ok(dir);
	assert_int_equal(stat(dir, &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, 0700);
	assert_int_equal(stat(db, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	assert_null(store_close(st));

	/* The schema: version 2 (modules, nonces), WAL, the table and the expiry
	 * index. tests/unit/test_auth.c covers the nonces and the v1 -> v2
	 * migration. */
	assert_int_equal(sql_int(db, "PRAGMA user_version"), 2);
	sql_text(db, "PRAGMA journal_mode", mode, sizeof(mode));
	assert_string_equal(mode, "wal");
	assert_int_equal(sql_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
	                             "AND name = 'modules'"),
	                 1);
	assert_int_equal(sql_int(db, "SELECT count(*) FROM pragma_index_list('modules') il "
	                             "JOIN pragma_index_info(il.name) ii "
	                             "WHERE ii.name = 'expires_at'"),
	                 1);

	/* Opening again (the directory exists) works and keeps version 2. */
	st = open_ok(dir);
	assert_null(store_close(st));
	assert_int_equal(sql_int(db, "PRAGMA user_version"), 2);
}

static int file_mode(const char *path)
{
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	return (int)(sb.st_mode & 07777);
}

/* The database holds every publisher's requests and nonces: mode 0600, and
 * its -wal and -shm too, whatever the umask; an older file is brought to 0600. */
static void test_open_private(void **state)
{
	struct fixture *f = *state;
	char wal[1200], shm[1200];
	mode_t old = umask(022);
	struct store *st;

	snprintf(wal, sizeof(wal), "%s-wal", f->db);
	snprintf(shm, sizeof(shm), "%s-shm", f->db);
	st = open_ok(f->dir);
	struct store_module m = {.user = "u",
	                         .module_id = "m",
	                         .url = "file:///x",
	                         .state = "active",
	                         .request = "SETUP m NETSERV/0.1\n\n"};
	assert_int_equal(store_module_put(st, &m, NULL, 0), 0);
	assert_int_equal(file_mode(f->db), 0600);
	assert_int_equal(file_mode(wal), 0600);
	assert_int_equal(file_mode(shm), 0600);
	assert_null(store_close(st));

	/* A database made world-readable before (by an older netserv). */
	assert_int_equal(chmod(f->db, 0644), 0);
	st = open_ok(f->dir);
	assert_int_equal(file_mode(f->db), 0600);
	assert_null(store_close(st));
	umask(old);
}

/* A 0-byte file (truncated, or made by hand) opens as a new database, and
 * store_opened_empty() says so for the caller's log; a new or a used file not. */
static void test_open_empty_file(void **state)
{
	struct fixture *f = *state;
	struct store *st;

	st = open_ok(f->dir);
	assert_false(store_opened_empty(st));
	assert_null(store_close(st));
	st = open_ok(f->dir);
	assert_false(store_opened_empty(st));
	assert_null(store_close(st));

	char wal[1200];
	snprintf(wal, sizeof(wal), "%s-wal", f->db);
	unlink(wal);
	write_file(f->db, "", 0);
	st = open_ok(f->dir);
	assert_true(store_opened_empty(st));
	assert_int_equal(sql_int(f->db, "PRAGMA user_version"), 2);
	assert_null(store_close(st));
	assert_false(store_opened_empty(NULL));
}

static void test_open_not_a_directory(void **state)
{
	struct fixture *f = *state;
	char path[1100], err[ERR_LEN] = "";
	struct store *st = (struct store *)0x1;

	snprintf(path, sizeof(path), "%s/file", f->dir);
	write_file(path, "x", 1);
	assert_int_equal(store_open(path, &st, err, sizeof(err)), -ENOTDIR);
	assert_ptr_equal(st, (struct store *)0x1);
	assert_non_null(strstr(err, "not a directory"));
	assert_int_equal(store_open(path, &st, NULL, 0), -ENOTDIR);
	assert_int_equal(store_open("", &st, NULL, 0), -EINVAL);
}

static void test_roundtrip(void **state)
{
	struct fixture *f = *state;
	struct store_module a, b, c, got;
	char err[ERR_LEN] = "";
	struct store *st = open_ok(f->dir);

	/* IPv4 filter, NULL reason. */
	make_module_v4(&a, "janedoe", "NetServ.apps.NetMonitor_1.0.0");

	/* IPv6 filter, one port, a reason, a real hash, large times. */
	make_module(&b, "bob", "NetServ.apps.Cache_2.1", INT64_C(4102444800), INT64_C(4102448400));
	snprintf(b.hash, sizeof(b.hash), "sha256:%s",
	         "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
	free(b.state);
	b.state = xstrdup("failed");
	b.reason = xstrdup("no runtime");
	b.has_filter = true;
	b.filter.proto = NCM_PROTO_TCP;
	b.filter.port_lo = 65535;
	b.filter.port_hi = 65535;
	set_prefix(&b.filter.src, AF_INET6, "2001:db8::", 32);
	set_prefix(&b.filter.dst, AF_INET6, "fe80::1:2:3:4", 128);

	/* No filter, no url, no request, negative times, empty hash. */
	make_module(&c, "carol", "x", -5, -1);
	free(c.url);
	c.url = NULL;
	free(c.request);
	c.request = NULL;
	c.hash[0] = '\0';
	c.filter.proto = 255;

	put_ok(st, &a);
	put_ok(st, &b);
	put_ok(st, &c);

	memset(&got, 0xa5, sizeof(got));
	assert_int_equal(store_module_get(st, "janedoe", "NetServ.apps.NetMonitor_1.0.0", &got, err,
	                                  sizeof(err)),
	                 0);
	assert_module_equal(&got, &a);
	assert_null(got.reason);
	assert_int_equal(got.filter.src.family, AF_INET);
	assert_int_equal(got.filter.src.addr[0], 10);
	store_module_done(&got);

	assert_int_equal(store_module_get(st, "bob", "NetServ.apps.Cache_2.1", &got, NULL, 0), 0);
	assert_module_equal(&got, &b);
	assert_string_equal(got.reason, "no runtime");
	assert_int_equal(got.filter.dst.family, AF_INET6);
	assert_int_equal(got.filter.port_lo, 65535);
	store_module_done(&got);

	assert_int_equal(store_module_get(st, "carol", "x", &got, NULL, 0), 0);
	assert_module_equal(&got, &c);
	assert_null(got.url);
	assert_null(got.request);
	assert_false(got.has_filter);
	assert_string_equal(got.hash, "");
	store_module_done(&got);
	/* done zeroes the struct. */
	assert_null(got.user);
	assert_int_equal(got.created_at, 0);

	/* Same id, other user: a different row. */
	assert_int_equal(store_module_get(st, "bob", "x", &got, err, sizeof(err)), -ENOENT);

	store_module_done(&a);
	store_module_done(&b);
	store_module_done(&c);
	store_close(st);
}

static void test_values_are_bound(void **state)
{
	struct fixture *f = *state;
	const char *user = "o'brien\"; DROP TABLE modules; --";
	const char *id = "%s %n ?1 :x \xc3\xa9";
	struct store_module m, got;
	struct store *st = open_ok(f->dir);

	make_module(&m, user, id, 1, 2);
	free(m.reason);
	m.reason = xstrdup("it's \"quoted\"\nand multi-line");
	put_ok(st, &m);
	assert_int_equal(store_module_get(st, user, id, &got, NULL, 0), 0);
	assert_module_equal(&got, &m);
	store_module_done(&got);
	assert_int_equal(store_module_set_state(st, user, id, "stopped", "a'b", NULL, 0), 0);
	assert_int_equal(store_module_get(st, user, id, &got, NULL, 0), 0);
	assert_string_equal(got.reason, "a'b");
	store_module_done(&got);
	assert_int_equal(store_module_delete(st, user, id, NULL, 0), 0);
	store_module_done(&m);
	store_close(st);
	assert_int_equal(sql_int(f->db, "SELECT count(*) FROM modules"), 0);
}

static void test_upsert_replaces(void **state)
{
	struct fixture *f = *state;
	struct store_module a, b, got, *v = NULL;
	size_t n = 99;
	struct store *st = open_ok(f->dir);

	make_module_v4(&a, "u", "m");
	a.reason = xstrdup("first");
	put_ok(st, &a);

	/* Same key, every other column different (reason back to NULL, no filter,
	 * an earlier created_at: put does not keep the old one). */
	make_module(&b, "u", "m", 1600000000, 1600000060);
	free(b.url);
	b.url = xstrdup("http://other.example/m2.wasm");
	snprintf(b.hash, sizeof(b.hash), "sha256:%064x", 7);
	free(b.state);
	b.state = xstrdup("fetching");
	free(b.request);
	b.request = xstrdup("SETUP m NETSERV/0.1\nuser:u\nttl:60\n\n");
	set_prefix(&b.filter.src, AF_INET6, "::", 0);
	put_ok(st, &b);

	assert_int_equal(store_module_get(st, "u", "m", &got, NULL, 0), 0);
	assert_module_equal(&got, &b);
	assert_null(got.reason);
	assert_false(got.has_filter);
	assert_int_equal(got.created_at, 1600000000);
	store_module_done(&got);

	assert_int_equal(store_module_list(st, &v, &n, NULL, 0), 0);
	assert_int_equal(n, 1);
	store_module_list_free(v, n);

	store_module_done(&a);
	store_module_done(&b);
	store_close(st);
}

static void test_missing_row(void **state)
{
	struct fixture *f = *state;
	char err[ERR_LEN];
	struct store_module m, got;
	struct store *st = open_ok(f->dir);

	make_module(&m, "u", "present", 1, 100);
	put_ok(st, &m);

	err[0] = '\0';
	assert_int_equal(
	        store_module_set_state(st, "u", "absent", "stopped", NULL, err, sizeof(err)),
	        -ENOENT);
	assert_non_null(strstr(err, "absent"));
	err[0] = '\0';
	assert_int_equal(store_module_set_expiry(st, "u", "absent", 5, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "absent"));
	err[0] = '\0';
	assert_int_equal(store_module_delete(st, "u", "absent", err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "absent"));
	/* err may be NULL; the wrong user is absent too. */
	assert_int_equal(store_module_set_state(st, "v", "present", "x", NULL, NULL, 0), -ENOENT);
	assert_int_equal(store_module_set_expiry(st, "v", "present", 5, NULL, 0), -ENOENT);
	assert_int_equal(store_module_delete(st, "v", "present", NULL, 0), -ENOENT);

	/* get leaves *ret untouched. */
	memset(&got, 0x5a, sizeof(got));
	assert_int_equal(store_module_get(st, "u", "absent", &got, NULL, 0), -ENOENT);
	assert_ptr_equal(got.user, (char *)(uintptr_t)0x5a5a5a5a5a5a5a5aULL);

	/* The present row was not touched by any of that. */
	assert_int_equal(store_module_get(st, "u", "present", &got, NULL, 0), 0);
	assert_module_equal(&got, &m);
	store_module_done(&got);

	store_module_done(&m);
	store_close(st);
}

static void test_set_state_expiry_delete(void **state)
{
	struct fixture *f = *state;
	struct store_module m, got;
	struct store *st = open_ok(f->dir);

	make_module_v4(&m, "u", "m");
	put_ok(st, &m);

	assert_int_equal(store_module_set_state(st, "u", "m", "failed", "fetch: 404", NULL, 0), 0);
	assert_int_equal(store_module_get(st, "u", "m", &got, NULL, 0), 0);
	assert_string_equal(got.state, "failed");
	assert_string_equal(got.reason, "fetch: 404");
	assert_int_equal(got.expires_at, m.expires_at);
	store_module_done(&got);

	/* Same values again still counts as the row being there. */
	assert_int_equal(store_module_set_state(st, "u", "m", "failed", "fetch: 404", NULL, 0), 0);

	/* NULL reason clears it. */
	assert_int_equal(store_module_set_state(st, "u", "m", "running", NULL, NULL, 0), 0);
	assert_int_equal(store_module_get(st, "u", "m", &got, NULL, 0), 0);
	assert_string_equal(got.state, "running");
	assert_null(got.reason);
	store_module_done(&got);

	assert_int_equal(store_module_set_expiry(st, "u", "m", INT64_C(1800000000), NULL, 0), 0);
	assert_int_equal(store_module_get(st, "u", "m", &got, NULL, 0), 0);
	assert_int_equal(got.expires_at, INT64_C(1800000000));
	/* Nothing else changed. */
	got.expires_at = m.expires_at;
	assert_module_equal(&got, &m);
	store_module_done(&got);

	assert_int_equal(store_module_delete(st, "u", "m", NULL, 0), 0);
	assert_int_equal(store_module_get(st, "u", "m", &got, NULL, 0), -ENOENT);
	assert_int_equal(store_module_delete(st, "u", "m", NULL, 0), -ENOENT);

	store_module_done(&m);
	store_close(st);
}

static void test_list_order(void **state)
{
	struct fixture *f = *state;
	/* Put in scrambled order; expected order is (created_at, user, id). */
	static const struct {
		const char *user, *id;
		int64_t created_at;
	} rows[] = {
	        {"bob", "b", 200},   {"alice", "z", 300}, {"bob", "a", 200},
	        {"alice", "b", 200}, {"zed", "a", 100},
	};
	static const int want[] = {4, 3, 2, 0, 1};
	struct store_module m, *v = (struct store_module *)0x1;
	size_t n = 99;
	struct store *st = open_ok(f->dir);

	/* Empty. */
	assert_int_equal(store_module_list(st, &v, &n, NULL, 0), 0);
	assert_int_equal(n, 0);
	store_module_list_free(v, n);

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		make_module(&m, rows[i].user, rows[i].id, rows[i].created_at, 1000);
		put_ok(st, &m);
		store_module_done(&m);
	}
	assert_int_equal(store_module_list(st, &v, &n, NULL, 0), 0);
	assert_int_equal(n, 5);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(v[i].user, rows[want[i]].user);
		assert_string_equal(v[i].module_id, rows[want[i]].id);
		assert_int_equal(v[i].created_at, rows[want[i]].created_at);
		assert_string_equal(v[i].state, "running");
	}
	store_module_list_free(v, n);
	store_close(st);
}

static void test_list_many(void **state)
{
	struct fixture *f = *state;
	struct store_module m, *v = NULL;
	size_t n = 0;
	char id[32];
	struct store *st = open_ok(f->dir);

	/* More rows than the first allocation of the array. */
	for (int i = 0; i < 100; i++) {
		snprintf(id, sizeof(id), "m%03d", i);
		make_module_v4(&m, "u", id);
		m.created_at = 1000 - i;
		put_ok(st, &m);
		store_module_done(&m);
	}
	assert_int_equal(store_module_list(st, &v, &n, NULL, 0), 0);
	assert_int_equal(n, 100);
	for (size_t i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "m%03zu", 99 - i);
		assert_string_equal(v[i].module_id, id);
		assert_int_equal(v[i].filter.port_hi, 5010);
	}
	store_module_list_free(v, n);
	store_close(st);
}

static void test_delete_expired(void **state)
{
	struct fixture *f = *state;
	struct store_module m, *v = NULL;
	size_t n = 0;
	char err[ERR_LEN] = "";
	struct store *st = open_ok(f->dir);

	make_module(&m, "u", "old", 1, 100);
	put_ok(st, &m);
	store_module_done(&m);
	make_module(&m, "u", "now", 2, 200);
	put_ok(st, &m);
	store_module_done(&m);
	make_module(&m, "u", "later", 3, 201);
	put_ok(st, &m);
	store_module_done(&m);
	make_module(&m, "v", "much-later", 4, 5000);
	put_ok(st, &m);
	store_module_done(&m);

	assert_int_equal(store_module_delete_expired(st, 99, err, sizeof(err)), 0);
	/* expires_at <= now: 100 and 200 go, 201 stays. */
	assert_int_equal(store_module_delete_expired(st, 200, err, sizeof(err)), 2);
	assert_int_equal(store_module_list(st, &v, &n, NULL, 0), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].module_id, "later");
	assert_int_equal(v[0].expires_at, 201);
	assert_string_equal(v[1].module_id, "much-later");
	store_module_list_free(v, n);
	assert_int_equal(store_module_delete_expired(st, 200, NULL, 0), 0);
	assert_int_equal(store_module_delete_expired(st, INT64_MAX, NULL, 0), 2);
	assert_int_equal(store_module_list(st, &v, &n, NULL, 0), 0);
	assert_int_equal(n, 0);
	store_module_list_free(v, n);
	store_close(st);
}

static void test_reopen_keeps_data(void **state)
{
	struct fixture *f = *state;
	struct store_module a, b, got;
	struct store *st = open_ok(f->dir);

	make_module_v4(&a, "u", "a");
	make_module(&b, "u", "b", 5, 6);
	b.reason = xstrdup("why");
	set_prefix(&b.filter.dst, AF_INET6, "2001:db8:1::", 48);
	put_ok(st, &a);
	put_ok(st, &b);
	assert_int_equal(store_module_set_expiry(st, "u", "a", 42, NULL, 0), 0);
	assert_null(store_close(st));

	st = open_ok(f->dir);
	assert_int_equal(store_module_get(st, "u", "a", &got, NULL, 0), 0);
	a.expires_at = 42;
	assert_module_equal(&got, &a);
	store_module_done(&got);
	assert_int_equal(store_module_get(st, "u", "b", &got, NULL, 0), 0);
	assert_module_equal(&got, &b);
	store_module_done(&got);
	store_close(st);

	store_module_done(&a);
	store_module_done(&b);
}

/* The child puts a row and is killed without closing anything: the row must be
 * back on the next open (recovered from the WAL). */
static void test_survives_kill(void **state)
{
	struct fixture *f = *state;
	struct store_module m, got;
	char wal[1200];
	struct stat sb;
	int status = 0;
	pid_t pid;

	make_module_v4(&m, "crash", "NetServ.apps.Crash_1");
	m.reason = xstrdup("before the kill");

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct store *st = NULL;

		if (store_open(f->dir, &st, NULL, 0) != 0)
			_exit(2);
		if (store_module_put(st, &m, NULL, 0) != 0)
			_exit(3);
		raise(SIGKILL);
		_exit(4);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);

	/* Nothing checkpointed the WAL: the row is only there. */
	snprintf(wal, sizeof(wal), "%s-wal", f->db);
	assert_int_equal(stat(wal, &sb), 0);
	assert_true(sb.st_size > 0);

	struct store *st = open_ok(f->dir);

	assert_int_equal(store_module_get(st, "crash", "NetServ.apps.Crash_1", &got, NULL, 0), 0);
	assert_module_equal(&got, &m);
	store_module_done(&got);
	store_close(st);
	store_module_done(&m);
}

static void test_garbage_file(void **state)
{
	struct fixture *f = *state;
	char garbage[4096], back[sizeof(garbage)], err[ERR_LEN] = "";
	struct store *st = (struct store *)0x1;
	FILE *fp;

	for (size_t i = 0; i < sizeof(garbage); i++)
		garbage[i] = "this is not a database\n"[i % 23];
	write_file(f->db, garbage, sizeof(garbage));

	assert_int_equal(store_open(f->dir, &st, err, sizeof(err)), -EIO);
	assert_ptr_equal(st, (struct store *)0x1);
	assert_true(strncmp(err, "store: ", 7) == 0);
	assert_non_null(strstr(err, "not a database"));
	assert_int_equal(store_open(f->dir, &st, NULL, 0), -EIO);

	/* The file was left alone. */
	fp = fopen(f->db, "rb");
	assert_non_null(fp);
	assert_int_equal(fread(back, 1, sizeof(back), fp), sizeof(back));
	assert_int_equal(fgetc(fp), EOF);
	fclose(fp);
	assert_memory_equal(back, garbage, sizeof(garbage));

	/* A file too short to hold a database header. */
	write_file(f->db, "junk\n", 5);
	err[0] = '\0';
	assert_true(store_open(f->dir, &st, err, sizeof(err)) < 0);
	assert_ptr_equal(st, (struct store *)0x1);
	assert_true(strncmp(err, "store: ", 7) == 0);
}

static void test_newer_schema(void **state)
{
	struct fixture *f = *state;
	char err[ERR_LEN] = "", mode[16];
	struct store *st = (struct store *)0x1;
	sqlite3 *h = NULL;

	assert_int_equal(sqlite3_open(f->db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "CREATE TABLE future (x); PRAGMA user_version = 99", NULL,
	                              NULL, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_close(h), SQLITE_OK);

	assert_int_equal(store_open(f->dir, &st, err, sizeof(err)), -EPROTO);
	assert_ptr_equal(st, (struct store *)0x1);
	assert_non_null(strstr(err, "99"));
	assert_non_null(strstr(err, "newer"));
	assert_int_equal(store_open(f->dir, &st, NULL, 0), -EPROTO);

	/* Not migrated or switched to WAL: left as the newer version wrote it. */
	assert_int_equal(sql_int(f->db, "PRAGMA user_version"), 99);
	sql_text(f->db, "PRAGMA journal_mode", mode, sizeof(mode));
	assert_string_equal(mode, "delete");
	assert_int_equal(sql_int(f->db, "SELECT count(*) FROM sqlite_master WHERE name = "
	                                "'modules'"),
	                 0);
}

static void test_bad_arguments(void **state)
{
	struct fixture *f = *state;
	char err[ERR_LEN] = "";
	struct store_module m;
	struct store *st = open_ok(f->dir);

	make_module_v4(&m, "u", "m");
	m.filter.src.family = 12345;
	assert_int_equal(store_module_put(st, &m, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "family"));
	m.filter.src.family = AF_INET;
	m.filter.src.len = 33;
	assert_int_equal(store_module_put(st, &m, NULL, 0), -EINVAL);
	m.filter.src.len = 8;
	free(m.state);
	m.state = NULL;
	assert_int_equal(store_module_put(st, &m, NULL, 0), -EINVAL);
	m.state = xstrdup("running");
	memset(m.hash, 'h', sizeof(m.hash));
	assert_int_equal(store_module_put(st, &m, NULL, 0), -EINVAL);
	m.hash[0] = '\0';
	free(m.user);
	m.user = NULL;
	assert_int_equal(store_module_put(st, &m, NULL, 0), -EINVAL);
	assert_int_equal(store_module_put(st, NULL, NULL, 0), -EINVAL);
	assert_int_equal(store_module_get(st, NULL, "m", &m, NULL, 0), -EINVAL);
	assert_int_equal(store_module_set_state(st, "u", "m", NULL, NULL, NULL, 0), -EINVAL);
	/* Nothing was written. */
	assert_int_equal(store_module_delete_expired(st, INT64_MAX, NULL, 0), 0);

	store_module_done(&m);
	store_close(st);
}

static void test_release_null_safe(void **state)
{
	struct store_module m;

	memset(&m, 0, sizeof(m));
	store_module_done(NULL);
	store_module_done(&m);
	store_module_done(&m);
	store_module_list_free(NULL, 0);
	store_module_list_free(NULL, 5);
	assert_null(store_close(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_open_creates, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_open_private, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_open_empty_file, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_open_not_a_directory, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_values_are_bound, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_upsert_replaces, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_missing_row, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_set_state_expiry_delete, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_list_order, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_list_many, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_delete_expired, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_reopen_keeps_data, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_survives_kill, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_garbage_file, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_newer_schema, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
	        cmocka_unit_test(test_release_null_safe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
