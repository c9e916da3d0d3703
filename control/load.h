/*
 * load.h - reading the gateway's state out of Redis into an engine (DESIGN §6 full load), and
 * checking the values that any client may have written there.
 *
 * Why this file exists: the control thread's full load and `cwctl simulate --redis` read the
 * same keys the same way, and the event path validates single values with the same rules as
 * the bulk path (a USCC is 18 code characters, a class one of the six names, a sender value
 * "PREFIXES|NAME").
 */
#ifndef CW_CONTROL_LOAD_H
#define CW_CONTROL_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "control/redisx.h"
#include "control/regmirror.h"
#include "rules/engine.h"

struct cw_load_counts {
	uint64_t ents, ent_changes, ent_removed, ent_bad, ent_full;
	uint64_t senders, sender_removed, sender_bad;
};

/* 18 characters of [0-9A-Z]. */
bool cw_uscc_valid(const char *s, size_t len);
/* A decimal sender id 1..2^32-1. */
bool cw_sender_id_parse(const char *s, uint32_t *id);
/* Splits "PREFIXES|NAME" (a value without '|' is all prefixes, empty name) into the buffers. */
bool cw_sender_value_split(const char *v, size_t vlen, char *prefixes, size_t pcap, char *name,
			   size_t ncap);
/* A decimal rule-set version 1..2^32-1. */
bool cw_version_parse(const char *s, uint32_t *v);

/* Loads cw:ent. With a mirror: only changed entries are written and entries gone from Redis are
 * deleted (mark and sweep, nothing is cleared). Without: every entry is set. 0 or -1. */
int cw_load_registry(redisContext *c, struct cw_engine *e, struct cw_regmirror *m,
		     struct cw_load_counts *n, char *err, size_t errlen);
/* cw_registry_room for the enterprises of cw:ent at addr; `floor` if Redis does not answer
 * within a second (the load that follows reports why). For an engine about to load from it. */
uint32_t cw_registry_capacity_redis(const char *addr, uint32_t floor);
/* Loads cw:senders; senders that are not in Redis any more are deleted. 0 or -1. */
int cw_load_senders(redisContext *c, struct cw_engine *e, struct cw_load_counts *n, char *err,
		    size_t errlen);
/* Reads the text of rule set `version`, or of cw:ruleset:active when version is 0. Returns 1
 * with *text (malloc, NUL-terminated) set, 0 when there is no active version (*text NULL), -1
 * on a connection error or a missing text (err filled; *version still says which). */
int cw_load_ruleset_text(redisContext *c, uint32_t *version, char **text, size_t *len, char *err,
			 size_t errlen);

/* cw_load_ruleset_text into `spare` (taken over) when it holds spare_cap >= the text's length +
 * 1 bytes: a buffer written ahead of time, so that copying a 10 MB text in does not fault its
 * pages in one by one (~2 500 of them, several ms). A spare that is too small is freed. */
int cw_load_ruleset_text_into(redisContext *c, uint32_t *version, char **text, size_t *len,
			      char *spare, size_t spare_cap, char *err, size_t errlen);

/* Parses and builds rule-set text that must carry `version` (0: any), as a delta on base when
 * base is not NULL. NULL with "v<version>: line:column: message" style errors in err. */
struct cw_snapshot *cw_compile_text(const char *text, size_t len, uint32_t version,
				    const struct cw_snapshot *base, char *err, size_t errlen);

/* cw_compile_text on a file's contents ("PATH: cannot read: reason" when it cannot be read). */
struct cw_snapshot *cw_compile_file(const char *path, char *err, size_t errlen);

/* The active rule set and the very text buffer it was parsed from (cw_ruleset_parse_delta). */
struct cw_compile_prev {
	const struct cw_ruleset *rs;
	const char *text;
	size_t len;
};
/* cw_compile_text for the gateway's activations: the text is parsed incrementally against prev
 * (NULL: a full parse), and the rule set keeps what the next incremental parse needs. Same
 * result and errors as cw_compile_text. */
struct cw_snapshot *cw_compile_text_delta(const char *text, size_t len, uint32_t version,
					  const struct cw_snapshot *base,
					  const struct cw_compile_prev *prev, char *err,
					  size_t errlen);

/* Where a compile's time went (the control thread logs it). */
struct cw_compile_times {
	uint64_t parse_ns, build_ns;
	uint64_t parse_faults, build_faults; /* page faults of the compiling thread */
};
/* cw_compile_text_delta with the parse's arrays from *spare (cw_ruleset_parse_delta_spare; taken
 * whatever happens; spare may be NULL) and its times in *times (may be NULL). */
struct cw_snapshot *cw_compile_text_spare(const char *text, size_t len, uint32_t version,
					  const struct cw_snapshot *base,
					  const struct cw_compile_prev *prev,
					  struct cw_parse_spare **spare,
					  struct cw_compile_times *times, char *err, size_t errlen);
/* cw_compile_text_spare(text, len, version, NULL, NULL, NULL, times, ...), a full build, that
 * gives up ("vN: cancelled") when *stop is seen set between two of its rte_acl builds
 * (cw_snapshot_build_unless): for a fold that a newer rule set has made pointless. */
struct cw_snapshot *cw_compile_text_full_unless(const char *text, size_t len, uint32_t version,
						const atomic_bool *stop,
						struct cw_compile_times *times, char *err,
						size_t errlen);

/* The rule set a gateway runs and what its next incremental build needs: the last full build
 * (the base of deltas), the snapshot the engine holds (that build or a delta on it) and the
 * text that snapshot was parsed from. One bookkeeping for both the Redis control thread and
 * file mode (SIGHUP), so that a delta never outlives its base. */
struct cw_live_rules {
	struct cw_snapshot *base;
	struct cw_snapshot *active;
	char *text;
	size_t len;
	/* NULL: what the engine no longer uses is freed by cw_live_publish. Set: it goes here
	 * instead (a snapshot and a text, either may be NULL), in the order it must be freed (a
	 * delta before its base). The Redis control thread hands it to its compile thread, so
	 * that freeing a replaced full 100 k-rule set (milliseconds of rte_acl and array frees)
	 * never holds up the events that follow an activation. */
	void (*retire)(void *arg, struct cw_snapshot *snap, char *text);
	void *retire_arg;
};
/* What cw_compile_text_delta takes as prev; false (nothing to parse against) before the first
 * publish. */
bool cw_live_prev(const struct cw_live_rules *l, struct cw_compile_prev *prev);
/* Publishes snap, compiled from text (taken over), through the engine's RCU swap (returns once
 * no worker sees the old snapshot) and frees (or retires) what nothing refers to any more.
 * *swap_ns (when not NULL) gets the time of the swap itself: the pointer exchange, its first
 * step (from then on every burst decides with snap), and the grace period after it. */
void cw_live_publish(struct cw_live_rules *l, struct cw_engine *e, struct cw_snapshot *snap,
		     char *text, size_t len, uint64_t *swap_ns);
/* What the engine no longer uses (a snapshot, a text; either may be NULL): freed, or handed to
 * l->retire when set. */
void cw_live_retire(const struct cw_live_rules *l, struct cw_snapshot *snap, char *text);
/* Before the engine goes: leaves it holding the full build, not a delta on it, and frees the
 * text (here, not through retire). The engine frees what it holds. */
void cw_live_release(struct cw_live_rules *l, struct cw_engine *e);
/* A malloc'd, NUL-terminated copy of the live text (its length is l->len); NULL without memory
 * or text. For a full build of it while the live rules may move on (a delta's fold). */
char *cw_live_text_copy(const struct cw_live_rules *l);

#endif
