/*
 * cwp.c - the CWP/1 codec (DESIGN §3): datagram header, message framing, body validation, the
 * verdict ref, and the encoders the tools and tests use.
 *
 * Why this file exists: cwp.h is the contract every program codes against; this is its only
 * implementation. Body validation runs once per message on the packet path (millions per second
 * per core), so it is straight-line code per type that checks all character fields of a fixed
 * part, an Item or a DocRef in one pass (bit masks from nibble tables: pshufb, or a portable
 * loop), no callbacks and no allocation. Order of checks is DESIGN §3.4 step 2c, which
 * is what decides the reject code when a message is wrong in several ways at once.
 *
 * Character fields (DESIGN §3: left-aligned, right-padded with spaces). The value of a field is
 * what precedes the padding. A field of class code, digits or alpha holds one or more characters
 * of its class followed only by spaces: "ABC   " is a code, " ABC", "AB C" and "      " are not
 * ("code, or blank" fields also accept all spaces). A printable field is checked byte by byte
 * (space is printable), so blank passes unless the spec says "not blank". docs/protocol.md says
 * the same for users.
 */
#include <string.h>

#include "dataplane/wire/cwp.h"

/* ---- character classes ----
 *
 * A byte's classes come from two 16-entry tables, one indexed by its high nibble and one by its
 * low nibble, ANDed: one pshufb each for 16 bytes (SSSE3, in the x86-64-v2 baseline), or two
 * table loads per byte in the portable path. A class that spans two rows of the ASCII table has
 * a bit per row (letters: 0x41-0x4F and 0x50-0x5A; printable: 0x20-0x6F and 0x70-0x7E).
 */
enum { N_DIGIT = 1, N_ALPHA_4 = 2, N_ALPHA_5 = 4, N_PRINT = 8, N_PRINT_7 = 16 };

#define W_DIGIT N_DIGIT
#define W_ALPHA (N_ALPHA_4 | N_ALPHA_5)
#define W_CODE	(W_DIGIT | W_ALPHA)
#define W_PRINT (N_PRINT | N_PRINT_7)

/* GNU range designators (gnu11). */
static const uint8_t nib_hi[16] = {
    [2] = N_PRINT, [3] = N_PRINT | N_DIGIT, [4] = N_PRINT | N_ALPHA_4, [5] = N_PRINT | N_ALPHA_5,
    [6] = N_PRINT, [7] = N_PRINT_7,
};
static const uint8_t nib_lo[16] = {
    [0x0] = N_PRINT | N_PRINT_7 | N_DIGIT | N_ALPHA_5,
    [0x1 ... 0x9] = N_PRINT | N_PRINT_7 | N_DIGIT | N_ALPHA_4 | N_ALPHA_5,
    [0xA] = N_PRINT | N_PRINT_7 | N_ALPHA_4 | N_ALPHA_5,
    [0xB ... 0xE] = N_PRINT | N_PRINT_7 | N_ALPHA_4,
    [0xF] = N_PRINT | N_ALPHA_4, /* 0x7F is not printable */
};

/* ---- fields, a whole fixed part at once ----
 *
 * The character fields of a run of bytes (a body's fixed part: all within its first 80 bytes; an
 * Item; a DocRef) are checked together through two bit masks over the bytes, made in one pass:
 * c (byte i is in the class its field wants) and s (byte i is a space). "Class characters, then
 * only spaces" for every field at once is three tests: c | s covers every field; a run of c
 * begins only where a field begins (so c is a prefix of each field, as c is zero outside
 * fields); and c holds the first byte of each field that may not be blank. A printable field
 * wants the printable class, which includes the space, so the same tests say "all printable";
 * "not blank" is a test of its own. Every field gives BAD_FIELD, so the order among them does not
 * matter. Only the masks' making differs between the SIMD and the portable path; the rule is
 * written once.
 */
typedef unsigned __int128 bits128;

#define BIT(i)	   ((bits128)1 << (i))
#define BITS(i, n) ((BIT(n) - 1) << (i))

struct layout {
	_Alignas(16) uint8_t want[80]; /* W_ class a byte must be in, 0 outside fields */
	unsigned chunks;	       /* 16-byte loads that cover the fields */
	bits128 fields;		       /* bytes of character fields */
	bits128 starts;		       /* first byte of every field */
	bits128 need;		       /* first byte of fields that may not be blank */
	bits128 not_blank[2];	       /* printable fields that may not be blank, or 0 */
};

struct masks {
	bits128 c, s;
};

#if defined(__SSSE3__) && !defined(CWP_NO_SIMD)
#include <tmmintrin.h>
#define CWP_SIMD 1

/* Bytes of v in the class want gives for them, as a 16-bit mask. */
static inline uint32_t wanted16(__m128i v, __m128i want)
{
	const __m128i nib = _mm_set1_epi8(0x0F);
	__m128i hi = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)nib_hi),
				      _mm_and_si128(_mm_srli_epi16(v, 4), nib));
	__m128i lo = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)nib_lo),
				      _mm_and_si128(v, nib));
	/* a non-zero byte plus 0x7F (saturating) has its top bit set, which movemask takes */
	__m128i got = _mm_and_si128(_mm_and_si128(hi, lo), want);
	return (uint32_t)_mm_movemask_epi8(_mm_adds_epu8(got, _mm_set1_epi8(0x7F)));
}

static inline uint32_t spaces16(__m128i v)
{
	return (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(' ')));
}
#endif

/* Reads 16 * l->chunks bytes at b: the caller makes sure they are in the body. */
static inline struct masks masks_of(const uint8_t *b, const struct layout *l)
{
	struct masks m = {0, 0};
#ifdef CWP_SIMD
	/* unrolled, the shifts are constants: no 128-bit shift by a variable */
#pragma GCC unroll 8
	for (unsigned j = 0; j < l->chunks; j++) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(b + 16 * j));
		__m128i want = _mm_load_si128((const __m128i *)(const void *)(l->want + 16 * j));
		m.c |= (bits128)wanted16(v, want) << (16 * j);
		m.s |= (bits128)spaces16(v) << (16 * j);
	}
#else
	for (unsigned i = 0; i < 16 * l->chunks; i++) {
		uint8_t cls = nib_hi[b[i] >> 4] & nib_lo[b[i] & 0x0F];
		m.c |= (bits128)((cls & l->want[i]) != 0) << i;
		m.s |= (bits128)(b[i] == ' ') << i;
	}
#endif
	return m;
}

/* True unless the field f (0: none) is all spaces. */
static inline bool not_blank(bits128 s, bits128 f)
{
	return f == 0 || (s & f) != f;
}

static inline bool fields_ok(const uint8_t *b, const struct layout *l)
{
	struct masks m = masks_of(b, l);
	bits128 run_starts = m.c & ~(m.c << 1);
	return ((m.c | m.s) & l->fields) == l->fields && (run_starts & ~l->starts) == 0 &&
	       (m.c & l->need) == l->need && not_blank(m.s, l->not_blank[0]) &&
	       not_blank(m.s, l->not_blank[1]);
}

/* Fixed parts. Each is at least as long as the loads that cover its fields. */
static const struct layout decl_layout = {
    /* decl_no, declarant code; owner code or blank; transport_doc printable; country, currency */
    .want = {[0 ... 53] = W_CODE, [54 ... 73] = W_PRINT, [74 ... 78] = W_ALPHA},
    .chunks = 5,
    .fields = BITS(0, 79),
    .starts = BIT(0) | BIT(18) | BIT(36) | BIT(54) | BIT(74) | BIT(76),
    .need = BIT(0) | BIT(18) | BIT(74) | BIT(76),
};

static const struct layout manifest_layout = {
    /* transport_doc printable not blank; consignee code or blank; conveyance, ports printable */
    .want = {[0 ... 19] = W_PRINT, [20 ... 37] = W_CODE, [38 ... 63] = W_PRINT},
    .chunks = 4,
    .fields = BITS(0, 64),
    .starts = BIT(0) | BIT(20) | BIT(38) | BIT(54) | BIT(59),
    .not_blank = {BITS(0, 20)},
};

static const struct layout order_layout = {
    /* order_no printable not blank; platform code; currency alpha */
    .want = {[0 ... 19] = W_PRINT, [20 ... 37] = W_CODE, [38 ... 40] = W_ALPHA},
    .chunks = 3,
    .fields = BITS(0, 41),
    .starts = BIT(0) | BIT(20) | BIT(38),
    .need = BIT(20) | BIT(38),
    .not_blank = {BITS(0, 20)},
};

static const struct layout payment_layout = {
    /* order_no printable not blank; payment_no printable */
    .want = {[0 ... 39] = W_PRINT}, .chunks = 3, .fields = BITS(0, 40), .starts = BIT(0) | BIT(20),
    .not_blank = {BITS(0, 20)},
};

static const struct layout waybill_layout = {
    /* order_no, waybill_no printable not blank; carrier code */
    .want = {[0 ... 39] = W_PRINT, [40 ... 57] = W_CODE},
    .chunks = 4,
    .fields = BITS(0, 58),
    .starts = BIT(0) | BIT(20) | BIT(40),
    .need = BIT(40),
    .not_blank = {BITS(0, 20), BITS(20, 20)},
};

static const struct layout list_layout = {
    /* list_no code; order_no printable not blank; waybill_no printable; ebiz code; currency */
    .want = {[0 ... 17] = W_CODE,
	     [18 ... 57] = W_PRINT,
	     [58 ... 75] = W_CODE,
	     [76 ... 78] = W_ALPHA},
    .chunks = 5,
    .fields = BITS(0, 79),
    .starts = BIT(0) | BIT(18) | BIT(38) | BIT(58) | BIT(76),
    .need = BIT(0) | BIT(58) | BIT(76),
    .not_blank = {BITS(18, 20)},
};

/* Arrays. An Item (32 bytes) and a ManifestItem (16) hold their load; a DocRef (24) does not,
 * but a DECL has at least one Item after its DocRefs. */
static const struct layout item_layout = {
    /* hs digits, origin alpha */
    .want = {[0 ... 9] = W_DIGIT, [10 ... 11] = W_ALPHA},
    .chunks = 1,
    .fields = BITS(0, 12),
    .starts = BIT(0) | BIT(10),
    .need = BIT(0) | BIT(10),
};

static const struct layout manifest_item_layout = {
    /* hs4 digits */
    .want = {[0 ... 3] = W_DIGIT},
    .chunks = 1,
    .fields = BITS(0, 4),
    .starts = BIT(0),
    .need = BIT(0),
};

static const struct layout docref_layout = {
    /* doc_type (a byte, checked apart), doc_no printable */
    .want = {[1 ... 23] = W_PRINT},
    .chunks = 2,
    .fields = BITS(1, 23),
    .starts = BIT(1),
};

/* ---- datagram and framing ---- */

enum cwp_dgram_err cwp_parse_dgram_hdr(const uint8_t *p, size_t len, struct cwp_dgram_hdr *h)
{
	if (len < CWP_DGRAM_HDR_LEN)
		return CWP_DG_SHORT;
	/* Filled before the checks so tools can show what a dropped header said. */
	h->count = cwp_ld16(p + 4);
	h->flags = cwp_ld16(p + 6);
	h->sender_id = cwp_ld32(p + 8);
	h->seq = cwp_ld64(p + 16);
	if (memcmp(p, CWP_MAGIC, 4) != 0)
		return CWP_DG_MAGIC;
	if (h->count == 0 || h->count > CWP_MAX_MSGS)
		return CWP_DG_COUNT;
	if (h->flags != 0)
		return CWP_DG_FLAGS;
	if (h->sender_id == 0)
		return CWP_DG_SENDER;
	if (h->seq == 0 || h->seq > UINT64_MAX - (uint64_t)(h->count - 1))
		return CWP_DG_SEQ;
	return CWP_DG_OK;
}

void cwp_reader_init(struct cwp_reader *r, const uint8_t *p, size_t len,
		     const struct cwp_dgram_hdr *h)
{
	r->p = p;
	r->len = len;
	r->off = CWP_DGRAM_HDR_LEN;
	r->seq = h->seq;
	r->count = h->count;
	r->k = 0;
}

/* ---- bodies ---- */

static bool items_ok(const uint8_t *it, unsigned n)
{
	for (unsigned i = 0; i < n; i++, it += CWP_ITEM_LEN)
		if (!fields_ok(it, &item_layout))
			return false;
	return true;
}

static enum cwp_reject decode_decl(const uint8_t *b, unsigned len, struct cwp_decl *d)
{
	if (len < CWP_DECL_FIXED)
		return CWP_REJ_MALFORMED;
	unsigned docs = b[85], items = b[86];
	if (docs > CWP_MAX_DOCS || items < 1 || items > CWP_MAX_ITEMS)
		return CWP_REJ_BAD_FIELD;
	if (len != CWP_DECL_FIXED + CWP_DOCREF_LEN * docs + CWP_ITEM_LEN * items)
		return CWP_REJ_MALFORMED;
	if (!fields_ok(b, &decl_layout) || (b[79] != CWP_IMPORT && b[79] != CWP_EXPORT))
		return CWP_REJ_BAD_FIELD;
	const uint8_t *dr = b + CWP_DECL_FIXED;
	uint8_t mask = 0;
	for (unsigned i = 0; i < docs; i++, dr += CWP_DOCREF_LEN) {
		if (dr[0] < CWP_DOC_LICENCE || dr[0] > CWP_DOC_CITES ||
		    !fields_ok(dr, &docref_layout))
			return CWP_REJ_BAD_FIELD;
		mask |= (uint8_t)(1u << dr[0]);
	}
	if (!items_ok(dr, items))
		return CWP_REJ_BAD_FIELD;
	d->decl_no = (const char *)b;
	d->declarant = (const char *)b + 18;
	d->owner = (const char *)b + 36;
	d->transport_doc = (const char *)b + 54;
	d->trade_country = (const char *)b + 74;
	d->currency = (const char *)b + 76;
	d->direction = b[79];
	d->trade_mode = cwp_ld16(b + 80);
	d->customs_port = cwp_ld16(b + 82);
	d->transport_mode = b[84];
	d->doc_count = (uint8_t)docs;
	d->item_count = (uint8_t)items;
	d->docs_mask = mask;
	d->total_value = cwp_ld64(b + 88);
	d->docs = b + CWP_DECL_FIXED;
	d->items = dr;
	return CWP_OK;
}

static enum cwp_reject decode_manifest(const uint8_t *b, unsigned len, struct cwp_manifest *m)
{
	if (len < CWP_MANIFEST_FIXED)
		return CWP_REJ_MALFORMED;
	unsigned items = b[64];
	if (items < 1 || items > CWP_MAX_ITEMS)
		return CWP_REJ_BAD_FIELD;
	if (len != CWP_MANIFEST_FIXED + CWP_MANIFEST_ITEM_LEN * items)
		return CWP_REJ_MALFORMED;
	if (!fields_ok(b, &manifest_layout))
		return CWP_REJ_BAD_FIELD;
	const uint8_t *it = b + CWP_MANIFEST_FIXED;
	for (unsigned i = 0; i < items; i++, it += CWP_MANIFEST_ITEM_LEN)
		if (!fields_ok(it, &manifest_item_layout))
			return CWP_REJ_BAD_FIELD;
	m->transport_doc = (const char *)b;
	m->consignee = (const char *)b + 20;
	m->conveyance = (const char *)b + 38;
	m->port_loading = (const char *)b + 54;
	m->port_discharge = (const char *)b + 59;
	m->item_count = (uint8_t)items;
	m->items = b + CWP_MANIFEST_FIXED;
	return CWP_OK;
}

static enum cwp_reject decode_order(const uint8_t *b, unsigned len, struct cwp_order *o)
{
	if (len != CWP_ORDER_LEN)
		return CWP_REJ_MALFORMED;
	if (!fields_ok(b, &order_layout))
		return CWP_REJ_BAD_FIELD;
	o->order_no = (const char *)b;
	o->platform = (const char *)b + 20;
	o->currency = (const char *)b + 38;
	o->buyer = cwp_ld64(b + 48);
	o->amount = cwp_ld64(b + 56);
	return CWP_OK;
}

static enum cwp_reject decode_payment(const uint8_t *b, unsigned len, struct cwp_payment *p)
{
	if (len != CWP_PAYMENT_LEN)
		return CWP_REJ_MALFORMED;
	if (!fields_ok(b, &payment_layout))
		return CWP_REJ_BAD_FIELD;
	p->order_no = (const char *)b;
	p->payment_no = (const char *)b + 20;
	p->buyer = cwp_ld64(b + 40);
	p->amount = cwp_ld64(b + 48);
	return CWP_OK;
}

static enum cwp_reject decode_waybill(const uint8_t *b, unsigned len, struct cwp_waybill *w)
{
	if (len != CWP_WAYBILL_LEN)
		return CWP_REJ_MALFORMED;
	if (!fields_ok(b, &waybill_layout))
		return CWP_REJ_BAD_FIELD;
	w->order_no = (const char *)b;
	w->waybill_no = (const char *)b + 20;
	w->carrier = (const char *)b + 40;
	return CWP_OK;
}

static enum cwp_reject decode_list(const uint8_t *b, unsigned len, struct cwp_list *l)
{
	if (len < CWP_LIST_FIXED)
		return CWP_REJ_MALFORMED;
	unsigned items = b[79];
	if (items < 1 || items > CWP_MAX_ITEMS)
		return CWP_REJ_BAD_FIELD;
	if (len != CWP_LIST_FIXED + CWP_ITEM_LEN * items)
		return CWP_REJ_MALFORMED;
	if (!fields_ok(b, &list_layout) || !items_ok(b + CWP_LIST_FIXED, items))
		return CWP_REJ_BAD_FIELD;
	l->list_no = (const char *)b;
	l->order_no = (const char *)b + 18;
	l->waybill_no = (const char *)b + 38;
	l->ebiz = (const char *)b + 58;
	l->currency = (const char *)b + 76;
	l->item_count = (uint8_t)items;
	l->trade_mode = cwp_ld16(b + 80);
	l->customs_port = cwp_ld16(b + 82);
	l->buyer = cwp_ld64(b + 88);
	l->total_value = cwp_ld64(b + 96);
	l->items = b + CWP_LIST_FIXED;
	return CWP_OK;
}

enum cwp_reject cwp_decode_body(const struct cwp_raw_msg *raw, struct cwp_msg *out)
{
	const uint8_t *b = raw->body;
	unsigned len = raw->body_len;
	out->seq = raw->seq;
	out->type = raw->type;
	switch (raw->type) {
	case CWP_DECL:
		return decode_decl(b, len, &out->u.decl);
	case CWP_MANIFEST:
		return decode_manifest(b, len, &out->u.manifest);
	case CWP_ORDER:
		return decode_order(b, len, &out->u.order);
	case CWP_PAYMENT:
		return decode_payment(b, len, &out->u.payment);
	case CWP_WAYBILL:
		return decode_waybill(b, len, &out->u.waybill);
	case CWP_LIST:
		return decode_list(b, len, &out->u.list);
	default:
		return CWP_REJ_UNSUPPORTED;
	}
}

static inline bool printable(uint8_t c)
{
	return c >= 0x20 && c <= 0x7E;
}

#ifdef CWP_SIMD
/* Bytes of v that are not printable ASCII (0x20..0x7E): 0xFF, others 0. */
static inline __m128i unprintable16(__m128i v)
{
	return _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)), /* also >= 0x80 */
			    _mm_cmpgt_epi8(v, _mm_set1_epi8(0x7E)));
}
#endif

void cwp_ref_of(const struct cwp_raw_msg *raw, char ref[CWP_REF_LEN])
{
	/* Every key field sits at body offset 0: 18 bytes for DECL and LIST, 20 for the others. */
	static const uint8_t key_width[] = {
	    [CWP_DECL] = 18,	[CWP_MANIFEST] = 20, [CWP_ORDER] = 20,
	    [CWP_PAYMENT] = 20, [CWP_WAYBILL] = 20,  [CWP_LIST] = 18};
	unsigned width = raw->type < sizeof(key_width) ? key_width[raw->type] : 0;
	if (raw->body_len < width)
		width = 0;
#ifdef CWP_SIMD
	if (width) {
		/* The usual case, a well-formed key: two loads that together cover it, stored where
		 * they came from (they overlap) over the padding of an 18-byte key. */
		const uint8_t *key = raw->body;
		__m128i head = _mm_loadu_si128((const __m128i *)(const void *)key);
		__m128i tail = _mm_loadu_si128((const __m128i *)(const void *)(key + width - 16));
		__m128i bad = _mm_or_si128(unprintable16(head), unprintable16(tail));
		if (_mm_movemask_epi8(bad) == 0) {
			memcpy(ref + 18, "  ", 2);
			_mm_storeu_si128((__m128i *)(void *)(ref + width - 16), tail);
			_mm_storeu_si128((__m128i *)(void *)ref, head);
			return;
		}
	}
#endif
	for (unsigned i = 0; i < width; i++) {
		uint8_t c = raw->body[i];
		ref[i] = printable(c) ? (char)c : '?';
	}
	memset(ref + width, ' ', CWP_REF_LEN - width);
}

/* ---- encoding ---- */

void cwp_put_dgram_hdr(uint8_t *out, uint16_t count, uint16_t flags, uint32_t sender_id,
		       uint64_t seq)
{
	memcpy(out, CWP_MAGIC, 4);
	cwp_st16(out + 4, count);
	cwp_st16(out + 6, flags);
	cwp_st32(out + 8, sender_id);
	cwp_st32(out + 12, 0);
	cwp_st64(out + 16, seq);
}

static void put_msg_hdr(uint8_t *out, uint8_t type, uint16_t length)
{
	out[0] = type;
	out[1] = 0;
	cwp_st16(out + 2, length);
}

void cwp_put_verdict(uint8_t *out, const struct cwp_verdict *v)
{
	put_msg_hdr(out, CWP_VERDICT, CWP_VERDICT_MSG_LEN);
	uint8_t *b = out + CWP_MSG_HDR_LEN;
	cwp_st64(b, v->msg_seq);
	b[8] = v->msg_type;
	b[9] = v->status;
	b[10] = v->mode;
	b[11] = v->flags;
	cwp_st16(b + 12, v->reject_code);
	b[14] = v->reason_count;
	b[15] = 0;
	cwp_st32(b + 16, v->ruleset_version);
	memcpy(b + 20, v->ref, CWP_REF_LEN);
	/* Unused reason slots are zero on the wire whatever the struct holds. */
	unsigned used = v->reason_count < CWP_MAX_REASONS ? v->reason_count : CWP_MAX_REASONS;
	memset(b + 40, 0, 8 * CWP_MAX_REASONS);
	for (unsigned i = 0; i < used; i++) {
		uint8_t *r = b + 40 + 8 * i;
		cwp_st16(r, v->reasons[i].code);
		cwp_st16(r + 2, v->reasons[i].item);
		cwp_st32(r + 4, v->reasons[i].rule_id);
	}
}

bool cwp_get_verdict(const uint8_t *msg, size_t len, struct cwp_verdict *v)
{
	if (len < CWP_VERDICT_MSG_LEN || msg[0] != CWP_VERDICT ||
	    cwp_ld16(msg + 2) != CWP_VERDICT_MSG_LEN)
		return false;
	const uint8_t *b = msg + CWP_MSG_HDR_LEN;
	v->msg_seq = cwp_ld64(b);
	v->msg_type = b[8];
	v->status = b[9];
	v->mode = b[10];
	v->flags = b[11];
	v->reject_code = cwp_ld16(b + 12);
	v->reason_count = b[14];
	v->ruleset_version = cwp_ld32(b + 16);
	memcpy(v->ref, b + 20, CWP_REF_LEN);
	for (unsigned i = 0; i < CWP_MAX_REASONS; i++) {
		const uint8_t *r = b + 40 + 8 * i;
		v->reasons[i].code = cwp_ld16(r);
		v->reasons[i].item = cwp_ld16(r + 2);
		v->reasons[i].rule_id = cwp_ld32(r + 4);
	}
	return true;
}

/* Copies a C string into a fixed-width field, up to its width, padding with spaces. */
static void put_chars(uint8_t *out, const char *s, unsigned width)
{
	unsigned n = (unsigned)strnlen(s, width);
	memcpy(out, s, n);
	memset(out + n, ' ', width - n);
}

static void put_item(uint8_t *p, const struct cwp_item_in *it)
{
	put_chars(p, it->hs, 10);
	put_chars(p + 10, it->origin, 2);
	cwp_st32(p + 12, it->quantity);
	cwp_st64(p + 16, it->value);
	cwp_st64(p + 24, it->gross_weight_g);
}

/* Clears the message, writes its header and returns the body, or NULL if len does not fit. */
static uint8_t *start_msg(uint8_t *out, size_t cap, uint8_t type, size_t len)
{
	if (len > cap || len > UINT16_MAX)
		return NULL;
	memset(out, 0, len);
	put_msg_hdr(out, type, (uint16_t)len);
	return out + CWP_MSG_HDR_LEN;
}

size_t cwp_put_decl(uint8_t *out, size_t cap, const struct cwp_decl_in *m)
{
	if (m->doc_count > CWP_MAX_DOCS || m->item_count > CWP_MAX_ITEMS)
		return 0;
	size_t len = CWP_MSG_HDR_LEN + CWP_DECL_FIXED + CWP_DOCREF_LEN * m->doc_count +
		     CWP_ITEM_LEN * m->item_count;
	uint8_t *b = start_msg(out, cap, CWP_DECL, len);
	if (!b)
		return 0;
	put_chars(b, m->decl_no, 18);
	put_chars(b + 18, m->declarant, 18);
	put_chars(b + 36, m->owner, 18);
	put_chars(b + 54, m->transport_doc, 20);
	put_chars(b + 74, m->trade_country, 2);
	put_chars(b + 76, m->currency, 3);
	b[79] = m->direction;
	cwp_st16(b + 80, m->trade_mode);
	cwp_st16(b + 82, m->customs_port);
	b[84] = m->transport_mode;
	b[85] = m->doc_count;
	b[86] = m->item_count;
	cwp_st64(b + 88, m->total_value);
	uint8_t *p = b + CWP_DECL_FIXED;
	for (unsigned i = 0; i < m->doc_count; i++, p += CWP_DOCREF_LEN) {
		p[0] = m->docs[i].doc_type;
		put_chars(p + 1, m->docs[i].doc_no, 23);
	}
	for (unsigned i = 0; i < m->item_count; i++, p += CWP_ITEM_LEN)
		put_item(p, &m->items[i]);
	return len;
}

size_t cwp_put_manifest(uint8_t *out, size_t cap, const struct cwp_manifest_in *m)
{
	if (m->item_count > CWP_MAX_ITEMS)
		return 0;
	size_t len = CWP_MSG_HDR_LEN + CWP_MANIFEST_FIXED + CWP_MANIFEST_ITEM_LEN * m->item_count;
	uint8_t *b = start_msg(out, cap, CWP_MANIFEST, len);
	if (!b)
		return 0;
	put_chars(b, m->transport_doc, 20);
	put_chars(b + 20, m->consignee, 18);
	put_chars(b + 38, m->conveyance, 16);
	put_chars(b + 54, m->port_loading, 5);
	put_chars(b + 59, m->port_discharge, 5);
	b[64] = m->item_count;
	uint8_t *p = b + CWP_MANIFEST_FIXED;
	for (unsigned i = 0; i < m->item_count; i++, p += CWP_MANIFEST_ITEM_LEN) {
		put_chars(p, m->items[i].hs4, 4);
		cwp_st32(p + 4, m->items[i].packages);
		cwp_st64(p + 8, m->items[i].gross_weight_g);
	}
	return len;
}

size_t cwp_put_order(uint8_t *out, size_t cap, const struct cwp_order_in *m)
{
	size_t len = CWP_MSG_HDR_LEN + CWP_ORDER_LEN;
	uint8_t *b = start_msg(out, cap, CWP_ORDER, len);
	if (!b)
		return 0;
	put_chars(b, m->order_no, 20);
	put_chars(b + 20, m->platform, 18);
	put_chars(b + 38, m->currency, 3);
	cwp_st64(b + 48, m->buyer);
	cwp_st64(b + 56, m->amount);
	return len;
}

size_t cwp_put_payment(uint8_t *out, size_t cap, const struct cwp_payment_in *m)
{
	size_t len = CWP_MSG_HDR_LEN + CWP_PAYMENT_LEN;
	uint8_t *b = start_msg(out, cap, CWP_PAYMENT, len);
	if (!b)
		return 0;
	put_chars(b, m->order_no, 20);
	put_chars(b + 20, m->payment_no, 20);
	cwp_st64(b + 40, m->buyer);
	cwp_st64(b + 48, m->amount);
	return len;
}

size_t cwp_put_waybill(uint8_t *out, size_t cap, const struct cwp_waybill_in *m)
{
	size_t len = CWP_MSG_HDR_LEN + CWP_WAYBILL_LEN;
	uint8_t *b = start_msg(out, cap, CWP_WAYBILL, len);
	if (!b)
		return 0;
	put_chars(b, m->order_no, 20);
	put_chars(b + 20, m->waybill_no, 20);
	put_chars(b + 40, m->carrier, 18);
	return len;
}

size_t cwp_put_list(uint8_t *out, size_t cap, const struct cwp_list_in *m)
{
	if (m->item_count > CWP_MAX_ITEMS)
		return 0;
	size_t len = CWP_MSG_HDR_LEN + CWP_LIST_FIXED + CWP_ITEM_LEN * m->item_count;
	uint8_t *b = start_msg(out, cap, CWP_LIST, len);
	if (!b)
		return 0;
	put_chars(b, m->list_no, 18);
	put_chars(b + 18, m->order_no, 20);
	put_chars(b + 38, m->waybill_no, 20);
	put_chars(b + 58, m->ebiz, 18);
	put_chars(b + 76, m->currency, 3);
	b[79] = m->item_count;
	cwp_st16(b + 80, m->trade_mode);
	cwp_st16(b + 82, m->customs_port);
	cwp_st64(b + 88, m->buyer);
	cwp_st64(b + 96, m->total_value);
	uint8_t *p = b + CWP_LIST_FIXED;
	for (unsigned i = 0; i < m->item_count; i++, p += CWP_ITEM_LEN)
		put_item(p, &m->items[i]);
	return len;
}

/* ---- names ---- */

/* Unknown values give "" (never NULL) so a careless printf cannot crash; callers that want
 * "0x42" test for the empty string. */
const char *cwp_type_name(uint8_t type)
{
	static const char *const n[] = {"",	   "DECL",    "MANIFEST", "ORDER",
					"PAYMENT", "WAYBILL", "LIST"};
	if (type == CWP_VERDICT)
		return "VERDICT";
	return type < sizeof(n) / sizeof(n[0]) ? n[type] : "";
}

const char *cwp_status_name(uint8_t status)
{
	static const char *const n[] = {"DECIDED", "ACCEPTED", "REJECTED"};
	return status < 3 ? n[status] : "";
}

const char *cwp_mode_name(uint8_t mode)
{
	static const char *const n[] = {"declare", "verify", "sample", "supervise"};
	if (mode == CWP_MODE_NONE)
		return "-";
	return mode < CWP_NUM_MODES ? n[mode] : "";
}

const char *cwp_reject_name(uint16_t code)
{
	static const char *const n[CWP_NUM_REJECTS] = {
	    "",		  "MALFORMED",	  "UNSUPPORTED",  "BAD_FIELD",
	    "NO_RULESET", "MISSING_DOCS", "QUOTA_SINGLE", "QUOTA_ANNUAL",
	    "STALE",	  "STORE_FULL"};
	return code < CWP_NUM_REJECTS ? n[code] : "";
}

const char *cwp_reason_name(uint16_t code)
{
	static const char *const n[] = {
	    "",	      "CLASS",	"PROFILE",     "DOC_VERIFY",	    "DOC_MISSING",
	    "TARGET", "RANDOM", "NO_MANIFEST", "MANIFEST_MISMATCH", "ECOM_MISMATCH"};
	return code < sizeof(n) / sizeof(n[0]) ? n[code] : "";
}

const char *cwp_doc_name(uint8_t doc)
{
	static const char *const n[] = {
	    "",	    "LICENCE", "QUARANTINE", "ORIGIN_CERT", "THIRD_PARTY_CERT", "INSPECTION_CERT",
	    "CITES"};
	return doc < sizeof(n) / sizeof(n[0]) ? n[doc] : "";
}

const char *cwp_dgram_err_name(enum cwp_dgram_err e)
{
	static const char *const n[CWP_DG_NUM_ERRS] = {"OK",	"SHORT",  "MAGIC", "COUNT",
						       "FLAGS", "SENDER", "SEQ"};
	return (unsigned)e < CWP_DG_NUM_ERRS ? n[e] : "";
}
