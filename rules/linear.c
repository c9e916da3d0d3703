/*
 * linear.c - §4.3d evaluated the plain way: every rule, every condition, no tables.
 *
 * Why: it is the reference the ACL tables are tested against (property tests), and the exact
 * path for the few rules the ACL cannot express (see tables.h).
 */
#include <string.h>

#include "rules/tables.h"

static bool in_u16(const uint16_t *pool, struct cw_list l, uint16_t v)
{
	for (uint32_t i = 0; i < l.n; i++)
		if (pool[l.off + i] == v)
			return true;
	return false;
}

static bool in_uscc(const struct cw_ruleset *rs, struct cw_list l, const char *uscc)
{
	for (uint32_t i = 0; i < l.n; i++)
		if (!memcmp(rs->uscc[rs->u32[l.off + i]], uscc, 18))
			return true;
	return false;
}

static bool in_hs(const struct cw_ruleset *rs, struct cw_list l, uint64_t hs)
{
	for (uint32_t i = 0; i < l.n; i++) {
		const struct cw_u64range *r = &rs->hs_ranges[l.off + i];
		if (hs >= r->lo && hs <= r->hi)
			return true;
	}
	return false;
}

/* An upper bound of 2^64 - 1 is "no upper bound": it is what `>` and `>=` normalise to, and a
 * unit value (computed in 128 bits) may lie beyond it. */
static bool in_range(struct cw_u64range r, unsigned __int128 v)
{
	return v >= r.lo && (r.hi == UINT64_MAX || v <= r.hi);
}

static bool is_any(struct cw_u64range r)
{
	return r.lo == 0 && r.hi == UINT64_MAX;
}

bool cw_rule_matches(const struct cw_ruleset *rs, const struct cw_rule *r,
		     const struct cw_item_facts *f)
{
	if (r->never)
		return false;
	if (!(r->class_mask & (1u << f->cls)) || !(r->dir_mask & (1u << f->direction)) ||
	    !(r->msg_mask & f->msg))
		return false;
	if ((f->docs_mask & r->doc_set) != r->doc_set || (f->docs_mask & r->doc_clear))
		return false;
	if (r->hs.n && !in_hs(rs, r->hs, f->hs))
		return false;
	if (r->origin.n && !in_u16(rs->u16, r->origin, f->origin))
		return false;
	if (r->country.n && (!f->has_country || !in_u16(rs->u16, r->country, f->country)))
		return false;
	if (r->trade_mode.n && !in_u16(rs->u16, r->trade_mode, f->trade_mode))
		return false;
	if (r->port.n && !in_u16(rs->u16, r->port, f->port))
		return false;
	if (r->transport.n && (!f->has_transport || !in_u16(rs->u16, r->transport, f->transport)))
		return false;
	if (r->declarant.n && !in_uscc(rs, r->declarant, f->declarant))
		return false;
	if (r->owner.n && (!f->has_owner || !in_uscc(rs, r->owner, f->owner)))
		return false;
	if (!in_range(r->value, f->value) || !in_range(r->total_value, f->total_value) ||
	    !in_range(r->quantity, f->quantity))
		return false;
	if (r->has_unit_value || !is_any(r->unit_value)) {
		if (f->gross_weight_g == 0)
			return false;
		unsigned __int128 uv = (unsigned __int128)f->value * 1000 / f->gross_weight_g;
		if (!in_range(r->unit_value, uv))
			return false;
	}
	return true;
}

const struct cw_rule *cw_linear_match(const struct cw_ruleset *rs, const struct cw_item_facts *f)
{
	const struct cw_rule *best = NULL;
	for (uint32_t i = 0; i < rs->n_rules; i++) {
		const struct cw_rule *r = &rs->rules[i];
		if (!cw_rule_matches(rs, r, f))
			continue;
		if (!best || r->mode > best->mode ||
		    (r->mode == best->mode &&
		     (r->priority > best->priority ||
		      (r->priority == best->priority && r->id < best->id))))
			best = r;
	}
	return best;
}
