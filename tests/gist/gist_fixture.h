/* Test helpers for the GIST codec tests: load the hex fixtures of
 * tests/gist/fixtures/ (made once from the NSIS-ka captures by
 * tests/gist/pcap2hex.py) and edit raw messages. Header-only, for
 * tests/unit/test_gist*.c. */
#pragma once

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gist/gist_wire.h"

#ifndef SOURCE_DIR
#error "SOURCE_DIR must be defined (CMake passes it)"
#endif
#define GIST_FIXTURE_DIR SOURCE_DIR "/tests/gist/fixtures"

struct fixture {
	char name[64];
	uint8_t b[8192]; /* the live captures have 3000-byte C-mode Data */
	size_t len;
	enum gist_transport tp;
};

/* Loads tests/gist/fixtures/<name>. Returns 0 or -1 (message printed). */
static inline int fixture_load(const char *name, struct fixture *fx)
{
	char path[512], line[512];
	FILE *f;

	memset(fx, 0, sizeof(*fx));
	snprintf(fx->name, sizeof(fx->name), "%s", name);
	snprintf(path, sizeof(path), "%s/%s", GIST_FIXTURE_DIR, name);
	f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "fixture %s: cannot open\n", path);
		return -1;
	}
	fx->tp = GIST_TRANSPORT_UDP;
	while (fgets(line, sizeof(line), f)) {
		if (line[0] == '#') {
			if (strstr(line, ", TCP "))
				fx->tp = GIST_TRANSPORT_TCP;
			continue;
		}
		for (char *p = line; p[0] && p[1] && p[0] != '\n'; p += 2) {
			unsigned v;

			if (sscanf(p, "%2x", &v) != 1 || fx->len >= sizeof(fx->b)) {
				fclose(f);
				fprintf(stderr, "fixture %s: bad hex\n", path);
				return -1;
			}
			fx->b[fx->len++] = (uint8_t)v;
		}
	}
	fclose(f);
	return fx->len ? 0 : -1;
}

/* Lists the fixture names, sorted. Returns the count (caller frees each and the
 * array) or -1. */
static inline int fixture_list(char ***ret)
{
	struct dirent **ents;
	int n = scandir(GIST_FIXTURE_DIR, &ents, NULL, alphasort), k = 0;
	char **names;

	if (n < 0)
		return -1;
	names = calloc((size_t)n + 1, sizeof(*names));
	for (int i = 0; i < n; i++) {
		size_t l = strlen(ents[i]->d_name);

		if (names && l > 4 && strcmp(ents[i]->d_name + l - 4, ".hex") == 0)
			names[k++] = strdup(ents[i]->d_name);
		free(ents[i]);
	}
	free(ents);
	*ret = names;
	return names ? k : -1;
}

/* Offset of the common header in a fixture (after the magic number, if any). */
static inline size_t fx_hdr_off(const struct fixture *fx)
{
	return (fx->len >= 4 && fx->b[0] == 0x4e && fx->b[1] == 0x04 && fx->b[2] == 0xbd &&
	        fx->b[3] == 0xa5)
	               ? 4
	               : 0;
}

/* Offset of the first object of the given type (12 bits), or 0 if none. */
static inline size_t fx_obj_off(const struct fixture *fx, unsigned type)
{
	size_t pos = fx_hdr_off(fx) + GIST_HDR_LEN;

	while (pos + 4 <= fx->len) {
		unsigned t = (unsigned)(fx->b[pos] << 8 | fx->b[pos + 1]) & 0x0fff;
		size_t l = 4u * ((unsigned)(fx->b[pos + 2] << 8 | fx->b[pos + 3]) & 0x0fff);

		if (t == type)
			return pos;
		pos += 4 + l;
	}
	return 0;
}

/* Total length (header included) of the object at off. */
static inline size_t fx_obj_len(const struct fixture *fx, size_t off)
{
	return 4 + 4u * ((unsigned)(fx->b[off + 2] << 8 | fx->b[off + 3]) & 0x0fff);
}

/* Rewrites the message length field to match fx->len. */
static inline void fx_fix_len(struct fixture *fx)
{
	size_t h = fx_hdr_off(fx), words = (fx->len - h - GIST_HDR_LEN) / 4;

	fx->b[h + 2] = (uint8_t)(words >> 8);
	fx->b[h + 3] = (uint8_t)words;
}

static inline void fx_remove(struct fixture *fx, size_t off, size_t n)
{
	memmove(fx->b + off, fx->b + off + n, fx->len - off - n);
	fx->len -= n;
	fx_fix_len(fx);
}

static inline void fx_insert(struct fixture *fx, size_t off, const uint8_t *p, size_t n)
{
	memmove(fx->b + off + n, fx->b + off, fx->len - off);
	memcpy(fx->b + off, p, n);
	fx->len += n;
	fx_fix_len(fx);
}
