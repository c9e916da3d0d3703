/*
 * engine.h - the decision engine: everything between a CWP datagram's bytes and its verdicts.
 *
 * Why this file exists: the gateway's workers, `cwctl simulate`, the kernel-socket baseline and
 * the tests all decide through this one interface (DESIGN §2), so they agree to the byte. It has
 * no packet I/O. The engine owns the shared state (active rule snapshot, enterprise registry,
 * senders and their sessions, the stores that messages write); a context (`struct cw_ctx`) is one
 * worker's private scratch and counters.
 *
 * Threads: any number of workers, each with its own ctx, decide concurrently; one control thread
 * changes the registry, the senders and the rule snapshot (single writer). Workers read shared
 * tables lock-free; a worker reports a quiescent state (cw_ctx_quiescent) between bursts, and the
 * control thread frees replaced snapshots and table slots only after every worker has passed one
 * (rte_rcu_qsbr). Requires an initialised EAL (memory comes from rte_malloc).
 *
 * A burst is decided in two passes (rules/decide.c): first everything that does not depend on
 * message order (decode, registry and profile lookups, one bulk ACL classification of all items),
 * then, strictly in message order, sessions and replay, the stores, and the verdicts.
 */
#ifndef CW_RULES_ENGINE_H
#define CW_RULES_ENGINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataplane/wire/cwp.h"
#include "rules/ruleset.h"

struct cw_engine;
struct cw_ctx;
struct cw_snapshot;

struct cw_engine_config {
	uint32_t max_workers;	    /* contexts that may exist at once (RCU readers) */
	uint32_t replay_window;	    /* W of §3.5, default 4096 */
	uint32_t registry_capacity; /* enterprises, default 1 << 20 */
	uint32_t max_senders;	    /* default 1024 */
	uint32_t manifest_capacity; /* default 1 << 18 */
	uint32_t ecom_capacity;	    /* orders, default 1 << 19 */
	uint32_t buyer_capacity;    /* default 1 << 19 */
	int socket_id;		    /* NUMA socket for tables, SOCKET_ID_ANY (-1) default */
};
void cw_engine_config_defaults(struct cw_engine_config *c);

struct cw_engine *cw_engine_create(const struct cw_engine_config *c, char *err, size_t errlen);
void cw_engine_destroy(struct cw_engine *e);

/* Makes the process keep (and reuse) the memory that rule builds free instead of giving it back
 * to the kernel, so a rebuild does not fault its pages in again. Process-wide (glibc mallopt):
 * for long-running processes that rebuild rules, such as the gateway; call before any thread
 * starts. */
void cw_engine_keep_build_memory(void);

/* ---- control side (one thread) ---- */

/* Compiles a parsed rule set into lookup tables (a profile trie, rte_acl). Takes ownership of rs
 * (freed with the snapshot, or on failure). Slow for big rule sets: call off the packet path. */
struct cw_snapshot *cw_snapshot_build(struct cw_ruleset *rs, char *err, size_t errlen);
/* cw_snapshot_build that gives up when *stop is found set at its start or between two of its
 * rte_acl builds (a full build makes up to 48, the biggest about a fifth of it): NULL with err
 * "cancelled".
 * For a background build that something newer has made pointless: it lets go of its CPU and
 * memory within one context's build rather than at its end. stop may be NULL. */
struct cw_snapshot *cw_snapshot_build_unless(struct cw_ruleset *rs, const atomic_bool *stop,
					     char *err, size_t errlen);
/* The same decisions without lookup tables for rules: every rule is evaluated in turn (§4.3d by
 * plain comparison). The reference the ACL build is tested against; slow with many rules. */
struct cw_snapshot *cw_snapshot_build_linear(struct cw_ruleset *rs, char *err, size_t errlen);
/* Same result as cw_snapshot_build(rs), fast when rs differs from base's rule set by a few rules:
 * base tables are shared and the differences go to a small overlay (DESIGN §8: <= 20 ms). Falls
 * back to a full build when the difference is large. base must stay alive while the result is.
 * base may itself be a delta (the active snapshot): the result is then an overlay on that
 * delta's full base (which must stay alive), and rules rs's parse copied from base's rule set
 * need no comparing. */
#define CW_DELTA_MAX_CHANGED 1024 /* rules changed, added or removed: more is a full build */
struct cw_snapshot *cw_snapshot_build_delta(const struct cw_snapshot *base, struct cw_ruleset *rs,
					    char *err, size_t errlen);
void cw_snapshot_free(struct cw_snapshot *s);
const struct cw_ruleset *cw_snapshot_ruleset(const struct cw_snapshot *s);
bool cw_snapshot_is_delta(const struct cw_snapshot *s);
/* How a snapshot's rules are held: for operators and benchmarks (docs/engine.md). */
struct cw_snapshot_stats {
	uint32_t rules;	       /* rules of the rule set */
	uint32_t acl_contexts; /* rte_acl contexts (one or more per rule shape), overlay included */
	uint32_t acl_rules;    /* rules as rte_acl holds them, after `in` and HS-range expansion */
	uint32_t linear_rules; /* rules evaluated one by one (small shape groups, huge amounts) */
	bool delta;	       /* shares its base's tables and adds an overlay */
};
void cw_snapshot_stats(const struct cw_snapshot *s, struct cw_snapshot_stats *st);

/* Publishes s as the active rule set (NULL: none). Returns after every worker has left the old
 * snapshot, then frees the old one unless keep_old; returns the old one when keep_old. */
struct cw_snapshot *cw_engine_publish(struct cw_engine *e, struct cw_snapshot *s, bool keep_old);
/* The active snapshot (control thread's view), NULL when none. */
const struct cw_snapshot *cw_engine_active(const struct cw_engine *e);
uint32_t cw_engine_version(const struct cw_engine *e); /* 0 when none */

/* Enterprise registry: USCC (18 code characters) -> class. Single writer. */
int cw_registry_set(struct cw_engine *e, const char uscc[18],
		    enum cw_class cls);				     /* 0, -ENOSPC, -EINVAL */
int cw_registry_del(struct cw_engine *e, const char uscc[18]);	     /* 0, -ENOENT */
int cw_registry_get(const struct cw_engine *e, const char uscc[18]); /* class or -1 */
uint32_t cw_registry_count(const struct cw_engine *e);
void cw_registry_clear(struct cw_engine *e);
/* Loads a `uscc,class` CSV (header line first). Returns rows loaded or -1 (err filled). */
long cw_registry_load_csv(struct cw_engine *e, const char *path, char *err, size_t errlen);
/* The registry capacity for n enterprises: a quarter more (the hash table cannot be filled to
 * the last slot, and a registry grows), at least `floor`. */
uint32_t cw_registry_room(uint64_t n, uint32_t floor);
/* cw_registry_room for the lines of a CSV; `floor` when the file cannot be read. */
uint32_t cw_registry_csv_capacity(const char *path, uint32_t floor);

/* Senders: id -> CIDR prefixes (IPv4 and IPv6) and a name. Single writer. A sender that is
 * replaced keeps its session; a deleted one loses it. */
int cw_sender_set(struct cw_engine *e, uint32_t id, const char *prefixes, const char *name,
		  char *err, size_t errlen); /* prefixes: space-separated CIDRs */
int cw_sender_del(struct cw_engine *e, uint32_t id);
uint32_t cw_sender_count(const struct cw_engine *e);
void cw_sender_clear(struct cw_engine *e);
/* Loads an `id,prefixes,name` CSV. Returns rows loaded or -1 (err filled). */
long cw_senders_load_csv(struct cw_engine *e, const char *path, char *err, size_t errlen);
/* Calls fn for every sender (control thread only). */
void cw_sender_foreach(const struct cw_engine *e,
		       void (*fn)(uint32_t id, const char *prefixes, const char *name, void *arg),
		       void *arg);

/* Store occupancy, for telemetry. */
struct cw_store_stats {
	uint32_t manifests, manifest_capacity;
	uint32_t orders, ecom_capacity;
	uint32_t buyers, buyer_capacity;
	uint32_t registry, registry_capacity;
	uint32_t senders;
};
void cw_engine_store_stats(const struct cw_engine *e, struct cw_store_stats *st);

/* ---- worker side (one ctx per thread) ---- */

/* Why a datagram gets no answer at all (§3.4 step 1). */
enum cw_drop {
	CW_DROP_NONE = 0,
	CW_DROP_HEADER, /* any cwp_dgram_err: see the ctx counters for which */
	CW_DROP_UNKNOWN_SENDER,
	CW_DROP_SOURCE, /* source address outside the sender's prefixes */
	CW_DROP_NUM,
};

struct cw_counters {
	uint64_t datagrams; /* handed to cw_burst_add */
	uint64_t answered_datagrams;
	uint64_t drops[CW_DROP_NUM];
	uint64_t header_errs[CWP_DG_NUM_ERRS];
	uint64_t messages;   /* verdicts produced */
	uint64_t by_type[8]; /* index: type 1..6, 0 = unknown */
	uint64_t by_status[3];
	uint64_t by_mode[CWP_NUM_MODES]; /* DECIDED verdicts by mode */
	uint64_t rejects[CWP_NUM_REJECTS];
	uint64_t duplicates;
	uint64_t green;
	uint64_t reasons[10]; /* contributions kept in verdicts, by reason code */
};

/* worker_id: 0..max_workers-1, unique among live contexts. */
struct cw_ctx *cw_ctx_create(struct cw_engine *e, unsigned worker_id);
void cw_ctx_destroy(struct cw_ctx *c);

/* Starts a burst: takes the active snapshot for its duration. */
void cw_burst_begin(struct cw_ctx *c);
/*
 * Adds one datagram (a UDP payload from src_ip, 4 or 16 bytes) to the burst. On CW_DROP_NONE,
 * *n_out is the number of verdicts it will get, in message order, written to out[0..*n_out) by
 * the time cw_burst_end returns; out must hold CWP_MAX_MSGS and stay valid until then. The
 * payload must stay valid until cw_burst_end too. *sender_id is set when the header parsed.
 */
enum cw_drop cw_burst_add(struct cw_ctx *c, const uint8_t *payload, size_t len,
			  const uint8_t *src_ip, bool ipv6, struct cwp_verdict *out,
			  uint16_t *n_out, uint32_t *sender_id);
/* Decides everything added since cw_burst_begin. */
void cw_burst_end(struct cw_ctx *c);
/* The worker holds no reference to shared tables now (call between bursts, or when idle). */
void cw_ctx_quiescent(struct cw_ctx *c);
/* Marks the worker offline/online for RCU (an idle worker that blocks must go offline). */
void cw_ctx_offline(struct cw_ctx *c);
void cw_ctx_online(struct cw_ctx *c);

const struct cw_counters *cw_ctx_counters(const struct cw_ctx *c);
/* Hits per rule id of the snapshot the ctx last used: calls fn for every rule with hits > 0. */
void cw_ctx_rule_hits(const struct cw_ctx *c,
		      void (*fn)(uint32_t rule_id, uint64_t hits, void *arg), void *arg);

/* Encodes verdicts into response datagrams (§3.3): at most per_dgram verdicts each, in order.
 * Writes datagram i's payload at out + i * stride and its length in lens[i]; returns the count.
 * stride must be >= 24 + 76 * per_dgram. */
unsigned cw_encode_responses(const struct cwp_verdict *v, unsigned n, uint32_t sender_id,
			     unsigned per_dgram, uint8_t *out, size_t stride, uint16_t *lens);

/* Plain, slow evaluation of §4.3d over a rule set (tests and the overlay fallback): the winning
 * rule for (header, item), or NULL. Exposed for the property tests. */
struct cw_item_facts {
	uint8_t msg;	   /* CW_MSG_DECL or CW_MSG_LIST */
	uint8_t direction; /* CWP_IMPORT / CWP_EXPORT */
	uint8_t cls;	   /* enum cw_class */
	uint8_t docs_mask; /* bit 1 << doc_type */
	bool has_owner, has_country, has_transport;
	const char *declarant;	  /* [18] */
	const char *owner;	  /* [18] or NULL */
	uint16_t origin, country; /* packed letters */
	uint16_t trade_mode, port;
	uint8_t transport;
	uint64_t hs; /* 10-digit code as a number */
	uint64_t value, total_value, quantity;
	uint64_t gross_weight_g;
};
const struct cw_rule *cw_linear_match(const struct cw_ruleset *rs, const struct cw_item_facts *f);

#endif
