/*
 * fuzz_dgram.c - libFuzzer target: arbitrary bytes as a CWP/1 datagram (DESIGN §3.4 steps 1,
 * 2a, 2c) through the datagram header, the reader, the body decoder, the ref, and the verdict
 * codec.
 *
 * Why this file exists: every byte of a datagram comes from the network. Besides "no crash, no
 * read out of bounds, no UB" (ASan, UBSan), the target checks what must hold for any input: views
 * stay inside the datagram, refs are printable, and a body that decodes re-encodes to the same
 * bytes (reserved bytes aside) with the tools' encoders, so decoder and encoders cannot drift.
 *
 * `fuzz_dgram --seeds IN.pcap... DIR` writes the UDP payloads of captures as seeds (seeds.h).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/wire/cwp.h"
#include "tests/fuzz/seeds.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	seeds_mode(argc, argv, 1);
	return 0;
}

static const uint8_t *lo, *hi;

static void in_range(const void *p, size_t n)
{
	const uint8_t *b = p;
	CHECK(b >= lo && b + n <= hi);
}

static void cpy(char *dst, const char *src, size_t n)
{
	memcpy(dst, src, n);
	dst[n] = 0;
}

static void item_in(const uint8_t *items, unsigned i, struct cwp_item_in *it)
{
	struct cwp_item_view v;
	cwp_item_at(items, i, &v);
	in_range(v.hs, CWP_ITEM_LEN);
	cpy(it->hs, v.hs, 10);
	cpy(it->origin, v.origin, 2);
	it->quantity = v.quantity;
	it->value = v.value;
	it->gross_weight_g = v.gross_weight_g;
}

/* Re-encodes a decoded message; returns its length. */
static size_t reencode(const struct cwp_msg *m, uint8_t *out, size_t cap)
{
	switch (m->type) {
	case CWP_DECL: {
		static struct cwp_decl_in d;
		const struct cwp_decl *v = &m->u.decl;
		memset(&d, 0, sizeof(d));
		cpy(d.decl_no, v->decl_no, 18);
		cpy(d.declarant, v->declarant, 18);
		cpy(d.owner, v->owner, 18);
		cpy(d.transport_doc, v->transport_doc, 20);
		cpy(d.trade_country, v->trade_country, 2);
		cpy(d.currency, v->currency, 3);
		d.direction = v->direction;
		d.trade_mode = v->trade_mode;
		d.customs_port = v->customs_port;
		d.transport_mode = v->transport_mode;
		d.doc_count = v->doc_count;
		d.item_count = v->item_count;
		d.total_value = v->total_value;
		uint8_t mask = 0;
		for (unsigned i = 0; i < v->doc_count; i++) {
			in_range(v->docs + 24 * i, 24);
			d.docs[i].doc_type = v->docs[24 * i];
			cpy(d.docs[i].doc_no, (const char *)v->docs + 24 * i + 1, 23);
			mask |= (uint8_t)(1u << v->docs[24 * i]);
		}
		CHECK(mask == v->docs_mask);
		for (unsigned i = 0; i < v->item_count; i++)
			item_in(v->items, i, &d.items[i]);
		return cwp_put_decl(out, cap, &d);
	}
	case CWP_MANIFEST: {
		static struct cwp_manifest_in mi;
		const struct cwp_manifest *v = &m->u.manifest;
		memset(&mi, 0, sizeof(mi));
		cpy(mi.transport_doc, v->transport_doc, 20);
		cpy(mi.consignee, v->consignee, 18);
		cpy(mi.conveyance, v->conveyance, 16);
		cpy(mi.port_loading, v->port_loading, 5);
		cpy(mi.port_discharge, v->port_discharge, 5);
		mi.item_count = v->item_count;
		for (unsigned i = 0; i < v->item_count; i++) {
			in_range(v->items + 16 * i, 16);
			cwp_manifest_item_at(v->items, i, mi.items[i].hs4, &mi.items[i].packages,
					     &mi.items[i].gross_weight_g);
			mi.items[i].hs4[4] = 0;
		}
		return cwp_put_manifest(out, cap, &mi);
	}
	case CWP_ORDER: {
		struct cwp_order_in o;
		cpy(o.order_no, m->u.order.order_no, 20);
		cpy(o.platform, m->u.order.platform, 18);
		cpy(o.currency, m->u.order.currency, 3);
		o.buyer = m->u.order.buyer;
		o.amount = m->u.order.amount;
		return cwp_put_order(out, cap, &o);
	}
	case CWP_PAYMENT: {
		struct cwp_payment_in p;
		cpy(p.order_no, m->u.payment.order_no, 20);
		cpy(p.payment_no, m->u.payment.payment_no, 20);
		p.buyer = m->u.payment.buyer;
		p.amount = m->u.payment.amount;
		return cwp_put_payment(out, cap, &p);
	}
	case CWP_WAYBILL: {
		struct cwp_waybill_in w;
		cpy(w.order_no, m->u.waybill.order_no, 20);
		cpy(w.waybill_no, m->u.waybill.waybill_no, 20);
		cpy(w.carrier, m->u.waybill.carrier, 18);
		return cwp_put_waybill(out, cap, &w);
	}
	case CWP_LIST: {
		static struct cwp_list_in l;
		const struct cwp_list *v = &m->u.list;
		memset(&l, 0, sizeof(l));
		cpy(l.list_no, v->list_no, 18);
		cpy(l.order_no, v->order_no, 20);
		cpy(l.waybill_no, v->waybill_no, 20);
		cpy(l.ebiz, v->ebiz, 18);
		cpy(l.currency, v->currency, 3);
		l.item_count = v->item_count;
		l.trade_mode = v->trade_mode;
		l.customs_port = v->customs_port;
		l.buyer = v->buyer;
		l.total_value = v->total_value;
		for (unsigned i = 0; i < v->item_count; i++)
			item_in(v->items, i, &l.items[i]);
		return cwp_put_list(out, cap, &l);
	}
	}
	__builtin_trap();
}

/* Body offsets of reserved bytes, which the encoders write as zero. */
static void clear_reserved(uint8_t type, uint8_t *msg)
{
	uint8_t *b = msg + CWP_MSG_HDR_LEN;
	msg[1] = 0;
	switch (type) {
	case CWP_DECL:
		b[87] = 0;
		break;
	case CWP_MANIFEST:
		memset(b + 65, 0, 7);
		break;
	case CWP_ORDER:
		memset(b + 41, 0, 7);
		break;
	case CWP_WAYBILL:
		memset(b + 58, 0, 6);
		break;
	case CWP_LIST:
		memset(b + 84, 0, 4);
		break;
	}
}

static void check_msg(const struct cwp_raw_msg *raw)
{
	static uint8_t orig[65536], again[65536];
	struct cwp_msg m;
	char ref[CWP_REF_LEN];
	in_range(raw->msg, raw->length);
	cwp_ref_of(raw, ref);
	for (int i = 0; i < CWP_REF_LEN; i++)
		CHECK(ref[i] >= 0x20 && ref[i] <= 0x7E);
	enum cwp_reject rej = cwp_decode_body(raw, &m);
	CHECK(rej == CWP_OK || rej == CWP_REJ_MALFORMED || rej == CWP_REJ_UNSUPPORTED ||
	      rej == CWP_REJ_BAD_FIELD);
	if (rej != CWP_OK)
		return;
	CHECK(m.seq == raw->seq && m.type == raw->type);
	CHECK(memcmp(ref, raw->body, m.type == CWP_DECL || m.type == CWP_LIST ? 18 : 20) == 0);
	size_t n = reencode(&m, again, sizeof(again));
	CHECK(n == raw->length);
	memcpy(orig, raw->msg, n);
	clear_reserved(m.type, orig);
	CHECK(memcmp(orig, again, n) == 0);
}

static void check_verdict(const uint8_t *data, size_t size)
{
	struct cwp_verdict v;
	uint8_t again[CWP_VERDICT_MSG_LEN], orig[CWP_VERDICT_MSG_LEN];
	if (!cwp_get_verdict(data, size, &v))
		return;
	cwp_put_verdict(again, &v);
	/* the same bytes, except reserved ones and reasons past reason_count (sent as zero) */
	memcpy(orig, data, sizeof(orig));
	orig[1] = 0;
	orig[4 + 15] = 0;
	for (unsigned i = v.reason_count; i < CWP_MAX_REASONS; i++)
		memset(orig + 4 + 40 + 8 * i, 0, 8);
	CHECK(memcmp(orig, again, sizeof(orig)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cwp_dgram_hdr h;
	lo = data;
	hi = data + size;
	enum cwp_dgram_err e = cwp_parse_dgram_hdr(data, size, &h);
	CHECK(e >= CWP_DG_OK && e < CWP_DG_NUM_ERRS);
	if (e != CWP_DG_OK) {
		if (size < CWP_DGRAM_HDR_LEN)
			return 0;
		/* walk the messages anyway: the reader must be safe on any header it is given */
		h.count = (uint16_t)(1 + h.count % CWP_MAX_MSGS);
		h.seq = 1;
	}
	struct cwp_reader r;
	struct cwp_raw_msg raw;
	enum cwp_frame_result fr;
	unsigned k = 0;
	cwp_reader_init(&r, data, size, &h);
	while ((fr = cwp_reader_next(&r, &raw)) != CWP_FRAME_END) {
		CHECK(k < h.count && raw.seq == h.seq + k);
		k++;
		if (fr == CWP_FRAME_BROKEN) {
			char ref[CWP_REF_LEN];
			cwp_ref_of(&raw, ref);
			CHECK(memcmp(ref, "                    ", CWP_REF_LEN) == 0);
			CHECK(cwp_reader_next(&r, &raw) == CWP_FRAME_END);
			break;
		}
		check_msg(&raw);
		if (raw.type == CWP_VERDICT)
			check_verdict(raw.msg, raw.length);
	}
	if (size >= CWP_VERDICT_MSG_LEN)
		check_verdict(data, size);
	return 0;
}
