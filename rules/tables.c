/*
 * tables.c - builds and queries a rule snapshot (see tables.h for the design).
 *
 * Build side (control thread): profiles into a decimal trie, the USCCs rules name into an intern
 * hash, targeting rules expanded (`in` lists, HS ranges split on the 8-digit boundary) into
 * rte_acl contexts, one per rule shape. Query side (workers): a trie walk per item and the
 * contexts' classifications of a burst's items.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_acl.h>
#include <rte_byteorder.h>
#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_malloc.h>

#include "dataplane/wire/cwp.h"
#include "rules/stores.h"
#include "rules/tables.h"

#define SAT32	UINT32_MAX
#define NO_RULE UINT32_MAX

enum {
	F_CLS_DIR,
	F_MSG_DOCS,
	F_TRANSPORT,
	F_TRADE_MODE,
	F_PORT,
	F_ORIGIN,
	F_COUNTRY,
	F_HS_TAIL,
	F_FLAGS,
	F_HS8,
	F_DECLARANT,
	F_OWNER,
	F_QUANTITY,
	F_VALUE,
	F_TOTAL,
	F_UNIT,
	NUM_FIELDS
};

RTE_ACL_RULE_DEF(cw_acl_rule, NUM_FIELDS);

#define FDEF(idx, ty, sz, in, member)                                                              \
	[idx] = {.type = RTE_ACL_FIELD_TYPE_##ty,                                                  \
		 .size = sz,                                                                       \
		 .field_index = idx,                                                               \
		 .input_index = in,                                                                \
		 .offset = offsetof(struct cw_acl_key, member)}

static const struct rte_acl_field_def field_defs[NUM_FIELDS] = {
    FDEF(F_CLS_DIR, BITMASK, 1, 0, cls_dir),   FDEF(F_MSG_DOCS, BITMASK, 1, 1, msg_docs),
    FDEF(F_TRANSPORT, RANGE, 1, 1, transport), FDEF(F_TRADE_MODE, RANGE, 2, 1, trade_mode),
    FDEF(F_PORT, RANGE, 2, 2, port),	       FDEF(F_ORIGIN, RANGE, 2, 2, origin),
    FDEF(F_COUNTRY, RANGE, 2, 3, country),     FDEF(F_HS_TAIL, RANGE, 1, 3, hs_tail),
    FDEF(F_FLAGS, BITMASK, 1, 3, flags),       FDEF(F_HS8, RANGE, 4, 4, hs8),
    FDEF(F_DECLARANT, RANGE, 4, 5, declarant), FDEF(F_OWNER, RANGE, 4, 6, owner),
    FDEF(F_QUANTITY, RANGE, 4, 7, quantity),   FDEF(F_VALUE, RANGE, 4, 8, value),
    FDEF(F_TOTAL, RANGE, 4, 9, total_value),   FDEF(F_UNIT, RANGE, 4, 10, unit_value),
};

/* Rules whose ranges make one trie too big are split over several contexts (rte_acl gives up
 * past 8 tries); a key is classified in each and the best result per mode is kept. */
#define MAX_ACL_PARTS 48

#define NUM_COMBOS    24
#define NUM_DOCSETS   64
#define NUM_CHAPTERS  100
#define NUM_HEADINGS  10000 /* 4-digit HS headings: contexts filter on these */
#define VALUE_BUCKETS 1024  /* origin and country codes, hashed */

/* The fields the heading, origin and country filters leave alone are filtered too, by buckets
 * of their values: transport by value, trade mode and port by blocks of 64 codes, the four
 * amounts by quarter octaves (amount_bucket). A bucket admits a context when one of its rules
 * admits a value in it: coarse, but rte_acl does the exact test, and "value >= 10 000 000"
 * contexts stop seeing the many items far below. */
#define AMOUNT_BUCKETS 124
#define CODE_BUCKETS   1024
enum { AM_QUANTITY, AM_VALUE, AM_TOTAL, AM_UNIT, NUM_AMOUNTS };
enum { CODE_TRADE_MODE, CODE_PORT, NUM_CODES };

/* Which items a context can match at all, from its rules, kept turned around: per value (a
 * combination of class, direction and message kind; a 4-digit HS heading; an origin or country
 * code) the mask of contexts that admit it. Items are classified only in the contexts all their
 * values admit: with one context per rule shape, most contexts concern few items. */
struct cw_acl_set {
	struct rte_acl_ctx *ctx[MAX_ACL_PARTS];
	unsigned n_ctx;
	uint32_t n_acl_rules;
	uint64_t combo_ctx[NUM_COMBOS]; /* by combo_of(): cls * 4 + export * 2 + list */
	uint64_t docs_ctx[NUM_DOCSETS]; /* by the documents present (key bits 0-5 of msg_docs) */
	uint64_t *heading_ctx;		/* [NUM_HEADINGS] */
	uint64_t origin_ctx[VALUE_BUCKETS], country_ctx[VALUE_BUCKETS]; /* by hashed code */
	uint64_t partyless_ctx; /* contexts with a rule that names neither declarant nor owner */
	uint64_t transport_ctx[256];
	uint64_t code_ctx[NUM_CODES][CODE_BUCKETS];	  /* by code_bucket() */
	uint64_t amount_ctx[NUM_AMOUNTS][AMOUNT_BUCKETS]; /* by amount_bucket() */
	/* Per context whose every rule bounds the same amount: that amount (AM_* + 1, 0 none) and,
	 * per HS heading, the lowest and highest bucket its rules for that heading admit. The
	 * buckets above are per context only, and "hs 8542 and unit_value < 6.43" next to "hs 0201
	 * and unit_value < 900" would admit every cheap item of either heading. */
	uint8_t joint_amount[MAX_ACL_PARTS];
	uint8_t (*joint[MAX_ACL_PARTS])[2];
	uint64_t joint_ctx; /* the contexts that have one */
	/* Per context the highest answer it can give (its best rule's priority + 1), and the
	 * contexts by that answer, highest first: an item whose answer so far beats a context's
	 * best skips it (see classify_set). */
	uint32_t ctx_top[MAX_ACL_PARTS];
	uint8_t by_top[MAX_ACL_PARTS];
	/* Full builds: per rule rank, the contexts that hold the rule (0: none, a slow rule). A
	 * delta on this set asks again only the contexts that hold none of the rules it removed or
	 * changed (see best_kept). */
	uint64_t *rank_ctx;
	uint32_t n_ranks;
};

static _Atomic uint32_t generation;	 /* rte_acl/rte_hash names must be unique */
static _Atomic uint64_t snapshot_serial; /* tells snapshots apart even at a reused address */

static void name_object(char *buf, size_t cap, const char *kind)
{
	snprintf(buf, cap, "cw%s%u", kind, atomic_fetch_add(&generation, 1));
}

/* ---------------------------------------------------------------- item keys */

static inline uint32_t sat32(uint64_t v)
{
	return v > SAT32 ? SAT32 : (uint32_t)v;
}

/* The filters' bucket functions: each context keeps, per bucket, whether its rules can match
 * there (see struct cw_acl_set). */
static unsigned combo_of(uint8_t cls, uint8_t direction, uint8_t msg)
{
	return cls * 4u + (direction == CWP_EXPORT ? 2u : 0u) + (msg == CW_MSG_LIST ? 1u : 0u);
}

static unsigned heading_of(uint64_t hs)
{
	uint64_t h = hs / 1000000u;
	return h >= NUM_HEADINGS ? NUM_HEADINGS - 1 : (unsigned)h;
}

static unsigned value_bucket(uint16_t code)
{
	return (unsigned)((code * 40503u) >> 6) & (VALUE_BUCKETS - 1);
}

/* Quarter octaves: 0..7 as they are, then four buckets per power of two. Monotonic, so the
 * buckets of a range are the ones from its low bound's to its high bound's. Without a branch:
 * with l the top bit of x (at least 2), x >> (l - 2) is 4..7 and the bucket (l - 1) * 4 plus
 * that minus 4; below 8 this gives x itself (checked for every 32-bit x). */
static inline unsigned amount_bucket(uint32_t x)
{
	unsigned l = 31u - (unsigned)__builtin_clz(x | 4);
	return 4 * l + (x >> (l - 2)) - 8;
}

static inline unsigned code_bucket(uint16_t x)
{
	return x >> 6;
}

void cw_acl_key_fill_msg(struct cw_acl_key *k, const struct cw_item_facts *hdr, uint32_t decl_id,
			 uint32_t owner_id)
{
	memset(k, 0, sizeof(*k));
	k->cls_dir = (uint8_t) ~((1u << hdr->cls) | (1u << (5 + hdr->direction)));
	k->msg_docs = (uint8_t)((hdr->docs_mask >> 1) | (hdr->msg == CW_MSG_DECL ? 0x80 : 0x40));
	uint8_t transport = hdr->has_transport ? hdr->transport : 0;
	uint16_t country = hdr->has_country ? hdr->country : 0;
	uint32_t owner = hdr->has_owner ? owner_id : 0, total = sat32(hdr->total_value);
	k->transport = transport;
	k->trade_mode = rte_cpu_to_be_16(hdr->trade_mode);
	k->port = rte_cpu_to_be_16(hdr->port);
	k->country = rte_cpu_to_be_16(country);
	k->declarant = rte_cpu_to_be_32(decl_id);
	k->owner = rte_cpu_to_be_32(owner);
	k->total_value = rte_cpu_to_be_32(total);
	k->amount_b[AM_TOTAL] = (uint8_t)amount_bucket(total);
	k->msg.b.country_b = (uint16_t)value_bucket(country);
	k->msg.b.trade_mode_b = (uint16_t)code_bucket(hdr->trade_mode);
	k->msg.b.port_b = (uint16_t)code_bucket(hdr->port);
	k->msg.b.combo = (uint8_t)combo_of(hdr->cls, hdr->direction, hdr->msg);
	k->msg.b.transport = transport;
	k->msg.b.total_b = k->amount_b[AM_TOTAL];
	k->msg.b.partyless = !(decl_id | owner);
	k->msg.b.docs = k->msg_docs & (NUM_DOCSETS - 1);
}

/* value * 1000 / weight, saturated; in 128 bits (a library call) only when the product needs
 * them. */
static uint64_t unit_value(uint64_t value, uint64_t weight_g)
{
	if (value <= UINT64_MAX / 1000)
		return value * 1000 / weight_g;
	unsigned __int128 w = (unsigned __int128)value * 1000 / weight_g;
	return w > UINT64_MAX ? UINT64_MAX : (uint64_t)w;
}

/* The first 8 HS digits as packed decimal (a digit per nibble), the key's and the rules' form:
 * a prefix of 2, 4 or 6 digits is then whole bytes of the key followed by bytes that take any
 * value, which rte_acl turns into one path of its trie, where a range of binary numbers
 * ([84710000, 84719999]) needs branches on every byte. Packed decimal keeps the order of the
 * digits, so ranges stay ranges.
 *
 * bcd8_be: x < 10^8 as the key holds it (network order: the first two digits in the first
 * byte). Worked in 64-bit lanes rather than digit by digit: two 4-digit lanes, split into
 * four 2-digit 16-bit lanes (q = v * 5243 >> 19 is v / 100 below 43 699), each lane's tens t
 * (w * 103 >> 10 is w / 10 below 100) turn w into the byte 16 t + u = w + 6 t, and the four low
 * bytes are gathered; no lane's product reaches the next lane. */
static inline uint32_t bcd8_be(uint32_t x)
{
	uint64_t hi = x / 10000, v = hi | (uint64_t)(x - hi * 10000) << 32;
	uint64_t a = (v * 5243 >> 19) & 0x0000007F0000007Full, b = v - a * 100;
	uint64_t w = a | b << 16; /* 2-digit groups in order, a 16-bit lane each */
	uint64_t bcd = w + 6 * ((w * 103 >> 10) & 0x000F000F000F000Full);
	bcd = (bcd | bcd >> 8) & 0x0000FFFF0000FFFFull;
	uint32_t out = (uint32_t)(bcd | bcd >> 16);
	return rte_cpu_to_le_32(out); /* built in little-endian byte order */
}

/* The same as a host-order number, as rte_acl wants rule bounds. */
static inline uint32_t bcd8(uint32_t x)
{
	return rte_be_to_cpu_32(bcd8_be(x));
}

void cw_acl_key_fill_item(struct cw_acl_key *k, const struct cw_item_facts *f)
{
	uint64_t hs8 = f->hs / 100;
	uint32_t quantity = sat32(f->quantity), value = sat32(f->value);
	uint32_t uv = f->gross_weight_g ? sat32(unit_value(f->value, f->gross_weight_g)) : 0;
	k->origin = rte_cpu_to_be_16(f->origin);
	k->hs_tail = (uint8_t)(f->hs - hs8 * 100);
	k->flags = f->gross_weight_g ? 1 : 0;
	k->hs8 = bcd8_be((uint32_t)hs8);
	k->quantity = rte_cpu_to_be_32(quantity);
	k->value = rte_cpu_to_be_32(value);
	k->unit_value = rte_cpu_to_be_32(uv);
	k->heading = (uint16_t)heading_of(f->hs);
	k->origin_b = (uint16_t)value_bucket(f->origin);
	k->amount_b[AM_QUANTITY] = (uint8_t)amount_bucket(quantity);
	k->amount_b[AM_VALUE] = (uint8_t)amount_bucket(value);
	k->amount_b[AM_UNIT] = (uint8_t)amount_bucket(uv);
}

void cw_acl_key_fill(struct cw_acl_key *k, const struct cw_item_facts *f, uint32_t decl_id,
		     uint32_t owner_id)
{
	cw_acl_key_fill_msg(k, f, decl_id, owner_id);
	cw_acl_key_fill_item(k, f);
}

/* ---------------------------------------------------------------- profiles */

/* A 65 536-bit set of hashed USCCs (interned): a clear bit proves the hash lookup would miss,
 * which it does for almost every item. */
static unsigned maybe_bit(uint32_t h)
{
	return (h * 2654435761u) >> 16;
}

static bool maybe_has(const uint64_t *bits, uint32_t h)
{
	unsigned b = maybe_bit(h);
	return (bits[b / 64] >> (b % 64)) & 1;
}

static void maybe_add(uint64_t *bits, uint32_t h)
{
	unsigned b = maybe_bit(h);
	bits[b / 64] |= 1ull << (b % 64);
}

/*
 * The longest profile prefix of a code, in a decimal trie: the code's first 4 digits index a
 * root of 10 000 entries, and each further level takes 2 digits (a group of 100 entries). An
 * entry is empty (0), a profile (index + 1), or a group (PT_GROUP | its index) where longer
 * prefixes tell the codes under the entry apart. Prefixes go in shortest first, and a new group
 * starts as 100 copies of the entry it replaces, so every entry holds the longest prefix that
 * covers all of its codes; a prefix that ends inside a level (odd length) covers 10 of its
 * entries. An item costs one to four dependent loads in 40 KB and 400 bytes a group.
 * rte_lpm, on the digits as nibbles, kept a 64 MB first table where every 6-digit prefix of the
 * traffic had a cache line of its own, and a second load for 7- and 8-digit profiles.
 */
#define PT_ROOT	 10000
#define PT_GROUP 0x80000000u

struct cw_profile_trie {
	uint32_t root[PT_ROOT];
	uint32_t (*groups)[100];
	uint32_t n_groups, cap_groups;
};

static void trie_free(struct cw_profile_trie *t)
{
	if (t) {
		free(t->groups);
		free(t);
	}
}

/* A new group of 100 copies of e; its index, or -1 without memory. */
static int64_t trie_group(struct cw_profile_trie *t, uint32_t e)
{
	if (t->n_groups == t->cap_groups) {
		uint32_t cap = t->cap_groups ? 2 * t->cap_groups : 64;
		void *g = realloc(t->groups, sizeof(*t->groups) * cap);
		if (!g)
			return -1;
		t->groups = g;
		t->cap_groups = cap;
	}
	for (unsigned k = 0; k < 100; k++)
		t->groups[t->n_groups][k] = e;
	return t->n_groups++;
}

static uint32_t digits_at(const char *d, unsigned from, unsigned n)
{
	uint32_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v = v * 10 + (uint32_t)(d[from + i] - '0');
	return v;
}

static uint32_t *trie_table(struct cw_profile_trie *t, int64_t group)
{
	return group < 0 ? t->root : t->groups[group];
}

/* Sets the entries a prefix of len digits (1..10) covers to value, making the groups on its
 * way; prefixes must come shortest first. */
static int trie_put(struct cw_profile_trie *t, const char *d, unsigned len, uint32_t value)
{
	int64_t cur = -1;	      /* the root, then a group */
	unsigned from = 0, width = 4; /* the digits the current level takes */
	while (len > from + width) {  /* the prefix goes on past this level */
		uint32_t at = digits_at(d, from, width), e = trie_table(t, cur)[at];
		if (!(e & PT_GROUP)) {
			int64_t g = trie_group(t, e); /* may move the groups: index again below */
			if (g < 0)
				return -1;
			e = PT_GROUP | (uint32_t)g;
			trie_table(t, cur)[at] = e;
		}
		cur = e & ~PT_GROUP;
		from += width;
		width = 2;
	}
	unsigned have = len - from; /* the prefix's digits in this level, 1..width */
	uint32_t first = digits_at(d, from, have), count = 1;
	for (unsigned k = have; k < width; k++)
		first *= 10, count *= 10;
	uint32_t *table = trie_table(t, cur);
	for (uint32_t k = first; k < first + count; k++)
		table[k] = value;
	return 0;
}

static int build_profiles(struct cw_snapshot *s, char *err, size_t errlen)
{
	const struct cw_ruleset *rs = s->rs;
	s->ptrie = calloc(1, sizeof(*s->ptrie));
	if (!s->ptrie) {
		snprintf(err, errlen, "profiles: out of memory");
		return -1;
	}
	for (unsigned len = 1; len <= 10; len++) /* shortest first: see struct cw_profile_trie */
		for (uint32_t i = 0; i < rs->n_profiles; i++) {
			const struct cw_profile *p = &rs->profiles[i];
			if (p->len == len && trie_put(s->ptrie, p->prefix, len, i + 1) < 0) {
				snprintf(err, errlen, "profiles: out of memory");
				return -1;
			}
		}
	return 0;
}

/* The profiles of n codes, one trie level at a time over all of them: the entries of one level
 * do not depend on each other, so their cache misses overlap, where one code's walk waits for
 * each of its levels in turn. */
void cw_profiles_lookup(const struct cw_snapshot *s, const uint64_t *hs, uint32_t *out, unsigned n)
{
	static const uint64_t level_div[3] = {10000, 100, 1}; /* digits 5-6, 7-8, 9-10 */
	const struct cw_profile_trie *t = s->ptrie;
	for (unsigned i = 0; i < n; i++) /* not 10 digits: no profile */
		out[i] = hs[i] > 9999999999ull ? 0 : t->root[hs[i] / 1000000];
	for (unsigned level = 0; level < 3; level++)
		for (unsigned i = 0; i < n; i++)
			if (out[i] & PT_GROUP)
				out[i] =
				    t->groups[out[i] & ~PT_GROUP][hs[i] / level_div[level] % 100];
	for (unsigned i = 0; i < n; i++)
		out[i] = out[i] ? out[i] - 1 : CW_NO_PROFILE;
}

/* ---------------------------------------------------------------- interned USCCs */

/* uscc_ids[i] = id of rs->uscc[i] (i + 1 in a full build; shared with the base in a delta). */
static int build_intern(struct cw_snapshot *s, uint32_t *uscc_ids, char *err, size_t errlen)
{
	const struct cw_ruleset *rs = s->rs;
	char name[32];
	name_object(name, sizeof(name), "intern");
	uint32_t n = rs->n_uscc;
	const struct cw_snapshot *b = s->base;
	if (b)
		n += b->rs->n_uscc;
	struct rte_hash_parameters hp = {.name = name,
					 .entries = n < 8 ? 16 : n * 2,
					 .key_len = 18,
					 .hash_func =
					     cw_hash_key, /* keys sit unaligned in packets */
					 .socket_id = SOCKET_ID_ANY};
	s->intern = rte_hash_create(&hp);
	if (!s->intern) {
		snprintf(err, errlen, "rte_hash_create: %s", rte_strerror(rte_errno));
		return -1;
	}
	uint32_t next = 1;
	if (b) { /* keep the base's ids: its ACL was built with them */
		for (uint32_t i = 0; i < b->rs->n_uscc; i++) {
			rte_hash_add_key_data(s->intern, b->rs->uscc[i],
					      (void *)(uintptr_t)(i + 1));
			maybe_add(s->intern_maybe, cw_uscc_hash(b->rs->uscc[i]));
		}
		next = b->rs->n_uscc + 1;
	}
	for (uint32_t i = 0; i < rs->n_uscc; i++) {
		void *data;
		if (rte_hash_lookup_data(s->intern, rs->uscc[i], &data) >= 0) {
			uscc_ids[i] = (uint32_t)(uintptr_t)data;
			continue;
		}
		uscc_ids[i] = next++;
		rte_hash_add_key_data(s->intern, rs->uscc[i], (void *)(uintptr_t)uscc_ids[i]);
		maybe_add(s->intern_maybe, cw_uscc_hash(rs->uscc[i]));
	}
	return 0;
}

uint32_t cw_intern_lookup(const struct cw_snapshot *s, const char uscc[18])
{
	void *data;
	if (!maybe_has(s->intern_maybe, cw_uscc_hash(uscc)) ||
	    rte_hash_lookup_data(s->intern, uscc, &data) < 0)
		return 0;
	return (uint32_t)(uintptr_t)data;
}

/* ---------------------------------------------------------------- rule expansion */

/* A rule's amounts map onto saturated 32-bit fields exactly, or the rule is kept aside. */
static bool sat_range(struct cw_u64range r, uint32_t *lo, uint32_t *hi)
{
	if (r.hi < SAT32) {
		*lo = (uint32_t)r.lo;
		*hi = (uint32_t)r.hi;
		return true;
	}
	if (r.hi == UINT64_MAX && r.lo <= SAT32) {
		*lo = (uint32_t)r.lo;
		*hi = SAT32;
		return true;
	}
	return false;
}

static bool rule_fits_acl(const struct cw_rule *r)
{
	uint32_t lo = 0, hi = 0;
	return sat_range(r->value, &lo, &hi) && sat_range(r->total_value, &lo, &hi) &&
	       sat_range(r->unit_value, &lo, &hi);
}

/* A range's high end in packed decimal, its trailing nines as 0xF nibbles: keys hold digits
 * only, so this admits the same keys, and "hs 8471" becomes 0x84710000..0x8471FFFF, whose last
 * two bytes take any value. */
static uint32_t bcd_high(uint32_t x)
{
	uint32_t b = bcd8(x);
	for (uint32_t nib = 0xF; nib && (b & nib) == (0x9 * (nib / 0xF)); nib <<= 4)
		b |= nib;
	return b;
}

/* The 8-digit number of a packed-decimal value, 0xF nibbles read as 9 (see bcd_high). */
static uint32_t from_bcd(uint32_t b)
{
	uint32_t x = 0;
	for (int shift = 28; shift >= 0; shift -= 4) {
		uint32_t d = b >> shift & 0xF;
		x = x * 10 + (d > 9 ? 9 : d);
	}
	return x;
}

/* Pieces of one 10-digit HS range over (hs8, tail): at most 3. */
struct hs_piece {
	uint32_t lo8, hi8;
	uint8_t lot, hit;
};

static unsigned hs_pieces(struct cw_u64range r, struct hs_piece *out)
{
	uint32_t lo8 = (uint32_t)(r.lo / 100), hi8 = (uint32_t)(r.hi / 100);
	uint8_t lot = (uint8_t)(r.lo % 100), hit = (uint8_t)(r.hi % 100);
	if (lo8 == hi8) {
		out[0] = (struct hs_piece){lo8, lo8, lot, hit};
		return 1;
	}
	unsigned n = 0;
	if (lot) {
		out[n++] = (struct hs_piece){lo8, lo8, lot, 99};
		lo8++;
	}
	uint32_t mid_hi = hit == 99 ? hi8 : hi8 - 1;
	if (lo8 <= mid_hi)
		out[n++] = (struct hs_piece){lo8, mid_hi, 0, 99};
	if (hit != 99)
		out[n++] = (struct hs_piece){hi8, hi8, 0, hit};
	return n;
}

static void set_range(struct rte_acl_field *f, unsigned size, uint64_t lo, uint64_t hi)
{
	switch (size) {
	case 1:
		f->value.u8 = (uint8_t)lo;
		f->mask_range.u8 = (uint8_t)hi;
		break;
	case 2:
		f->value.u16 = (uint16_t)lo;
		f->mask_range.u16 = (uint16_t)hi;
		break;
	default:
		f->value.u32 = (uint32_t)lo;
		f->mask_range.u32 = (uint32_t)hi;
	}
}

/* The last two HS digits of a key are 0..99, so a rule that takes them all takes the whole byte:
 * written so, the field counts as unconstrained and a context whose rules name no country or
 * unit value leaves that key word out of its trie (4 fewer transitions per key). */
static void set_hs_tail(struct rte_acl_field *f, uint8_t lo, uint8_t hi)
{
	set_range(f, 1, lo, lo == 0 && hi == 99 ? UINT8_MAX : hi);
}

/* ACL priorities: mode in the top bits, rank below (rte_acl allows priorities below 2^29). */
#define PRIO_MODE_SHIFT 27
#define PRIO_RANK_MASK	((1u << PRIO_MODE_SHIFT) - 1)
#define PRIO_MODES	(1u << (32 - PRIO_MODE_SHIFT)) /* values the mode bits can take */

/* The rule index of an ACL priority s gave (its rank is in the low bits). */
static inline uint32_t rule_of_prio(const struct cw_snapshot *s, uint32_t prio)
{
	return s->by_rank[PRIO_RANK_MASK - (prio & PRIO_RANK_MASK)];
}

struct expander {
	const struct cw_ruleset *rs;
	const uint32_t *uscc_ids;
	struct cw_acl_rule *v;
	uint32_t n, cap;
	int error;
	const atomic_bool *stop; /* set: give up before the next rte_acl build (NULL: never) */
};

static void push_rule(struct expander *x, const struct cw_acl_rule *r)
{
	if (x->n == x->cap) {
		uint32_t cap = x->cap ? x->cap * 2 : 1024;
		void *nv = realloc(x->v, (size_t)cap * sizeof(*x->v));
		if (!nv) {
			x->error = -ENOMEM;
			return;
		}
		x->v = nv;
		x->cap = cap;
	}
	x->v[x->n++] = *r;
}

/* The list dimensions a rule is expanded over, in the order of the odometer. */
enum { D_HS, D_ORIGIN, D_COUNTRY, D_DECL, D_OWNER, D_TRADE, D_PORT, D_TRANSPORT, NUM_DIMS };

static void template_of(const struct cw_rule *r, uint32_t priority, struct cw_acl_rule *t)
{
	memset(t, 0, sizeof(*t));
	t->data.category_mask = 1; /* one category: the priority holds the mode (§4.3d) */
	t->data.priority = (int32_t)priority;
	t->data.userdata = priority + 1; /* contexts' answers are then merged by size alone */

	uint8_t dir_bits = (uint8_t)(((r->dir_mask & CW_DIR_IMPORT) ? 0x40 : 0) |
				     ((r->dir_mask & CW_DIR_EXPORT) ? 0x80 : 0));
	uint8_t cd = (uint8_t)((~r->class_mask & 0x3F) | (~dir_bits & 0xC0));
	t->field[F_CLS_DIR].value.u8 = cd;
	t->field[F_CLS_DIR].mask_range.u8 = cd;

	uint8_t msg_mask = r->msg_mask;
	if (r->country.n || r->transport.n)
		msg_mask &= CW_MSG_DECL; /* fields a LIST does not have never match it */
	uint8_t msg_bits = (uint8_t)(((msg_mask & CW_MSG_DECL) ? 0x40 : 0) |
				     ((msg_mask & CW_MSG_LIST) ? 0x80 : 0));
	uint8_t docs_mask = (uint8_t)((r->doc_set | r->doc_clear) >> 1);
	t->field[F_MSG_DOCS].value.u8 = (uint8_t)((r->doc_set >> 1) | (~msg_bits & 0xC0));
	t->field[F_MSG_DOCS].mask_range.u8 = (uint8_t)(docs_mask | (~msg_bits & 0xC0));

	set_range(&t->field[F_TRANSPORT], 1, 0, 0xFF);
	set_range(&t->field[F_TRADE_MODE], 2, 0, 0xFFFF);
	set_range(&t->field[F_PORT], 2, 0, 0xFFFF);
	set_range(&t->field[F_ORIGIN], 2, 0, 0xFFFF);
	set_range(&t->field[F_COUNTRY], 2, 0, 0xFFFF);
	set_hs_tail(&t->field[F_HS_TAIL], 0, 99);
	t->field[F_FLAGS].value.u8 =
	    r->has_unit_value || r->unit_value.lo || r->unit_value.hi != UINT64_MAX ? 1 : 0;
	t->field[F_FLAGS].mask_range.u8 = t->field[F_FLAGS].value.u8;
	set_range(&t->field[F_HS8], 4, 0, UINT32_MAX);
	set_range(&t->field[F_DECLARANT], 4, 0, UINT32_MAX);
	set_range(&t->field[F_OWNER], 4, 0, UINT32_MAX);
	uint64_t qlo = r->quantity.lo, qhi = r->quantity.hi > SAT32 ? SAT32 : r->quantity.hi;
	set_range(&t->field[F_QUANTITY], 4, qlo, qhi);
	uint32_t lo = 0, hi = SAT32;
	sat_range(r->value, &lo, &hi);
	set_range(&t->field[F_VALUE], 4, lo, hi);
	sat_range(r->total_value, &lo, &hi);
	set_range(&t->field[F_TOTAL], 4, lo, hi);
	sat_range(r->unit_value, &lo, &hi);
	set_range(&t->field[F_UNIT], 4, lo, hi);
}

/* Expands one rule over its lists (an odometer over the dimensions). */
static void expand_rule(struct expander *x, const struct cw_rule *r, uint32_t priority)
{
	const struct cw_ruleset *rs = x->rs;
	if (r->quantity.lo > SAT32)
		return; /* a u32 quantity can never reach it */
	struct cw_acl_rule t;
	template_of(r, priority, &t);

	/* hs pieces first: each range gives up to 3 */
	struct hs_piece hsp_stack[48], *hsp = hsp_stack;
	unsigned n_hs = 0;
	if (r->hs.n) {
		if (r->hs.n > 16) {
			hsp = malloc(sizeof(*hsp) * 3 * r->hs.n);
			if (!hsp) {
				x->error = -ENOMEM;
				return;
			}
		}
		for (uint32_t i = 0; i < r->hs.n; i++)
			n_hs += hs_pieces(rs->hs_ranges[r->hs.off + i], hsp + n_hs);
	}
	const struct cw_list lists[NUM_DIMS] = {{0, n_hs}, r->origin,	  r->country, r->declarant,
						r->owner,  r->trade_mode, r->port,    r->transport};
	uint32_t idx[NUM_DIMS] = {0};
	for (;;) {
		for (int d = 0; d < NUM_DIMS; d++) {
			if (!lists[d].n)
				continue;
			uint32_t k = idx[d];
			struct rte_acl_field *f;
			switch (d) {
			case D_HS:
				set_range(&t.field[F_HS8], 4, bcd8(hsp[k].lo8),
					  bcd_high(hsp[k].hi8));
				set_hs_tail(&t.field[F_HS_TAIL], hsp[k].lot, hsp[k].hit);
				break;
			case D_DECL:
			case D_OWNER: {
				uint32_t id = x->uscc_ids[rs->u32[lists[d].off + k]];
				f = &t.field[d == D_DECL ? F_DECLARANT : F_OWNER];
				set_range(f, 4, id, id);
				break;
			}
			default: {
				static const int field_of[NUM_DIMS] = {[D_ORIGIN] = F_ORIGIN,
								       [D_COUNTRY] = F_COUNTRY,
								       [D_TRADE] = F_TRADE_MODE,
								       [D_PORT] = F_PORT,
								       [D_TRANSPORT] = F_TRANSPORT};
				int fi = field_of[d];
				uint16_t v = rs->u16[lists[d].off + k];
				set_range(&t.field[fi], field_defs[fi].size, v, v);
			}
			}
		}
		push_rule(x, &t);
		int d = 0;
		for (; d < NUM_DIMS; d++) {
			if (lists[d].n && ++idx[d] < lists[d].n)
				break;
			idx[d] = 0;
		}
		if (d == NUM_DIMS)
			break;
	}
	if (hsp != hsp_stack)
		free(hsp);
}

/* ---------------------------------------------------------------- ACL contexts
 *
 * Why rules are grouped: rte_acl merges all rules of a context into one trie, and a trie over
 * several independent range fields grows with the product of their boundaries (a wildcard-HS
 * "total_value >= X" rule is copied under every HS path of the "hs H and unit_value < Y"
 * rules). Rules are therefore grouped by which amount fields they constrain, and each group gets
 * its own context whose layout holds only the key words that some rule of the group uses: the
 * build stays small and each classification walks fewer bytes. A group that still does not fit
 * is halved until it does. */

/* Key words (rte_acl input indexes) and the fields in each. */
static const uint8_t word_of_field[NUM_FIELDS] = {
    [F_CLS_DIR] = 0,  [F_MSG_DOCS] = 1, [F_TRANSPORT] = 1, [F_TRADE_MODE] = 1,
    [F_PORT] = 2,     [F_ORIGIN] = 2,	[F_COUNTRY] = 3,   [F_HS_TAIL] = 3,
    [F_FLAGS] = 3,    [F_HS8] = 4,	[F_DECLARANT] = 5, [F_OWNER] = 6,
    [F_QUANTITY] = 7, [F_VALUE] = 8,	[F_TOTAL] = 9,	   [F_UNIT] = 10};
#define NUM_WORDS 11

/* Build-time ceiling of one context's run-time tables: past it rte_acl splits tries further
 * or fails, and a failing group is halved. */
#define ACL_MAX_SIZE (256u << 20)

struct acl_layout {
	unsigned n_fields;
	uint8_t field[NUM_FIELDS]; /* compact position -> field of struct cw_acl_key */
	struct rte_acl_field_def defs[NUM_FIELDS];
};

static bool field_is_wild(const struct rte_acl_field *f, unsigned fi)
{
	if (field_defs[fi].type == RTE_ACL_FIELD_TYPE_BITMASK)
		return f->mask_range.u8 == 0;
	switch (field_defs[fi].size) {
	case 1:
		return f->value.u8 == 0 && f->mask_range.u8 == UINT8_MAX;
	case 2:
		return f->value.u16 == 0 && f->mask_range.u16 == UINT16_MAX;
	default:
		return f->value.u32 == 0 && f->mask_range.u32 == UINT32_MAX;
	}
}

/* The fields a rule constrains (bit f: field f), which decide its group. Fields rather than key
 * words: "origin JP and hs 8471" and "port 2233 and hs 8471" share every word, but in one
 * context each filter below is a union over both kinds of rule, and an item from JP through
 * port 2233 of any listed heading would be classified there (cwgen, 10 000 rules: 426 such
 * rules admitted 98 % of the items and matched 8 % of them). An HS rule counts the field of the
 * last two digits whether it names them or not: groups by HS depth would mean more contexts for
 * each item to visit, which costs more than the field. The message kind and the documents share
 * a field, and nearly every rule names a kind, so naming documents counts as a field of its own
 * (SHAPE_DOCS): the documents filter is a union over a context's rules too. */
#define SHAPE_DOCS (1u << NUM_FIELDS)

static unsigned rule_shape(const struct cw_acl_rule *r)
{
	unsigned shape = 1u << F_CLS_DIR;
	for (unsigned fi = 0; fi < NUM_FIELDS; fi++)
		if (!field_is_wild(&r->field[fi], fi))
			shape |= 1u << fi;
	if (!field_is_wild(&r->field[F_HS8], F_HS8))
		shape |= 1u << F_HS_TAIL;
	if (r->field[F_MSG_DOCS].mask_range.u8 & (NUM_DOCSETS - 1))
		shape |= SHAPE_DOCS;
	return shape;
}

/* The key words of a shape: groups with the same words have the same layout, and are the ones
 * merged when there are more groups than contexts. */
static unsigned shape_words(unsigned shape)
{
	unsigned words = 0;
	for (unsigned fi = 0; fi < NUM_FIELDS; fi++)
		if (shape >> fi & 1)
			words |= 1u << word_of_field[fi];
	return words;
}

/* The words used by any of the rules; word 0 always (rte_acl wants a 1-byte first field). */
static void layout_of(const struct cw_acl_rule *const *v, uint32_t n, struct acl_layout *l)
{
	bool used[NUM_WORDS] = {[0] = true};
	for (uint32_t i = 0; i < n; i++)
		for (unsigned fi = 0; fi < NUM_FIELDS; fi++)
			if (!used[word_of_field[fi]] && !field_is_wild(&v[i]->field[fi], fi))
				used[word_of_field[fi]] = true;
	uint8_t input_of_word[NUM_WORDS] = {0};
	unsigned n_inputs = 0;
	for (unsigned w = 0; w < NUM_WORDS; w++)
		if (used[w])
			input_of_word[w] = (uint8_t)n_inputs++;
	l->n_fields = 0;
	for (unsigned fi = 0; fi < NUM_FIELDS; fi++) {
		if (!used[word_of_field[fi]])
			continue;
		unsigned j = l->n_fields++;
		l->field[j] = (uint8_t)fi;
		l->defs[j] = field_defs[fi];
		l->defs[j].field_index = (uint8_t)j;
		l->defs[j].input_index = input_of_word[word_of_field[fi]];
	}
}

static struct rte_acl_ctx *acl_build_one(const struct cw_acl_rule *const *v, uint32_t n,
					 const struct acl_layout *l, int *rc)
{
	size_t rule_size = RTE_ACL_RULE_SZ(l->n_fields);
	uint8_t *packed = malloc(rule_size * n);
	if (!packed) {
		*rc = -ENOMEM;
		return NULL;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct rte_acl_rule *r = (struct rte_acl_rule *)(packed + rule_size * i);
		r->data = v[i]->data;
		for (unsigned j = 0; j < l->n_fields; j++)
			r->field[j] = v[i]->field[l->field[j]];
	}
	char name[32];
	name_object(name, sizeof(name), "acl");
	struct rte_acl_param p = {.name = name,
				  .socket_id = SOCKET_ID_ANY,
				  .rule_size = (uint32_t)rule_size,
				  .max_rule_num = n};
	struct rte_acl_ctx *ctx = rte_acl_create(&p);
	if (!ctx) {
		*rc = -rte_errno;
		free(packed);
		return NULL;
	}
	struct rte_acl_config cfg = {
	    .num_categories = 1, .num_fields = l->n_fields, .max_size = ACL_MAX_SIZE};
	memcpy(cfg.defs, l->defs, sizeof(l->defs[0]) * l->n_fields);
	*rc = rte_acl_add_rules(ctx, (const struct rte_acl_rule *)packed, n);
	free(packed);
	if (*rc == 0)
		*rc = rte_acl_build(ctx, &cfg);
	if (*rc) {
		rte_acl_free(ctx);
		return NULL;
	}
	return ctx;
}

static unsigned chapter_of(uint64_t hs)
{
	uint64_t c = hs / 100000000u;
	return c > 99 ? 99 : (unsigned)c;
}

/* The 4-digit headings a rule's HS range spans, lo..hi; false when it takes any HS. */
static bool heading_span(const struct cw_acl_rule *r, unsigned *lo, unsigned *hi)
{
	const struct rte_acl_field *h = &r->field[F_HS8];
	*lo = heading_of((uint64_t)from_bcd(h->value.u32) * 100);
	*hi = heading_of((uint64_t)from_bcd(h->mask_range.u32) * 100);
	return *lo > 0 || *hi < NUM_HEADINGS - 1;
}

/* Marks context c in heading_ctx for every HS heading its rules can match. A chapter filter
 * alone let an item into 10.0 of 17 contexts on cwgen's 10 000 rules (6.5 with the heading,
 * code and party filters); rules name headings. */
static void mark_headings(uint64_t *heading_ctx, unsigned c, const struct cw_acl_rule *const *v,
			  uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		unsigned lo, hi;
		if (!heading_span(v[i], &lo, &hi)) { /* any HS: every heading, once */
			for (unsigned k = 0; k < NUM_HEADINGS; k++)
				heading_ctx[k] |= 1ull << c;
			return;
		}
		for (unsigned k = lo; k <= hi; k++)
			heading_ctx[k] |= 1ull << c;
	}
}

/* The sets of documents context c's rules admit, tested on the key's document bits exactly as
 * rte_acl tests them (the kind, the same byte's top bits, is the combinations' filter). Without
 * it, 187 "doc LICENCE and value > X" rules of cwgen's 10 000 saw every item above the lowest X,
 * licence or not. */
static void mark_docs(uint64_t *docs_ctx, unsigned c, const struct cw_acl_rule *const *v,
		      uint32_t n)
{
	uint64_t seen[64] = {0}; /* (mask, value) pairs of the document bits already marked */
	for (uint32_t i = 0; i < n; i++) {
		const struct rte_acl_field *md = &v[i]->field[F_MSG_DOCS];
		unsigned mask = md->mask_range.u8 & (NUM_DOCSETS - 1), value = md->value.u8 & mask;
		if (seen[mask] >> value & 1)
			continue;
		seen[mask] |= 1ull << value;
		for (unsigned d = 0; d < NUM_DOCSETS; d++)
			if ((d & mask) == value)
				docs_ctx[d] |= 1ull << c;
	}
}

/* Marks context c in buckets[] for the codes field fi of its rules can take: the codes named
 * when every rule names some, else every bucket. */
static void mark_values(uint64_t *buckets, unsigned c, unsigned fi,
			const struct cw_acl_rule *const *v, uint32_t n)
{
	bool all_named = true;
	for (uint32_t i = 0; i < n && all_named; i++)
		all_named = v[i]->field[fi].value.u16 == v[i]->field[fi].mask_range.u16;
	for (uint32_t i = 0; i < n && all_named; i++)
		buckets[value_bucket(v[i]->field[fi].value.u16)] |= 1ull << c;
	for (unsigned k = 0; k < VALUE_BUCKETS && !all_named; k++)
		buckets[k] |= 1ull << c;
}

/* The combinations (class, direction, kind) context c's rules admit, tested on their first two
 * key bytes exactly as rte_acl tests them (documents left out: a superset). */
static void mark_combos(uint64_t *combo_ctx, unsigned c, const struct cw_acl_rule *const *v,
			uint32_t n)
{
	for (uint8_t cls = 0; cls < 6; cls++)
		for (uint8_t dir = CWP_IMPORT; dir <= CWP_EXPORT; dir++)
			for (uint8_t msg = CW_MSG_DECL; msg <= CW_MSG_LIST; msg++) {
				struct cw_item_facts f = {.msg = msg, .direction = dir, .cls = cls};
				struct cw_acl_key k;
				cw_acl_key_fill(&k, &f, 0, 0);
				for (uint32_t i = 0; i < n; i++) {
					const struct rte_acl_field *cd = &v[i]->field[F_CLS_DIR];
					const struct rte_acl_field *md = &v[i]->field[F_MSG_DOCS];
					uint8_t mm = md->mask_range.u8 & 0xC0;
					if ((k.cls_dir & cd->mask_range.u8) == cd->value.u8 &&
					    (k.msg_docs & mm) == (md->value.u8 & mm)) {
						combo_ctx[combo_of(cls, dir, msg)] |= 1ull << c;
						break;
					}
				}
			}
}

static void field_bounds(const struct rte_acl_field *f, unsigned size, uint32_t *lo, uint32_t *hi)
{
	switch (size) {
	case 1:
		*lo = f->value.u8, *hi = f->mask_range.u8;
		break;
	case 2:
		*lo = f->value.u16, *hi = f->mask_range.u16;
		break;
	default:
		*lo = f->value.u32, *hi = f->mask_range.u32;
	}
}

/* Marks context c in the buckets that the ranges of field fi of its rules reach (bucket() of
 * each range's bounds, merged through a difference array: rules can be many). */
static void mark_ranges(uint64_t *buckets, unsigned n_buckets, unsigned (*bucket)(uint32_t),
			unsigned c, unsigned fi, const struct cw_acl_rule *const *v, uint32_t n)
{
	int32_t *diff = calloc(n_buckets + 1, sizeof(int32_t));
	if (!diff) { /* no filter is still a correct filter */
		for (unsigned k = 0; k < n_buckets; k++)
			buckets[k] |= 1ull << c;
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		uint32_t lo, hi;
		field_bounds(&v[i]->field[fi], field_defs[fi].size, &lo, &hi);
		diff[bucket(lo)]++;
		diff[bucket(hi) + 1]--;
	}
	int32_t depth = 0;
	for (unsigned k = 0; k < n_buckets; k++)
		if ((depth += diff[k]) > 0)
			buckets[k] |= 1ull << c;
	free(diff);
}

static unsigned bucket_of_u8(uint32_t x)
{
	return x;
}
static unsigned bucket_of_code(uint32_t x)
{
	return code_bucket((uint16_t)x);
}
static unsigned bucket_of_amount(uint32_t x)
{
	return amount_bucket(x);
}

static const uint8_t amount_field[NUM_AMOUNTS] = {F_QUANTITY, F_VALUE, F_TOTAL, F_UNIT};

static void mark_buckets(struct cw_acl_set *set, unsigned c, const struct cw_acl_rule *const *v,
			 uint32_t n)
{
	mark_ranges(set->transport_ctx, 256, bucket_of_u8, c, F_TRANSPORT, v, n);
	mark_ranges(set->code_ctx[CODE_TRADE_MODE], CODE_BUCKETS, bucket_of_code, c, F_TRADE_MODE,
		    v, n);
	mark_ranges(set->code_ctx[CODE_PORT], CODE_BUCKETS, bucket_of_code, c, F_PORT, v, n);
	for (unsigned a = 0; a < NUM_AMOUNTS; a++)
		mark_ranges(set->amount_ctx[a], AMOUNT_BUCKETS, bucket_of_amount, c,
			    amount_field[a], v, n);
}

/* The amount every rule of v bounds (AM_* + 1), or 0. */
static unsigned shared_amount(const struct cw_acl_rule *const *v, uint32_t n)
{
	for (unsigned a = 0; a < NUM_AMOUNTS; a++) {
		uint32_t i = 0;
		while (i < n && !field_is_wild(&v[i]->field[amount_field[a]], amount_field[a]))
			i++;
		if (i == n)
			return a + 1;
	}
	return 0;
}

static void widen(uint8_t *r, unsigned lo, unsigned hi)
{
	r[0] = lo < r[0] ? (uint8_t)lo : r[0];
	r[1] = hi > r[1] ? (uint8_t)hi : r[1];
}

/* Context c's per-heading buckets of its shared amount, when it has one (else no filter). Rules
 * of any HS widen every heading, once, at the end. */
static void mark_joint(struct cw_acl_set *set, unsigned c, const struct cw_acl_rule *const *v,
		       uint32_t n)
{
	unsigned a = shared_amount(v, n);
	set->joint_amount[c] = 0;
	if (!a || !(set->joint[c] = malloc(sizeof(*set->joint[c]) * NUM_HEADINGS)))
		return;
	set->joint_amount[c] = (uint8_t)a;
	set->joint_ctx |= 1ull << c;
	uint8_t any[2] = {UINT8_MAX, 0};
	for (unsigned k = 0; k < NUM_HEADINGS; k++)
		set->joint[c][k][0] = UINT8_MAX, set->joint[c][k][1] = 0;
	for (uint32_t i = 0; i < n; i++) {
		const struct rte_acl_field *f = &v[i]->field[amount_field[a - 1]];
		unsigned lo, hi, blo = amount_bucket(f->value.u32),
				 bhi = amount_bucket(f->mask_range.u32);
		if (!heading_span(v[i], &lo, &hi)) {
			widen(any, blo, bhi);
			continue;
		}
		for (unsigned k = lo; k <= hi; k++)
			widen(set->joint[c][k], blo, bhi);
	}
	if (any[0] <= any[1])
		for (unsigned k = 0; k < NUM_HEADINGS; k++)
			widen(set->joint[c][k], any[0], any[1]);
}

/* Every filter of context c: combinations, headings, origin, country, parties, buckets. */
static void mark_context(struct cw_acl_set *set, unsigned c, const struct cw_acl_rule *const *v,
			 uint32_t n)
{
	mark_combos(set->combo_ctx, c, v, n);
	mark_docs(set->docs_ctx, c, v, n);
	mark_headings(set->heading_ctx, c, v, n);
	mark_values(set->origin_ctx, c, F_ORIGIN, v, n);
	mark_values(set->country_ctx, c, F_COUNTRY, v, n);
	mark_buckets(set, c, v, n);
	mark_joint(set, c, v, n);
	set->ctx_top[c] = 0;
	for (uint32_t i = 0; i < n; i++)
		if (v[i]->data.userdata > set->ctx_top[c])
			set->ctx_top[c] = v[i]->data.userdata;
	for (uint32_t i = 0; set->rank_ctx && i < n; i++)
		set->rank_ctx[PRIO_RANK_MASK - ((uint32_t)v[i]->data.priority & PRIO_RANK_MASK)] |=
		    1ull << c;
	for (uint32_t i = 0; i < n; i++)
		if (field_is_wild(&v[i]->field[F_DECLARANT], F_DECLARANT) &&
		    field_is_wild(&v[i]->field[F_OWNER], F_OWNER)) {
			set->partyless_ctx |= 1ull << c;
			break;
		}
}

static void unmark_context(struct cw_acl_set *set, unsigned c)
{
	uint64_t keep = ~(1ull << c);
	for (unsigned k = 0; k < NUM_COMBOS; k++)
		set->combo_ctx[k] &= keep;
	for (unsigned k = 0; k < NUM_DOCSETS; k++)
		set->docs_ctx[k] &= keep;
	for (unsigned k = 0; k < NUM_HEADINGS; k++)
		set->heading_ctx[k] &= keep;
	for (unsigned k = 0; k < VALUE_BUCKETS; k++) {
		set->origin_ctx[k] &= keep;
		set->country_ctx[k] &= keep;
	}
	set->partyless_ctx &= keep;
	for (uint32_t k = 0; set->rank_ctx && k < set->n_ranks; k++)
		set->rank_ctx[k] &= keep;
	free(set->joint[c]);
	set->joint[c] = NULL;
	set->joint_amount[c] = 0;
	set->joint_ctx &= keep;
	for (unsigned k = 0; k < 256; k++)
		set->transport_ctx[k] &= keep;
	for (unsigned k = 0; k < CODE_BUCKETS; k++)
		set->code_ctx[CODE_TRADE_MODE][k] &= keep, set->code_ctx[CODE_PORT][k] &= keep;
	for (unsigned a = 0; a < NUM_AMOUNTS; a++)
		for (unsigned k = 0; k < AMOUNT_BUCKETS; k++)
			set->amount_ctx[a][k] &= keep;
}

/* Rule filters turned around like the contexts' (per combination and per HS chapter, a bit
 * mask over a list of rules, `words` 64-bit words each): an item tests only the rules both of
 * its values admit. The slow list has them; a full build also keeps them over all its rules,
 * for the items whose best rule a delta removed. */
static const uint64_t *mask_combo(const uint64_t *masks, uint32_t words, unsigned combo)
{
	return masks + (size_t)combo * words;
}

static const uint64_t *mask_chapter(const uint64_t *masks, uint32_t words, unsigned chapter)
{
	return masks + (size_t)(NUM_COMBOS + chapter) * words;
}

/* Masks over the n rules idx[0..n) of rs (idx NULL: rules 0..n-1); NULL without memory. */
static uint64_t *build_masks(const struct cw_ruleset *rs, const uint32_t *idx, uint32_t n,
			     uint32_t *words)
{
	*words = (n + 63) / 64;
	uint64_t *masks =
	    calloc((size_t)(NUM_COMBOS + NUM_CHAPTERS) * *words + 1, sizeof(uint64_t));
	if (!masks)
		return NULL;
	for (uint32_t k = 0; k < n; k++) {
		const struct cw_rule *r = &rs->rules[idx ? idx[k] : k];
		uint64_t bit = 1ull << (k % 64);
		for (uint8_t cls = 0; cls < 6; cls++)
			for (uint8_t dir = CWP_IMPORT; dir <= CWP_EXPORT; dir++)
				for (uint8_t msg = CW_MSG_DECL; msg <= CW_MSG_LIST; msg++)
					if ((r->class_mask >> cls & 1) &&
					    (r->dir_mask >> dir & 1) && (r->msg_mask & msg))
						masks[(size_t)combo_of(cls, dir, msg) * *words +
						      k / 64] |= bit;
		for (uint32_t i = 0; i < (r->hs.n ? r->hs.n : 1); i++) {
			unsigned lo = 0, hi = NUM_CHAPTERS - 1; /* no HS condition: every chapter */
			if (r->hs.n) {
				lo = chapter_of(rs->hs_ranges[r->hs.off + i].lo);
				hi = chapter_of(rs->hs_ranges[r->hs.off + i].hi);
			}
			for (unsigned c = lo; c <= hi; c++)
				masks[(size_t)(NUM_COMBOS + c) * *words + k / 64] |= bit;
		}
	}
	return masks;
}

static int build_slow_masks(struct cw_snapshot *s)
{
	s->slow_masks = build_masks(s->rs, s->slow, s->n_slow, &s->slow_words);
	return s->slow_masks ? 0 : -1;
}

/* Builds v[0..n) into set, halving the rule list while a part does not fit. Each part gets the
 * layout of its own rules. */
static int acl_build_parts(struct cw_acl_set *set, const struct cw_acl_rule *const *v, uint32_t n)
{
	int rc;
	if (set->n_ctx == MAX_ACL_PARTS)
		return -ENOMEM;
	struct acl_layout l;
	layout_of(v, n, &l);
	struct rte_acl_ctx *ctx = acl_build_one(v, n, &l, &rc);
	if (ctx) {
		mark_context(set, set->n_ctx, v, n);
		set->ctx[set->n_ctx++] = ctx;
		return 0;
	}
	if ((rc != -ENOMEM && rc != -ERANGE) || n < 2)
		return rc;
	rc = acl_build_parts(set, v, n / 2);
	return rc ? rc : acl_build_parts(set, v + n / 2, n - n / 2);
}

/* The order classify_set visits the contexts in (an insertion sort of at most 48). */
static void sort_by_top(struct cw_acl_set *set)
{
	for (unsigned c = 0; c < set->n_ctx; c++) {
		unsigned k = c;
		for (; k > 0 && set->ctx_top[set->by_top[k - 1]] < set->ctx_top[c]; k--)
			set->by_top[k] = set->by_top[k - 1];
		set->by_top[k] = (uint8_t)c;
	}
}

static void acl_free(struct cw_acl_set *set)
{
	if (!set)
		return;
	for (unsigned i = 0; i < set->n_ctx; i++) {
		rte_acl_free(set->ctx[i]);
		free(set->joint[i]);
	}
	free(set->heading_ctx);
	free(set->rank_ctx);
	free(set);
}

struct shaped {
	uint32_t words, shape, index;
};

/* By key words, then shape, then input order: the groups of one layout lie side by side. */
static int shaped_cmp(const void *a, const void *b)
{
	const struct shaped *x = a, *y = b;
	if (x->words != y->words)
		return x->words < y->words ? -1 : 1;
	if (x->shape != y->shape)
		return x->shape < y->shape ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* Rules that the ACL does not hold are evaluated one by one (exact, slower per rule). */
struct slow_list {
	struct cw_snapshot *s;
	bool *mark; /* per rule index: already listed */
};

static void slow_add(struct slow_list *sl, uint32_t rule_index)
{
	if (!sl->mark[rule_index]) {
		sl->mark[rule_index] = true;
		sl->s->slow[sl->s->n_slow++] = rule_index;
	}
}

static void group_to_slow(struct cw_acl_set *set, struct slow_list *sl,
			  const struct cw_acl_rule *const *v, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		slow_add(sl, rule_of_prio(sl->s, (uint32_t)v[i]->data.priority));
	set->n_acl_rules -= n; /* counted as rte_acl's when expanded */
}

/* One group into the set, however small: behind the filters even a one-rule context costs less
 * than testing its rule on every item the slow list's filters let through (cwgen, 100 rules:
 * 126.6 M -> 81.3 M instructions for 20 000 messages when groups under 8 rules stopped going to
 * the slow list). When it does not fit in the contexts left, its rules go to the slow list: never
 * a failed snapshot because of rte_acl's limits. */
static int acl_build_group(struct cw_acl_set *set, struct slow_list *sl,
			   const struct cw_acl_rule *const *v, uint32_t n)
{
	unsigned before = set->n_ctx;
	int rc = acl_build_parts(set, v, n);
	if (rc == 0)
		return 0;
	while (set->n_ctx > before) {
		rte_acl_free(set->ctx[--set->n_ctx]);
		unmark_context(set, set->n_ctx);
	}
	if (rc != -ENOMEM && rc != -ERANGE)
		return rc;
	group_to_slow(set, sl, v, n);
	return 0;
}

struct group {
	uint32_t start, n, words;
};

/* Shapes are many more than key-word layouts, and a set holds at most MAX_ACL_PARTS contexts
 * (some taken by halved groups): past GROUP_BUDGET groups, the two neighbouring groups of the
 * same layout with the fewest rules together are merged, until the groups fit or none share a
 * layout. Rules that still do not fit are evaluated one by one. */
#define GROUP_BUDGET 40

static uint32_t merge_groups(struct group *g, uint32_t n)
{
	while (n > GROUP_BUDGET) {
		uint32_t best = n;
		for (uint32_t i = 0; i + 1 < n; i++)
			if (g[i].words == g[i + 1].words &&
			    (best == n || g[i].n + g[i + 1].n < g[best].n + g[best + 1].n))
				best = i;
		if (best == n)
			break;
		g[best].n += g[best + 1].n;
		memmove(&g[best + 1], &g[best + 2], sizeof(*g) * (n - best - 2));
		n--;
	}
	return n;
}

static int group_cmp(const void *a, const void *b)
{
	const struct group *x = a, *y = b;
	return x->n != y->n ? (x->n > y->n ? -1 : 1)
			    : (x->start > y->start) - (x->start < y->start);
}

static bool stop_asked(const struct expander *x)
{
	return x->stop && atomic_load_explicit(x->stop, memory_order_relaxed);
}

/* Groups the expanded rules by shape (input order kept within a shape), merges groups past the
 * budget, and builds the groups, biggest first, into the set. */
static int acl_build_groups(struct cw_acl_set *set, struct slow_list *sl, const struct expander *x)
{
	struct shaped *sh = malloc(sizeof(*sh) * x->n);
	const struct cw_acl_rule **order = malloc(sizeof(*order) * x->n);
	struct group *groups = malloc(sizeof(*groups) * x->n);
	uint32_t n_groups = 0;
	int rc = 0;
	if (!sh || !order || !groups) {
		rc = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < x->n; i++) {
		uint32_t shape = rule_shape(&x->v[i]);
		sh[i] = (struct shaped){shape_words(shape), shape, i};
	}
	qsort(sh, x->n, sizeof(*sh), shaped_cmp);
	for (uint32_t i = 0; i < x->n; i++)
		order[i] = &x->v[sh[i].index];
	for (uint32_t g = 0, end; g < x->n; g = end) {
		for (end = g + 1; end < x->n && sh[end].shape == sh[g].shape;)
			end++;
		groups[n_groups++] = (struct group){g, end - g, sh[g].words};
	}
	n_groups = merge_groups(groups, n_groups);
	qsort(groups, n_groups, sizeof(*groups), group_cmp);
	for (uint32_t g = 0; g < n_groups && !rc; g++)
		rc = stop_asked(x) ? -ECANCELED
				   : acl_build_group(set, sl, order + groups[g].start, groups[g].n);
out:
	free(sh);
	free(order);
	free(groups);
	return rc;
}

/* n_ranks: a full build's rule count, to keep which contexts hold each rule (0: not kept). */
static struct cw_acl_set *acl_build(struct expander *x, struct slow_list *sl, uint32_t n_ranks,
				    char *err, size_t errlen)
{
	struct cw_acl_set *set = calloc(1, sizeof(*set));
	if (!set)
		return NULL;
	set->heading_ctx = calloc(NUM_HEADINGS, sizeof(uint64_t));
	set->n_ranks = n_ranks;
	set->rank_ctx = n_ranks ? calloc(n_ranks, sizeof(uint64_t)) : NULL;
	if (!set->heading_ctx || (n_ranks && !set->rank_ctx)) {
		acl_free(set);
		return NULL;
	}
	set->n_acl_rules = x->n;
	if (!x->n)
		return set; /* nothing to classify */
	int rc = acl_build_groups(set, sl, x);
	if (rc == -ECANCELED) {
		snprintf(err, errlen, "cancelled");
		acl_free(set);
		return NULL;
	}
	if (rc) {
		snprintf(err, errlen, "rte_acl build of %u rules: %s", x->n, strerror(-rc));
		acl_free(set);
		return NULL;
	}
	sort_by_top(set);
	return set;
}

/* One stable counting-sort pass of v (n entries) by the 16 bits of key(v) at `shift`. Why not
 * qsort: at 100 000 rules its comparisons were most of a rule-set delta's build time. */
static int radix_pass(const uint64_t *in, uint64_t *out, uint32_t n, const uint16_t *digit_of,
		      unsigned shift)
{
	uint32_t *count = calloc(1u << 16, sizeof(uint32_t)); /* builds may run on two threads */
	if (!count)
		return -1;
	for (uint32_t i = 0; i < n; i++)
		count[digit_of ? digit_of[(uint32_t)in[i]] : (uint16_t)(in[i] >> shift)]++;
	for (uint32_t d = 0, at = 0; d < (1u << 16); d++) {
		uint32_t c = count[d];
		count[d] = at;
		at += c;
	}
	for (uint32_t i = 0; i < n; i++)
		out[count[digit_of ? digit_of[(uint32_t)in[i]] : (uint16_t)(in[i] >> shift)]++] =
		    in[i];
	free(count);
	return 0;
}

/* (id << 32 | index) for every rule, sorted by id (ids are unique in a rule set). */
static uint64_t *ids_sorted(const struct cw_ruleset *rs)
{
	uint32_t n = rs->n_rules;
	uint64_t *v = malloc(sizeof(uint64_t) * (n + 1)), *tmp = malloc(sizeof(uint64_t) * (n + 1));
	if (!v || !tmp) {
		free(v);
		free(tmp);
		return NULL;
	}
	for (uint32_t i = 0; i < n; i++)
		v[i] = ((uint64_t)rs->rules[i].id << 32) | i;
	int rc = radix_pass(v, tmp, n, NULL, 32);
	if (rc == 0)
		rc = radix_pass(tmp, v, n, NULL, 48);
	free(tmp);
	if (rc) {
		free(v);
		return NULL;
	}
	return v;
}

/* Ranks rules by (priority desc, id asc): rank 0 wins a tie of modes. The id order is kept in
 * the snapshot: the next delta diffs against it. */
static int build_ranks(struct cw_snapshot *s)
{
	const struct cw_ruleset *rs = s->rs;
	uint32_t n = rs->n_rules;
	s->ids_by_id = ids_sorted(rs);
	s->prio = malloc(sizeof(uint32_t) * (n + 1));
	s->by_rank = malloc(sizeof(uint32_t) * (n + 1));
	uint64_t *order = malloc(sizeof(uint64_t) * (n + 1));
	/* calloc rather than malloc: gcc 12 otherwise sees radix_pass read it before it is filled
	 */
	uint16_t *inv_priority = calloc(n + 1, sizeof(uint16_t));
	int rc = -1;
	if (!s->ids_by_id || !s->prio || !s->by_rank || !order || !inv_priority)
		goto out;
	for (uint32_t i = 0; i < n; i++)
		inv_priority[i] = (uint16_t)(UINT16_MAX - rs->rules[i].priority);
	if (radix_pass(s->ids_by_id, order, n, inv_priority, 0) < 0) /* stable: ids ascend */
		goto out;
	/* §4.3d as one number, higher wins: the mode, then the rank r (priority desc, id asc) */
	for (uint32_t r = 0; r < n; r++) {
		uint32_t i = (uint32_t)order[r];
		s->prio[i] =
		    ((uint32_t)rs->rules[i].mode << PRIO_MODE_SHIFT) | (PRIO_RANK_MASK - r);
		s->by_rank[r] = i;
	}
	rc = 0;
out:
	free(order);
	free(inv_priority);
	return rc;
}

static uint32_t acl_priority(const struct cw_snapshot *s, uint32_t rule_index)
{
	return s->prio[rule_index];
}

/* The rules listed in only[0, n_only) (ascending indices; NULL: all rules) go to the ACL or to
 * the slow list (all of them to the slow list in a linear snapshot). A delta lists the rules it
 * changed: the rules it keeps are its base's, and so are their slow-list entries. */
static struct cw_acl_set *build_rules(struct cw_snapshot *s, const uint32_t *uscc_ids,
				      const uint32_t *only, uint32_t n_only, bool linear,
				      const atomic_bool *stop, char *err, size_t errlen)
{
	const struct cw_ruleset *rs = s->rs;
	struct expander x = {.rs = rs, .uscc_ids = uscc_ids, .stop = stop};
	struct slow_list sl = {.s = s, .mark = calloc(rs->n_rules + 1, sizeof(bool))};
	s->slow = malloc(sizeof(uint32_t) * (rs->n_rules + 1));
	struct cw_acl_set *set = NULL;
	if (!s->slow || !sl.mark)
		goto out;
	if (s->base) /* the base's slow rules that this delta keeps */
		for (uint32_t k = 0; k < s->base->n_slow; k++)
			if (s->base_map[s->base->slow[k]] != NO_RULE)
				slow_add(&sl, s->base_map[s->base->slow[k]]);
	for (uint32_t k = 0; k < (only ? n_only : rs->n_rules); k++) {
		uint32_t i = only ? only[k] : k;
		const struct cw_rule *r = &rs->rules[i];
		if (r->never)
			continue;
		if (linear || !rule_fits_acl(r)) {
			slow_add(&sl, i);
			continue;
		}
		expand_rule(&x, r, acl_priority(s, i));
		if (x.error) {
			snprintf(err, errlen, "out of memory expanding rules");
			goto out;
		}
	}
	set = acl_build(&x, &sl, s->base || linear ? 0 : rs->n_rules, err, errlen);
	if (set && build_slow_masks(s) < 0) {
		snprintf(err, errlen, "out of memory");
		acl_free(set);
		set = NULL;
	}
out:
	free(x.v);
	free(sl.mark);
	return set;
}

static void snapshot_name(struct cw_snapshot *s)
{
	snprintf(s->tag, sizeof(s->tag), "v%u", s->version);
}

static bool rule_names_parties(const struct cw_rule *r)
{
	return r->declarant.n || r->owner.n;
}

static int build_common(struct cw_snapshot *s, uint32_t **uscc_ids, char *err, size_t errlen)
{
	snapshot_name(s);
	if (build_profiles(s, err, errlen) < 0)
		return -1;
	*uscc_ids = malloc(sizeof(uint32_t) * (s->rs->n_uscc + 1));
	if (!*uscc_ids || build_intern(s, *uscc_ids, err, errlen) < 0)
		return -1;
	s->n_party_rules = 0;
	for (uint32_t i = 0; i < s->rs->n_rules; i++)
		s->n_party_rules += rule_names_parties(&s->rs->rules[i]);
	s->uses_parties = s->n_party_rules > 0;
	if (build_ranks(s) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* The parse's record of copied rules is for the one delta build that follows it. */
static void forget_copies(struct cw_ruleset *rs)
{
	free(rs->copied_from);
	rs->copied_from = NULL;
	rs->copied_base = NULL;
}

/* The briefs of every rule and profile (struct cw_rule_brief). */
static int build_briefs(struct cw_snapshot *s)
{
	const struct cw_ruleset *rs = s->rs;
	s->rule_brief = malloc(sizeof(*s->rule_brief) * (rs->n_rules + 1));
	s->profile_brief = malloc(sizeof(*s->profile_brief) * (rs->n_profiles + 1));
	if (!s->rule_brief || !s->profile_brief)
		return -1;
	for (uint32_t i = 0; i < rs->n_rules; i++)
		s->rule_brief[i] = (struct cw_rule_brief){rs->rules[i].id, rs->rules[i].mode};
	for (uint32_t i = 0; i < rs->n_profiles; i++) {
		const struct cw_profile *p = &rs->profiles[i];
		s->profile_brief[i] =
		    (struct cw_profile_brief){p->sample_bp, p->mode, p->docs_mask, p->strict};
	}
	return 0;
}

/* A snapshot that owns rs (freed here when out of memory), with its version, serial and
 * briefs. */
static struct cw_snapshot *snapshot_new(struct cw_ruleset *rs)
{
	struct cw_snapshot *s = calloc(1, sizeof(*s));
	if (!s) {
		cw_ruleset_free(rs);
		return NULL;
	}
	s->rs = rs;
	s->version = rs->version;
	s->serial = atomic_fetch_add(&snapshot_serial, 1) + 1;
	if (build_briefs(s) < 0) {
		cw_snapshot_free(s);
		return NULL;
	}
	return s;
}

/* The masks a delta on this full build tests kept rules with, in priority order: per mode from
 * the highest, the rules in rank order (the rank is priority desc, id asc within all modes). */
static void keep_masks(struct cw_snapshot *s)
{
	const uint32_t n = s->rs->n_rules;
	uint32_t at[PRIO_MODES + 1] = {0}; /* per mode, highest first: where its rules start */
	s->by_prio = malloc(sizeof(uint32_t) * (n + 1));
	s->prio_pos = malloc(sizeof(uint32_t) * (n + 1));
	if (!s->by_prio || !s->prio_pos)
		return;
	for (uint32_t i = 0; i < n; i++)
		at[PRIO_MODES - (s->prio[i] >> PRIO_MODE_SHIFT)]++;
	for (uint32_t m = 0; m < PRIO_MODES; m++)
		at[m + 1] += at[m];
	for (uint32_t r = 0; r < n; r++) {
		uint32_t i = s->by_rank[r],
			 p = at[PRIO_MODES - 1 - (s->prio[i] >> PRIO_MODE_SHIFT)]++;
		s->by_prio[p] = i;
		s->prio_pos[i] = p;
	}
	s->all_masks = build_masks(s->rs, s->by_prio, n, &s->all_words);
}

static struct cw_snapshot *build_full(struct cw_ruleset *rs, bool linear, const atomic_bool *stop,
				      char *err, size_t errlen)
{
	forget_copies(rs);
	struct cw_snapshot *s = snapshot_new(rs);
	if (!s)
		return NULL;
	s->linear = linear;
	uint32_t *ids = NULL;
	if (stop && atomic_load_explicit(stop, memory_order_relaxed)) {
		snprintf(err, errlen, "cancelled"); /* while its text was parsed */
		cw_snapshot_free(s);
		return NULL;
	}
	if (build_common(s, &ids, err, errlen) < 0 ||
	    !(s->acl = build_rules(s, ids, NULL, 0, linear, stop, err, errlen))) {
		free(ids);
		cw_snapshot_free(s);
		return NULL;
	}
	free(ids);
	if (!linear) /* for deltas on it; without, a delta falls back on every rule in turn */
		keep_masks(s);
	return s;
}

struct cw_snapshot *cw_snapshot_build(struct cw_ruleset *rs, char *err, size_t errlen)
{
	return build_full(rs, false, NULL, err, errlen);
}

struct cw_snapshot *cw_snapshot_build_unless(struct cw_ruleset *rs, const atomic_bool *stop,
					     char *err, size_t errlen)
{
	return build_full(rs, false, stop, err, errlen);
}

struct cw_snapshot *cw_snapshot_build_linear(struct cw_ruleset *rs, char *err, size_t errlen)
{
	return build_full(rs, true, NULL, err, errlen);
}

/* ---------------------------------------------------------------- delta */

static bool list_equal(const struct cw_ruleset *a, struct cw_list la, const struct cw_ruleset *b,
		       struct cw_list lb, int kind)
{
	if (la.n != lb.n)
		return false;
	for (uint32_t i = 0; i < la.n; i++) {
		bool same;
		if (kind == 0)
			same = a->hs_ranges[la.off + i].lo == b->hs_ranges[lb.off + i].lo &&
			       a->hs_ranges[la.off + i].hi == b->hs_ranges[lb.off + i].hi;
		else if (kind == 1)
			same = a->u16[la.off + i] == b->u16[lb.off + i];
		else
			same =
			    !memcmp(a->uscc[a->u32[la.off + i]], b->uscc[b->u32[lb.off + i]], 18);
		if (!same)
			return false;
	}
	return true;
}

static bool range_equal(struct cw_u64range a, struct cw_u64range b)
{
	return a.lo == b.lo && a.hi == b.hi;
}

static bool rule_equal(const struct cw_ruleset *a, const struct cw_rule *x,
		       const struct cw_ruleset *b, const struct cw_rule *y)
{
	return x->id == y->id && x->priority == y->priority && x->mode == y->mode &&
	       x->never == y->never && x->class_mask == y->class_mask &&
	       x->dir_mask == y->dir_mask && x->msg_mask == y->msg_mask &&
	       x->doc_set == y->doc_set && x->doc_clear == y->doc_clear &&
	       x->has_unit_value == y->has_unit_value && range_equal(x->value, y->value) &&
	       range_equal(x->total_value, y->total_value) &&
	       range_equal(x->unit_value, y->unit_value) && range_equal(x->quantity, y->quantity) &&
	       list_equal(a, x->hs, b, y->hs, 0) && list_equal(a, x->origin, b, y->origin, 1) &&
	       list_equal(a, x->country, b, y->country, 1) &&
	       list_equal(a, x->trade_mode, b, y->trade_mode, 1) &&
	       list_equal(a, x->port, b, y->port, 1) &&
	       list_equal(a, x->transport, b, y->transport, 1) &&
	       list_equal(a, x->declarant, b, y->declarant, 2) &&
	       list_equal(a, x->owner, b, y->owner, 2);
}

static uint32_t find_id(const uint64_t *sorted, uint32_t n, uint32_t id)
{
	uint32_t lo = 0, hi = n;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		uint32_t mid_id = (uint32_t)(sorted[mid] >> 32);
		if (mid_id == id)
			return (uint32_t)sorted[mid];
		if (mid_id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NO_RULE;
}

/* A delta pays off only while the overlay stays small next to the base. */
#define DELTA_MAX_CHANGED CW_DELTA_MAX_CHANGED

/* The profile trie holds only prefixes and their indices: when those are the base's, the delta
 * uses the base's trie (a profile's mode or documents are read from the delta's own briefs). */
static bool same_profile_keys(const struct cw_ruleset *a, const struct cw_ruleset *b)
{
	if (a->n_profiles != b->n_profiles)
		return false;
	for (uint32_t i = 0; i < a->n_profiles; i++) {
		const struct cw_profile *x = &a->profiles[i], *y = &b->profiles[i];
		if (x->len != y->len || memcmp(x->prefix, y->prefix, x->len))
			return false;
	}
	return true;
}

static int delta_profiles(struct cw_snapshot *s, char *err, size_t errlen)
{
	const struct cw_snapshot *b = s->base;
	if (!same_profile_keys(s->rs, b->rs))
		return build_profiles(s, err, errlen);
	s->ptrie = b->ptrie;
	return 0;
}

/* uscc_ids as build_intern makes them. When the base's intern table knows every USCC the delta
 * names, a table of the delta's own would hold exactly the same keys and ids: share it. */
static int delta_intern(struct cw_snapshot *s, uint32_t *uscc_ids, char *err, size_t errlen)
{
	const struct cw_snapshot *b = s->base;
	const struct cw_ruleset *rs = s->rs;
	for (uint32_t i = 0; i < rs->n_uscc; i++) {
		void *data;
		if (rte_hash_lookup_data(b->intern, rs->uscc[i], &data) < 0)
			return build_intern(s, uscc_ids, err, errlen);
		uscc_ids[i] = (uint32_t)(uintptr_t)data;
	}
	s->intern = b->intern;
	memcpy(s->intern_maybe, b->intern_maybe, sizeof(s->intern_maybe));
	return 0;
}

/* Rules naming a declarant or owner: the base's, less those the delta removed or changed, plus
 * the changed ones that do. (Not a pass over every rule: at 100 k rules each pass over the rule
 * array costs about a millisecond.) */
static uint32_t delta_party_rules(const struct cw_snapshot *s, const uint32_t *chg, uint32_t n)
{
	const struct cw_snapshot *b = s->base;
	uint32_t count = b->n_party_rules;
	for (uint32_t i = 0; i < b->rs->n_rules; i++)
		if (s->base_map[i] == NO_RULE)
			count -= rule_names_parties(&b->rs->rules[i]);
	for (uint32_t k = 0; k < n; k++)
		count += rule_names_parties(&s->rs->rules[chg[k]]);
	return count;
}

struct ranked {
	uint64_t key; /* (UINT16_MAX - priority) << 32 | id: ascending is (priority desc, id asc) */
	uint32_t index;
};

static int ranked_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct ranked *)a)->key, y = ((const struct ranked *)b)->key;
	return x < y ? -1 : x > y;
}

/* ACL priorities of the changed rules only: the overlay holds nothing else, and a match in the
 * overlay is weighed against the base's by cw_rule_beats, not by priority. The rank among the
 * changed rules orders them as the rank among all rules would. A delta has no ids_by_id: the
 * next delta diffs against the full base. */
static int delta_ranks(struct cw_snapshot *s, const uint32_t *chg, uint32_t n)
{
	const struct cw_ruleset *rs = s->rs;
	s->prio = calloc((size_t)rs->n_rules + 1, sizeof(uint32_t)); /* untouched pages stay free */
	s->by_rank = malloc(sizeof(uint32_t) * (n + 1));
	struct ranked *order = malloc(sizeof(*order) * (n + 1));
	if (!s->prio || !s->by_rank || !order) {
		free(order);
		return -1;
	}
	for (uint32_t k = 0; k < n; k++) {
		const struct cw_rule *r = &rs->rules[chg[k]];
		order[k] =
		    (struct ranked){(uint64_t)(UINT16_MAX - r->priority) << 32 | r->id, chg[k]};
	}
	qsort(order, n, sizeof(*order), ranked_cmp);
	for (uint32_t r = 0; r < n; r++) {
		uint32_t i = order[r].index;
		s->prio[i] =
		    ((uint32_t)rs->rules[i].mode << PRIO_MODE_SHIFT) | (PRIO_RANK_MASK - r);
		s->by_rank[r] = i;
	}
	free(order);
	return 0;
}

/* build_common for a delta: whatever does not depend on the changed rules comes from the base. */
static int delta_common(struct cw_snapshot *s, const uint32_t *chg, uint32_t n, uint32_t **uscc_ids,
			char *err, size_t errlen)
{
	if (delta_profiles(s, err, errlen) < 0)
		return -1;
	*uscc_ids = malloc(sizeof(uint32_t) * (s->rs->n_uscc + 1));
	if (!*uscc_ids || delta_intern(s, *uscc_ids, err, errlen) < 0)
		return -1;
	s->n_party_rules = delta_party_rules(s, chg, n);
	s->uses_parties = s->n_party_rules > 0;
	if (delta_ranks(s, chg, n) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* The base rule that rs's rule i is known to equal without comparing, or NO_RULE. The
 * incremental parse says which rule of its base each rule was copied from byte for byte: when
 * that base is the full snapshot's, it is the answer; when it is an earlier delta on the same
 * full snapshot (the gateway's usual case: each change is parsed against the active set), that
 * delta's from_base finishes the way back. */
static uint32_t known_equal(const struct cw_snapshot *base, const struct cw_snapshot *prev,
			    const struct cw_ruleset *rs, uint32_t i)
{
	if (!rs->copied_from || rs->copied_from[i] == UINT32_MAX)
		return NO_RULE;
	if (rs->copied_base == base->rs)
		return rs->copied_from[i];
	if (prev && prev->base == base && rs->copied_base == prev->rs && prev->from_base)
		return prev->from_base[rs->copied_from[i]];
	return NO_RULE;
}

/* Fills base_map and from_base and lists the rules of rs that are new or differ from the base's
 * (ascending). Returns their number, or DELTA_MAX_CHANGED + 1 as soon as there are more. */
static uint32_t delta_diff(const struct cw_snapshot *base, const struct cw_snapshot *prev,
			   const struct cw_ruleset *rs, uint32_t *base_map, uint32_t *from_base,
			   uint32_t *chg)
{
	const struct cw_ruleset *brs = base->rs;
	for (uint32_t i = 0; i < brs->n_rules; i++)
		base_map[i] = NO_RULE;
	uint32_t n = 0;
	for (uint32_t i = 0; i < rs->n_rules; i++) {
		uint32_t bi = known_equal(base, prev, rs, i);
		if (bi == NO_RULE) {
			bi = find_id(base->ids_by_id, brs->n_rules, rs->rules[i].id);
			if (bi != NO_RULE && !rule_equal(rs, &rs->rules[i], brs, &brs->rules[bi]))
				bi = NO_RULE;
		}
		from_base[i] = bi;
		if (bi != NO_RULE)
			base_map[bi] = i;
		else if (n == DELTA_MAX_CHANGED)
			return n + 1;
		else
			chg[n++] = i;
	}
	return n;
}

/* Which of the base's contexts hold a rule the delta removed or changed, and which kept rules
 * lie in those contexts: an item whose best base rule is gone is classified again in the other
 * contexts (their answers are all kept rules) and tested against these rules, best first, until
 * one matches (best_kept). When the base did not keep its contexts' rules, every context is
 * dirty and every kept rule listed. */
static int mark_dirty(struct cw_snapshot *s)
{
	const struct cw_snapshot *b = s->base;
	const uint64_t *rank_ctx = b->acl ? b->acl->rank_ctx : NULL;
	const uint32_t n = b->rs->n_rules;
	uint64_t dirty = rank_ctx ? 0 : ~0ull;
	for (uint32_t bi = 0; rank_ctx && bi < n; bi++)
		if (s->base_map[bi] == NO_RULE)
			dirty |= rank_ctx[PRIO_RANK_MASK - (b->prio[bi] & PRIO_RANK_MASK)];
	s->dirty_ctx = dirty;
	if (!dirty || !b->all_masks)
		return 0; /* nothing removed or changed (or no masks: every rule in turn) */
	s->dirty_rules = calloc((size_t)b->all_words + 1, sizeof(uint64_t));
	if (!s->dirty_rules)
		return -1;
	for (uint32_t bi = 0; bi < n; bi++)
		if (s->base_map[bi] != NO_RULE &&
		    (!rank_ctx ||
		     (rank_ctx[PRIO_RANK_MASK - (b->prio[bi] & PRIO_RANK_MASK)] & dirty)))
			s->dirty_rules[b->prio_pos[bi] / 64] |= 1ull << (b->prio_pos[bi] % 64);
	return 0;
}

struct cw_snapshot *cw_snapshot_build_delta(const struct cw_snapshot *base, struct cw_ruleset *rs,
					    char *err, size_t errlen)
{
	const struct cw_snapshot *prev = base && base->base ? base : NULL; /* the active delta */
	while (base && base->base)
		base = base->base; /* overlays are not stacked: diff against the full snapshot */
	if (!base)
		return cw_snapshot_build(rs, err, errlen);
	if (base->linear)
		return cw_snapshot_build_linear(rs, err, errlen);
	uint32_t *chg = malloc(sizeof(uint32_t) * DELTA_MAX_CHANGED);
	uint32_t *base_map = malloc(sizeof(uint32_t) * (base->rs->n_rules + 1));
	uint32_t *from_base = malloc(sizeof(uint32_t) * (rs->n_rules + 1));
	uint32_t n = DELTA_MAX_CHANGED + 1;
	if (base->ids_by_id && chg && base_map && from_base)
		n = delta_diff(base, prev, rs, base_map, from_base, chg);
	forget_copies(rs);
	struct cw_snapshot *s = n > DELTA_MAX_CHANGED ? NULL : snapshot_new(rs);
	if (!s) {
		free(chg);
		free(base_map);
		free(from_base);
		return n > DELTA_MAX_CHANGED ? cw_snapshot_build(rs, err, errlen) : NULL;
	}
	snprintf(s->tag, sizeof(s->tag), "v%u+delta", s->version);
	s->base = base;
	s->acl = base->acl;
	s->base_map = base_map;
	s->from_base = from_base;
	uint32_t *ids = NULL;
	if (mark_dirty(s) < 0) {
		snprintf(err, errlen, "out of memory");
		free(chg);
		cw_snapshot_free(s);
		return NULL;
	}
	if (delta_common(s, chg, n, &ids, err, errlen) < 0 ||
	    !(s->overlay = build_rules(s, ids, chg, n, false, NULL, err, errlen))) {
		free(ids);
		free(chg);
		cw_snapshot_free(s);
		return NULL;
	}
	free(ids);
	free(chg);
	return s;
}

void cw_snapshot_stats(const struct cw_snapshot *s, struct cw_snapshot_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->rules = s->rs->n_rules;
	st->linear_rules = s->n_slow;
	st->delta = s->base != NULL;
	const struct cw_acl_set *sets[2] = {s->acl, s->overlay};
	for (int i = 0; i < 2; i++)
		if (sets[i]) {
			st->acl_contexts += sets[i]->n_ctx;
			st->acl_rules += sets[i]->n_acl_rules;
		}
}

void cw_snapshot_free(struct cw_snapshot *s)
{
	if (!s)
		return;
	const struct cw_snapshot *b = s->base; /* a delta may share these with its base */
	if (!b || s->ptrie != b->ptrie)
		trie_free(s->ptrie);
	if (!b || s->intern != b->intern)
		rte_hash_free(s->intern);
	if (!b)
		acl_free(s->acl);
	acl_free(s->overlay);
	free(s->base_map);
	free(s->from_base);
	free(s->rule_brief);
	free(s->profile_brief);
	free(s->prio);
	free(s->by_rank);
	free(s->ids_by_id);
	free(s->slow);
	free(s->slow_masks);
	free(s->all_masks);
	free(s->dirty_rules);
	free(s->by_prio);
	free(s->prio_pos);
	cw_ruleset_free(s->rs);
	free(s);
}

const struct cw_ruleset *cw_snapshot_ruleset(const struct cw_snapshot *s)
{
	return s->rs;
}

bool cw_snapshot_is_delta(const struct cw_snapshot *s)
{
	return s->base != NULL;
}

/* ---------------------------------------------------------------- classification */

static inline void consider(const struct cw_ruleset *rs, uint32_t *best, uint32_t cand)
{
	if (cand != NO_RULE && (*best == NO_RULE || cw_rule_beats(rs, cand, *best)))
		*best = cand;
}

/* The best rule of the snapshot's own rule set, by plain evaluation. */
static uint32_t linear_best(const struct cw_ruleset *rs, const struct cw_item_facts *f)
{
	uint32_t best = NO_RULE;
	for (uint32_t i = 0; i < rs->n_rules; i++)
		if (cw_rule_matches(rs, &rs->rules[i], f))
			consider(rs, &best, i);
	return best;
}

/* Keys classified per call: rte_acl has a fixed cost per call and per trie, and with one
 * context per rule shape each context sees only part of a burst, so bigger is better. */
#define CLASSIFY_CHUNK 256

/* The contexts whose filters admit what the message of key k decides. */
static uint64_t message_ctx(const struct cw_acl_set *set, const struct cw_acl_key *k)
{
	uint64_t m = set->combo_ctx[k->msg.b.combo] & set->docs_ctx[k->msg.b.docs] &
		     set->country_ctx[k->msg.b.country_b] & set->transport_ctx[k->msg.b.transport] &
		     set->code_ctx[CODE_TRADE_MODE][k->msg.b.trade_mode_b] &
		     set->code_ctx[CODE_PORT][k->msg.b.port_b] &
		     set->amount_ctx[AM_TOTAL][k->msg.b.total_b];
	return k->msg.b.partyless ? m & set->partyless_ctx : m;
}

/* The contexts whose filters admit the item's own values. */
static uint64_t item_ctx(const struct cw_acl_set *set, const struct cw_acl_key *k)
{
	return set->heading_ctx[k->heading] & set->origin_ctx[k->origin_b] &
	       set->amount_ctx[AM_QUANTITY][k->amount_b[AM_QUANTITY]] &
	       set->amount_ctx[AM_VALUE][k->amount_b[AM_VALUE]] &
	       set->amount_ctx[AM_UNIT][k->amount_b[AM_UNIT]];
}

/* Whether the item's amount falls in context c's buckets for its heading (c has a joint
 * filter). */
static bool joint_admits(const struct cw_acl_set *set, unsigned c, const struct cw_acl_key *k)
{
	const uint8_t *r = set->joint[c][k->heading];
	uint8_t b = k->amount_b[set->joint_amount[c] - 1];
	return (b >= r[0]) & (b <= r[1]); /* both, without a branch: items fall either way */
}

static bool same_message(const struct cw_acl_key *a, const struct cw_acl_key *b)
{
	return a->msg.w[0] == b->msg.w[0] && a->msg.w[1] == b->msg.w[1];
}

/* Per key, the best rule (index + 1, 0 none) over the contexts of the set in `allow`: the match
 * with the highest ACL priority (mode, then rank), which each context answers (+ 1) as its
 * rules' user data, so the answers merge by size and only the winner is turned into a rule
 * index. Each context classifies only the keys its filter admits; the message's part of the
 * filter is worked out once for a run of keys that share it (the items of a message). */
static void classify_set(const struct cw_snapshot *s, const struct cw_acl_set *set,
			 const struct cw_acl_key *const *keys, uint32_t *results, unsigned n,
			 uint64_t allow)
{
	memset(results, 0, sizeof(uint32_t) * n);
	if (!set)
		return;
	const struct cw_snapshot *owner = set == s->overlay || !s->base ? s : s->base;
	uint16_t at[MAX_ACL_PARTS][CLASSIFY_CHUNK], count[MAX_ACL_PARTS] = {0};
	uint64_t msg_m = 0;
	for (unsigned i = 0; i < n; i++) { /* which contexts each item goes to */
		const struct cw_acl_key *k = keys[i];
		if (i == 0 || !same_message(k, keys[i - 1]))
			msg_m = message_ctx(set, k) & allow;
		uint64_t m = msg_m & item_ctx(set, k);
		for (uint64_t j = m & set->joint_ctx; j; j &= j - 1) {
			unsigned c = (unsigned)__builtin_ctzll(j);
			m &= ~((uint64_t)!joint_admits(set, c, k) << c);
		}
		for (; m; m &= m - 1) {
			unsigned c = (unsigned)__builtin_ctzll(m);
			at[c][count[c]++] = (uint16_t)i;
		}
	}
	const struct cw_acl_key *sub[CLASSIFY_CHUNK];
	uint32_t part[CLASSIFY_CHUNK];
	/* Contexts with the best rules first: once an item's answer beats everything a context
	 * holds, asking that context is wasted (cwgen, 10 000 rules: 3.37 M -> 2.73 M
	 * classifications for 1 M messages). An answer equal to a context's best is that very rule.
	 */
	for (unsigned o = 0; o < set->n_ctx; o++) {
		unsigned c = set->by_top[o], m = 0;
		for (unsigned j = 0; j < count[c]; j++) {
			unsigned i = at[c][j];
			at[c][m] = (uint16_t)i;
			sub[m] = keys[i];
			m += results[i] < set->ctx_top[c];
		}
		if (!m)
			continue;
		rte_acl_classify(set->ctx[c], (const uint8_t **)sub, part, m, 1);
		for (unsigned j = 0; j < m; j++) { /* ACL priority + 1: higher wins (§4.3d) */
			uint32_t *r = &results[at[c][j]];
			*r = part[j] > *r ? part[j] : *r;
		}
	}
	for (unsigned i = 0; i < n; i++)
		if (results[i])
			results[i] = rule_of_prio(owner, results[i] - 1) + 1;
}

/* The slow rules that may concern an item, tested rule by rule. */
static void consider_slow(const struct cw_snapshot *s, const struct cw_item_facts *f,
			  const struct cw_acl_key *k, uint32_t *best)
{
	const struct cw_ruleset *rs = s->rs;
	const uint64_t *cm = mask_combo(s->slow_masks, s->slow_words, k->msg.b.combo),
		       *hm = mask_chapter(s->slow_masks, s->slow_words, k->heading / 100);
	for (uint32_t w = 0; w < s->slow_words; w++)
		for (uint64_t m = cm[w] & hm[w]; m; m &= m - 1) {
			uint32_t r = s->slow[w * 64 + (uint32_t)__builtin_ctzll(m)];
			if (cw_rule_matches(rs, &rs->rules[r], f))
				consider(rs, best, r);
		}
}

/* The first rule before place `end` of the base's priority order that all three masks admit
 * and that matches f: the best of them, as a base rule index (NO_RULE none). */
static uint32_t first_match(const struct cw_snapshot *b, const uint64_t *combo,
			    const uint64_t *chapter, const uint64_t *dirty, uint32_t end,
			    const struct cw_item_facts *f)
{
	for (uint32_t w = 0; w * 64 < end; w++) {
		uint64_t m = combo[w] & chapter[w] & dirty[w];
		if (end - w * 64 < 64)
			m &= (1ull << (end - w * 64)) - 1;
		for (; m; m &= m - 1) {
			uint32_t bi = b->by_prio[w * 64 + (uint32_t)__builtin_ctzll(m)];
			if (cw_rule_matches(b->rs, &b->rs->rules[bi], f))
				return bi;
		}
	}
	return NO_RULE;
}

/* For the items whose best rule in the base a delta removed or changed (at[0..n) of keys, n at
 * most CLASSIFY_CHUNK): the best of the base's rules the delta kept, as an index of its own (or
 * NO_RULE), into best[at[j]]. The base's contexts that hold no removed or changed rule answer
 * as they did, so the items are classified again in those alone; the kept rules of the others
 * (usually one context's) that the item's combination and chapter admit are then tried best
 * first, down to that answer, until one matches. The overlay's and the slow rules are the
 * caller's. (Every rule in turn, an edit of a rule that wins many items made the gateway ~11x
 * slower; docs/engine.md.) */
static void best_kept(const struct cw_snapshot *s, const struct cw_acl_key *const *keys,
		      const struct cw_item_facts *facts, const uint16_t *at, unsigned n,
		      uint32_t *best)
{
	const struct cw_snapshot *b = s->base;
	if (!s->dirty_rules) { /* the base kept no masks (with nothing dirty, no item comes here) */
		for (unsigned j = 0; j < n; j++)
			best[at[j]] = linear_best(s->rs, &facts[at[j]]);
		return;
	}
	const struct cw_acl_key *sub[CLASSIFY_CHUNK];
	uint32_t res[CLASSIFY_CHUNK];
	for (unsigned j = 0; j < n; j++)
		sub[j] = keys[at[j]];
	classify_set(s, s->acl, sub, res, n, ~s->dirty_ctx);
	for (unsigned j = 0; j < n; j++) {
		const struct cw_acl_key *k = sub[j];
		uint32_t bi = first_match(
		    b, mask_combo(b->all_masks, b->all_words, k->msg.b.combo),
		    mask_chapter(b->all_masks, b->all_words, k->heading / 100), s->dirty_rules,
		    res[j] ? b->prio_pos[res[j] - 1] : b->rs->n_rules, &facts[at[j]]);
		if (bi == NO_RULE && res[j])
			bi = res[j] - 1;
		best[at[j]] = bi == NO_RULE ? NO_RULE : s->base_map[bi];
	}
}

/* A delta's answers for m keys from its base's ACL results res and its overlay's ov (index +
 * 1, 0 none). */
static void delta_best(const struct cw_snapshot *s, const struct cw_acl_key *const *keys,
		       const struct cw_item_facts *facts, const uint32_t *res, const uint32_t *ov,
		       uint32_t *best, unsigned m)
{
	uint16_t gone[CLASSIFY_CHUNK]; /* the items whose best base rule the delta removed */
	unsigned n_gone = 0;
	for (unsigned i = 0; i < m; i++) {
		best[i] = res[i] ? s->base_map[res[i] - 1] : NO_RULE;
		if (res[i] && best[i] == NO_RULE)
			gone[n_gone++] = (uint16_t)i;
	}
	if (n_gone)
		best_kept(s, keys, facts, gone, n_gone, best);
	for (unsigned i = 0; i < m; i++) {
		if (ov[i])
			consider(s->rs, &best[i], ov[i] - 1);
		if (s->n_slow)
			consider_slow(s, &facts[i], keys[i], &best[i]);
	}
}

void cw_rules_classify(const struct cw_snapshot *s, const struct cw_acl_key *const *keys,
		       const struct cw_item_facts *facts, uint32_t *best, unsigned n)
{
	enum { CHUNK = CLASSIFY_CHUNK };
	uint32_t res[CHUNK], ov[CHUNK];
	for (unsigned base = 0; base < n; base += CHUNK) {
		unsigned m = n - base < CHUNK ? n - base : CHUNK;
		classify_set(s, s->acl, keys + base, res, m, ~0ull);
		if (s->base) {
			classify_set(s, s->overlay, keys + base, ov, m, ~0ull);
			delta_best(s, keys + base, facts + base, res, ov, best + base, m);
			continue;
		}
		for (unsigned i = 0; i < m; i++)
			best[base + i] = res[i] - 1; /* 0, no match, is NO_RULE */
		for (unsigned i = 0; s->n_slow && i < m; i++)
			consider_slow(s, &facts[base + i], keys[base + i], &best[base + i]);
	}
}
