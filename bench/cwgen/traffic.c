/*
 * traffic.c - the valid messages of a workload: declarations, manifests, e-commerce groups.
 *
 * Why this file exists: the gateway's cost and its verdict mix depend on what traffic looks
 * like (DESIGN §8), so cwgen makes the messages coherent the way real ones are: declarations
 * draw their lines from the corpus, imports refer to manifests sent earlier (same consignee, same
 * HS headings, with the occasional mismatch or missing bill), and e-commerce documents come as
 * ORDER/PAYMENT/WAYBILL groups followed by their LIST, with repeat buyers whose annual quota
 * sometimes runs out. Every message is encoded by the wire library's encoders (cwp_put_*).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench/cwgen/cwgen.h"

#define PUB_RING     1024 /* published manifests a declaration may refer to */
#define BACKLOG	     64	  /* e-commerce messages waiting for their slot */
#define GROUPS_BATCH 6	  /* e-commerce groups generated at a time */
#define BUYER_POOL   32

struct manifest_rec {
	char transport_doc[21];
	uint64_t consignee;
	bool consignee_blank;
	uint64_t ship_seed;
	uint8_t n_items;
	uint8_t transport;
};

struct buyer_slot {
	uint64_t id;
	unsigned remaining;
	double median_cny;
};

struct ship_meta {
	uint8_t transport;
	uint8_t office_rank;
	char departure[2];
	char origin[2];
	bool fta;
	double usd[CWP_MAX_ITEMS];
};

struct traffic {
	const struct cwgen_opts *o;
	const struct corpus *c;
	const struct population *p;
	const struct senders *s;
	struct rng r;

	struct manifest_rec pending[4096]; /* sent, not yet published */
	uint32_t pending_next;
	struct manifest_rec pub[PUB_RING];
	uint32_t pub_n, pub_next;

	struct msg backlog[BACKLOG];
	unsigned bl_head, bl_n;

	struct buyer_slot buyers[BUYER_POOL];
	uint64_t next_buyer;

	uint64_t decl_serial, bill_serial, order_serial, list_serial;
	uint32_t cum_trade_mode[16], cum_ecom_item[32];

	/* summary */
	uint64_t by_type[8], items, docs[CWP_NUM_DOCS + 1];
	uint64_t decl_import, decl_export, decl_manifest, decl_no_manifest, decl_blank_bill;
	uint64_t mm_owner, mm_hs, decl_class[6];
	uint64_t groups, missing_part, mm_buyer, mm_amount, tol_amount, mm_waybill, over_single;
	uint64_t heavy_buyers;
};

/* ---- tables ---- */

static const struct {
	uint16_t mode;
	uint16_t w;
} trade_modes[] = {
    {110, 620}, {615, 80},  {214, 50},	{1233, 50}, {5034, 50}, {715, 40},
    {1210, 30}, {9610, 20}, {2600, 20}, {1300, 10}, {4561, 10}, {5033, 20},
};

static const uint16_t ports[] = {2248, 5300, 2233, 5141, 3100, 202,  4200, 3700, 101,  5316,
				 900,  2900, 4600, 8000, 7900, 6400, 2300, 5100, 2200, 5349};

static const struct {
	uint16_t port;
	const char locode[6];
} discharge[] = {
    {2248, "CNSHA"}, {5300, "CNYTN"}, {2233, "CNPVG"}, {5141, "CNCAN"}, {3100, "CNNGB"},
    {202, "CNTXG"},  {4200, "CNTAO"}, {3700, "CNXMN"}, {101, "CNPEK"},	{5316, "CNSHK"},
    {900, "CNDLC"},  {2900, "CNHGH"}, {4600, "CNCGO"}, {8000, "CNCKG"}, {7900, "CNCTU"},
    {6400, "CNHAK"}, {2300, "CNNKG"}, {5100, "CNHUA"}, {2200, "CNSHA"}, {5349, "CNSZX"},
};

static const struct {
	char cc[3];
	const char *sea, *air;
} loading[] = {
    {"JP", "JPTYO", "JPNRT"}, {"KR", "KRPUS", "KRICN"}, {"US", "USLAX", "USORD"},
    {"DE", "DEHAM", "DEFRA"}, {"VN", "VNSGN", "VNHAN"}, {"AU", "AUMEL", "AUSYD"},
    {"TW", "TWKHH", "TWTPE"}, {"IT", "ITGOA", "ITMXP"}, {"FR", "FRLEH", "FRCDG"},
    {"GB", "GBFXT", "GBLHR"}, {"TH", "THLCH", "THBKK"}, {"MY", "MYPKG", "MYKUL"},
    {"SG", "SGSIN", "SGSIN"}, {"HK", "HKHKG", "HKHKG"}, {"NL", "NLRTM", "NLAMS"},
    {"BR", "BRSSZ", "BRGRU"}, {"IN", "INNSA", "INDEL"}, {"ID", "IDTPP", "IDCGK"},
    {"RU", "RUVVO", "RUSVO"}, {"CA", "CAVAN", "CAYVR"}, {"NZ", "NZAKL", "NZAKL"},
    {"CH", "CHBSL", "CHZRH"}, {"ES", "ESVLC", "ESMAD"}, {"BE", "BEANR", "BEBRU"},
};

static const char *const carriers_sea[] = {"COSU", "MAEU", "MSCU", "ONEY", "EGLV",
					   "OOLU", "HLCU", "CMDU", "YMLU", "ZIMU"};
static const char *const air_prefix[] = {"999", "781", "112", "880", "297", "180", "205", "618"};
static const char *const airlines[] = {"CA", "MU", "CZ", "CX", "KE", "NH", "LH", "FX", "5X", "SQ"};
static const char *const vessels[] = {
    "COSCO ARIES", "CSCL VENUS",   "MAERSK ESSEN",  "MSC OSCAR",   "ONE APUS",	  "EVER GIVEN",
    "OOCL JAPAN",  "CMA BOUGAINV", "HMM ALGECIRAS", "YM WELLNESS", "XIN YA ZHOU", "ZHONG GU 66"};

static const char *const platform_codes[] = {"TMG", "JDW", "KLH", "VPH", "PDD", "DYE",
					     "XHS", "AMZ", "SHP", "YMT", "SNG", "DDM",
					     "MIA", "BEB", "WYK", "GMC"};
static const char *const waybill_prefix[] = {"SF", "YT", "ZT", "EK", "JDV", "ST",
					     "YD", "DB", "SF", "SF", "YT",  "EK"};

static const struct {
	uint32_t hs6;
	char origin[3];
	double cny; /* typical unit price */
	double kg;  /* gross weight per unit */
	uint16_t w;
} ecom_basket[] = {
    {330499, "KR", 180, 0.25, 90}, {330499, "JP", 220, 0.25, 70}, {330410, "FR", 260, 0.08, 40},
    {330300, "FR", 650, 0.35, 30}, {190110, "NL", 240, 1.0, 60},  {190110, "AU", 230, 1.0, 40},
    {190110, "NZ", 260, 1.0, 30},  {961900, "JP", 110, 1.2, 50},  {210690, "AU", 160, 0.4, 50},
    {210690, "US", 190, 0.4, 40},  {420221, "IT", 3200, 0.9, 12}, {640399, "US", 700, 1.1, 15},
    {611030, "GB", 450, 0.5, 15},  {620462, "US", 380, 0.6, 10},  {950300, "DK", 420, 0.8, 12},
    {851762, "US", 1500, 0.3, 12}, {900410, "IT", 1200, 0.2, 8},  {330510, "JP", 80, 0.5, 30},
    {340111, "FR", 60, 0.2, 20},   {220421, "FR", 300, 1.5, 10},  {300490, "DE", 120, 0.2, 10},
    {851672, "JP", 1700, 0.9, 8},  {80450, "TH", 90, 1.0, 3},	  {40221, "NZ", 200, 1.0, 15},
};
#define N_BASKET (sizeof(ecom_basket) / sizeof(ecom_basket[0]))

/* ---- helpers ---- */

static void digits(struct rng *r, char *out, unsigned n)
{
	rand_chars(r, out, n, "0123456789");
}

static unsigned pick_trade_mode_idx(struct traffic *t)
{
	return rng_pick_cum(&t->r, t->cum_trade_mode, sizeof(trade_modes) / sizeof(trade_modes[0]));
}

static const char *locode_discharge(uint16_t port)
{
	for (size_t i = 0; i < sizeof(discharge) / sizeof(discharge[0]); i++)
		if (discharge[i].port == port)
			return discharge[i].locode;
	return "CNSHA";
}

static void locode_loading(const char cc[2], bool air, uint64_t h, char out[6])
{
	for (size_t i = 0; i < sizeof(loading) / sizeof(loading[0]); i++)
		if (!memcmp(loading[i].cc, cc, 2)) {
			memcpy(out, air ? loading[i].air : loading[i].sea, 6);
			return;
		}
	out[0] = cc[0];
	out[1] = cc[1];
	for (int i = 2; i < 5; i++, h /= 26)
		out[i] = (char)('A' + h % 26);
	out[5] = 0;
}

/* A bill of lading or air waybill number, unique per serial. */
static void bill_no(struct traffic *t, uint8_t transport, char out[21])
{
	uint64_t n = t->bill_serial++;
	if (transport == 5) {
		uint64_t serial = n % 10000000;
		snprintf(out, 21, "%s-%07llu%llu", air_prefix[n % 8], (unsigned long long)serial,
			 (unsigned long long)(serial % 7)); /* IATA check digit: serial mod 7 */
	} else if (transport == 3 || transport == 4) {
		snprintf(out, 21, "CRX%012llu", (unsigned long long)n);
	} else {
		snprintf(out, 21, "%s%010llu", carriers_sea[n % 10], (unsigned long long)n);
	}
}

static void doc_no(struct traffic *t, uint8_t type, const char *cc, char out[24])
{
	char d[16];
	digits(&t->r, d, 12);
	d[12] = 0;
	switch (type) {
	case CWP_DOC_LICENCE:
		snprintf(out, 24, "25-AIL-%.10s", d);
		break;
	case CWP_DOC_QUARANTINE:
		snprintf(out, 24, "CIQ%.12s", d);
		break;
	case CWP_DOC_ORIGIN_CERT:
		snprintf(out, 24, "CO/%.2s/25/%.8s", cc, d);
		break;
	case CWP_DOC_THIRD_PARTY_CERT:
		snprintf(out, 24, "CNAS L%.4s-25-%.6s", d, d + 4);
		break;
	case CWP_DOC_INSPECTION_CERT:
		snprintf(out, 24, "CIQ-EX %.12s", d);
		break;
	default:
		snprintf(out, 24, "CITES %.2s/25/%.6s", cc, d);
		break;
	}
}

/* ---- shipments: the goods of one bill, shared by its MANIFEST and its DECL ---- */

static const struct kcs_row *pick_row(const struct corpus *c, struct rng *r, const uint32_t *list,
				      uint32_t n, const struct kcs_row *first)
{
	if (first && rng_chance(r, 0.6)) { /* related goods: same chapter */
		uint32_t lo, hi;
		corpus_chapter_range(c, list, n, first->hs6 / 10000, &lo, &hi);
		if (hi > lo)
			return &c->rows[list[lo + rng_below(r, hi - lo)]];
	}
	return &c->rows[list[rng_below(r, n)]];
}

/* Items of a shipment from its seed: the same seed gives the same goods (MANIFEST then DECL). */
static void gen_items(const struct traffic *t, uint64_t seed, bool export, bool fraudish,
		      unsigned n, struct cwp_item_in *items, struct ship_meta *meta)
{
	const struct corpus *c = t->c;
	struct rng r;
	rng_seed(&r, seed, 0x17E5);
	const uint32_t *list = export ? c->cn : c->imp;
	uint32_t nl = export ? c->n_cn : c->n_imp;
	if (!export && fraudish && c->n_fraud > 20 && rng_chance(&r, 0.6)) {
		list = c->fraud;
		nl = c->n_fraud;
	}
	const struct kcs_row *first = NULL;
	for (unsigned i = 0; i < n; i++) {
		const struct kcs_row *row = pick_row(c, &r, list, nl, first);
		uint32_t hs6 = row->hs6;
		if (c->hs_from_file && rng_chance(&r, 0.02)) /* the long tail of the nomenclature */
			hs6 = c->hs[2][rng_below(&r, c->n_hs[2])].code;
		double v = rng_unit(&r);
		hs_national(hs6, v < 0.7 ? 0 : v < 0.9 ? 1 : 2, items[i].hs);
		if (!first) {
			first = row;
			meta->transport = row->transport;
			meta->office_rank = row->office_rank;
			memcpy(meta->departure, row->departure, 2);
			memcpy(meta->origin, row->origin, 2);
			meta->fta =
			    row->fta && !export; /* the preference is claimed per declaration */
		}
		const char *orig = export			    ? "CN"
				   : (i > 0 && rng_chance(&r, 0.7)) ? first->origin
								    : row->origin;
		memcpy(items[i].origin, orig, 2);
		items[i].origin[2] = 0;
		double mass = row->mass_kg * rng_lognormal(&r, 1.0, 0.1);
		double q = mass * rng_lognormal(&r, 2.0, 1.2);
		items[i].quantity = q < 1 ? 1 : q > 4e9 ? 4000000000u : (uint32_t)(q + 0.5);
		items[i].gross_weight_g =
		    mass <= 0 ? 0 : (uint64_t)(mass * 1000.0 * (1.03 + 0.17 * rng_unit(&r)) + 0.5);
		double usd = row->value_usd * rng_lognormal(&r, 1.0, 0.15);
		if (fraudish && rng_chance(&r, 0.3))
			usd *= 0.3; /* undervaluation */
		meta->usd[i] = usd;
	}
}

/* ---- DECL ---- */

/* Items per declaration: mostly a few lines (geometric), and a tail of 2.5 % long declarations
 * (8 to 50 lines, consolidated shipments) that makes the jumbo frames; mean --items-mean. */
static unsigned item_count(struct traffic *t)
{
	const double tail_p = 0.025, tail_mean = 29;
	double mean = t->o->items_mean;
	if (mean < 1 + tail_p * tail_mean)
		return rng_geometric(&t->r, mean, CWP_MAX_ITEMS);
	if (rng_chance(&t->r, tail_p))
		return (unsigned)rng_range(&t->r, 8, CWP_MAX_ITEMS);
	return rng_geometric(&t->r, (mean - tail_p * tail_mean) / (1 - tail_p), CWP_MAX_ITEMS);
}

static void to_currency(double usd, const char cur[3], uint64_t *minor_units)
{
	double rate;
	unsigned minor;
	if (!currency_rate(cur, &rate, &minor)) {
		rate = 1;
		minor = 2;
	}
	double v = usd * rate;
	for (unsigned i = 0; i < minor; i++)
		v *= 10;
	*minor_units = v < 1 ? 1 : (uint64_t)(v + 0.5);
}

static void pick_currency(struct traffic *t, const char country[2], char out[4])
{
	double u = rng_unit(&t->r);
	const char *cur = "USD";
	if (u >= 0.55 && u < 0.70) {
		cur = "CNY";
	} else if (u >= 0.70) {
		const struct country *k = corpus_country(t->c, country);
		double rate;
		unsigned minor;
		if (k && currency_rate(k->currency, &rate, &minor)) {
			memcpy(out, k->currency, 3);
			out[3] = 0;
			return;
		}
	}
	memcpy(out, cur, 4);
}

static void add_doc(struct traffic *t, struct cwp_decl_in *d, uint8_t type, const char *cc)
{
	if (d->doc_count >= CWP_MAX_DOCS)
		return;
	struct cwp_docref_in *x = &d->docs[d->doc_count++];
	x->doc_type = type;
	doc_no(t, type, cc, x->doc_no);
	t->docs[type]++;
}

static void decl_docs(struct traffic *t, struct cwp_decl_in *d, const struct ship_meta *meta,
		      enum ent_class cls, bool known)
{
	bool import = d->direction == CWP_IMPORT;
	uint8_t need = 0;
	unsigned licences = 0;
	for (unsigned i = 0; i < d->item_count; i++) {
		uint8_t m = docs_required(d->items[i].hs);
		need |= m;
		licences += (m >> CWP_DOC_LICENCE) & 1;
	}
	for (uint8_t k = CWP_DOC_LICENCE; k <= CWP_DOC_CITES; k++) {
		if (!(need & (1u << k)))
			continue;
		if (rng_chance(&t->r, 0.95)) /* 5 % forget a required document */
			add_doc(t, d, k, meta->origin);
		if (k == CWP_DOC_LICENCE && licences > 1 && rng_chance(&t->r, 0.5))
			add_doc(t, d, k, meta->origin); /* one licence per controlled line */
	}
	if (import && meta->fta && rng_chance(&t->r, 0.9))
		add_doc(t, d, CWP_DOC_ORIGIN_CERT, meta->origin);
	bool trusted = known && cls <= ENT_GOOD;
	if (import && rng_chance(&t->r, trusted ? 0.2 : 0.08))
		add_doc(t, d, CWP_DOC_THIRD_PARTY_CERT, meta->origin);
	if (!import && rng_chance(&t->r, trusted ? 0.4 : 0.2))
		add_doc(t, d, CWP_DOC_INSPECTION_CERT, "CN");
}

static void decl_no(struct traffic *t, uint16_t port, bool import, char out[19])
{
	snprintf(out, 19, "%04u2025%c%09llu", port % 10000, import ? '1' : '0',
		 (unsigned long long)(t->decl_serial++ % 1000000000ull));
}

/* A third of declarations are lodged by customs brokers on behalf of the owner. */
static uint64_t pick_declarant(struct traffic *t, bool *broker)
{
	*broker = rng_chance(&t->r, 0.35);
	if (*broker)
		return t->p->brokers[rng_below(&t->r, 48)];
	return pop_draw(t->p, &t->r, 0.04);
}

static const struct manifest_rec *pick_manifest(struct traffic *t)
{
	if (!t->pub_n)
		return NULL;
	uint32_t back = (uint32_t)rng_below(&t->r, t->pub_n);
	return &t->pub[(t->pub_next + PUB_RING - 1 - back) % PUB_RING];
}

enum bill_kind { BILL_MANIFEST, BILL_UNKNOWN, BILL_BLANK, BILL_EXPORT };

static void make_decl(struct traffic *t, struct msg *m, enum bill_kind bill)
{
	struct cwp_decl_in d;
	memset(&d, 0, sizeof(d));
	bool import = bill != BILL_EXPORT;
	d.direction = import ? CWP_IMPORT : CWP_EXPORT;
	bool broker;
	uint64_t declarant = pick_declarant(t, &broker);
	bool known = declarant < t->p->n;
	enum ent_class cls = known ? pop_class(t->p, declarant) : ENT_SERIOUS;
	t->decl_class[known ? cls : 5]++;
	pop_uscc(t->p, declarant, d.declarant);

	const struct manifest_rec *mf = bill == BILL_MANIFEST ? pick_manifest(t) : NULL;
	if (bill == BILL_MANIFEST && !mf)
		bill = BILL_BLANK; /* nothing sent yet to refer to */
	struct ship_meta meta;
	uint64_t ship_seed = mf ? mf->ship_seed : rng_next(&t->r);
	unsigned n = mf ? mf->n_items : item_count(t);
	bool fraudish = known && cls >= ENT_DISHONEST;
	gen_items(t, ship_seed, !import, fraudish, n, d.items, &meta);
	d.item_count = (uint8_t)n;

	uint64_t owner = declarant;
	if (mf && !mf->consignee_blank)
		owner = mf->consignee;
	else if (broker || !rng_chance(&t->r, 0.45))
		owner = pop_draw(t->p, &t->r, 0.02);
	bool blank_owner = !mf && rng_chance(&t->r, 0.015);
	if (mf) {
		t->decl_manifest++;
		if (!mf->consignee_blank && rng_chance(&t->r, 0.03)) {
			do /* someone else clears the goods */
				owner = pop_draw(t->p, &t->r, 0.02);
			while (owner == mf->consignee);
			t->mm_owner++;
		}
		if (rng_chance(&t->r, 0.03)) { /* a line that is not on the bill */
			struct ship_meta other;
			struct cwp_item_in extra;
			gen_items(t, rng_next(&t->r), false, false, 1, &extra, &other);
			unsigned k = (unsigned)rng_below(&t->r, n);
			if (memcmp(extra.hs, d.items[k].hs, 4) != 0) {
				d.items[k] = extra;
				meta.usd[k] = other.usd[0];
				t->mm_hs++;
			}
		}
		memcpy(d.transport_doc, mf->transport_doc, sizeof(d.transport_doc));
	} else if (bill == BILL_UNKNOWN || bill == BILL_EXPORT) {
		if (bill == BILL_UNKNOWN || rng_chance(&t->r, 0.7))
			bill_no(t, meta.transport, d.transport_doc);
		t->decl_no_manifest += bill == BILL_UNKNOWN;
	} else {
		t->decl_blank_bill++;
	}
	if (!blank_owner)
		pop_uscc(t->p, owner, d.owner);

	const char *tc = import ? meta.departure : NULL;
	char dest[2];
	if (import && !memcmp(tc, "CN", 2))
		tc = meta.origin;
	if (!import) {
		const struct kcs_row *row = &t->c->rows[t->c->imp[rng_below(&t->r, t->c->n_imp)]];
		memcpy(dest, row->origin, 2);
		tc = dest;
	}
	memcpy(d.trade_country, tc, 2);
	pick_currency(t, d.trade_country, d.currency);
	uint64_t total = 0;
	for (unsigned i = 0; i < n; i++) {
		to_currency(meta.usd[i], d.currency, &d.items[i].value);
		total += d.items[i].value;
	}
	d.total_value = total;
	do {
		d.trade_mode = trade_modes[pick_trade_mode_idx(t)].mode;
	} while (!import && d.trade_mode == 1210);
	d.customs_port = ports[meta.office_rank % (sizeof(ports) / sizeof(ports[0]))];
	d.transport_mode = meta.transport;
	decl_no(t, d.customs_port, import, d.decl_no);
	decl_docs(t, &d, &meta, cls, known);

	m->len = cwp_put_decl(m->buf, sizeof(m->buf), &d);
	m->type = CWP_DECL;
	m->sender = senders_for(t->s, declarant);
	t->items += n;
	if (import)
		t->decl_import++;
	else
		t->decl_export++;
}

/* ---- MANIFEST ---- */

static void make_manifest(struct traffic *t, struct msg *m)
{
	struct cwp_manifest_in mi;
	memset(&mi, 0, sizeof(mi));
	struct manifest_rec *rec = &t->pending[t->pending_next % 4096];
	int slot = (int)(t->pending_next++ % 4096);
	memset(rec, 0, sizeof(*rec));
	rec->ship_seed = rng_next(&t->r);
	rec->n_items = (uint8_t)item_count(t);
	rec->consignee_blank = rng_chance(&t->r, 0.06); /* "to order" bills */
	rec->consignee = pop_draw(t->p, &t->r, 0.02);
	struct cwp_item_in items[CWP_MAX_ITEMS];
	struct ship_meta meta;
	gen_items(t, rec->ship_seed, false, false, rec->n_items, items, &meta);
	rec->transport = meta.transport;
	bill_no(t, meta.transport, rec->transport_doc);

	memcpy(mi.transport_doc, rec->transport_doc, sizeof(mi.transport_doc));
	if (!rec->consignee_blank)
		pop_uscc(t->p, rec->consignee, mi.consignee);
	bool air = meta.transport == 5;
	/* One draw per statement: the order of argument evaluation is unspecified in C. */
	unsigned who = (unsigned)rng_below(&t->r, 12), voyage = (unsigned)rng_range(&t->r, 1, 999);
	unsigned month = (unsigned)rng_range(&t->r, 1, 12), day = (unsigned)rng_range(&t->r, 1, 28);
	if (air)
		snprintf(mi.conveyance, sizeof(mi.conveyance), "%s%03u/%02u%02u",
			 airlines[who % 10], voyage, month, day);
	else
		snprintf(mi.conveyance, sizeof(mi.conveyance), "%.11s %03u%c", vessels[who],
			 voyage % 200, "EWNS"[day % 4]);
	locode_loading(meta.departure, air, rng_next(&t->r), mi.port_loading);
	uint16_t port = ports[meta.office_rank % (sizeof(ports) / sizeof(ports[0]))];
	memcpy(mi.port_discharge, locode_discharge(port), 6);
	mi.item_count = rec->n_items;
	for (unsigned i = 0; i < rec->n_items; i++) {
		memcpy(mi.items[i].hs4, items[i].hs, 4);
		mi.items[i].hs4[4] = 0;
		uint32_t per = (uint32_t)rng_range(&t->r, 1, 48);
		mi.items[i].packages = items[i].quantity / per ? items[i].quantity / per : 1;
		mi.items[i].gross_weight_g = items[i].gross_weight_g;
	}
	m->len = cwp_put_manifest(m->buf, sizeof(m->buf), &mi);
	m->type = CWP_MANIFEST;
	m->manifest_slot = slot;
	/* Manifests come from a dozen shipping lines and air cargo agents. */
	m->sender = senders_for(t->s, 0xCA77 ^ (mix64(rec->ship_seed) % 12));
}

void traffic_publish_manifest(struct traffic *t, int slot)
{
	if (slot < 0)
		return;
	t->pub[t->pub_next] = t->pending[slot];
	t->pub_next = (t->pub_next + 1) % PUB_RING;
	if (t->pub_n < PUB_RING)
		t->pub_n++;
}

/* ---- e-commerce ---- */

static void buyer_next(struct traffic *t, uint64_t *buyer, double *median)
{
	struct buyer_slot *b = &t->buyers[rng_below(&t->r, BUYER_POOL)];
	if (!b->remaining) {
		double u = rng_unit(&t->r);
		b->id = t->next_buyer++;
		b->median_cny = rng_lognormal(&t->r, 260, 0.4);
		if (u < 0.70) {
			b->remaining = 1;
		} else if (u < 0.90) {
			b->remaining = (unsigned)rng_range(&t->r, 2, 5);
		} else if (u < 0.98) {
			b->remaining = (unsigned)rng_range(&t->r, 6, 30);
		} else { /* a daigou reseller: the annual quota is what stops them */
			b->remaining = (unsigned)rng_range(&t->r, 40, 120);
			b->median_cny = rng_lognormal(&t->r, 1600, 0.3);
			t->heavy_buyers++;
		}
	}
	b->remaining--;
	*buyer = mix64(t->o->seed ^ 0xB17E5ull ^ (b->id * 0x9E3779B97F4A7C15ull)) | 1;
	*median = b->median_cny;
}

static struct msg *backlog_push(struct traffic *t)
{
	struct msg *m = &t->backlog[(t->bl_head + t->bl_n++) % BACKLOG];
	m->manifest_slot = -1;
	m->must_end = false;
	return m;
}

static void make_group(struct traffic *t, struct msg *list)
{
	struct rng *r = &t->r;
	unsigned e = (unsigned)rng_below(r, 64);
	uint64_t ebiz = t->p->ebiz[e];
	uint64_t platform = t->p->platforms[e % 16];
	uint64_t carrier = t->p->carriers[rng_below(r, 12)];
	unsigned sender = senders_for(t->s, 0xEB12 ^ ebiz);
	uint64_t buyer;
	double median;
	buyer_next(t, &buyer, &median);
	t->groups++;

	struct cwp_list_in l;
	memset(&l, 0, sizeof(l));
	l.item_count = (uint8_t)rng_geometric(r, 1.6, 8);
	double target = rng_lognormal(r, median, 0.7);
	if (rng_chance(r, 0.008))
		target = 5000 + rng_unit(r) * 4000; /* over the single-list limit */
	if (target < 5)
		target = 5;
	uint64_t total = 0;
	unsigned nb = N_BASKET;
	for (unsigned i = 0; i < l.item_count; i++) {
		unsigned k = rng_pick_cum(r, t->cum_ecom_item, nb);
		struct cwp_item_in *it = &l.items[i];
		hs_national(ecom_basket[k].hs6, 0, it->hs);
		memcpy(it->origin, ecom_basket[k].origin, 3);
		double share = target / l.item_count * (0.6 + 0.8 * rng_unit(r));
		unsigned q = (unsigned)(share / ecom_basket[k].cny + 0.5);
		it->quantity = q ? q : 1;
		it->value = (uint64_t)(share * 100 + 0.5);
		it->gross_weight_g = (uint64_t)(it->quantity * ecom_basket[k].kg * 1000 + 0.5);
		total += it->value;
	}
	if (total > 500000)
		t->over_single++;

	struct cwp_order_in o;
	memset(&o, 0, sizeof(o));
	snprintf(o.order_no, sizeof(o.order_no), "%s25%013llu", platform_codes[e % 16],
		 (unsigned long long)(t->order_serial++ % 10000000000000ull));
	pop_uscc(t->p, platform, o.platform);
	memcpy(o.currency, "CNY", 4);
	o.buyer = buyer;
	o.amount = total;

	struct cwp_payment_in pay;
	memset(&pay, 0, sizeof(pay));
	memcpy(pay.order_no, o.order_no, sizeof(pay.order_no));
	char d[20];
	digits(r, d, 16);
	snprintf(pay.payment_no, sizeof(pay.payment_no), "AP25%.16s", d);
	pay.buyer = buyer;
	pay.amount = total;

	struct cwp_waybill_in w;
	memset(&w, 0, sizeof(w));
	memcpy(w.order_no, o.order_no, sizeof(w.order_no));
	unsigned ci = (unsigned)(carrier % 12);
	digits(r, d, 13);
	snprintf(w.waybill_no, sizeof(w.waybill_no), "%s%.13s", waybill_prefix[ci], d);
	pop_uscc(t->p, carrier, w.carrier);

	static const uint16_t ecom_ports[] = {5141, 5349, 2244, 3700, 2900, 4600, 8000, 6400, 213};
	l.customs_port = ecom_ports[rng_below(r, sizeof(ecom_ports) / sizeof(ecom_ports[0]))];
	l.trade_mode = rng_chance(r, 0.65) ? 9610 : 1210;
	snprintf(l.list_no, sizeof(l.list_no), "%04u2025I%09llu", l.customs_port % 10000,
		 (unsigned long long)(t->list_serial++ % 1000000000ull));
	memcpy(l.order_no, o.order_no, sizeof(l.order_no));
	memcpy(l.waybill_no, w.waybill_no, sizeof(l.waybill_no));
	pop_uscc(t->p, ebiz, l.ebiz);
	memcpy(l.currency, "CNY", 4);
	l.buyer = buyer;
	l.total_value = total;

	/* The inconsistencies the three-document cross-check exists for. */
	double u = rng_unit(r);
	if (u < 0.015) {
		pay.buyer = mix64(buyer) | 1; /* paid by someone else */
		t->mm_buyer++;
	} else if (u < 0.035) {
		pay.amount = total + total * (5 + rng_below(r, 25)) / 100;
		t->mm_amount++;
	} else if (u < 0.055) {
		pay.amount = total - total / 400; /* rounding, within the tolerance */
		t->tol_amount++;
	} else if (u < 0.07) {
		l.waybill_no[2 + rng_below(r, 8)] ^= 1; /* a digit typed wrong */
		t->mm_waybill++;
	}
	int missing = rng_chance(r, 0.03) ? (int)rng_below(r, 3) : -1;
	t->missing_part += missing >= 0;

	struct msg *m;
	if (missing != 0) {
		m = backlog_push(t);
		m->len = cwp_put_order(m->buf, sizeof(m->buf), &o);
		m->type = CWP_ORDER;
		m->sender = sender;
	}
	if (missing != 1) {
		m = backlog_push(t);
		m->len = cwp_put_payment(m->buf, sizeof(m->buf), &pay);
		m->type = CWP_PAYMENT;
		m->sender = sender;
	}
	if (missing != 2) {
		m = backlog_push(t);
		m->len = cwp_put_waybill(m->buf, sizeof(m->buf), &w);
		m->type = CWP_WAYBILL;
		m->sender = sender;
	}
	m = list;
	m->len = cwp_put_list(m->buf, sizeof(m->buf), &l);
	m->type = CWP_LIST;
	m->sender = sender;
	m->manifest_slot = -1;
	m->must_end = false;
}

static void refill_backlog(struct traffic *t)
{
	struct msg lists[GROUPS_BATCH];
	for (unsigned g = 0; g < GROUPS_BATCH; g++) {
		make_group(t, &lists[g]);
	}
	for (unsigned g = 0; g < GROUPS_BATCH; g++)
		*backlog_push(t) = lists[g];
}

/* ---- the stream ---- */

struct traffic *traffic_new(const struct cwgen_opts *o, const struct corpus *c,
			    const struct population *p, const struct senders *s)
{
	struct traffic *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->o = o;
	t->c = c;
	t->p = p;
	t->s = s;
	rng_seed(&t->r, o->seed, 0x7AFF1C);
	t->decl_serial = rng_range(&t->r, 100000000, 400000000);
	t->list_serial = rng_range(&t->r, 100000000, 400000000);
	t->order_serial = rng_range(&t->r, 1000000000, 9000000000ull);
	t->bill_serial = rng_range(&t->r, 1000000, 9000000);
	t->next_buyer = rng_next(&t->r) >> 16;
	uint32_t s2 = 0;
	for (size_t i = 0; i < sizeof(trade_modes) / sizeof(trade_modes[0]); i++)
		t->cum_trade_mode[i] = s2 += trade_modes[i].w;
	s2 = 0;
	for (size_t i = 0; i < N_BASKET; i++)
		t->cum_ecom_item[i] = s2 += ecom_basket[i].w;
	return t;
}

void traffic_free(struct traffic *t)
{
	free(t);
}

void traffic_next(struct traffic *t, struct msg *m)
{
	m->manifest_slot = -1;
	m->must_end = false;
	double u = rng_unit(&t->r);
	if (u < 0.60) {
		double v = rng_unit(&t->r);
		enum bill_kind b = v < 0.35   ? BILL_EXPORT
				   : v < 0.90 ? BILL_MANIFEST
				   : v < 0.93 ? BILL_UNKNOWN
					      : BILL_BLANK;
		make_decl(t, m, b);
	} else if (u < 0.70) {
		make_manifest(t, m);
	} else {
		if (!t->bl_n)
			refill_backlog(t);
		*m = t->backlog[t->bl_head];
		t->bl_head = (t->bl_head + 1) % BACKLOG;
		t->bl_n--;
	}
	t->by_type[m->type]++;
}

void traffic_decl_no_manifest(struct traffic *t, struct msg *m)
{
	m->manifest_slot = -1;
	m->must_end = false;
	make_decl(t, m, BILL_UNKNOWN);
}

void traffic_summary(const struct traffic *t, FILE *f)
{
	uint64_t decl = t->by_type[CWP_DECL];
	fprintf(f, "  DECL %llu (import %llu, export %llu; %.2f items on average), MANIFEST %llu\n",
		(unsigned long long)decl, (unsigned long long)t->decl_import,
		(unsigned long long)t->decl_export, decl ? (double)t->items / (double)decl : 0.0,
		(unsigned long long)t->by_type[CWP_MANIFEST]);
	fprintf(
	    f,
	    "  imports: %llu on a manifest sent earlier (owner mismatch %llu, HS mismatch %llu), "
	    "%llu on a bill never sent, %llu without a bill\n",
	    (unsigned long long)t->decl_manifest, (unsigned long long)t->mm_owner,
	    (unsigned long long)t->mm_hs, (unsigned long long)t->decl_no_manifest,
	    (unsigned long long)t->decl_blank_bill);
	fprintf(f,
		"  declarants: aeo %llu, good %llu, warning %llu, dishonest %llu, serious %llu, "
		"unregistered %llu\n",
		(unsigned long long)t->decl_class[0], (unsigned long long)t->decl_class[1],
		(unsigned long long)t->decl_class[2], (unsigned long long)t->decl_class[3],
		(unsigned long long)t->decl_class[4], (unsigned long long)t->decl_class[5]);
	fprintf(f,
		"  documents: LICENCE %llu, QUARANTINE %llu, ORIGIN_CERT %llu, "
		"THIRD_PARTY_CERT %llu, INSPECTION_CERT %llu, CITES %llu\n",
		(unsigned long long)t->docs[1], (unsigned long long)t->docs[2],
		(unsigned long long)t->docs[3], (unsigned long long)t->docs[4],
		(unsigned long long)t->docs[5], (unsigned long long)t->docs[6]);
	fprintf(
	    f, "  e-commerce: ORDER %llu, PAYMENT %llu, WAYBILL %llu, LIST %llu\n",
	    (unsigned long long)t->by_type[CWP_ORDER], (unsigned long long)t->by_type[CWP_PAYMENT],
	    (unsigned long long)t->by_type[CWP_WAYBILL], (unsigned long long)t->by_type[CWP_LIST]);
	fprintf(f,
		"  e-commerce groups %llu: part missing %llu, buyer mismatch %llu, amount mismatch "
		"%llu (+%llu within tolerance), waybill mismatch %llu, over single limit %llu, "
		"heavy buyers %llu\n",
		(unsigned long long)t->groups, (unsigned long long)t->missing_part,
		(unsigned long long)t->mm_buyer, (unsigned long long)t->mm_amount,
		(unsigned long long)t->tol_amount, (unsigned long long)t->mm_waybill,
		(unsigned long long)t->over_single, (unsigned long long)t->heavy_buyers);
}
