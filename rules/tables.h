/*
 * tables.h - a compiled rule snapshot: the lookup structures built from a cw_ruleset.
 *
 * Why: §4.3 asks, for every item, the longest matching HS profile and the best targeting rule.
 * Profiles live in a decimal trie (the first 4 digits, then 2 at a time) whose every entry
 * holds the longest prefix covering it. Targeting rules live in rte_acl contexts (one per rule
 * shape) with one category, and a priority that holds the mode above the rank by (priority
 * desc, id asc), so "highest mode, then highest priority, then lowest id" is: the match with
 * the highest priority. Rules the ACL cannot express exactly (amount thresholds at or above
 * 2^32 - 1 minor units) are kept aside and evaluated linearly. A delta snapshot shares its
 * base's ACL and adds a small overlay (rules added or changed) plus a mask of base rules that
 * no longer count.
 */
#ifndef CW_RULES_TABLES_H
#define CW_RULES_TABLES_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <rte_byteorder.h>

#include "rules/engine.h"
#include "rules/ruleset.h"
#include "rules/stores.h"

#define CW_NO_PROFILE UINT32_MAX

/* ACL search key of one item, multi-byte fields in network order (DESIGN §9), then what the
 * context filters read of the item (rte_acl reads only the first 44 bytes). */
struct cw_acl_key {
	uint8_t
	    cls_dir; /* bits 0-5: all set but the class's; bits 6-7: all set but the direction's */
	uint8_t pad0[3];
	uint8_t msg_docs; /* bits 0-5: documents present (doc d -> bit d-1); bits 6 (DECL) and 7
			     (LIST): all set but the kind's */
	uint8_t transport;
	uint16_t trade_mode;
	uint16_t port;
	uint16_t origin;
	uint16_t country;
	uint8_t hs_tail;    /* last 2 digits */
	uint8_t flags;	    /* bit 0: unit_value defined (weight > 0) */
	uint32_t hs8;	    /* first 8 digits, packed decimal (a digit per nibble) */
	uint32_t declarant; /* interned id, 0 = none */
	uint32_t owner;
	uint32_t quantity;
	uint32_t value; /* saturated at 2^32 - 1 */
	uint32_t total_value;
	uint32_t unit_value;

	/* The item's buckets in the context filters (tables.c), worked out once from host-order
	 * values when the key is filled, not per context set from the fields above. */
	uint16_t heading;    /* 4-digit HS heading */
	uint16_t origin_b;   /* hashed origin */
	uint8_t amount_b[4]; /* quarter octaves of quantity, value, total value, unit value */
	/* The buckets the message decides, the same in all its items: an item whose words equal
	 * the previous item's reuses its filter mask. */
	union {
		struct {
			uint16_t country_b, trade_mode_b, port_b;
			uint8_t combo, transport, total_b, partyless, docs;
			uint8_t zero[5];
		} b;
		uint64_t w[2];
	} msg;
};

/* Fills the key for one item (facts as in cw_item_facts, ids interned). */
void cw_acl_key_fill(struct cw_acl_key *k, const struct cw_item_facts *f, uint32_t decl_id,
		     uint32_t owner_id);
/* The same in two steps: what the message decides (header facts, ids interned), once per
 * message; then, on a copy of that, each item's own fields. */
void cw_acl_key_fill_msg(struct cw_acl_key *k, const struct cw_item_facts *hdr, uint32_t decl_id,
			 uint32_t owner_id);
void cw_acl_key_fill_item(struct cw_acl_key *k, const struct cw_item_facts *f);

struct cw_acl_set; /* the rte_acl contexts of a snapshot (one per rule shape) */

struct cw_profile_trie; /* the profiles' longest-prefix table (tables.c) */

/* What deciding reads of a rule or a profile, packed tight next to the others: the records
 * themselves (168 and 20 bytes) lie all over the rule set, and the best rule's and the profile's
 * were cache misses in the middle of §4.3 (docs/engine.md, "Per message"). */
struct cw_rule_brief {
	uint32_t id;
	uint8_t mode;
};

struct cw_profile_brief {
	uint16_t sample_bp;
	uint8_t mode, docs_mask;
	bool strict;
};

struct cw_snapshot {
	struct cw_ruleset *rs;
	uint32_t version;
	uint64_t serial; /* unique per snapshot built in this process, from 1 */
	char tag[24];

	/* profiles (a delta whose profile prefixes are its base's uses the base's trie) */
	struct cw_profile_trie *ptrie;

	/* targeting rules */
	struct cw_rule_brief *rule_brief;	/* per rule index */
	struct cw_profile_brief *profile_brief; /* per profile index */
	uint32_t *prio; /* per rule index: mode, then rank by (priority desc, id asc); higher wins
			   (a delta: its changed rules only, ranked among themselves) */
	uint32_t *by_rank;	/* rule index of each rank: the ACL answers a priority (+ 1), and
				   the contexts' answers for a key are merged by size alone */
	uint64_t *ids_by_id;	/* (id << 32 | index), sorted by id: what a delta diffs against
				   (full snapshots only; NULL in a delta) */
	struct cw_acl_set *acl; /* owned, or the base's when delta */
	struct cw_acl_set *overlay; /* delta only: rules added or changed */
	uint32_t *base_map;   /* delta only: base rule index -> own index, UINT32_MAX removed */
	uint32_t *from_base;  /* delta only: own index -> equal base rule, UINT32_MAX changed */
	uint32_t *slow;	      /* rule indices evaluated linearly */
	uint64_t *slow_masks; /* per combination and HS chapter: which slow rules concern it */
	uint32_t slow_words;  /* 64-bit words per mask: one bit per slow rule */
	/* full build, for deltas on it: the same masks over all its rules, bit k for by_prio[k],
	 * the rules best first (ACL priority descending), and each rule's place in that order */
	uint64_t *all_masks;
	uint32_t all_words;
	uint32_t *by_prio, *prio_pos;
	/* delta only, for the items whose best base rule is gone: the base's contexts that hold a
	 * rule it removed or changed, and the base rules it kept in them (bits as all_masks'; NULL
	 * when nothing was removed or changed) */
	uint64_t dirty_ctx;
	uint64_t *dirty_rules;
	uint32_t n_slow;
	struct rte_hash *intern;     /* USCC -> id (index in rs->uscc + 1; a delta keeps its base's
					ids, and its table when it names no other USCC) */
	uint64_t intern_maybe[1024]; /* hashed USCCs of intern */
	bool uses_parties;	     /* some rule names a declarant or owner */
	uint32_t n_party_rules;	     /* how many (a delta counts from its base's) */
	bool linear;		     /* reference snapshot: every rule evaluated in order, no ACL */
	const struct cw_snapshot *base;
};

/* The 10 HS characters as a number: sum of (c - '0') * 10^(9 - i), modulo 2^64 (a short code's
 * trailing spaces count as -16, as they always have). The first 8 are combined in one word, in
 * pairs, fours, then eight, as plain sums of the bytes (each lane holds at most 255 * 11, then
 * 2805 * 101: no carry between lanes), and the '0's taken off at the end: the same ring
 * arithmetic as the digit-by-digit loop, in 27 instructions instead of 82 per item. */
static inline uint64_t cw_hs_number(const char *hs)
{
	uint64_t x;
	memcpy(&x, hs, 8);
	x = rte_le_to_cpu_64(x); /* the first character in the low byte */
	x = (x & 0x00FF00FF00FF00FFull) * 10 + ((x >> 8) & 0x00FF00FF00FF00FFull);
	x = (x & 0x0000FFFF0000FFFFull) * 100 + ((x >> 16) & 0x0000FFFF0000FFFFull);
	x = (x & 0xFFFFFFFFull) * 10000 + (x >> 32);
	const uint8_t *t = (const uint8_t *)hs + 8;
	return (x - '0' * 11111111ull) * 100 + t[0] * 10ull + t[1] - '0' * 11ull;
}

/* Profile index for each of n 10-digit codes (bulk). */
void cw_profiles_lookup(const struct cw_snapshot *s, const uint64_t *hs, uint32_t *out, unsigned n);

/* Best rule index (or UINT32_MAX) for each of n keys: one bulk ACL classification, then the
 * overlay and the slow rules. facts gives the slow rules and the per-context filters their input.
 */
void cw_rules_classify(const struct cw_snapshot *s, const struct cw_acl_key *const *keys,
		       const struct cw_item_facts *facts, uint32_t *best, unsigned n);

/* The hash of the registry and of the intern table for a USCC: it runs for every declarant (and
 * owner), so the length is a constant the inline steps unroll on. */
static inline uint32_t cw_uscc_hash(const char uscc[18])
{
	return cw_hash_key(uscc, 18, 0);
}

/* Interned id of a USCC (0 when no rule names it). */
uint32_t cw_intern_lookup(const struct cw_snapshot *s, const char uscc[18]);

/* True when rule a beats rule b under §4.3d (both indices into rs->rules). */
static inline bool cw_rule_beats(const struct cw_ruleset *rs, uint32_t a, uint32_t b)
{
	const struct cw_rule *ra = &rs->rules[a], *rb = &rs->rules[b];
	if (ra->mode != rb->mode)
		return ra->mode > rb->mode;
	if (ra->priority != rb->priority)
		return ra->priority > rb->priority;
	return ra->id < rb->id;
}

/* Linear test of one rule (rules/linear.c). */
bool cw_rule_matches(const struct cw_ruleset *rs, const struct cw_rule *r,
		     const struct cw_item_facts *f);

#endif
