/*
 * test_parse.c - the rule-language compiler (DESIGN §5): every statement and condition, every
 * default, the boundaries, the normalisation of conditions, every class of error with its line
 * and column, the shared vectors' rule set, a 100k-rule + 100k-profile set, and every example of
 * docs/rules.md. Pure C: no EAL.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dataplane/wire/cwp.h"
#include "rules/ruleset.h"
#include "tests/unit/testutil.h"

#define SALT "00112233445566778899aabbccddeeff"
#define HDR  "version 1\nsalt " SALT "\n"

static struct cw_parse_error ev[64];
static struct cw_parse_errors errs;

static struct cw_ruleset *parse(const char *text)
{
	errs = (struct cw_parse_errors){ev, 0, 64, 0};
	return cw_ruleset_parse(text, strlen(text), &errs);
}

static void dump_errors(const char *text)
{
	fprintf(stderr, "--- input:\n%s\n--- errors:\n", text);
	for (uint32_t i = 0; i < errs.n; i++) {
		char b[256];
		cw_parse_error_format(&ev[i], b, sizeof(b));
		fprintf(stderr, "%s\n", b);
	}
}

/* Parses text that must be accepted. */
static struct cw_ruleset *ok(const char *text)
{
	struct cw_ruleset *rs = parse(text);
	if (!rs)
		dump_errors(text);
	ck_assert_msg(rs != NULL, "rule set refused");
	ck_assert_uint_eq(errs.total, 0);
	return rs;
}

/* Text that must be refused with an error at line:col whose message contains `needle`. */
static void fails_at(const char *text, uint32_t line, uint32_t col, const char *needle)
{
	struct cw_ruleset *rs = parse(text);
	ck_assert_msg(rs == NULL, "accepted: %s", text);
	ck_assert_uint_ge(errs.total, 1);
	for (uint32_t i = 0; i < errs.n; i++)
		if (ev[i].line == line && ev[i].column == col && strstr(ev[i].msg, needle))
			return;
	dump_errors(text);
	ck_abort_msg("no error \"%s\" at %u:%u", needle, (unsigned)line, (unsigned)col);
}

/* One rule set made of HDR and one more line: the error is on line 3. */
static void line3_fails(const char *stmt, uint32_t col, const char *needle)
{
	char buf[4096];
	snprintf(buf, sizeof(buf), HDR "%s\n", stmt);
	fails_at(buf, 3, col, needle);
}

static struct cw_ruleset *with_hdr(const char *body)
{
	static char buf[1 << 16];
	snprintf(buf, sizeof(buf), HDR "%s", body);
	return ok(buf);
}

/* The only rule of a rule set made of HDR and one rule. */
static struct cw_rule one_rule(const char *rule, struct cw_ruleset **keep)
{
	struct cw_ruleset *rs = with_hdr(rule);
	ck_assert_uint_eq(rs->n_rules, 1);
	struct cw_rule r = rs->rules[0];
	if (keep)
		*keep = rs;
	else
		cw_ruleset_free(rs);
	return r;
}

static uint64_t ranges_equal(const struct cw_ruleset *rs, struct cw_list l, const uint64_t *lohi,
			     uint32_t n)
{
	ck_assert_uint_eq(l.n, n);
	for (uint32_t i = 0; i < n; i++) {
		ck_assert_uint_eq(rs->hs_ranges[l.off + i].lo, lohi[2 * i]);
		ck_assert_uint_eq(rs->hs_ranges[l.off + i].hi, lohi[2 * i + 1]);
	}
	return n;
}

#define CC(a, b) ((uint16_t)((a) << 8 | (b)))

/* ---- header statements ---- */

START_TEST(minimal_and_defaults)
{
	struct cw_ruleset *rs = ok(HDR);
	ck_assert_uint_eq(rs->version, 1);
	static const uint8_t salt[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
					 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
	ck_assert_mem_eq(rs->salt, salt, 16);
	ck_assert_uint_eq(rs->limit_single, 500000);
	ck_assert_uint_eq(rs->limit_annual, 2600000);
	ck_assert_uint_eq(rs->tolerance_bp, 0);
	ck_assert_uint_eq(rs->cls[CW_CLS_AEO].mode, CWP_MODE_DECLARE);
	ck_assert_uint_eq(rs->cls[CW_CLS_GOOD].mode, CWP_MODE_DECLARE);
	ck_assert_uint_eq(rs->cls[CW_CLS_WARNING].mode, CWP_MODE_VERIFY);
	ck_assert_uint_eq(rs->cls[CW_CLS_DISHONEST].mode, CWP_MODE_SAMPLE);
	ck_assert_uint_eq(rs->cls[CW_CLS_SERIOUS].mode, CWP_MODE_SUPERVISE);
	ck_assert_uint_eq(rs->cls[CW_CLS_UNKNOWN].mode, CWP_MODE_SUPERVISE);
	for (int c = 0; c < CW_NUM_CLASSES; c++)
		ck_assert_uint_eq(rs->cls[c].sample_bp, 0);
	ck_assert_uint_eq(rs->class_set, 0);
	ck_assert_uint_eq(rs->n_profiles, 0);
	ck_assert_uint_eq(rs->n_rules, 0);
	ck_assert_uint_eq(rs->n_expanded, 0);
	cw_ruleset_free(rs);
}
END_TEST

START_TEST(version_bounds)
{
	fails_at("version 0\nsalt " SALT "\n", 1, 9, "version out of range");
	struct cw_ruleset *rs = ok("version 4294967295\nsalt " SALT "\n");
	ck_assert_uint_eq(rs->version, 4294967295u);
	cw_ruleset_free(rs);
	fails_at("version 4294967296\nsalt " SALT "\n", 1, 9, "version out of range");
	fails_at("version 99999999999999999999999\nsalt " SALT "\n", 1, 9, "out of range");
	fails_at("version 1.5\nsalt " SALT "\n", 1, 9, "whole number");
	fails_at("version -3\nsalt " SALT "\n", 1, 9, "cannot be negative");
	fails_at("version\nsalt " SALT "\n", 1, 8, "expected version");
	rs = ok("version 007\nsalt " SALT "\n");
	ck_assert_uint_eq(rs->version, 7);
	cw_ruleset_free(rs);
}
END_TEST

START_TEST(required_and_repeated)
{
	fails_at("salt " SALT "\n", 1, 1, "missing version");
	fails_at("version 3\n", 1, 1, "missing salt");
	fails_at("", 1, 1, "missing version");
	fails_at("", 1, 1, "missing salt");
	fails_at(HDR "version 2\n", 3, 1, "repeated version (first at line 1)");
	fails_at(HDR "salt " SALT "\n", 3, 1, "repeated salt (first at line 2)");
	fails_at(HDR "limit single 1\nlimit single 2\n", 4, 1, "repeated limit single");
	fails_at(HDR "limit annual 1\nlimit annual 2\n", 4, 1, "repeated limit annual");
	fails_at(HDR "limit tolerance 1%\nlimit tolerance 1%\n", 4, 1, "repeated limit tolerance");
	fails_at(HDR "class good mode verify\nclass good mode verify\n", 4, 1,
		 "repeated class good (first at line 3)");
	/* the statement order is free */
	struct cw_ruleset *rs = ok("rule 1 mode verify when hs 01\nsalt " SALT "\nversion 9\n");
	ck_assert_uint_eq(rs->version, 9);
	cw_ruleset_free(rs);
}
END_TEST

START_TEST(salt_forms)
{
	fails_at("version 1\nsalt 00112233445566778899aabbccddeef\n", 2, 6, "bad salt");
	fails_at("version 1\nsalt 00112233445566778899aabbccddeeff0\n", 2, 6, "bad salt");
	fails_at("version 1\nsalt 0011223344556677889gaabbccddeeff\n", 2, 6, "32 hex digits");
	fails_at("version 1\nsalt\n", 2, 5, "expected a salt");
	struct cw_ruleset *rs = ok("version 1\nsalt FFEEDDCCBBAA99887766554433221100\n");
	ck_assert_uint_eq(rs->salt[0], 0xFF);
	ck_assert_uint_eq(rs->salt[15], 0x00);
	ck_assert_uint_eq(rs->salt[5], 0xAA);
	cw_ruleset_free(rs);
}
END_TEST

START_TEST(limits)
{
	struct cw_ruleset *rs =
	    with_hdr("limit single 5000.00\nlimit annual 26000.5\nlimit tolerance 1.25%\n");
	ck_assert_uint_eq(rs->limit_single, 500000);
	ck_assert_uint_eq(rs->limit_annual, 2600050);
	ck_assert_uint_eq(rs->tolerance_bp, 125);
	cw_ruleset_free(rs);
	rs = with_hdr("limit single 800\nlimit annual 0\nlimit tolerance 100%\n");
	ck_assert_uint_eq(rs->limit_single, 80000);
	ck_assert_uint_eq(rs->limit_annual, 0);
	ck_assert_uint_eq(rs->tolerance_bp, 10000);
	cw_ruleset_free(rs);
	rs = with_hdr("limit single 184467440737095516.15\n");
	ck_assert_uint_eq(rs->limit_single, UINT64_MAX);
	cw_ruleset_free(rs);
	line3_fails("limit single 184467440737095516.16", 14, "too large");
	line3_fails("limit single 99999999999999999999999", 14, "too large");
	line3_fails("limit single 1.001", 14, "at most 2 decimals");
	line3_fails("limit single -5", 14, "cannot be negative");
	line3_fails("limit single 5e3", 14, "bad amount");
	line3_fails("limit tolerance 100.01%", 17, "percentage over 100%");
	line3_fails("limit tolerance 1000000000000000000000%", 17, "percentage over 100%");
	line3_fails("limit tolerance 0.125%", 17, "at most 2 decimals");
	line3_fails("limit tolerance 5", 17, "needs a % sign");
	line3_fails("limit tolerance -1%", 17, "cannot be negative");
	line3_fails("limit daily 5", 7, "unknown limit 'daily'");
	line3_fails("limit single", 13, "expected an amount");
	line3_fails("limit single 5 6", 16, "expected the end of the statement, found '6'");
}
END_TEST

START_TEST(class_statement)
{
	struct cw_ruleset *rs = with_hdr("class aeo mode verify sample 0.5%\n"
					 "class unknown sample 30% mode sample\n"
					 "class serious mode declare\n");
	ck_assert_uint_eq(rs->cls[CW_CLS_AEO].mode, CWP_MODE_VERIFY);
	ck_assert_uint_eq(rs->cls[CW_CLS_AEO].sample_bp, 50);
	ck_assert_uint_eq(rs->cls[CW_CLS_UNKNOWN].mode, CWP_MODE_SAMPLE);
	ck_assert_uint_eq(rs->cls[CW_CLS_UNKNOWN].sample_bp, 3000);
	ck_assert_uint_eq(rs->cls[CW_CLS_SERIOUS].mode, CWP_MODE_DECLARE);
	ck_assert_uint_eq(rs->cls[CW_CLS_SERIOUS].sample_bp, 0);
	/* untouched classes keep their defaults */
	ck_assert_uint_eq(rs->cls[CW_CLS_WARNING].mode, CWP_MODE_VERIFY);
	ck_assert_uint_eq(rs->cls[CW_CLS_DISHONEST].mode, CWP_MODE_SAMPLE);
	ck_assert_uint_eq(rs->class_set,
			  1u << CW_CLS_AEO | 1u << CW_CLS_UNKNOWN | 1u << CW_CLS_SERIOUS);
	cw_ruleset_free(rs);
	line3_fails("class vip mode declare", 7, "unknown class 'vip'");
	line3_fails("class good mode fast", 17, "unknown mode 'fast'");
	line3_fails("class good mode Declare", 17, "unknown mode");
	line3_fails("class good sample 5%", 21, "missing `mode`");
	line3_fails("class good mode verify mode sample", 24, "repeated option `mode`");
	line3_fails("class good mode verify sample 101%", 31, "percentage over 100%");
	line3_fails("class good mode verify strict", 24, "unknown option 'strict'");
	line3_fails("Class good mode verify", 1, "unknown keyword 'Class'");
}
END_TEST

/* ---- profiles ---- */

START_TEST(profile_statement)
{
	struct cw_ruleset *rs =
	    with_hdr("profile 02 mode sample sample 5% docs QUARANTINE\n"
		     "profile 2\n"
		     "profile 0201234567 strict docs LICENCE , CITES,ORIGIN_CERT "
		     "sample 0.01% mode supervise\n"
		     "profile 28 mode verify strict\n");
	ck_assert_uint_eq(rs->n_profiles, 4);
	const struct cw_profile *p = rs->profiles;
	ck_assert_uint_eq(p[0].len, 2);
	ck_assert_mem_eq(p[0].prefix, "02", 2);
	ck_assert_uint_eq(p[0].mode, CWP_MODE_SAMPLE);
	ck_assert_uint_eq(p[0].sample_bp, 500);
	ck_assert_uint_eq(p[0].docs_mask, 1u << CWP_DOC_QUARANTINE);
	ck_assert(!p[0].strict);
	ck_assert_uint_eq(p[0].line, 3);
	/* "2" is another prefix than "02"; the defaults */
	ck_assert_uint_eq(p[1].len, 1);
	ck_assert_uint_eq(p[1].prefix[0], '2');
	ck_assert_uint_eq(p[1].mode, CWP_MODE_DECLARE);
	ck_assert_uint_eq(p[1].sample_bp, 0);
	ck_assert_uint_eq(p[1].docs_mask, 0);
	ck_assert(!p[1].strict);
	ck_assert_uint_eq(p[2].len, 10);
	ck_assert_mem_eq(p[2].prefix, "0201234567", 10);
	ck_assert_uint_eq(p[2].mode, CWP_MODE_SUPERVISE);
	ck_assert_uint_eq(p[2].sample_bp, 1);
	ck_assert_uint_eq(p[2].docs_mask,
			  1u << CWP_DOC_LICENCE | 1u << CWP_DOC_CITES | 1u << CWP_DOC_ORIGIN_CERT);
	ck_assert(p[2].strict);
	ck_assert(p[3].strict);
	ck_assert_uint_eq(p[3].mode, CWP_MODE_VERIFY);
	cw_ruleset_free(rs);

	line3_fails("profile 02011234567", 9, "at most 10 digits");
	line3_fails("profile 02a", 9, "bad HS prefix");
	line3_fails("profile", 8, "expected an HS prefix");
	line3_fails("profile 02 docs licence", 17, "unknown document 'licence'");
	line3_fails("profile 02 docs LICENCE,", 25, "expected a document");
	line3_fails("profile 02 docs", 16, "expected a document");
	line3_fails("profile 02 strict strict", 19, "repeated option `strict`");
	line3_fails("profile 02 sample 100.01%", 19, "percentage over 100%");
	line3_fails("profile 02 priority 3", 12, "unknown option 'priority'");
	fails_at(HDR "profile 02\nprofile 0201\nprofile 02 mode verify\n", 5, 9,
		 "duplicate profile 02 (first at line 3)");
}
END_TEST

/* ---- rules ---- */

START_TEST(rule_header)
{
	struct cw_ruleset *rs;
	struct cw_rule r = one_rule("rule 4294967295 priority 65535 mode supervise reason "
				    "\"FMD alert: beef # from BR\" when hs 01\n",
				    &rs);
	ck_assert_uint_eq(r.id, 4294967295u);
	ck_assert_uint_eq(r.priority, 65535);
	ck_assert_uint_eq(r.mode, CWP_MODE_SUPERVISE);
	ck_assert_str_eq(rs->strings + r.reason, "FMD alert: beef # from BR");
	ck_assert_uint_eq(r.line, 3);
	ck_assert(!r.never);
	cw_ruleset_free(rs);
	/* defaults, options in any order */
	r = one_rule("rule 1 mode declare when hs 01\n", NULL);
	ck_assert_uint_eq(r.priority, 0);
	ck_assert_uint_eq(r.reason, UINT32_MAX);
	r = one_rule("rule 1 reason \"\" priority 7 mode verify when hs 01\n", &rs);
	ck_assert_uint_eq(r.priority, 7);
	ck_assert_str_eq(rs->strings + r.reason, "");
	cw_ruleset_free(rs);
	/* UTF-8 in a reason */
	r = one_rule("rule 1 mode verify reason \"口蹄疫 FMD\" when hs 0201\n", &rs);
	ck_assert_str_eq(rs->strings + r.reason, "口蹄疫 FMD");
	cw_ruleset_free(rs);

	line3_fails("rule 0 mode verify when hs 01", 6, "rule id out of range");
	line3_fails("rule 4294967296 mode verify when hs 01", 6, "rule id out of range");
	line3_fails("rule x mode verify when hs 01", 6, "whole number");
	line3_fails("rule 1 priority 65536 mode verify when hs 01", 17, "priority out of range");
	line3_fails("rule 1 when hs 01", 8, "missing `mode`");
	line3_fails("rule 1 mode verify", 19, "missing `when`");
	line3_fails("rule 1 mode verify hs 01", 20, "expected `when` before the conditions");
	line3_fails("rule 1 mode verify when", 24, "expected a condition");
	line3_fails("rule 1 mode verify mode sample when hs 01", 20, "repeated option `mode`");
	line3_fails("rule 1 mode verify reason \"a\" reason \"b\" when hs 01", 31,
		    "repeated option `reason`");
	line3_fails("rule 1 mode verify reason \"no end when hs 01", 27, "unterminated string");
	line3_fails("rule 1 mode verify reason \"a\tb\" when hs 01", 27, "control character");
	line3_fails("rule 1 mode verify reason \"\xff\" when hs 01", 27, "not valid UTF-8");
	line3_fails("rule 1 mode verify reason when hs 01", 27, "expected a reason");
	line3_fails("rule 1 mode verify when hs 01 or hs 02", 31, "`or` is not part");
	line3_fails("rule 1 mode verify when hs 01 hs 02", 31, "expected `and` or the end");
	line3_fails("rule 1 mode verify when hs 01 and", 34, "expected a condition");
	line3_fails("rule 1 mode verify when colour red", 25, "unknown condition 'colour'");
	fails_at(HDR "rule 5 mode verify when hs 01\nrule 6 mode verify when hs 01\n"
		     "rule 5 mode sample when hs 02\n",
		 5, 6, "duplicate rule id 5 (first at line 3)");
	char reason[400];
	memset(reason, 'x', sizeof(reason));
	char buf[600];
	snprintf(buf, sizeof(buf), "rule 1 mode verify reason \"%.*s\" when hs 01", 256, reason);
	line3_fails(buf, 27, "longer than 255");
	snprintf(buf, sizeof(buf), HDR "rule 1 mode verify reason \"%.*s\" when hs 01\n", 255,
		 reason);
	cw_ruleset_free(ok(buf));
}
END_TEST

START_TEST(hs_conditions)
{
	struct cw_ruleset *rs;
	struct cw_rule r = one_rule("rule 1 mode verify when hs 0201\n", &rs);
	ranges_equal(rs, r.hs, (const uint64_t[]){201000000, 201999999}, 1);
	ck_assert_uint_eq(r.expanded, 1);
	cw_ruleset_free(rs);
	r = one_rule("rule 1 mode verify when hs 0201..0206\n", &rs);
	ranges_equal(rs, r.hs, (const uint64_t[]){201000000, 206999999}, 1);
	cw_ruleset_free(rs);
	r = one_rule("rule 1 mode verify when hs 8471300000\n", &rs);
	ranges_equal(rs, r.hs, (const uint64_t[]){8471300000, 8471300000}, 1);
	cw_ruleset_free(rs);
	r = one_rule("rule 1 mode verify when hs 9\n", &rs);
	ranges_equal(rs, r.hs, (const uint64_t[]){9000000000, 9999999999}, 1);
	cw_ruleset_free(rs);
	/* in: sorted, overlapping and adjacent ranges merged */
	r = one_rule("rule 1 mode verify when hs in (85, 0203, 0201..0202, 8501, 0301)\n", &rs);
	ranges_equal(
	    rs, r.hs,
	    (const uint64_t[]){201000000, 203999999, 301000000, 301999999, 8500000000, 8599999999},
	    3);
	ck_assert_uint_eq(r.expanded, 3);
	cw_ruleset_free(rs);
	/* intersection: hs 52 and hs 5205..5210 keeps 5205..5210 */
	r = one_rule("rule 1 mode verify when hs 52 and hs 5205..5210\n", &rs);
	ranges_equal(rs, r.hs, (const uint64_t[]){5205000000, 5210999999}, 1);
	cw_ruleset_free(rs);
	r = one_rule("rule 1 mode verify when hs in (01, 03..05) and hs in (0150..0310, 0499)\n",
		     &rs);
	ranges_equal(
	    rs, r.hs,
	    (const uint64_t[]){150000000, 199999999, 300000000, 310999999, 499000000, 499999999},
	    3);
	cw_ruleset_free(rs);
	r = one_rule("rule 1 mode verify when hs 01 and hs 02\n", NULL);
	ck_assert(r.never);
	ck_assert_uint_eq(r.expanded, 0);
	ck_assert_uint_eq(r.hs.n, 0);

	line3_fails("rule 1 mode verify when hs 02011234567", 28, "at most 10 digits");
	line3_fails("rule 1 mode verify when hs 0206..0201", 28, "P must not be above Q");
	line3_fails("rule 1 mode verify when hs 02..0201", 32, "same number of digits");
	line3_fails("rule 1 mode verify when hs 02..", 32, "expected an HS prefix");
	line3_fails("rule 1 mode verify when hs AB", 28, "bad HS prefix 'AB'");
	line3_fails("rule 1 mode verify when hs 5.5", 28, "bad HS prefix '5.5'");
	line3_fails("rule 1 mode verify when hs in ()", 32, "empty list");
	line3_fails("rule 1 mode verify when hs in 01", 31, "expected '(' after `in`");
}
END_TEST

START_TEST(set_conditions)
{
	struct cw_ruleset *rs;
	struct cw_rule r = one_rule("rule 1 mode verify when origin in (BR, AR, BR) and country CN "
				    "and trade_mode in (9610, 110) and port 65535 and "
				    "transport in (255, 0)\n",
				    &rs);
	ck_assert_uint_eq(r.origin.n, 2);
	ck_assert_uint_eq(rs->u16[r.origin.off], CC('A', 'R'));
	ck_assert_uint_eq(rs->u16[r.origin.off + 1], CC('B', 'R'));
	ck_assert_uint_eq(r.country.n, 1);
	ck_assert_uint_eq(rs->u16[r.country.off], CC('C', 'N'));
	ck_assert_uint_eq(r.trade_mode.n, 2);
	ck_assert_uint_eq(rs->u16[r.trade_mode.off], 110);
	ck_assert_uint_eq(rs->u16[r.trade_mode.off + 1], 9610);
	ck_assert_uint_eq(r.port.n, 1);
	ck_assert_uint_eq(rs->u16[r.port.off], 65535);
	ck_assert_uint_eq(r.transport.n, 2);
	ck_assert_uint_eq(rs->u16[r.transport.off], 0);
	ck_assert_uint_eq(rs->u16[r.transport.off + 1], 255);
	ck_assert_uint_eq(r.hs.n, 0);
	ck_assert_uint_eq(r.declarant.n, 0);
	ck_assert_uint_eq(r.expanded, 2 * 1 * 2 * 1 * 2);
	ck_assert_uint_eq(rs->n_expanded, 8);
	cw_ruleset_free(rs);
	/* intersections */
	r = one_rule("rule 1 mode verify when origin in (BR, AR) and origin in (AR, CN)\n", &rs);
	ck_assert(!r.never);
	ck_assert_uint_eq(r.origin.n, 1);
	ck_assert_uint_eq(rs->u16[r.origin.off], CC('A', 'R'));
	cw_ruleset_free(rs);
	r = one_rule("rule 1 mode verify when origin BR and origin AR\n", NULL);
	ck_assert(r.never);
	r = one_rule("rule 1 mode verify when port in (1, 2) and port in (3, 4)\n", NULL);
	ck_assert(r.never);
	r = one_rule("rule 1 mode verify when transport 1 and transport in (1, 2)\n", &rs);
	ck_assert_uint_eq(r.transport.n, 1);
	cw_ruleset_free(rs);

	line3_fails("rule 1 mode verify when origin br", 32, "bad country code 'br'");
	line3_fails("rule 1 mode verify when country CHN", 33, "bad country code");
	line3_fails("rule 1 mode verify when origin in (BR, A1)", 40, "bad country code 'A1'");
	line3_fails("rule 1 mode verify when trade_mode 65536", 36, "trade_mode out of range");
	line3_fails("rule 1 mode verify when port 70000", 30, "port out of range");
	line3_fails("rule 1 mode verify when transport 256", 35, "transport out of range");
	line3_fails("rule 1 mode verify when transport -1", 35, "cannot be negative");
	line3_fails("rule 1 mode verify when origin in (BR AR)", 39, "expected ',' or ')'");
	line3_fails("rule 1 mode verify when origin in (BR,)", 39, "expected a country code");
}
END_TEST

START_TEST(enterprise_conditions)
{
	struct cw_ruleset *rs;
	struct cw_rule r = one_rule("rule 1 mode verify when declarant in (91310000MA1FL0000X, "
				    "91110000100000000A) and owner 91310000MA1FL0000X\n",
				    &rs);
	ck_assert_uint_eq(rs->n_uscc, 2); /* interned once */
	ck_assert_uint_eq(r.declarant.n, 2);
	ck_assert_uint_eq(r.owner.n, 1);
	ck_assert_mem_eq(rs->uscc[rs->u32[r.owner.off]], "91310000MA1FL0000X", 18);
	int seen = 0;
	for (uint32_t i = 0; i < 2; i++) {
		const char *u = rs->uscc[rs->u32[r.declarant.off + i]];
		seen |= !memcmp(u, "91310000MA1FL0000X", 18)   ? 1
			: !memcmp(u, "91110000100000000A", 18) ? 2
							       : 4;
	}
	ck_assert_int_eq(seen, 3);
	cw_ruleset_free(rs);
	r = one_rule("rule 1 mode verify when declarant 91310000MA1FL0000X and declarant "
		     "91110000100000000A\n",
		     NULL);
	ck_assert(r.never);
	/* classes become a mask */
	r = one_rule("rule 1 mode verify when class in (warning, unknown)\n", NULL);
	ck_assert_uint_eq(r.class_mask, 1u << CW_CLS_WARNING | 1u << CW_CLS_UNKNOWN);
	r = one_rule("rule 1 mode verify when class in (warning, unknown) and class in (good, "
		     "unknown)\n",
		     NULL);
	ck_assert_uint_eq(r.class_mask, 1u << CW_CLS_UNKNOWN);
	r = one_rule("rule 1 mode verify when class aeo and class good\n", NULL);
	ck_assert(r.never);
	r = one_rule("rule 1 mode verify when hs 01\n", NULL);
	ck_assert_uint_eq(r.class_mask, CW_CLASS_ALL);
	ck_assert_uint_eq(r.dir_mask, CW_DIR_ALL);
	ck_assert_uint_eq(r.msg_mask, CW_MSG_ALL);

	line3_fails("rule 1 mode verify when declarant 91310000MA1FL0000", 35, "bad USCC");
	line3_fails("rule 1 mode verify when owner 91310000ma1fl0000x", 31, "bad USCC");
	line3_fails("rule 1 mode verify when class vip", 31, "unknown class 'vip'");
}
END_TEST

START_TEST(flag_conditions)
{
	struct cw_rule r = one_rule("rule 1 mode verify when direction import and msg decl and doc "
				    "LICENCE and nodoc CITES and doc THIRD_PARTY_CERT\n",
				    NULL);
	ck_assert_uint_eq(r.dir_mask, CW_DIR_IMPORT);
	ck_assert_uint_eq(r.msg_mask, CW_MSG_DECL);
	ck_assert_uint_eq(r.doc_set, 1u << CWP_DOC_LICENCE | 1u << CWP_DOC_THIRD_PARTY_CERT);
	ck_assert_uint_eq(r.doc_clear, 1u << CWP_DOC_CITES);
	r = one_rule("rule 1 mode verify when direction export and msg list\n", NULL);
	ck_assert_uint_eq(r.dir_mask, CW_DIR_EXPORT);
	ck_assert_uint_eq(r.msg_mask, CW_MSG_LIST);
	r = one_rule("rule 1 mode verify when direction import and direction export\n", NULL);
	ck_assert(r.never);
	r = one_rule("rule 1 mode verify when msg decl and msg list\n", NULL);
	ck_assert(r.never);
	r = one_rule("rule 1 mode verify when doc QUARANTINE and nodoc QUARANTINE\n", NULL);
	ck_assert(r.never);
	ck_assert_uint_eq(r.class_mask | r.dir_mask | r.msg_mask, 0);

	line3_fails("rule 1 mode verify when direction transit", 35, "unknown direction");
	line3_fails("rule 1 mode verify when msg manifest", 29, "unknown message kind");
	line3_fails("rule 1 mode verify when doc VISA", 29, "unknown document 'VISA'");
	line3_fails("rule 1 mode verify when nodoc", 30, "expected a document");
}
END_TEST

START_TEST(compare_conditions)
{
	struct cw_rule r = one_rule("rule 1 mode verify when value < 8.00 and total_value >= "
				    "14339.71 and unit_value > 0.5 and quantity = 294\n",
				    NULL);
	ck_assert_uint_eq(r.value.lo, 0);
	ck_assert_uint_eq(r.value.hi, 799);
	ck_assert_uint_eq(r.total_value.lo, 1433971);
	ck_assert_uint_eq(r.total_value.hi, UINT64_MAX);
	ck_assert_uint_eq(r.unit_value.lo, 51);
	ck_assert_uint_eq(r.unit_value.hi, UINT64_MAX);
	ck_assert(r.has_unit_value);
	ck_assert_uint_eq(r.quantity.lo, 294);
	ck_assert_uint_eq(r.quantity.hi, 294);
	r = one_rule("rule 1 mode verify when value <= 5 and value > 1 and quantity >= 2\n", NULL);
	ck_assert_uint_eq(r.value.lo, 101);
	ck_assert_uint_eq(r.value.hi, 500);
	ck_assert(!r.has_unit_value);
	ck_assert_uint_eq(r.unit_value.lo, 0);
	ck_assert_uint_eq(r.unit_value.hi, UINT64_MAX);
	ck_assert_uint_eq(r.quantity.lo, 2);
	/* a unit_value condition that every value meets still excludes a weight of 0 */
	r = one_rule("rule 1 mode verify when unit_value >= 0\n", NULL);
	ck_assert(r.has_unit_value && !r.never);
	ck_assert_uint_eq(r.unit_value.lo, 0);
	ck_assert_uint_eq(r.unit_value.hi, UINT64_MAX);
	/* contradictions are legal and never match */
	const char *never[] = {
	    "value < 0",
	    "value > 184467440737095516.15",
	    "value >= 5 and value < 5",
	    "total_value = 1 and total_value = 2",
	    "quantity > 4294967295",
	    "quantity < 0",
	    "unit_value < 1 and unit_value > 1",
	};
	for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
		char buf[256];
		snprintf(buf, sizeof(buf), "rule 1 mode verify when hs 01 and %s\n", never[i]);
		r = one_rule(buf, NULL);
		ck_assert_msg(r.never, "%s", never[i]);
		ck_assert_uint_eq(r.expanded, 0);
	}
	r = one_rule("rule 1 mode verify when quantity <= 4294967295\n", NULL);
	ck_assert(!r.never);

	line3_fails("rule 1 mode verify when value < 1.234", 33, "at most 2 decimals");
	line3_fails("rule 1 mode verify when value < -1", 33, "cannot be negative");
	line3_fails("rule 1 mode verify when value < 184467440737095516.16", 33, "too large");
	line3_fails("rule 1 mode verify when value 5", 31, "expected <, <=, >, >= or =");
	line3_fails("rule 1 mode verify when value == 5", 32, "expected an amount");
	line3_fails("rule 1 mode verify when quantity > 1.5", 36, "whole number");
	line3_fails("rule 1 mode verify when quantity > 4294967296", 36, "quantity out of range");
	line3_fails("rule 1 mode verify when value <", 32, "expected an amount");
}
END_TEST

START_TEST(expansion_limit)
{
	/* 5000 disjoint hs ranges x 200 ports x 4 transports = exactly CW_MAX_EXPANDED */
	size_t cap = 1 << 20;
	char *buf = malloc(cap);
	size_t n = (size_t)snprintf(buf, cap, HDR "rule 1 mode verify when hs in (");
	for (int i = 0; i < 5000; i++)
		n += (size_t)snprintf(buf + n, cap - n, "%s%04d", i ? "," : "", 2 * i);
	n += (size_t)snprintf(buf + n, cap - n, ") and port in (");
	for (int i = 0; i < 200; i++)
		n += (size_t)snprintf(buf + n, cap - n, "%s%d", i ? "," : "", i);
	n += (size_t)snprintf(buf + n, cap - n, ") and transport in (1,2,3,4)\n");
	struct cw_ruleset *rs = ok(buf);
	ck_assert_uint_eq(rs->rules[0].hs.n, 5000);
	ck_assert_uint_eq(rs->rules[0].expanded, CW_MAX_EXPANDED);
	ck_assert_uint_eq(rs->n_expanded, CW_MAX_EXPANDED);
	cw_ruleset_free(rs);
	/* one more rule, and never rules still fit (they count 0) */
	size_t keep = n;
	n += (size_t)snprintf(buf + n, cap - n, "rule 2 mode verify when hs 01 and hs 02\n");
	rs = ok(buf);
	ck_assert_uint_eq(rs->n_expanded, CW_MAX_EXPANDED);
	cw_ruleset_free(rs);
	snprintf(buf + keep, cap - keep, "rule 3 mode verify when hs 01\n");
	fails_at(buf, 4, 1, "too many rules after `in` expansion");
	free(buf);
}
END_TEST

/* ---- layout, comments, errors ---- */

START_TEST(layout)
{
	struct cw_ruleset *rs =
	    ok("\xEF\xBB\xBF# a rule set\n"
	       "version 5   # the version\r\n"
	       "salt " SALT "\r\n"
	       "\n"
	       "   # an indented comment line\n"
	       "rule 1 priority 2 mode verify reason \"a # is text\" # a comment\n"
	       "# a comment between a statement and its continuation\n"
	       "\n"
	       "    when origin in (BR,\n"
	       "\t\tAR)\n"
	       "    and hs 0201..0206   # end\n"
	       "profile\t02\tmode\tsample\n");
	ck_assert_uint_eq(rs->version, 5);
	ck_assert_uint_eq(rs->n_rules, 1);
	ck_assert_uint_eq(rs->rules[0].origin.n, 2);
	ck_assert_uint_eq(rs->rules[0].hs.n, 1);
	ck_assert_str_eq(rs->strings + rs->rules[0].reason, "a # is text");
	ck_assert_uint_eq(rs->n_profiles, 1);
	ck_assert_uint_eq(rs->profiles[0].line, 12);
	cw_ruleset_free(rs);
	/* a BOM at the very start is not a column */
	fails_at("\xEF\xBB\xBFversion 0\nsalt " SALT "\n", 1, 9, "version out of range");
	/* a continuation line with nothing before it */
	fails_at("  version 1\nsalt " SALT "\n", 1, 3, "no statement comes before it");
	/* statements cannot share a line */
	line3_fails("profile 01 profile 02", 12, "unknown option 'profile'");
	/* stray characters */
	line3_fails("rule 1 mode verify when hs 01 & hs 02", 31, "unexpected character '&'");
	line3_fails("rule 1 mode verify when hs 01 and hs 02!", 40, "unexpected character '!'");
	line3_fails("rule 1 mode verify when origin 中国", 32, "unexpected character U+4E2D");
	line3_fails("rule 1 mode verify when hs 01 and hs .5", 38, "unexpected character '.'");
	line3_fails("(rule 1 mode verify when hs 01)", 1, "expected a statement");
	const char nul[] = HDR "rule 1 mode verify when hs 01\0\n";
	errs = (struct cw_parse_errors){ev, 0, 64, 0};
	ck_assert_ptr_null(cw_ruleset_parse(nul, sizeof(nul) - 1, &errs));
	ck_assert_uint_eq(ev[0].line, 3);
	ck_assert_uint_eq(ev[0].column, 30);
	ck_assert_ptr_nonnull(strstr(ev[0].msg, "control character 0x00"));
}
END_TEST

START_TEST(columns_count_characters)
{
	/* the reason holds 3 characters in 9 bytes: the column counts characters */
	line3_fails("rule 1 mode verify reason \"口蹄疫\" when origin br", 45, "bad country code");
	/* a tab is one column */
	line3_fails("rule\t1 mode verify when origin br", 32, "bad country code");
	/* errors after the end of a continued statement point at its last token */
	fails_at(HDR "rule 1 priority 2\n    mode verify  # no conditions\n", 4, 16,
		 "missing `when`");
}
END_TEST

START_TEST(parentheses)
{
	line3_fails("rule 1 mode verify when origin in (BR, AR", 35, "'(' is never closed");
	line3_fails("rule 1 mode verify when origin in (BR, AR and hs 01", 43,
		    "expected ',' or ')'");
	line3_fails("rule 1 mode verify when hs 01)", 30, "unbalanced parentheses");
	line3_fails("rule 1 mode verify when (hs 01)", 25, "expected a condition");
	fails_at(HDR "rule 1 mode verify when origin in (BR,\n    AR\n", 3, 35, "never closed");
}
END_TEST

START_TEST(several_errors)
{
	const char *text = "version 0\n"
			   "salt xyz\n"
			   "profile 1234567890123\n"
			   "rule 1 mode verify when origin in (br, CN, 1A)\n"
			   "   and hs 99..1\n"
			   "rule 2 mode verify when hs 01\n"
			   "bogus statement\n"
			   "limit single 1.234\n";
	struct cw_ruleset *rs = parse(text);
	ck_assert_ptr_null(rs);
	ck_assert_uint_eq(errs.total, 8);
	const uint32_t want[][2] = {{1, 9},  {2, 6},  {3, 9}, {4, 36},
				    {4, 44}, {5, 15}, {7, 1}, {8, 14}};
	for (int i = 0; i < 8; i++) {
		ck_assert_uint_eq(ev[i].line, want[i][0]);
		ck_assert_uint_eq(ev[i].column, want[i][1]);
	}
	/* errors beyond the caller's capacity are counted, not kept */
	struct cw_parse_error small[2];
	errs = (struct cw_parse_errors){small, 0, 2, 0};
	ck_assert_ptr_null(cw_ruleset_parse(text, strlen(text), &errs));
	ck_assert_uint_eq(errs.n, 2);
	ck_assert_uint_eq(errs.total, 8);
	/* no error list at all */
	ck_assert_ptr_null(cw_ruleset_parse(text, strlen(text), NULL));
	/* the text is only read up to len */
	ck_assert_ptr_null(cw_ruleset_parse(HDR, 10, NULL));
	ck_assert_ptr_null(cw_ruleset_parse(NULL, 0, NULL));
}
END_TEST

START_TEST(names_and_format)
{
	for (int c = 0; c < CW_NUM_CLASSES; c++) {
		const char *n = cw_class_name((enum cw_class)c);
		ck_assert_int_eq(cw_class_parse(n, strlen(n)), c);
	}
	ck_assert_str_eq(cw_class_name(CW_CLS_DISHONEST), "dishonest");
	ck_assert_int_eq(cw_class_parse("Good", 4), -1);
	ck_assert_int_eq(cw_class_parse("goods", 5), -1);
	ck_assert_int_eq(cw_class_parse("good", 3), -1);
	ck_assert_int_eq(cw_class_parse("goodx", 4), CW_CLS_GOOD);
	struct cw_parse_error e = {12, 7, "unknown keyword 'x'"};
	char buf[64];
	cw_parse_error_format(&e, buf, sizeof(buf));
	ck_assert_str_eq(buf, "12:7: unknown keyword 'x'");
}
END_TEST

/* A temporary file (path: a mkstemp template, filled in) holding the minimal rule text. */
static void write_temp_rules(char *path)
{
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, HDR, strlen(HDR)), (int)strlen(HDR));
	close(fd);
}

START_TEST(read_file)
{
	char path[] = "/tmp/cw_test_parse_XXXXXX";
	write_temp_rules(path);
	size_t len = 0;
	char *t = cw_read_file(path, &len);
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(len, strlen(HDR));
	ck_assert_str_eq(t, HDR);
	free(t);
	unlink(path);
	errno = 0;
	ck_assert_ptr_null(cw_read_file(path, &len));
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_ptr_null(cw_read_file("/tmp", &len));
	ck_assert_int_eq(errno, EISDIR);
}
END_TEST

/* Into a spare buffer when the file fits (the same memory comes back), into fresh memory when
 * it does not; the spare is taken either way, also when the read fails (ASan: nothing leaks). */
START_TEST(read_file_into_a_spare)
{
	char path[] = "/tmp/cw_test_parse_XXXXXX";
	write_temp_rules(path);
	size_t len = 0, cap = strlen(HDR) + 2;
	char *spare = malloc(cap), *given = spare;
	char *t = cw_read_file_spare(path, &len, &spare, cap);
	ck_assert_ptr_null(spare);
	ck_assert_ptr_eq(t, given);
	ck_assert_uint_eq(len, strlen(HDR));
	ck_assert_str_eq(t, HDR);
	free(t);
	spare = malloc(cap - 1); /* one byte short of the file, its NUL and the end-of-file read */
	t = cw_read_file_spare(path, &len, &spare, cap - 1);
	ck_assert_ptr_null(spare);
	ck_assert_ptr_nonnull(t);
	ck_assert_str_eq(t, HDR);
	free(t);
	unlink(path);
	spare = malloc(cap);
	ck_assert_ptr_null(cw_read_file_spare(path, &len, &spare, cap));
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_ptr_null(spare);
}
END_TEST

/* ---- whole rule sets ---- */

START_TEST(vectors_rule_set)
{
	const char *dir = tu_vectors_dir();
	if (!dir) {
		printf("vectors_rule_set: skipped, no shared vectors\n");
		return;
	}
	char path[512];
	snprintf(path, sizeof(path), "%s/rules.cw", dir);
	size_t len;
	char *text = cw_read_file(path, &len);
	ck_assert_ptr_nonnull(text);
	struct cw_ruleset *rs = ok(text);
	ck_assert_uint_eq(rs->version, 884778);
	ck_assert_uint_eq(rs->salt[0], 0x01);
	ck_assert_uint_eq(rs->salt[15], 0x94);
	ck_assert_uint_eq(rs->limit_single, 80000);
	ck_assert_uint_eq(rs->limit_annual, 900000);
	ck_assert_uint_eq(rs->tolerance_bp, 125);
	ck_assert_uint_eq(rs->class_set, CW_CLASS_ALL & ~(1u << CW_CLS_GOOD));
	ck_assert_uint_eq(rs->cls[CW_CLS_DISHONEST].mode, CWP_MODE_DECLARE);
	ck_assert_uint_eq(rs->cls[CW_CLS_SERIOUS].sample_bp, 3000);
	ck_assert_uint_eq(rs->cls[CW_CLS_GOOD].mode, CWP_MODE_DECLARE);
	ck_assert_uint_eq(rs->n_profiles, 62);
	ck_assert_uint_eq(rs->n_rules, 70);
	uint32_t never = 0;
	for (uint32_t i = 0; i < rs->n_rules; i++)
		never += rs->rules[i].never;
	ck_assert_uint_eq(never, 11);
	ck_assert_uint_eq(rs->n_expanded, 75);
	ck_assert_uint_eq(rs->n_uscc, 6);
	/* profile 5516 mode supervise sample 50% docs INSPECTION_CERT,LICENCE */
	const struct cw_profile *p = NULL;
	for (uint32_t i = 0; i < rs->n_profiles; i++)
		if (rs->profiles[i].len == 4 && !memcmp(rs->profiles[i].prefix, "5516", 4))
			p = &rs->profiles[i];
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(p->mode, CWP_MODE_SUPERVISE);
	ck_assert_uint_eq(p->sample_bp, 5000);
	ck_assert_uint_eq(p->docs_mask, 1u << CWP_DOC_INSPECTION_CERT | 1u << CWP_DOC_LICENCE);
	/* rule 92001: hs 701590, unit_value > 12516.84, trade_mode in (9610, 110); priority */
	const struct cw_rule *r = NULL;
	for (uint32_t i = 0; i < rs->n_rules; i++)
		if (rs->rules[i].id == 92001)
			r = &rs->rules[i];
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->priority, 59537);
	ck_assert_uint_eq(r->line, 81);
	ck_assert_uint_eq(r->unit_value.lo, 1251685);
	ck_assert(r->has_unit_value);
	ck_assert_uint_eq(r->expanded, 2);
	ranges_equal(rs, r->hs, (const uint64_t[]){7015900000, 7015909999}, 1);
	cw_ruleset_free(rs);
	free(text);
}
END_TEST

START_TEST(big_rule_set)
{
	/* 100 000 profiles and 100 000 rules expanding to 150 000, the §5 scale */
	size_t cap = 16u << 20, n = 0;
	char *buf = malloc(cap);
	n += (size_t)snprintf(buf + n, cap - n, HDR);
	for (uint32_t i = 0; i < 100000; i++)
		n += (size_t)snprintf(buf + n, cap - n, "profile %06u mode %s sample %u.%02u%%%s\n",
				      i, i % 3 ? "verify" : "sample", i % 100, i % 97,
				      i % 5 ? "" : " docs LICENCE,QUARANTINE strict");
	for (uint32_t i = 0; i < 100000; i++) {
		char uscc[19];
		snprintf(uscc, sizeof(uscc), "91%06uMA1FL%05u", i % 1000000, i % 50000);
		if (i % 2)
			n += (size_t)snprintf(buf + n, cap - n,
					      "rule %u priority %u mode %s reason \"r%u\" when hs "
					      "%04u..%04u and origin in (BR, AR)\n    and value "
					      ">= %u.50\n",
					      i + 1, i % 65536, i % 4 ? "verify" : "supervise", i,
					      i % 9000, i % 9000 + 5, i);
		else
			n += (size_t)snprintf(buf + n, cap - n,
					      "rule %u mode sample when declarant %s and hs %06u "
					      "and nodoc CITES\n",
					      i + 1, uscc, i);
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct cw_ruleset *rs = parse(buf);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (!rs)
		dump_errors("(generated)");
	ck_assert_ptr_nonnull(rs);
	ck_assert_uint_eq(rs->n_profiles, 100000);
	ck_assert_uint_eq(rs->n_rules, 100000);
	ck_assert_uint_eq(rs->n_expanded, 150000);
	ck_assert_uint_eq(rs->n_uscc, 50000);
	printf("big_rule_set: %.1f MB, 100000 profiles + 100000 rules (150000 expanded) parsed "
	       "in %.1f ms\n",
	       n / 1e6, (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
	cw_ruleset_free(rs);
	/* a duplicate at the very end is still found */
	n += (size_t)snprintf(buf + n, cap - n, "profile 000017\nrule 77 mode verify when hs 01\n");
	rs = parse(buf);
	ck_assert_ptr_null(rs);
	ck_assert_uint_eq(errs.total, 2);
	ck_assert_ptr_nonnull(strstr(ev[0].msg, "duplicate profile 000017 (first at line 20)"));
	ck_assert_ptr_nonnull(strstr(ev[1].msg, "duplicate rule id 77"));
	free(buf);
}
END_TEST

/* Every ```cw block of docs/rules.md is a complete rule set that must compile. */
START_TEST(docs_examples)
{
	static const char *const candidates[] = {"docs/rules.md", "../docs/rules.md",
						 "../../docs/rules.md", NULL};
	char *text = NULL;
	size_t len = 0;
	const char *env = getenv("CW_DOCS_RULES");
	if (env)
		text = cw_read_file(env, &len);
	for (int i = 0; !text && candidates[i]; i++)
		text = cw_read_file(candidates[i], &len);
	ck_assert_msg(text != NULL, "docs/rules.md not found (run from the repository root)");
	int blocks = 0;
	const char *p = text;
	while ((p = strstr(p, "\n```cw\n"))) {
		const char *start = p + 7;
		const char *end = strstr(start, "\n```");
		ck_assert_msg(end != NULL, "unterminated ```cw block");
		size_t n = (size_t)(end - start) + 1;
		errs = (struct cw_parse_errors){ev, 0, 64, 0};
		struct cw_ruleset *rs = cw_ruleset_parse(start, n, &errs);
		blocks++;
		if (!rs) {
			fprintf(stderr, "docs/rules.md block %d:\n%.*s\n", blocks, (int)n, start);
			dump_errors("(block above)");
		}
		ck_assert_msg(rs != NULL, "docs/rules.md: cw block %d does not compile", blocks);
		cw_ruleset_free(rs);
		p = end + 4;
	}
	ck_assert_int_ge(blocks, 5);
	printf("docs_examples: %d cw blocks of docs/rules.md compile\n", blocks);
	free(text);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("parse");
	TCase *tc = tcase_create("parse");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, minimal_and_defaults);
	tcase_add_test(tc, version_bounds);
	tcase_add_test(tc, required_and_repeated);
	tcase_add_test(tc, salt_forms);
	tcase_add_test(tc, limits);
	tcase_add_test(tc, class_statement);
	tcase_add_test(tc, profile_statement);
	tcase_add_test(tc, rule_header);
	tcase_add_test(tc, hs_conditions);
	tcase_add_test(tc, set_conditions);
	tcase_add_test(tc, enterprise_conditions);
	tcase_add_test(tc, flag_conditions);
	tcase_add_test(tc, compare_conditions);
	tcase_add_test(tc, expansion_limit);
	tcase_add_test(tc, layout);
	tcase_add_test(tc, columns_count_characters);
	tcase_add_test(tc, parentheses);
	tcase_add_test(tc, several_errors);
	tcase_add_test(tc, names_and_format);
	tcase_add_test(tc, read_file);
	tcase_add_test(tc, read_file_into_a_spare);
	tcase_add_test(tc, vectors_rule_set);
	tcase_add_test(tc, big_rule_set);
	tcase_add_test(tc, docs_examples);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
