/*
 * cwp.h - the CWP/1 wire protocol (DESIGN §3): constants, decoded views and the codec.
 *
 * Why this file exists: every program of Clearway (the gateway, cwctl, cwgen, the kernel
 * baseline, the fuzzers) reads and writes the same bytes, so the byte layout lives in one place.
 * The codec has no DPDK dependency and never allocates: decoding fills caller-owned structs whose
 * character fields point into the datagram (zero copy) and whose integers were loaded with
 * memcpy (no unaligned access, no read past the span it was given).
 */
#ifndef CW_WIRE_CWP_H
#define CW_WIRE_CWP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define CWP_MAGIC	      "CWP1"
#define CWP_DEFAULT_PORT      7350
#define CWP_DGRAM_HDR_LEN     24
#define CWP_MSG_HDR_LEN	      4
#define CWP_MAX_MSGS	      64
#define CWP_MAX_ITEMS	      50
#define CWP_MAX_DOCS	      8
#define CWP_ITEM_LEN	      32
#define CWP_DOCREF_LEN	      24
#define CWP_MANIFEST_ITEM_LEN 16
#define CWP_VERDICT_LEN	      72
#define CWP_VERDICT_MSG_LEN   (CWP_MSG_HDR_LEN + CWP_VERDICT_LEN) /* 76 */
#define CWP_REF_LEN	      20
#define CWP_MAX_REASONS	      4
#define CWP_FLAG_RESPONSE     0x0001
#define CWP_ITEM_HDR	      0xFFFF /* Reason.item for the header */

/* Fixed body sizes (the part before the arrays) */
#define CWP_DECL_FIXED	   96
#define CWP_MANIFEST_FIXED 72
#define CWP_ORDER_LEN	   64
#define CWP_PAYMENT_LEN	   56
#define CWP_WAYBILL_LEN	   64
#define CWP_LIST_FIXED	   104

enum cwp_type {
	CWP_DECL = 0x01,
	CWP_MANIFEST = 0x02,
	CWP_ORDER = 0x03,
	CWP_PAYMENT = 0x04,
	CWP_WAYBILL = 0x05,
	CWP_LIST = 0x06,
	CWP_VERDICT = 0x80,
};

enum cwp_status { CWP_DECIDED = 0, CWP_ACCEPTED = 1, CWP_REJECTED = 2 };

enum cwp_mode {
	CWP_MODE_DECLARE = 0,
	CWP_MODE_VERIFY = 1,
	CWP_MODE_SAMPLE = 2,
	CWP_MODE_SUPERVISE = 3,
	CWP_MODE_NONE = 255,
};
#define CWP_NUM_MODES 4

/* Verdict flags */
#define CWP_VFLAG_DUPLICATE 0x01
#define CWP_VFLAG_GREEN	    0x02

enum cwp_reject {
	CWP_OK = 0,
	CWP_REJ_MALFORMED = 1,
	CWP_REJ_UNSUPPORTED = 2,
	CWP_REJ_BAD_FIELD = 3,
	CWP_REJ_NO_RULESET = 4,
	CWP_REJ_MISSING_DOCS = 5,
	CWP_REJ_QUOTA_SINGLE = 6,
	CWP_REJ_QUOTA_ANNUAL = 7,
	CWP_REJ_STALE = 8,
	CWP_REJ_STORE_FULL = 9,
};
#define CWP_NUM_REJECTS 10

enum cwp_reason_code {
	CWP_RSN_CLASS = 1,
	CWP_RSN_PROFILE = 2,
	CWP_RSN_DOC_VERIFY = 3,
	CWP_RSN_DOC_MISSING = 4,
	CWP_RSN_TARGET = 5,
	CWP_RSN_RANDOM = 6,
	CWP_RSN_NO_MANIFEST = 7,
	CWP_RSN_MANIFEST_MISMATCH = 8,
	CWP_RSN_ECOM_MISMATCH = 9,
};

enum cwp_doc {
	CWP_DOC_LICENCE = 1,
	CWP_DOC_QUARANTINE = 2,
	CWP_DOC_ORIGIN_CERT = 3,
	CWP_DOC_THIRD_PARTY_CERT = 4,
	CWP_DOC_INSPECTION_CERT = 5,
	CWP_DOC_CITES = 6,
};
#define CWP_NUM_DOCS 6

enum cwp_direction { CWP_IMPORT = 1, CWP_EXPORT = 2 };

/* Why a datagram is dropped without an answer (§3.4 step 1, header part). */
enum cwp_dgram_err {
	CWP_DG_OK = 0,
	CWP_DG_SHORT,  /* fewer than 24 bytes */
	CWP_DG_MAGIC,  /* not "CWP1" */
	CWP_DG_COUNT,  /* count 0 or over 64 */
	CWP_DG_FLAGS,  /* RESPONSE or another flag bit set */
	CWP_DG_SENDER, /* sender_id 0 */
	CWP_DG_SEQ,    /* seq 0 or seq + count - 1 past 2^64 - 1 */
	CWP_DG_NUM_ERRS,
};

struct cwp_dgram_hdr {
	uint16_t count;
	uint16_t flags;
	uint32_t sender_id;
	uint64_t seq;
};

/* One message as framed by §3.4 step 2a: type and the bytes it claims. */
struct cwp_raw_msg {
	uint64_t seq; /* s = seq + k */
	uint8_t type;
	uint16_t length;     /* header included */
	const uint8_t *msg;  /* points at the message header */
	const uint8_t *body; /* msg + 4 */
	uint16_t body_len;   /* length - 4 */
};

/* Walks the messages of one datagram in order (§3.4 step 2a). */
struct cwp_reader {
	const uint8_t *p;
	size_t len;
	size_t off;
	uint64_t seq;
	uint16_t count;
	uint16_t k;
};

enum cwp_frame_result {
	CWP_FRAME_OK = 0,     /* *out is a framed message */
	CWP_FRAME_BROKEN = 1, /* REJECTED MALFORMED for out->seq, out->type set; stop reading */
	CWP_FRAME_END = 2,    /* all `count` messages were read */
};

/* Character fields are views into the datagram: exactly the field's width, space padded. */
struct cwp_item_view {
	const char *hs;	    /* [10] digits */
	const char *origin; /* [2] alpha */
	uint32_t quantity;
	uint64_t value;
	uint64_t gross_weight_g;
};

struct cwp_decl {
	const char *decl_no;	   /* [18] */
	const char *declarant;	   /* [18] */
	const char *owner;	   /* [18], may be blank */
	const char *transport_doc; /* [20], may be blank */
	const char *trade_country; /* [2] */
	const char *currency;	   /* [3] */
	uint8_t direction;
	uint16_t trade_mode;
	uint16_t customs_port;
	uint8_t transport_mode;
	uint8_t doc_count;
	uint8_t item_count;
	uint8_t docs_mask; /* bit (1 << doc_type) for each DocRef present */
	uint64_t total_value;
	const uint8_t *docs;  /* DocRef[doc_count] */
	const uint8_t *items; /* Item[item_count], read with cwp_item_at() */
};

struct cwp_manifest {
	const char *transport_doc;  /* [20] */
	const char *consignee;	    /* [18], may be blank */
	const char *conveyance;	    /* [16] */
	const char *port_loading;   /* [5] */
	const char *port_discharge; /* [5] */
	uint8_t item_count;
	const uint8_t *items; /* ManifestItem[item_count], read with cwp_manifest_item_at() */
};

struct cwp_order {
	const char *order_no; /* [20] */
	const char *platform; /* [18] */
	const char *currency; /* [3] */
	uint64_t buyer;
	uint64_t amount;
};

struct cwp_payment {
	const char *order_no;	/* [20] */
	const char *payment_no; /* [20] */
	uint64_t buyer;
	uint64_t amount;
};

struct cwp_waybill {
	const char *order_no;	/* [20] */
	const char *waybill_no; /* [20] */
	const char *carrier;	/* [18] */
};

struct cwp_list {
	const char *list_no;	/* [18] */
	const char *order_no;	/* [20] */
	const char *waybill_no; /* [20] */
	const char *ebiz;	/* [18] */
	const char *currency;	/* [3] */
	uint8_t item_count;
	uint16_t trade_mode;
	uint16_t customs_port;
	uint64_t buyer;
	uint64_t total_value;
	const uint8_t *items; /* Item[item_count] */
};

/* A message whose body passed §3.4 step 2c. */
struct cwp_msg {
	uint64_t seq;
	uint8_t type;
	union {
		struct cwp_decl decl;
		struct cwp_manifest manifest;
		struct cwp_order order;
		struct cwp_payment payment;
		struct cwp_waybill waybill;
		struct cwp_list list;
	} u;
};

struct cwp_reason {
	uint16_t code;
	uint16_t item; /* CWP_ITEM_HDR for the header */
	uint32_t rule_id;
};

struct cwp_verdict {
	uint64_t msg_seq;
	uint8_t msg_type;
	uint8_t status;
	uint8_t mode;
	uint8_t flags;
	uint16_t reject_code;
	uint8_t reason_count;
	uint32_t ruleset_version;
	char ref[CWP_REF_LEN];
	struct cwp_reason reasons[CWP_MAX_REASONS];
};

/* ---- decoding ---- */

/* §3.4 step 1, the header part (the sender check is the session layer's). */
enum cwp_dgram_err cwp_parse_dgram_hdr(const uint8_t *p, size_t len, struct cwp_dgram_hdr *h);

void cwp_reader_init(struct cwp_reader *r, const uint8_t *p, size_t len,
		     const struct cwp_dgram_hdr *h);
/* §3.4 step 2a. After CWP_FRAME_BROKEN the reader returns CWP_FRAME_END. Inline (defined at the
 * end of this file): it runs once per message and its body is a few loads and tests. */
static inline enum cwp_frame_result cwp_reader_next(struct cwp_reader *r, struct cwp_raw_msg *out);

/* §3.4 step 2c (type and body): CWP_OK and *out filled, or UNSUPPORTED / MALFORMED / BAD_FIELD. */
enum cwp_reject cwp_decode_body(const struct cwp_raw_msg *raw, struct cwp_msg *out);

/* §3.3 `ref`: the key field of the raw message, '?' for non-printable bytes, blank when the type
 * is unknown or the body is too short to hold the field. */
void cwp_ref_of(const struct cwp_raw_msg *raw, char ref[CWP_REF_LEN]);

/* Loads item i of an Item array (DECL, LIST) / a ManifestItem array. No bounds check: the body
 * was validated. Inline (defined at the end of this file): the decision reads every item of
 * every declaration, and a call cost more than the loads. */
static inline void cwp_item_at(const uint8_t *items, unsigned i, struct cwp_item_view *it);
static inline void cwp_manifest_item_at(const uint8_t *items, unsigned i, char hs4[4],
					uint32_t *packages, uint64_t *gross_weight_g);

/* ---- encoding ---- */

/* Writes a 24-byte datagram header. */
void cwp_put_dgram_hdr(uint8_t *out, uint16_t count, uint16_t flags, uint32_t sender_id,
		       uint64_t seq);
/* Writes one VERDICT message (76 bytes: message header + body). */
void cwp_put_verdict(uint8_t *out, const struct cwp_verdict *v);
/* Reads one VERDICT message back (tests, tools); false if it is not a 76-byte VERDICT. */
bool cwp_get_verdict(const uint8_t *msg, size_t len, struct cwp_verdict *v);

/* Verdicts per response datagram for a given MTU and IP header length (§3.3). */
static inline unsigned cwp_verdicts_per_dgram(unsigned mtu, unsigned ip_hdr_len)
{
	return (mtu - ip_hdr_len - 8 - CWP_DGRAM_HDR_LEN) / CWP_VERDICT_MSG_LEN;
}

/* Request encoders for tools and tests: plain structs with NUL-free fixed-width fields that the
 * encoder pads with spaces (a shorter C string is padded; fields are copied up to their width). */
struct cwp_item_in {
	char hs[11];
	char origin[3];
	uint32_t quantity;
	uint64_t value;
	uint64_t gross_weight_g;
};
struct cwp_docref_in {
	uint8_t doc_type;
	char doc_no[24];
};
struct cwp_decl_in {
	char decl_no[19], declarant[19], owner[19], transport_doc[21], trade_country[3],
	    currency[4];
	uint8_t direction;
	uint16_t trade_mode, customs_port;
	uint8_t transport_mode, doc_count, item_count;
	uint64_t total_value;
	struct cwp_docref_in docs[CWP_MAX_DOCS];
	struct cwp_item_in items[CWP_MAX_ITEMS];
};
struct cwp_manifest_item_in {
	char hs4[5];
	uint32_t packages;
	uint64_t gross_weight_g;
};
struct cwp_manifest_in {
	char transport_doc[21], consignee[19], conveyance[17], port_loading[6], port_discharge[6];
	uint8_t item_count;
	struct cwp_manifest_item_in items[CWP_MAX_ITEMS];
};
struct cwp_order_in {
	char order_no[21], platform[19], currency[4];
	uint64_t buyer, amount;
};
struct cwp_payment_in {
	char order_no[21], payment_no[21];
	uint64_t buyer, amount;
};
struct cwp_waybill_in {
	char order_no[21], waybill_no[21], carrier[19];
};
struct cwp_list_in {
	char list_no[19], order_no[21], waybill_no[21], ebiz[19], currency[4];
	uint8_t item_count;
	uint16_t trade_mode, customs_port;
	uint64_t buyer, total_value;
	struct cwp_item_in items[CWP_MAX_ITEMS];
};

/* Each writes a whole message (header + body) into out (capacity cap) and returns its length,
 * or 0 if it does not fit. The length field is the size the counts give. */
size_t cwp_put_decl(uint8_t *out, size_t cap, const struct cwp_decl_in *m);
size_t cwp_put_manifest(uint8_t *out, size_t cap, const struct cwp_manifest_in *m);
size_t cwp_put_order(uint8_t *out, size_t cap, const struct cwp_order_in *m);
size_t cwp_put_payment(uint8_t *out, size_t cap, const struct cwp_payment_in *m);
size_t cwp_put_waybill(uint8_t *out, size_t cap, const struct cwp_waybill_in *m);
size_t cwp_put_list(uint8_t *out, size_t cap, const struct cwp_list_in *m);

/* ---- names (for tools, logs, JSON) ---- */
const char *cwp_type_name(uint8_t type);     /* "DECL", ..., "0x42" style is the caller's */
const char *cwp_status_name(uint8_t status); /* "DECIDED", "ACCEPTED", "REJECTED" */
const char *cwp_mode_name(uint8_t mode);     /* "declare" .. "supervise", "-" for 255 */
const char *cwp_reject_name(uint16_t code);  /* "MALFORMED" .. "STORE_FULL", "" for 0 */
const char *cwp_reason_name(uint16_t code);  /* "CLASS" .. "ECOM_MISMATCH" */
const char *cwp_doc_name(uint8_t doc);	     /* "LICENCE" .. "CITES" */
const char *cwp_dgram_err_name(enum cwp_dgram_err e);

/* Unaligned-safe little-endian loads and stores: through memcpy, which the compiler makes one
 * move (byte-wise shifts and ORs were not always merged into one: a verdict's 8-byte fields
 * were 8 stores each), with a byte swap on big-endian hosts. */
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define CWP_LE16(v) __builtin_bswap16(v)
#define CWP_LE32(v) __builtin_bswap32(v)
#define CWP_LE64(v) __builtin_bswap64(v)
#else
#define CWP_LE16(v) (v)
#define CWP_LE32(v) (v)
#define CWP_LE64(v) (v)
#endif

static inline uint16_t cwp_ld16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, sizeof(v));
	return CWP_LE16(v);
}
static inline uint32_t cwp_ld32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return CWP_LE32(v);
}
static inline uint64_t cwp_ld64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return CWP_LE64(v);
}
static inline void cwp_st16(uint8_t *p, uint16_t v)
{
	v = CWP_LE16(v);
	memcpy(p, &v, sizeof(v));
}
static inline void cwp_st32(uint8_t *p, uint32_t v)
{
	v = CWP_LE32(v);
	memcpy(p, &v, sizeof(v));
}
static inline void cwp_st64(uint8_t *p, uint64_t v)
{
	v = CWP_LE64(v);
	memcpy(p, &v, sizeof(v));
}

static inline enum cwp_frame_result cwp_reader_next(struct cwp_reader *r, struct cwp_raw_msg *out)
{
	if (r->k >= r->count)
		return CWP_FRAME_END;
	size_t off = r->off < r->len ? r->off : r->len;
	size_t left = r->len - off;
	const uint8_t *m = r->p + off;
	out->seq = r->seq + r->k;
	out->type = left ? m[0] : 0;
	out->msg = m;
	if (left >= CWP_MSG_HDR_LEN) {
		uint16_t length = cwp_ld16(m + 2);
		if (length >= CWP_MSG_HDR_LEN && length <= left) {
			out->length = length;
			out->body = m + CWP_MSG_HDR_LEN;
			out->body_len = (uint16_t)(length - CWP_MSG_HDR_LEN);
			r->off += length;
			r->k++;
			return CWP_FRAME_OK;
		}
	}
	/* Broken framing: nothing of this message is trusted, so it carries no body (and thus a
	 * blank ref), and the rest of the datagram is not read. */
	out->length = 0;
	out->body = m;
	out->body_len = 0;
	r->k = r->count;
	return CWP_FRAME_BROKEN;
}

static inline void cwp_item_at(const uint8_t *items, unsigned i, struct cwp_item_view *it)
{
	const uint8_t *p = items + (size_t)i * CWP_ITEM_LEN;
	it->hs = (const char *)p;
	it->origin = (const char *)p + 10;
	it->quantity = cwp_ld32(p + 12);
	it->value = cwp_ld64(p + 16);
	it->gross_weight_g = cwp_ld64(p + 24);
}

static inline void cwp_manifest_item_at(const uint8_t *items, unsigned i, char hs4[4],
					uint32_t *packages, uint64_t *gross_weight_g)
{
	const uint8_t *p = items + (size_t)i * CWP_MANIFEST_ITEM_LEN;
	memcpy(hs4, p, 4);
	*packages = cwp_ld32(p + 4);
	*gross_weight_g = cwp_ld64(p + 8);
}

#endif
