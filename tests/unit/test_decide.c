/*
 * test_decide.c - the decision (DESIGN §4) and sessions (§3.5), one behaviour per test, through
 * the engine's public interface with real DPDK tables; and a randomized property test of the
 * ACL/LPM tables against the plain linear evaluation of the same rules.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/engine.h"
#include "rules/siphash.h"
#include "rules/tables.h"
#include "tests/unit/testutil.h"

#define HDR	  "version 7\nsalt 00112233445566778899aabbccddeeff\n"
#define DECLARANT "91310000MA1FL0000X"
#define OWNER	  "91310000MA1FL0001Y"
static const uint8_t SRC[4] = {10, 1, 2, 3};

static struct cw_engine *eng;
static struct cw_ctx *ctx;
static uint64_t next_seq = 1000;

static void setup_rules(const char *text)
{
	char err[256];
	struct cw_engine_config cfg;
	cw_engine_config_defaults(&cfg);
	cfg.max_workers = 2;
	cfg.replay_window = 64;
	cfg.manifest_capacity = 4;
	cfg.ecom_capacity = 64;
	cfg.buyer_capacity = 64;
	cfg.registry_capacity = 1024;
	eng = cw_engine_create(&cfg, err, sizeof(err));
	ck_assert_msg(eng != NULL, "%s", err);
	if (text) {
		struct cw_parse_error ev[4];
		struct cw_parse_errors errs = {.v = ev, .cap = 4};
		struct cw_ruleset *rs = cw_ruleset_parse(text, strlen(text), &errs);
		ck_assert_msg(rs != NULL, "%u:%u %s", ev[0].line, ev[0].column, ev[0].msg);
		struct cw_snapshot *s = cw_snapshot_build(rs, err, sizeof(err));
		ck_assert_msg(s != NULL, "%s", err);
		cw_engine_publish(eng, s, false);
	}
	ck_assert_int_eq(cw_sender_set(eng, 9, "10.1.0.0/16", "t", err, sizeof(err)), 0);
	ctx = cw_ctx_create(eng, 0);
	ck_assert_ptr_nonnull(ctx);
}

static void teardown(void)
{
	cw_ctx_destroy(ctx);
	cw_engine_destroy(eng);
	ctx = NULL;
	eng = NULL;
}

/* Sends one datagram of already-encoded messages; returns the verdict count. */
static unsigned send_seq(uint64_t seq, const uint8_t *msgs, size_t len, unsigned count,
			 struct cwp_verdict *v)
{
	uint8_t dg[16384];
	cwp_put_dgram_hdr(dg, (uint16_t)count, 0, 9, seq);
	memcpy(dg + CWP_DGRAM_HDR_LEN, msgs, len);
	uint16_t n = 0;
	cw_burst_begin(ctx);
	enum cw_drop d = cw_burst_add(ctx, dg, CWP_DGRAM_HDR_LEN + len, SRC, false, v, &n, NULL);
	cw_burst_end(ctx);
	cw_ctx_quiescent(ctx);
	ck_assert_int_eq(d, CW_DROP_NONE);
	return n;
}

static unsigned send1(const uint8_t *msg, size_t len, struct cwp_verdict *v)
{
	unsigned n = send_seq(next_seq, msg, len, 1, v);
	next_seq++;
	return n;
}

static void base_decl(struct cwp_decl_in *d, const char *hs)
{
	memset(d, 0, sizeof(*d));
	strcpy(d->decl_no, "D00000000000000001");
	strcpy(d->declarant, DECLARANT);
	strcpy(d->owner, OWNER);
	strcpy(d->trade_country, "DE");
	strcpy(d->currency, "CNY");
	d->direction = CWP_IMPORT;
	d->trade_mode = 110;
	d->customs_port = 2201;
	d->transport_mode = 2;
	d->item_count = 1;
	d->total_value = 100000;
	strcpy(d->items[0].hs, hs);
	strcpy(d->items[0].origin, "DE");
	d->items[0].quantity = 10;
	d->items[0].value = 100000;
	d->items[0].gross_weight_g = 1000;
}

static struct cwp_verdict decide_decl(const struct cwp_decl_in *d)
{
	uint8_t buf[4096];
	struct cwp_verdict v[CWP_MAX_MSGS];
	size_t len = cwp_put_decl(buf, sizeof(buf), d);
	ck_assert_uint_gt(len, 0);
	ck_assert_uint_eq(send1(buf, len, v), 1);
	return v[0];
}

static void expect_reason(const struct cwp_verdict *v, unsigned k, uint16_t code, uint16_t item,
			  uint32_t rule)
{
	ck_assert_uint_gt(v->reason_count, k);
	ck_assert_uint_eq(v->reasons[k].code, code);
	ck_assert_uint_eq(v->reasons[k].item, item);
	ck_assert_uint_eq(v->reasons[k].rule_id, rule);
}

START_TEST(class_baseline_unknown_supervise)
{
	setup_rules(HDR);
	struct cwp_decl_in d;
	base_decl(&d, "8471300000");
	struct cwp_verdict v = decide_decl(&d);
	ck_assert_uint_eq(v.status, CWP_DECIDED);
	ck_assert_uint_eq(v.mode, CWP_MODE_SUPERVISE); /* unknown declarant */
	ck_assert_uint_eq(v.reason_count, 1);
	expect_reason(&v, 0, CWP_RSN_CLASS, CWP_ITEM_HDR, 0);
	ck_assert_uint_eq(v.ruleset_version, 7);
	cw_registry_set(eng, DECLARANT, CW_CLS_GOOD);
	v = decide_decl(&d);
	ck_assert_uint_eq(v.mode, CWP_MODE_DECLARE);
	teardown();
}
END_TEST

START_TEST(profile_docs_and_green)
{
	setup_rules(HDR "profile 02 mode sample docs QUARANTINE\nprofile 0201 mode verify\n"
			"profile 28 mode verify strict\n");
	cw_registry_set(eng, DECLARANT, CW_CLS_GOOD);
	struct cwp_decl_in d;
	base_decl(&d, "0201100000"); /* longest prefix 0201: verify, no docs needed */
	struct cwp_verdict v = decide_decl(&d);
	ck_assert_uint_eq(v.mode, CWP_MODE_VERIFY);
	expect_reason(&v, 0, CWP_RSN_PROFILE, 0, 0);
	base_decl(&d, "0203100000"); /* profile 02: QUARANTINE missing */
	v = decide_decl(&d);
	ck_assert_uint_eq(v.mode, CWP_MODE_SUPERVISE);
	expect_reason(&v, 0, CWP_RSN_DOC_MISSING, 0, 0);
	d.doc_count = 1;
	d.docs[0].doc_type = CWP_DOC_QUARANTINE;
	strcpy(d.docs[0].doc_no, "Q1");
	v = decide_decl(&d);
	ck_assert_uint_eq(v.mode, CWP_MODE_SAMPLE);
	/* green channel: import with a third-party certificate skips the non-strict profile */
	d.doc_count = 2;
	d.docs[1].doc_type = CWP_DOC_THIRD_PARTY_CERT;
	strcpy(d.docs[1].doc_no, "CNAS1");
	v = decide_decl(&d);
	ck_assert_uint_eq(v.flags & CWP_VFLAG_GREEN, CWP_VFLAG_GREEN);
	ck_assert_uint_eq(v.mode, CWP_MODE_VERIFY);
	expect_reason(&v, 0, CWP_RSN_DOC_VERIFY, 0, 0);
	/* a strict profile keeps counting on the green channel */
	base_decl(&d, "2801000000");
	d.doc_count = 1;
	d.docs[0].doc_type = CWP_DOC_THIRD_PARTY_CERT;
	strcpy(d.docs[0].doc_no, "CNAS1");
	v = decide_decl(&d);
	ck_assert_uint_eq(v.flags & CWP_VFLAG_GREEN, CWP_VFLAG_GREEN);
	ck_assert_uint_eq(v.mode, CWP_MODE_VERIFY);
	expect_reason(&v, 0, CWP_RSN_PROFILE, 0, 0);
	/* a dishonest declarant never gets the green channel */
	cw_registry_set(eng, DECLARANT, CW_CLS_DISHONEST);
	v = decide_decl(&d);
	ck_assert_uint_eq(v.flags & CWP_VFLAG_GREEN, 0);
	teardown();
}
END_TEST

START_TEST(target_tie_break)
{
	setup_rules(HDR "class unknown mode declare\n"
			"rule 30 priority 5 mode verify when hs 84\n"
			"rule 20 priority 9 mode verify when hs 8471\n"
			"rule 10 priority 9 mode verify when origin DE\n"
			"rule 40 mode declare when hs 8471\n");
	struct cwp_decl_in d;
	base_decl(&d, "8471300000");
	struct cwp_verdict v = decide_decl(&d);
	/* verify beats declare; priority 9 beats 5; id 10 beats 20 */
	ck_assert_uint_eq(v.mode, CWP_MODE_VERIFY);
	ck_assert_uint_eq(v.reason_count, 1);
	expect_reason(&v, 0, CWP_RSN_TARGET, 0, 10);
	teardown();
}
END_TEST

static void sum_hits(uint32_t id, uint64_t hits, void *arg)
{
	uint64_t *h = arg; /* h[0]: rule 10, h[1]: rule 50, h[2]: others */
	h[id == 10 ? 0 : id == 50 ? 1 : 2] += hits;
}

/* Per-rule hits stay readable after the snapshot they were counted under is freed (a worker
 * idle since the swap), and restart from zero with the next snapshot the worker uses. */
START_TEST(rule_hits_outlive_snapshot)
{
	setup_rules(HDR "class unknown mode declare\nrule 10 mode verify when hs 84\n");
	struct cwp_decl_in d;
	base_decl(&d, "8471300000");
	decide_decl(&d);
	decide_decl(&d);
	char err[256];
	/* rule 50 is not the first rule: hits are told apart by the right rule's id */
	const char *t2 = HDR "class unknown mode declare\nrule 40 mode supervise when hs 99\n"
			     "rule 50 mode sample when hs 84\n";
	struct cw_parse_error ev[4];
	struct cw_parse_errors errs = {.v = ev, .cap = 4};
	struct cw_snapshot *s2 =
	    cw_snapshot_build(cw_ruleset_parse(t2, strlen(t2), &errs), err, sizeof(err));
	ck_assert_msg(s2 != NULL, "%s", err);
	cw_ctx_offline(ctx); /* idle worker: the swap does not wait for it */
	cw_engine_publish(eng, s2, false);
	uint64_t h[3] = {0};
	cw_ctx_rule_hits(ctx, sum_hits, h); /* the first snapshot is gone by now */
	ck_assert_uint_eq(h[0], 2);
	ck_assert_uint_eq(h[1] + h[2], 0);
	cw_ctx_online(ctx);
	struct cwp_verdict v = decide_decl(&d);
	ck_assert_uint_eq(v.mode, CWP_MODE_SAMPLE);
	memset(h, 0, sizeof(h));
	cw_ctx_rule_hits(ctx, sum_hits, h);
	ck_assert_uint_eq(h[0] + h[2], 0);
	ck_assert_uint_eq(h[1], 1);
	teardown();
}
END_TEST

START_TEST(reasons_first_four_distinct)
{
	setup_rules(HDR "class unknown mode declare\nrule 5 mode sample when hs 84\n"
			"profile 85 mode sample\n");
	struct cwp_decl_in d;
	base_decl(&d, "8471300000");
	d.item_count = 6;
	for (int i = 0; i < 6; i++) {
		d.items[i] = d.items[0];
		strcpy(d.items[i].hs, i % 2 ? "8501000000" : "8471300000");
	}
	struct cwp_verdict v = decide_decl(&d);
	ck_assert_uint_eq(v.mode, CWP_MODE_SAMPLE);
	/* (TARGET, 5) once, then (PROFILE, 0) once: duplicates of a pair are dropped */
	ck_assert_uint_eq(v.reason_count, 2);
	expect_reason(&v, 0, CWP_RSN_TARGET, 0, 5);
	expect_reason(&v, 1, CWP_RSN_PROFILE, 1, 0);
	teardown();
}
END_TEST

START_TEST(manifest_check)
{
	setup_rules(HDR "class unknown mode declare\n");
	struct cwp_decl_in d;
	base_decl(&d, "8471300000");
	strcpy(d.transport_doc, "BL1");
	struct cwp_verdict v = decide_decl(&d);
	ck_assert_uint_eq(v.mode, CWP_MODE_VERIFY);
	expect_reason(&v, 0, CWP_RSN_NO_MANIFEST, CWP_ITEM_HDR, 0);

	struct cwp_manifest_in m;
	memset(&m, 0, sizeof(m));
	strcpy(m.transport_doc, "BL1");
	strcpy(m.consignee, OWNER);
	strcpy(m.conveyance, "V1");
	strcpy(m.port_loading, "DEHAM");
	strcpy(m.port_discharge, "CNSHA");
	m.item_count = 1;
	strcpy(m.items[0].hs4, "8471");
	uint8_t buf[2048];
	struct cwp_verdict vv[4];
	size_t len = cwp_put_manifest(buf, sizeof(buf), &m);
	send1(buf, len, vv);
	ck_assert_uint_eq(vv[0].status, CWP_ACCEPTED);
	v = decide_decl(&d);
	ck_assert_uint_eq(v.mode, CWP_MODE_DECLARE);
	/* an item outside the manifest, and an amendment naming another consignee */
	d.item_count = 2;
	d.items[1] = d.items[0];
	strcpy(d.items[1].hs, "0101000000");
	strcpy(m.consignee, DECLARANT);
	len = cwp_put_manifest(buf, sizeof(buf), &m);
	send1(buf, len, vv);
	v = decide_decl(&d);
	ck_assert_uint_eq(v.mode, CWP_MODE_SUPERVISE);
	/* one (MANIFEST_MISMATCH, 0) pair: only its first contribution is a reason */
	ck_assert_uint_eq(v.reason_count, 1);
	expect_reason(&v, 0, CWP_RSN_MANIFEST_MISMATCH, CWP_ITEM_HDR, 0);
	strcpy(m.consignee, OWNER);
	len = cwp_put_manifest(buf, sizeof(buf), &m);
	send1(buf, len, vv);
	v = decide_decl(&d);
	ck_assert_uint_eq(v.mode, CWP_MODE_SUPERVISE);
	expect_reason(&v, 0, CWP_RSN_MANIFEST_MISMATCH, 1, 0);
	/* exports are not checked */
	d.direction = CWP_EXPORT;
	v = decide_decl(&d);
	ck_assert_uint_eq(v.mode, CWP_MODE_DECLARE);
	teardown();
}
END_TEST

START_TEST(store_full)
{
	setup_rules(HDR);
	struct cwp_manifest_in m;
	memset(&m, 0, sizeof(m));
	strcpy(m.conveyance, "V1");
	strcpy(m.port_loading, "DEHAM");
	strcpy(m.port_discharge, "CNSHA");
	m.item_count = 1;
	strcpy(m.items[0].hs4, "8471");
	uint8_t buf[2048];
	struct cwp_verdict v[4];
	for (int i = 0; i < 5; i++) { /* capacity 4 */
		snprintf(m.transport_doc, sizeof(m.transport_doc), "BL%d", i);
		send1(buf, cwp_put_manifest(buf, sizeof(buf), &m), v);
		ck_assert_uint_eq(v[0].status, i < 4 ? CWP_ACCEPTED : CWP_REJECTED);
	}
	ck_assert_uint_eq(v[0].reject_code, CWP_REJ_STORE_FULL);
	strcpy(m.transport_doc, "BL0"); /* an amendment still fits */
	send1(buf, cwp_put_manifest(buf, sizeof(buf), &m), v);
	ck_assert_uint_eq(v[0].status, CWP_ACCEPTED);
	teardown();
}
END_TEST

/* E-commerce: the three documents, mismatch, tolerance and quotas (§4.2, §4.3 step 2). */
static struct cwp_verdict send_list(const char *order, uint64_t buyer, uint64_t total,
				    const char *list_no)
{
	struct cwp_list_in l;
	memset(&l, 0, sizeof(l));
	strcpy(l.list_no, list_no);
	strcpy(l.order_no, order);
	strcpy(l.waybill_no, "WB1");
	strcpy(l.ebiz, DECLARANT);
	strcpy(l.currency, "CNY");
	l.item_count = 1;
	l.trade_mode = 9610;
	l.customs_port = 5301;
	l.buyer = buyer;
	l.total_value = total;
	strcpy(l.items[0].hs, "3304990000");
	strcpy(l.items[0].origin, "FR");
	l.items[0].quantity = 1;
	l.items[0].value = total;
	l.items[0].gross_weight_g = 200;
	uint8_t buf[2048];
	struct cwp_verdict v[4];
	send1(buf, cwp_put_list(buf, sizeof(buf), &l), v);
	return v[0];
}

static void send_parts(const char *order, uint64_t buyer, uint64_t amount, uint64_t pay_amount)
{
	uint8_t buf[1024];
	size_t len = 0;
	struct cwp_order_in o = {.buyer = buyer, .amount = amount};
	strcpy(o.order_no, order);
	strcpy(o.platform, "PLATFORM0000000001");
	strcpy(o.currency, "CNY");
	struct cwp_payment_in p = {.buyer = buyer, .amount = pay_amount};
	strcpy(p.order_no, order);
	strcpy(p.payment_no, "P1");
	struct cwp_waybill_in w;
	memset(&w, 0, sizeof(w));
	strcpy(w.order_no, order);
	strcpy(w.waybill_no, "WB1");
	strcpy(w.carrier, "CARRIER00000000001");
	len += cwp_put_order(buf + len, sizeof(buf) - len, &o);
	len += cwp_put_payment(buf + len, sizeof(buf) - len, &p);
	len += cwp_put_waybill(buf + len, sizeof(buf) - len, &w);
	struct cwp_verdict v[4];
	ck_assert_uint_eq(send_seq(next_seq, buf, len, 3, v), 3);
	next_seq += 3;
	for (int i = 0; i < 3; i++)
		ck_assert_uint_eq(v[i].status, CWP_ACCEPTED);
}

START_TEST(ecommerce_checks_and_quotas)
{
	setup_rules(HDR "class good mode declare\nlimit single 100.00\nlimit annual 150.00\n"
			"limit tolerance 1%\n");
	cw_registry_set(eng, DECLARANT, CW_CLS_GOOD);
	struct cwp_verdict v = send_list("O1", 77, 5000, "L00000000000000001");
	ck_assert_uint_eq(v.reject_code, CWP_REJ_MISSING_DOCS);
	send_parts("O1", 77, 5000, 5050); /* payment 1% off: within tolerance */
	v = send_list("O1", 77, 5000, "L00000000000000002");
	ck_assert_uint_eq(v.status, CWP_DECIDED);
	ck_assert_uint_eq(v.mode, CWP_MODE_DECLARE);
	send_parts("O2", 77, 6000, 6061); /* just over 1% */
	v = send_list("O2", 77, 6000, "L00000000000000003");
	ck_assert_uint_eq(v.mode, CWP_MODE_SUPERVISE);
	expect_reason(&v, 0, CWP_RSN_ECOM_MISMATCH, CWP_ITEM_HDR, 0);
	/* ledger now 110.00: a third list of 50.00 passes the single limit, not the annual */
	send_parts("O3", 77, 5000, 5000);
	v = send_list("O3", 77, 5000, "L00000000000000004");
	ck_assert_uint_eq(v.reject_code, CWP_REJ_QUOTA_ANNUAL);
	send_parts("O4", 78, 10001, 10001);
	v = send_list("O4", 78, 10001, "L00000000000000005");
	ck_assert_uint_eq(v.reject_code, CWP_REJ_QUOTA_SINGLE);
	/* another buyer on O1's documents: mismatch */
	v = send_list("O1", 79, 5000, "L00000000000000006");
	ck_assert_uint_eq(v.mode, CWP_MODE_SUPERVISE);
	teardown();
}
END_TEST

START_TEST(replay_duplicate_and_stale)
{
	setup_rules(HDR "class unknown mode declare\n");
	struct cwp_decl_in d;
	base_decl(&d, "8471300000");
	uint8_t buf[4096];
	struct cwp_verdict v[4];
	size_t len = cwp_put_decl(buf, sizeof(buf), &d);
	send_seq(500, buf, len, 1, v);
	ck_assert_uint_eq(v[0].flags & CWP_VFLAG_DUPLICATE, 0);
	cw_registry_set(eng, DECLARANT, CW_CLS_SERIOUS); /* a retransmission is not re-decided */
	send_seq(500, buf, len, 1, v);
	ck_assert_uint_eq(v[0].flags & CWP_VFLAG_DUPLICATE, CWP_VFLAG_DUPLICATE);
	ck_assert_uint_eq(v[0].mode, CWP_MODE_DECLARE);
	send_seq(500 + 64, buf, len, 1, v); /* hi = 564, W = 64 */
	ck_assert_uint_eq(v[0].mode, CWP_MODE_SUPERVISE);
	send_seq(500, buf, len, 1, v); /* 500 + 64 <= 564: stale */
	ck_assert_uint_eq(v[0].reject_code, CWP_REJ_STALE);
	send_seq(501, buf, len, 1, v); /* 501 + 64 > 564: not stale, never seen: decided */
	ck_assert_uint_eq(v[0].status, CWP_DECIDED);
	teardown();
}
END_TEST

START_TEST(no_ruleset_and_senders)
{
	setup_rules(NULL);
	struct cwp_decl_in d;
	base_decl(&d, "8471300000");
	struct cwp_verdict v = decide_decl(&d);
	ck_assert_uint_eq(v.reject_code, CWP_REJ_NO_RULESET);
	ck_assert_uint_eq(v.ruleset_version, 0);
	uint8_t dg[512], buf[400];
	size_t len = cwp_put_decl(buf, sizeof(buf), &d);
	cwp_put_dgram_hdr(dg, 1, 0, 9, 77);
	memcpy(dg + 24, buf, len);
	uint16_t n;
	const uint8_t stranger[4] = {10, 2, 0, 1};
	cw_burst_begin(ctx);
	ck_assert_int_eq(cw_burst_add(ctx, dg, 24 + len, stranger, false, &v, &n, NULL),
			 CW_DROP_SOURCE);
	cwp_put_dgram_hdr(dg, 1, 0, 10, 77);
	ck_assert_int_eq(cw_burst_add(ctx, dg, 24 + len, SRC, false, &v, &n, NULL),
			 CW_DROP_UNKNOWN_SENDER);
	cw_burst_end(ctx);
	teardown();
}
END_TEST

/* ---- property test: tables against the linear evaluation ---- */

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(uint64_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng % n;
}

static const char *CCS[] = {"DE", "BR", "AR", "US", "CN"};
static const char *USCCS[] = {DECLARANT, OWNER, "ABCDEFGHIJKLMNOPQR"};
static const char *CLASSES[] = {"aeo", "good", "warning", "dishonest", "serious", "unknown"};
static const char *DOCS[] = {"LICENCE",		 "QUARANTINE",	    "ORIGIN_CERT",
			     "THIRD_PARTY_CERT", "INSPECTION_CERT", "CITES"};
static const char *MODES[] = {"declare", "verify", "sample", "supervise"};

static void random_condition(char *p)
{
	static const char *ops[] = {"<", "<=", ">", ">=", "="};
	switch (rnd(15)) {
	case 0: /* a prefix of any length, mostly where the items are (84...) */
		if (rnd(2)) {
			sprintf(p, "hs %02u", (unsigned)rnd(100));
		} else {
			char d[11];
			snprintf(d, sizeof(d), "84%08u", (unsigned)rnd(100000000));
			d[1 + rnd(10)] = 0;
			sprintf(p, "hs %s", d);
		}
		break;
	case 14: /* down to the last two digits */
	{
		unsigned lo = (unsigned)rnd(300), hi = lo + (unsigned)rnd(300 - lo);
		sprintf(p, "hs 8471300%03u..8471300%03u", lo, hi);
	} break;
	case 1:
		sprintf(p, "hs %04u..%04u", 8400 + (unsigned)rnd(50), 8450 + (unsigned)rnd(50));
		break;
	case 2:
		sprintf(p, "hs in (%02u, 8471%02u)", (unsigned)rnd(100), (unsigned)rnd(100));
		break;
	case 3:
		sprintf(p, "origin in (%s, %s)", CCS[rnd(5)], CCS[rnd(5)]);
		break;
	case 4:
		sprintf(p, "country %s", CCS[rnd(5)]);
		break;
	case 5:
		sprintf(p, "class in (%s, %s)", CLASSES[rnd(6)], CLASSES[rnd(6)]);
		break;
	case 6:
		sprintf(p, "%s %s", rnd(2) ? "declarant" : "owner", USCCS[rnd(3)]);
		break;
	case 7:
		sprintf(p, "%s %u", rnd(2) ? "port" : "transport", (unsigned)rnd(4));
		break;
	case 8:
		sprintf(p, "direction %s", rnd(2) ? "import" : "export");
		break;
	case 9:
		sprintf(p, "msg %s", rnd(2) ? "decl" : "list");
		break;
	case 10:
		sprintf(p, "%s %s", rnd(2) ? "doc" : "nodoc", DOCS[rnd(6)]);
		break;
	case 11:
		sprintf(p, "%s %s %u.%02u", rnd(2) ? "value" : "unit_value", ops[rnd(5)],
			(unsigned)rnd(2000), (unsigned)rnd(100));
		break;
	case 12:
		sprintf(p, "total_value %s %s", ops[rnd(5)], rnd(4) ? "500.00" : "50000000.00");
		break;
	default:
		sprintf(p, "quantity %s %u", ops[rnd(5)], (unsigned)rnd(20));
		break;
	}
}

static char *random_rules(unsigned n)
{
	size_t cap = 256 + (size_t)n * 200, len = 0;
	char *t = malloc(cap);
	len += (size_t)sprintf(t, HDR);
	for (unsigned i = 0; i < n; i++) {
		len +=
		    (size_t)sprintf(t + len, "rule %u priority %u mode %s when ",
				    1 + i * 3 + (unsigned)rnd(3), (unsigned)rnd(4), MODES[rnd(4)]);
		unsigned k = 1 + (unsigned)rnd(3);
		for (unsigned c = 0; c < k; c++) {
			char cond[96];
			random_condition(cond);
			len += (size_t)sprintf(t + len, "%s%s", c ? " and " : "", cond);
		}
		t[len++] = '\n';
	}
	t[len] = 0;
	return t;
}

static void random_facts(struct cw_item_facts *f)
{
	memset(f, 0, sizeof(*f));
	f->msg = rnd(2) ? CW_MSG_DECL : CW_MSG_LIST;
	f->direction = f->msg == CW_MSG_LIST ? CWP_IMPORT : (uint8_t)(1 + rnd(2));
	f->cls = (uint8_t)rnd(6);
	f->docs_mask = f->msg == CW_MSG_LIST ? 0 : (uint8_t)(rnd(64) << 1);
	f->has_owner = f->msg == CW_MSG_DECL && rnd(4);
	f->has_country = f->has_transport = f->msg == CW_MSG_DECL;
	f->declarant = USCCS[rnd(3)];
	f->owner = USCCS[rnd(3)];
	const char *o = CCS[rnd(5)], *c = CCS[rnd(5)];
	f->origin = (uint16_t)((o[0] << 8) | o[1]);
	f->country = (uint16_t)((c[0] << 8) | c[1]);
	f->port = (uint16_t)rnd(4);
	f->transport = (uint8_t)rnd(4);
	f->hs = rnd(4)	 ? 8400000000ull + rnd(100000000ull)
		: rnd(2) ? 8471300000ull + rnd(300) /* where the 10-digit rules are */
			 : rnd(10000000000ull);
	f->value = rnd(4) ? rnd(300000) : rnd(1ull << 40);
	f->total_value = rnd(4) ? rnd(100000) : 5000000000ull + rnd(1000);
	f->quantity = rnd(25);
	f->gross_weight_g = rnd(5) ? rnd(5000) : 0;
}

/* Items in runs that share their message's facts, as a message's items do, and runs next to
 * ones that differ from them in a single header fact: the tables work out the message's part of
 * their filters once per run, so a run that ends unnoticed would be decided with its
 * neighbour's. */
static void message_run_facts(struct cw_item_facts *f)
{
	static struct cw_item_facts prev;
	static bool have;
	struct cw_item_facts fresh;
	random_facts(&fresh);
	if (!have || rnd(4) == 0) {
		*f = fresh;
	} else {
		*f = prev; /* a new item of the same message, or of one close to it */
		f->hs = fresh.hs;
		f->origin = fresh.origin;
		f->quantity = fresh.quantity;
		f->value = fresh.value;
		f->gross_weight_g = fresh.gross_weight_g;
		switch (rnd(16)) {
		case 0:
			f->cls = fresh.cls;
			break;
		case 1:
			f->country = fresh.country;
			break;
		case 2:
			f->port = fresh.port;
			break;
		case 3:
			f->trade_mode = (uint16_t)rnd(200);
			break;
		case 4:
			f->transport = fresh.transport;
			break;
		case 5:
			f->total_value = fresh.total_value;
			break;
		case 6:
			f->declarant = fresh.declarant;
			f->owner = fresh.owner;
			f->has_owner = fresh.has_owner && f->msg == CW_MSG_DECL;
			break;
		case 7:
			f->direction = f->msg == CW_MSG_DECL ? (uint8_t)(1 + rnd(2)) : f->direction;
			break;
		case 8:
			f->docs_mask = f->msg == CW_MSG_DECL ? fresh.docs_mask : 0;
			break;
		}
	}
	prev = *f;
	have = true;
}

/* An item's key in one go, or as the engine fills it: the message's part from its header facts
 * alone (item facts zero), copied, then the item's. */
static void fill_key(struct cw_acl_key *k, const struct cw_item_facts *f, uint32_t decl_id,
		     uint32_t owner_id, bool in_two_steps)
{
	if (!in_two_steps) {
		cw_acl_key_fill(k, f, decl_id, owner_id);
		return;
	}
	struct cw_item_facts hdr = *f;
	hdr.hs = hdr.quantity = hdr.value = hdr.gross_weight_g = 0;
	hdr.origin = 0;
	struct cw_acl_key mk;
	cw_acl_key_fill_msg(&mk, &hdr, decl_id, owner_id);
	*k = mk;
	cw_acl_key_fill_item(k, f);
}

/* n_items items made by make_facts, decided by the tables and by the linear evaluation. */
static void check_tables_against_linear(struct cw_snapshot *s, unsigned n_items,
					void (*make_facts)(struct cw_item_facts *))
{
	const struct cw_ruleset *rs = cw_snapshot_ruleset(s);
	enum { N = 256 };
	struct cw_item_facts facts[N];
	struct cw_acl_key keys[N];
	const struct cw_acl_key *kp[N];
	uint32_t best[N];
	for (unsigned round = 0; round < n_items / N; round++) {
		for (unsigned i = 0; i < N; i++) {
			make_facts(&facts[i]);
			fill_key(&keys[i], &facts[i], cw_intern_lookup(s, facts[i].declarant),
				 cw_intern_lookup(s, facts[i].owner), i % 2);
			kp[i] = &keys[i];
		}
		cw_rules_classify(s, kp, facts, best, N);
		for (unsigned i = 0; i < N; i++) {
			const struct cw_rule *want = cw_linear_match(rs, &facts[i]);
			uint32_t got = best[i] == UINT32_MAX ? 0 : rs->rules[best[i]].id;
			ck_assert_msg(got == (want ? want->id : 0),
				      "item %u: tables chose rule %u, linear %u", i, got,
				      want ? want->id : 0);
		}
	}
}

static struct cw_ruleset *parse_or_die(const char *t)
{
	struct cw_parse_error ev[4];
	struct cw_parse_errors errs = {.v = ev, .cap = 4};
	struct cw_ruleset *rs = cw_ruleset_parse(t, strlen(t), &errs);
	ck_assert_msg(rs != NULL, "%u:%u %s", ev[0].line, ev[0].column, ev[0].msg);
	return rs;
}

START_TEST(property_acl_equals_linear)
{
	char err[256];
	for (int set = 0; set < 6; set++) {
		char *text = random_rules(50 + (unsigned)rnd(300));
		struct cw_ruleset *rs = parse_or_die(text);
		struct cw_snapshot *s = cw_snapshot_build(rs, err, sizeof(err));
		ck_assert_msg(s != NULL, "%s", err);
		check_tables_against_linear(s, 4096, random_facts);
		check_tables_against_linear(s, 4096, message_run_facts);
		/* the delta path: drop a few rules, change one, and compare again */
		char *t2 = strdup(text);
		char *line = strstr(t2, "\nrule ");
		for (int k = 0; k < 3 && line; k++) {
			line[1] = '#';
			line = strstr(line + 1, "\nrule ");
		}
		struct cw_snapshot *d =
		    cw_snapshot_build_delta(s, parse_or_die(t2), err, sizeof(err));
		ck_assert_msg(d != NULL, "%s", err);
		ck_assert(cw_snapshot_is_delta(d));
		check_tables_against_linear(d, 4096, random_facts);
		check_tables_against_linear(d, 4096, message_run_facts);
		cw_snapshot_free(d);
		cw_snapshot_free(s);
		free(text);
		free(t2);
	}
}
END_TEST

/* The ACL contexts skip keys whose amount, port, trade mode or transport falls in a bucket none
 * of their rules reaches: rules on those fields alone, thresholds from a small set, and items at
 * each threshold and one either side, so every bucket edge a rule makes is crossed. */
static const uint64_t EDGES[] = {0, 99, 100, 101, 199, 200, 201, 299, 300, 301, 1ull << 33};

static char *edge_rules(unsigned n)
{
	static const char *ops[] = {"<", "<=", ">", ">=", "="};
	static const char *amounts[] = {"value", "unit_value", "total_value"};
	char *t = malloc(256 + (size_t)n * 120);
	size_t len = (size_t)sprintf(t, HDR);
	for (unsigned i = 0; i < n; i++) {
		len += (size_t)sprintf(t + len, "rule %u priority %u mode %s when ", 1 + i,
				       (unsigned)rnd(4), MODES[rnd(4)]);
		unsigned th = 1 + (unsigned)rnd(3);
		switch (rnd(4)) {
		case 0:
			len += (size_t)sprintf(t + len, "%s %s %u.00", amounts[rnd(3)], ops[rnd(5)],
					       th);
			break;
		case 1:
			len += (size_t)sprintf(t + len, "quantity %s %u", ops[rnd(5)], 100 * th);
			break;
		case 2:
			len += (size_t)sprintf(t + len, "port in (%u, %u)", 100 * th, 100 * th + 1);
			break;
		default:
			len += (size_t)sprintf(t + len, "value >= %u.00 and quantity <= %u", th,
					       100 * th);
		}
		t[len++] = '\n';
	}
	t[len] = 0;
	return t;
}

static void edge_facts(struct cw_item_facts *f)
{
	const unsigned n = sizeof(EDGES) / sizeof(EDGES[0]);
	random_facts(f);
	f->value = EDGES[rnd(n)];
	f->total_value = EDGES[rnd(n)];
	f->quantity = EDGES[rnd(n)];
	f->port = (uint16_t)EDGES[rnd(n - 1)];
	f->gross_weight_g = rnd(3) ? 1000 : 0; /* unit value = value per kg */
}

START_TEST(property_acl_bucket_edges)
{
	char err[256];
	for (int set = 0; set < 4; set++) {
		char *text = edge_rules(40 + (unsigned)rnd(80));
		struct cw_ruleset *rs = parse_or_die(text);
		struct cw_snapshot *s = cw_snapshot_build(rs, err, sizeof(err));
		ck_assert_msg(s != NULL, "%s", err);
		check_tables_against_linear(s, 8 * 256, edge_facts);
		cw_snapshot_free(s);
		free(text);
	}
}
END_TEST

/* cw_hs_number against the digit-by-digit sum it replaces, on codes of 1 to 10 digits padded
 * with spaces (what the decoder lets through) and on any printable bytes. */
START_TEST(hs_number_as_digit_loop)
{
	for (unsigned n = 0; n < 1000000; n++) {
		char hs[10];
		unsigned digits = 1 + (unsigned)rnd(10);
		bool any = rnd(4) == 0;
		for (unsigned i = 0; i < 10; i++)
			hs[i] = any	     ? (char)(' ' + rnd(95))
				: i < digits ? (char)('0' + rnd(10))
					     : ' ';
		uint64_t want = 0;
		for (unsigned i = 0; i < 10; i++)
			want = want * 10 + (uint64_t)(hs[i] - '0');
		ck_assert_msg(cw_hs_number(hs) == want, "%.10s", hs);
	}
}
END_TEST

/* The key's first 8 HS digits are packed decimal, a digit per nibble in order (the rules' ranges
 * and the heading filter rely on it): every 8-digit value at a power-of-ten edge, then random
 * ones. */
START_TEST(acl_key_hs_is_packed_decimal)
{
	for (unsigned n = 0; n < 1000000; n++) {
		uint64_t hs8 = n < 1000 ? n : rnd(100000000);
		if (n < 16) { /* 10^e - 1 and 10^e */
			uint64_t p = 1;
			for (unsigned e = 0; e < n / 2; e++)
				p *= 10;
			hs8 = p - 1 + n % 2;
		} else if (n == 16) {
			hs8 = 99999999;
		}
		struct cw_item_facts f = {.hs = hs8 * 100 + rnd(100)};
		struct cw_acl_key k;
		cw_acl_key_fill(&k, &f, 0, 0);
		char d[9];
		snprintf(d, sizeof(d), "%08llu", (unsigned long long)hs8);
		uint8_t want[4];
		for (unsigned i = 0; i < 4; i++)
			want[i] = (uint8_t)((d[2 * i] - '0') << 4 | (d[2 * i + 1] - '0'));
		ck_assert_msg(memcmp(&k.hs8, want, 4) == 0, "hs8 %s", d);
	}
}
END_TEST

/* The generic SipHash-2-4 against the paper's vector (key 00..0f, message 00..0e), then the
 * 18-byte one against the generic on random keys and messages. */
START_TEST(siphash_18_equals_generic)
{
	uint8_t key[16], msg[18];
	for (unsigned i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (unsigned i = 0; i < 15; i++)
		msg[i] = (uint8_t)i;
	ck_assert_uint_eq(cw_siphash24(key, msg, 15), 0xa129ca6149be45e5ULL);
	for (unsigned n = 0; n < 200000; n++) {
		for (unsigned i = 0; i < 16; i++)
			key[i] = (uint8_t)rnd(256);
		for (unsigned i = 0; i < 18; i++)
			msg[i] = (uint8_t)rnd(256);
		ck_assert_uint_eq(cw_siphash24_18(key, msg), cw_siphash24(key, msg, 18));
	}
}
END_TEST

/* cw_profiles_lookup against a linear longest-prefix search, on rule sets where most profiles
 * are 9 or 10 digits under a few 8-digit stems (long chains in the long-profile table) and on
 * codes under those stems, under shorter profiles, or anywhere. */
static bool prefix_seen(char (*seen)[11], unsigned n, const char *d)
{
	for (unsigned i = 0; i < n; i++)
		if (!strcmp(seen[i], d))
			return true;
	return false;
}

static uint32_t longest_profile(const struct cw_ruleset *rs, uint64_t hs)
{
	char d[11];
	snprintf(d, sizeof(d), "%010llu", (unsigned long long)hs);
	uint32_t best = CW_NO_PROFILE;
	for (uint32_t i = 0; i < rs->n_profiles; i++) {
		const struct cw_profile *p = &rs->profiles[i];
		if (!memcmp(p->prefix, d, p->len) &&
		    (best == CW_NO_PROFILE || p->len > rs->profiles[best].len))
			best = i;
	}
	return best;
}

START_TEST(profiles_longest_prefix)
{
	enum { N = 1000, Q = 4096 };
	static char seen[N][11];
	/* every length, odd ones too (they fill 10 entries of a trie level) */
	static const unsigned lens[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 4, 6, 8, 9, 10, 10};
	char stems[64][9];
	for (unsigned k = 0; k < 64; k++)
		snprintf(stems[k], sizeof(stems[k]), "%08llu", (unsigned long long)rnd(100000000));
	for (unsigned round = 0; round < 4; round++) {
		size_t cap = 64 * (N + 4), len = 0;
		char *text = malloc(cap);
		len += (size_t)snprintf(text, cap, HDR);
		for (unsigned i = 0; i < N; i++) {
			unsigned l = lens[rnd(16)], tries = 0;
			char d[11];
			do {
				if (++tries > 50) /* the short prefixes run out */
					l = 10;
				snprintf(
				    d, sizeof(d), "%08llu%02llu",
				    l > 8 ? (unsigned long long)strtoull(stems[rnd(64)], NULL, 10)
					  : (unsigned long long)rnd(100000000),
				    (unsigned long long)rnd(100));
				d[l] = 0;
			} while (prefix_seen(seen, i, d));
			strcpy(seen[i], d);
			len +=
			    (size_t)snprintf(text + len, cap - len, "profile %s mode verify\n", d);
		}
		struct cw_parse_error ev[4];
		struct cw_parse_errors errs = {.v = ev, .cap = 4};
		struct cw_ruleset *rs = cw_ruleset_parse(text, len, &errs);
		ck_assert_msg(rs != NULL, "%u:%u %s", ev[0].line, ev[0].column, ev[0].msg);
		char err[256];
		struct cw_snapshot *s = cw_snapshot_build(rs, err, sizeof(err));
		ck_assert_msg(s != NULL, "%s", err);
		static uint64_t hs[Q];
		static uint32_t got[Q];
		for (unsigned q = 0; q < Q; q++) {
			const char *under = rnd(3) ? seen[rnd(N)] : "";
			char d[11];
			unsigned l = (unsigned)strlen(under);
			memcpy(d, under, l);
			for (unsigned i = l; i < 10; i++)
				d[i] = (char)('0' + rnd(10));
			d[10] = 0;
			hs[q] = strtoull(d, NULL, 10);
		}
		cw_profiles_lookup(s, hs, got, Q);
		for (unsigned q = 0; q < Q; q++)
			ck_assert_msg(got[q] == longest_profile(rs, hs[q]), "%010llu",
				      (unsigned long long)hs[q]);
		cw_snapshot_free(s);
		free(text);
	}
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("decide");
	TCase *tc = tcase_create("decision");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, class_baseline_unknown_supervise);
	tcase_add_test(tc, profile_docs_and_green);
	tcase_add_test(tc, target_tie_break);
	tcase_add_test(tc, reasons_first_four_distinct);
	tcase_add_test(tc, rule_hits_outlive_snapshot);
	tcase_add_test(tc, manifest_check);
	tcase_add_test(tc, store_full);
	tcase_add_test(tc, ecommerce_checks_and_quotas);
	tcase_add_test(tc, replay_duplicate_and_stale);
	tcase_add_test(tc, no_ruleset_and_senders);
	tcase_add_test(tc, property_acl_equals_linear);
	tcase_add_test(tc, property_acl_bucket_edges);
	tcase_add_test(tc, hs_number_as_digit_loop);
	tcase_add_test(tc, acl_key_hs_is_packed_decimal);
	tcase_add_test(tc, siphash_18_equals_generic);
	tcase_add_test(tc, profiles_longest_prefix);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	tu_eal_init();
	return tu_run(suite());
}
