/* The bounded ring of a module's log lines (lib/logring.h). */
#include <string.h>

#include "lib/logring.h"

void logring_init(struct logring *r)
{
	memset(r, 0, sizeof(*r));
}

void logring_add(struct logring *r, int64_t time_ms, unsigned level, const char *text, size_t len)
{
	struct logring_line *l = &r->v[r->next];
	if (r->n == LOGRING_LINES)
		r->overwritten++;
	else
		r->n++;
	r->next = (r->next + 1) % LOGRING_LINES;
	l->time_ms = time_ms;
	l->level = (uint8_t)(level > 3 ? 3 : level);
	size_t n = len <= LOGRING_LINE_MAX ? len : LOGRING_LINE_MAX - 3;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)text[i];
		l->text[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	if (len > n) {
		memcpy(l->text + n, "...", 3);
		n += 3;
	}
	l->text[n] = '\0';
}

void logring_suppress(struct logring *r)
{
	r->suppressed++;
}

const struct logring_line *logring_get(const struct logring *r, uint32_t i)
{
	if (i >= r->n)
		return NULL;
	uint32_t oldest = (r->next + LOGRING_LINES - r->n) % LOGRING_LINES;
	return &r->v[(oldest + i) % LOGRING_LINES];
}

const char *logring_last(const struct logring *r)
{
	return r->n ? r->v[(r->next + LOGRING_LINES - 1) % LOGRING_LINES].text : NULL;
}

uint64_t logring_dropped(const struct logring *r)
{
	return r->suppressed + r->overwritten;
}

const char *logring_level_name(unsigned level)
{
	static const char *const names[] = {"err", "warn", "info", "debug"};
	return names[level < 4 ? level : 3];
}
