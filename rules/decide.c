/*
 * decide.c - a burst of datagrams in, their verdicts out: DESIGN §3.4 (validation order), §3.5
 * (sessions) and §4 (the decision), step by step.
 *
 * A burst is decided in two passes over a chunk of messages:
 *   pass 1, bulk, order-free: frame and decode every message, look up every declarant's class
 *           (one bulk hash lookup), every item's profile (bulk LPM) and best targeting rule (one
 *           bulk ACL classification);
 *   pass 2, in message order: replay window, the stores (manifests, e-commerce parts, quotas),
 *           and each verdict from the contributions of §4.3.
 * Pass 2 must stay in order because a MANIFEST or an ORDER changes what the next DECL or LIST
 * sees; nothing pass 1 reads is written by messages.
 */
#include <stdlib.h>
#include <string.h>

#include <rte_malloc.h>
#include <rte_prefetch.h>

#include "rules/hits.h"
#include "rules/engine_int.h"
#include "rules/siphash.h"

#define CHUNK_MSGS  512
#define CHUNK_ITEMS 4096
#define NO_RULE	    UINT32_MAX

/* One message of the chunk, from framing to verdict. */
struct pending {
	struct cwp_raw_msg raw;
	struct cwp_msg m;
	struct cw_sender *sender;
	struct cwp_verdict *out;
	uint8_t frame;	 /* enum cwp_frame_result: OK or BROKEN */
	uint8_t decoded; /* enum cwp_reject from cwp_decode_body */
	uint8_t cls;	 /* DECL/LIST: the declarant's class (pass 1) */
	uint32_t item0;	 /* DECL/LIST: index of its first item in the chunk's item arrays */
	/* pass 1: the hashes of the store keys pass 2 looks up, so that each key is hashed once:
	 * [0] the manifest (MANIFEST, DECL import) or the order (e-commerce), [1] a LIST's buyer */
	uint32_t store_hash[2];
};

struct cw_ctx {
	struct cw_engine *e;
	unsigned worker_id;
	struct cw_snapshot *snap; /* for the current burst */
	struct cw_hits hits;	  /* per rule of the snapshot last used (readable by others) */
	struct cw_counters cnt;

	uint32_t n_msgs, n_items;
	struct pending msgs[CHUNK_MSGS];
	uint32_t n_deciding; /* the DECL and LIST messages to decide, listed as they are queued: */
	uint16_t deciding[CHUNK_MSGS]; /* pass 1's loops then skip the others without a branch */
	uint64_t hs[CHUNK_ITEMS];
	uint32_t profile[CHUNK_ITEMS];
	uint32_t best[CHUNK_ITEMS];
	struct cw_item_facts facts[CHUNK_ITEMS];
	struct cw_acl_key keys[CHUNK_ITEMS];
	const struct cw_acl_key *keyp[CHUNK_ITEMS];
	uint32_t n_slots; /* the store slots pass 1 prefetches: at most two per message */
	struct store_slot {
		const struct cw_store *st;
		uint32_t hash;
	} slots[2 * CHUNK_MSGS];
};

/* ---------------------------------------------------------------- context */

struct cw_ctx *cw_ctx_create(struct cw_engine *e, unsigned worker_id)
{
	if (worker_id >= e->cfg.max_workers)
		return NULL;
	struct cw_ctx *c = rte_zmalloc("cw_ctx", sizeof(*c), 64);
	if (!c)
		return NULL;
	c->e = e;
	c->worker_id = worker_id;
	for (unsigned i = 0; i < CHUNK_ITEMS; i++)
		c->keyp[i] = &c->keys[i];
	rte_rcu_qsbr_thread_register(e->qs, worker_id);
	rte_rcu_qsbr_thread_online(e->qs, worker_id);
	return c;
}

void cw_ctx_destroy(struct cw_ctx *c)
{
	if (!c)
		return;
	rte_rcu_qsbr_thread_offline(c->e->qs, c->worker_id);
	rte_rcu_qsbr_thread_unregister(c->e->qs, c->worker_id);
	cw_hits_free(&c->hits);
	rte_free(c);
}

void cw_ctx_quiescent(struct cw_ctx *c)
{
	rte_rcu_qsbr_quiescent(c->e->qs, c->worker_id);
}

void cw_ctx_offline(struct cw_ctx *c)
{
	rte_rcu_qsbr_thread_offline(c->e->qs, c->worker_id);
}

void cw_ctx_online(struct cw_ctx *c)
{
	rte_rcu_qsbr_thread_online(c->e->qs, c->worker_id);
}

const struct cw_counters *cw_ctx_counters(const struct cw_ctx *c)
{
	return &c->cnt;
}

void cw_ctx_rule_hits(const struct cw_ctx *c, void (*fn)(uint32_t, uint64_t, void *), void *arg)
{
	cw_hits_collect((struct cw_hits *)&c->hits, fn, arg);
}

/* Per-rule hit counters follow the snapshot in use; a new snapshot starts them at zero. */
static void track_hits(struct cw_ctx *c)
{
	cw_hits_reclaim(&c->hits);
	if (c->snap && c->snap->serial != c->hits.serial)
		cw_hits_switch(&c->hits, c->snap->rule_brief, c->snap->rs->n_rules,
			       c->snap->serial);
}

/* ---------------------------------------------------------------- pass 1 */

static inline uint16_t packed_cc(const char *cc)
{
	return (uint16_t)(((uint8_t)cc[0] << 8) | (uint8_t)cc[1]);
}

static bool blank(const char *f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (f[i] != ' ')
			return false;
	return true;
}

static bool wants_decision(const struct pending *p)
{
	return p->frame == CWP_FRAME_OK && p->decoded == CWP_OK &&
	       (p->raw.type == CWP_DECL || p->raw.type == CWP_LIST);
}

/* The facts of §4.3 shared by every item of a message (class filled in later). */
static void header_facts(const struct pending *p, struct cw_item_facts *f)
{
	memset(f, 0, sizeof(*f));
	if (p->raw.type == CWP_DECL) {
		const struct cwp_decl *d = &p->m.u.decl;
		f->msg = CW_MSG_DECL;
		f->direction = d->direction;
		f->docs_mask = d->docs_mask;
		f->has_owner = !blank(d->owner, 18);
		f->has_country = f->has_transport = true;
		f->declarant = d->declarant;
		f->owner = d->owner;
		f->country = packed_cc(d->trade_country);
		f->trade_mode = d->trade_mode;
		f->port = d->customs_port;
		f->transport = d->transport_mode;
		f->total_value = d->total_value;
	} else {
		const struct cwp_list *l = &p->m.u.list;
		f->msg = CW_MSG_LIST;
		f->direction = CWP_IMPORT; /* §4.3: a LIST is an import with no documents */
		f->declarant = l->ebiz;
		f->trade_mode = l->trade_mode;
		f->port = l->customs_port;
		f->total_value = l->total_value;
	}
}

static const uint8_t *items_of(const struct pending *p, unsigned *n)
{
	if (p->raw.type == CWP_DECL) {
		*n = p->m.u.decl.item_count;
		return p->m.u.decl.items;
	}
	*n = p->m.u.list.item_count;
	return p->m.u.list.items;
}

/* Registry classes of all declarants of the chunk, 64 keys per bulk lookup. The keys' hashes
 * are worked out here (the registry's own hash function, inline) rather than by rte_hash
 * through a call per key. */
static void lookup_classes(struct cw_ctx *c)
{
	const void *keys[RTE_HASH_LOOKUP_BULK_MAX];
	hash_sig_t sig[RTE_HASH_LOOKUP_BULK_MAX];
	struct pending *who[RTE_HASH_LOOKUP_BULK_MAX];
	void *data[RTE_HASH_LOOKUP_BULK_MAX];
	unsigned n = 0;
	for (uint32_t i = 0; i <= c->n_deciding; i++) {
		if (i < c->n_deciding) {
			struct pending *p = &c->msgs[c->deciding[i]];
			const char *uscc =
			    p->raw.type == CWP_DECL ? p->m.u.decl.declarant : p->m.u.list.ebiz;
			keys[n] = uscc;
			sig[n] = cw_uscc_hash(uscc);
			who[n++] = p;
		}
		if (n == RTE_HASH_LOOKUP_BULK_MAX || (i == c->n_deciding && n)) {
			uint64_t hit = 0;
			rte_hash_lookup_with_hash_bulk_data(c->e->registry, keys, sig, n, &hit,
							    data);
			for (unsigned k = 0; k < n; k++)
				who[k]->cls =
				    (hit >> k) & 1 ? (uint8_t)(uintptr_t)data[k] : CW_CLS_UNKNOWN;
			n = 0;
		}
	}
}

/* Item facts and ACL keys for every item of every message to decide. */
static void build_item_keys(struct cw_ctx *c)
{
	const struct cw_snapshot *s = c->snap;
	for (uint32_t i = 0; i < c->n_deciding; i++) {
		struct pending *p = &c->msgs[c->deciding[i]];
		struct cw_item_facts hdr;
		header_facts(p, &hdr);
		hdr.cls = p->cls;
		uint32_t decl_id = 0, owner_id = 0;
		if (s->uses_parties) {
			decl_id = cw_intern_lookup(s, hdr.declarant);
			if (hdr.has_owner)
				owner_id = cw_intern_lookup(s, hdr.owner);
		}
		struct cw_acl_key mk; /* the header part of every item's key, filled once */
		cw_acl_key_fill_msg(&mk, &hdr, decl_id, owner_id);
		unsigned n;
		const uint8_t *items = items_of(p, &n);
		for (unsigned k = 0; k < n; k++) {
			uint32_t j = p->item0 + k;
			struct cwp_item_view it;
			cwp_item_at(items, k, &it);
			struct cw_item_facts *f = &c->facts[j];
			*f = hdr;
			f->hs = c->hs[j] = cw_hs_number(it.hs);
			f->origin = packed_cc(it.origin);
			f->quantity = it.quantity;
			f->value = it.value;
			f->gross_weight_g = it.gross_weight_g;
			c->keys[j] = mk;
			cw_acl_key_fill_item(&c->keys[j], f);
		}
	}
}

/* Hashes a key pass 2 will look up in store st, and notes its slot for prefetching. */
static void hash_store_key(struct cw_ctx *c, const struct cw_store *st, const void *key,
			   uint32_t *hash)
{
	*hash = cw_store_hash(st, key);
	c->slots[c->n_slots++] = (struct store_slot){st, *hash};
}

/* The hash of every store key the chunk's pass 2 will look up. */
static void hash_store_keys(struct cw_ctx *c)
{
	const struct cw_engine *e = c->e;
	c->n_slots = 0;
	for (uint32_t i = 0; i < c->n_msgs; i++) {
		struct pending *p = &c->msgs[i];
		if (p->frame != CWP_FRAME_OK || p->decoded != CWP_OK)
			continue;
		const struct cwp_msg *m = &p->m;
		uint32_t *h = p->store_hash;
		switch (p->raw.type) {
		case CWP_DECL:
			if (m->u.decl.direction == CWP_IMPORT)
				hash_store_key(c, e->manifests, m->u.decl.transport_doc, &h[0]);
			break;
		case CWP_MANIFEST:
			hash_store_key(c, e->manifests, m->u.manifest.transport_doc, &h[0]);
			break;
		case CWP_ORDER:
			hash_store_key(c, e->ecom, m->u.order.order_no, &h[0]);
			break;
		case CWP_PAYMENT:
			hash_store_key(c, e->ecom, m->u.payment.order_no, &h[0]);
			break;
		case CWP_WAYBILL:
			hash_store_key(c, e->ecom, m->u.waybill.order_no, &h[0]);
			break;
		case CWP_LIST:
			hash_store_key(c, e->ecom, m->u.list.order_no, &h[0]);
			hash_store_key(c, e->ledger, &m->u.list.buyer, &h[1]);
			break;
		}
	}
}

/* The store slots pass 2 will read or write, loaded while pass 1 works: a chunk's messages
 * name manifests, orders and buyers all over stores much bigger than the caches. The keys are
 * hashed first and the prefetches then issued back to back, so that many misses are in flight
 * at once. */
static void prefetch_stores(struct cw_ctx *c)
{
	hash_store_keys(c);
	for (uint32_t i = 0; i < c->n_slots; i++)
		cw_store_prefetch(c->slots[i].st, c->slots[i].hash);
}

static void pass_bulk(struct cw_ctx *c)
{
	prefetch_stores(c);
	if (!c->snap || !c->n_items)
		return;
	lookup_classes(c);
	build_item_keys(c);
	cw_profiles_lookup(c->snap, c->hs, c->profile, c->n_items);
	cw_rules_classify(c->snap, c->keyp, c->facts, c->best, c->n_items);
}

/* ---------------------------------------------------------------- pass 2: §4.3 */

/* The contributions of §4.3, kept as §4.3 reads them out: the highest mode, and for each mode
 * the first four distinct (reason, rule_id) pairs in order. */
struct contributions {
	uint8_t top;
	uint8_t n[CWP_NUM_MODES];
	struct cwp_reason r[CWP_NUM_MODES][CWP_MAX_REASONS];
};

/* Only the counts: a pair is read only below its mode's count, so the 128 bytes of pairs need
 * no zeroing (decide starts one per message). */
static void contrib_init(struct contributions *a)
{
	a->top = 0;
	memset(a->n, 0, sizeof(a->n));
}

/* Inline: called for most items (profile, rule), a call cost about as much as its body. */
static inline __attribute__((always_inline)) void
add(struct contributions *a, uint8_t mode, uint16_t reason, uint16_t item, uint32_t rule_id)
{
	if (mode > a->top)
		a->top = mode;
	uint8_t n = a->n[mode];
	if (n == CWP_MAX_REASONS)
		return;
	for (uint8_t k = 0; k < n; k++)
		if (a->r[mode][k].code == reason && a->r[mode][k].rule_id == rule_id)
			return;
	a->r[mode][n] = (struct cwp_reason){reason, item, rule_id};
	a->n[mode] = n + 1;
}

static bool ecom_mismatch(const struct cw_ecom_rec *e, const struct cwp_list *l, uint32_t tol_bp)
{
	if (e->order_buyer != l->buyer || e->payment_buyer != l->buyer ||
	    memcmp(e->waybill_no, l->waybill_no, 20) != 0)
		return true;
	const uint64_t amounts[2] = {e->order_amount, e->payment_amount};
	for (int i = 0; i < 2; i++) {
		uint64_t a = amounts[i], t = l->total_value;
		unsigned __int128 diff = a > t ? a - t : t - a;
		if (diff * 10000 > (unsigned __int128)tol_bp * t)
			return true;
	}
	return false;
}

static bool green_channel(uint8_t cls, uint8_t direction, uint8_t docs)
{
	if (cls != CW_CLS_AEO && cls != CW_CLS_GOOD && cls != CW_CLS_WARNING)
		return false;
	return (direction == CWP_IMPORT && (docs & (1u << CWP_DOC_THIRD_PARTY_CERT))) ||
	       (direction == CWP_EXPORT && (docs & (1u << CWP_DOC_INSPECTION_CERT)));
}

static bool hs4_in(const struct cw_manifest_rec *m, const char *hs)
{
	uint16_t h = (uint16_t)((hs[0] - '0') * 1000 + (hs[1] - '0') * 100 + (hs[2] - '0') * 10 +
				(hs[3] - '0'));
	for (unsigned i = 0; i < m->n_hs4; i++)
		if (m->hs4[i] == h)
			return true;
	return false;
}

/* §4.3 step 5: the manifest the declaration's transport document names. */
static void manifest_check(struct cw_ctx *c, const struct pending *p, struct contributions *a)
{
	const struct cwp_decl *d = &p->m.u.decl;
	if (d->direction != CWP_IMPORT || blank(d->transport_doc, 20))
		return;
	struct cw_manifest_rec m;
	if (!cw_store_get(c->e->manifests, d->transport_doc, p->store_hash[0], &m)) {
		add(a, CWP_MODE_VERIFY, CWP_RSN_NO_MANIFEST, CWP_ITEM_HDR, 0);
		return;
	}
	if (!blank(m.consignee, 18) && memcmp(m.consignee, d->owner, 18) != 0)
		add(a, CWP_MODE_SUPERVISE, CWP_RSN_MANIFEST_MISMATCH, CWP_ITEM_HDR, 0);
	for (unsigned i = 0; i < d->item_count; i++) {
		struct cwp_item_view it;
		cwp_item_at(d->items, i, &it);
		if (!hs4_in(&m, it.hs))
			add(a, CWP_MODE_SUPERVISE, CWP_RSN_MANIFEST_MISMATCH, (uint16_t)i, 0);
	}
}

/* §4.3 for one DECL or LIST whose LIST pre-checks passed. */
static void decide(struct cw_ctx *c, const struct pending *p, const struct cw_ecom_rec *ecom,
		   struct cwp_verdict *v)
{
	const struct cw_ruleset *rs = c->snap->rs;
	bool is_decl = p->raw.type == CWP_DECL;
	const struct cw_item_facts *hdr = &c->facts[p->item0];
	struct contributions a;
	contrib_init(&a);

	/* 1. the declarant's credit class */
	uint8_t cls = p->cls;
	add(&a, rs->cls[cls].mode, CWP_RSN_CLASS, CWP_ITEM_HDR, 0);

	/* 2. LIST: the three documents must agree with the list */
	if (!is_decl && ecom_mismatch(ecom, &p->m.u.list, rs->tolerance_bp))
		add(&a, CWP_MODE_SUPERVISE, CWP_RSN_ECOM_MISMATCH, CWP_ITEM_HDR, 0);

	/* 3. documents and the green channel */
	uint8_t docs = hdr->docs_mask;
	bool green = green_channel(cls, hdr->direction, docs);

	/* 4. every item: profile, documents, targeting rules */
	uint32_t rate = rs->cls[cls].sample_bp;
	unsigned n_items;
	items_of(p, &n_items);
	for (unsigned i = 0; i < n_items; i++) {
		uint32_t j = p->item0 + i;
		uint32_t pi = c->profile[j];
		const struct cw_profile_brief *prof =
		    pi == CW_NO_PROFILE ? NULL : &c->snap->profile_brief[pi];
		uint8_t need = prof ? prof->docs_mask : 0;
		if ((need & docs) != need)
			add(&a, CWP_MODE_SUPERVISE, CWP_RSN_DOC_MISSING, (uint16_t)i, 0);
		else if (need)
			add(&a, CWP_MODE_VERIFY, CWP_RSN_DOC_VERIFY, (uint16_t)i, 0);
		if (prof && (!green || prof->strict)) {
			if (prof->mode > CWP_MODE_DECLARE)
				add(&a, prof->mode, CWP_RSN_PROFILE, (uint16_t)i, 0);
			if (prof->sample_bp > rate)
				rate = prof->sample_bp;
		}
		uint32_t best = c->best[j];
		if (best != NO_RULE) {
			const struct cw_rule_brief *rule = &c->snap->rule_brief[best];
			add(&a, rule->mode, CWP_RSN_TARGET, (uint16_t)i, rule->id);
			cw_hits_count(&c->hits, best);
		}
	}

	/* 5. DECL imports: the manifest */
	if (is_decl)
		manifest_check(c, p, &a);

	/* 6. keyed random selection */
	const char *key = is_decl ? p->m.u.decl.decl_no : p->m.u.list.list_no;
	if (rate > 0 && cw_siphash24_18(rs->salt, (const uint8_t *)key) % 10000 < rate)
		add(&a, CWP_MODE_SAMPLE, CWP_RSN_RANDOM, CWP_ITEM_HDR, 0);

	v->status = CWP_DECIDED;
	v->mode = a.top;
	v->flags = green ? CWP_VFLAG_GREEN : 0;
	v->reason_count = a.n[a.top];
	for (unsigned k = 0; k < a.n[a.top]; k++) /* mostly 1 or 2: cheaper than a memcpy call */
		v->reasons[k] = a.r[a.top][k];
}

/* §4.2: a LIST needs its three documents and must stay within the buyer's quotas. */
static uint16_t list_prechecks(struct cw_ctx *c, const struct pending *p, struct cw_ecom_rec *e)
{
	const struct cw_ruleset *rs = c->snap->rs;
	const struct cwp_list *l = &p->m.u.list;
	const uint8_t all = CW_ECOM_ORDER | CW_ECOM_PAYMENT | CW_ECOM_WAYBILL;
	if (!cw_store_get(c->e->ecom, l->order_no, p->store_hash[0], e) || (e->parts & all) != all)
		return CWP_REJ_MISSING_DOCS;
	if (l->total_value > rs->limit_single)
		return CWP_REJ_QUOTA_SINGLE;
	int rc = cw_ledger_charge(c->e->ledger, l->buyer, p->store_hash[1], l->total_value,
				  rs->limit_annual);
	if (rc > 0)
		return CWP_REJ_QUOTA_ANNUAL;
	return rc < 0 ? CWP_REJ_STORE_FULL : CWP_OK;
}

static uint16_t store_manifest(struct cw_ctx *c, const struct pending *p)
{
	const struct cwp_manifest *m = &p->m.u.manifest;
	struct cw_manifest_rec rec;
	memset(&rec, 0, sizeof(rec));
	memcpy(rec.consignee, m->consignee, 18);
	for (unsigned i = 0; i < m->item_count; i++) {
		char hs4[4];
		uint32_t packages;
		uint64_t weight;
		cwp_manifest_item_at(m->items, i, hs4, &packages, &weight);
		uint16_t h = (uint16_t)((hs4[0] - '0') * 1000 + (hs4[1] - '0') * 100 +
					(hs4[2] - '0') * 10 + (hs4[3] - '0'));
		unsigned k = 0;
		while (k < rec.n_hs4 && rec.hs4[k] < h)
			k++;
		if (k < rec.n_hs4 && rec.hs4[k] == h)
			continue;
		memmove(&rec.hs4[k + 1], &rec.hs4[k], sizeof(uint16_t) * (rec.n_hs4 - k));
		rec.hs4[k] = h;
		rec.n_hs4++;
	}
	int rc = cw_store_put(c->e->manifests, m->transport_doc, p->store_hash[0], &rec);
	return rc < 0 ? CWP_REJ_STORE_FULL : CWP_OK;
}

static uint16_t store_part(struct cw_ctx *c, const struct pending *p)
{
	const struct cwp_msg *m = &p->m;
	uint32_t h = p->store_hash[0];
	int rc;
	switch (p->raw.type) {
	case CWP_ORDER:
		rc = cw_ecom_set_order(c->e->ecom, m->u.order.order_no, h, m->u.order.buyer,
				       m->u.order.amount);
		break;
	case CWP_PAYMENT:
		rc = cw_ecom_set_payment(c->e->ecom, m->u.payment.order_no, h, m->u.payment.buyer,
					 m->u.payment.amount);
		break;
	default:
		rc = cw_ecom_set_waybill(c->e->ecom, m->u.waybill.order_no, h,
					 m->u.waybill.waybill_no);
	}
	return rc < 0 ? CWP_REJ_STORE_FULL : CWP_OK;
}

static void reject(struct cwp_verdict *v, uint16_t code)
{
	v->status = CWP_REJECTED;
	v->mode = CWP_MODE_NONE;
	v->reject_code = code;
}

/* §3.4 step 2c: type and body, then store or decide. */
static void step_c(struct cw_ctx *c, const struct pending *p, struct cwp_verdict *v)
{
	if (p->decoded != CWP_OK) {
		reject(v, p->decoded);
		return;
	}
	uint16_t rc = CWP_OK;
	struct cw_ecom_rec ecom;
	switch (p->raw.type) {
	case CWP_MANIFEST:
		rc = store_manifest(c, p);
		break;
	case CWP_ORDER:
	case CWP_PAYMENT:
	case CWP_WAYBILL:
		rc = store_part(c, p);
		break;
	case CWP_LIST:
		if (!c->snap)
			rc = CWP_REJ_NO_RULESET;
		else if ((rc = list_prechecks(c, p, &ecom)) == CWP_OK)
			decide(c, p, &ecom, v);
		break;
	case CWP_DECL:
		if (!c->snap)
			rc = CWP_REJ_NO_RULESET;
		else
			decide(c, p, NULL, v);
		break;
	}
	if (rc != CWP_OK)
		reject(v, rc);
	else if (p->raw.type != CWP_DECL && p->raw.type != CWP_LIST)
		v->status = CWP_ACCEPTED;
}

static void verdict_start(const struct cw_ctx *c, const struct pending *p, struct cwp_verdict *v)
{
	memset(v, 0, sizeof(*v));
	v->msg_seq = p->raw.seq;
	v->msg_type = p->raw.type;
	v->mode = CWP_MODE_NONE;
	v->ruleset_version = c->snap ? c->snap->version : 0;
	if (p->frame == CWP_FRAME_OK)
		cwp_ref_of(&p->raw, v->ref);
	else
		memset(v->ref, ' ', CWP_REF_LEN);
}

/* §3.4 steps 2b and 2c for one framed message; the caller holds its sender's session lock. */
static void answer(struct cw_ctx *c, const struct pending *p, struct cwp_verdict *v)
{
	verdict_start(c, p, v);
	if (p->frame != CWP_FRAME_OK) {
		reject(v, CWP_REJ_MALFORMED);
		return;
	}
	struct cw_session *ss = p->sender->session;
	uint64_t s = p->raw.seq;
	struct cw_cached *slot = &ss->slots[s % ss->window];
	if (ss->hi >= ss->window && s <= ss->hi - ss->window) {
		reject(v, CWP_REJ_STALE);
	} else if (slot->seq == s) {
		*v = slot->v;
		v->flags |= CWP_VFLAG_DUPLICATE;
	} else {
		step_c(c, p, v);
		slot->seq = s;
		slot->v = *v;
		if (s > ss->hi)
			ss->hi = s;
	}
}

static void count_verdict(struct cw_counters *k, const struct cwp_verdict *v)
{
	k->messages++;
	k->by_type[v->msg_type >= 1 && v->msg_type <= 6 ? v->msg_type : 0]++;
	k->by_status[v->status]++;
	if (v->status == CWP_DECIDED)
		k->by_mode[v->mode]++;
	if (v->status == CWP_REJECTED && v->reject_code < CWP_NUM_REJECTS)
		k->rejects[v->reject_code]++;
	if (v->flags & CWP_VFLAG_DUPLICATE)
		k->duplicates++;
	if (v->flags & CWP_VFLAG_GREEN)
		k->green++;
	for (unsigned i = 0; i < v->reason_count; i++)
		if (v->reasons[i].code < 10)
			k->reasons[v->reasons[i].code]++;
}

/* Messages in order, each under its sender's session lock, taken once for a run of messages
 * of the same sender (a datagram's messages all are). */
static void pass_ordered(struct cw_ctx *c)
{
	struct cw_session *held = NULL;
	for (uint32_t i = 0; i < c->n_msgs; i++) {
		struct pending *p = &c->msgs[i];
		struct cw_session *ss = p->sender->session;
		if (ss != held) {
			if (held)
				rte_spinlock_unlock(&held->lock);
			rte_spinlock_lock(&ss->lock);
			held = ss;
		}
		answer(c, p, p->out);
		count_verdict(&c->cnt, p->out);
	}
	if (held)
		rte_spinlock_unlock(&held->lock);
}

static void flush(struct cw_ctx *c)
{
	pass_bulk(c);
	pass_ordered(c);
	c->n_msgs = c->n_deciding = 0;
	c->n_items = 0;
}

/* ---------------------------------------------------------------- burst API */

void cw_burst_begin(struct cw_ctx *c)
{
	c->snap = atomic_load_explicit(&c->e->active, memory_order_acquire);
	track_hits(c);
	c->n_msgs = c->n_items = c->n_deciding = 0;
}

void cw_burst_end(struct cw_ctx *c)
{
	flush(c);
}

static struct cw_sender *find_sender(struct cw_ctx *c, uint32_t id)
{
	void *data;
	if (rte_hash_lookup_data(c->e->senders, &id, &data) < 0)
		return NULL;
	return data;
}

/* Queues one framed message for the two passes. */
static void queue_message(struct cw_ctx *c, const struct cwp_raw_msg *raw, uint8_t frame,
			  struct cw_sender *sender, struct cwp_verdict *out)
{
	struct pending *p = &c->msgs[c->n_msgs++];
	p->raw = *raw;
	p->frame = frame;
	p->sender = sender;
	p->out = out;
	p->decoded = frame == CWP_FRAME_OK ? (uint8_t)cwp_decode_body(raw, &p->m) : CWP_OK;
	p->cls = CW_CLS_UNKNOWN;
	p->item0 = c->n_items;
	if (wants_decision(p)) {
		c->deciding[c->n_deciding++] = (uint16_t)(c->n_msgs - 1);
		unsigned n;
		items_of(p, &n);
		c->n_items += n;
	}
}

enum cw_drop cw_burst_add(struct cw_ctx *c, const uint8_t *payload, size_t len,
			  const uint8_t *src_ip, bool ipv6, struct cwp_verdict *out,
			  uint16_t *n_out, uint32_t *sender_id)
{
	struct cwp_dgram_hdr h;
	c->cnt.datagrams++;
	*n_out = 0;
	enum cwp_dgram_err herr = cwp_parse_dgram_hdr(payload, len, &h);
	if (herr != CWP_DG_OK) {
		c->cnt.header_errs[herr]++;
		c->cnt.drops[CW_DROP_HEADER]++;
		return CW_DROP_HEADER;
	}
	if (sender_id)
		*sender_id = h.sender_id;
	struct cw_sender *snd = find_sender(c, h.sender_id);
	if (!snd) {
		c->cnt.drops[CW_DROP_UNKNOWN_SENDER]++;
		return CW_DROP_UNKNOWN_SENDER;
	}
	if (!cw_sender_allows(snd, src_ip, ipv6)) {
		c->cnt.drops[CW_DROP_SOURCE]++;
		return CW_DROP_SOURCE;
	}
	/* a datagram's items never exceed its bytes / 32: make room for the worst case */
	if (c->n_msgs + h.count > CHUNK_MSGS || c->n_items + len / CWP_ITEM_LEN + 1 > CHUNK_ITEMS)
		flush(c);
	c->cnt.answered_datagrams++;
	struct cwp_reader r;
	struct cwp_raw_msg raw;
	cwp_reader_init(&r, payload, len, &h);
	enum cwp_frame_result fr;
	while ((fr = cwp_reader_next(&r, &raw)) != CWP_FRAME_END) {
		queue_message(c, &raw, (uint8_t)fr, snd, &out[*n_out]);
		(*n_out)++;
		if (fr == CWP_FRAME_BROKEN)
			break;
	}
	return CW_DROP_NONE;
}
