/*
 * test_parse_delta.c - the incremental parse (cw_ruleset_parse_delta) against the full one.
 *
 * Why this file exists: the gateway takes a changed rule set through cw_ruleset_parse_delta,
 * which reuses the statements of the active text instead of reading them again. It must give
 * exactly what cw_ruleset_parse gives - the same rule set to the byte of its pools, or NULL with
 * the same errors at the same line:column - whatever the edit. Here a random rule set (profiles,
 * rules with every kind of condition, comments, continuation lines, shared USCCs) is edited at
 * random thousands of times (rules and profiles added, removed, changed, moved, duplicated;
 * class, salt and version changes; syntax errors) and both parses are compared every time,
 * chaining incremental results as the next base the way the control plane does. Pure C: no EAL.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/ruleset.h"
#include "tests/unit/testutil.h"

/* ---------------------------------------------------------------- random text */

static uint64_t rng = 88172645463325252ULL;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return n ? (uint32_t)(rng % n) : 0;
}

struct doc {
	char **v; /* statements, each with its line ends (and comments, blank lines) */
	uint32_t n, cap;
};

static void doc_insert(struct doc *d, uint32_t at, char *s)
{
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 64;
		d->v = realloc(d->v, d->cap * sizeof(*d->v));
	}
	memmove(d->v + at + 1, d->v + at, (d->n - at) * sizeof(*d->v));
	d->v[at] = s;
	d->n++;
}

static void doc_remove(struct doc *d, uint32_t at)
{
	free(d->v[at]);
	memmove(d->v + at, d->v + at + 1, (d->n - at - 1) * sizeof(*d->v));
	d->n--;
}

static void doc_free(struct doc *d)
{
	for (uint32_t i = 0; i < d->n; i++)
		free(d->v[i]);
	free(d->v);
	memset(d, 0, sizeof(*d));
}

static char *doc_text(const struct doc *d, size_t *len)
{
	size_t n = 0;
	for (uint32_t i = 0; i < d->n; i++)
		n += strlen(d->v[i]);
	char *t = malloc(n + 1), *o = t;
	for (uint32_t i = 0; i < d->n; i++) {
		size_t k = strlen(d->v[i]);
		memcpy(o, d->v[i], k);
		o += k;
	}
	*o = 0;
	*len = n;
	return t;
}

struct buf {
	char s[1024];
	size_t n;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(b->s + b->n, sizeof(b->s) - b->n, fmt, ap);
	va_end(ap);
	if (k > 0)
		b->n += (size_t)k < sizeof(b->s) - b->n ? (size_t)k : sizeof(b->s) - b->n - 1;
}

static const char *const MODES[] = {"declare", "verify", "sample", "supervise"};
static const char *const CLASSES[] = {"aeo", "good", "warning", "dishonest", "serious", "unknown"};
static const char *const DOCS[] = {"LICENCE",	       "QUARANTINE",	  "ORIGIN_CERT",
				   "THIRD_PARTY_CERT", "INSPECTION_CERT", "CITES"};
static const char *const CCS[] = {"CN", "DE", "US", "BR", "JP", "VN", "FR"};
static const char *const FIELDS_NUM[] = {"trade_mode", "port", "transport"};

/* A small pool, so that rules share USCCs and interning order matters. */
static void uscc(char out[19], uint32_t k)
{
	snprintf(out, 19, "91%06uMA1FL%04uX", k * 7919 % 1000000, k);
}

static void trailer(struct buf *b)
{
	if (!rnd(6))
		put(b, "   # note %u", rnd(100));
	put(b, "\n");
	if (!rnd(10))
		put(b, rnd(2) ? "\n" : "# a comment line\n");
}

static void condition(struct buf *b)
{
	char u1[19], u2[19];
	switch (rnd(12)) {
	case 0:
		put(b, "hs %0*u", (int)(2 + rnd(3)), rnd(90));
		break;
	case 1: {
		uint32_t lo = rnd(80);
		put(b, "hs %04u..%04u", lo, lo + rnd(20));
		break;
	}
	case 2:
		put(b, "hs in (%02u, %04u..%04u, %06u)", rnd(99), 100 + rnd(50), 200 + rnd(50),
		    rnd(999999));
		break;
	case 3:
		if (rnd(2))
			put(b, "origin %s", CCS[rnd(7)]);
		else
			put(b, "origin in (%s, %s)", CCS[rnd(7)], CCS[rnd(7)]);
		break;
	case 4:
		put(b, "country %s", CCS[rnd(7)]);
		break;
	case 5:
		if (rnd(2))
			put(b, "class %s", CLASSES[rnd(6)]);
		else
			put(b, "class in (%s, %s)", CLASSES[rnd(6)], CLASSES[rnd(6)]);
		break;
	case 6:
	case 7:
		uscc(u1, rnd(12));
		uscc(u2, rnd(12));
		if (rnd(2))
			put(b, "%s %s", rnd(2) ? "declarant" : "owner", u1);
		else
			put(b, "%s in (%s, %s)", rnd(2) ? "declarant" : "owner", u1, u2);
		break;
	case 8:
		put(b, "%s in (%u, %u)", FIELDS_NUM[rnd(3)], rnd(256), rnd(256));
		break;
	case 9:
		if (rnd(2))
			put(b, "direction %s", rnd(2) ? "import" : "export");
		else
			put(b, "msg %s", rnd(2) ? "decl" : "list");
		break;
	case 10:
		put(b, "%s %s", rnd(2) ? "doc" : "nodoc", DOCS[rnd(6)]);
		break;
	default: {
		static const char *const f[] = {"value", "total_value", "unit_value", "quantity"};
		static const char *const op[] = {"<", "<=", ">", ">=", "="};
		uint32_t k = rnd(4);
		if (k == 3)
			put(b, "quantity %s %u", op[rnd(5)], rnd(1000));
		else
			put(b, "%s %s %u.%02u", f[k], op[rnd(5)], rnd(100000), rnd(100));
		break;
	}
	}
}

static char *make_rule(uint32_t id)
{
	struct buf b = {.n = 0};
	put(&b, "rule %u", id);
	bool prio = rnd(2), reason = rnd(2);
	int order = (int)rnd(3);
	for (int k = 0; k < 3; k++) {
		int which = (k + order) % 3;
		if (which == 0 && prio)
			put(&b, " priority %u", rnd(70000) % 65536);
		else if (which == 1)
			put(&b, " mode %s", MODES[rnd(4)]);
		else if (which == 2 && reason)
			put(&b, " reason \"why %u # not a comment\"", rnd(50));
	}
	put(&b, " when ");
	uint32_t n = 1 + rnd(4);
	for (uint32_t i = 0; i < n; i++) {
		if (i)
			put(&b, rnd(4) ? " and " : "\n    and ");
		condition(&b);
	}
	trailer(&b);
	return strdup(b.s);
}

static char *make_profile(const char *prefix)
{
	struct buf b = {.n = 0};
	put(&b, "profile %s", prefix);
	if (rnd(2))
		put(&b, " mode %s", MODES[rnd(4)]);
	if (rnd(2))
		put(&b, " sample %u.%u%%", rnd(100), rnd(10));
	if (rnd(3) == 0)
		put(&b, " docs %s,%s", DOCS[rnd(6)], DOCS[rnd(6)]);
	if (rnd(4) == 0)
		put(&b, " strict");
	trailer(&b);
	return strdup(b.s);
}

static uint32_t next_id = 1, next_prefix = 1;

static char *new_profile(void)
{
	char p[16];
	uint32_t k = next_prefix++;
	snprintf(p, sizeof(p), "%0*u", (int)(4 + rnd(7)), k * 13 % 10000 * 10 + k % 10);
	return make_profile(p);
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
	struct buf b = {.n = 0};
	va_list ap;
	va_start(ap, f);
	vsnprintf(b.s, sizeof(b.s), f, ap);
	va_end(ap);
	return strdup(b.s);
}

static void base_doc(struct doc *d, uint32_t n_profiles, uint32_t n_rules)
{
	doc_insert(d, d->n, strdup("# generated for test_parse_delta\n\n"));
	doc_insert(d, d->n, fmt("version %u\n", 1 + rnd(9)));
	doc_insert(d, d->n, strdup("salt 00112233445566778899aabbccddeeff   # key\n"));
	doc_insert(d, d->n, strdup("limit single 5000.00\nlimit tolerance 0.5%\n"));
	doc_insert(d, d->n, strdup("class good mode declare sample 3%\n"));
	doc_insert(d, d->n, strdup("class serious mode supervise\n\n"));
	for (uint32_t i = 0; i < n_profiles; i++)
		doc_insert(d, d->n, new_profile());
	for (uint32_t i = 0; i < n_rules; i++)
		doc_insert(d, d->n, make_rule(next_id++));
}

static bool starts(const char *s, const char *w)
{
	return !strncmp(s, w, strlen(w));
}

/* A random statement of a kind ("rule", "profile", NULL any); UINT32_MAX if none. */
static uint32_t pick(const struct doc *d, const char *kind)
{
	for (int tries = 0; tries < 64 && d->n; tries++) {
		uint32_t i = rnd(d->n);
		if (!kind || starts(d->v[i], kind))
			return i;
	}
	return UINT32_MAX;
}

static uint32_t id_of(const char *rule)
{
	return (uint32_t)strtoul(rule + 5, NULL, 10);
}

/* One random edit; returns what it did (for failure messages). */
static const char *edit(struct doc *d)
{
	uint32_t i, j;
	char *s;
	switch (rnd(17)) {
	case 0: /* change a rule, same id */
		if ((i = pick(d, "rule ")) == UINT32_MAX)
			return "none";
		s = make_rule(id_of(d->v[i]));
		free(d->v[i]);
		d->v[i] = s;
		return "change rule";
	case 1:
	case 2: /* a new rule */
		doc_insert(d, rnd(d->n + 1), make_rule(next_id++));
		return "add rule";
	case 3: /* remove a rule or a profile */
		if ((i = pick(d, rnd(2) ? "rule " : "profile ")) == UINT32_MAX)
			return "none";
		doc_remove(d, i);
		return "remove statement";
	case 4: /* a new profile, or a changed one */
		if (rnd(2) || (i = pick(d, "profile ")) == UINT32_MAX) {
			doc_insert(d, rnd(d->n + 1), new_profile());
			return "add profile";
		}
		s = d->v[i] + 8;
		{
			char p[16];
			size_t k = strspn(s, "0123456789");
			snprintf(p, sizeof(p), "%.*s", (int)k, s);
			free(d->v[i]);
			d->v[i] = make_profile(p);
		}
		return "change profile";
	case 5: /* another salt */
		for (i = 0; i < d->n; i++)
			if (starts(d->v[i], "salt ")) {
				free(d->v[i]);
				d->v[i] = fmt("salt %08x%08x%08x%08x\n", rnd(UINT32_MAX),
					      rnd(UINT32_MAX), rnd(UINT32_MAX), rnd(UINT32_MAX));
			}
		return "salt";
	case 6: /* another version (sometimes a bad one) */
		for (i = 0; i < d->n; i++)
			if (starts(d->v[i], "version ")) {
				free(d->v[i]);
				d->v[i] = rnd(8) ? fmt("version %u\n", 1 + rnd(1000))
						 : strdup("version 0\n");
			}
		return "version";
	case 7: /* a syntax or value error in an edited rule */
		if ((i = pick(d, "rule ")) == UINT32_MAX)
			return "none";
		{
			static const char *const bad[] = {" and", " and hs 0x1", " or origin CN",
							  " and value < 1.234", " and @"};
			size_t k = strlen(d->v[i]);
			char *nl = strchr(d->v[i], '\n');
			size_t at = nl ? (size_t)(nl - d->v[i]) : k;
			const char *b = bad[rnd(5)];
			s = malloc(k + strlen(b) + 1);
			memcpy(s, d->v[i], at);
			strcpy(s + at, b);
			strcat(s, d->v[i] + at);
			free(d->v[i]);
			d->v[i] = s;
		}
		return "syntax error";
	case 8: /* the same statement twice: a duplicate id or prefix */
		if ((i = pick(d, rnd(2) ? "rule " : "profile ")) == UINT32_MAX)
			return "none";
		doc_insert(d, rnd(d->n + 1), strdup(d->v[i]));
		return "copy statement";
	case 9: /* a new rule that takes an existing id */
		if ((i = pick(d, "rule ")) == UINT32_MAX)
			return "none";
		doc_insert(d, rnd(d->n + 1), make_rule(id_of(d->v[i])));
		return "duplicate id";
	case 10: /* move a block */
		if (d->n < 4)
			return "none";
		{
			uint32_t n = 1 + rnd(d->n / 3), from = rnd(d->n - n + 1);
			char **blk = malloc(n * sizeof(*blk));
			memcpy(blk, d->v + from, n * sizeof(*blk));
			memmove(d->v + from, d->v + from + n, (d->n - from - n) * sizeof(*d->v));
			d->n -= n;
			j = rnd(d->n + 1);
			for (uint32_t k = 0; k < n; k++)
				doc_insert(d, j + k, blk[k]);
			free(blk);
		}
		return "move block";
	case 11: /* class policy changes, sometimes twice the same class */
		doc_insert(d, rnd(d->n + 1),
			   fmt("class %s mode %s\n", CLASSES[rnd(6)], MODES[rnd(4)]));
		return "class";
	case 12: /* comments and blank lines between statements, or a changed comment */
		if ((i = pick(d, NULL)) == UINT32_MAX)
			return "none";
		s = fmt("%s%s", d->v[i], rnd(2) ? "\n" : "   # an analyst's note\n");
		free(d->v[i]);
		d->v[i] = s;
		return "comment";
	case 13: /* a removed version or salt */
		if (rnd(4))
			return "none";
		for (i = 0; i < d->n; i++)
			if (starts(d->v[i], rnd(2) ? "version " : "salt ")) {
				doc_remove(d, i);
				break;
			}
		return "remove header";
	case 14: /* a line that starts with white space before the first statement */
		if (rnd(8))
			return "none";
		doc_insert(d, 0, strdup("   continued\n"));
		return "leading continuation";
	case 15: /* a removed block */
		if (d->n < 4)
			return "none";
		for (uint32_t n = 1 + rnd(30), from = rnd(d->n); n && from < d->n; n--)
			doc_remove(d, from);
		return "remove block";
	default: /* a limit */
		doc_insert(d, rnd(d->n + 1), fmt("limit annual %u.%02u\n", rnd(99999), rnd(100)));
		return "limit";
	}
}

/* ---------------------------------------------------------------- comparison */

static void same_rule(const struct cw_rule *a, const struct cw_rule *b, uint32_t i)
{
	const struct cw_list *la[] = {&a->hs,	 &a->origin,	 &a->country, &a->declarant,
				      &a->owner, &a->trade_mode, &a->port,    &a->transport};
	const struct cw_list *lb[] = {&b->hs,	 &b->origin,	 &b->country, &b->declarant,
				      &b->owner, &b->trade_mode, &b->port,    &b->transport};
	ck_assert_msg(a->id == b->id && a->priority == b->priority && a->mode == b->mode &&
			  a->reason == b->reason && a->line == b->line && a->never == b->never,
		      "rule %u (id %u line %u / id %u line %u) differs", i, a->id, a->line, b->id,
		      b->line);
	ck_assert(a->class_mask == b->class_mask && a->dir_mask == b->dir_mask &&
		  a->msg_mask == b->msg_mask && a->doc_set == b->doc_set &&
		  a->doc_clear == b->doc_clear && a->has_unit_value == b->has_unit_value);
	for (int k = 0; k < 8; k++)
		ck_assert_msg(la[k]->off == lb[k]->off && la[k]->n == lb[k]->n,
			      "rule %u list %d differs", i, k);
	ck_assert(!memcmp(&a->value, &b->value, sizeof(a->value)) &&
		  !memcmp(&a->total_value, &b->total_value, sizeof(a->value)) &&
		  !memcmp(&a->unit_value, &b->unit_value, sizeof(a->value)) &&
		  !memcmp(&a->quantity, &b->quantity, sizeof(a->value)));
	ck_assert_uint_eq(a->expanded, b->expanded);
}

/* Equal in every field and in every pool byte (the memo aside). */
static void same_ruleset(const struct cw_ruleset *a, const struct cw_ruleset *b)
{
	ck_assert_uint_eq(a->version, b->version);
	ck_assert(!memcmp(a->salt, b->salt, 16));
	ck_assert(a->limit_single == b->limit_single && a->limit_annual == b->limit_annual &&
		  a->tolerance_bp == b->tolerance_bp && a->class_set == b->class_set);
	for (int c = 0; c < CW_NUM_CLASSES; c++)
		ck_assert(a->cls[c].mode == b->cls[c].mode &&
			  a->cls[c].sample_bp == b->cls[c].sample_bp);
	ck_assert_uint_eq(a->n_profiles, b->n_profiles);
	for (uint32_t i = 0; i < a->n_profiles; i++) {
		const struct cw_profile *x = &a->profiles[i], *y = &b->profiles[i];
		ck_assert_msg(x->len == y->len && !memcmp(x->prefix, y->prefix, x->len) &&
				  x->mode == y->mode && x->sample_bp == y->sample_bp &&
				  x->docs_mask == y->docs_mask && x->strict == y->strict &&
				  x->line == y->line,
			      "profile %u differs", i);
	}
	ck_assert_uint_eq(a->n_rules, b->n_rules);
	for (uint32_t i = 0; i < a->n_rules; i++)
		same_rule(&a->rules[i], &b->rules[i], i);
	ck_assert_uint_eq(a->n_expanded, b->n_expanded);
	ck_assert_uint_eq(a->n_hs_ranges, b->n_hs_ranges);
	ck_assert(!a->n_hs_ranges ||
		  !memcmp(a->hs_ranges, b->hs_ranges, a->n_hs_ranges * sizeof(*a->hs_ranges)));
	ck_assert_uint_eq(a->n_u16, b->n_u16);
	ck_assert(!a->n_u16 || !memcmp(a->u16, b->u16, a->n_u16 * sizeof(*a->u16)));
	ck_assert_uint_eq(a->n_u32, b->n_u32);
	ck_assert(!a->n_u32 || !memcmp(a->u32, b->u32, a->n_u32 * sizeof(*a->u32)));
	ck_assert_uint_eq(a->n_uscc, b->n_uscc);
	ck_assert(!a->n_uscc || !memcmp(a->uscc, b->uscc, a->n_uscc * sizeof(*a->uscc)));
	ck_assert_uint_eq(a->strings_len, b->strings_len);
	ck_assert(!a->strings_len || !memcmp(a->strings, b->strings, a->strings_len));
}

static struct cw_parse_error ev_full[64], ev_inc[64];

static void same_errors(const struct cw_parse_errors *a, const struct cw_parse_errors *b,
			const char *text)
{
	bool same = a->n == b->n && a->total == b->total;
	for (uint32_t i = 0; same && i < a->n; i++)
		same = a->v[i].line == b->v[i].line && a->v[i].column == b->v[i].column &&
		       !strcmp(a->v[i].msg, b->v[i].msg);
	if (!same) {
		fprintf(stderr, "--- text:\n%s\n--- full (%u):\n", text, a->total);
		for (uint32_t i = 0; i < a->n; i++)
			fprintf(stderr, "%u:%u: %s\n", a->v[i].line, a->v[i].column, a->v[i].msg);
		fprintf(stderr, "--- incremental (%u):\n", b->total);
		for (uint32_t i = 0; i < b->n; i++)
			fprintf(stderr, "%u:%u: %s\n", b->v[i].line, b->v[i].column, b->v[i].msg);
	}
	ck_assert_msg(same, "errors differ");
}

/* ---------------------------------------------------------------- tests */

struct stats {
	unsigned accepted, refused;
};

/* A rule set of two rules (a spare sized like it is too small for most texts). */
static const struct cw_ruleset *small_set(void)
{
	static struct cw_ruleset *rs;
	if (!rs) {
		static const char t[] =
		    "version 1\nsalt 00112233445566778899aabbccddeeff\n"
		    "rule 1 mode verify when hs 01\nrule 2 mode verify when hs 02\n";
		rs = cw_ruleset_parse_delta(t, sizeof(t) - 1, NULL, NULL, 0, NULL);
		ck_assert_ptr_nonnull(rs);
	}
	return rs;
}

/* Parses text both ways; returns the incremental result (NULL when refused). */
static struct cw_ruleset *both_ways(const char *text, size_t len, const struct cw_ruleset *base,
				    const char *base_text, size_t base_len, const char *what,
				    struct stats *st)
{
	struct cw_parse_errors ef = {ev_full, 0, 64, 0}, ei = {ev_inc, 0, 64, 0};
	struct cw_ruleset *full = cw_ruleset_parse(text, len, &ef);
	/* half the time through the gateway's path: arrays from a spare, sized like the base or
	 * like a small set, faulted in wholly, partly or not at all */
	struct cw_parse_spare *sp = NULL;
	if (base && rnd(2)) {
		sp = cw_parse_spare_new(rnd(4) ? base : small_set());
		ck_assert_ptr_nonnull(sp);
		cw_parse_spare_touch(sp, rnd(3) ? SIZE_MAX : (size_t)rnd(100000));
	}
	struct cw_ruleset *inc =
	    sp ? cw_ruleset_parse_delta_spare(text, len, base, base_text, base_len, &sp, &ei)
	       : cw_ruleset_parse_delta(text, len, base, base_text, base_len, &ei);
	ck_assert_ptr_null(sp);
	ck_assert_msg((full == NULL) == (inc == NULL), "after '%s': full %s, incremental %s", what,
		      full ? "accepts" : "refuses", inc ? "accepts" : "refuses");
	if (full) {
		same_ruleset(full, inc);
		ck_assert_ptr_nonnull(inc->memo);
		st->accepted++;
	} else {
		same_errors(&ef, &ei, text);
		st->refused++;
	}
	cw_ruleset_free(full);
	return inc;
}

static void random_edits(uint32_t n_profiles, uint32_t n_rules, unsigned rounds, uint64_t seed)
{
	rng = seed;
	struct doc d = {0};
	base_doc(&d, n_profiles, n_rules);
	size_t blen;
	char *btext = doc_text(&d, &blen);
	struct stats st = {0};
	struct cw_ruleset *base = both_ways(btext, blen, NULL, NULL, 0, "base", &st);
	ck_assert_ptr_nonnull(base);
	struct doc good = {0}; /* the document of base */
	for (uint32_t i = 0; i < d.n; i++)
		doc_insert(&good, good.n, strdup(d.v[i]));
	for (unsigned r = 0; r < rounds; r++) {
		const char *what = "";
		for (uint32_t k = 1 + rnd(3); k; k--)
			what = edit(&d);
		size_t len;
		char *text = doc_text(&d, &len);
		struct cw_ruleset *rs = both_ways(text, len, base, btext, blen, what, &st);
		if (rs && rnd(2)) { /* it goes live: the next change is against it */
			cw_ruleset_free(base);
			free(btext);
			base = rs, btext = text, blen = len;
			doc_free(&good);
			for (uint32_t i = 0; i < d.n; i++)
				doc_insert(&good, good.n, strdup(d.v[i]));
			continue;
		}
		cw_ruleset_free(rs);
		free(text);
		if (!rs || !rnd(4)) { /* the analyst goes back to the live text */
			doc_free(&d);
			for (uint32_t i = 0; i < good.n; i++)
				doc_insert(&d, d.n, strdup(good.v[i]));
		}
	}
	printf("random_edits(%u profiles, %u rules): %u accepted, %u refused, all identical\n",
	       n_profiles, n_rules, st.accepted, st.refused);
	ck_assert_uint_gt(st.accepted, rounds / 5);
	ck_assert_uint_gt(st.refused, rounds / 10);
	cw_ruleset_free(base);
	free(btext);
	doc_free(&d);
	doc_free(&good);
}

START_TEST(small_sets)
{
	random_edits(5, 10, 3000, 1);
}
END_TEST

START_TEST(medium_sets)
{
	random_edits(200, 600, 600, 2);
}
END_TEST

/* A base that was not made by cw_ruleset_parse_delta, or a text that is not its own: a full
 * parse, never a wrong reuse. */
START_TEST(base_without_memo)
{
	const char *a = "version 1\nsalt 00112233445566778899aabbccddeeff\n"
			"rule 1 mode verify when hs 01\nrule 2 mode sample when hs 02\n";
	const char *b = "version 2\nsalt 00112233445566778899aabbccddeeff\n"
			"rule 1 mode verify when hs 01\nrule 2 mode sample when hs 03\n";
	struct cw_parse_errors e = {ev_inc, 0, 64, 0};
	struct cw_ruleset *plain = cw_ruleset_parse(a, strlen(a), &e);
	ck_assert_ptr_nonnull(plain);
	ck_assert_ptr_null(plain->memo);
	struct cw_ruleset *rs = cw_ruleset_parse_delta(b, strlen(b), plain, a, strlen(a), &e);
	ck_assert_ptr_nonnull(rs);
	ck_assert_ptr_nonnull(rs->memo);
	ck_assert_uint_eq(rs->version, 2);
	ck_assert_uint_eq(rs->hs_ranges[rs->rules[1].hs.off].lo, 300000000);
	/* the same bytes in another buffer are not taken as rs's text: a full parse */
	char *copy = strdup(b);
	struct cw_ruleset *rs2 = cw_ruleset_parse_delta(a, strlen(a), rs, copy, strlen(b), &e);
	ck_assert_ptr_nonnull(rs2);
	ck_assert_uint_eq(rs2->version, 1);
	ck_assert_uint_eq(rs2->hs_ranges[rs2->rules[1].hs.off].lo, 200000000);
	free(copy);
	cw_ruleset_free(rs2);
	/* another text of the same length given as rs's: not trusted either */
	rs2 = cw_ruleset_parse_delta(a, strlen(a), rs, a, strlen(a), &e);
	ck_assert_ptr_nonnull(rs2);
	ck_assert_uint_eq(rs2->hs_ranges[rs2->rules[1].hs.off].lo, 200000000);
	cw_ruleset_free(rs2);
	cw_ruleset_free(rs);
	cw_ruleset_free(plain);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("parse_delta");
	TCase *tc = tcase_create("parse_delta");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, small_sets);
	tcase_add_test(tc, medium_sets);
	tcase_add_test(tc, base_without_memo);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
