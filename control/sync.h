/*
 * sync.h - the gateway's control thread: keeps an engine in step with Redis (DESIGN §6).
 *
 * Why this file exists: the dataplane must never wait for Redis, yet every gateway on one Redis
 * has to apply the analysts' changes within milliseconds and report what it runs. One pthread
 * (not an lcore) does all of it: the first full load, following `cw:events`, compiling rule sets
 * (in a second, compile-only thread so registry events keep flowing during a long build),
 * publishing them through the engine's RCU path, applying registry and sender changes as the
 * engine's single writer, and writing `cw:node:<node>`, `cw:stats:<node>` and `cw:journal`.
 *
 * Use (see docs/control-plane.md, "Inside the gateway"):
 *   s = cw_sync_create(engine, &cfg, err, n);
 *   if (!cfg.no_wait) cw_sync_initial_load(s, &quit);   -- before the ports start
 *   cw_sync_start(s);                                     -- the thread
 *   ... run ...
 *   cw_sync_stop(s);                                      -- workers may still run
 *   (stop the workers)
 *   cw_sync_destroy(s);                                   -- before cw_engine_destroy
 *
 * `cwctl simulate --redis` and tests load a fresh engine once with cw_sync_load_all.
 */
#ifndef CW_CONTROL_SYNC_H
#define CW_CONTROL_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rules/engine.h"

struct rte_ring;
struct cw_sync;

/* Receives one counter for cw:stats:<node>; name is copied. */
typedef void (*cw_stat_emit_fn)(void *emit_arg, const char *name, uint64_t value);

struct cw_sync_config {
	const char *redis; /* HOST:PORT or unix:PATH; NULL: $CW_REDIS, else 127.0.0.1:6379 */
	const char *node;  /* NULL: the host name */
	bool no_wait;	   /* documentation only: the caller skips cw_sync_initial_load */

	unsigned heartbeat_ms;	 /* cw:node and cw:stats period, default 1000 */
	unsigned journal_ms;	 /* journal drain period, default 10 */
	unsigned journal_cap;	 /* MAXLEN ~ of cw:journal, default 1000000 */
	unsigned journal_batch;	 /* records per pipelined round trip, default 512 */
	unsigned block_ms;	 /* XREAD BLOCK timeout, default 1000 */
	unsigned timeout_ms;	 /* connect and command timeout, default 2000 */
	unsigned backoff_max_ms; /* reconnect backoff cap, default 5000 (starts at 100) */
	unsigned read_count;	 /* events per read, default 512 */

	/* Journal ring of struct cw_journal_rec (control/journal.h); NULL: no journal. */
	struct rte_ring *journal;

	/* Callbacks, all optional, called from the control thread. */
	void *cb_arg;
	/* Emits the dataplane's counters (merged over workers; absolute values). */
	void (*counters)(void *cb_arg, cw_stat_emit_fn emit, void *emit_arg);
	/* Calls fn for every rule id with hits > 0 (summed over workers). */
	void (*rule_hits)(void *cb_arg, void (*fn)(uint32_t rule_id, uint64_t hits, void *a),
			  void *a);
	/* A rule set was published (rs is the active one), or a rule set was refused. */
	void (*on_ruleset)(void *cb_arg, const struct cw_ruleset *rs, const char *source);
	void (*on_ruleset_error)(void *cb_arg, const char *err);
	/* One log line (no newline); NULL: stderr with a "clearway control:" prefix. */
	void (*log)(void *cb_arg, const char *line);
};
void cw_sync_config_defaults(struct cw_sync_config *c);

/* Counters of the control side (also written to cw:stats:<node> with a "control_" prefix). */
struct cw_sync_stats {
	uint64_t events;	   /* stream entries read */
	uint64_t events_applied;   /* that changed something or were already so */
	uint64_t events_malformed; /* counted and skipped */
	uint64_t bad_values;	   /* values in cw:ent / cw:senders skipped by a full load */
	uint64_t full_loads;	   /* start, resync, trimmed stream, vanished stream */
	uint64_t trims;		   /* full loads because our position was trimmed or deleted */
	uint64_t reconnects;
	uint64_t redis_errors;
	uint64_t activations; /* rule sets published */
	uint64_t delta_activations;
	uint64_t folds;		  /* live deltas replaced by the full build of their text */
	uint64_t ruleset_errors;  /* rule sets refused */
	uint64_t registry_errors; /* a registry write refused (full) */
	uint64_t sender_errors;
	uint64_t journal_written;
	uint64_t journal_lost;	/* drained but the write failed */
	uint64_t last_build_ns; /* compile time of the last published rule set */
	uint32_t version;	/* active rule-set version, 0 none */
	uint32_t pending;	/* version being compiled, 0 none */
	bool loaded;		/* the first full load finished */
	bool error;		/* status error */
	char last_event[48];	/* id of the last event applied */
	char error_text[512];
};

/* Copies the configuration (strings included). NULL with err filled (bad address). */
struct cw_sync *cw_sync_create(struct cw_engine *e, const struct cw_sync_config *c, char *err,
			       size_t errlen);
/* The full load of DESIGN §6 in the calling thread: retries (with backoff, logging each failure)
 * until it succeeds or *quit becomes non-zero (quit may be NULL). 0 loaded, -1 gave up. The
 * rule set is compiled here too, so this may take a while with big rule sets. */
int cw_sync_initial_load(struct cw_sync *s, const volatile int *quit);
/* Starts the control thread (and its compile thread). Without a prior initial load, the thread
 * does the full load itself (--no-wait). 0, or -1 with errno. */
int cw_sync_start(struct cw_sync *s);
/* Stops the threads, writes a last node status (state stopped) if Redis is there. */
void cw_sync_stop(struct cw_sync *s);
/* Frees everything; the active snapshot stays with the engine (a delta is replaced by its full
 * base first, so the engine never holds a snapshot whose base is gone). */
void cw_sync_destroy(struct cw_sync *s);

/* A consistent copy of the control side's counters (any thread). */
void cw_sync_get_stats(struct cw_sync *s, struct cw_sync_stats *st);
const char *cw_sync_node(const struct cw_sync *s);

/* One-shot load of registry, senders and the active rule set (or `version` if non-zero) from
 * Redis into an engine nobody else writes (cwctl simulate, tests). Returns the published
 * version (0: no rule set active), or -1 with err filled. */
long cw_sync_load_all(struct cw_engine *e, const char *redis, uint32_t version, char *err,
		      size_t errlen);
/* Fetches a rule set's text: `version`, or the active one when 0. Returns the text (free())
 * with *len and *got set, or NULL with err filled. */
char *cw_sync_fetch_rules(const char *redis, uint32_t version, size_t *len, uint32_t *got,
			  char *err, size_t errlen);

/* Emits the engine's counters (struct cw_counters) under their cw:stats names. */
void cw_counters_emit(const struct cw_counters *c, cw_stat_emit_fn emit, void *emit_arg);

#endif
