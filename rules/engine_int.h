/*
 * engine_int.h - the engine's shared state, seen only by the rules/ sources.
 *
 * Why split from engine.h: callers (dataplane, cwctl, tests) use the engine through its API;
 * the files of the engine itself (engine.c: state and control-side changes; decide.c: the
 * burst) share these definitions.
 */
#ifndef CW_RULES_ENGINE_INT_H
#define CW_RULES_ENGINE_INT_H

#include <stdatomic.h>

#include <rte_hash.h>
#include <rte_rcu_qsbr.h>
#include <rte_spinlock.h>

#include "rules/engine.h"
#include "rules/stores.h"
#include "rules/tables.h"

#define CW_MAX_PREFIXES 16

struct cw_prefix {
	bool v6;
	uint8_t len;
	uint8_t addr[16];
};

/* §3.5: the verdicts of the last W sequence numbers that reached step c. */
struct cw_cached {
	uint64_t seq; /* 0 = empty (a valid s is never 0) */
	struct cwp_verdict v;
};

struct cw_session {
	rte_spinlock_t lock; /* uncontended: one sender's traffic normally stays on one worker */
	uint64_t hi;
	uint32_t window;
	struct cw_cached *slots;
};

struct cw_sender {
	uint32_t id;
	uint32_t n_prefixes;
	struct cw_prefix prefixes[CW_MAX_PREFIXES];
	char prefixes_text[512];
	char name[128];
	struct cw_session *session;
};

struct cw_engine {
	struct cw_engine_config cfg;
	struct rte_rcu_qsbr *qs;
	_Atomic(struct cw_snapshot *) active;
	struct rte_hash *registry; /* USCC[18] -> class */
	struct rte_hash *senders;  /* u32 id -> struct cw_sender * */
	/* Kept by the single writer: rte_hash_count() also counts deleted slots still waiting
	 * for their RCU grace period, so it runs high after deletions. */
	uint32_t n_registry, n_senders;
	struct cw_store *manifests;
	struct cw_store *ecom;
	struct cw_store *ledger;
};

/* True when ip (4 or 16 bytes) lies in one of the sender's prefixes. */
bool cw_sender_allows(const struct cw_sender *s, const uint8_t *ip, bool v6);

#endif
