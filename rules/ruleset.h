/*
 * ruleset.h - a parsed and checked rule set (DESIGN §5), before any lookup table is built.
 *
 * Why this file exists: the rule language is read in one place (rules/parse.c, no DPDK, fuzzed)
 * into this plain model; the table builder (rules/tables.c: profile trie, rte_acl), the linear
 * reference evaluator used by the property tests, `cwctl check` and `cwctl simulate --diff` all
 * read the same model. Conditions are normalised here: every condition on one field is
 * intersected (`hs 52 and hs 5205..5210` keeps 5205..5210), so a rule is a conjunction of one
 * allowed set per field; a rule whose sets are empty can never match (`never`).
 */
#ifndef CW_RULES_RULESET_H
#define CW_RULES_RULESET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum cw_class {
	CW_CLS_AEO = 0,
	CW_CLS_GOOD,
	CW_CLS_WARNING,
	CW_CLS_DISHONEST,
	CW_CLS_SERIOUS,
	CW_CLS_UNKNOWN,
	CW_NUM_CLASSES,
};
#define CW_CLASS_ALL 0x3F

/* "aeo" .. "unknown"; cw_class_parse returns -1 for anything else (exact, lower case). */
const char *cw_class_name(enum cw_class c);
int cw_class_parse(const char *s, size_t len);

struct cw_class_policy {
	uint8_t mode;	    /* enum cwp_mode */
	uint16_t sample_bp; /* basis points, 0..10000 */
};

struct cw_profile {
	char prefix[10];    /* digits, not NUL terminated */
	uint8_t len;	    /* 1..10 */
	uint8_t mode;	    /* default declare */
	uint16_t sample_bp; /* default 0 */
	uint8_t docs_mask;  /* bit (1 << doc_type) */
	bool strict;
	uint32_t line;
};

struct cw_u64range {
	uint64_t lo, hi; /* inclusive */
};
#define CW_RANGE_ANY ((struct cw_u64range){0, UINT64_MAX})

/* A list of values in one of the rule set's pools; n == 0 means "any value". */
struct cw_list {
	uint32_t off, n;
};

/* Field bit masks for the small enumerations */
#define CW_DIR_IMPORT 0x02 /* 1 << CWP_IMPORT */
#define CW_DIR_EXPORT 0x04 /* 1 << CWP_EXPORT */
#define CW_DIR_ALL    0x06
#define CW_MSG_DECL   0x01
#define CW_MSG_LIST   0x02
#define CW_MSG_ALL    0x03

struct cw_rule {
	uint32_t id;
	uint16_t priority;
	uint8_t mode;	 /* enum cwp_mode */
	uint32_t reason; /* offset of a NUL-terminated string in rs->strings, UINT32_MAX none */
	uint32_t line;
	bool never; /* the conditions contradict each other: never matches (masks 0) */

	uint8_t class_mask; /* bit per enum cw_class, CW_CLASS_ALL = any */
	uint8_t dir_mask;   /* CW_DIR_* */
	uint8_t msg_mask;   /* CW_MSG_* */
	uint8_t doc_set;    /* documents that must be present (bit 1 << doc_type) */
	uint8_t doc_clear;  /* documents that must be absent */

	struct cw_list hs;	  /* rs->hs_ranges: disjoint sorted ranges over the 10-digit code */
	struct cw_list origin;	  /* rs->u16: two letters packed as (c0 << 8) | c1 */
	struct cw_list country;	  /* rs->u16, as origin; never matches a LIST */
	struct cw_list declarant; /* rs->u32: index into rs->uscc */
	struct cw_list owner;	  /* rs->u32: index into rs->uscc; never matches a blank owner */
	struct cw_list trade_mode; /* rs->u16 */
	struct cw_list port;	   /* rs->u16 */
	struct cw_list transport;  /* rs->u16 (values 0..255); never matches a LIST */

	struct cw_u64range value, total_value, unit_value,
	    quantity;	     /* CW_RANGE_ANY = no condition */
	bool has_unit_value; /* a unit_value condition exists: a weight of 0 never matches */

	uint64_t expanded; /* ACL rules it becomes: product of the list sizes; 0 if never */
};

struct cw_ruleset {
	uint32_t version;
	uint8_t salt[16];
	uint64_t limit_single; /* minor units, default 500000 */
	uint64_t limit_annual; /* minor units, default 2600000 */
	uint32_t tolerance_bp; /* default 0 */
	struct cw_class_policy cls[CW_NUM_CLASSES];
	uint8_t class_set; /* bit per class set by a `class` statement; others: defaults */

	struct cw_profile *profiles; /* in file order; prefixes unique */
	uint32_t n_profiles;
	struct cw_rule *rules; /* in file order; ids unique */
	uint32_t n_rules;
	uint64_t n_expanded; /* sum of rules[i].expanded */

	/* pools the lists point into */
	struct cw_u64range *hs_ranges;
	uint32_t n_hs_ranges;
	uint16_t *u16;
	uint32_t n_u16;
	uint32_t *u32;
	uint32_t n_u32;
	char (*uscc)[18]; /* interned USCCs named by rules, each once */
	uint32_t n_uscc;
	char *strings; /* reason texts */
	size_t strings_len;

	/* Private to rules/parse.c: where each rule and profile statement sits in the text it was
	 * parsed from, for cw_ruleset_parse_delta. NULL unless that function made the rule set. */
	struct cw_parse_memo *memo;
	/* Set by cw_ruleset_parse_delta: per rule, the index of the rule of copied_base whose
	 * statement it took over byte for byte (UINT32_MAX: parsed anew). For the snapshot's delta
	 * build, which skips comparing those; cleared by it (copied_base may be freed later). */
	uint32_t *copied_from;
	const struct cw_ruleset *copied_base;
};

/* One compile error (§5: "line:column: message"). */
struct cw_parse_error {
	uint32_t line, column;
	char msg[160];
};

struct cw_parse_errors {
	struct cw_parse_error *v; /* up to `cap` errors are kept */
	uint32_t n, cap;
	uint32_t total; /* errors found (may exceed cap) */
};

/* Parses and checks a whole rule set. Returns NULL if there was any error (errs filled, the
 * first error at least), else a rule set to release with cw_ruleset_free. */
struct cw_ruleset *cw_ruleset_parse(const char *text, size_t len, struct cw_parse_errors *errs);
void cw_ruleset_free(struct cw_ruleset *rs);

/* The same result as cw_ruleset_parse(text) - the same rule set, or NULL with the same errors -
 * but fast when text differs from base_text by a few statements: rule and profile statements
 * whose text is byte-identical to one in base_text are taken over from base instead of being
 * parsed again; every whole-file check (version, salt, limits, duplicate ids and prefixes,
 * expansion and profile limits) is still made. base must be what this function returned for
 * base_text, and base_text the very buffer it read, unchanged (the control plane keeps both for
 * the active rule set); any other base (NULL, made by cw_ruleset_parse, another buffer) means a
 * full parse. The result carries the record for the next call; base is only read. */
struct cw_ruleset *cw_ruleset_parse_delta(const char *text, size_t len,
					  const struct cw_ruleset *base, const char *base_text,
					  size_t base_len, struct cw_parse_errors *errs);

/* Memory for a later cw_ruleset_parse_delta_spare, written once ahead of time. At 100 k rules an
 * incremental parse fills ~25 MB of new arrays, and faulting their ~6 000 pages in on first write
 * costs 5-15 ms on a 2-core machine: as much as the parse itself. The gateway's compile thread
 * prepares a spare while it is idle, sized like the rule set the next parse starts from.
 * cw_parse_spare_new only sizes it (cheap, no arrays yet; NULL when out of memory);
 * cw_parse_spare_touch allocates and writes up to `bytes` more of it, true once all is ready (so
 * that the work can stop when a new parse is due). */
struct cw_parse_spare;
struct cw_parse_spare *cw_parse_spare_new(const struct cw_ruleset *like);
bool cw_parse_spare_touch(struct cw_parse_spare *sp, size_t bytes);
void cw_parse_spare_free(struct cw_parse_spare *sp);
/* cw_ruleset_parse_delta, filling the arrays of *spare (when not NULL) instead of new ones. It
 * takes the spare whatever happens (*spare becomes NULL): the result owns the arrays it used. */
struct cw_ruleset *cw_ruleset_parse_delta_spare(const char *text, size_t len,
						const struct cw_ruleset *base,
						const char *base_text, size_t base_len,
						struct cw_parse_spare **spare,
						struct cw_parse_errors *errs);

/* Formats "line:column: message" into buf. */
void cw_parse_error_format(const struct cw_parse_error *e, char *buf, size_t cap);

/* Reads a whole file (NUL-terminated, *len without the NUL); NULL and errno on failure. */
char *cw_read_file(const char *path, size_t *len);
/* The same into *spare (spare_cap bytes, already written so its pages are in) when the file
 * fits, else into fresh memory; *spare is taken either way (the caller's is NULL after). */
char *cw_read_file_spare(const char *path, size_t *len, char **spare, size_t spare_cap);

/* Limits of the compiler */
#define CW_MAX_EXPANDED (4u * 1000 * 1000) /* ACL rules after `in` expansion */
#define CW_MAX_PROFILES (1u * 1000 * 1000)

#endif
