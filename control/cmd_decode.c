/*
 * cmd_decode.c - `cwctl decode --in X.pcap [--json] [--port N]`: a protocol analyser for CWP/1.
 *
 * Why this file exists: when a sender says "you rejected my declaration", an operator needs to
 * see what the gateway saw: each frame's L2/L3/L4 layers or why it was dropped, the datagram
 * header or why it was dropped, and every message with its fields or the reject it gets at
 * framing or body level (DESIGN §3.4 steps 1, 2a and 2c; sessions and senders are not applied,
 * so STALE, duplicates and unknown senders never show here). Response datagrams (from the port)
 * are decoded too, verdict by verdict.
 *
 * The reject codes come from the codec itself (dataplane/wire/cwp.c); the field tables below only
 * lay the fields out for display and point at the ones that break their class, so an analyst can
 * see which byte is wrong.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/cmds.h"
#include "dataplane/wire/cwp.h"
#include "dataplane/wire/frame.h"
#include "dataplane/wire/pcapio.h"

/* ---- output: one emitter, two renderings (indented text, or one JSON object per frame) ---- */

#define EM_DEPTH 12

struct em {
	FILE *f;
	bool json;
	int depth;	       /* open objects and arrays */
	int tdepth;	       /* text: open objects, for indentation */
	bool comma[EM_DEPTH];  /* JSON: something was written at this level */
	bool in_arr[EM_DEPTH]; /* this level is an array */
	bool cont[EM_DEPTH];   /* text: a child ended, the next scalar starts a new line */
	const char *arr_key[EM_DEPTH];
	unsigned arr_idx[EM_DEPTH];
};

static void em_push(struct em *e, bool arr, const char *key)
{
	e->depth++;
	e->comma[e->depth] = false;
	e->in_arr[e->depth] = arr;
	e->cont[e->depth] = false;
	e->arr_key[e->depth] = key;
	e->arr_idx[e->depth] = 0;
}

/* JSON: the separator and the key of the next value at the current level. */
static void em_jkey(struct em *e, const char *key)
{
	if (e->depth == 0)
		return; /* JSON Lines: each top-level object stands alone, without a key */
	if (e->comma[e->depth])
		fputc(',', e->f);
	e->comma[e->depth] = true;
	if (key && !e->in_arr[e->depth])
		fprintf(e->f, "\"%s\":", key);
}

static void em_key(struct em *e, const char *key)
{
	if (e->json) {
		em_jkey(e, key);
		return;
	}
	if (e->cont[e->depth]) {
		fprintf(e->f, "\n%*s", 2 * e->tdepth, "");
		e->cont[e->depth] = false;
	} else {
		fputc(' ', e->f);
	}
	fprintf(e->f, "%s=", key);
}

static void em_obj(struct em *e, const char *key)
{
	if (e->json) {
		em_jkey(e, key);
		fputc('{', e->f);
	} else {
		if (e->tdepth > 0)
			fputc('\n', e->f);
		fprintf(e->f, "%*s", 2 * e->tdepth, "");
		if (e->in_arr[e->depth])
			fprintf(e->f, "%s[%u]", e->arr_key[e->depth], e->arr_idx[e->depth]++);
		else
			fputs(key, e->f);
		e->tdepth++;
	}
	em_push(e, false, NULL);
}

static void em_arr(struct em *e, const char *key)
{
	if (e->json) {
		em_jkey(e, key);
		fputc('[', e->f);
	}
	em_push(e, true, key);
}

static void em_close(struct em *e, bool arr)
{
	e->depth--;
	if (e->json) {
		fputc(arr ? ']' : '}', e->f);
		if (e->depth == 0)
			fputc('\n', e->f);
		return;
	}
	if (!arr)
		e->tdepth--;
	e->cont[e->depth] = true;
	if (e->depth == 0)
		fputc('\n', e->f);
}

static void em_end(struct em *e, bool arr)
{
	em_close(e, arr);
}

static void em_arr_end(struct em *e)
{
	em_close(e, true);
}

static void em_u64(struct em *e, const char *key, uint64_t v)
{
	em_key(e, key);
	fprintf(e->f, "%llu", (unsigned long long)v);
}

static void em_bool(struct em *e, const char *key, bool v)
{
	em_key(e, key);
	fputs(v ? "true" : "false", e->f);
}

/* Bytes as a string: JSON-escaped, or quoted with \xNN for the unprintable in text. */
static void em_bytes(struct em *e, const char *key, const void *p, size_t n)
{
	const uint8_t *s = p;
	em_key(e, key);
	fputc(e->json ? '"' : '\'', e->f);
	for (size_t i = 0; i < n; i++) {
		uint8_t c = s[i];
		if (e->json && (c == '"' || c == '\\'))
			fprintf(e->f, "\\%c", c);
		else if (c >= 0x20 && c <= 0x7E && (e->json || c != '\''))
			fputc(c, e->f);
		else if (e->json)
			fprintf(e->f, "\\u%04x", c);
		else
			fprintf(e->f, "\\x%02x", c);
	}
	fputc(e->json ? '"' : '\'', e->f);
}

static void em_str(struct em *e, const char *key, const char *s)
{
	if (e->json) {
		em_bytes(e, key, s, strlen(s));
	} else {
		em_key(e, key);
		fputs(s, e->f);
	}
}

/* ---- field layouts of DESIGN §3.2, for display ---- */

enum fkind {
	F_CODE,	  /* code */
	F_CODE_B, /* code, or blank */
	F_DIGITS,
	F_ALPHA,
	F_PRINT,    /* printable, may be blank */
	F_PRINT_NB, /* printable, not blank */
	F_U8,
	F_U16,
	F_U32,
	F_U64,
	F_DIR,	   /* u8 1|2 */
	F_DOCS,	   /* u8 0..8 */
	F_ITEMS,   /* u8 1..50 */
	F_DOCTYPE, /* u8 1..6 */
};

struct field {
	const char *name;
	uint8_t off, width, kind;
};

static const struct field decl_fields[] = {
    {"decl_no", 0, 18, F_CODE},	       {"declarant", 18, 18, F_CODE},
    {"owner", 36, 18, F_CODE_B},       {"transport_doc", 54, 20, F_PRINT},
    {"trade_country", 74, 2, F_ALPHA}, {"currency", 76, 3, F_ALPHA},
    {"direction", 79, 1, F_DIR},       {"trade_mode", 80, 2, F_U16},
    {"customs_port", 82, 2, F_U16},    {"transport_mode", 84, 1, F_U8},
    {"doc_count", 85, 1, F_DOCS},      {"item_count", 86, 1, F_ITEMS},
    {"total_value", 88, 8, F_U64},     {NULL, 0, 0, 0}};
static const struct field docref_fields[] = {
    {"doc_type", 0, 1, F_DOCTYPE}, {"doc_no", 1, 23, F_PRINT}, {NULL, 0, 0, 0}};
static const struct field item_fields[] = {
    {"hs", 0, 10, F_DIGITS}, {"origin", 10, 2, F_ALPHA},       {"quantity", 12, 4, F_U32},
    {"value", 16, 8, F_U64}, {"gross_weight_g", 24, 8, F_U64}, {NULL, 0, 0, 0}};
static const struct field manifest_fields[] = {{"transport_doc", 0, 20, F_PRINT_NB},
					       {"consignee", 20, 18, F_CODE_B},
					       {"conveyance", 38, 16, F_PRINT},
					       {"port_loading", 54, 5, F_PRINT},
					       {"port_discharge", 59, 5, F_PRINT},
					       {"item_count", 64, 1, F_ITEMS},
					       {NULL, 0, 0, 0}};
static const struct field mitem_fields[] = {{"hs4", 0, 4, F_DIGITS},
					    {"packages", 4, 4, F_U32},
					    {"gross_weight_g", 8, 8, F_U64},
					    {NULL, 0, 0, 0}};
static const struct field order_fields[] = {
    {"order_no", 0, 20, F_PRINT_NB}, {"platform", 20, 18, F_CODE}, {"currency", 38, 3, F_ALPHA},
    {"buyer", 48, 8, F_U64},	     {"amount", 56, 8, F_U64},	   {NULL, 0, 0, 0}};
static const struct field payment_fields[] = {{"order_no", 0, 20, F_PRINT_NB},
					      {"payment_no", 20, 20, F_PRINT},
					      {"buyer", 40, 8, F_U64},
					      {"amount", 48, 8, F_U64},
					      {NULL, 0, 0, 0}};
static const struct field waybill_fields[] = {{"order_no", 0, 20, F_PRINT_NB},
					      {"waybill_no", 20, 20, F_PRINT_NB},
					      {"carrier", 40, 18, F_CODE},
					      {NULL, 0, 0, 0}};
static const struct field list_fields[] = {{"list_no", 0, 18, F_CODE},
					   {"order_no", 18, 20, F_PRINT_NB},
					   {"waybill_no", 38, 20, F_PRINT},
					   {"ebiz", 58, 18, F_CODE},
					   {"currency", 76, 3, F_ALPHA},
					   {"item_count", 79, 1, F_ITEMS},
					   {"trade_mode", 80, 2, F_U16},
					   {"customs_port", 82, 2, F_U16},
					   {"buyer", 88, 8, F_U64},
					   {"total_value", 96, 8, F_U64},
					   {NULL, 0, 0, 0}};

struct layout {
	const struct field *fixed;
	unsigned fixed_len;
	int docs_at;  /* offset of doc_count in the body, or -1 */
	int items_at; /* offset of item_count, or -1 */
	const struct field *item;
	unsigned item_len;
};

static const struct layout *layout_of(uint8_t type)
{
	static const struct layout l[] = {
	    [CWP_DECL] = {decl_fields, CWP_DECL_FIXED, 85, 86, item_fields, CWP_ITEM_LEN},
	    [CWP_MANIFEST] = {manifest_fields, CWP_MANIFEST_FIXED, -1, 64, mitem_fields,
			      CWP_MANIFEST_ITEM_LEN},
	    [CWP_ORDER] = {order_fields, CWP_ORDER_LEN, -1, -1, NULL, 0},
	    [CWP_PAYMENT] = {payment_fields, CWP_PAYMENT_LEN, -1, -1, NULL, 0},
	    [CWP_WAYBILL] = {waybill_fields, CWP_WAYBILL_LEN, -1, -1, NULL, 0},
	    [CWP_LIST] = {list_fields, CWP_LIST_FIXED, -1, 79, item_fields, CWP_ITEM_LEN},
	};
	return type >= CWP_DECL && type <= CWP_LIST ? &l[type] : NULL;
}

static bool in_class(uint8_t c, enum fkind k)
{
	switch (k) {
	case F_DIGITS:
		return c >= '0' && c <= '9';
	case F_ALPHA:
		return c >= 'A' && c <= 'Z';
	default: /* code */
		return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z');
	}
}

/* The same reading as the codec: class characters, then only spaces (docs/protocol.md). */
static bool field_ok(const uint8_t *p, const struct field *f)
{
	unsigned n = f->width, i = 0;
	bool blank = true, print = true;
	for (unsigned j = 0; j < n; j++) {
		blank &= p[j] == ' ';
		print &= p[j] >= 0x20 && p[j] <= 0x7E;
	}
	switch (f->kind) {
	case F_PRINT:
		return print;
	case F_PRINT_NB:
		return print && !blank;
	case F_CODE_B:
		if (blank)
			return true;
		/* fall through */
	case F_CODE:
	case F_DIGITS:
	case F_ALPHA:
		while (i < n && in_class(p[i], f->kind))
			i++;
		if (i == 0)
			return false;
		while (i < n && p[i] == ' ')
			i++;
		return i == n;
	case F_DIR:
		return p[0] == CWP_IMPORT || p[0] == CWP_EXPORT;
	case F_DOCS:
		return p[0] <= CWP_MAX_DOCS;
	case F_ITEMS:
		return p[0] >= 1 && p[0] <= CWP_MAX_ITEMS;
	case F_DOCTYPE:
		return p[0] >= CWP_DOC_LICENCE && p[0] <= CWP_DOC_CITES;
	default:
		return true;
	}
}

static uint64_t field_uint(const uint8_t *p, unsigned width)
{
	switch (width) {
	case 1:
		return p[0];
	case 2:
		return cwp_ld16(p);
	case 4:
		return cwp_ld32(p);
	default:
		return cwp_ld64(p);
	}
}

/* Emits the fields of one record; names of the fields outside their class go to bad (text). */
static unsigned emit_fields(struct em *e, const uint8_t *p, const struct field *fs,
			    const char *prefix, char *bad, size_t bad_cap)
{
	unsigned nbad = 0;
	for (const struct field *f = fs; f->name; f++) {
		if (f->kind <= F_PRINT_NB)
			em_bytes(e, f->name, p + f->off, f->width);
		else if (f->kind == F_DOCTYPE && field_ok(p + f->off, f))
			em_str(e, f->name, cwp_doc_name(p[f->off]));
		else
			em_u64(e, f->name, field_uint(p + f->off, f->width));
		if (!field_ok(p + f->off, f)) {
			size_t used = strlen(bad);
			snprintf(bad + used, bad_cap - used, "%s%s%s", used ? "," : "", prefix,
				 f->name);
			nbad++;
		}
	}
	return nbad;
}

static void emit_array(struct em *e, const char *key, const uint8_t *p, unsigned n,
		       unsigned rec_len, const struct field *fs, const char *pfx, char *bad,
		       size_t bad_cap)
{
	em_arr(e, key);
	for (unsigned i = 0; i < n; i++) {
		char prefix[32];
		snprintf(prefix, sizeof(prefix), "%s[%u].", pfx, i);
		em_obj(e, NULL);
		emit_fields(e, p + (size_t)i * rec_len, fs, prefix, bad, bad_cap);
		em_end(e, false);
	}
	em_arr_end(e);
}

/* All the fields the body holds, even when it was rejected (as far as the bytes go). */
static void emit_body(struct em *e, const struct cwp_raw_msg *raw)
{
	const struct layout *l = layout_of(raw->type);
	if (!l || raw->body_len < l->fixed_len)
		return;
	const uint8_t *b = raw->body;
	char bad[512] = "";
	em_obj(e, "fields");
	emit_fields(e, b, l->fixed, "", bad, sizeof(bad));
	em_end(e, false);
	unsigned off = l->fixed_len;
	if (l->docs_at >= 0) {
		unsigned n = b[l->docs_at];
		if (n > CWP_MAX_DOCS)
			n = CWP_MAX_DOCS;
		unsigned fit = (raw->body_len - off) / CWP_DOCREF_LEN;
		n = n < fit ? n : fit;
		emit_array(e, "docs", b + off, n, CWP_DOCREF_LEN, docref_fields, "docs", bad,
			   sizeof(bad));
		off += n * CWP_DOCREF_LEN;
	}
	if (l->items_at >= 0) {
		unsigned n = b[l->items_at];
		if (n > CWP_MAX_ITEMS)
			n = CWP_MAX_ITEMS;
		unsigned fit = (raw->body_len - off) / l->item_len;
		n = n < fit ? n : fit;
		emit_array(e, "items", b + off, n, l->item_len, l->item, "items", bad, sizeof(bad));
	}
	if (bad[0])
		em_str(e, "bad_fields", bad);
}

/* ---- counters for the summary ---- */

struct summary {
	uint64_t frames, requests, responses;
	uint64_t frame_drops[FRAME_DROP_NUM];
	uint64_t dgram_drops[CWP_DG_NUM_ERRS];
	uint64_t resp_bad;
	uint64_t msgs_by_type[256];
	uint64_t framing_broken;
	uint64_t rejects[CWP_NUM_REJECTS];
	uint64_t verdicts[4]; /* by status, 3 = other */
	uint64_t verdicts_bad;
};

/* ---- requests ---- */

static void emit_type(struct em *e, uint8_t type)
{
	char hex[8];
	snprintf(hex, sizeof(hex), "0x%02x", type);
	em_str(e, "type", hex);
	const char *n = cwp_type_name(type);
	em_str(e, "type_name", *n ? n : "unknown");
}

static void decode_request(struct em *e, struct summary *s, const uint8_t *p, size_t len)
{
	struct cwp_dgram_hdr h = {0};
	enum cwp_dgram_err de = cwp_parse_dgram_hdr(p, len, &h);
	s->requests++;
	em_obj(e, "datagram");
	em_str(e, "dir", "request");
	em_u64(e, "len", len);
	if (de != CWP_DG_SHORT) {
		em_bytes(e, "magic", p, 4);
		em_u64(e, "count", h.count);
		em_u64(e, "flags", h.flags);
		em_u64(e, "sender", h.sender_id);
		em_u64(e, "seq", h.seq);
	}
	if (de != CWP_DG_OK) {
		em_str(e, "drop", cwp_dgram_err_name(de));
		s->dgram_drops[de]++;
		em_end(e, false);
		return;
	}
	em_end(e, false);

	struct cwp_reader r;
	struct cwp_raw_msg raw;
	enum cwp_frame_result fr;
	cwp_reader_init(&r, p, len, &h);
	em_arr(e, "messages");
	unsigned k = 0;
	while ((fr = cwp_reader_next(&r, &raw)) != CWP_FRAME_END) {
		char ref[CWP_REF_LEN];
		em_obj(e, NULL);
		em_u64(e, "k", k++);
		em_u64(e, "seq", raw.seq);
		emit_type(e, raw.type);
		s->msgs_by_type[raw.type]++;
		if (fr == CWP_FRAME_BROKEN) {
			memset(ref, ' ', sizeof(ref));
			em_bytes(e, "ref", ref, sizeof(ref));
			em_str(e, "reject", "MALFORMED");
			em_str(e, "at", "framing");
			s->framing_broken++;
			s->rejects[CWP_REJ_MALFORMED]++;
			em_end(e, false);
			break;
		}
		em_u64(e, "length", raw.length);
		cwp_ref_of(&raw, ref);
		em_bytes(e, "ref", ref, sizeof(ref));
		struct cwp_msg m;
		enum cwp_reject rej = cwp_decode_body(&raw, &m);
		em_str(e, "reject", rej == CWP_OK ? "OK" : cwp_reject_name(rej));
		if (rej != CWP_OK)
			em_str(e, "at", "body");
		s->rejects[rej]++;
		emit_body(e, &raw);
		em_end(e, false);
	}
	em_arr_end(e);
	/* Bytes after the last counted message are ignored by the gateway; show that they exist. */
	if (r.off < len && fr == CWP_FRAME_END && r.k == h.count && r.off <= len)
		em_u64(e, "trailing_bytes", len - r.off);
}

/* ---- responses ---- */

static void emit_verdict(struct em *e, struct summary *s, const struct cwp_verdict *v)
{
	em_u64(e, "msg_seq", v->msg_seq);
	emit_type(e, v->msg_type);
	const char *st = cwp_status_name(v->status);
	em_str(e, "status", *st ? st : "unknown");
	s->verdicts[v->status < 3 ? v->status : 3]++;
	em_str(e, "mode", *cwp_mode_name(v->mode) ? cwp_mode_name(v->mode) : "unknown");
	em_bool(e, "duplicate", v->flags & CWP_VFLAG_DUPLICATE);
	em_bool(e, "green", v->flags & CWP_VFLAG_GREEN);
	if (v->flags & ~(CWP_VFLAG_DUPLICATE | CWP_VFLAG_GREEN))
		em_u64(e, "flags", v->flags);
	const char *rj = cwp_reject_name(v->reject_code);
	if (v->reject_code)
		em_str(e, "reject", *rj ? rj : "unknown");
	em_u64(e, "ruleset_version", v->ruleset_version);
	em_bytes(e, "ref", v->ref, CWP_REF_LEN);
	em_u64(e, "reason_count", v->reason_count);
	unsigned n = v->reason_count < CWP_MAX_REASONS ? v->reason_count : CWP_MAX_REASONS;
	em_arr(e, "reasons");
	for (unsigned i = 0; i < n; i++) {
		const struct cwp_reason *r = &v->reasons[i];
		em_obj(e, NULL);
		const char *rn = cwp_reason_name(r->code);
		em_str(e, "code", *rn ? rn : "unknown");
		if (r->item == CWP_ITEM_HDR)
			em_str(e, "item", "hdr");
		else
			em_u64(e, "item", r->item);
		em_u64(e, "rule_id", r->rule_id);
		em_end(e, false);
	}
	em_arr_end(e);
}

static void decode_response(struct em *e, struct summary *s, const uint8_t *p, size_t len)
{
	s->responses++;
	em_obj(e, "datagram");
	em_str(e, "dir", "response");
	em_u64(e, "len", len);
	struct cwp_dgram_hdr h = {0};
	const char *bad = NULL;
	enum cwp_dgram_err de = cwp_parse_dgram_hdr(p, len, &h);
	if (de == CWP_DG_SHORT)
		bad = "SHORT";
	else if (de == CWP_DG_MAGIC)
		bad = "MAGIC";
	else if (h.count == 0 || h.count > CWP_MAX_MSGS)
		bad = "COUNT";
	else if (h.flags != CWP_FLAG_RESPONSE)
		bad = "FLAGS";
	else if (h.seq != 0)
		bad = "SEQ";
	if (de != CWP_DG_SHORT) {
		em_bytes(e, "magic", p, 4);
		em_u64(e, "count", h.count);
		em_u64(e, "flags", h.flags);
		em_u64(e, "sender", h.sender_id);
		em_u64(e, "seq", h.seq);
	}
	if (bad) {
		em_str(e, "invalid", bad);
		s->resp_bad++;
		em_end(e, false);
		return;
	}
	em_end(e, false);
	struct cwp_reader r;
	struct cwp_raw_msg raw;
	enum cwp_frame_result fr;
	cwp_reader_init(&r, p, len, &h);
	em_arr(e, "verdicts");
	while ((fr = cwp_reader_next(&r, &raw)) != CWP_FRAME_END) {
		struct cwp_verdict v;
		em_obj(e, NULL);
		if (fr == CWP_FRAME_BROKEN || !cwp_get_verdict(raw.msg, raw.length, &v)) {
			emit_type(e, raw.type);
			em_u64(e, "length", raw.length);
			em_str(e, "invalid", fr == CWP_FRAME_BROKEN ? "framing" : "not a VERDICT");
			s->verdicts_bad++;
		} else {
			emit_verdict(e, s, &v);
		}
		em_end(e, false);
	}
	em_arr_end(e);
}

/* ---- frames ---- */

static void emit_addr(struct em *e, const char *key, bool v6, const uint8_t *ip)
{
	char buf[INET6_ADDRSTRLEN];
	inet_ntop(v6 ? AF_INET6 : AF_INET, ip, buf, sizeof(buf));
	em_str(e, key, buf);
}

static void emit_mac(struct em *e, const char *key, const uint8_t *m)
{
	char buf[18];
	snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
		 m[5]);
	em_str(e, key, buf);
}

static void decode_frame(struct em *e, struct summary *s, uint16_t port, uint64_t no,
			 const uint8_t *data, size_t len, uint64_t ts)
{
	struct frame_info fi;
	memset(&fi, 0, sizeof(fi));
	s->frames++;
	enum frame_drop d = frame_parse(data, len, port, 0, &fi);
	bool response = false;
	if (d == FRAME_DROP_PORT && fi.src_port == port) {
		d = frame_parse(data, len, fi.dst_port, 0, &fi);
		response = true;
	}
	em_obj(e, "frame");
	em_u64(e, "no", no);
	em_u64(e, "len", len);
	em_u64(e, "ts_us", ts);
	if (d != FRAME_DROP_L2 || len >= 14) {
		em_obj(e, "eth");
		emit_mac(e, "src", fi.src_mac);
		emit_mac(e, "dst", fi.dst_mac);
		if (fi.has_vlan) {
			em_u64(e, "vlan", fi.vlan_tci & 0x0FFF);
			em_u64(e, "pcp", fi.vlan_tci >> 13);
		}
		em_end(e, false);
	}
	if (d != FRAME_DROP_L2 && d != FRAME_DROP_L3) {
		em_obj(e, "ip");
		em_u64(e, "version", fi.ipv6 ? 6 : 4);
		emit_addr(e, "src", fi.ipv6, fi.src_ip);
		emit_addr(e, "dst", fi.ipv6, fi.dst_ip);
		em_u64(e, "hdr_len", fi.ip_hdr_len);
		em_end(e, false);
	}
	if (d == FRAME_OK || d == FRAME_DROP_PORT || d == FRAME_DROP_UDP_CSUM) {
		em_obj(e, "udp");
		em_u64(e, "src_port", fi.src_port);
		em_u64(e, "dst_port", fi.dst_port);
		em_u64(e, "payload_len", fi.payload_len);
		em_end(e, false);
	}
	if (d != FRAME_OK) {
		em_str(e, "drop", frame_drop_name(d));
		s->frame_drops[d]++;
	} else if (response) {
		decode_response(e, s, fi.payload, fi.payload_len);
	} else {
		decode_request(e, s, fi.payload, fi.payload_len);
	}
	em_end(e, false);
}

/* ---- summary ---- */

static void emit_counts(struct em *e, const char *key, const uint64_t *c, unsigned n,
			const char *(*name)(unsigned), unsigned from)
{
	bool any = false;
	for (unsigned i = from; i < n; i++)
		any |= c[i] != 0;
	if (!any && !e->json)
		return;
	em_obj(e, key);
	for (unsigned i = from; i < n; i++)
		if (c[i])
			em_u64(e, name(i), c[i]);
	em_end(e, false);
}

static const char *frame_drop_n(unsigned i)
{
	return frame_drop_name((enum frame_drop)i);
}
static const char *dgram_err_n(unsigned i)
{
	return cwp_dgram_err_name((enum cwp_dgram_err)i);
}
static const char *reject_n(unsigned i)
{
	return i == 0 ? "OK" : cwp_reject_name((uint16_t)i);
}
static const char *status_n(unsigned i)
{
	return i < 3 ? cwp_status_name((uint8_t)i) : "other";
}
static const char *type_n(unsigned i)
{
	static char buf[256][8];
	const char *n = cwp_type_name((uint8_t)i);
	if (*n)
		return n;
	snprintf(buf[i], sizeof(buf[i]), "0x%02x", i);
	return buf[i];
}

static void emit_summary(struct em *e, const struct summary *s)
{
	if (e->json)
		em_obj(e, NULL); /* {"summary": {...}} */
	em_obj(e, "summary");
	em_u64(e, "frames", s->frames);
	em_u64(e, "request_datagrams", s->requests);
	em_u64(e, "response_datagrams", s->responses);
	emit_counts(e, "frame_drops", s->frame_drops, FRAME_DROP_NUM, frame_drop_n, 1);
	emit_counts(e, "datagram_drops", s->dgram_drops, CWP_DG_NUM_ERRS, dgram_err_n, 1);
	emit_counts(e, "messages", s->msgs_by_type, 256, type_n, 0);
	em_u64(e, "framing_broken", s->framing_broken);
	emit_counts(e, "results", s->rejects, CWP_NUM_REJECTS, reject_n, 0);
	emit_counts(e, "verdicts", s->verdicts, 4, status_n, 0);
	if (s->resp_bad || s->verdicts_bad) {
		em_u64(e, "invalid_responses", s->resp_bad);
		em_u64(e, "invalid_verdicts", s->verdicts_bad);
	}
	em_end(e, false);
	if (e->json)
		em_end(e, false);
}

/* ---- command ---- */

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: cwctl decode --in X.pcap [--json] [--port N]\n"
	    "\n"
	    "Decodes every frame of a capture as the gateway would see it (DESIGN §3): the\n"
	    "Ethernet/IP/UDP layers or the drop cause, the CWP/1 datagram header or its drop "
	    "cause,\n"
	    "and each message with its fields or the reject it gets at framing or body level\n"
	    "(sessions and senders are not applied). Frames to port N are requests; frames from\n"
	    "port N are responses, whose VERDICT messages are decoded. A summary ends the output.\n"
	    "\n"
	    "  --in FILE   pcap capture (Ethernet)\n"
	    "  --json      one JSON object per frame (JSON Lines), then one {\"summary\": ...}\n"
	    "  --port N    the gateway's UDP port (default %d)\n"
	    "\n"
	    "exit: 0 ok, 1 unreadable capture, 2 usage, 3 file cannot be opened\n",
	    CWP_DEFAULT_PORT);
}

int cmd_decode(int argc, char **argv)
{
	static const struct option opts[] = {{"in", required_argument, NULL, 'i'},
					     {"json", no_argument, NULL, 'j'},
					     {"port", required_argument, NULL, 'p'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	const char *in_path = NULL;
	bool json = false;
	long port = CWP_DEFAULT_PORT;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		char *end;
		switch (c) {
		case 'i':
			in_path = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'p':
			errno = 0;
			port = strtol(optarg, &end, 10);
			if (errno || *end || port < 1 || port > 65535) {
				fprintf(stderr, "cwctl decode: bad --port '%s'\n", optarg);
				return CWCTL_USAGE;
			}
			break;
		case 'h':
			usage(stdout);
			return CWCTL_OK;
		default:
			fprintf(stderr, "cwctl decode: unknown or incomplete option '%s'\n",
				argv[optind - 1]);
			usage(stderr);
			return CWCTL_USAGE;
		}
	}
	if (!in_path || optind < argc) {
		usage(stderr);
		return CWCTL_USAGE;
	}
	FILE *probe = fopen(in_path, "rb");
	if (!probe) {
		fprintf(stderr, "cwctl decode: %s: %s\n", in_path, strerror(errno));
		return CWCTL_ENV;
	}
	fclose(probe);
	char err[256];
	struct pcap_in *in = pcapin_open(in_path, err);
	if (!in) {
		fprintf(stderr, "cwctl decode: %s\n", err);
		return CWCTL_BAD;
	}

	static struct summary s;
	memset(&s, 0, sizeof(s));
	struct em e = {.f = stdout, .json = json};
	const uint8_t *data;
	size_t len;
	uint64_t ts, no = 0;
	int rc;
	while ((rc = pcapin_next(in, &data, &len, &ts)) == 1)
		decode_frame(&e, &s, (uint16_t)port, ++no, data, len, ts);
	pcapin_close(in);
	emit_summary(&e, &s);
	if (rc < 0) {
		fprintf(stderr, "cwctl decode: %s: read error after frame %llu\n", in_path,
			(unsigned long long)no);
		return CWCTL_BAD;
	}
	return fflush(stdout) == 0 ? CWCTL_OK : CWCTL_ENV;
}
