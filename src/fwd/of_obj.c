/* The objects inside OpenFlow 1.3 messages: the OXM match (7.2.3), actions
 * (7.2.5) and instructions (7.2.4).
 *
 * ofp_match:    type (16) = 1 (OXM) | length (16, without padding) | OXM
 *               TLVs | zero padding to a multiple of 8
 * OXM TLV:      class (16) | field (7) | hasmask (1) | length (8) | value
 *               [| mask]
 * action:       type (16) | length (16, a multiple of 8) | body
 * instruction:  type (16) | length (16, a multiple of 8) | body
 */
#include <stdio.h>

#include "fwd/of_int.h"
#include "lib/errbuf.h"

#define OFPMT_OXM     1
#define OFPXMC_BASIC  0x8000
#define OXM_ETH_DST   3
#define ETH_TYPE_IPV4 0x0800
#define ETH_TYPE_IPV6 0x86dd
#define IPPROTO_TCP_  6
#define IPPROTO_UDP_  17
#define OF_M_ALL      0x07ffu

/* The match fields this codec knows, in the order they are encoded
 * (prerequisites first). */
static const struct {
	uint8_t oxm; /* OXM field number in OFPXMC_OPENFLOW_BASIC */
	uint32_t bit;
	uint8_t len; /* value bytes */
	bool maskable;
	const char *name;
} fields[] = {
        {0, OF_M_IN_PORT, 4, false, "in_port"},    {5, OF_M_ETH_TYPE, 2, false, "eth_type"},
        {10, OF_M_IP_PROTO, 1, false, "ip_proto"}, {11, OF_M_IPV4_SRC, 4, true, "ipv4_src"},
        {12, OF_M_IPV4_DST, 4, true, "ipv4_dst"},  {26, OF_M_IPV6_SRC, 16, true, "ipv6_src"},
        {27, OF_M_IPV6_DST, 16, true, "ipv6_dst"}, {13, OF_M_TCP_SRC, 2, false, "tcp_src"},
        {14, OF_M_TCP_DST, 2, false, "tcp_dst"},   {15, OF_M_UDP_SRC, 2, false, "udp_src"},
        {16, OF_M_UDP_DST, 2, false, "udp_dst"},
};
#define N_FIELDS (sizeof(fields) / sizeof(fields[0]))

/* Returns what is missing for the fields present, or NULL. */
static const char *prereq_missing(const struct of_match *m)
{
	uint32_t f = m->fields;
	bool v4 = (f & OF_M_ETH_TYPE) && m->eth_type == ETH_TYPE_IPV4;
	bool v6 = (f & OF_M_ETH_TYPE) && m->eth_type == ETH_TYPE_IPV6;
	bool proto = f & OF_M_IP_PROTO;

	if ((f & OF_M_IP_PROTO) && !v4 && !v6)
		return "ip_proto needs eth_type 0x0800 or 0x86dd";
	if ((f & (OF_M_IPV4_SRC | OF_M_IPV4_DST)) && !v4)
		return "ipv4_src/dst need eth_type 0x0800";
	if ((f & (OF_M_IPV6_SRC | OF_M_IPV6_DST)) && !v6)
		return "ipv6_src/dst need eth_type 0x86dd";
	if ((f & (OF_M_TCP_SRC | OF_M_TCP_DST)) && !(proto && m->ip_proto == IPPROTO_TCP_))
		return "tcp_src/dst need ip_proto 6";
	if ((f & (OF_M_UDP_SRC | OF_M_UDP_DST)) && !(proto && m->ip_proto == IPPROTO_UDP_))
		return "udp_src/dst need ip_proto 17";
	return NULL;
}

/* Where a field's value and mask live in struct of_match (addresses), or
 * NULL for the integer fields. */
static uint8_t *addr_of(struct of_match *m, uint32_t bit, uint8_t **mask)
{
	switch (bit) {
	case OF_M_IPV4_SRC:
		*mask = m->ipv4_src_mask;
		return m->ipv4_src;
	case OF_M_IPV4_DST:
		*mask = m->ipv4_dst_mask;
		return m->ipv4_dst;
	case OF_M_IPV6_SRC:
		*mask = m->ipv6_src_mask;
		return m->ipv6_src;
	case OF_M_IPV6_DST:
		*mask = m->ipv6_dst_mask;
		return m->ipv6_dst;
	}
	*mask = NULL;
	return NULL;
}

static void set_int(struct of_match *m, uint32_t bit, const uint8_t *v)
{
	switch (bit) {
	case OF_M_IN_PORT:
		m->in_port =
		        (uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 | (uint32_t)v[2] << 8 | v[3];
		break;
	case OF_M_ETH_TYPE:
		m->eth_type = (uint16_t)(v[0] << 8 | v[1]);
		break;
	case OF_M_IP_PROTO:
		m->ip_proto = v[0];
		break;
	case OF_M_TCP_SRC:
	case OF_M_UDP_SRC:
		m->tp_src = (uint16_t)(v[0] << 8 | v[1]);
		break;
	default:
		m->tp_dst = (uint16_t)(v[0] << 8 | v[1]);
		break;
	}
}

static void put_int(struct of_wr *w, const struct of_match *m, uint32_t bit)
{
	switch (bit) {
	case OF_M_IN_PORT:
		of_w32(w, m->in_port);
		break;
	case OF_M_ETH_TYPE:
		of_w16(w, m->eth_type);
		break;
	case OF_M_IP_PROTO:
		of_w8(w, m->ip_proto);
		break;
	case OF_M_TCP_SRC:
	case OF_M_UDP_SRC:
		of_w16(w, m->tp_src);
		break;
	default:
		of_w16(w, m->tp_dst);
		break;
	}
}

/* Decodes one OXM TLV of the basic class into *m. */
static int oxm_decode(struct of_match *m, unsigned field, bool hasmask, struct of_rd *v, char *err,
                      size_t errlen)
{
	uint8_t val[16], msk[16], *dst, *dmask;
	size_t i;

	for (i = 0; i < N_FIELDS && fields[i].oxm != field; i++)
		;
	if (i == N_FIELDS) {
		m->n_unknown++;
		return 0;
	}
	if (m->fields & fields[i].bit)
		return err_set(err, errlen, -EBADMSG, "match: %s twice", fields[i].name);
	if (hasmask && !fields[i].maskable)
		return err_set(err, errlen, -EBADMSG, "match: %s cannot be masked", fields[i].name);
	if (v->len != (size_t)fields[i].len * (hasmask ? 2 : 1))
		return err_set(err, errlen, -EBADMSG, "match: %s has length %zu", fields[i].name,
		               v->len);
	of_rcopy(v, val, fields[i].len);
	if (hasmask)
		of_rcopy(v, msk, fields[i].len);
	m->fields |= fields[i].bit;
	dst = addr_of(m, fields[i].bit, &dmask);
	if (!dst) {
		set_int(m, fields[i].bit, val);
		return 0;
	}
	for (size_t k = 0; k < fields[i].len; k++)
		dst[k] = hasmask ? val[k] & msk[k] : val[k];
	if (hasmask) {
		memcpy(dmask, msk, fields[i].len);
		m->masked |= fields[i].bit;
	}
	return 0;
}

int of_match_decode(struct of_rd *r, struct of_match *m, char *err, size_t errlen)
{
	uint16_t type, len;
	struct of_rd oxms;
	const char *why;

	memset(m, 0, sizeof(*m));
	type = of_r16(r);
	len = of_r16(r);
	if (r->bad)
		return err_set(err, errlen, -EMSGSIZE, "match: truncated header");
	if (type != OFPMT_OXM)
		return err_set(err, errlen, -EBADMSG, "match: type %u is not OXM (1)", type);
	if (len < 4)
		return err_set(err, errlen, -EBADMSG, "match: length %u below 4", len);
	oxms = of_rsub(r, (size_t)len - 4);
	of_rskip(r, of_pad8(len) - len);
	if (r->bad)
		return err_set(err, errlen, -EMSGSIZE, "match: length %u past the message", len);
	while (of_rd_left(&oxms) > 0) {
		uint16_t cls = of_r16(&oxms);
		uint8_t fh = of_r8(&oxms), plen = of_r8(&oxms);
		struct of_rd v = of_rsub(&oxms, plen);
		int e;

		if (oxms.bad)
			return err_set(err, errlen, -EMSGSIZE, "match: OXM field truncated");
		if (cls != OFPXMC_BASIC) {
			m->n_unknown++;
			continue;
		}
		e = oxm_decode(m, fh >> 1, fh & 1, &v, err, errlen);
		if (e < 0)
			return e;
	}
	why = prereq_missing(m);
	if (why)
		return err_set(err, errlen, -EBADMSG, "match: %s", why);
	return 0;
}

int of_match_encode(struct of_wr *w, const struct of_match *m, char *err, size_t errlen)
{
	size_t start = w->pos, len;
	const char *why;

	if (m->fields & ~OF_M_ALL)
		return err_set(err, errlen, -EINVAL, "match: unknown field bits 0x%x",
		               m->fields & ~OF_M_ALL);
	if (m->masked & ~(m->fields & OF_M_ADDRS))
		return err_set(err, errlen, -EINVAL,
		               "match: a mask for a field not present or "
		               "not maskable");
	if ((m->fields & OF_M_TCP_SRC && m->fields & OF_M_UDP_SRC) ||
	    (m->fields & OF_M_TCP_DST && m->fields & OF_M_UDP_DST))
		return err_set(err, errlen, -EINVAL, "match: TCP and UDP ports together");
	why = prereq_missing(m);
	if (why)
		return err_set(err, errlen, -EINVAL, "match: %s", why);
	of_w16(w, OFPMT_OXM);
	of_w16(w, 0); /* patched below */
	for (size_t i = 0; i < N_FIELDS; i++) {
		uint32_t bit = fields[i].bit;
		bool masked = m->masked & bit;
		uint8_t *val, *msk;

		if (!(m->fields & bit))
			continue;
		of_w16(w, OFPXMC_BASIC);
		of_w8(w, (uint8_t)(fields[i].oxm << 1 | masked));
		of_w8(w, (uint8_t)(fields[i].len * (masked ? 2 : 1)));
		/* addr_of() does not write through the pointers it returns. */
		val = addr_of((struct of_match *)m, bit, &msk);
		if (!val) {
			put_int(w, m, bit);
			continue;
		}
		for (size_t k = 0; k < fields[i].len; k++)
			of_w8(w, masked ? val[k] & msk[k] : val[k]);
		if (masked)
			of_put(w, msk, fields[i].len);
	}
	len = w->pos - start;
	of_patch16(w, start + 2, (uint16_t)len);
	of_wzero(w, of_pad8(len) - len);
	return 0;
}

/* ---- Actions -------------------------------------------------------------------- */

int of_actions_decode(struct of_rd *r, struct of_actions *a, char *err, size_t errlen)
{
	memset(a, 0, sizeof(*a));
	while (of_rd_left(r) > 0) {
		uint16_t type = of_r16(r), len = of_r16(r);
		struct of_action *x;
		struct of_rd b;

		if (r->bad)
			return err_set(err, errlen, -EMSGSIZE, "action: truncated header");
		if (len < 8 || len % 8)
			return err_set(err, errlen, -EBADMSG, "action %u: length %u", type, len);
		b = of_rsub(r, (size_t)len - 4);
		if (r->bad)
			return err_set(err, errlen, -EMSGSIZE, "action %u: length %u past its list",
			               type, len);
		if (a->n == OF_MAX_ACTIONS)
			return err_set(err, errlen, -E2BIG, "more than %d actions", OF_MAX_ACTIONS);
		x = &a->a[a->n];
		x->type = type;
		switch (type) {
		case OFPAT_OUTPUT:
			if (len != 16)
				return err_set(err, errlen, -EBADMSG, "OUTPUT: length %u", len);
			x->port = of_r32(&b);
			x->max_len = of_r16(&b);
			break;
		case OFPAT_GROUP:
			if (len != 8)
				return err_set(err, errlen, -EBADMSG, "GROUP: length %u", len);
			x->group_id = of_r32(&b);
			break;
		case OFPAT_SET_FIELD: {
			uint16_t cls = of_r16(&b);
			uint8_t fh = of_r8(&b), plen = of_r8(&b);

			if (cls != OFPXMC_BASIC || fh != OXM_ETH_DST << 1 || plen != 6 || len != 16)
				return err_set(err, errlen, -EOPNOTSUPP,
				               "SET_FIELD: only eth_dst is supported");
			of_rcopy(&b, x->eth_dst, 6);
			break;
		}
		default:
			return err_set(err, errlen, -EOPNOTSUPP, "action type %u not supported",
			               type);
		}
		a->n++;
	}
	return 0;
}

int of_actions_encode(struct of_wr *w, const struct of_actions *a, char *err, size_t errlen)
{
	if (a->n > OF_MAX_ACTIONS)
		return err_set(err, errlen, -E2BIG, "more than %d actions", OF_MAX_ACTIONS);
	for (size_t i = 0; i < a->n; i++) {
		const struct of_action *x = &a->a[i];

		switch (x->type) {
		case OFPAT_OUTPUT:
			of_w16(w, OFPAT_OUTPUT);
			of_w16(w, 16);
			of_w32(w, x->port);
			of_w16(w, x->max_len);
			of_wzero(w, 6);
			break;
		case OFPAT_GROUP:
			of_w16(w, OFPAT_GROUP);
			of_w16(w, 8);
			of_w32(w, x->group_id);
			break;
		case OFPAT_SET_FIELD:
			of_w16(w, OFPAT_SET_FIELD);
			of_w16(w, 16);
			of_w16(w, OFPXMC_BASIC);
			of_w8(w, OXM_ETH_DST << 1);
			of_w8(w, 6);
			of_put(w, x->eth_dst, 6);
			of_wzero(w, 2);
			break;
		default:
			return err_set(err, errlen, -EINVAL, "action type %u not supported",
			               x->type);
		}
	}
	return 0;
}

/* ---- Instructions --------------------------------------------------------------- */

int of_instrs_decode(struct of_rd *r, struct of_instrs *in, char *err, size_t errlen)
{
	uint32_t seen = 0;

	memset(in, 0, sizeof(*in));
	while (of_rd_left(r) > 0) {
		uint16_t type = of_r16(r), len = of_r16(r);
		struct of_instr *x;
		struct of_rd b;
		int e;

		if (r->bad)
			return err_set(err, errlen, -EMSGSIZE, "instruction: truncated header");
		if (len < 8 || len % 8)
			return err_set(err, errlen, -EBADMSG, "instruction %u: length %u", type,
			               len);
		b = of_rsub(r, (size_t)len - 4);
		if (r->bad)
			return err_set(err, errlen, -EMSGSIZE,
			               "instruction %u: length %u past "
			               "its list",
			               type, len);
		if (type < 32 && (seen & (1u << type)))
			return err_set(err, errlen, -EBADMSG, "instruction %u twice", type);
		if (in->n == OF_MAX_INSTR)
			return err_set(err, errlen, -E2BIG, "more than %d instructions",
			               OF_MAX_INSTR);
		x = &in->i[in->n];
		x->type = type;
		switch (type) {
		case OFPIT_GOTO_TABLE:
			if (len != 8)
				return err_set(err, errlen, -EBADMSG, "GOTO_TABLE: length %u", len);
			x->table_id = of_r8(&b);
			break;
		case OFPIT_CLEAR_ACTIONS:
			if (len != 8)
				return err_set(err, errlen, -EBADMSG, "CLEAR_ACTIONS: length %u",
				               len);
			break;
		case OFPIT_WRITE_ACTIONS:
		case OFPIT_APPLY_ACTIONS:
			of_rskip(&b, 4);
			e = of_actions_decode(&b, &x->actions, err, errlen);
			if (e < 0)
				return e;
			break;
		default:
			return err_set(err, errlen, -EOPNOTSUPP,
			               "instruction type %u not supported", type);
		}
		seen |= 1u << type;
		in->n++;
	}
	return 0;
}

int of_instrs_encode(struct of_wr *w, const struct of_instrs *in, char *err, size_t errlen)
{
	if (in->n > OF_MAX_INSTR)
		return err_set(err, errlen, -E2BIG, "more than %d instructions", OF_MAX_INSTR);
	for (size_t i = 0; i < in->n; i++) {
		const struct of_instr *x = &in->i[i];
		size_t start = w->pos;
		int e;

		for (size_t j = 0; j < i; j++)
			if (in->i[j].type == x->type)
				return err_set(err, errlen, -EINVAL, "instruction %u twice",
				               x->type);
		switch (x->type) {
		case OFPIT_GOTO_TABLE:
			of_w16(w, OFPIT_GOTO_TABLE);
			of_w16(w, 8);
			of_w8(w, x->table_id);
			of_wzero(w, 3);
			break;
		case OFPIT_CLEAR_ACTIONS:
			of_w16(w, OFPIT_CLEAR_ACTIONS);
			of_w16(w, 8);
			of_wzero(w, 4);
			break;
		case OFPIT_WRITE_ACTIONS:
		case OFPIT_APPLY_ACTIONS:
			of_w16(w, x->type);
			of_w16(w, 0);
			of_wzero(w, 4);
			e = of_actions_encode(w, &x->actions, err, errlen);
			if (e < 0)
				return e;
			of_patch16(w, start + 2, (uint16_t)(w->pos - start));
			break;
		default:
			return err_set(err, errlen, -EINVAL, "instruction type %u not supported",
			               x->type);
		}
	}
	return 0;
}
