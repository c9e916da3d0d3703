/*
 * fuzz_rules.c - libFuzzer target for the rule-language compiler (rules/parse.c, rules/lexer.c).
 *
 * Why this file exists: rule sets arrive from Redis, written by people and scripts; the control
 * thread compiles whatever is there, so no input may crash it, leak, or yield a model that
 * breaks the invariants the table builder relies on. Besides the sanitizers, every accepted rule
 * set is checked here against those invariants, and every refused one must carry sane errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/ruleset.h"

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "invariant failed: %s (line %d)\n", #c, __LINE__);         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
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
