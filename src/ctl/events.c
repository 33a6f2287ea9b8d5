/* The controller's recent events: see events.h. */
#include "ctl/events.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

int ctl_events_init(struct ctl_events *e, size_t cap)
{
	*e = (struct ctl_events){0};
	if (cap == 0)
		return -EINVAL;
	e->ring = calloc(cap, sizeof(*e->ring));
	if (!e->ring)
		return -ENOMEM;
	e->cap = cap;
	return 0;
}

void ctl_events_done(struct ctl_events *e)
{
	free(e->ring);
	*e = (struct ctl_events){0};
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	unsigned lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0; /* overlong */
		if (c == 0xed)
			hi = 0x9f; /* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;
		if (c == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (len > n)
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

/* Copies src into dst[size]: cut at a character boundary, invalid bytes and
 * control characters (but tab) replaced by '?'. */
static void copy_text(char *dst, size_t size, const char *src)
{
	size_t o = 0;
	if (src) {
		const unsigned char *s = (const unsigned char *)src;
		size_t n = strlen(src);
		for (size_t i = 0; i < n;) {
			size_t k = utf8_seq(s + i, n - i);
			bool bad = k == 0 ||
			           (k == 1 && ((s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f));
			size_t w = bad ? 1 : k;
			if (o + w >= size)
				break;
			if (bad)
				dst[o] = '?';
			else
				memcpy(dst + o, s + i, k);
			o += w;
			i += k ? k : 1;
		}
	}
	dst[o] = '\0';
}

void ctl_events_add(struct ctl_events *e, int64_t at_ms, const char *publisher, const char *module,
                    const char *what, const char *reason)
{
	if (!e->ring)
		return;
	struct ctl_event *ev = &e->ring[e->next];
	ev->seq = ++e->seq;
	ev->at_ms = at_ms;
	copy_text(ev->publisher, sizeof(ev->publisher), publisher);
	copy_text(ev->module, sizeof(ev->module), module);
	copy_text(ev->what, sizeof(ev->what), what);
	copy_text(ev->reason, sizeof(ev->reason), reason);
	e->next = (e->next + 1) % e->cap;
	if (e->n < e->cap)
		e->n++;
}

const struct ctl_event *ctl_events_get(const struct ctl_events *e, size_t i)
{
	if (i >= e->n)
		return NULL;
	size_t oldest = (e->next + e->cap - e->n) % e->cap;
	return &e->ring[(oldest + i) % e->cap];
}

static json_t *text_or_null(const char *s)
{
	return s[0] ? json_string(s) : json_null();
}

json_t *ctl_events_json(const struct ctl_events *e)
{
	json_t *arr = json_array();
	if (!arr)
		return NULL;
	for (size_t i = 0; i < e->n; i++) {
		const struct ctl_event *ev = ctl_events_get(e, i);
		json_t *o = json_pack("{s:I, s:I, s:o, s:o, s:o, s:o}", "seq", (json_int_t)ev->seq,
		                      "time_ms", (json_int_t)ev->at_ms, "publisher",
		                      text_or_null(ev->publisher), "module",
		                      text_or_null(ev->module), "what", text_or_null(ev->what),
		                      "reason", text_or_null(ev->reason));
		if (!o || json_array_append_new(arr, o) < 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}
