/* The supervisor <-> container messages, typed (msg.h). */
#include "proto/msg.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/errbuf.h"
#include "proto/filter_json.h"

/* ---- helpers: optional keys keep the default; a present key must fit ---- */

static int get_i64(json_t *j, const char *key, int64_t lo, int64_t hi, int64_t *v, char *err,
                   size_t errlen)
{
	json_t *x = json_object_get(j, key);

	if (!x)
		return 0;
	if (!json_is_integer(x) || json_integer_value(x) < lo || json_integer_value(x) > hi)
		return err_set(err, errlen, -EINVAL, "\"%s\" must be an integer in %lld..%lld", key,
		               (long long)lo, (long long)hi);
	*v = (int64_t)json_integer_value(x);
	return 0;
}

static int get_u32(json_t *j, const char *key, uint32_t *v, char *err, size_t errlen)
{
	int64_t x = *v;
	int r = get_i64(j, key, 0, UINT32_MAX, &x, err, errlen);

	*v = (uint32_t)x;
	return r;
}

static int get_i32(json_t *j, const char *key, int32_t lo, int32_t *v, char *err, size_t errlen)
{
	int64_t x = *v;
	int r = get_i64(j, key, lo, INT32_MAX, &x, err, errlen);

	*v = (int32_t)x;
	return r;
}

/* A required string that fits buf (cap bytes with the NUL). */
static int get_str(json_t *j, const char *key, char *buf, size_t cap, char *err, size_t errlen)
{
	const char *s = json_string_value(json_object_get(j, key));

	if (!s || !*s || strlen(s) >= cap)
		return err_set(err, errlen, -EINVAL, "\"%s\" must be a string of 1..%zu bytes", key,
		               cap - 1);
	memcpy(buf, s, strlen(s) + 1);
	return 0;
}

/* ---- ASSIGN ---- */

void proto_assign_defaults(struct proto_assign *a)
{
	*a = (struct proto_assign){
	        .uid = -1,
	        .gid = -1,
	        .nice = PROTO_DEFAULT_NICE,
	        .budget_ms = PROTO_DEFAULT_BUDGET_MS,
	        .mem_max_pages = PROTO_DEFAULT_MEM_MAX_PAGES,
	        .trap_limit = PROTO_DEFAULT_TRAP_LIMIT,
	        .trap_window_s = PROTO_DEFAULT_TRAP_WINDOW_S,
	        .log_per_s = PROTO_DEFAULT_LOG_PER_S,
	        .queue = -1,
	        .cpu = -1,
	};
}

json_t *proto_assign_to_json(const struct proto_assign *a)
{
	json_t *j = json_pack("{s:s, s:I, s:I, s:i, s:I, s:I, s:I, s:I, s:I, s:i, s:I, s:I, s:I}",
	                      "user", a->user, "uid", (json_int_t)a->uid, "gid", (json_int_t)a->gid,
	                      "nice", (int)a->nice, "budget_ms", (json_int_t)a->budget_ms,
	                      "mem_max_pages", (json_int_t)a->mem_max_pages, "trap_limit",
	                      (json_int_t)a->trap_limit, "trap_window_s",
	                      (json_int_t)a->trap_window_s, "log_per_s", (json_int_t)a->log_per_s,
	                      "queue", (int)a->queue, "batch", (json_int_t)a->batch, "rt_priority",
	                      (json_int_t)a->rt_priority, "cpu", (json_int_t)a->cpu);

	if (j && json_object_set_new(j, "sandbox", sandbox_config_to_json(&a->sandbox)) < 0) {
		json_decref(j);
		return NULL;
	}
	if (j && a->n_xsk) {
		json_t *ifs = json_array();
		for (uint32_t i = 0; i < a->n_xsk && i < PROTO_MAX_XSK; i++)
			json_array_append_new(ifs, json_integer(a->xsk_ifindex[i]));
		if (json_object_set_new(j, "xsk_ifindex", ifs) < 0) {
			json_decref(j);
			return NULL;
		}
	}
	return j;
}

int proto_assign_from_json(json_t *j, struct proto_assign *ret, char *err, size_t errlen)
{
	struct proto_assign a;
	int r;

	proto_assign_defaults(&a);
	if (!json_is_object(j))
		return err_set(err, errlen, -EINVAL, "ASSIGN is not a JSON object");
	if ((r = get_str(j, "user", a.user, sizeof(a.user), err, errlen)) < 0 ||
	    (r = get_i64(j, "uid", -1, UINT32_MAX - 1, &a.uid, err, errlen)) < 0 ||
	    (r = get_i64(j, "gid", -1, UINT32_MAX - 1, &a.gid, err, errlen)) < 0 ||
	    (r = get_i32(j, "nice", -20, &a.nice, err, errlen)) < 0 ||
	    (r = get_u32(j, "budget_ms", &a.budget_ms, err, errlen)) < 0 ||
	    (r = get_u32(j, "mem_max_pages", &a.mem_max_pages, err, errlen)) < 0 ||
	    (r = get_u32(j, "trap_limit", &a.trap_limit, err, errlen)) < 0 ||
	    (r = get_u32(j, "trap_window_s", &a.trap_window_s, err, errlen)) < 0 ||
	    (r = get_u32(j, "log_per_s", &a.log_per_s, err, errlen)) < 0 ||
	    (r = get_i32(j, "queue", -1, &a.queue, err, errlen)) < 0 ||
	    (r = get_u32(j, "batch", &a.batch, err, errlen)) < 0 ||
	    (r = get_u32(j, "rt_priority", &a.rt_priority, err, errlen)) < 0 ||
	    (r = get_i64(j, "cpu", -1, 4095, &a.cpu, err, errlen)) < 0)
		return r;
	if (a.nice > 19 || a.queue > UINT16_MAX || a.rt_priority > 99 || a.budget_ms == 0)
		return err_set(
		        err, errlen, -EINVAL,
		        "ASSIGN out of range (nice %d, queue %d, rt_priority %u, budget_ms %u)",
		        (int)a.nice, (int)a.queue, a.rt_priority, a.budget_ms);
	sandbox_config_from_json(json_object_get(j, "sandbox"), &a.sandbox);
	json_t *ifs = json_object_get(j, "xsk_ifindex");
	if (ifs) {
		size_t i;
		json_t *v;
		if (!json_is_array(ifs) || json_array_size(ifs) > PROTO_MAX_XSK)
			return err_set(err, errlen, -EINVAL, "xsk_ifindex: want 0..%d ifindexes",
			               PROTO_MAX_XSK);
		json_array_foreach(ifs, i, v)
		{
			if (!json_is_integer(v) || json_integer_value(v) <= 0 ||
			    json_integer_value(v) > INT32_MAX)
				return err_set(err, errlen, -EINVAL, "xsk_ifindex: bad ifindex");
			a.xsk_ifindex[i] = (int32_t)json_integer_value(v);
		}
		a.n_xsk = (uint32_t)json_array_size(ifs);
	}
	*ret = a;
	return 0;
}

/* ---- INSTALL ---- */

json_t *proto_install_to_json(const struct proto_install *m)
{
	json_t *j = json_pack("{s:s, s:s, s:o}", "module", m->module, "so", m->so, "properties",
	                      m->properties ? json_incref(m->properties) : json_object());

	if (j && m->n_filters &&
	    json_object_set_new(j, "filters", proto_filters_to_json(m->filters, m->n_filters)) <
	            0) {
		json_decref(j);
		return NULL;
	}
	if (j && m->swap && json_object_set_new(j, "swap", json_true()) < 0) {
		json_decref(j);
		return NULL;
	}
	if (j && m->sample_every &&
	    json_object_set_new(j, "sample_every", json_integer(m->sample_every)) < 0) {
		json_decref(j);
		return NULL;
	}
	return j;
}

int proto_install_from_json(json_t *j, struct proto_install *ret, char *err, size_t errlen)
{
	struct proto_install m = {0};
	json_t *props, *f;
	int r;

	if (!json_is_object(j))
		return err_set(err, errlen, -EINVAL, "INSTALL is not a JSON object");
	if ((r = get_str(j, "module", m.module, sizeof(m.module), err, errlen)) < 0 ||
	    (r = get_str(j, "so", m.so, sizeof(m.so), err, errlen)) < 0)
		return r;
	props = json_object_get(j, "properties");
	if (props && !json_is_object(props))
		return err_set(err, errlen, -EINVAL, "INSTALL: \"properties\" is not an object");
	/* The one-filter form of older builds: refused rather than read as
	 * "every packet". */
	if (json_object_get(j, "filter"))
		return err_set(err, errlen, -EINVAL, "INSTALL: \"filter\" (want \"filters\")");
	f = json_object_get(j, "filters");
	if (f && !json_is_null(f) &&
	    proto_filters_from_json(f, m.filters, NCM_MAX_FILTERS, &m.n_filters) < 0)
		return err_set(err, errlen, -EINVAL,
		               "INSTALL: malformed filters (want an array of at most %d filters)",
		               NCM_MAX_FILTERS);
	json_t *swap = json_object_get(j, "swap");
	if (swap && !json_is_boolean(swap))
		return err_set(err, errlen, -EINVAL, "INSTALL: \"swap\" is not a boolean");
	m.swap = swap && json_is_true(swap);
	json_t *se = json_object_get(j, "sample_every");
	if (se && (!json_is_integer(se) || json_integer_value(se) < 1 ||
	           json_integer_value(se) > NCM_SAMPLE_EVERY_MAX))
		return err_set(err, errlen, -EINVAL, "INSTALL: bad \"sample_every\" (want 1..%u)",
		               NCM_SAMPLE_EVERY_MAX);
	m.sample_every = se ? (uint32_t)json_integer_value(se) : 0;
	m.properties = props ? json_incref(props) : json_object();
	if (!m.properties)
		return err_set(err, errlen, -ENOMEM, "out of memory");
	*ret = m;
	return 0;
}

void proto_install_clear(struct proto_install *m)
{
	if (!m)
		return;
	json_decref(m->properties);
	m->properties = NULL;
}

/* ---- REMOVE ---- */

json_t *proto_remove_to_json(const struct proto_remove *m)
{
	return json_pack("{s:s, s:b}", "module", m->module, "purge", m->purge);
}

int proto_remove_from_json(json_t *j, struct proto_remove *ret, char *err, size_t errlen)
{
	struct proto_remove m;
	int r = get_str(j, "module", m.module, sizeof(m.module), err, errlen);

	if (r < 0)
		return r;
	m.purge = json_is_true(json_object_get(j, "purge"));
	*ret = m;
	return 0;
}

/* ---- EVENT ---- */

static const char *const event_names[] = {
        [PROTO_EVENT_TRAP] = "trap",
        [PROTO_EVENT_FAILED] = "failed",
};

const char *proto_event_name(enum proto_event_kind kind)
{
	if ((size_t)kind < sizeof(event_names) / sizeof(event_names[0]) && event_names[kind])
		return event_names[kind];
	return "?";
}

json_t *proto_event_to_json(const struct proto_event *e)
{
	return json_pack("{s:s, s:s, s:s}", "module", e->module, "event", proto_event_name(e->kind),
	                 "reason", e->reason);
}

int proto_event_from_json(json_t *j, struct proto_event *ret, char *err, size_t errlen)
{
	struct proto_event e = {0};
	const char *name = json_string_value(json_object_get(j, "event"));
	const char *reason = json_string_value(json_object_get(j, "reason"));
	int r = get_str(j, "module", e.module, sizeof(e.module), err, errlen);

	if (r < 0)
		return r;
	for (size_t i = 0; name && i < sizeof(event_names) / sizeof(event_names[0]); i++)
		if (event_names[i] && strcmp(event_names[i], name) == 0)
			e.kind = (enum proto_event_kind)i;
	if (!e.kind)
		return err_set(err, errlen, -EINVAL, "EVENT: unknown event %s",
		               name ? name : "(none)");
	snprintf(e.reason, sizeof(e.reason), "%s", reason ? reason : "");
	*ret = e;
	return 0;
}
