/*
 * fuzz_rules.c - libFuzzer target for the rule-language compiler (rules/parse.c, rules/lexer.c).
 *
 * Why this file exists: rule sets arrive from Redis, written by people and scripts; the control
 * thread compiles whatever is there, so no input may crash it, leak, or yield a model that
 * breaks the invariants the table builder relies on. Besides the sanitizers, every accepted rule
 * set is checked here against those invariants, and every refused one must carry sane errors.
 * The incremental parse (cw_ruleset_parse_delta, the gateway's path) must agree with the full
 * one exactly: the input is also parsed against a base made of the input with one line left out
 * (an edit of one line), and the result or the errors compared.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/ruleset.h"
#include "tests/fuzz/fuzz.h"

static void check_list(struct cw_list l, uint32_t pool)
{
	CHECK(l.off <= pool && l.n <= pool - l.off);
}

static void check_sorted_u16(const uint16_t *v, struct cw_list l)
{
	for (uint32_t i = 1; i < l.n; i++)
		CHECK(v[l.off + i - 1] < v[l.off + i]);
}

static void check_rule(const struct cw_ruleset *rs, const struct cw_rule *r)
{
	CHECK(r->id != 0);
	CHECK(r->mode <= 3);
	CHECK(r->reason == UINT32_MAX || r->reason < rs->strings_len);
	if (r->never) {
		CHECK(r->expanded == 0);
		CHECK(!r->class_mask && !r->dir_mask && !r->msg_mask);
		return;
	}
	CHECK(r->class_mask && !(r->class_mask & ~CW_CLASS_ALL));
	CHECK(r->dir_mask && !(r->dir_mask & ~CW_DIR_ALL));
	CHECK(r->msg_mask && !(r->msg_mask & ~CW_MSG_ALL));
	CHECK(!(r->doc_set & r->doc_clear));
	CHECK(r->value.lo <= r->value.hi && r->total_value.lo <= r->total_value.hi);
	CHECK(r->unit_value.lo <= r->unit_value.hi && r->quantity.lo <= r->quantity.hi);
	check_list(r->hs, rs->n_hs_ranges);
	for (uint32_t i = 0; i < r->hs.n; i++) {
		struct cw_u64range g = rs->hs_ranges[r->hs.off + i];
		CHECK(g.lo <= g.hi && g.hi < 10000000000ULL);
		if (i)
			CHECK(rs->hs_ranges[r->hs.off + i - 1].hi + 1 < g.lo);
	}
	const struct cw_list u16s[] = {r->origin, r->country, r->trade_mode, r->port, r->transport};
	uint64_t expanded = r->hs.n ? r->hs.n : 1;
	for (size_t k = 0; k < 5; k++) {
		check_list(u16s[k], rs->n_u16);
		check_sorted_u16(rs->u16, u16s[k]);
		expanded *= u16s[k].n ? u16s[k].n : 1;
	}
	for (uint32_t i = 0; i < r->transport.n; i++)
		CHECK(rs->u16[r->transport.off + i] <= 255);
	const struct cw_list u32s[] = {r->declarant, r->owner};
	for (size_t k = 0; k < 2; k++) {
		check_list(u32s[k], rs->n_u32);
		for (uint32_t i = 0; i < u32s[k].n; i++)
			CHECK(rs->u32[u32s[k].off + i] < rs->n_uscc);
		expanded *= u32s[k].n ? u32s[k].n : 1;
	}
	CHECK(expanded == r->expanded);
}

static bool same_errors(const struct cw_parse_errors *a, const struct cw_parse_errors *b)
{
	if (a->n != b->n || a->total != b->total)
		return false;
	for (uint32_t i = 0; i < a->n; i++)
		if (a->v[i].line != b->v[i].line || a->v[i].column != b->v[i].column ||
		    strcmp(a->v[i].msg, b->v[i].msg))
			return false;
	return true;
}

#define SAME_POOL(a, b, v, n)                                                                      \
	((a)->n == (b)->n && (!(a)->n || !memcmp((a)->v, (b)->v, (a)->n * sizeof(*(a)->v))))

static bool same_rule(const struct cw_rule *x, const struct cw_rule *y)
{
	const struct cw_list *lx[] = {&x->hs,	 &x->origin,	 &x->country, &x->declarant,
				      &x->owner, &x->trade_mode, &x->port,    &x->transport};
	const struct cw_list *ly[] = {&y->hs,	 &y->origin,	 &y->country, &y->declarant,
				      &y->owner, &y->trade_mode, &y->port,    &y->transport};
	for (int k = 0; k < 8; k++)
		if (lx[k]->off != ly[k]->off || lx[k]->n != ly[k]->n)
			return false;
	return x->id == y->id && x->priority == y->priority && x->mode == y->mode &&
	       x->reason == y->reason && x->line == y->line && x->never == y->never &&
	       x->class_mask == y->class_mask && x->dir_mask == y->dir_mask &&
	       x->msg_mask == y->msg_mask && x->doc_set == y->doc_set &&
	       x->doc_clear == y->doc_clear && x->has_unit_value == y->has_unit_value &&
	       !memcmp(&x->value, &y->value, sizeof(x->value)) &&
	       !memcmp(&x->total_value, &y->total_value, sizeof(x->value)) &&
	       !memcmp(&x->unit_value, &y->unit_value, sizeof(x->value)) &&
	       !memcmp(&x->quantity, &y->quantity, sizeof(x->value)) && x->expanded == y->expanded;
}

static bool same_ruleset(const struct cw_ruleset *a, const struct cw_ruleset *b)
{
	if (a->version != b->version || memcmp(a->salt, b->salt, 16) ||
	    a->limit_single != b->limit_single || a->limit_annual != b->limit_annual ||
	    a->tolerance_bp != b->tolerance_bp || a->class_set != b->class_set ||
	    memcmp(a->cls, b->cls, sizeof(a->cls)) || a->n_profiles != b->n_profiles ||
	    a->n_rules != b->n_rules || a->n_expanded != b->n_expanded ||
	    !SAME_POOL(a, b, hs_ranges, n_hs_ranges) || !SAME_POOL(a, b, u16, n_u16) ||
	    !SAME_POOL(a, b, u32, n_u32) || !SAME_POOL(a, b, uscc, n_uscc) ||
	    a->strings_len != b->strings_len ||
	    (a->strings_len && memcmp(a->strings, b->strings, a->strings_len)))
		return false;
	for (uint32_t i = 0; i < a->n_profiles; i++) {
		const struct cw_profile *x = &a->profiles[i], *y = &b->profiles[i];
		if (x->len != y->len || memcmp(x->prefix, y->prefix, x->len) ||
		    x->mode != y->mode || x->sample_bp != y->sample_bp ||
		    x->docs_mask != y->docs_mask || x->strict != y->strict || x->line != y->line)
			return false;
	}
	for (uint32_t i = 0; i < a->n_rules; i++)
		if (!same_rule(&a->rules[i], &b->rules[i]))
			return false;
	return true;
}

/* The input parsed against a base that lacks one of its lines must give what the full parse of
 * the input gives. */
static void check_incremental(const uint8_t *data, size_t size)
{
	size_t lines = 1, drop, start = 0, end = size;
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	drop = size ? data[size - 1] % lines : 0;
	for (size_t i = 0, l = 0; i < size; i++)
		if (data[i] == '\n' && ++l == drop)
			start = i + 1;
	const uint8_t *nl = memchr(data + start, '\n', size - start);
	end = nl ? (size_t)(nl - data) + 1 : size;
	char *base_text = malloc(size - (end - start) + 1);
	if (!base_text)
		return;
	memcpy(base_text, data, start);
	memcpy(base_text + start, data + end, size - end);
	size_t base_len = size - (end - start);
	struct cw_ruleset *base = cw_ruleset_parse_delta(base_text, base_len, NULL, NULL, 0, NULL);
	struct cw_parse_error ef[4], ei[4];
	struct cw_parse_errors full_errs = {ef, 0, 4, 0}, inc_errs = {ei, 0, 4, 0};
	struct cw_ruleset *full = cw_ruleset_parse((const char *)data, size, &full_errs);
	struct cw_ruleset *inc =
	    cw_ruleset_parse_delta((const char *)data, size, base, base_text, base_len, &inc_errs);
	CHECK((full == NULL) == (inc == NULL));
	if (full)
		CHECK(same_ruleset(full, inc));
	else
		CHECK(same_errors(&full_errs, &inc_errs));
	/* and into memory written ahead, sized like the base (the gateway's compile thread): the
	 * input may need more than that */
	struct cw_parse_spare *spare = base ? cw_parse_spare_new(base) : NULL;
	while (spare && !cw_parse_spare_touch(spare, 1u << 20))
		;
	struct cw_parse_error es[4];
	struct cw_parse_errors spare_errs = {es, 0, 4, 0};
	struct cw_ruleset *into = cw_ruleset_parse_delta_spare(
	    (const char *)data, size, base, base_text, base_len, &spare, &spare_errs);
	CHECK(spare == NULL);
	CHECK((full == NULL) == (into == NULL));
	if (full)
		CHECK(same_ruleset(full, into));
	else
		CHECK(same_errors(&full_errs, &spare_errs));
	cw_ruleset_free(into);
	cw_ruleset_free(full);
	cw_ruleset_free(inc);
	cw_ruleset_free(base);
	free(base_text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_incremental(data, size);
	struct cw_parse_error ev[4];
	struct cw_parse_errors errs = {ev, 0, 4, 0};
	struct cw_ruleset *rs = cw_ruleset_parse((const char *)data, size, &errs);
	if (!rs) {
		CHECK(errs.total > 0 && errs.n > 0 && errs.n <= errs.total);
		for (uint32_t i = 0; i < errs.n; i++) {
			CHECK(ev[i].line >= 1 && ev[i].column >= 1);
			CHECK(ev[i].line <= size + 1 && ev[i].column <= size + 1);
			CHECK(memchr(ev[i].msg, 0, sizeof(ev[i].msg)) && ev[i].msg[0]);
		}
		return 0;
	}
	CHECK(errs.total == 0);
	CHECK(rs->version >= 1);
	CHECK(rs->n_expanded <= CW_MAX_EXPANDED && rs->n_profiles <= CW_MAX_PROFILES);
	for (int c = 0; c < CW_NUM_CLASSES; c++)
		CHECK(rs->cls[c].mode <= 3 && rs->cls[c].sample_bp <= 10000);
	CHECK(rs->tolerance_bp <= 10000);
	for (uint32_t i = 0; i < rs->n_profiles; i++) {
		const struct cw_profile *p = &rs->profiles[i];
		CHECK(p->len >= 1 && p->len <= 10 && p->mode <= 3 && p->sample_bp <= 10000);
		CHECK(!(p->docs_mask & 0x81));
		for (int k = 0; k < p->len; k++)
			CHECK(p->prefix[k] >= '0' && p->prefix[k] <= '9');
		for (uint32_t j = 0; j < i && rs->n_profiles < 64; j++)
			CHECK(rs->profiles[j].len != p->len ||
			      memcmp(rs->profiles[j].prefix, p->prefix, p->len));
	}
	uint64_t total = 0;
	for (uint32_t i = 0; i < rs->n_rules; i++) {
		check_rule(rs, &rs->rules[i]);
		total += rs->rules[i].expanded;
		for (uint32_t j = 0; j < i && rs->n_rules < 64; j++)
			CHECK(rs->rules[j].id != rs->rules[i].id);
	}
	CHECK(total == rs->n_expanded);
	for (uint32_t i = 0; i < rs->n_uscc; i++)
		for (int k = 0; k < 18; k++)
			CHECK((rs->uscc[i][k] >= '0' && rs->uscc[i][k] <= '9') ||
			      (rs->uscc[i][k] >= 'A' && rs->uscc[i][k] <= 'Z'));
	CHECK(!rs->strings_len || rs->strings[rs->strings_len - 1] == 0);
	cw_ruleset_free(rs);
	return 0;
}
