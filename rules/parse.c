/*
 * parse.c - the rule-language compiler front end (DESIGN §5): text in, checked and normalised
 * struct cw_ruleset out, or a list of "line:column: message" errors.
 *
 * Why this file exists: a rule set is written by risk analysts and must be refused as a whole
 * when anything in it is wrong, with errors they can act on; everything downstream (the table
 * builder, the reference evaluator, `cwctl check`, `cwctl simulate --diff`) then reads one plain,
 * already-normalised model. No DPDK: this file is fuzzed.
 *
 * Choices where DESIGN §5 is silent (docs/rules.md repeats them for analysts):
 *  - Options of `class`, `profile` and `rule` (before `when`) may come in any order, each once.
 *  - `docs A,B` allows white space around the commas; a document listed twice counts once, and
 *    so does a value repeated inside `in (...)`.
 *  - A reason has no escapes: it runs to the next '"' on the same line (at most 255 bytes of
 *    UTF-8, no control characters). `#` inside it is text.
 *  - Contradictory conditions (`value < 0`, `hs 01 and hs 02`, `doc X and nodoc X`) are not an
 *    error: the rule is kept with `never` set and counts 0 rules after expansion; its masks are
 *    0 and its lists empty so that even a reader that forgets `never` matches nothing.
 *  - Errors: one syntax error ends the statement (parsing resumes at the next one); value errors
 *    (out of range, unknown names) are reported and the statement is read on for more.
 *
 * Cost: linear in the text apart from sorting the values of one `in (...)` list; duplicate ids,
 * profile prefixes and USCCs are found with open-addressing hash tables; pools grow by doubling.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__x86_64__) && defined(__SSE2__)
#include <immintrin.h>
#endif

#include "dataplane/wire/cwp.h"
#include "rules/lexer.h"
#include "rules/ruleset.h"

#define MAX_REASON 255
#define HS_DIGITS  10
#define HS_SPACE   10000000000ULL /* 10^10 codes */

static const char *const class_names[CW_NUM_CLASSES] = {"aeo",	     "good",	"warning",
							"dishonest", "serious", "unknown"};
static const char *const mode_names[CWP_NUM_MODES] = {"declare", "verify", "sample", "supervise"};
static const char *const doc_names[CWP_NUM_DOCS + 1] = {
    NULL, "LICENCE", "QUARANTINE", "ORIGIN_CERT", "THIRD_PARTY_CERT", "INSPECTION_CERT", "CITES"};

const char *cw_class_name(enum cw_class c)
{
	return (unsigned)c < CW_NUM_CLASSES ? class_names[c] : "?";
}

static int name_index(const char *const *names, int n, const char *s, size_t len)
{
	for (int i = 0; i < n; i++)
		if (names[i] && strlen(names[i]) == len && !memcmp(names[i], s, len))
			return i;
	return -1;
}

int cw_class_parse(const char *s, size_t len)
{
	return name_index(class_names, CW_NUM_CLASSES, s, len);
}

void cw_parse_error_format(const struct cw_parse_error *e, char *buf, size_t cap)
{
	if (cap)
		snprintf(buf, cap, "%u:%u: %s", (unsigned)e->line, (unsigned)e->column, e->msg);
}

/* ---- growable arrays and hash tables ---- */

/* Makes room for `need` elements (doubling); false when memory or the u32 index space runs out. */
static bool grow(void **v, uint32_t *cap, uint64_t need, size_t elem)
{
	if (need <= *cap)
		return true;
	if (need > UINT32_MAX)
		return false;
	uint64_t c = *cap ? *cap : 16;
	while (c < need)
		c *= 2;
	if (c > UINT32_MAX)
		c = UINT32_MAX;
	void *n = realloc(*v, c * elem);
	if (!n)
		return false;
	*v = n;
	*cap = (uint32_t)c;
	return true;
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* u64 key (never 0) -> u32 value: rule ids and profile prefixes, value = line of the first. */
struct idmap {
	uint64_t *keys;
	uint32_t *vals;
	size_t mask, n;
};

static bool idmap_grow(struct idmap *m)
{
	size_t cap = m->keys ? (m->mask + 1) * 2 : 1024;
	uint64_t *k = calloc(cap, sizeof(*k));
	uint32_t *v = calloc(cap, sizeof(*v));
	if (!k || !v) {
		free(k);
		free(v);
		return false;
	}
	for (size_t i = 0; m->keys && i <= m->mask; i++) {
		if (!m->keys[i])
			continue;
		size_t j = mix64(m->keys[i]) & (cap - 1);
		while (k[j])
			j = (j + 1) & (cap - 1);
		k[j] = m->keys[i];
		v[j] = m->vals[i];
	}
	free(m->keys);
	free(m->vals);
	m->keys = k;
	m->vals = v;
	m->mask = cap - 1;
	return true;
}

/* 1 inserted, 0 already there (*old = its value), -1 out of memory. */
static int idmap_put(struct idmap *m, uint64_t key, uint32_t val, uint32_t *old)
{
	if ((!m->keys || (m->n + 1) * 2 > m->mask + 1) && !idmap_grow(m))
		return -1;
	size_t j = mix64(key) & m->mask;
	while (m->keys[j]) {
		if (m->keys[j] == key) {
			*old = m->vals[j];
			return 0;
		}
		j = (j + 1) & m->mask;
	}
	m->keys[j] = key;
	m->vals[j] = val;
	m->n++;
	return 1;
}

static void idmap_free(struct idmap *m)
{
	free(m->keys);
	free(m->vals);
}

/* ---- the parser ---- */

enum list_field {
	F_HS,
	F_ORIGIN,
	F_COUNTRY,
	F_DECLARANT,
	F_OWNER,
	F_TRADE_MODE,
	F_PORT,
	F_TRANSPORT,
	F_NUM,
};

/* The allowed values of one list field while a rule is read: sorted, unique. */
struct fset {
	bool set; /* some condition named the field */
	uint32_t n, cap;
	uint32_t *v;
};

struct hset {
	bool set;
	uint32_t n, cap;
	struct cw_u64range *v; /* disjoint, sorted */
};

/* Everything one rule's conditions have narrowed so far. */
struct conds {
	struct hset hs;
	struct fset f[F_NUM]; /* F_HS unused */
	struct cw_u64range value, total_value, unit_value, quantity;
	bool has_unit_value;
	uint8_t class_mask, dir_mask, msg_mask, doc_set, doc_clear;
};

struct parser {
	struct cw_lexer lx;
	struct cw_tok tok;
	struct cw_ruleset *rs;
	uint32_t cap_profiles, cap_rules, cap_hs, cap_u16, cap_u32, cap_uscc, cap_strings;
	uint32_t line_version, line_salt, line_limit[3], line_class[CW_NUM_CLASSES];
	struct idmap rule_ids, prefixes;
	uint32_t *uscc_slots; /* index + 1 into rs->uscc, 0 empty */
	size_t uscc_mask;
	struct conds c;
	uint32_t *tmp; /* values of the list being read */
	uint32_t n_tmp, cap_tmp;
	struct cw_u64range *tmpr, *tmpr2;
	uint32_t n_tmpr, cap_tmpr, cap_tmpr2;
	bool oom, expansion_reported, profiles_reported;
	bool in_list;		    /* inside `in (...)`: a ')' there is not a stray one */
	char desc[48];		    /* describe() writes here */
	struct cw_parse_memo *memo; /* being recorded for cw_ruleset_parse_delta, or NULL */
	struct reuse *ru;	    /* the base statements are taken from, or NULL */
};

static bool memo_log_uscc(struct parser *p, uint32_t index);

/* What a parse step found: the value is good, bad (reported, read past), or the statement is
 * broken (reported, stop reading it). */
enum pr { PR_OK, PR_BAD, PR_ABORT };

static void advance(struct parser *p)
{
	cw_lex_next(&p->lx, &p->tok);
}

static bool tok_is(const struct parser *p, const char *word)
{
	size_t n = strlen(word);
	return p->tok.type == TK_WORD && p->tok.len == n && !memcmp(p->lx.s + p->tok.off, word, n);
}

static const char *tok_text(const struct parser *p)
{
	return p->lx.s + p->tok.off;
}

/* A short description of a token for messages ('abc', ')', the end of the statement). */
static const char *describe(struct parser *p, const struct cw_tok *t)
{
	char *b = p->desc;
	size_t cap = sizeof(p->desc);
	switch (t->type) {
	case TK_EOS:
		return "the end of the statement";
	case TK_STRING:
		return "a quoted text";
	case TK_ERR:
		return "an invalid character";
	default:
		break;
	}
	if (t->len > 32)
		snprintf(b, cap, "'%.29s...'", p->lx.s + t->off);
	else
		snprintf(b, cap, "'%.*s'", (int)t->len, p->lx.s + t->off);
	return b;
}

static void oom(struct parser *p)
{
	if (!p->oom)
		cw_lex_error(&p->lx, &p->tok, "out of memory (the rule set is too large)");
	p->oom = true;
}

/* A syntax error at the current token; silent when the lexer already reported that token. */
static enum pr unexpected(struct parser *p, const char *expected)
{
	if (p->tok.type == TK_ERR)
		return PR_ABORT;
	if (p->tok.type == TK_RPAREN && !p->in_list)
		cw_lex_error(&p->lx, &p->tok, "unbalanced parentheses: ')' without a matching '('");
	else
		cw_lex_error(&p->lx, &p->tok, "expected %s, found %s", expected,
			     describe(p, &p->tok));
	return PR_ABORT;
}

/* ---- numbers ---- */

/* The digits of a WORD token as an integer (saturating at UINT64_MAX); false if not all digits. */
static bool word_uint(const char *s, size_t len, uint64_t *v)
{
	uint64_t x = 0;
	if (!len)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		unsigned d = (unsigned)(s[i] - '0');
		x = x > (UINT64_MAX - d) / 10 ? UINT64_MAX : x * 10 + d;
	}
	*v = x;
	return true;
}

static enum pr parse_uint(struct parser *p, const char *what, uint64_t min, uint64_t max,
			  uint64_t *out)
{
	*out = min;
	if (p->tok.type == TK_MINUS) {
		cw_lex_error(&p->lx, &p->tok, "%s cannot be negative (%llu..%llu)", what,
			     (unsigned long long)min, (unsigned long long)max);
		advance(p);
		if (p->tok.type == TK_WORD)
			advance(p);
		return PR_BAD;
	}
	if (p->tok.type != TK_WORD) {
		char e[64];
		snprintf(e, sizeof(e), "%s (a number)", what);
		return unexpected(p, e);
	}
	uint64_t v;
	if (!word_uint(tok_text(p), p->tok.len, &v)) {
		cw_lex_error(&p->lx, &p->tok, "%s must be a whole number, not %s", what,
			     describe(p, &p->tok));
		advance(p);
		return PR_BAD;
	}
	if (v < min || v > max) {
		cw_lex_error(&p->lx, &p->tok, "%s out of range: %s (%llu..%llu)", what,
			     describe(p, &p->tok), (unsigned long long)min,
			     (unsigned long long)max);
		advance(p);
		return PR_BAD;
	}
	*out = v;
	advance(p);
	return PR_OK;
}

/* "123", "123.4", "123.45" -> hundredths; -1 not a number, -2 too many decimals, -3 too large. */
static int word_hundredths(const char *s, size_t len, uint64_t *out)
{
	size_t dot = len;
	for (size_t i = 0; i < len; i++)
		if (s[i] == '.') {
			dot = i;
			break;
		}
	uint64_t ip, fp = 0;
	if (!word_uint(s, dot, &ip))
		return -1;
	if (dot < len) {
		size_t nf = len - dot - 1;
		uint64_t f;
		if (!word_uint(s + dot + 1, nf, &f))
			return -1;
		if (nf > 2)
			return -2;
		fp = nf == 1 ? f * 10 : f;
	}
	if (ip > (UINT64_MAX - fp) / 100)
		return -3;
	*out = ip * 100 + fp;
	return 0;
}

static enum pr parse_money(struct parser *p, const char *what, uint64_t *out)
{
	*out = 0;
	if (p->tok.type == TK_MINUS) {
		cw_lex_error(&p->lx, &p->tok, "bad amount: %s cannot be negative", what);
		advance(p);
		if (p->tok.type == TK_WORD)
			advance(p);
		return PR_BAD;
	}
	if (p->tok.type != TK_WORD) {
		char e[64];
		snprintf(e, sizeof(e), "an amount for %s (such as 1500.00)", what);
		return unexpected(p, e);
	}
	int r = word_hundredths(tok_text(p), p->tok.len, out);
	if (r == -1)
		cw_lex_error(&p->lx, &p->tok, "bad amount %s: write digits with up to 2 decimals",
			     describe(p, &p->tok));
	else if (r == -2)
		cw_lex_error(&p->lx, &p->tok, "bad amount %s: at most 2 decimals",
			     describe(p, &p->tok));
	else if (r == -3)
		cw_lex_error(&p->lx, &p->tok,
			     "bad amount %s: too large (at most 184467440737095516.15)",
			     describe(p, &p->tok));
	advance(p);
	return r ? PR_BAD : PR_OK;
}

/* PCT: a number with up to 2 decimals and '%', 0..100, in basis points. */
static enum pr parse_pct(struct parser *p, const char *what, uint16_t *bp)
{
	*bp = 0;
	if (p->tok.type == TK_MINUS) {
		cw_lex_error(&p->lx, &p->tok, "percentage for %s cannot be negative (0%%..100%%)",
			     what);
		advance(p);
		if (p->tok.type == TK_WORD)
			advance(p);
		if (p->tok.type == TK_PERCENT)
			advance(p);
		return PR_BAD;
	}
	if (p->tok.type != TK_WORD) {
		char e[64];
		snprintf(e, sizeof(e), "a percentage for %s (such as 5%%)", what);
		return unexpected(p, e);
	}
	struct cw_tok num = p->tok;
	uint64_t v = 0;
	int r = word_hundredths(tok_text(p), p->tok.len, &v);
	advance(p);
	enum pr res = PR_OK;
	if (r == -1) {
		cw_lex_error(&p->lx, &num, "bad percentage %s: write a number such as 5%% or 0.5%%",
			     describe(p, &num));
		res = PR_BAD;
	} else if (r == -2) {
		cw_lex_error(&p->lx, &num, "bad percentage %s: at most 2 decimals",
			     describe(p, &num));
		res = PR_BAD;
	} else if (r == -3 || v > 10000) {
		cw_lex_error(&p->lx, &num, "percentage over 100%%: %s%%", describe(p, &num));
		res = PR_BAD;
	}
	if (p->tok.type != TK_PERCENT) {
		if (p->tok.type == TK_ERR)
			return PR_ABORT;
		if (res == PR_OK)
			cw_lex_error(&p->lx, &num, "a percentage needs a %% sign: write %.*s%%",
				     (int)(num.len > 20 ? 20 : num.len), p->lx.s + num.off);
		return PR_BAD;
	}
	advance(p);
	if (res == PR_OK)
		*bp = (uint16_t)v;
	return res;
}

/* ---- names ---- */

static enum pr parse_name(struct parser *p, const char *const *names, int n, const char *kind,
			  const char *list, int *out)
{
	*out = -1;
	if (p->tok.type != TK_WORD) {
		char e[64];
		snprintf(e, sizeof(e), "a %s", kind);
		return unexpected(p, e);
	}
	int i = name_index(names, n, tok_text(p), p->tok.len);
	if (i < 0) {
		cw_lex_error(&p->lx, &p->tok, "unknown %s %s (%s)", kind, describe(p, &p->tok),
			     list);
		advance(p);
		return PR_BAD;
	}
	*out = i;
	advance(p);
	return PR_OK;
}

static enum pr parse_mode(struct parser *p, uint8_t *mode)
{
	int m;
	enum pr r = parse_name(p, mode_names, CWP_NUM_MODES, "mode",
			       "declare, verify, sample, supervise", &m);
	if (r == PR_OK)
		*mode = (uint8_t)m;
	return r;
}

static enum pr parse_doc(struct parser *p, int *doc)
{
	return parse_name(p, doc_names, CWP_NUM_DOCS + 1, "document",
			  "LICENCE, QUARANTINE, ORIGIN_CERT, THIRD_PARTY_CERT, INSPECTION_CERT, "
			  "CITES",
			  doc);
}

static enum pr parse_class_name(struct parser *p, int *cls)
{
	return parse_name(p, class_names, CW_NUM_CLASSES, "class",
			  "aeo, good, warning, dishonest, serious, unknown", cls);
}

/* ---- statements other than rules ---- */

static bool repeated(struct parser *p, const struct cw_tok *kw, uint32_t *first, const char *what)
{
	if (*first) {
		cw_lex_error(&p->lx, kw, "repeated %s (first at line %u)", what, (unsigned)*first);
		return true;
	}
	*first = kw->line;
	return false;
}

static enum pr stmt_version(struct parser *p, const struct cw_tok *kw)
{
	repeated(p, kw, &p->line_version, "version");
	uint64_t v;
	enum pr r = parse_uint(p, "version", 1, UINT32_MAX, &v);
	if (r == PR_OK)
		p->rs->version = (uint32_t)v;
	return r;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static enum pr stmt_salt(struct parser *p, const struct cw_tok *kw)
{
	repeated(p, kw, &p->line_salt, "salt");
	if (p->tok.type != TK_WORD)
		return unexpected(p, "a salt (32 hex digits)");
	const char *s = tok_text(p);
	bool ok = p->tok.len == 32;
	for (size_t i = 0; ok && i < 32; i++)
		ok = hexval(s[i]) >= 0;
	if (!ok) {
		cw_lex_error(&p->lx, &p->tok, "bad salt %s: exactly 32 hex digits",
			     describe(p, &p->tok));
		advance(p);
		return PR_BAD;
	}
	for (int i = 0; i < 16; i++)
		p->rs->salt[i] = (uint8_t)(hexval(s[2 * i]) << 4 | hexval(s[2 * i + 1]));
	advance(p);
	return PR_OK;
}

static enum pr stmt_limit(struct parser *p, const struct cw_tok *kw)
{
	static const char *const kinds[3] = {"single", "annual", "tolerance"};
	int k;
	enum pr r = parse_name(p, kinds, 3, "limit", "single, annual, tolerance", &k);
	if (r != PR_OK)
		return r;
	char what[32];
	snprintf(what, sizeof(what), "limit %s", kinds[k]);
	repeated(p, kw, &p->line_limit[k], what);
	if (k == 2) {
		uint16_t bp;
		r = parse_pct(p, what, &bp);
		if (r == PR_OK)
			p->rs->tolerance_bp = bp;
		return r;
	}
	uint64_t v;
	r = parse_money(p, what, &v);
	if (r == PR_OK)
		*(k == 0 ? &p->rs->limit_single : &p->rs->limit_annual) = v;
	return r;
}

/* Reads `mode M` / `sample P` style options in any order, each at most once. */
struct options {
	const char *stmt;
	bool allow_docs, allow_strict;
	bool has_mode, has_sample, has_docs, has_strict;
	uint8_t mode;
	uint16_t sample_bp;
	uint8_t docs_mask;
};

static enum pr once(struct parser *p, bool *seen, const char *opt)
{
	if (*seen) {
		cw_lex_error(&p->lx, &p->tok, "repeated option `%s` in this statement", opt);
		return PR_BAD;
	}
	*seen = true;
	return PR_OK;
}

static enum pr parse_docs(struct parser *p, uint8_t *mask)
{
	enum pr res = PR_OK;
	for (;;) {
		int d;
		enum pr r = parse_doc(p, &d);
		if (r == PR_ABORT)
			return r;
		if (r == PR_OK)
			*mask |= (uint8_t)(1u << d);
		else
			res = PR_BAD;
		if (p->tok.type != TK_COMMA)
			return res;
		advance(p);
	}
}

static enum pr parse_options(struct parser *p, struct options *o)
{
	enum pr res = PR_OK, r;
	while (p->tok.type == TK_WORD) {
		bool *seen;
		const char *name;
		if (tok_is(p, "mode")) {
			seen = &o->has_mode, name = "mode";
		} else if (tok_is(p, "sample")) {
			seen = &o->has_sample, name = "sample";
		} else if (o->allow_docs && tok_is(p, "docs")) {
			seen = &o->has_docs, name = "docs";
		} else if (o->allow_strict && tok_is(p, "strict")) {
			seen = &o->has_strict, name = "strict";
		} else {
			cw_lex_error(&p->lx, &p->tok, "unknown option %s in a %s statement (%s)",
				     describe(p, &p->tok), o->stmt,
				     o->allow_docs ? "mode, sample, docs or strict"
						   : "mode or sample");
			return PR_ABORT;
		}
		if (once(p, seen, name) != PR_OK)
			res = PR_BAD;
		advance(p);
		if (!strcmp(name, "mode"))
			r = parse_mode(p, &o->mode);
		else if (!strcmp(name, "sample"))
			r = parse_pct(p, "sample", &o->sample_bp);
		else if (!strcmp(name, "docs"))
			r = parse_docs(p, &o->docs_mask);
		else
			r = PR_OK;
		if (r == PR_ABORT)
			return r;
		if (r == PR_BAD)
			res = PR_BAD;
	}
	return res;
}

static enum pr stmt_class(struct parser *p, const struct cw_tok *kw)
{
	int cls;
	enum pr r = parse_class_name(p, &cls);
	if (r == PR_ABORT)
		return r;
	if (r == PR_OK) {
		char what[32];
		snprintf(what, sizeof(what), "class %s", class_names[cls]);
		if (repeated(p, kw, &p->line_class[cls], what))
			r = PR_BAD;
	}
	struct options o = {.stmt = "class"};
	enum pr r2 = parse_options(p, &o);
	if (r2 == PR_ABORT)
		return r2;
	if (!o.has_mode) {
		cw_lex_error(&p->lx, &p->tok,
			     "missing `mode`: write class NAME mode MODE [sample PCT]");
		return PR_BAD;
	}
	if (r != PR_OK || r2 != PR_OK)
		return PR_BAD;
	p->rs->cls[cls].mode = o.mode;
	p->rs->cls[cls].sample_bp = o.sample_bp;
	p->rs->class_set |= (uint8_t)(1u << cls);
	return PR_OK;
}

/* An HS prefix token: 1..10 digits. */
static enum pr parse_hs_prefix(struct parser *p, uint64_t *val, uint32_t *len)
{
	if (p->tok.type != TK_WORD)
		return unexpected(p, "an HS prefix (1 to 10 digits)");
	const char *s = tok_text(p);
	uint64_t v;
	if (!word_uint(s, p->tok.len, &v)) {
		cw_lex_error(&p->lx, &p->tok, "bad HS prefix %s: 1 to 10 digits",
			     describe(p, &p->tok));
		advance(p);
		return PR_BAD;
	}
	if (p->tok.len > HS_DIGITS) {
		cw_lex_error(&p->lx, &p->tok, "bad HS prefix %s: at most 10 digits, not %zu",
			     describe(p, &p->tok), p->tok.len);
		advance(p);
		return PR_BAD;
	}
	*val = v;
	*len = (uint32_t)p->tok.len;
	advance(p);
	return PR_OK;
}

static enum pr stmt_profile(struct parser *p, const struct cw_tok *kw)
{
	struct cw_tok at = p->tok;
	uint64_t v;
	uint32_t len;
	enum pr r = parse_hs_prefix(p, &v, &len);
	if (r == PR_ABORT)
		return r;
	if (r == PR_OK) {
		uint32_t first;
		int k = idmap_put(&p->prefixes, v << 4 | len, kw->line, &first);
		if (k < 0) {
			oom(p);
			return PR_ABORT;
		}
		if (k == 0) {
			cw_lex_error(&p->lx, &at, "duplicate profile %.*s (first at line %u)",
				     (int)len, p->lx.s + at.off, (unsigned)first);
			r = PR_BAD;
		}
	}
	struct options o = {.stmt = "profile", .allow_docs = true, .allow_strict = true};
	enum pr r2 = parse_options(p, &o);
	if (r2 == PR_ABORT)
		return r2;
	if (r != PR_OK || r2 != PR_OK)
		return PR_BAD;
	struct cw_ruleset *rs = p->rs;
	if (rs->n_profiles >= CW_MAX_PROFILES) {
		if (!p->profiles_reported)
			cw_lex_error(&p->lx, kw, "too many profiles (at most %u)",
				     (unsigned)CW_MAX_PROFILES);
		p->profiles_reported = true;
		return PR_BAD;
	}
	if (!grow((void **)&rs->profiles, &p->cap_profiles, (uint64_t)rs->n_profiles + 1,
		  sizeof(*rs->profiles))) {
		oom(p);
		return PR_ABORT;
	}
	struct cw_profile *pf = &rs->profiles[rs->n_profiles++];
	memset(pf, 0, sizeof(*pf));
	memcpy(pf->prefix, p->lx.s + at.off, len);
	pf->len = (uint8_t)len;
	pf->mode = o.has_mode ? o.mode : CWP_MODE_DECLARE;
	pf->sample_bp = o.sample_bp;
	pf->docs_mask = o.docs_mask;
	pf->strict = o.has_strict;
	pf->line = kw->line;
	return PR_OK;
}

/* ---- rule conditions ---- */

enum kind { K_HS, K_CC, K_CLASS, K_USCC, K_NUM, K_DIR, K_MSG, K_DOC, K_NODOC, K_MONEY, K_QTY };

struct field_desc {
	const char *name;
	enum kind kind;
	int slot; /* enum list_field for lists; 0 value, 1 total_value, 2 unit_value for money */
	uint32_t max;
};

static const struct field_desc fields[] = {
    {"hs", K_HS, F_HS, 0},
    {"origin", K_CC, F_ORIGIN, 0},
    {"country", K_CC, F_COUNTRY, 0},
    {"class", K_CLASS, 0, 0},
    {"declarant", K_USCC, F_DECLARANT, 0},
    {"owner", K_USCC, F_OWNER, 0},
    {"trade_mode", K_NUM, F_TRADE_MODE, 65535},
    {"port", K_NUM, F_PORT, 65535},
    {"transport", K_NUM, F_TRANSPORT, 255},
    {"direction", K_DIR, 0, 0},
    {"msg", K_MSG, 0, 0},
    {"doc", K_DOC, 0, 0},
    {"nodoc", K_NODOC, 0, 0},
    {"value", K_MONEY, 0, 0},
    {"total_value", K_MONEY, 1, 0},
    {"unit_value", K_MONEY, 2, 0},
    {"quantity", K_QTY, 0, 0},
};

static const uint64_t pow10_tab[HS_DIGITS + 1] = {
    1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000, 10000000000ULL};

static bool push_tmp(struct parser *p, uint32_t v)
{
	if (!grow((void **)&p->tmp, &p->cap_tmp, (uint64_t)p->n_tmp + 1, sizeof(*p->tmp))) {
		oom(p);
		return false;
	}
	p->tmp[p->n_tmp++] = v;
	return true;
}

/* hs P or hs P..Q: all 10-digit codes whose first len(P) digits lie between P and Q. */
static enum pr parse_hs_item(struct parser *p)
{
	struct cw_tok at = p->tok;
	uint64_t lo, hi;
	uint32_t llo, lhi;
	enum pr r = parse_hs_prefix(p, &lo, &llo);
	if (r == PR_ABORT)
		return r;
	hi = lo, lhi = llo;
	if (p->tok.type == TK_DOTDOT) {
		advance(p);
		struct cw_tok qt = p->tok;
		enum pr r2 = parse_hs_prefix(p, &hi, &lhi);
		if (r2 == PR_ABORT)
			return r2;
		if (r == PR_OK && r2 == PR_OK) {
			if (llo != lhi) {
				cw_lex_error(&p->lx, &qt,
					     "in hs P..Q, P and Q must have the same number of "
					     "digits (%u and %u)",
					     (unsigned)llo, (unsigned)lhi);
				r = PR_BAD;
			} else if (lo > hi) {
				cw_lex_error(
				    &p->lx, &at, "in hs P..Q, P must not be above Q (%.*s > %.*s)",
				    (int)llo, p->lx.s + at.off, (int)lhi, p->lx.s + qt.off);
				r = PR_BAD;
			}
		} else {
			r = PR_BAD;
		}
	}
	if (r != PR_OK)
		return r;
	if (!grow((void **)&p->tmpr, &p->cap_tmpr, (uint64_t)p->n_tmpr + 1, sizeof(*p->tmpr))) {
		oom(p);
		return PR_ABORT;
	}
	uint64_t scale = pow10_tab[HS_DIGITS - llo];
	p->tmpr[p->n_tmpr++] = (struct cw_u64range){lo * scale, (hi + 1) * scale - 1};
	return PR_OK;
}

static bool is_upper(char c)
{
	return c >= 'A' && c <= 'Z';
}

static size_t uscc_hash(const char *s)
{
	uint64_t a, b;
	memcpy(&a, s, 8);
	memcpy(&b, s + 8, 8);
	return (size_t)mix64(a ^ mix64(b ^ ((uint64_t)(uint8_t)s[16] << 8 | (uint8_t)s[17])));
}

/* Interns an 18-character USCC; its index in rs->uscc, or -1 out of memory. */
static int64_t intern_uscc(struct parser *p, const char *s)
{
	struct cw_ruleset *rs = p->rs;
	if (!p->uscc_slots || (uint64_t)(rs->n_uscc + 1) * 2 > p->uscc_mask + 1) {
		size_t cap = p->uscc_slots ? (p->uscc_mask + 1) * 2 : 1024;
		uint32_t *slots = calloc(cap, sizeof(*slots));
		if (!slots)
			return -1;
		for (uint32_t i = 0; i < rs->n_uscc; i++) {
			size_t j = uscc_hash(rs->uscc[i]) & (cap - 1);
			while (slots[j])
				j = (j + 1) & (cap - 1);
			slots[j] = i + 1;
		}
		free(p->uscc_slots);
		p->uscc_slots = slots;
		p->uscc_mask = cap - 1;
	}
	size_t j = uscc_hash(s) & p->uscc_mask;
	while (p->uscc_slots[j]) {
		uint32_t i = p->uscc_slots[j] - 1;
		if (!memcmp(rs->uscc[i], s, 18))
			return memo_log_uscc(p, i) ? (int64_t)i : -1;
		j = (j + 1) & p->uscc_mask;
	}
	if (!grow((void **)&rs->uscc, &p->cap_uscc, (uint64_t)rs->n_uscc + 1, sizeof(*rs->uscc)))
		return -1;
	memcpy(rs->uscc[rs->n_uscc], s, 18);
	p->uscc_slots[j] = rs->n_uscc + 1;
	return memo_log_uscc(p, rs->n_uscc) ? (int64_t)rs->n_uscc++ : -1;
}

/* One value of a list field into p->tmp (or p->tmpr for hs). */
static enum pr parse_item(struct parser *p, const struct field_desc *fd)
{
	if (fd->kind == K_HS)
		return parse_hs_item(p);
	if (fd->kind == K_NUM) {
		uint64_t v;
		enum pr r = parse_uint(p, fd->name, 0, fd->max, &v);
		if (r == PR_OK && !push_tmp(p, (uint32_t)v))
			return PR_ABORT;
		return r;
	}
	if (fd->kind == K_CLASS) {
		int c;
		enum pr r = parse_class_name(p, &c);
		if (r == PR_OK && !push_tmp(p, (uint32_t)c))
			return PR_ABORT;
		return r;
	}
	if (p->tok.type != TK_WORD)
		return unexpected(p, fd->kind == K_CC ? "a country code (two capital letters)"
						      : "a USCC (18 characters 0-9, A-Z)");
	const char *s = tok_text(p);
	size_t n = p->tok.len;
	bool ok;
	if (fd->kind == K_CC) {
		ok = n == 2 && is_upper(s[0]) && is_upper(s[1]);
		if (!ok)
			cw_lex_error(&p->lx, &p->tok,
				     "bad country code %s: two capital letters such as CN",
				     describe(p, &p->tok));
		else if (!push_tmp(p, (uint32_t)((uint8_t)s[0] << 8 | (uint8_t)s[1])))
			return PR_ABORT;
	} else {
		ok = n == 18;
		for (size_t i = 0; ok && i < n; i++)
			ok = is_upper(s[i]) || (s[i] >= '0' && s[i] <= '9');
		if (!ok) {
			cw_lex_error(&p->lx, &p->tok,
				     "bad USCC %s: 18 characters, digits or capital letters",
				     describe(p, &p->tok));
		} else {
			int64_t i = intern_uscc(p, s);
			if (i < 0) {
				oom(p);
				return PR_ABORT;
			}
			if (!push_tmp(p, (uint32_t)i))
				return PR_ABORT;
		}
	}
	advance(p);
	return ok ? PR_OK : PR_BAD;
}

/* `V` or `in (V, V, ...)` */
static enum pr parse_values(struct parser *p, const struct field_desc *fd)
{
	p->n_tmp = p->n_tmpr = 0;
	if (!tok_is(p, "in"))
		return parse_item(p, fd);
	advance(p);
	if (p->tok.type != TK_LPAREN)
		return unexpected(p, "'(' after `in`");
	struct cw_tok open = p->tok;
	advance(p);
	if (p->tok.type == TK_RPAREN) {
		cw_lex_error(&p->lx, &p->tok, "empty list: `in ()` must name at least one value");
		advance(p);
		return PR_BAD;
	}
	enum pr res = PR_OK;
	for (;;) {
		p->in_list = true;
		enum pr r = parse_item(p, fd);
		p->in_list = false;
		if (r == PR_ABORT)
			return r;
		if (r == PR_BAD)
			res = PR_BAD;
		if (p->tok.type == TK_COMMA) {
			advance(p);
		} else if (p->tok.type == TK_RPAREN) {
			advance(p);
			return res;
		} else if (p->tok.type == TK_EOS) {
			cw_lex_error(&p->lx, &open, "unbalanced parentheses: '(' is never closed");
			return PR_ABORT;
		} else if (p->tok.type == TK_ERR) {
			return PR_ABORT;
		} else {
			cw_lex_error(&p->lx, &p->tok, "expected ',' or ')' in the list, found %s",
				     describe(p, &p->tok));
			return PR_ABORT;
		}
	}
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static int cmp_range(const void *a, const void *b)
{
	const struct cw_u64range *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Narrows a field to its current values intersected with p->tmp. */
static bool apply_list(struct parser *p, struct fset *f)
{
	uint32_t n = 0;
	qsort(p->tmp, p->n_tmp, sizeof(*p->tmp), cmp_u32);
	for (uint32_t i = 0; i < p->n_tmp; i++)
		if (!n || p->tmp[i] != p->tmp[n - 1])
			p->tmp[n++] = p->tmp[i];
	if (!f->set) {
		if (!grow((void **)&f->v, &f->cap, n, sizeof(*f->v))) {
			oom(p);
			return false;
		}
		memcpy(f->v, p->tmp, (size_t)n * sizeof(*f->v));
		f->n = n;
		f->set = true;
		return true;
	}
	uint32_t i = 0, j = 0, k = 0;
	while (i < f->n && j < n) {
		if (f->v[i] < p->tmp[j])
			i++;
		else if (f->v[i] > p->tmp[j])
			j++;
		else
			f->v[k++] = f->v[i++], j++;
	}
	f->n = k;
	return true;
}

static bool apply_hs(struct parser *p)
{
	struct hset *h = &p->c.hs;
	uint32_t n = 0;
	qsort(p->tmpr, p->n_tmpr, sizeof(*p->tmpr), cmp_range);
	for (uint32_t i = 0; i < p->n_tmpr; i++) {
		struct cw_u64range r = p->tmpr[i];
		if (n && r.lo <= p->tmpr[n - 1].hi + 1) {
			if (r.hi > p->tmpr[n - 1].hi)
				p->tmpr[n - 1].hi = r.hi;
		} else {
			p->tmpr[n++] = r;
		}
	}
	if (!h->set) {
		if (!grow((void **)&h->v, &h->cap, n, sizeof(*h->v))) {
			oom(p);
			return false;
		}
		memcpy(h->v, p->tmpr, (size_t)n * sizeof(*h->v));
		h->n = n;
		h->set = true;
		return true;
	}
	if (!grow((void **)&p->tmpr2, &p->cap_tmpr2, (uint64_t)h->n + n, sizeof(*p->tmpr2))) {
		oom(p);
		return false;
	}
	uint32_t i = 0, j = 0, k = 0;
	while (i < h->n && j < n) {
		struct cw_u64range a = h->v[i], b = p->tmpr[j];
		uint64_t lo = a.lo > b.lo ? a.lo : b.lo, hi = a.hi < b.hi ? a.hi : b.hi;
		if (lo <= hi)
			p->tmpr2[k++] = (struct cw_u64range){lo, hi};
		if (a.hi < b.hi)
			i++;
		else
			j++;
	}
	if (!grow((void **)&h->v, &h->cap, k, sizeof(*h->v))) {
		oom(p);
		return false;
	}
	memcpy(h->v, p->tmpr2, (size_t)k * sizeof(*h->v));
	h->n = k;
	return true;
}

static void narrow(struct cw_u64range *r, uint64_t lo, uint64_t hi)
{
	if (lo > r->lo)
		r->lo = lo;
	if (hi < r->hi)
		r->hi = hi;
}

/* `value < 8.00` and friends, as an inclusive range; an impossible one becomes {1, 0}. */
static enum pr parse_compare(struct parser *p, const struct field_desc *fd)
{
	enum cw_tok_type op = p->tok.type;
	if (op != TK_LT && op != TK_LE && op != TK_GT && op != TK_GE && op != TK_EQ) {
		char e[64];
		snprintf(e, sizeof(e), "<, <=, >, >= or = after `%s`", fd->name);
		return unexpected(p, e);
	}
	advance(p);
	uint64_t x;
	enum pr r = fd->kind == K_QTY ? parse_uint(p, "quantity", 0, UINT32_MAX, &x)
				      : parse_money(p, fd->name, &x);
	if (r != PR_OK)
		return r;
	uint64_t lo = 0, hi = UINT64_MAX;
	switch (op) {
	case TK_LT:
		if (x == 0)
			lo = 1, hi = 0;
		else
			hi = x - 1;
		break;
	case TK_LE:
		hi = x;
		break;
	case TK_GT:
		if (x == UINT64_MAX)
			lo = 1, hi = 0;
		else
			lo = x + 1;
		break;
	case TK_GE:
		lo = x;
		break;
	default:
		lo = hi = x;
		break;
	}
	struct conds *c = &p->c;
	struct cw_u64range *t = fd->kind == K_QTY ? &c->quantity
				: fd->slot == 0	  ? &c->value
				: fd->slot == 1	  ? &c->total_value
						  : &c->unit_value;
	narrow(t, lo, hi);
	if (fd->kind == K_MONEY && fd->slot == 2)
		c->has_unit_value = true;
	return PR_OK;
}

static const struct field_desc *find_field(const struct parser *p)
{
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (tok_is(p, fields[i].name))
			return &fields[i];
	return NULL;
}

static enum pr parse_condition(struct parser *p)
{
	if (p->tok.type != TK_WORD)
		return unexpected(p, "a condition (hs, origin, value, ...)");
	const struct field_desc *fd = find_field(p);
	if (!fd) {
		cw_lex_error(&p->lx, &p->tok,
			     "unknown condition %s (hs, origin, country, class, declarant, owner, "
			     "trade_mode, port, transport, direction, msg, doc, nodoc, value, ...)",
			     describe(p, &p->tok));
		return PR_ABORT;
	}
	advance(p);
	struct conds *c = &p->c;
	enum pr r;
	int i;
	switch (fd->kind) {
	case K_DIR:
		r = parse_name(p, (const char *const[]){NULL, "import", "export"}, 3, "direction",
			       "import, export", &i);
		if (r == PR_OK)
			c->dir_mask &= (uint8_t)(1u << i);
		return r;
	case K_MSG:
		r = parse_name(p, (const char *const[]){"decl", "list"}, 2, "message kind",
			       "decl, list", &i);
		if (r == PR_OK)
			c->msg_mask &= (uint8_t)(1u << i);
		return r;
	case K_DOC:
	case K_NODOC:
		r = parse_doc(p, &i);
		if (r == PR_OK)
			*(fd->kind == K_DOC ? &c->doc_set : &c->doc_clear) |= (uint8_t)(1u << i);
		return r;
	case K_MONEY:
	case K_QTY:
		return parse_compare(p, fd);
	default:
		break;
	}
	r = parse_values(p, fd);
	if (r != PR_OK)
		return r;
	if (fd->kind == K_HS)
		return apply_hs(p) ? PR_OK : PR_ABORT;
	if (fd->kind == K_CLASS) {
		uint8_t m = 0;
		for (uint32_t k = 0; k < p->n_tmp; k++)
			m |= (uint8_t)(1u << p->tmp[k]);
		c->class_mask &= m;
		return PR_OK;
	}
	return apply_list(p, &c->f[fd->slot]) ? PR_OK : PR_ABORT;
}

static void conds_reset(struct conds *c)
{
	c->hs.set = false;
	c->hs.n = 0;
	for (int i = 0; i < F_NUM; i++)
		c->f[i].set = false, c->f[i].n = 0;
	c->value = c->total_value = c->unit_value = c->quantity = CW_RANGE_ANY;
	c->has_unit_value = false;
	c->class_mask = CW_CLASS_ALL;
	c->dir_mask = CW_DIR_ALL;
	c->msg_mask = CW_MSG_ALL;
	c->doc_set = c->doc_clear = 0;
}

static void conds_free(struct conds *c)
{
	free(c->hs.v);
	for (int i = 0; i < F_NUM; i++)
		free(c->f[i].v);
}

static bool conds_never(const struct conds *c)
{
	if (!c->class_mask || !c->dir_mask || !c->msg_mask || (c->doc_set & c->doc_clear))
		return true;
	if (c->value.lo > c->value.hi || c->total_value.lo > c->total_value.hi ||
	    c->unit_value.lo > c->unit_value.hi || c->quantity.lo > c->quantity.hi ||
	    c->quantity.lo > UINT32_MAX)
		return true;
	if (c->hs.set && !c->hs.n)
		return true;
	for (int i = F_ORIGIN; i < F_NUM; i++)
		if (c->f[i].set && !c->f[i].n)
			return true;
	return false;
}

static uint64_t mul_sat(uint64_t a, uint64_t b)
{
	return b && a > UINT64_MAX / b ? UINT64_MAX : a * b;
}

/* Copies the narrowed lists into the rule set's pools. */
static bool commit_lists(struct parser *p, struct cw_rule *r)
{
	struct cw_ruleset *rs = p->rs;
	struct conds *c = &p->c;
	uint64_t expanded = 1;
	if (c->hs.set) {
		if (!grow((void **)&rs->hs_ranges, &p->cap_hs, (uint64_t)rs->n_hs_ranges + c->hs.n,
			  sizeof(*rs->hs_ranges)))
			return false;
		memcpy(rs->hs_ranges + rs->n_hs_ranges, c->hs.v,
		       (size_t)c->hs.n * sizeof(*c->hs.v));
		r->hs = (struct cw_list){rs->n_hs_ranges, c->hs.n};
		rs->n_hs_ranges += c->hs.n;
		expanded = mul_sat(expanded, c->hs.n);
	}
	struct cw_list *lists[F_NUM] = {
	    [F_ORIGIN] = &r->origin,	     [F_COUNTRY] = &r->country,
	    [F_DECLARANT] = &r->declarant,   [F_OWNER] = &r->owner,
	    [F_TRADE_MODE] = &r->trade_mode, [F_PORT] = &r->port,
	    [F_TRANSPORT] = &r->transport,
	};
	for (int i = F_ORIGIN; i < F_NUM; i++) {
		struct fset *f = &c->f[i];
		if (!f->set)
			continue;
		if (i == F_DECLARANT || i == F_OWNER) {
			if (!grow((void **)&rs->u32, &p->cap_u32, (uint64_t)rs->n_u32 + f->n,
				  sizeof(*rs->u32)))
				return false;
			memcpy(rs->u32 + rs->n_u32, f->v, (size_t)f->n * sizeof(*f->v));
			*lists[i] = (struct cw_list){rs->n_u32, f->n};
			rs->n_u32 += f->n;
		} else {
			if (!grow((void **)&rs->u16, &p->cap_u16, (uint64_t)rs->n_u16 + f->n,
				  sizeof(*rs->u16)))
				return false;
			for (uint32_t k = 0; k < f->n; k++)
				rs->u16[rs->n_u16 + k] = (uint16_t)f->v[k];
			*lists[i] = (struct cw_list){rs->n_u16, f->n};
			rs->n_u16 += f->n;
		}
		expanded = mul_sat(expanded, f->n);
	}
	r->expanded = expanded;
	return true;
}

static enum pr commit_rule(struct parser *p, struct cw_rule *r, const struct cw_tok *kw)
{
	struct cw_ruleset *rs = p->rs;
	struct conds *c = &p->c;
	r->never = conds_never(c);
	if (!r->never) {
		r->class_mask = c->class_mask;
		r->dir_mask = c->dir_mask;
		r->msg_mask = c->msg_mask;
		r->doc_set = c->doc_set;
		r->doc_clear = c->doc_clear;
		r->value = c->value;
		r->total_value = c->total_value;
		r->unit_value = c->unit_value;
		r->quantity = c->quantity;
		r->has_unit_value = c->has_unit_value;
		if (!commit_lists(p, r)) {
			oom(p);
			return PR_ABORT;
		}
	}
	if (r->expanded > CW_MAX_EXPANDED - (rs->n_expanded < CW_MAX_EXPANDED ? rs->n_expanded
									      : CW_MAX_EXPANDED)) {
		if (!p->expansion_reported)
			cw_lex_error(&p->lx, kw,
				     "too many rules after `in` expansion: more than %u (this rule "
				     "alone makes %llu)",
				     (unsigned)CW_MAX_EXPANDED, (unsigned long long)r->expanded);
		p->expansion_reported = true;
		return PR_BAD;
	}
	if (!grow((void **)&rs->rules, &p->cap_rules, (uint64_t)rs->n_rules + 1,
		  sizeof(*rs->rules))) {
		oom(p);
		return PR_ABORT;
	}
	rs->rules[rs->n_rules++] = *r;
	rs->n_expanded += r->expanded;
	return PR_OK;
}

/* The text of a reason: UTF-8, no control characters, at most MAX_REASON bytes. */
static enum pr parse_reason(struct parser *p, uint32_t *off)
{
	*off = UINT32_MAX;
	if (p->tok.type != TK_STRING)
		return unexpected(p, "a reason in double quotes");
	const unsigned char *s = (const unsigned char *)p->lx.s + p->tok.off + 1;
	size_t n = p->tok.len - 2;
	const char *bad = NULL;
	if (n > MAX_REASON)
		bad = "reason longer than 255 bytes";
	for (size_t i = 0; !bad && i < n;) {
		size_t k = 0;
		uint32_t cp = 0;
		if (s[i] < 0x80) {
			k = 1, cp = s[i];
		} else if (s[i] >= 0xC2 && s[i] <= 0xF4) {
			k = s[i] < 0xE0 ? 2 : s[i] < 0xF0 ? 3 : 4;
			cp = s[i] & (0x7F >> k);
			for (size_t j = 1; k && j < k; j++) {
				if (i + j >= n || (s[i + j] & 0xC0) != 0x80)
					k = 0;
				else
					cp = cp << 6 | (s[i + j] & 0x3F);
			}
			if (k && ((k == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
				  (k == 4 && (cp < 0x10000 || cp > 0x10FFFF))))
				k = 0;
		}
		if (!k)
			bad = "reason is not valid UTF-8";
		else if (cp < 0x20 || cp == 0x7F)
			bad = "control character (such as a tab) in a reason";
		i += k ? k : 1;
	}
	if (bad) {
		cw_lex_error(&p->lx, &p->tok, "%s", bad);
		advance(p);
		return PR_BAD;
	}
	struct cw_ruleset *rs = p->rs;
	uint32_t cap = p->cap_strings;
	if (rs->strings_len + n + 1 > UINT32_MAX ||
	    !grow((void **)&rs->strings, &cap, rs->strings_len + n + 1, 1)) {
		oom(p);
		return PR_ABORT;
	}
	p->cap_strings = cap;
	*off = (uint32_t)rs->strings_len;
	memcpy(rs->strings + rs->strings_len, s, n);
	rs->strings[rs->strings_len + n] = 0;
	rs->strings_len += n + 1;
	advance(p);
	return PR_OK;
}

static enum pr stmt_rule(struct parser *p, const struct cw_tok *kw)
{
	struct cw_rule r;
	memset(&r, 0, sizeof(r));
	r.reason = UINT32_MAX;
	r.line = kw->line;
	enum pr res = PR_OK, x;
	struct cw_tok idt = p->tok;
	uint64_t id;
	x = parse_uint(p, "rule id", 1, UINT32_MAX, &id);
	if (x == PR_ABORT)
		return x;
	if (x == PR_OK) {
		uint32_t first;
		int k = idmap_put(&p->rule_ids, id, kw->line, &first);
		if (k < 0) {
			oom(p);
			return PR_ABORT;
		}
		if (k == 0) {
			cw_lex_error(&p->lx, &idt, "duplicate rule id %llu (first at line %u)",
				     (unsigned long long)id, (unsigned)first);
			res = PR_BAD;
		}
		r.id = (uint32_t)id;
	} else {
		res = PR_BAD;
	}
	bool has_prio = false, has_mode = false, has_reason = false;
	while (p->tok.type == TK_WORD && !tok_is(p, "when")) {
		bool *seen;
		const char *name;
		if (tok_is(p, "priority"))
			seen = &has_prio, name = "priority";
		else if (tok_is(p, "mode"))
			seen = &has_mode, name = "mode";
		else if (tok_is(p, "reason"))
			seen = &has_reason, name = "reason";
		else if (find_field(p))
			return unexpected(p, "`when` before the conditions");
		else
			return unexpected(p, "priority, mode, reason or when");
		if (once(p, seen, name) != PR_OK)
			res = PR_BAD;
		advance(p);
		uint64_t v = 0;
		if (name[0] == 'p') {
			x = parse_uint(p, "priority", 0, UINT16_MAX, &v);
			r.priority = (uint16_t)v;
		} else if (name[0] == 'm') {
			x = parse_mode(p, &r.mode);
		} else {
			x = parse_reason(p, &r.reason);
		}
		if (x == PR_ABORT)
			return x;
		if (x == PR_BAD)
			res = PR_BAD;
	}
	if (!has_mode) {
		cw_lex_error(&p->lx, &p->tok,
			     "missing `mode`: a rule is rule ID [priority N] mode MODE "
			     "[reason \"TEXT\"] when COND");
		res = PR_BAD;
	}
	if (!tok_is(p, "when")) {
		if (p->tok.type == TK_EOS) {
			cw_lex_error(&p->lx, &p->tok,
				     "missing `when`: a rule needs at least one condition");
			return PR_ABORT;
		}
		return unexpected(p, "`when`");
	}
	advance(p);
	conds_reset(&p->c);
	for (;;) {
		x = parse_condition(p);
		if (x == PR_ABORT)
			return x;
		if (x == PR_BAD)
			res = PR_BAD;
		if (tok_is(p, "and")) {
			advance(p);
		} else if (p->tok.type == TK_EOS) {
			break;
		} else if (tok_is(p, "or")) {
			cw_lex_error(&p->lx, &p->tok,
				     "`or` is not part of the language: use `in (...)` or write a "
				     "second rule");
			return PR_ABORT;
		} else {
			return unexpected(p, "`and` or the end of the rule");
		}
	}
	if (res != PR_OK)
		return res;
	return commit_rule(p, &r, kw);
}

/* ---- driver ---- */

static void parse_statement(struct parser *p)
{
	cw_lex_begin_statement(&p->lx);
	advance(p);
	struct cw_tok kw = p->tok;
	enum pr r;
	if (p->tok.type != TK_WORD) {
		r = unexpected(p, "a statement (version, salt, limit, class, profile or rule)");
	} else {
		enum pr (*fn)(struct parser *, const struct cw_tok *) = NULL;
		if (tok_is(p, "version"))
			fn = stmt_version;
		else if (tok_is(p, "salt"))
			fn = stmt_salt;
		else if (tok_is(p, "limit"))
			fn = stmt_limit;
		else if (tok_is(p, "class"))
			fn = stmt_class;
		else if (tok_is(p, "profile"))
			fn = stmt_profile;
		else if (tok_is(p, "rule"))
			fn = stmt_rule;
		if (fn) {
			advance(p);
			r = fn(p, &kw);
		} else {
			cw_lex_error(&p->lx, &p->tok,
				     "unknown keyword %s: a statement starts with version, salt, "
				     "limit, class, profile or rule",
				     describe(p, &p->tok));
			r = PR_ABORT;
		}
	}
	if (r != PR_ABORT && p->tok.type != TK_EOS)
		unexpected(p, "the end of the statement");
	/* skip what is left of a broken statement; its lexical errors were not the first one */
	p->lx.quiet = true;
	while (p->tok.type != TK_EOS)
		advance(p);
	p->lx.quiet = false;
}

static void set_defaults(struct cw_ruleset *rs)
{
	static const uint8_t modes[CW_NUM_CLASSES] = {CWP_MODE_DECLARE,	  CWP_MODE_DECLARE,
						      CWP_MODE_VERIFY,	  CWP_MODE_SAMPLE,
						      CWP_MODE_SUPERVISE, CWP_MODE_SUPERVISE};
	for (int i = 0; i < CW_NUM_CLASSES; i++)
		rs->cls[i] = (struct cw_class_policy){modes[i], 0};
	rs->limit_single = 500000;
	rs->limit_annual = 2600000;
	rs->tolerance_bp = 0;
}

/* ---- incremental parse (cw_ruleset_parse_delta) ----
 *
 * A rule set that goes live while 100 k rules are loaded must not wait for the whole text to be
 * parsed again (DESIGN §8: <= 20 ms). The parse that made the active rule set recorded where each
 * rule and profile statement sits in its text (the memo); the next parse splits its text into
 * statements by layout alone (cw_lex_statement_end), and a rule or profile statement whose bytes
 * equal one of the base's is taken over from the base rule set instead of being read: the same
 * bytes at another line give the same result apart from the line. Everything whole-file is
 * still checked here (duplicate ids and prefixes, the expansion and profile limits; version,
 * salt, limit and class statements are always parsed), and USCCs are interned in the order the
 * statement would intern them (the memo's log), so the pools come out byte-identical to a full
 * parse. Any error at all throws the attempt away and a full parse reports, so errors are the
 * full parse's own. */

/* One rule or profile statement of a parsed text. */
struct memo_stmt {
	uint64_t key;	  /* the rule id, or the profile's key in p->prefixes */
	uint32_t off;	  /* where it starts in the text */
	uint32_t len;	  /* up to the next statement: its comments and blank lines belong to it */
	uint32_t lines;	  /* line ends in it */
	uint32_t item;	  /* index into rs->rules or rs->profiles */
	uint32_t log_off; /* the USCCs it interned, in order: memo->log[log_off, +log_n) */
	uint32_t log_n;
	bool rule;  /* else a profile */
	bool taken; /* taken over from the base (else parsed) */
};

struct cw_parse_memo {
	const char *text; /* the buffer it was made from (only compared with base_text) */
	size_t text_len;
	struct memo_stmt *v; /* in text order */
	uint32_t n, cap;
	uint32_t *log; /* indices into rs->uscc */
	uint32_t n_log, cap_log;
	bool bad; /* something could not be recorded: do not keep it */
};

/* The base an incremental parse takes statements from. */
struct reuse {
	const struct cw_ruleset *rs;
	const struct cw_parse_memo *m;
	const char *text;
	uint32_t cursor;		/* the base statement expected next */
	uint32_t misses;		/* statements not found near the cursor */
	bool *used_rule, *used_profile; /* taken over: each base statement once */
	uint32_t *slots;		/* by stmt_hash, index + 1 into m->v; built on demand */
	size_t mask;
	uint32_t *copied; /* per new rule index: the base rule taken over, or none */
	uint32_t cap_copied;
	bool copied_oom;
	struct cw_parse_spare *spare; /* arrays to fill instead of fresh ones, or NULL */
};

/* Statements compared with those just after the cursor, and misses before the hash table is
 * built: edits of a few statements never pay for the table, moved blocks do once. */
#define REUSE_WINDOW	  4
#define REUSE_TABLE_AFTER 16

static void memo_free(struct cw_parse_memo *m)
{
	if (!m)
		return;
	free(m->v);
	free(m->log);
	free(m);
}

static bool memo_log_uscc(struct parser *p, uint32_t index)
{
	struct cw_parse_memo *m = p->memo;
	if (!m)
		return true;
	if (!grow((void **)&m->log, &m->cap_log, (uint64_t)m->n_log + 1, sizeof(*m->log)))
		return false;
	m->log[m->n_log++] = index;
	return true;
}

/* The index of an interned USCC, or -1. */
static int64_t find_uscc(const struct parser *p, const char *s)
{
	const struct cw_ruleset *rs = p->rs;
	if (!p->uscc_slots)
		return -1;
	for (size_t j = uscc_hash(s) & p->uscc_mask; p->uscc_slots[j]; j = (j + 1) & p->uscc_mask)
		if (!memcmp(rs->uscc[p->uscc_slots[j] - 1], s, 18))
			return p->uscc_slots[j] - 1;
	return -1;
}

/* The start (keyword and id or prefix), the end and the length: enough to spread statements;
 * a match is always confirmed on the whole text. */
static uint32_t stmt_hash(const char *s, size_t n)
{
	uint64_t h = n, w;
	size_t k = n < 24 ? n : 24;
	for (size_t i = 0; i < k; i += 8) {
		w = 0;
		memcpy(&w, s + i, k - i < 8 ? k - i : 8);
		h = (h ^ w) * 0x9E3779B97F4A7C15ULL;
	}
	if (n > 8) {
		memcpy(&w, s + n - 8, 8);
		h = (h ^ w) * 0x9E3779B97F4A7C15ULL;
	}
	return (uint32_t)mix64(h);
}

static bool reuse_table(struct reuse *ru)
{
	size_t cap = 1024;
	while (cap < (size_t)ru->m->n * 2)
		cap *= 2;
	ru->slots = calloc(cap, sizeof(*ru->slots));
	if (!ru->slots)
		return false;
	ru->mask = cap - 1;
	for (uint32_t i = 0; i < ru->m->n; i++) {
		const struct memo_stmt *e = &ru->m->v[i];
		size_t j = stmt_hash(ru->text + e->off, e->len) & ru->mask;
		while (ru->slots[j])
			j = (j + 1) & ru->mask;
		ru->slots[j] = i + 1;
	}
	return true;
}

static bool same_stmt(struct reuse *ru, const struct memo_stmt *e, const char *s, uint32_t len,
		      bool rule)
{
	bool *used = rule ? ru->used_rule : ru->used_profile;
	if (e->len != len || e->rule != rule || used[e->item] || memcmp(ru->text + e->off, s, len))
		return false;
	used[e->item] = true;
	return true;
}

/* The base statement with exactly this text, not taken yet; NULL if none. */
static const struct memo_stmt *find_base(struct reuse *ru, const char *s, uint32_t len, bool rule)
{
	const struct cw_parse_memo *m = ru->m;
	for (uint32_t d = 0; d < REUSE_WINDOW && ru->cursor + d < m->n; d++) {
		const struct memo_stmt *e = &m->v[ru->cursor + d];
		if (same_stmt(ru, e, s, len, rule)) {
			ru->cursor += d + 1;
			return e;
		}
	}
	if (++ru->misses < REUSE_TABLE_AFTER || (!ru->slots && !reuse_table(ru)))
		return NULL;
	for (size_t j = stmt_hash(s, len) & ru->mask; ru->slots[j]; j = (j + 1) & ru->mask) {
		const struct memo_stmt *e = &m->v[ru->slots[j] - 1];
		if (same_stmt(ru, e, s, len, rule)) {
			ru->cursor = (uint32_t)(e - m->v) + 1;
			return e;
		}
	}
	return NULL;
}

/* Appends a base list to the pool of the same kind (kind 0 hs, 1 u16, 2 USCC). */
static bool reuse_list_copy(struct parser *p, struct cw_list *l, int kind)
{
	const struct cw_ruleset *b = p->ru->rs;
	struct cw_ruleset *rs = p->rs;
	if (kind == 0) {
		if (!grow((void **)&rs->hs_ranges, &p->cap_hs, (uint64_t)rs->n_hs_ranges + l->n,
			  sizeof(*rs->hs_ranges)))
			return false;
		for (uint32_t i = 0; i < l->n; i++) /* a few: a loop beats a memcpy call */
			rs->hs_ranges[rs->n_hs_ranges + i] = b->hs_ranges[l->off + i];
		l->off = rs->n_hs_ranges;
		rs->n_hs_ranges += l->n;
		return true;
	}
	if (kind == 1) {
		if (!grow((void **)&rs->u16, &p->cap_u16, (uint64_t)rs->n_u16 + l->n,
			  sizeof(*rs->u16)))
			return false;
		for (uint32_t i = 0; i < l->n; i++)
			rs->u16[rs->n_u16 + i] = b->u16[l->off + i];
		l->off = rs->n_u16;
		rs->n_u16 += l->n;
		return true;
	}
	if (!grow((void **)&rs->u32, &p->cap_u32, (uint64_t)rs->n_u32 + l->n, sizeof(*rs->u32)))
		return false;
	uint32_t *v = rs->u32 + rs->n_u32;
	for (uint32_t i = 0; i < l->n; i++) {
		/* the statement's log interned it already; the list is sorted by the new index */
		int64_t k = find_uscc(p, b->uscc[b->u32[l->off + i]]);
		if (k < 0)
			return false;
		uint32_t j = i;
		for (; j && v[j - 1] > (uint32_t)k; j--)
			v[j] = v[j - 1];
		v[j] = (uint32_t)k;
	}
	l->off = rs->n_u32;
	rs->n_u32 += l->n;
	return true;
}

static inline bool reuse_list(struct parser *p, struct cw_list *l, int kind)
{
	return !l->n || reuse_list_copy(p, l, kind); /* most lists of a rule are empty */
}

/* Takes base rule e->item over as the rule of the statement at `line`. False: an error was
 * recorded (the caller's full parse will report it). */
/* Remembers that new rule `i` is base rule `b` taken over byte for byte: the snapshot's delta
 * build then need not compare the two. Out of memory here only loses that shortcut. */
static void note_copied(struct reuse *ru, uint32_t i, uint32_t b)
{
	if (ru->copied_oom)
		return;
	if (i >= ru->cap_copied) {
		uint32_t cap = ru->cap_copied ? ru->cap_copied : 1024;
		while (cap <= i)
			cap *= 2;
		uint32_t *v = realloc(ru->copied, sizeof(uint32_t) * cap);
		if (!v) {
			ru->copied_oom = true;
			return;
		}
		for (uint32_t k = ru->cap_copied; k < cap; k++)
			v[k] = UINT32_MAX;
		ru->copied = v;
		ru->cap_copied = cap;
	}
	ru->copied[i] = b;
}

/* Appends a rule taken over. At 100 k rules the new rule array is 17 MB that nothing reads
 * again soon (a delta build looks at the changed rules only): on x86-64 it is written with
 * non-temporal stores, which skip reading each cache line in before writing it (deltaprof
 * --parse-only at 100 k rules: 5.4-6.0 ms -> 4.4-5.1 ms). parse_text fences them. */
static inline void store_rule(struct cw_rule *dst, const struct cw_rule *src)
{
#if defined(__x86_64__) && defined(__SSE2__)
	_Static_assert(sizeof(*src) % 8 == 0 && _Alignof(struct cw_rule) >= 8, "8-byte words");
	const long long *s = (const long long *)src;
	long long *d = (long long *)dst;
	for (size_t i = 0; i < sizeof(*src) / 8; i++)
		_mm_stream_si64(d + i, s[i]);
#else
	*dst = *src;
#endif
}

static bool reuse_rule(struct parser *p, const struct memo_stmt *e, uint32_t line)
{
	const struct cw_ruleset *b = p->ru->rs;
	const struct cw_parse_memo *bm = p->ru->m;
	struct cw_ruleset *rs = p->rs;
	struct cw_rule r = b->rules[e->item];
	r.line = line;
	for (uint32_t k = 0; k < e->log_n; k++)
		if (intern_uscc(p, b->uscc[bm->log[e->log_off + k]]) < 0)
			goto oom;
	if (r.reason != UINT32_MAX) {
		const char *t = b->strings + r.reason;
		size_t n = strlen(t) + 1;
		uint32_t cap = p->cap_strings;
		if (rs->strings_len + n > UINT32_MAX ||
		    !grow((void **)&rs->strings, &cap, rs->strings_len + n, 1))
			goto oom;
		p->cap_strings = cap;
		memcpy(rs->strings + rs->strings_len, t, n);
		r.reason = (uint32_t)rs->strings_len;
		rs->strings_len += n;
	}
	if (!r.never && (!reuse_list(p, &r.hs, 0) || !reuse_list(p, &r.origin, 1) ||
			 !reuse_list(p, &r.country, 1) || !reuse_list(p, &r.declarant, 2) ||
			 !reuse_list(p, &r.owner, 2) || !reuse_list(p, &r.trade_mode, 1) ||
			 !reuse_list(p, &r.port, 1) || !reuse_list(p, &r.transport, 1)))
		goto oom;
	if (r.expanded > CW_MAX_EXPANDED - (rs->n_expanded < CW_MAX_EXPANDED ? rs->n_expanded
									     : CW_MAX_EXPANDED)) {
		cw_lex_error_at(&p->lx, line, 1, "too many rules after `in` expansion");
		return false;
	}
	if (!grow((void **)&rs->rules, &p->cap_rules, (uint64_t)rs->n_rules + 1,
		  sizeof(*rs->rules)))
		goto oom;
	store_rule(&rs->rules[rs->n_rules++], &r);
	rs->n_expanded += r.expanded;
	note_copied(p->ru, rs->n_rules - 1, e->item);
	return true;
oom:
	oom(p);
	return false;
}

static bool reuse_profile(struct parser *p, const struct memo_stmt *e, uint32_t line)
{
	struct cw_ruleset *rs = p->rs;
	if (rs->n_profiles >= CW_MAX_PROFILES) {
		cw_lex_error_at(&p->lx, line, 1, "too many profiles");
		return false;
	}
	if (!grow((void **)&rs->profiles, &p->cap_profiles, (uint64_t)rs->n_profiles + 1,
		  sizeof(*rs->profiles))) {
		oom(p);
		return false;
	}
	struct cw_profile *pf = &rs->profiles[rs->n_profiles++];
	*pf = p->ru->rs->profiles[e->item];
	pf->line = line;
	return true;
}

static bool idmap_has(const struct idmap *m, uint64_t key)
{
	if (!m->keys)
		return false;
	for (size_t j = mix64(key) & m->mask; m->keys[j]; j = (j + 1) & m->mask)
		if (m->keys[j] == key)
			return true;
	return false;
}

static uint64_t profile_key(const struct cw_profile *pf)
{
	uint64_t v = 0;
	word_uint(pf->prefix, pf->len, &v);
	return v << 4 | pf->len; /* as stmt_profile keys p->prefixes */
}

/* Rules and profiles taken over are unique among themselves (they were in the base, each is
 * taken once); only those that were parsed are in p->rule_ids and p->prefixes. A clash
 * between the two groups is a duplicate. */
static void reuse_check_duplicates(struct parser *p)
{
	const struct cw_parse_memo *m = p->memo;
	if (m->bad) { /* the record is incomplete: let the full parse judge */
		cw_lex_error_at(&p->lx, 1, 1, "incomplete record");
		return;
	}
	if (!p->rule_ids.n && !p->prefixes.n)
		return;
	for (uint32_t i = 0; i < m->n; i++) {
		const struct memo_stmt *e = &m->v[i];
		if (e->taken && idmap_has(e->rule ? &p->rule_ids : &p->prefixes, e->key)) {
			cw_lex_error_at(&p->lx, 1, 1, "duplicate");
			return;
		}
	}
}

static bool is_word(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

/* s starts with the keyword w of length k (a constant: the compare is inlined). */
static inline bool starts_with_word(const char *s, size_t n, const char *w, size_t k)
{
	return n >= k && !memcmp(s, w, k) && (n == k || !is_word(s[k]));
}

/* One statement with the memo kept: rule and profile statements are recorded (and taken from
 * the base when their text is there); the others are parsed as usual. */
static void memo_statement(struct parser *p)
{
	struct cw_lexer *lx = &p->lx;
	struct cw_ruleset *rs = p->rs;
	struct cw_parse_memo *m = p->memo;
	size_t start = lx->pos;
	uint32_t line = lx->line, lines;
	size_t end = cw_lex_statement_end(lx, &lines);
	const char *s = lx->s + start;
	uint32_t n = (uint32_t)(end - start);
	bool rule = starts_with_word(s, n, "rule", 4);
	if (!rule && !starts_with_word(s, n, "profile", 7)) {
		parse_statement(p);
		return;
	}
	struct memo_stmt e = {
	    .off = (uint32_t)start, .len = n, .lines = lines, .rule = rule, .log_off = m->n_log};
	const struct memo_stmt *be = p->ru ? find_base(p->ru, s, n, rule) : NULL;
	if (be) {
		bool ok = rule ? reuse_rule(p, be, line) : reuse_profile(p, be, line);
		cw_lex_skip_statement(lx, end, lines);
		if (!ok)
			return;
	} else {
		uint32_t items = rule ? rs->n_rules : rs->n_profiles, errors = lx->n_errors;
		parse_statement(p);
		if (lx->n_errors != errors)
			return;
		/* cannot happen: the lexer ends statements where cw_lex_statement_end does */
		if (lx->pos != end || (rule ? rs->n_rules : rs->n_profiles) != items + 1)
			m->bad = true;
	}
	e.item = (rule ? rs->n_rules : rs->n_profiles) - 1;
	e.taken = be != NULL;
	e.key = be ? be->key : rule ? rs->rules[e.item].id : profile_key(&rs->profiles[e.item]);
	e.log_n = m->n_log - e.log_off;
	if (!grow((void **)&m->v, &m->cap, (uint64_t)m->n + 1, sizeof(*m->v)))
		m->bad = true;
	else
		m->v[m->n++] = e;
}

/* Room for a rule set the size of the base, so that nothing is copied while it grows. */
static bool presize(struct parser *p, const struct reuse *ru)
{
	const struct cw_ruleset *b = ru->rs;
	struct cw_ruleset *rs = p->rs;
	uint32_t cap_strings = p->cap_strings;
	bool ok =
	    grow((void **)&rs->rules, &p->cap_rules, b->n_rules, sizeof(*rs->rules)) &&
	    grow((void **)&rs->profiles, &p->cap_profiles, b->n_profiles, sizeof(*rs->profiles)) &&
	    grow((void **)&rs->hs_ranges, &p->cap_hs, b->n_hs_ranges, sizeof(*rs->hs_ranges)) &&
	    grow((void **)&rs->u16, &p->cap_u16, b->n_u16, sizeof(*rs->u16)) &&
	    grow((void **)&rs->u32, &p->cap_u32, b->n_u32, sizeof(*rs->u32)) &&
	    grow((void **)&rs->uscc, &p->cap_uscc, b->n_uscc, sizeof(*rs->uscc)) &&
	    (b->strings_len > UINT32_MAX ||
	     grow((void **)&rs->strings, &cap_strings, b->strings_len, 1)) &&
	    grow((void **)&p->memo->v, &p->memo->cap, ru->m->n, sizeof(*p->memo->v)) &&
	    grow((void **)&p->memo->log, &p->memo->cap_log, ru->m->n_log, sizeof(*p->memo->log));
	p->cap_strings = cap_strings;
	return ok;
}

/* ---- spare arrays (cw_parse_spare) ----
 *
 * An incremental parse at 100 k rules fills about 25 MB of new arrays (the rules alone are
 * 168 bytes each). Fresh memory from malloc is faulted in page by page as it is first written:
 * ~6 000 page faults, 5-15 ms on the 2-core test machine - as much as the parse itself, and on
 * the activation path. A spare is the same arrays, allocated and written once while the compile
 * thread is idle; the parse that takes it finds its pages present. Capacities follow grow()'s
 * rule, so presize() leaves the arrays as they are. */

enum {
	SP_RULES,
	SP_PROFILES,
	SP_HS,
	SP_U16,
	SP_U32,
	SP_USCC,
	SP_STRINGS,
	SP_MEMO,
	SP_LOG,
	SP_COPIED,
	SP_USED_RULE,
	SP_USED_PROFILE,
	SP_N
};

struct cw_parse_spare {
	struct {
		void *p;	/* NULL until cw_parse_spare_touch allocates it */
		uint32_t cap;	/* elements */
		size_t elem;	/* bytes per element */
		size_t touched; /* bytes written so far */
	} a[SP_N];
};

/* The capacity grow() gives an array that must hold `need` elements. */
static uint32_t grown_cap(uint64_t need)
{
	uint64_t c = 16;
	while (c < need)
		c *= 2;
	return c > UINT32_MAX ? UINT32_MAX : (uint32_t)c;
}

struct cw_parse_spare *cw_parse_spare_new(const struct cw_ruleset *like)
{
	struct cw_parse_spare *sp = calloc(1, sizeof(*sp));
	if (!sp)
		return NULL;
	const struct cw_parse_memo *m = like->memo;
	const uint64_t need[SP_N] = {[SP_RULES] = like->n_rules,
				     [SP_PROFILES] = like->n_profiles,
				     [SP_HS] = like->n_hs_ranges,
				     [SP_U16] = like->n_u16,
				     [SP_U32] = like->n_u32,
				     [SP_USCC] = like->n_uscc,
				     [SP_STRINGS] = like->strings_len,
				     [SP_MEMO] = m ? m->n : 0,
				     [SP_LOG] = m ? m->n_log : 0,
				     [SP_COPIED] = like->n_rules,
				     [SP_USED_RULE] = like->n_rules + 1,
				     [SP_USED_PROFILE] = like->n_profiles + 1};
	const size_t elem[SP_N] = {[SP_RULES] = sizeof(struct cw_rule),
				   [SP_PROFILES] = sizeof(struct cw_profile),
				   [SP_HS] = sizeof(struct cw_u64range),
				   [SP_U16] = sizeof(uint16_t),
				   [SP_U32] = sizeof(uint32_t),
				   [SP_USCC] = 18,
				   [SP_STRINGS] = 1,
				   [SP_MEMO] = sizeof(struct memo_stmt),
				   [SP_LOG] = sizeof(uint32_t),
				   [SP_COPIED] = sizeof(uint32_t),
				   [SP_USED_RULE] = sizeof(bool),
				   [SP_USED_PROFILE] = sizeof(bool)};
	for (int k = 0; k < SP_N; k++) {
		sp->a[k].cap = need[k] ? grown_cap(need[k]) : 0;
		sp->a[k].elem = elem[k];
	}
	return sp;
}

bool cw_parse_spare_touch(struct cw_parse_spare *sp, size_t bytes)
{
	for (int k = 0; k < SP_N; k++) {
		size_t size = (size_t)sp->a[k].cap * sp->a[k].elem;
		if (!size || sp->a[k].touched == size)
			continue;
		if (!sp->a[k].p && !(sp->a[k].p = malloc(size))) {
			sp->a[k].cap = 0; /* the parse allocates this one itself */
			continue;
		}
		char *p = sp->a[k].p;
		size_t end = size - sp->a[k].touched > bytes ? sp->a[k].touched + bytes : size;
		for (size_t o = sp->a[k].touched; o < end; o += 4096)
			p[o] = 0; /* one write a page faults it in */
		bytes -= end - sp->a[k].touched;
		sp->a[k].touched = end;
		if (!bytes)
			return false;
	}
	return true;
}

void cw_parse_spare_free(struct cw_parse_spare *sp)
{
	if (!sp)
		return;
	for (int k = 0; k < SP_N; k++)
		free(sp->a[k].p);
	free(sp);
}

/* Hands array k over (NULL when it was never allocated); the spare no longer owns it. */
static void *spare_take(struct cw_parse_spare *sp, int k, uint32_t *cap)
{
	void *p = sp->a[k].p;
	*cap = p ? sp->a[k].cap : 0;
	sp->a[k].p = NULL;
	sp->a[k].cap = 0;
	return p;
}

/* The new rule set and its memo start in the spare's arrays (before presize). */
static void spare_adopt(struct parser *p, struct cw_parse_spare *sp)
{
	struct cw_ruleset *rs = p->rs;
	struct cw_parse_memo *m = p->memo;
	rs->rules = spare_take(sp, SP_RULES, &p->cap_rules);
	rs->profiles = spare_take(sp, SP_PROFILES, &p->cap_profiles);
	rs->hs_ranges = spare_take(sp, SP_HS, &p->cap_hs);
	rs->u16 = spare_take(sp, SP_U16, &p->cap_u16);
	rs->u32 = spare_take(sp, SP_U32, &p->cap_u32);
	rs->uscc = spare_take(sp, SP_USCC, &p->cap_uscc);
	rs->strings = spare_take(sp, SP_STRINGS, &p->cap_strings);
	m->v = spare_take(sp, SP_MEMO, &m->cap);
	m->log = spare_take(sp, SP_LOG, &m->cap_log);
}

/* ---- driver ---- */

static void parser_free(struct parser *p)
{
	idmap_free(&p->rule_ids);
	idmap_free(&p->prefixes);
	free(p->uscc_slots);
	conds_free(&p->c);
	free(p->tmp);
	free(p->tmpr);
	free(p->tmpr2);
	memo_free(p->memo);
	free(p);
}

/* A full parse (ru NULL) or one that takes statements over from ru; with want_memo the result
 * records its statements for the next incremental parse. */
static struct cw_ruleset *parse_text(const char *text, size_t len, struct reuse *ru, bool want_memo,
				     struct cw_parse_errors *errs)
{
	if (errs)
		errs->n = errs->total = 0;
	struct parser *p = calloc(1, sizeof(*p));
	struct cw_ruleset *rs = calloc(1, sizeof(*rs));
	if (!p || !rs) {
		free(p);
		free(rs);
		if (errs && errs->v && errs->cap) {
			errs->v[0] = (struct cw_parse_error){1, 1, "out of memory"};
			errs->n = 1;
		}
		if (errs)
			errs->total = 1;
		return NULL;
	}
	p->rs = rs;
	set_defaults(rs);
	if (!text)
		len = 0;
	if (want_memo && len <= UINT32_MAX && (p->memo = calloc(1, sizeof(*p->memo))))
		p->memo->text = text, p->memo->text_len = len;
	if (ru && ru->spare && p->memo)
		spare_adopt(p, ru->spare);
	if (ru && (!p->memo || !presize(p, ru))) {
		parser_free(p);
		cw_ruleset_free(rs);
		return NULL;
	}
	p->ru = ru;
	cw_lex_init(&p->lx, text ? text : "", len, errs);
	if (!cw_lex_at_statement(&p->lx)) {
		/* lines before the first statement may only hold comments */
		advance(p);
		if (p->tok.type != TK_EOS && p->tok.type != TK_ERR)
			cw_lex_error(&p->lx, &p->tok,
				     "this line starts with white space, so it continues a "
				     "statement, but no statement comes before it");
		p->lx.quiet = true;
		while (p->tok.type != TK_EOS)
			advance(p);
		p->lx.quiet = false;
	}
	while (!p->oom && cw_lex_at_statement(&p->lx)) {
		if (p->memo)
			memo_statement(p);
		else
			parse_statement(p);
	}
#if defined(__x86_64__) && defined(__SSE2__)
	if (ru)
		_mm_sfence(); /* store_rule's stores are done before anyone reads the rules */
#endif
	if (ru && !p->lx.n_errors)
		reuse_check_duplicates(p);
	if (!p->line_version)
		cw_lex_error_at(&p->lx, 1, 1, "missing version: the rule set needs `version N`");
	if (!p->line_salt)
		cw_lex_error_at(&p->lx, 1, 1,
				"missing salt: the rule set needs `salt` and 32 hex digits");
	bool failed = p->lx.n_errors > 0;
	if (!failed && p->memo && !p->memo->bad) {
		rs->memo = p->memo;
		p->memo = NULL;
	}
	parser_free(p);
	if (failed) {
		cw_ruleset_free(rs);
		return NULL;
	}
	return rs;
}

struct cw_ruleset *cw_ruleset_parse(const char *text, size_t len, struct cw_parse_errors *errs)
{
	return parse_text(text, len, NULL, false, errs);
}

/* The incremental parse's own arrays: which base statements were taken (zeroed) and which rule
 * each new rule copied (all "none"), from the spare when it has them. */
static bool reuse_arrays(struct reuse *ru, struct cw_parse_spare *sp)
{
	const struct cw_ruleset *b = ru->rs;
	uint32_t cap = 0;
	if (sp && (ru->used_rule = spare_take(sp, SP_USED_RULE, &cap)) && cap > b->n_rules)
		memset(ru->used_rule, 0, (size_t)b->n_rules + 1);
	else {
		free(ru->used_rule);
		ru->used_rule = calloc((size_t)b->n_rules + 1, sizeof(bool));
	}
	if (sp && (ru->used_profile = spare_take(sp, SP_USED_PROFILE, &cap)) && cap > b->n_profiles)
		memset(ru->used_profile, 0, (size_t)b->n_profiles + 1);
	else {
		free(ru->used_profile);
		ru->used_profile = calloc((size_t)b->n_profiles + 1, sizeof(bool));
	}
	if (sp && (ru->copied = spare_take(sp, SP_COPIED, &ru->cap_copied)))
		memset(ru->copied, 0xFF, sizeof(uint32_t) * ru->cap_copied); /* UINT32_MAX */
	return ru->used_rule && ru->used_profile;
}

struct cw_ruleset *cw_ruleset_parse_delta(const char *text, size_t len,
					  const struct cw_ruleset *base, const char *base_text,
					  size_t base_len, struct cw_parse_errors *errs)
{
	return cw_ruleset_parse_delta_spare(text, len, base, base_text, base_len, NULL, errs);
}

struct cw_ruleset *cw_ruleset_parse_delta_spare(const char *text, size_t len,
						const struct cw_ruleset *base,
						const char *base_text, size_t base_len,
						struct cw_parse_spare **spare,
						struct cw_parse_errors *errs)
{
	struct cw_parse_spare *sp = spare ? *spare : NULL;
	if (spare)
		*spare = NULL;
	if (text && base && base->memo && base_text == base->memo->text &&
	    base->memo->text_len == base_len) {
		struct reuse ru = {.rs = base, .m = base->memo, .text = base_text, .spare = sp};
		struct cw_ruleset *rs = NULL;
		bool arrays = reuse_arrays(&ru, sp);
		if (arrays)
			rs = parse_text(text, len, &ru, true, NULL);
		cw_parse_spare_free(sp); /* what the parse did not take */
		sp = NULL;
		free(ru.used_rule);
		free(ru.used_profile);
		free(ru.slots);
		if (rs && !ru.copied_oom && ru.copied) {
			/* rules after the last copied one were parsed: grow the map to all rules */
			if (ru.cap_copied < rs->n_rules) {
				uint32_t *v = realloc(ru.copied, sizeof(uint32_t) * rs->n_rules);
				if (v) {
					for (uint32_t k = ru.cap_copied; k < rs->n_rules; k++)
						v[k] = UINT32_MAX;
					ru.copied = v;
				} else {
					free(ru.copied);
					ru.copied = NULL;
				}
			}
			rs->copied_from = ru.copied;
			rs->copied_base = ru.copied ? base : NULL;
			ru.copied = NULL;
		}
		free(ru.copied);
		if (rs) {
			if (errs)
				errs->n = errs->total = 0;
			return rs;
		}
		/* an error somewhere: the full parse says which, exactly as it always does */
	}
	cw_parse_spare_free(sp);
	return parse_text(text, len, NULL, true, errs);
}

void cw_ruleset_free(struct cw_ruleset *rs)
{
	if (!rs)
		return;
	free(rs->profiles);
	free(rs->rules);
	free(rs->hs_ranges);
	free(rs->u16);
	free(rs->u32);
	free(rs->uscc);
	free(rs->strings);
	free(rs->copied_from);
	memo_free(rs->memo);
	free(rs);
}

char *cw_read_file(const char *path, size_t *len)
{
	return cw_read_file_spare(path, len, NULL, 0);
}

char *cw_read_file_spare(const char *path, size_t *len, char **spare, size_t spare_cap)
{
	char *given = spare ? *spare : NULL;
	if (spare)
		*spare = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		free(given);
		return NULL;
	}
	struct stat st;
	size_t need = 1 << 16; /* a pipe or the like: grown as it comes */
	/* room for the file, its NUL and the read that sees the end: with one byte less the buffer
	 * was doubled just for that last read */
	if (!fstat(fd, &st) && S_ISREG(st.st_mode))
		need = (size_t)st.st_size + 2;
	size_t cap = need < (1 << 16) ? 1 << 16 : need;
	if (!fstat(fd, &st) && S_ISDIR(st.st_mode)) {
		free(given);
		close(fd);
		errno = EISDIR;
		return NULL;
	}
	char *buf = given && spare_cap >= need ? given : malloc(cap);
	if (buf == given)
		cap = spare_cap;
	else
		free(given);
	size_t n = 0;
	int err = 0;
	while (buf) {
		if (n + 1 >= cap) {
			char *b = realloc(buf, cap * 2);
			if (!b) {
				err = ENOMEM;
				break;
			}
			buf = b;
			cap *= 2;
		}
		ssize_t k = read(fd, buf + n, cap - 1 - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			err = errno;
			break;
		}
		if (k == 0) {
			close(fd);
			buf[n] = 0;
			if (len)
				*len = n;
			return buf;
		}
		n += (size_t)k;
	}
	if (!buf)
		err = ENOMEM;
	free(buf);
	close(fd);
	errno = err;
	return NULL;
}
