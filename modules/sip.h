/* sip.h: SIP over UDP for NetServ modules.
 *
 *   - a bounded parser of SIP messages (RFC 3261 §7): the start line and the
 *     headers the applications need (Via, From, To, Call-ID, CSeq, Event,
 *     Content-Length), header names case-insensitive, compact forms (v f t
 *     i l o), CRLF or bare LF line ends, folded (continued) header lines;
 *   - the parts of a header value: the first value of a Via, its sent-by
 *     and parameters (RFC 3581 rport, RFC 7339 oc, oc-algo, oc-validity,
 *     oc-seq), the tag of From/To;
 *   - a builder of the stateless answer a server would send (Via copied with
 *     received/rport, From, To with a tag, Call-ID, CSeq, Content-Length: 0);
 *   - the RFC 5626 keep-alives that are not SIP messages (a CRLF ping, a STUN
 *     Binding request) and the STUN Binding success answer.
 *
 * Addresses, checksums, whole packets and the string view come from the SDK
 * (netserv_util.h): struct sip_str is its struct ns_str. Header-only and
 * freestanding (no libc): the modules include it, and tests/unit/test_sip.c
 * compiles the very same code natively with the SDK. Nothing
 * allocates. A struct sip_str points into the caller's buffer, which must
 * outlive it. Every scan is bounded by the lengths given; nothing reads past
 * them, whatever the bytes. */
#ifndef NETSERV_MODULES_SIP_H
#define NETSERV_MODULES_SIP_H

#include <netserv.h>

/* A piece of the message: len bytes at p (not NUL-terminated): the SDK's
 * string view. */
#define sip_str ns_str

/* Results of sip_parse (0 is success). */
enum sip_err {
	SIP_OK = 0,
	SIP_E_NOT_SIP = -1,   /* the first line is neither a request nor a status line */
	SIP_E_MALFORMED = -2, /* a bad header line, a repeated single header, bad CSeq */
	SIP_E_TRUNCATED = -3, /* no blank line, or a body shorter than Content-Length */
	SIP_E_LIMIT = -4,     /* more Via headers or header lines than the limits */
	SIP_E_MISSING = -5,   /* Via, From, To, Call-ID or CSeq is missing */
};

#define SIP_MAX_VIA     16  /* Via header lines kept (each may hold several values) */
#define SIP_MAX_HEADERS 128 /* header lines in a message */

struct sip_msg {
	bool is_request;
	struct sip_str method;           /* request: the method (case-sensitive, RFC 3261 §7.1) */
	struct sip_str uri;              /* request: the Request-URI */
	uint16_t status;                 /* response: the status code */
	struct sip_str reason;           /* response: the reason phrase */
	struct sip_str via[SIP_MAX_VIA]; /* the value of each Via header line, in order */
	uint32_t n_via;
	struct sip_str from, to, call_id, cseq, event;
	uint32_t cseq_num;
	struct sip_str cseq_method;
	bool has_content_length;
	uint32_t content_length;
	uint32_t n_headers; /* header lines (continuations not counted) */
	uint32_t body_off;  /* offset of the body (after the blank line) */
	uint32_t body_len;  /* Content-Length, or the rest of the datagram */
};

/* --- Characters and strings ---------------------------------------------- */

static inline char sip_lower(char c)
{
	return ns_lower(c);
}

static inline bool sip_is_ws(char c)
{
	return c == ' ' || c == '\t';
}

static inline bool sip_is_digit(char c)
{
	return ns_is_digit(c);
}

static inline bool sip_is_alnum(char c)
{
	return sip_is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* token characters (RFC 3261 §25.1): alphanumerics and -.!%*_+`'~, as a
 * bitmap of the ASCII range (small enough to inline: the parser asks for
 * every byte of every header name) */
static inline bool sip_is_token(char c)
{
	static const uint64_t map[2] = {
	        0x03ff6ca200000000ull, /* ! % ' * + - . 0-9 */
	        0x47ffffff87fffffeull, /* A-Z _ ` a-z ~ */
	};
	uint8_t u = (uint8_t)c;
	return u < 128 && (map[u >> 6] >> (u & 63)) & 1;
}

static inline uint32_t sip_cstrlen(const char *s)
{
	return ns_strlen(s);
}

/* True if s equals the C string lit, ignoring ASCII case. */
static inline bool sip_ieq(struct sip_str s, const char *lit)
{
	/* inline, not ns_str_ieq: the parser calls it for every header name of
	 * a known length, and a call costs more than the compare in wasm */
	uint32_t i = 0;
	for (; i < s.len; i++)
		if (!lit[i] || sip_lower(s.p[i]) != sip_lower(lit[i]))
			return false;
	return lit[i] == '\0';
}

/* True if s equals the C string lit exactly. */
static inline bool sip_eq(struct sip_str s, const char *lit)
{
	uint32_t i = 0;
	for (; i < s.len; i++)
		if (!lit[i] || s.p[i] != lit[i])
			return false;
	return lit[i] == '\0';
}

static inline bool sip_str_eq(struct sip_str a, struct sip_str b)
{
	return ns_str_eq(a, b);
}

/* Trims blanks (SP, HT, CR, LF: folded values) at both ends. */
static inline struct sip_str sip_trim(struct sip_str s)
{
	/* inline, not ns_str_trim (a struct returned through wasm memory) */
	while (s.len && ns_is_space(s.p[0])) {
		s.p++;
		s.len--;
	}
	while (s.len && ns_is_space(s.p[s.len - 1]))
		s.len--;
	return s;
}

/* Parses a decimal number of 1..10 digits that fits in 32 bits. Returns
 * false for anything else (empty, a sign, other characters, overflow). */
static inline bool sip_u32(struct sip_str s, uint32_t *ret)
{
	uint64_t v;
	if (s.len > 10 || ns_str_uint(s, 0xffffffffu, &v) < 0)
		return false;
	*ret = (uint32_t)v;
	return true;
}

/* FNV-1a over the bytes of s, continuing from h (start with 2166136261). */
static inline uint32_t sip_hash(uint32_t h, struct sip_str s)
{
	for (uint32_t i = 0; i < s.len; i++)
		h = (h ^ (uint8_t)s.p[i]) * 16777619u;
	return h;
}

/* --- The message ---------------------------------------------------------- */

enum sip_hdr {
	SIP_H_OTHER,
	SIP_H_VIA,
	SIP_H_FROM,
	SIP_H_TO,
	SIP_H_CALL_ID,
	SIP_H_CSEQ,
	SIP_H_EVENT,
	SIP_H_CONTENT_LENGTH,
};

/* The header a name stands for, long or compact form, any case. */
static inline enum sip_hdr sip_header_kind(struct sip_str name)
{
	if (name.len == 1) {
		switch (sip_lower(name.p[0])) {
		case 'v':
			return SIP_H_VIA;
		case 'f':
			return SIP_H_FROM;
		case 't':
			return SIP_H_TO;
		case 'i':
			return SIP_H_CALL_ID;
		case 'o':
			return SIP_H_EVENT;
		case 'l':
			return SIP_H_CONTENT_LENGTH;
		default:
			return SIP_H_OTHER;
		}
	}
	switch (name.len) { /* the length first: most headers are none of these */
	case 2:
		return sip_ieq(name, "to") ? SIP_H_TO : SIP_H_OTHER;
	case 3:
		return sip_ieq(name, "via") ? SIP_H_VIA : SIP_H_OTHER;
	case 4:
		return sip_ieq(name, "from")   ? SIP_H_FROM
		       : sip_ieq(name, "cseq") ? SIP_H_CSEQ
		                               : SIP_H_OTHER;
	case 5:
		return sip_ieq(name, "event") ? SIP_H_EVENT : SIP_H_OTHER;
	case 7:
		return sip_ieq(name, "call-id") ? SIP_H_CALL_ID : SIP_H_OTHER;
	case 14:
		return sip_ieq(name, "content-length") ? SIP_H_CONTENT_LENGTH : SIP_H_OTHER;
	default:
		return SIP_H_OTHER;
	}
}

/* Finds the end of the line starting at off: *eol is the offset of its
 * terminator (CR of CRLF, or LF), the return value the offset after it.
 * Returns 0 if no LF follows before len, or if a CR stands anywhere but
 * right before the LF (bare CRs are not line ends in SIP). With `bad`, a
 * control byte other than HT also ends the scan (0, and *bad set): one pass
 * over the bytes does both. */
static inline uint32_t sip__line(const char *b, uint32_t len, uint32_t off, uint32_t *eol,
                                 bool *bad)
{
	uint32_t i = off;
	/* Eight bytes at a time while none is a control byte (< 0x20) or DEL:
	 * most of a line (the byte loop below then finds its end). The word
	 * tests are exact as a whole: a byte below 0x20, or a zero after the
	 * XOR with DEL, sets some top bit (Mycroft's haszero). */
	while (i < len && len - i >= 8) {
		uint64_t w;
		__builtin_memcpy(&w, b + i, 8);
		const uint64_t ones = 0x0101010101010101ull, tops = 0x8080808080808080ull;
		uint64_t d = w ^ (0x7f * ones);
		if (((w - 0x20 * ones) & ~w & tops) | ((d - ones) & ~d & tops))
			break;
		i += 8;
	}
	for (; i < len; i++) {
		uint8_t c = (uint8_t)b[i];
		if (c >= 0x20 && c != 0x7f)
			continue;
		if (c == '\n') {
			*eol = (i > off && b[i - 1] == '\r') ? i - 1 : i;
			return i + 1;
		}
		if (c == '\r') {
			if (i + 1 >= len || b[i + 1] != '\n')
				return 0;
		} else if (c != '\t' && bad) {
			*bad = true;
			return 0;
		}
	}
	return 0;
}

static inline int sip__start_line(struct sip_str l, struct sip_msg *m)
{
	static const char ver[] = "SIP/2.0";
	if (l.len >= 8 && sip_ieq((struct sip_str){l.p, 7}, ver) && l.p[7] == ' ') {
		/* Status-Line = SIP-Version SP Status-Code SP Reason-Phrase */
		if (l.len < 12 || !sip_is_digit(l.p[8]) || !sip_is_digit(l.p[9]) ||
		    !sip_is_digit(l.p[10]) || l.p[8] == '0')
			return SIP_E_NOT_SIP;
		if (l.len > 12 && l.p[11] != ' ')
			return SIP_E_NOT_SIP;
		m->is_request = false;
		m->status =
		        (uint16_t)((l.p[8] - '0') * 100 + (l.p[9] - '0') * 10 + (l.p[10] - '0'));
		m->reason = l.len > 12 ? (struct sip_str){l.p + 12, l.len - 12}
		                       : (struct sip_str){l.p + l.len, 0};
		return SIP_OK;
	}
	/* Request-Line = Method SP Request-URI SP SIP-Version */
	uint32_t i = 0;
	while (i < l.len && sip_is_token(l.p[i]))
		i++;
	if (i == 0 || i >= l.len || l.p[i] != ' ')
		return SIP_E_NOT_SIP;
	m->method = (struct sip_str){l.p, i};
	uint32_t u = ++i;
	while (i < l.len && l.p[i] != ' ') {
		if ((uint8_t)l.p[i] <= ' ' || l.p[i] == 0x7f)
			return SIP_E_NOT_SIP;
		i++;
	}
	if (i == u || i >= l.len)
		return SIP_E_NOT_SIP;
	m->uri = (struct sip_str){l.p + u, i - u};
	i++;
	if (l.len - i != 7 || !sip_ieq((struct sip_str){l.p + i, 7}, ver))
		return SIP_E_NOT_SIP;
	m->is_request = true;
	return SIP_OK;
}

/* Records one complete header (name and raw value span, folds included). */
static inline int sip__header(struct sip_msg *m, struct sip_str line)
{
	uint32_t i = 0;
	while (i < line.len && sip_is_token(line.p[i]))
		i++;
	struct sip_str name = {line.p, i};
	while (i < line.len && sip_is_ws(line.p[i]))
		i++;
	if (name.len == 0 || i >= line.len || line.p[i] != ':')
		return SIP_E_MALFORMED;
	struct sip_str value = sip_trim((struct sip_str){line.p + i + 1, line.len - i - 1});
	struct sip_str *slot = NULL;
	switch (sip_header_kind(name)) {
	case SIP_H_VIA:
		if (m->n_via >= SIP_MAX_VIA)
			return SIP_E_LIMIT;
		if (value.len == 0)
			return SIP_E_MALFORMED;
		m->via[m->n_via++] = value;
		return SIP_OK;
	case SIP_H_FROM:
		slot = &m->from;
		break;
	case SIP_H_TO:
		slot = &m->to;
		break;
	case SIP_H_CALL_ID:
		slot = &m->call_id;
		break;
	case SIP_H_CSEQ:
		slot = &m->cseq;
		break;
	case SIP_H_EVENT:
		slot = &m->event;
		break;
	case SIP_H_CONTENT_LENGTH:
		if (m->has_content_length || !sip_u32(value, &m->content_length))
			return SIP_E_MALFORMED;
		m->has_content_length = true;
		return SIP_OK;
	case SIP_H_OTHER:
		return SIP_OK;
	}
	if (slot->p) /* a header that may appear once */
		return SIP_E_MALFORMED;
	if (value.len == 0)
		return SIP_E_MALFORMED;
	*slot = value;
	return SIP_OK;
}

/* CSeq = 1*DIGIT LWS Method */
static inline int sip__cseq(struct sip_msg *m)
{
	struct sip_str c = m->cseq;
	uint32_t i = 0;
	while (i < c.len && sip_is_digit(c.p[i]))
		i++;
	if (!sip_u32((struct sip_str){c.p, i}, &m->cseq_num) || m->cseq_num > 0x7fffffffu)
		return SIP_E_MALFORMED;
	uint32_t j = i;
	while (j < c.len && (sip_is_ws(c.p[j]) || c.p[j] == '\r' || c.p[j] == '\n'))
		j++;
	if (j == i || j >= c.len)
		return SIP_E_MALFORMED;
	uint32_t k = j;
	while (k < c.len && sip_is_token(c.p[k]))
		k++;
	if (k != c.len)
		return SIP_E_MALFORMED;
	m->cseq_method = (struct sip_str){c.p + j, k - j};
	if (m->is_request && !sip_str_eq(m->cseq_method, m->method))
		return SIP_E_MALFORMED;
	return SIP_OK;
}

static inline bool sip__addr_ok(struct sip_str v);

/* Parses the SIP message buf[0..len) (a UDP payload) into *m. Returns SIP_OK,
 * or a negative enum sip_err; *m is then unspecified. Headers other than the
 * ones in struct sip_msg are checked for form and skipped. */
static inline int sip_parse(const char *buf, uint32_t len, struct sip_msg *m)
{
	*m = (struct sip_msg){0};
	uint32_t eol, off = 0, next;

	/* RFC 3261 §7.5: CRLFs before the start line are ignored. */
	while (off + 1 < len && buf[off] == '\r' && buf[off + 1] == '\n')
		off += 2;
	next = sip__line(buf, len, off, &eol, NULL);
	if (!next)
		return SIP_E_NOT_SIP;
	int r = sip__start_line((struct sip_str){buf + off, eol - off}, m);
	if (r < 0)
		return r;

	struct sip_str cur = {0, 0}; /* the header being collected */
	for (off = next;;) {
		bool bad = false;
		next = sip__line(buf, len, off, &eol, &bad);
		if (!next)
			return bad ? SIP_E_MALFORMED : SIP_E_TRUNCATED;
		if (eol > off && sip_is_ws(buf[off])) { /* a folded continuation */
			if (!cur.p)
				return SIP_E_MALFORMED;
			cur.len = eol - (uint32_t)(cur.p - buf);
			off = next;
			continue;
		}
		if (cur.p) {
			if ((r = sip__header(m, cur)) < 0)
				return r;
			cur.p = NULL;
		}
		if (eol == off) { /* the blank line */
			off = next;
			break;
		}
		if (++m->n_headers > SIP_MAX_HEADERS)
			return SIP_E_LIMIT;
		cur = (struct sip_str){buf + off, eol - off};
		off = next;
	}
	m->body_off = off;
	if (m->has_content_length) {
		if (m->content_length > len - off)
			return SIP_E_TRUNCATED;
		m->body_len = m->content_length;
	} else {
		m->body_len = len - off;
	}
	if (m->n_via == 0 || !m->from.p || !m->to.p || !m->call_id.p || !m->cseq.p)
		return SIP_E_MISSING;
	if (!sip__addr_ok(m->from) || !sip__addr_ok(m->to))
		return SIP_E_MALFORMED;
	return sip__cseq(m);
}

/* --- Parameters ---------------------------------------------------------- */

#define SIP__UNCLOSED 0xffffffffu

/* Skips a quoted string starting at s[i] == '"'; returns the index after the
 * closing quote, or SIP__UNCLOSED if it is not closed before len. */
static inline uint32_t sip__skip_quoted(const char *s, uint32_t len, uint32_t i)
{
	for (i++; i < len; i++) {
		if (s[i] == '\\')
			i++;
		else if (s[i] == '"')
			return i + 1;
	}
	return SIP__UNCLOSED;
}

/* One ";name[=value]" parameter from the front of *rest (which advances).
 * A quoted value is returned without its quotes. Stops (returns false) at
 * the end, at a ',' (the next header value) or at anything malformed. */
static inline bool sip_param_next(struct sip_str *rest, struct sip_str *name, struct sip_str *val,
                                  bool *has_val)
{
	const char *s = rest->p;
	uint32_t n = rest->len, i = 0;
	while (i < n && (sip_is_ws(s[i]) || s[i] == '\r' || s[i] == '\n'))
		i++;
	if (i >= n || s[i] != ';')
		return false;
	i++;
	while (i < n && (sip_is_ws(s[i]) || s[i] == '\r' || s[i] == '\n'))
		i++;
	uint32_t a = i;
	while (i < n && sip_is_token(s[i]))
		i++;
	if (i == a)
		return false;
	*name = (struct sip_str){s + a, i - a};
	uint32_t j = i;
	while (j < n && sip_is_ws(s[j]))
		j++;
	*has_val = false;
	*val = (struct sip_str){s + i, 0};
	if (j < n && s[j] == '=') {
		j++;
		while (j < n && sip_is_ws(s[j]))
			j++;
		*has_val = true;
		if (j < n && s[j] == '"') {
			uint32_t e = sip__skip_quoted(s, n, j);
			if (e == SIP__UNCLOSED)
				return false;
			*val = (struct sip_str){s + j + 1, e - j - 2};
			i = e;
		} else {
			uint32_t b = j;
			/* token, host (IPv6 references included) */
			while (j < n &&
			       (sip_is_token(s[j]) || s[j] == ':' || s[j] == '[' || s[j] == ']'))
				j++;
			*val = (struct sip_str){s + b, j - b};
			i = j;
		}
	}
	rest->p = s + i;
	rest->len = n - i;
	return true;
}

/* Looks for parameter `name` (any case) in params (";a=1;b" ...). Returns 0
 * if absent, 1 if present without a value, 2 with a value (in *val). When a
 * parameter appears more than once, a valued occurrence wins over a bare one
 * and the last valued one over earlier ones (an RFC 7339 server may set
 * `oc=N` after the client's bare `oc`). */
static inline int sip_param_get(struct sip_str params, const char *name, struct sip_str *val)
{
	struct sip_str n, v;
	bool has;
	int found = 0;
	while (sip_param_next(&params, &n, &v, &has)) {
		if (!sip_ieq(n, name))
			continue;
		if (has) {
			*val = v;
			found = 2;
		} else if (!found) {
			found = 1;
		}
	}
	return found;
}

/* The parameters of a From/To value: what follows the address (the '>' of a
 * name-addr, or the first ';' of an addr-spec, whose URI parameters would
 * have needed angle brackets). Empty if there are none. */
static inline struct sip_str sip_addr_params(struct sip_str v)
{
	uint32_t i = 0;
	while (i < v.len) {
		char c = v.p[i];
		if (c == '"') {
			i = sip__skip_quoted(v.p, v.len, i);
			if (i == SIP__UNCLOSED)
				return (struct sip_str){v.p + v.len, 0};
		} else if (c == '<') {
			while (i < v.len && v.p[i] != '>')
				i++;
			if (i >= v.len)
				return (struct sip_str){v.p + v.len, 0};
			return (struct sip_str){v.p + i + 1, v.len - i - 1};
		} else if (c == ';') {
			return (struct sip_str){v.p + i, v.len - i};
		} else {
			i++;
		}
	}
	return (struct sip_str){v.p + v.len, 0};
}

/* The tag of a From or To value; false if it has none (or an empty one). */
static inline bool sip_tag(struct sip_str v, struct sip_str *tag)
{
	return sip_param_get(sip_addr_params(v), "tag", tag) == 2 && tag->len > 0;
}

/* A From/To value is a name-addr or addr-spec: quotes closed, at most one
 * "<...>" holding no '<' or '"', nothing like an address after it. */
static inline bool sip__addr_ok(struct sip_str v)
{
	uint32_t i = 0;
	bool seen = false;
	while (i < v.len) {
		char c = v.p[i];
		if (c == '"') {
			if (seen)
				return false;
			for (i++; i < v.len && v.p[i] != '"'; i++)
				if (v.p[i] == '\\')
					i++;
			if (i >= v.len)
				return false;
			i++;
		} else if (c == '<') {
			if (seen)
				return false;
			seen = true;
			for (i++; i < v.len && v.p[i] != '>'; i++)
				if (v.p[i] == '<' || v.p[i] == '"')
					return false;
			if (i >= v.len)
				return false;
			i++;
		} else if (c == '>') {
			return false;
		} else {
			i++;
		}
	}
	/* the parameters: each ";name[=value]", up to the end */
	struct sip_str rest = sip_addr_params(v), n, val;
	bool has;
	while (sip_param_next(&rest, &n, &val, &has))
		;
	return sip_trim(rest).len == 0;
}

/* --- Via ----------------------------------------------------------------- */

struct sip_via {
	struct sip_str value;     /* this via-parm, whole */
	struct sip_str transport; /* "UDP", "TCP", ... */
	struct sip_str host;      /* sent-by host (an IPv6 reference without its brackets) */
	uint16_t port;            /* sent-by port, 0 if absent */
	struct sip_str params;    /* from the first ';' to the end of the via-parm */
};

/* The first via-parm of a Via header value (up to a ',' outside quotes). */
static inline struct sip_str sip_via_first(struct sip_str v)
{
	uint32_t i = 0;
	while (i < v.len) {
		if (v.p[i] == '"') {
			i = sip__skip_quoted(v.p, v.len, i);
			if (i == SIP__UNCLOSED)
				i = v.len;
		} else if (v.p[i] == ',')
			break;
		else
			i++;
	}
	return sip_trim((struct sip_str){v.p, i});
}

static inline uint32_t sip__skip_sws(struct sip_str s, uint32_t i)
{
	while (i < s.len && (sip_is_ws(s.p[i]) || s.p[i] == '\r' || s.p[i] == '\n'))
		i++;
	return i;
}

/* Parses one via-parm: sent-protocol LWS sent-by *( SEMI via-params ).
 * Returns false if it is not of that form. */
static inline bool sip_via_parse(struct sip_str v, struct sip_via *via)
{
	uint32_t i = 0, a;
	*via = (struct sip_via){0};
	via->value = v;
	/* "SIP" SLASH "2.0" SLASH transport, SLASH = SWS "/" SWS */
	for (int part = 0; part < 3; part++) {
		i = sip__skip_sws(v, i);
		a = i;
		while (i < v.len && sip_is_token(v.p[i]))
			i++;
		struct sip_str t = {v.p + a, i - a};
		if (t.len == 0)
			return false;
		if (part == 0 && !sip_ieq(t, "SIP"))
			return false;
		if (part == 1 && !sip_eq(t, "2.0"))
			return false;
		if (part == 2) {
			via->transport = t;
			break;
		}
		i = sip__skip_sws(v, i);
		if (i >= v.len || v.p[i] != '/')
			return false;
		i++;
	}
	a = i;
	i = sip__skip_sws(v, i);
	if (i == a)
		return false; /* LWS before sent-by */
	if (i < v.len && v.p[i] == '[') {
		a = ++i;
		while (i < v.len && (sip_is_alnum(v.p[i]) || v.p[i] == ':' || v.p[i] == '.'))
			i++;
		if (i >= v.len || v.p[i] != ']' || i == a)
			return false;
		via->host = (struct sip_str){v.p + a, i - a};
		i++;
	} else {
		a = i;
		while (i < v.len && (sip_is_alnum(v.p[i]) || v.p[i] == '-' || v.p[i] == '.'))
			i++;
		if (i == a)
			return false;
		via->host = (struct sip_str){v.p + a, i - a};
	}
	uint32_t j = sip__skip_sws(v, i);
	if (j < v.len && v.p[j] == ':') {
		j = sip__skip_sws(v, j + 1);
		a = j;
		while (j < v.len && sip_is_digit(v.p[j]))
			j++;
		uint32_t port;
		if (!sip_u32((struct sip_str){v.p + a, j - a}, &port) || port == 0 || port > 65535)
			return false;
		via->port = (uint16_t)port;
		i = j;
	}
	i = sip__skip_sws(v, i);
	if (i < v.len && v.p[i] != ';')
		return false;
	via->params = (struct sip_str){v.p + i, v.len - i};
	return true;
}

/* --- Addresses ----------------------------------------------------------- */

/* Parses an IPv4 or IPv6 address (the SDK's ns_addr_parse) into out.
 * Returns 4 or 6 (the version), or 0 if s is not an address. */
static inline int sip_ip_parse(struct sip_str s, uint8_t out[16])
{
	return ns_addr_parse(s, out);
}

/* --- Writing ------------------------------------------------------------- */

/* An output buffer; `over` is set (and nothing more written) once full. */
struct sip_out {
	char *p;
	uint32_t cap;
	uint32_t len;
	bool over;
};

static inline void sip_put(struct sip_out *o, const char *s, uint32_t n)
{
	if (o->over || n > o->cap - o->len) {
		o->over = true;
		return;
	}
	__builtin_memcpy(o->p + o->len, s, n); /* memory.copy in wasm (bulk memory) */
	o->len += n;
}

static inline void sip_puts(struct sip_out *o, const char *s)
{
	sip_put(o, s, sip_cstrlen(s));
}

static inline void sip_put_str(struct sip_out *o, struct sip_str s)
{
	sip_put(o, s.p, s.len);
}

/* Writes a header value, folding any CR/LF/HT run (a folded line) into one SP. */
static inline void sip_put_value(struct sip_out *o, struct sip_str s)
{
	uint32_t i = 0;
	while (i < s.len) {
		uint32_t a = i;
		while (i < s.len && s.p[i] != '\r' && s.p[i] != '\n' && s.p[i] != '\t')
			i++;
		sip_put(o, s.p + a, i - a);
		if (i < s.len) {
			while (i < s.len && (s.p[i] == '\r' || s.p[i] == '\n' || sip_is_ws(s.p[i])))
				i++;
			sip_put(o, " ", 1);
		}
	}
}

static inline void sip_put_u32(struct sip_out *o, uint32_t v)
{
	char d[10];
	int n = 0;
	do {
		d[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		sip_put(o, &d[--n], 1);
}

static inline void sip_put_hex32(struct sip_out *o, uint32_t v)
{
	static const char hex[] = "0123456789abcdef";
	char d[8];
	for (int i = 7; i >= 0; i--, v >>= 4)
		d[i] = hex[v & 15];
	sip_put(o, d, 8);
}

/* Writes an address in text (the SDK's ns_fmt_ip: RFC 5952 for IPv6). */
static inline void sip_put_ip(struct sip_out *o, uint8_t version, const uint8_t *a)
{
	char text[NS_IP_STRLEN];
	int n = ns_fmt_ip(text, sizeof(text), version, a);
	sip_put(o, text, (uint32_t)(n < (int)sizeof(text) ? n : (int)sizeof(text) - 1));
}

/* --- Answers -------------------------------------------------------------- */

/* Where a request came from, as seen on the wire (RFC 3261 §18.2.1). */
struct sip_peer {
	uint8_t version; /* 4 or 6 */
	const uint8_t *addr;
	uint16_t port;
};

/* The port a server sends its response to (RFC 3261 §18.2.2, RFC 3581 §4):
 * the source port if the top Via asks for rport, else the sent-by port (5060
 * if it has none). The address is always the source address. */
static inline uint16_t sip_response_port(const struct sip_msg *m, const struct sip_peer *from)
{
	struct sip_via via;
	struct sip_str v;
	if (!sip_via_parse(sip_via_first(m->via[0]), &via))
		return from->port;
	if (sip_param_get(via.params, "rport", &v) > 0)
		return from->port;
	return via.port ? via.port : 5060;
}

/* The tag a stateless element puts in To: prefix and 8 hex digits of a hash
 * of Call-ID, From tag and top Via branch, so that every retransmission of a
 * request gets the same tag (and an ACK to the answer can be recognised).
 * Writes at most 40 bytes and a NUL into tag[]; returns the length. */
static inline uint32_t sip_make_tag(char tag[48], const char *prefix, const struct sip_msg *m)
{
	struct sip_str ftag = {0, 0}, branch = {0, 0};
	struct sip_via via;
	sip_tag(m->from, &ftag);
	if (m->n_via && sip_via_parse(sip_via_first(m->via[0]), &via))
		sip_param_get(via.params, "branch", &branch);
	uint32_t h = sip_hash(2166136261u, m->call_id);
	h = sip_hash(h * 16777619u, ftag);
	h = sip_hash(h * 16777619u, branch);
	struct sip_out o = {tag, 40, 0, false};
	uint32_t pl = sip_cstrlen(prefix);
	sip_put(&o, prefix, pl > 31 ? 31 : pl);
	sip_put_hex32(&o, h);
	tag[o.len] = '\0';
	return o.len;
}

/* Writes the top Via value for the answer: the first via-parm with rport
 * filled in (if asked for) and received added (if rport was asked for, or
 * sent-by is not the source address), then the rest of that header value. */
static inline void sip__put_top_via(struct sip_out *o, struct sip_str line,
                                    const struct sip_peer *from)
{
	struct sip_str first = sip_via_first(line);
	struct sip_via via;
	if (!sip_via_parse(first, &via)) {
		sip_put_value(o, line); /* copied as it is */
		return;
	}
	/* find a bare rport to fill in, and whether received is there */
	struct sip_str rest = via.params, n, v, rport = {0, 0};
	bool has, has_received = false;
	while (sip_param_next(&rest, &n, &v, &has)) {
		if (sip_ieq(n, "rport") && !has)
			rport = n;
		if (sip_ieq(n, "received"))
			has_received = true;
	}
	uint8_t sent_by[16];
	int ver = sip_ip_parse(via.host, sent_by);
	bool same = ver == from->version;
	for (int i = 0; same && i < (ver == 4 ? 4 : 16); i++)
		same = sent_by[i] == from->addr[i];
	if (rport.p) {
		sip_put_value(o, (struct sip_str){first.p, (uint32_t)(rport.p - first.p)});
		sip_puts(o, "rport=");
		sip_put_u32(o, from->port);
		const char *after = rport.p + rport.len;
		sip_put_value(o, (struct sip_str){after, (uint32_t)(first.p + first.len - after)});
	} else {
		sip_put_value(o, first);
	}
	if (!has_received && (rport.p || !same)) {
		sip_puts(o, ";received=");
		sip_put_ip(o, from->version, from->addr);
	}
	/* further values of the same header line, as they were */
	const char *end = first.p + first.len;
	struct sip_str tail = {end, (uint32_t)(line.p + line.len - end)};
	sip_put_value(o, tail);
}

/* Builds the stateless answer of a server to request m, received from
 * `from`: status line "SIP/2.0 <code> <reason>", every Via (in order, the
 * top one with received/rport), From, To (with `to_tag` added if it has no
 * tag), Call-ID, CSeq, then `extra` (header lines, each ending in CRLF, or
 * NULL), then "Content-Length: 0" and the blank line. Returns the length
 * written to out, or -1 if it does not fit in cap. */
static inline int sip_build_answer(char *out, uint32_t cap, const struct sip_msg *m,
                                   const struct sip_peer *from, uint16_t code, const char *reason,
                                   const char *to_tag, const char *extra)
{
	struct sip_out o = {out, cap, 0, false};
	struct sip_str tag;
	sip_puts(&o, "SIP/2.0 ");
	sip_put_u32(&o, code);
	sip_puts(&o, " ");
	sip_puts(&o, reason);
	sip_puts(&o, "\r\n");
	for (uint32_t i = 0; i < m->n_via; i++) {
		sip_puts(&o, "Via: ");
		if (i == 0)
			sip__put_top_via(&o, m->via[0], from);
		else
			sip_put_value(&o, m->via[i]);
		sip_puts(&o, "\r\n");
	}
	sip_puts(&o, "From: ");
	sip_put_value(&o, m->from);
	sip_puts(&o, "\r\nTo: ");
	sip_put_value(&o, m->to);
	if (to_tag && !sip_tag(m->to, &tag)) {
		sip_puts(&o, ";tag=");
		sip_puts(&o, to_tag);
	}
	sip_puts(&o, "\r\nCall-ID: ");
	sip_put_value(&o, m->call_id);
	sip_puts(&o, "\r\nCSeq: ");
	sip_put_u32(&o, m->cseq_num);
	sip_puts(&o, " ");
	sip_put_str(&o, m->cseq_method);
	sip_puts(&o, "\r\n");
	if (extra)
		sip_puts(&o, extra);
	sip_puts(&o, "Content-Length: 0\r\n\r\n");
	return o.over ? -1 : (int)o.len;
}

/* Inserts `add` (e.g. ";oc;oc-algo=\"loss\"") at the end of the first
 * via-parm of the top Via of message buf[0..len) (cap bytes of room), moving
 * the rest of the message. m must have been parsed from buf. Returns the new
 * length, or -1 if it does not fit or the Via is not well formed. m's
 * pointers after the insertion point are stale afterwards. */
static inline int sip_via_insert(char *buf, uint32_t len, uint32_t cap, const struct sip_msg *m,
                                 const char *add)
{
	struct sip_via via;
	if (!m->n_via || !sip_via_parse(sip_via_first(m->via[0]), &via))
		return -1;
	uint32_t n = sip_cstrlen(add);
	uint32_t at = (uint32_t)(via.value.p + via.value.len - buf);
	if (at > len || n > cap - len)
		return -1;
	for (uint32_t i = len; i > at; i--)
		buf[i - 1 + n] = buf[i - 1];
	for (uint32_t i = 0; i < n; i++)
		buf[at + i] = add[i];
	return (int)(len + n);
}

/* --- RFC 5626 keep-alives that are not SIP messages ------------------------ */

/* A "CRLF keep-alive": a payload of 1..16 bytes, all CR or LF. Returns 2 for
 * the RFC 5626 ping (it holds CRLFCRLF: answered with one CRLF, the pong), 1
 * for any other CR/LF-only payload (nothing to answer), 0 otherwise. */
static inline int sip_crlf_keepalive(const uint8_t *p, uint32_t len)
{
	if (len == 0 || len > 16)
		return 0;
	bool ping = false;
	for (uint32_t i = 0; i < len; i++) {
		if (p[i] != '\r' && p[i] != '\n')
			return 0;
		if (i + 3 < len && p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' &&
		    p[i + 3] == '\n')
			ping = true;
	}
	return ping ? 2 : 1;
}

#define STUN_MAGIC 0x2112a442u

/* True for a STUN Binding request (RFC 5389): type 0x0001, the magic
 * cookie, a length that matches the payload and is a multiple of 4. */
static inline bool stun_is_binding_request(const uint8_t *p, uint32_t len)
{
	if (len < 20 || len > 65535)
		return false;
	uint32_t mlen = (uint32_t)p[2] << 8 | p[3];
	uint32_t magic = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
	return p[0] == 0x00 && p[1] == 0x01 && magic == STUN_MAGIC && mlen == len - 20 &&
	       (mlen & 3) == 0;
}

/* Writes the Binding success response to request req (20 bytes of header
 * used: its transaction id) for a client at `from`: header and one
 * XOR-MAPPED-ADDRESS. Returns the length (32 for IPv4, 44 for IPv6), or -1
 * if cap is too small. */
static inline int stun_binding_success(uint8_t *out, uint32_t cap, const uint8_t *req,
                                       const struct sip_peer *from)
{
	uint32_t alen = from->version == 4 ? 4 : 16, attr = 4 + alen, total = 20 + 4 + attr;
	if (cap < total)
		return -1;
	out[0] = 0x01;
	out[1] = 0x01;
	out[2] = 0;
	out[3] = (uint8_t)(4 + attr);
	for (int i = 4; i < 20; i++)
		out[i] = req[i]; /* magic cookie and transaction id */
	uint8_t *a = out + 20;
	a[0] = 0x00;
	a[1] = 0x20; /* XOR-MAPPED-ADDRESS */
	a[2] = 0;
	a[3] = (uint8_t)attr;
	a[4] = 0;
	a[5] = from->version == 4 ? 0x01 : 0x02;
	uint16_t xport = from->port ^ (uint16_t)(STUN_MAGIC >> 16);
	a[6] = (uint8_t)(xport >> 8);
	a[7] = (uint8_t)xport;
	for (uint32_t i = 0; i < alen; i++)
		a[8 + i] = from->addr[i] ^ out[4 + i]; /* cookie, then transaction id */
	return (int)total;
}

#endif /* NETSERV_MODULES_SIP_H */
