/*
 * bad.c - broken traffic for --bad: every way DESIGN §3.4 rejects a message or drops a datagram.
 *
 * Why this file exists: the gateway's error paths need load as much as its happy path (a
 * malformed flood must not slow the good traffic down, and every counter must count), and the
 * conformance of the reject codes must be checked on many cases, not a handful. Faults are made
 * by corrupting valid messages and frames the normal way, so the rest of each message stays
 * realistic; each kind, field and variant is taken in turn so a small run covers all of them.
 */
#include <string.h>

#include "bench/cwgen/cwgen.h"
#include "dataplane/wire/frame.h"

static const char *const bm_names[BM_NUM] = {
    "framing: no byte left",
    "framing: 1-3 bytes left",
    "framing: length < 4",
    "framing: length past end",
    "unknown type",
    "body shorter than fixed part",
    "length +1",
    "length -1",
    "item_count 0",
    "item_count 51",
    "doc_count 9",
    "field outside its class",
    "not-blank field blank",
    "bad direction",
    "bad doc_type",
    "no manifest for bill",
};

static const char *const bd_names[BD_NUM] = {
    "short datagram",	   "bad magic",	     "count 0",		  "count > 64",
    "RESPONSE flag",	   "other flag bit", "sender 0",	  "seq 0",
    "seq overflow",	   "unknown sender", "spoofed source",	  "IPv4 MF",
    "IPv4 offset",	   "IPv6 fragment",  "bad IPv4 checksum", "bad UDP checksum",
    "IPv6 UDP checksum 0", "wrong UDP port", "not UDP",		  "not IP",
    "two VLAN tags",	   "truncated L2",   "truncated L3",	  "truncated L4",
    "bad UDP length",
};

const char *bad_msg_name(enum bad_msg_kind k)
{
	return (unsigned)k < BM_NUM ? bm_names[k] : "";
}

const char *bad_dgram_name(enum bad_dgram_kind k)
{
	return (unsigned)k < BD_NUM ? bd_names[k] : "";
}

/* ---- message faults ---- */

enum fcls { F_CODE, F_DIGITS, F_ALPHA, F_PRINT };
enum fwhere { W_HDR, W_ITEM, W_DOC, W_MITEM };

struct fdef {
	uint16_t off;
	uint8_t width;
	uint8_t cls;
	uint8_t where;
	bool not_blank;
};

static const struct fdef f_decl[] = {
    {0, 18, F_CODE, W_HDR, true},   {18, 18, F_CODE, W_HDR, true},
    {36, 18, F_CODE, W_HDR, false}, {54, 20, F_PRINT, W_HDR, false},
    {74, 2, F_ALPHA, W_HDR, true},  {76, 3, F_ALPHA, W_HDR, true},
    {1, 23, F_PRINT, W_DOC, false}, {0, 10, F_DIGITS, W_ITEM, true},
    {10, 2, F_ALPHA, W_ITEM, true},
};
static const struct fdef f_manifest[] = {
    {0, 20, F_PRINT, W_HDR, true},  {20, 18, F_CODE, W_HDR, false}, {38, 16, F_PRINT, W_HDR, false},
    {54, 5, F_PRINT, W_HDR, false}, {59, 5, F_PRINT, W_HDR, false}, {0, 4, F_DIGITS, W_MITEM, true},
};
static const struct fdef f_order[] = {
    {0, 20, F_PRINT, W_HDR, true}, {20, 18, F_CODE, W_HDR, true}, {38, 3, F_ALPHA, W_HDR, true}};
static const struct fdef f_payment[] = {{0, 20, F_PRINT, W_HDR, true},
					{20, 20, F_PRINT, W_HDR, false}};
static const struct fdef f_waybill[] = {
    {0, 20, F_PRINT, W_HDR, true}, {20, 20, F_PRINT, W_HDR, true}, {40, 18, F_CODE, W_HDR, true}};
static const struct fdef f_list[] = {
    {0, 18, F_CODE, W_HDR, true},   {18, 20, F_PRINT, W_HDR, true}, {38, 20, F_PRINT, W_HDR, false},
    {58, 18, F_CODE, W_HDR, true},  {76, 3, F_ALPHA, W_HDR, true},  {0, 10, F_DIGITS, W_ITEM, true},
    {10, 2, F_ALPHA, W_ITEM, true},
};

static const struct fdef *fields_of(uint8_t type, unsigned *n)
{
#define F(a) (*n = sizeof(a) / sizeof(a[0]), a)
	switch (type) {
	case CWP_DECL:
		return F(f_decl);
	case CWP_MANIFEST:
		return F(f_manifest);
	case CWP_ORDER:
		return F(f_order);
	case CWP_PAYMENT:
		return F(f_payment);
	case CWP_WAYBILL:
		return F(f_waybill);
	default:
		return F(f_list);
	}
#undef F
}

static unsigned fixed_len(uint8_t type)
{
	static const unsigned n[] = {0,
				     CWP_DECL_FIXED,
				     CWP_MANIFEST_FIXED,
				     CWP_ORDER_LEN,
				     CWP_PAYMENT_LEN,
				     CWP_WAYBILL_LEN,
				     CWP_LIST_FIXED};
	return n[type];
}

static unsigned item_count_off(uint8_t type)
{
	return type == CWP_DECL ? 86 : type == CWP_MANIFEST ? 64 : 79;
}

/* Body offset of a field instance, or -1 when the message has none (a DECL without docs). */
static int field_offset(struct rng *r, const struct msg *m, const struct fdef *f)
{
	const uint8_t *b = m->buf + CWP_MSG_HDR_LEN;
	switch (f->where) {
	case W_HDR:
		return f->off;
	case W_DOC:
		if (!b[85])
			return -1;
		return CWP_DECL_FIXED + CWP_DOCREF_LEN * (int)rng_below(r, b[85]) + f->off;
	case W_MITEM:
		return CWP_MANIFEST_FIXED + CWP_MANIFEST_ITEM_LEN * (int)rng_below(r, b[64]) +
		       f->off;
	default:
		if (m->type == CWP_DECL)
			return CWP_DECL_FIXED + CWP_DOCREF_LEN * b[85] +
			       CWP_ITEM_LEN * (int)rng_below(r, b[86]) + f->off;
		return CWP_LIST_FIXED + CWP_ITEM_LEN * (int)rng_below(r, b[79]) + f->off;
	}
}

static uint8_t bad_char(enum fcls c, unsigned v)
{
	static const uint8_t code[] = {'a', '-', '*', 'z', '_', '.'};
	static const uint8_t dig[] = {'A', '-', '.', '/', 'x'};
	static const uint8_t alpha[] = {'1', 'a', '-', '9', 'z'};
	static const uint8_t print[] = {0x00, 0x09, 0x1F, 0x7F, 0x80, 0xC3, 0xFF};
	switch (c) {
	case F_CODE:
		return code[v % sizeof(code)];
	case F_DIGITS:
		return dig[v % sizeof(dig)];
	case F_ALPHA:
		return alpha[v % sizeof(alpha)];
	default:
		return print[v % sizeof(print)];
	}
}

static void set_length(struct msg *m, size_t length)
{
	cwp_st16(m->buf + 2, (uint16_t)length);
}

static bool applies(enum bad_msg_kind k, const struct msg *m)
{
	const uint8_t *b = m->buf + CWP_MSG_HDR_LEN;
	switch (k) {
	case BM_ITEMS_0:
	case BM_ITEMS_51:
		return m->type == CWP_DECL || m->type == CWP_MANIFEST || m->type == CWP_LIST;
	case BM_DOCS_9:
	case BM_DIRECTION:
	case BM_NO_MANIFEST:
		return m->type == CWP_DECL;
	case BM_DOC_TYPE:
		return m->type == CWP_DECL && b[85] > 0;
	default:
		return true;
	}
}

static void field_fault(struct bad_state *s, struct rng *r, struct msg *m, bool blank)
{
	unsigned n;
	const struct fdef *fs = fields_of(m->type, &n);
	unsigned *cur = blank ? &s->blank[m->type] : &s->field[m->type];
	for (unsigned tries = 0; tries < 2 * n; tries++) {
		const struct fdef *f = &fs[(*cur)++ % n];
		if (blank && !f->not_blank)
			continue;
		int off = field_offset(r, m, f);
		if (off < 0)
			continue;
		uint8_t *p = m->buf + CWP_MSG_HDR_LEN + off;
		if (blank)
			memset(p, ' ', f->width);
		else
			p[rng_below(r, f->width)] = bad_char(f->cls, s->variant[BM_FIELD_CLASS]++);
		return;
	}
}

enum bad_msg_kind bad_break_msg(struct bad_state *s, struct traffic *t, struct rng *r,
				struct msg *m)
{
	enum bad_msg_kind k;
	do
		k = (enum bad_msg_kind)(s->kind++ % BM_NUM);
	while (!applies(k, m));
	unsigned v = s->variant[k]++;
	uint8_t *b = m->buf + CWP_MSG_HDR_LEN;
	m->manifest_slot = -1; /* a broken MANIFEST is not stored */
	switch (k) {
	case BM_TAIL_EMPTY:
		m->len = 0;
		m->must_end = true;
		break;
	case BM_TAIL_SHORT:
		m->len = 1 + v % 3;
		m->must_end = true;
		break;
	case BM_LEN_UNDER4:
		set_length(m, v % 4);
		m->must_end = true;
		break;
	case BM_LEN_PAST_END:
		set_length(m, m->len + 1 + rng_below(r, 200));
		m->must_end = true;
		break;
	case BM_UNKNOWN_TYPE: {
		static const uint8_t types[] = {0x00, 0x07, 0x08, 0x42, 0x7F, 0x80, 0x81, 0xFF};
		m->buf[0] = types[v % sizeof(types)];
		break;
	}
	case BM_BODY_SHORT:
		m->len = CWP_MSG_HDR_LEN + rng_below(r, fixed_len(m->type));
		set_length(m, m->len);
		break;
	case BM_LEN_PLUS1:
		m->buf[m->len++] = (uint8_t)rng_next(r);
		set_length(m, m->len);
		break;
	case BM_LEN_MINUS1:
		m->len--;
		set_length(m, m->len);
		break;
	case BM_ITEMS_0:
		b[item_count_off(m->type)] = 0;
		break;
	case BM_ITEMS_51:
		b[item_count_off(m->type)] = v % 2 ? 255 : 51;
		break;
	case BM_DOCS_9:
		b[85] = v % 2 ? 200 : 9;
		break;
	case BM_FIELD_CLASS:
		field_fault(s, r, m, false);
		break;
	case BM_BLANK:
		field_fault(s, r, m, true);
		break;
	case BM_DIRECTION: {
		static const uint8_t d[] = {0, 3, 255};
		b[79] = d[v % 3];
		break;
	}
	case BM_DOC_TYPE: {
		static const uint8_t d[] = {0, 7, 255};
		b[CWP_DECL_FIXED + CWP_DOCREF_LEN * rng_below(r, b[85])] = d[v % 3];
		break;
	}
	case BM_NO_MANIFEST:
		traffic_decl_no_manifest(t, m);
		break;
	default:
		break;
	}
	return k;
}

/* ---- datagram faults ---- */

enum bad_dgram_kind bad_next_dgram(struct bad_state *s)
{
	return (enum bad_dgram_kind)(s->dkind++ % BD_NUM);
}

bool bad_dgram_needs_v4(enum bad_dgram_kind k)
{
	return k == BD_FRAG_MF || k == BD_FRAG_OFFSET || k == BD_IP_CSUM;
}

bool bad_dgram_needs_v6(enum bad_dgram_kind k)
{
	return k == BD_FRAG_V6 || k == BD_UDP_CSUM0_V6;
}

bool bad_dgram_needs_vlan(enum bad_dgram_kind k)
{
	return k == BD_TWO_VLANS;
}

bool bad_dgram_payload(struct bad_state *s, enum bad_dgram_kind k, struct rng *r, uint8_t *p,
		       size_t *len)
{
	unsigned v = s->variant[BM_NUM + k]++;
	uint16_t count = cwp_ld16(p + 4);
	switch (k) {
	case BD_SHORT:
		*len = rng_below(r, CWP_DGRAM_HDR_LEN);
		break;
	case BD_MAGIC: {
		static const char *const m[] = {"CWP2", "cwp1", "CWP0", "PWC1", "\0\0\0\0", "CWQ1"};
		memcpy(p, m[v % 6], 4);
		break;
	}
	case BD_COUNT0:
		cwp_st16(p + 4, 0);
		break;
	case BD_COUNT65: {
		static const uint16_t c[] = {65, 100, 0xFFFF};
		cwp_st16(p + 4, c[v % 3]);
		break;
	}
	case BD_RESPONSE:
		cwp_st16(p + 6, v % 2 ? CWP_FLAG_RESPONSE | 0x8000 : CWP_FLAG_RESPONSE);
		break;
	case BD_FLAG_OTHER:
		cwp_st16(p + 6, (uint16_t)(1u << (1 + v % 15)));
		break;
	case BD_SENDER0:
		cwp_st32(p + 8, 0);
		break;
	case BD_SEQ0:
		cwp_st64(p + 16, 0);
		break;
	case BD_SEQ_OVERFLOW:
		if (count < 2)
			return false;
		/* the last message would be numbered 2^64 + j */
		cwp_st64(p + 16, UINT64_MAX - (count - 2) + rng_below(r, 1000));
		if (cwp_ld64(p + 16) < UINT64_MAX - (count - 2))
			cwp_st64(p + 16, UINT64_MAX);
		break;
	default:
		break;
	}
	return true;
}

static inline uint16_t ld16be(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static inline void st16be(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void ipv4_fix_csum(uint8_t *ip)
{
	st16be(ip + 10, 0);
	st16be(ip + 10, frame_ipv4_hdr_csum(ip, 20));
}

static void insert_bytes(uint8_t *f, size_t *len, size_t cap, size_t at, const uint8_t *b, size_t n)
{
	if (*len + n > cap)
		return;
	memmove(f + at + n, f + at, *len - at);
	memcpy(f + at, b, n);
	*len += n;
}

void bad_dgram_frame(struct bad_state *s, enum bad_dgram_kind k, struct rng *r, uint8_t *f,
		     size_t *len, size_t cap, bool has_vlan, bool ipv6)
{
	unsigned v = s->variant[BM_NUM + k]++;
	size_t l3 = 14 + (has_vlan ? 4 : 0);
	size_t l4 = l3 + (ipv6 ? 40 : 20);
	uint8_t *ip = f + l3, *udp = f + l4;
	switch (k) {
	case BD_FRAG_MF:
		st16be(ip + 6, 0x2000); /* first fragment */
		ipv4_fix_csum(ip);
		break;
	case BD_FRAG_OFFSET:
		st16be(ip + 6, (uint16_t)((v % 2 ? 0x2000 : 0) | (1 + rng_below(r, 500))));
		ipv4_fix_csum(ip);
		break;
	case BD_FRAG_V6: {
		uint8_t fh[8] = {17, 0, 0, 1, 0, 0, 0, 0}; /* offset 0, M set */
		cwp_st32(fh + 4, (uint32_t)rng_next(r));
		ip[6] = 44;
		st16be(ip + 4, (uint16_t)(ld16be(ip + 4) + 8));
		insert_bytes(f, len, cap, l4, fh, 8);
		break;
	}
	case BD_IP_CSUM:
		st16be(ip + 10, (uint16_t)(ld16be(ip + 10) ^ (1u << (v % 16))));
		break;
	case BD_UDP_CSUM: {
		uint16_t c = (uint16_t)(ld16be(udp + 6) ^ (1u << (v % 16)));
		st16be(udp + 6, c ? c : 0x0001);
		break;
	}
	case BD_UDP_CSUM0_V6:
		st16be(udp + 6, 0);
		break;
	case BD_NOT_UDP: {
		static const uint8_t p4[] = {6, 1, 47, 132};
		static const uint8_t p6[] = {6, 58, 0, 43};
		if (ipv6) {
			ip[6] = p6[v % 4];
		} else {
			ip[9] = p4[v % 4];
			ipv4_fix_csum(ip);
		}
		break;
	}
	case BD_NOT_IP: {
		static const uint16_t et[] = {0x0806, 0x88CC, 0x8847, 0x86DE};
		st16be(f + l3 - 2, et[v % 4]);
		break;
	}
	case BD_TWO_VLANS: {
		uint8_t tag[4] = {0x81, 0x00, 0x00, (uint8_t)(1 + v % 200)};
		insert_bytes(f, len, cap, 12, tag, 4);
		break;
	}
	case BD_TRUNC_L2:
		*len = rng_below(r, 14);
		break;
	case BD_TRUNC_L3:
		*len = l3 + 1 + rng_below(r, (ipv6 ? 40 : 20) - 1);
		break;
	case BD_TRUNC_L4:
		if (*len > l4 + 1)
			*len = l4 + 1 + rng_below(r, *len - l4 - 1);
		break;
	case BD_UDP_LEN:
		st16be(udp + 4, (uint16_t)(ld16be(udp + 4) + 1 + rng_below(r, 64)));
		break;
	default:
		break;
	}
}
