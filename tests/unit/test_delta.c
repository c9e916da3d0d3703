/*
 * test_delta.c - a delta snapshot (cw_snapshot_build_delta on the gateway's path: the incremental
 * parse, then the overlay on the last full build) decides exactly as a full build of the same
 * text.
 *
 * Why this file exists: to stay within DESIGN §8's 20 ms, a delta takes from its base whatever
 * the change cannot affect: the profile tables when the profile prefixes are the same, the USCC
 * intern table when it names no new USCC, the count of rules that name parties, ranks only for
 * the changed rules, and no compare for the rules the parse copied from the active delta. Each
 * shortcut must give the full build's answers. Random rule sets with profiles and party conditions
 * are edited at random (rules and profiles changed, added, removed; new USCCs; every party rule
 * removed) and both snapshots are asked the same random items: best rule, profile, USCC interning
 * and whether parties are looked up at all. Chains of deltas on one base are freed in the gateway's
 * order (each delta before its base) under ASan.
 *
 * Also here, because a delta's fold is the full build of its text (control/fold.h): a full build
 * gives up when asked to (cw_snapshot_build_unless), and the fold thread gives up a build whose
 * text something newer has replaced, so that no out-of-date build ever comes back finished.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "control/fold.h"
#include "rules/engine.h"
#include "rules/tables.h"
#include "tests/unit/testutil.h"

static uint64_t rng = 0x2545F4914F6CDD1DULL;

static uint64_t rnd(uint64_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng % n;
}

static const char *MODES[] = {"declare", "verify", "sample", "supervise"};
static const char *CCS[] = {"DE", "BR", "US", "CN"};
/* the first four appear in base rule sets; the last two only in edits (new to the base) */
static const char *USCCS[] = {"91310000MA1FL0000X", "91310000MA1FL0001Y", "ABCDEFGHIJKLMNOPQR",
			      "91110000100000000A", "91440300MA5DXXXX0B", "91120116MA05JXXX0A"};
#define BASE_USCCS 4
#define ALL_USCCS  6

/* A rule set as lines, so that single statements can be edited. */
struct text {
	char **line;
	unsigned n, cap;
	unsigned next_id;
};

static void add_line(struct text *t, unsigned at, char *s)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 64;
		t->line = realloc(t->line, sizeof(char *) * t->cap);
		ck_assert_ptr_nonnull(t->line);
	}
	memmove(t->line + at + 1, t->line + at, sizeof(char *) * (t->n - at));
	t->line[at] = s;
	t->n++;
}

static void del_line(struct text *t, unsigned at)
{
	free(t->line[at]);
	memmove(t->line + at, t->line + at + 1, sizeof(char *) * (t->n - at - 1));
	t->n--;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, f);
	vsnprintf(buf, sizeof(buf), f, ap);
	va_end(ap);
	return strdup(buf);
}

static bool prefix_used(const struct text *t, const char *digits)
{
	size_t n = strlen(digits);
	for (unsigned i = 0; i < t->n; i++)
		if (!strncmp(t->line[i], "profile ", 8) && !strncmp(t->line[i] + 8, digits, n) &&
		    t->line[i][8 + n] == ' ')
			return true;
	return false;
}

/* A profile whose prefix the rule set does not have yet (prefixes are unique). */
static char *random_profile(const struct text *t)
{
	char digits[11];
	do {
		unsigned len = 2 + (unsigned)rnd(9); /* 2..10 digits: LPM and the long hash */
		for (unsigned i = 0; i < len; i++)
			digits[i] = (char)('0' + (i == 0 ? 8 : i == 1 ? 4 : (int)rnd(10)));
		digits[len] = 0;
	} while (prefix_used(t, digits));
	return fmt("profile %s mode %s sample %u%%", digits, MODES[rnd(4)], (unsigned)rnd(50));
}

/* party: 0 none, 1 a base USCC, 2 any USCC (new ones too) */
static char *random_rule(unsigned id, int party)
{
	char cond[128];
	switch (party ? 99 : rnd(5)) {
	case 0:
		snprintf(cond, sizeof(cond), "hs %02u", 84 + (unsigned)rnd(3));
		break;
	case 1:
		snprintf(cond, sizeof(cond), "origin in (%s, %s)", CCS[rnd(4)], CCS[rnd(4)]);
		break;
	case 2:
		snprintf(cond, sizeof(cond), "value >= %u.00", (unsigned)rnd(1000));
		break;
	case 3:
		snprintf(cond, sizeof(cond), "hs 8471%02u and quantity < %u", (unsigned)rnd(100),
			 (unsigned)rnd(20));
		break;
	case 4:
		snprintf(cond, sizeof(cond), "total_value > 50000000.00"); /* a slow rule */
		break;
	default:
		snprintf(cond, sizeof(cond), "%s %s", rnd(2) ? "declarant" : "owner",
			 USCCS[rnd(party == 1 ? BASE_USCCS : ALL_USCCS)]);
	}
	return fmt("rule %u priority %u mode %s when %s", id, (unsigned)rnd(5), MODES[rnd(4)],
		   cond);
}

static bool is_rule(const char *l)
{
	return !strncmp(l, "rule ", 5);
}

static bool is_profile(const char *l)
{
	return !strncmp(l, "profile ", 8);
}

static void random_base(struct text *t, unsigned n_rules, unsigned n_profiles)
{
	memset(t, 0, sizeof(*t));
	add_line(t, 0, fmt("version 1"));
	add_line(t, 1, fmt("salt 00112233445566778899aabbccddeeff"));
	add_line(t, 2, fmt("class good mode declare"));
	for (unsigned i = 0; i < n_profiles; i++)
		add_line(t, t->n, random_profile(t));
	for (unsigned i = 0; i < n_rules; i++)
		add_line(t, t->n, random_rule(100 + i, rnd(4) == 0 ? 1 : 0));
	t->next_id = 100 + n_rules;
}

static unsigned pick(const struct text *t, bool (*is)(const char *))
{
	unsigned k = 0, count = 0;
	for (unsigned i = 0; i < t->n; i++)
		count += is(t->line[i]);
	if (!count)
		return UINT32_MAX;
	unsigned want = (unsigned)rnd(count);
	for (unsigned i = 0; i < t->n; i++)
		if (is(t->line[i]) && k++ == want)
			return i;
	return UINT32_MAX;
}

/* One random edit of the kind a risk analyst makes. */
static void random_edit(struct text *t)
{
	unsigned at;
	switch (rnd(9)) {
	case 0: /* a rule's mode or priority */
	case 1:
		if ((at = pick(t, is_rule)) != UINT32_MAX) {
			unsigned id = (unsigned)strtoul(t->line[at] + 5, NULL, 10);
			free(t->line[at]);
			t->line[at] = random_rule(id, (int)rnd(3));
		}
		break;
	case 2: /* a rule removed */
		if ((at = pick(t, is_rule)) != UINT32_MAX)
			del_line(t, at);
		break;
	case 3: /* a rule added, maybe naming a USCC the base does not know */
		add_line(t, 3 + (unsigned)rnd(t->n - 2), random_rule(t->next_id++, (int)rnd(3)));
		break;
	case 4: /* a profile's mode: same prefixes */
		if ((at = pick(t, is_profile)) != UINT32_MAX) {
			char *p = strstr(t->line[at], " mode ");
			char *l =
			    fmt("%.*s mode %s", (int)(p - t->line[at]), t->line[at], MODES[rnd(4)]);
			free(t->line[at]);
			t->line[at] = l;
		}
		break;
	case 5: /* a profile added or removed: other prefixes */
		if (rnd(2) && (at = pick(t, is_profile)) != UINT32_MAX)
			del_line(t, at);
		else
			add_line(t, 3, random_profile(t));
		break;
	case 6: /* every rule that names a party removed */
		for (unsigned i = t->n; i-- > 0;)
			if (is_rule(t->line[i]) &&
			    (strstr(t->line[i], "declarant") || strstr(t->line[i], "owner")))
				del_line(t, i);
		break;
	case 7: /* two rules swap places (a moved block) */
		if ((at = pick(t, is_rule)) != UINT32_MAX) {
			unsigned a = at, b = pick(t, is_rule);
			char *x = t->line[a];
			t->line[a] = t->line[b];
			t->line[b] = x;
		}
		break;
	default: /* only the version */
		break;
	}
}

static char *join(const struct text *t, unsigned version, size_t *len)
{
	size_t cap = 64;
	for (unsigned i = 0; i < t->n; i++)
		cap += strlen(t->line[i]) + 1;
	char *s = malloc(cap);
	size_t n = (size_t)sprintf(s, "version %u\n", version);
	for (unsigned i = 1; i < t->n; i++) /* line 0 is the version */
		n += (size_t)sprintf(s + n, "%s\n", t->line[i]);
	*len = n;
	return s;
}

static void text_free(struct text *t)
{
	for (unsigned i = 0; i < t->n; i++)
		free(t->line[i]);
	free(t->line);
}

static struct cw_ruleset *parse(const char *t, size_t n, const struct cw_ruleset *base,
				const char *bt, size_t bn)
{
	struct cw_parse_error ev[4];
	struct cw_parse_errors errs = {.v = ev, .cap = 4};
	struct cw_ruleset *rs = cw_ruleset_parse_delta(t, n, base, bt, bn, &errs);
	ck_assert_msg(rs != NULL, "%u:%u %s", ev[0].line, ev[0].column, ev[0].msg);
	return rs;
}

static void random_facts(struct cw_item_facts *f)
{
	memset(f, 0, sizeof(*f));
	f->msg = rnd(4) ? CW_MSG_DECL : CW_MSG_LIST;
	f->direction = f->msg == CW_MSG_LIST ? CWP_IMPORT : (uint8_t)(1 + rnd(2));
	f->cls = (uint8_t)rnd(6);
	f->has_owner = f->msg == CW_MSG_DECL && rnd(4);
	f->has_country = f->has_transport = f->msg == CW_MSG_DECL;
	f->declarant = USCCS[rnd(ALL_USCCS)];
	f->owner = USCCS[rnd(ALL_USCCS)];
	const char *o = CCS[rnd(4)];
	f->origin = (uint16_t)((o[0] << 8) | o[1]);
	f->country = f->origin;
	f->hs = rnd(4) ? 8400000000ull + rnd(300000000ull) : rnd(10000000000ull);
	f->value = rnd(4) ? rnd(200000) : rnd(1ull << 40);
	f->total_value = rnd(3) ? rnd(100000) : 5000000001ull + rnd(1000);
	f->quantity = rnd(25);
}

/* The answers of a snapshot for one batch of items. */
static void answers(const struct cw_snapshot *s, const struct cw_item_facts *facts, unsigned n,
		    uint32_t *rule_id, uint32_t *profile)
{
	const struct cw_ruleset *rs = cw_snapshot_ruleset(s);
	struct cw_acl_key keys[256];
	const struct cw_acl_key *kp[256];
	uint32_t best[256];
	uint64_t hs[256];
	for (unsigned i = 0; i < n; i++) {
		uint32_t d = s->uses_parties ? cw_intern_lookup(s, facts[i].declarant) : 0;
		uint32_t o = s->uses_parties ? cw_intern_lookup(s, facts[i].owner) : 0;
		cw_acl_key_fill(&keys[i], &facts[i], d, o);
		kp[i] = &keys[i];
		hs[i] = facts[i].hs;
	}
	cw_rules_classify(s, kp, facts, best, n);
	cw_profiles_lookup(s, hs, profile, n);
	for (unsigned i = 0; i < n; i++)
		rule_id[i] = best[i] == UINT32_MAX ? 0 : rs->rules[best[i]].id;
}

static void same_answers(const struct cw_snapshot *d, const struct cw_snapshot *f)
{
	const struct cw_ruleset *drs = cw_snapshot_ruleset(d), *frs = cw_snapshot_ruleset(f);
	ck_assert_uint_eq(d->uses_parties, f->uses_parties);
	ck_assert_uint_eq(d->n_party_rules, f->n_party_rules);
	/* a delta keeps its base's ids (the base's ACL holds them), so it knows the base's USCCs
	 * too; every USCC the full build knows, it knows */
	for (int i = 0; i < ALL_USCCS; i++)
		ck_assert(!cw_intern_lookup(f, USCCS[i]) || cw_intern_lookup(d, USCCS[i]));
	enum { N = 256 };
	struct cw_item_facts facts[N];
	uint32_t drule[N], frule[N], dprof[N], fprof[N];
	for (int round = 0; round < 8; round++) {
		for (unsigned i = 0; i < N; i++)
			random_facts(&facts[i]);
		answers(d, facts, N, drule, dprof);
		answers(f, facts, N, frule, fprof);
		for (unsigned i = 0; i < N; i++) {
			const struct cw_rule *lin = cw_linear_match(frs, &facts[i]);
			ck_assert_msg(drule[i] == frule[i] && frule[i] == (lin ? lin->id : 0),
				      "item %u: delta chose rule %u, full build %u, linear %u", i,
				      drule[i], frule[i], lin ? lin->id : 0);
			ck_assert_uint_eq(dprof[i], fprof[i]);
			if (dprof[i] != CW_NO_PROFILE)
				ck_assert(!memcmp(&drs->profiles[dprof[i]],
						  &frs->profiles[fprof[i]],
						  sizeof(struct cw_profile)));
		}
	}
}

START_TEST(delta_decides_as_full_build)
{
	char err[256];
	unsigned deltas = 0, shared_trie = 0, own_trie = 0, shared_intern = 0, own_intern = 0;
	for (int set = 0; set < 12; set++) {
		struct text t;
		random_base(&t, 40 + (unsigned)rnd(200), 5 + (unsigned)rnd(30));
		size_t blen;
		char *btext = join(&t, 1, &blen);
		struct cw_ruleset *brs = parse(btext, blen, NULL, NULL, 0);
		struct cw_snapshot *base = cw_snapshot_build(brs, err, sizeof(err));
		ck_assert_msg(base != NULL, "%s", err);
		/* a chain of deltas, each parsed against the one before, as the gateway does */
		struct cw_snapshot *prev = base;
		char *ptext = btext;
		size_t plen = blen;
		for (unsigned v = 2; v < 10; v++) {
			/* mostly a few edits; sometimes dozens, so that items match several changed
			 * rules and the overlay's own ranking decides */
			unsigned edits = rnd(3) ? 1 + (unsigned)rnd(3) : 30 + (unsigned)rnd(100);
			for (unsigned k = 0; k < edits; k++)
				random_edit(&t);
			size_t len;
			char *text = join(&t, v, &len);
			struct cw_ruleset *rs =
			    parse(text, len, cw_snapshot_ruleset(prev), ptext, plen);
			/* built on the active snapshot as the gateway does (rules copied from it
			 * need no compare), or on the full base */
			struct cw_snapshot *d =
			    cw_snapshot_build_delta(rnd(4) ? prev : base, rs, err, sizeof(err));
			ck_assert_msg(d != NULL, "%s", err);
			struct cw_snapshot *f =
			    cw_snapshot_build(parse(text, len, NULL, NULL, 0), err, sizeof(err));
			ck_assert_msg(f != NULL, "%s", err);
			ck_assert(cw_snapshot_is_delta(d));
			deltas++;
			shared_trie += d->ptrie == base->ptrie;
			own_trie += d->ptrie != base->ptrie;
			shared_intern += d->intern == base->intern;
			own_intern += d->intern != base->intern;
			same_answers(d, f);
			cw_snapshot_free(f);
			if (prev != base)
				cw_snapshot_free(prev); /* a delta replaced: before its base */
			if (ptext != btext)
				free(ptext);
			prev = d;
			ptext = text;
			plen = len;
		}
		if (prev != base)
			cw_snapshot_free(prev);
		if (ptext != btext)
			free(ptext);
		cw_snapshot_free(base);
		free(btext);
		text_free(&t);
	}
	/* both ways of each shortcut were taken */
	ck_assert_uint_gt(shared_trie, 0);
	ck_assert_uint_gt(own_trie, 0);
	ck_assert_uint_gt(shared_intern, 0);
	ck_assert_uint_gt(own_intern, 0);
	fprintf(stderr, "  %u deltas: profile tables shared %u, own %u; intern shared %u, own %u\n",
		deltas, shared_trie, own_trie, shared_intern, own_intern);
}
END_TEST

/* Asked to stop before its first rte_acl build, a full build gives up (and frees what it built,
 * under ASan); not asked, it decides as cw_snapshot_build. */
START_TEST(build_gives_up_when_asked)
{
	char err[256] = "";
	struct text t;
	random_base(&t, 400, 20);
	size_t len;
	char *text = join(&t, 1, &len);
	atomic_bool stop = true;
	struct cw_snapshot *s =
	    cw_snapshot_build_unless(parse(text, len, NULL, NULL, 0), &stop, err, sizeof(err));
	ck_assert(s == NULL);
	ck_assert_str_eq(err, "cancelled");
	stop = false;
	s = cw_snapshot_build_unless(parse(text, len, NULL, NULL, 0), &stop, err, sizeof(err));
	ck_assert_msg(s != NULL, "%s", err);
	struct cw_snapshot *f =
	    cw_snapshot_build(parse(text, len, NULL, NULL, 0), err, sizeof(err));
	ck_assert_msg(f != NULL, "%s", err);
	same_answers(s, f);
	cw_snapshot_free(s);
	cw_snapshot_free(f);
	free(text);
	text_free(&t);
}
END_TEST

/* The fold thread's next result (waiting up to 120 s for it), checked, then freed. */
static void next_fold(struct cw_folder *f,
		      void (*check)(const struct cw_fold_result *r, uint32_t want), uint32_t want,
		      uint32_t *version)
{
	struct cw_fold_result r;
	for (int waited = 0; !cw_folder_take(f, &r); waited++) {
		ck_assert_msg(waited < 120000, "no fold result while waiting for version %u", want);
		struct timespec ms = {0, 1000000};
		nanosleep(&ms, NULL);
	}
	check(&r, want);
	*version = r.version;
	cw_snapshot_free(r.snap);
	free(r.text);
}

/* Results of the fold thread until one for `version`, each checked by `check`. */
static void fold_results_until(struct cw_folder *f, uint32_t version,
			       void (*check)(const struct cw_fold_result *r, uint32_t version))
{
	uint32_t got;
	do
		next_fold(f, check, version, &got);
	while (got != version);
}

static unsigned given_up;

/* The wanted version is built; every other one asked for before it came back given up. */
static void only_latest_built(const struct cw_fold_result *r, uint32_t version)
{
	if (r->version == version) {
		ck_assert_msg(r->snap != NULL && !r->given_up, "version %u: %s", version, r->err);
		return;
	}
	ck_assert_msg(r->snap == NULL && r->given_up,
		      "version %u was built to the end after version %u was asked for", r->version,
		      version);
	given_up++;
}

/* Until the fold thread is building `version` (it takes tens of milliseconds at least). */
static void wait_building(struct cw_folder *f, uint32_t version)
{
	uint32_t v = 0;
	for (int waited = 0; waited < 1200000; waited++) {
		if (cw_folder_building(f, &v) && v == version)
			return;
		struct timespec us = {0, 100000};
		nanosleep(&us, NULL);
	}
	ck_abort_msg("the fold thread never started version %u", version);
}

/* A result for `version` that gave up, or that was built. */
static void gave_up(const struct cw_fold_result *r, uint32_t version)
{
	ck_assert_uint_eq(r->version, version);
	ck_assert_msg(!r->snap && r->given_up, "version %u: %s, err '%s'", version,
		      r->snap ? "built" : "failed", r->err);
}

static void built(const struct cw_fold_result *r, uint32_t version)
{
	ck_assert_uint_eq(r->version, version);
	ck_assert_msg(r->snap && !r->given_up, "version %u: %s, err '%s'", version,
		      r->given_up ? "given up" : "failed", r->err);
}

/* Version 2 is asked for while version 1 is being built: 1 is given up, 2 built. Then 3 is
 * cancelled outright while being built and 4 asked for: the same. Last, 5 is cancelled while
 * being built and asked for again (the owner's new rule set failed): given up, then built. */
START_TEST(fold_gives_up_for_a_newer_text)
{
	char err[256] = "";
	struct cw_folder *f = cw_folder_start(0, NULL, NULL, err, sizeof(err));
	ck_assert_msg(f != NULL, "%s", err);
	struct text t;
	random_base(&t, 3000, 50);
	char *texts[7];
	size_t lens[7];
	for (unsigned v = 1; v <= 5; v++)
		texts[v] = join(&t, v, &lens[v]);
	texts[6] = join(&t, 5, &lens[6]); /* version 5 again */
	cw_folder_request(f, texts[1], lens[1], 1);
	wait_building(f, 1);
	cw_folder_request(f, texts[2], lens[2], 2);
	fold_results_until(f, 2, only_latest_built);
	cw_folder_request(f, texts[3], lens[3], 3);
	wait_building(f, 3);
	cw_folder_cancel(f);
	cw_folder_request(f, texts[4], lens[4], 4);
	fold_results_until(f, 4, only_latest_built);
	ck_assert_uint_eq(given_up, 2); /* 1 and 3, each at its next rte_acl context */
	cw_folder_request(f, texts[5], lens[5], 5);
	wait_building(f, 5);
	cw_folder_cancel(f);
	cw_folder_request(f, texts[6], lens[6], 5);
	uint32_t got;
	next_fold(f, gave_up, 5, &got);
	next_fold(f, built, 5, &got);
	cw_folder_stop(f);
	text_free(&t);
}
END_TEST

int main(void)
{
	tu_eal_init();
	Suite *s = suite_create("delta");
	TCase *t = tcase_create("snapshot");
	tcase_set_timeout(t, 300);
	tcase_add_test(t, delta_decides_as_full_build);
	tcase_add_test(t, build_gives_up_when_asked);
	tcase_add_test(t, fold_gives_up_for_a_newer_text);
	suite_add_tcase(s, t);
	return tu_run(s);
}
