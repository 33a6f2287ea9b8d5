/* The Prometheus text exposition format (version 0.0.4): a growing text
 * buffer, HELP/TYPE lines, samples with escaped label values, and a small
 * fixed-bucket histogram. Pure functions over caller memory; nothing logs.
 *
 * A metric family's samples must be written together, after its
 * prom_family() line: Prometheus refuses a family that reappears. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Text being built. An allocation failure is sticky: every later write is a
 * no-op and prom_buf_finish() reports -ENOMEM. */
struct prom_buf {
	char *data;
	size_t len, cap;
	bool oom;
};

struct prom_label {
	const char *name;  /* [a-zA-Z_][a-zA-Z0-9_]*, not escaped */
	const char *value; /* any bytes: escaped (\\, \", \n), invalid UTF-8 → U+FFFD */
};

/* Appends formatted text, as is. */
void prom_printf(struct prom_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends `v` escaped for a label value (without the quotes). */
void prom_escape_label(struct prom_buf *b, const char *v);

/* Writes the "# HELP" and "# TYPE" lines of a family; type is "counter",
 * "gauge" or "histogram". The help text is escaped. */
void prom_family(struct prom_buf *b, const char *name, const char *type, const char *help);

/* Writes one sample line: name{labels} value. */
void prom_sample_u64(struct prom_buf *b, const char *name, const struct prom_label *labels,
                     size_t n_labels, uint64_t value);
void prom_sample_double(struct prom_buf *b, const char *name, const struct prom_label *labels,
                        size_t n_labels, double value);

/* Takes the text (NUL-terminated, the caller frees it) and resets b.
 * Returns 0, or -ENOMEM (then nothing to free). */
int prom_buf_finish(struct prom_buf *b, char **ret, size_t *ret_len);

/* Frees the text and resets b. */
void prom_buf_free(struct prom_buf *b);

#define PROM_MAX_BUCKETS 16

/* A histogram with fixed upper bounds (ascending, at most PROM_MAX_BUCKETS,
 * +Inf implied). counts[i] holds observations <= bounds[i] and > bounds[i-1]. */
struct prom_histogram {
	size_t n_bounds;
	double bounds[PROM_MAX_BUCKETS];
	uint64_t counts[PROM_MAX_BUCKETS + 1]; /* last: above every bound */
	uint64_t count;
	double sum;
};

/* Sets the bounds (copied) and clears. Returns 0, or -EINVAL when there are
 * too many or they are not strictly ascending and finite. */
int prom_histogram_init(struct prom_histogram *h, const double *bounds, size_t n);

/* Adds one observation. */
void prom_histogram_observe(struct prom_histogram *h, double v);

/* Writes name_bucket{labels,le="…"} (cumulative, ending with +Inf),
 * name_sum and name_count. The family line is the caller's. */
void prom_histogram_write(struct prom_buf *b, const char *name, const struct prom_label *labels,
                          size_t n_labels, const struct prom_histogram *h);
