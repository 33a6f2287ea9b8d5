/* The Prometheus text exposition format: see prom.h. */
#include "lib/prom.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool reserve(struct prom_buf *b, size_t more)
{
	if (b->oom)
		return false;
	if (b->len + more + 1 <= b->cap)
		return true;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more + 1)
		cap *= 2;
	char *p = realloc(b->data, cap);
	if (!p) {
		b->oom = true;
		return false;
	}
	b->data = p;
	b->cap = cap;
	return true;
}

static void put(struct prom_buf *b, const char *s, size_t n)
{
	if (!reserve(b, n))
		return;
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void prom_printf(struct prom_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if it is not one. */
static size_t utf8_len(const unsigned char *s)
{
	if (s[0] < 0x80)
		return 1;
	size_t n;
	uint32_t cp;
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
	if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* Escapes backslash, line feed and (for label values) the double quote. */
static void escape(struct prom_buf *b, const char *v, bool quote)
{
	const unsigned char *s = (const unsigned char *)v;
	while (*s) {
		size_t n = utf8_len(s);
		if (n == 0) {
			put(b, "\xef\xbf\xbd", 3); /* U+FFFD */
			s++;
		} else if (*s == '\\') {
			put(b, "\\\\", 2);
			s++;
		} else if (*s == '\n') {
			put(b, "\\n", 2);
			s++;
		} else if (*s == '"' && quote) {
			put(b, "\\\"", 2);
			s++;
		} else {
			put(b, (const char *)s, n);
			s += n;
		}
	}
}

void prom_escape_label(struct prom_buf *b, const char *v)
{
	escape(b, v, true);
}

void prom_family(struct prom_buf *b, const char *name, const char *type, const char *help)
{
	prom_printf(b, "# HELP %s ", name);
	escape(b, help, false);
	prom_printf(b, "\n# TYPE %s %s\n", name, type);
}

/* Writes name{labels[,extra="value"]} and a space. */
static void series(struct prom_buf *b, const char *name, const char *suffix,
                   const struct prom_label *labels, size_t n, const char *extra,
                   const char *extra_value)
{
	prom_printf(b, "%s%s", name, suffix);
	if (n == 0 && !extra) {
		put(b, " ", 1);
		return;
	}
	put(b, "{", 1);
	for (size_t i = 0; i < n; i++) {
		prom_printf(b, "%s%s=\"", i ? "," : "", labels[i].name);
		prom_escape_label(b, labels[i].value ? labels[i].value : "");
		put(b, "\"", 1);
	}
	if (extra)
		prom_printf(b, "%s%s=\"%s\"", n ? "," : "", extra, extra_value);
	put(b, "} ", 2);
}

/* The shortest of %.15g..%.17g that reads back as v. */
static void fmt_double(char *buf, size_t len, double v)
{
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, len, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			return;
	}
}

/* A float as the format wants it: NaN, +Inf, -Inf, or a Go-parsable number. */
static void put_double(struct prom_buf *b, double v)
{
	if (isnan(v))
		put(b, "NaN", 3);
	else if (isinf(v))
		put(b, v > 0 ? "+Inf" : "-Inf", 4);
	else {
		char num[40];
		fmt_double(num, sizeof(num), v);
		put(b, num, strlen(num));
	}
}

void prom_sample_u64(struct prom_buf *b, const char *name, const struct prom_label *labels,
                     size_t n_labels, uint64_t value)
{
	series(b, name, "", labels, n_labels, NULL, NULL);
	prom_printf(b, "%llu\n", (unsigned long long)value);
}

void prom_sample_double(struct prom_buf *b, const char *name, const struct prom_label *labels,
                        size_t n_labels, double value)
{
	series(b, name, "", labels, n_labels, NULL, NULL);
	put_double(b, value);
	put(b, "\n", 1);
}

int prom_buf_finish(struct prom_buf *b, char **ret, size_t *ret_len)
{
	if (b->oom || !reserve(b, 0)) {
		prom_buf_free(b);
		return -ENOMEM;
	}
	b->data[b->len] = '\0';
	*ret = b->data;
	*ret_len = b->len;
	*b = (struct prom_buf){0};
	return 0;
}

void prom_buf_free(struct prom_buf *b)
{
	free(b->data);
	*b = (struct prom_buf){0};
}

int prom_histogram_init(struct prom_histogram *h, const double *bounds, size_t n)
{
	if (n > PROM_MAX_BUCKETS)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!isfinite(bounds[i]) || (i && bounds[i] <= bounds[i - 1]))
			return -EINVAL;
	*h = (struct prom_histogram){.n_bounds = n};
	memcpy(h->bounds, bounds, n * sizeof(*bounds));
	return 0;
}

void prom_histogram_observe(struct prom_histogram *h, double v)
{
	size_t i = 0;
	while (i < h->n_bounds && v > h->bounds[i])
		i++;
	h->counts[i]++;
	h->count++;
	h->sum += v;
}

void prom_histogram_write(struct prom_buf *b, const char *name, const struct prom_label *labels,
                          size_t n_labels, const struct prom_histogram *h)
{
	uint64_t cum = 0;
	char le[32];
	for (size_t i = 0; i < h->n_bounds; i++) {
		cum += h->counts[i];
		fmt_double(le, sizeof(le), h->bounds[i]);
		series(b, name, "_bucket", labels, n_labels, "le", le);
		prom_printf(b, "%llu\n", (unsigned long long)cum);
	}
	series(b, name, "_bucket", labels, n_labels, "le", "+Inf");
	prom_printf(b, "%llu\n", (unsigned long long)h->count);
	series(b, name, "_sum", labels, n_labels, NULL, NULL);
	put_double(b, h->sum);
	put(b, "\n", 1);
	series(b, name, "_count", labels, n_labels, NULL, NULL);
	prom_printf(b, "%llu\n", (unsigned long long)h->count);
}
