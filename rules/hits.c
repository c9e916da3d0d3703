/*
 * hits.c - per-worker rule hit counters (see hits.h for why they look like this).
 *
 * The protocol: a reader increments `readers`, loads `cur`, copies, decrements. The worker
 * stores a new `cur`, then loads `readers`: both sides use sequentially consistent atomics, so
 * when the worker sees no reader after its store, every later reader loads the new block and
 * the old one can go; otherwise the old block is retired and freed by a later reclaim that sees
 * no reader. Counts themselves are relaxed atomics: a reader may see a count one behind.
 */

#include <rte_malloc.h>

#include "rules/hits.h"
#include "rules/tables.h"

static struct hits_block *block_new(const struct cw_rule_brief *rules, uint32_t n)
{
	struct hits_block *b = rte_zmalloc("cw_hits", sizeof(*b) + sizeof(uint64_t) * n, 64);
	if (!b)
		return NULL;
	b->ids = rte_malloc("cw_hit_ids", sizeof(uint32_t) * (n ? n : 1), 64);
	if (!b->ids) {
		rte_free(b);
		return NULL;
	}
	b->n = n;
	for (uint32_t i = 0; i < n; i++)
		b->ids[i] = rules[i].id;
	return b;
}

static void block_free(struct hits_block *b)
{
	if (b) {
		rte_free(b->ids);
		rte_free(b);
	}
}

void cw_hits_switch(struct cw_hits *h, const struct cw_rule_brief *rules, uint32_t n,
		    uint64_t serial)
{
	struct hits_block *b = block_new(rules, n);
	/* out of memory: b is NULL, nothing is counted until the next switch */
	struct hits_block *old = atomic_exchange(&h->cur, b);
	h->serial = serial;
	if (!old)
		return;
	if (atomic_load(&h->readers) == 0) {
		block_free(old);
	} else {
		old->next = h->retired;
		h->retired = old;
	}
}

static void free_retired(struct cw_hits *h)
{
	while (h->retired) {
		struct hits_block *b = h->retired;
		h->retired = b->next;
		block_free(b);
	}
}

void cw_hits_reclaim(struct cw_hits *h)
{
	if (h->retired && atomic_load(&h->readers) == 0)
		free_retired(h);
}

void cw_hits_collect(struct cw_hits *h, void (*fn)(uint32_t, uint64_t, void *), void *arg)
{
	atomic_fetch_add(&h->readers, 1);
	struct hits_block *b = atomic_load(&h->cur);
	for (uint32_t i = 0; b && i < b->n; i++) {
		uint64_t v =
		    atomic_load_explicit((_Atomic uint64_t *)&b->count[i], memory_order_relaxed);
		if (v)
			fn(b->ids[i], v, arg);
	}
	atomic_fetch_sub(&h->readers, 1);
}

void cw_hits_free(struct cw_hits *h)
{
	block_free(atomic_exchange(&h->cur, NULL));
	free_retired(h);
}
