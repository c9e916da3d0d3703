/*
 * hits.h - per-worker hit counters of the targeting rules, readable from another thread.
 *
 * Why this file exists: a worker counts the hits of the rules of the snapshot it uses, by rule
 * index; the control thread (cw:stats) and the final summary read them by rule id, at any time,
 * while rule sets come and go. The counters therefore carry their own copy of the rule ids and
 * never point into a snapshot (which RCU may free while a worker is idle), and a block replaced
 * on a rule-set change is freed only once no reader can still be copying it. The worker never
 * waits: readers announce themselves in a counter, and a block that might still be read is
 * retired and freed later.
 */
#ifndef CW_RULES_HITS_H
#define CW_RULES_HITS_H

#include <stdatomic.h>
#include <stdint.h>

struct cw_rule_brief; /* the snapshot's per-rule id and mode (tables.h) */

/* In the header so that cw_hits_count, once per item with a rule, is inlined. */
struct hits_block {
	struct hits_block *next; /* in the retired list */
	uint32_t n;
	uint32_t *ids;
	uint64_t count[];
};

struct cw_hits {
	_Atomic(struct hits_block *) cur; /* written by the worker, read by readers */
	struct hits_block *retired;	  /* worker only: replaced blocks not freed yet */
	_Atomic uint32_t readers;	  /* readers copying right now */
	uint64_t serial;		  /* snapshot serial the current block counts for */
};

/* Worker: counts for the n rules of a snapshot from now on (rules: its briefs; serial: its
 * serial), all at zero. This runs on the packet path at every rule-set swap, so the block comes
 * from DPDK's heap, not malloc (glibc's arena is shared with the compile thread, see
 * cw_engine_keep_build_memory, and fresh heap pages fault in on first write), and the ids are
 * copied from the briefs, 8 bytes apart, not from the rules themselves (about 150 bytes
 * apart). The longest swap of the worker's counters in bench/run.sh's update runs went from
 * 83-331 us to 27-29 us (a temporary rdtsc around track_hits). */
void cw_hits_switch(struct cw_hits *h, const struct cw_rule_brief *rules, uint32_t n,
		    uint64_t serial);
/* Worker: one hit of rule index i of the current rule set. */
static inline void cw_hits_count(struct cw_hits *h, uint32_t i)
{
	struct hits_block *b = atomic_load_explicit(&h->cur, memory_order_relaxed);
	if (b && i < b->n)
		atomic_store_explicit(
		    (_Atomic uint64_t *)&b->count[i],
		    atomic_load_explicit((_Atomic uint64_t *)&b->count[i], memory_order_relaxed) +
			1,
		    memory_order_relaxed);
}
/* Worker: frees retired blocks when no reader is copying. Cheap when there is none. */
void cw_hits_reclaim(struct cw_hits *h);
/* Any thread: calls fn for every rule with hits > 0 in the current block. */
void cw_hits_collect(struct cw_hits *h, void (*fn)(uint32_t rule_id, uint64_t hits, void *arg),
		     void *arg);
/* Owner, when no reader can run any more. */
void cw_hits_free(struct cw_hits *h);

#endif
